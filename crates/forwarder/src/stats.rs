//! What the forwarder counts: rooms, packets in, packets out, and packets
//! dropped (a member's queue was full) or not sent (its connection refused
//! them, e.g. before negotiation finished), all media and video alone; and
//! the key frames it asked senders for. Relaxed atomics: figures, not
//! synchronisation.

use crate::fanout::Media;
use std::sync::atomic::{AtomicU64, Ordering};

/// The forwarder's figures since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwarderStats {
    /// Rooms (group calls with media) open now.
    pub rooms: u64,
    /// Member connections open now.
    pub members: u64,
    /// RTP packets received from members (audio and video).
    pub received: u64,
    /// RTP packets handed to a member's connection.
    pub forwarded: u64,
    /// Packets dropped because a member's queue was full.
    pub dropped: u64,
    /// Packets its connection refused (not negotiated yet, or closing).
    pub unsent: u64,
    /// Of `received`, video packets.
    pub video_received: u64,
    /// Of `forwarded`, video packets.
    pub video_forwarded: u64,
    /// Of `dropped`, video packets.
    pub video_dropped: u64,
    /// Key frame requests (PLI) sent to senders: receivers' PLI/FIR and
    /// members' joins, collapsed per sender (see `keyframes.rs`).
    pub keyframe_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    rooms: AtomicU64,
    members: AtomicU64,
    received: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    unsent: AtomicU64,
    video_received: AtomicU64,
    video_forwarded: AtomicU64,
    video_dropped: AtomicU64,
    keyframe_requests: AtomicU64,
}

/// Adds one to `all`, and to `video` too for a video packet.
fn count(media: Media, all: &AtomicU64, video: &AtomicU64) {
    all.fetch_add(1, Ordering::Relaxed);
    if media == Media::Video {
        video.fetch_add(1, Ordering::Relaxed);
    }
}

impl Counters {
    pub(crate) fn room_opened(&self) {
        self.rooms.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn room_closed(&self) {
        self.rooms.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn member_joined(&self) {
        self.members.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn member_left(&self) {
        self.members.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn received(&self, media: Media) {
        count(media, &self.received, &self.video_received);
    }
    pub(crate) fn forwarded(&self, media: Media) {
        count(media, &self.forwarded, &self.video_forwarded);
    }
    pub(crate) fn dropped(&self, media: Media) {
        count(media, &self.dropped, &self.video_dropped);
    }
    pub(crate) fn unsent(&self) {
        self.unsent.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn keyframe_requested(&self) {
        self.keyframe_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ForwarderStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ForwarderStats {
            rooms: get(&self.rooms),
            members: get(&self.members),
            received: get(&self.received),
            forwarded: get(&self.forwarded),
            dropped: get(&self.dropped),
            unsent: get(&self.unsent),
            video_received: get(&self.video_received),
            video_forwarded: get(&self.video_forwarded),
            video_dropped: get(&self.video_dropped),
            keyframe_requests: get(&self.keyframe_requests),
        }
    }
}

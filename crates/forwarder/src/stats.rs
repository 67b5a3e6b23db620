//! What the forwarder counts: rooms, packets in, packets out, and packets
//! dropped (a member's queue was full) or not sent (its connection refused
//! them, e.g. before negotiation finished). Relaxed atomics: figures, not
//! synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

/// The forwarder's figures since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwarderStats {
    /// Rooms (group calls with media) open now.
    pub rooms: u64,
    /// Member connections open now.
    pub members: u64,
    /// RTP packets received from members.
    pub received: u64,
    /// RTP packets handed to a member's connection.
    pub forwarded: u64,
    /// Packets dropped because a member's queue was full.
    pub dropped: u64,
    /// Packets its connection refused (not negotiated yet, or closing).
    pub unsent: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    rooms: AtomicU64,
    members: AtomicU64,
    received: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    unsent: AtomicU64,
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
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn forwarded(&self) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn unsent(&self) {
        self.unsent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ForwarderStats {
        ForwarderStats {
            rooms: self.rooms.load(Ordering::Relaxed),
            members: self.members.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            unsent: self.unsent.load(Ordering::Relaxed),
        }
    }
}

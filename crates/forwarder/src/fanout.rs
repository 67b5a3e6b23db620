//! The packet path. Each member's incoming audio and video have a reader
//! task each that hands every packet to every other member's queue of that
//! kind ([`read_uplink`]); each member has a writer task that drains its
//! two queues into the tracks of its connection ([`write_downlink`]), one
//! audio and one video track per source.
//!
//! ```text
//!  alice's audio ─► reader ─┬─► audio queue(bob)   ─► writer(bob)   ─► track "audio-alice" on bob's connection
//!                           └─► audio queue(carol) ─► writer(carol) ─► track "audio-alice" on carol's connection
//!  alice's video ─► reader ─┬─► video queue(bob)   ─► writer(bob)   ─► track "video-alice" on bob's connection
//!                           └─► video queue(carol) ─► writer(carol) ─► track "video-alice" on carol's connection
//! ```
//!
//! Queues are bounded and filled with `try_send`: a member whose connection
//! cannot keep up loses its own packets, nobody else's. Audio and video
//! wait in separate queues, so a burst of video (a key frame is tens of
//! packets at once) never pushes out anyone's audio, and the writer takes
//! audio first. Packets are not decoded; the writer only puts the track's
//! own SSRC on them, drops header extensions (their ids belong to the
//! sender's session) and, for a member that did not take RED, keeps just
//! the primary Opus frame. Video keeps its sequence numbers, timestamps
//! and marker bit, so a packet the forwarder dropped shows as a gap the
//! receiver can see (and ask a key frame for).

use crate::stats::Counters;
use rtc::rtp::packet::Packet as RtpPacket;
use softphone_rtc::OPUS_PT;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// A member, within its room.
pub(crate) type MemberId = u32;

/// Which of a source's two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Media {
    Audio,
    Video,
}

/// One packet on its way to one member.
pub(crate) struct Forwarded {
    pub source: MemberId,
    pub packet: RtpPacket,
}

/// A member's two queues (no video queue once its answer showed that it
/// does not take video).
#[derive(Clone)]
pub(crate) struct Queues {
    pub audio: mpsc::Sender<Forwarded>,
    pub video: Option<mpsc::Sender<Forwarded>>,
}

impl Queues {
    fn of(&self, media: Media) -> Option<&mpsc::Sender<Forwarded>> {
        match media {
            Media::Audio => Some(&self.audio),
            Media::Video => self.video.as_ref(),
        }
    }
}

/// Every member's queues, as the readers see them.
#[derive(Clone, Default)]
pub(crate) struct FanoutTable(Arc<RwLock<Vec<(MemberId, Queues)>>>);

impl FanoutTable {
    pub(crate) fn add(&self, member: MemberId, queues: Queues) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((member, queues));
    }

    pub(crate) fn remove(&self, member: MemberId) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(m, _)| *m != member);
    }

    /// `member` takes no video: readers stop queueing video for it.
    pub(crate) fn no_video(&self, member: MemberId) {
        let mut table = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for (_, queues) in table.iter_mut().filter(|(m, _)| *m == member) {
            queues.video = None;
        }
    }
}

/// Reads `source`'s incoming `media` until the track ends, handing each
/// packet to every other member's queue of that kind. `last_ssrc` (for
/// video) keeps the SSRC the packets came with, for key frame requests.
pub(crate) async fn read_uplink(
    track: Arc<dyn TrackRemote>,
    source: MemberId,
    media: Media,
    last_ssrc: Option<Arc<AtomicU32>>,
    table: FanoutTable,
    counters: Arc<Counters>,
) {
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        counters.received(media);
        if let Some(ssrc) = &last_ssrc {
            ssrc.store(packet.header.ssrc, Ordering::Relaxed);
        }
        let queues = table.0.read().unwrap_or_else(PoisonError::into_inner);
        for (_, queues) in queues.iter().filter(|(m, _)| *m != source) {
            let Some(queue) = queues.of(media) else {
                continue;
            };
            let forwarded = Forwarded {
                source,
                packet: packet.clone(),
            };
            match queue.try_send(forwarded) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => counters.dropped(media),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}

/// Changes to a writer's tracks.
pub(crate) enum WriterControl {
    /// Send `source`'s `media` on `track`, with `ssrc`.
    Add {
        source: MemberId,
        media: Media,
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
    },
    /// `source` left: both its tracks go.
    Remove(MemberId),
    /// The member takes no video: its video tracks go (its video queue
    /// closes).
    NoVideo,
    /// The payload type RED has on this connection, `None` if the member
    /// did not take it.
    Red(Option<u8>),
    /// The connection is up (ICE and DTLS): packets can go. Until then, and
    /// while it is down, they are dropped here (webrtc would refuse them).
    Connected(bool),
}

/// A downtrack as its writer holds it.
type Downtrack = (Arc<TrackLocalStaticRTP>, u32);

/// Drains one member's queues into its tracks until the room drops the
/// member (its control channel closes). Audio goes first whenever both
/// queues hold packets: it is small and late audio is heard.
pub(crate) async fn write_downlink(
    mut control: mpsc::UnboundedReceiver<WriterControl>,
    mut audio: mpsc::Receiver<Forwarded>,
    mut video: mpsc::Receiver<Forwarded>,
    counters: Arc<Counters>,
) {
    let mut audio_tracks: HashMap<MemberId, Downtrack> = HashMap::new();
    let mut video_tracks: HashMap<MemberId, Downtrack> = HashMap::new();
    // Until the answer says otherwise, the member takes what we offered.
    let mut red = Some(softphone_rtc::RED_PT);
    let mut connected = false;
    let mut video_open = true;
    loop {
        tokio::select! {
            biased;
            change = control.recv() => match change {
                None => return,
                Some(WriterControl::Add { source, media, track, ssrc }) => {
                    let tracks = match media {
                        Media::Audio => &mut audio_tracks,
                        Media::Video => &mut video_tracks,
                    };
                    tracks.insert(source, (track, ssrc));
                }
                Some(WriterControl::Remove(source)) => {
                    audio_tracks.remove(&source);
                    video_tracks.remove(&source);
                }
                Some(WriterControl::NoVideo) => video_tracks.clear(),
                Some(WriterControl::Red(pt)) => red = pt,
                Some(WriterControl::Connected(up)) => connected = up,
            },
            next = audio.recv() => {
                let Some(Forwarded { source, mut packet }) = next else {
                    return;
                };
                let Some((track, ssrc)) = audio_tracks.get(&source).filter(|_| connected) else {
                    counters.unsent();
                    continue;
                };
                packet.header.ssrc = *ssrc;
                packet.header.extension = false;
                packet.header.extensions.clear();
                if red.is_none() && packet.header.payload_type == softphone_rtc::RED_PT {
                    let Some(primary) = red_primary(&packet.payload) else {
                        continue;
                    };
                    packet.payload = packet.payload.slice(primary);
                    packet.header.payload_type = OPUS_PT;
                }
                match track.write_rtp(packet).await {
                    Ok(()) => counters.forwarded(Media::Audio),
                    Err(_) => counters.unsent(),
                }
            }
            next = video.recv(), if video_open => {
                let Some(Forwarded { source, mut packet }) = next else {
                    video_open = false;
                    continue;
                };
                let Some((track, ssrc)) = video_tracks.get(&source).filter(|_| connected) else {
                    counters.unsent();
                    continue;
                };
                packet.header.ssrc = *ssrc;
                packet.header.extension = false;
                packet.header.extensions.clear();
                match track.write_rtp(packet).await {
                    Ok(()) => counters.forwarded(Media::Video),
                    Err(_) => counters.unsent(),
                }
            }
        }
    }
}

/// Where the primary (newest) frame of a RED payload (RFC 2198) lies:
/// after the block headers (4 bytes each with the F bit set, then 1 byte)
/// and the redundant blocks. `None` if the payload does not parse.
fn red_primary(payload: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut at = 0;
    let mut redundant = 0usize;
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            at += 1;
            break;
        }
        let header = payload.get(at..at + 4)?;
        redundant += (usize::from(header[2] & 0x03) << 8) | usize::from(header[3]);
        at += 4;
    }
    let start = at + redundant;
    (start <= payload.len()).then_some(start..payload.len())
}

#[cfg(test)]
mod tests {
    use super::red_primary;

    #[test]
    fn the_primary_frame_of_a_red_payload() {
        // Two redundant blocks of 2 and 3 bytes, then the primary (PT 111).
        let payload = [
            0x80 | 111,
            0x03,
            0xC0,
            0x02, // block 1: a timestamp offset, length 2
            0x80 | 111,
            0x01,
            0xE0,
            0x03, // block 2: length 3
            111,  // final header
            1,
            1,
            2,
            2,
            2,
            9,
            9,
            9,
        ];
        assert_eq!(red_primary(&payload), Some(14..17));
        assert_eq!(red_primary(&[111, 7, 7]), Some(1..3), "no redundancy");
        assert_eq!(red_primary(&[0x80 | 111, 0, 0, 9, 111]), None, "too short");
        assert_eq!(red_primary(&[]), None);
    }
}

//! The packet path. Each member's incoming audio has a reader task that
//! hands every packet to every other member's connection, on that
//! member's track for the sender ([`read_uplink`]):
//!
//! ```text
//!  alice's track ─► reader ─┬─► bob's   Downlink: track "alice" ─► bob's connection
//!                           └─► carol's Downlink: track "alice" ─► carol's connection
//! ```
//!
//! A write never waits: it goes through only if the member's connection
//! takes the packet at once (its queue to webrtc's driver, 256 packets,
//! has room); otherwise the packet is dropped for that member alone and
//! counted. So a member whose connection cannot keep up loses its own
//! packets, and nobody else waits for it. Packets are not decoded: the
//! reader only puts the track's own SSRC on them, drops header extensions
//! (their ids belong to the sender's session) and, for a member that did
//! not take RED, keeps just the primary Opus frame.
//!
//! Writing from the reader itself, rather than through a queue and a
//! writer task per member, saves a task wake-up per forwarded packet
//! (`softphone-group-bench`: the cost per packet is mostly webrtc's).

use crate::stats::Counters;
use futures_util::FutureExt;
use rtc::rtp::packet::Packet as RtpPacket;
use softphone_rtc::{OPUS_PT, RED_PT};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// A member, within its room.
pub(crate) type MemberId = u32;

/// A track and the SSRC it sends with.
type Track = Arc<TrackLocalStaticRTP>;

/// `red` when the member did not take RED.
const NO_RED: u8 = u8::MAX;

/// One member's outgoing side: its tracks (one per other member), whether
/// its connection is up, and RED's payload type on it.
#[derive(Default)]
pub(crate) struct Downlink {
    tracks: RwLock<HashMap<MemberId, (Track, u32)>>,
    connected: AtomicBool,
    red: AtomicU8,
}

impl Downlink {
    pub(crate) fn new() -> Self {
        Self {
            red: AtomicU8::new(RED_PT),
            ..Default::default()
        }
    }

    /// Send `source`'s packets on `track`, with `ssrc`.
    pub(crate) fn add(&self, source: MemberId, track: Arc<TrackLocalStaticRTP>, ssrc: u32) {
        self.tracks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(source, (track, ssrc));
    }

    /// `source` left.
    pub(crate) fn remove(&self, source: MemberId) {
        self.tracks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&source);
    }

    /// The connection is up (ICE and DTLS) or not; until it is, packets are
    /// dropped here (webrtc would refuse them).
    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }

    /// RED's payload type on this connection, `None` if the member did not
    /// take it (until its answer says, it takes what we offered).
    pub(crate) fn set_red(&self, pt: Option<u8>) {
        self.red.store(pt.unwrap_or(NO_RED), Ordering::Relaxed);
    }

    /// The track for `source`'s audio, and `packet` made ready for it.
    fn prepare(&self, source: MemberId, packet: &RtpPacket) -> Option<(Track, RtpPacket)> {
        let (track, ssrc) = self
            .tracks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&source)
            .map(|(t, s)| (t.clone(), *s))?;
        let mut packet = packet.clone();
        packet.header.ssrc = ssrc;
        packet.header.extension = false;
        packet.header.extensions.clear();
        if self.red.load(Ordering::Relaxed) == NO_RED && packet.header.payload_type == RED_PT {
            let primary = red_primary(&packet.payload)?;
            packet.payload = packet.payload.slice(primary);
            packet.header.payload_type = OPUS_PT;
        }
        Some((track, packet))
    }
}

/// Every member's downlink, as the readers see them.
#[derive(Clone, Default)]
pub(crate) struct FanoutTable(Arc<RwLock<Vec<Destination>>>);

/// A member and its downlink.
type Destination = (MemberId, Arc<Downlink>);

impl FanoutTable {
    pub(crate) fn add(&self, member: MemberId, downlink: Arc<Downlink>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((member, downlink));
    }

    pub(crate) fn remove(&self, member: MemberId) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(m, _)| *m != member);
    }
}

/// Reads `source`'s incoming audio until the track ends, handing each
/// packet to every other member's connection.
pub(crate) async fn read_uplink(
    track: Arc<dyn TrackRemote>,
    source: MemberId,
    table: FanoutTable,
    counters: Arc<Counters>,
) {
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        counters.received();
        // Held only for this loop, which never waits (joins and leaves
        // take the write side).
        let downlinks = table.0.read().unwrap_or_else(PoisonError::into_inner);
        for (_, downlink) in downlinks.iter().filter(|(m, _)| *m != source) {
            if !downlink.connected.load(Ordering::Relaxed) {
                counters.unsent();
                continue;
            }
            let Some((track, packet)) = downlink.prepare(source, &packet) else {
                counters.unsent();
                continue;
            };
            // Taken at once, or dropped: never wait for one member.
            match track.write_rtp(packet).now_or_never() {
                Some(Ok(())) => counters.forwarded(),
                Some(Err(_)) => counters.unsent(),
                None => counters.dropped(),
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

//! The packet path. Each member's incoming audio has a reader task that
//! hands every packet to every other member's queue ([`read_uplink`]);
//! each member has a writer task that drains its queue into the tracks of
//! its connection ([`write_downlink`]), one track per source.
//!
//! ```text
//!  alice's track ─► reader ─┬─► queue(bob)   ─► writer(bob)   ─► track "alice" on bob's connection
//!                           └─► queue(carol) ─► writer(carol) ─► track "alice" on carol's connection
//! ```
//!
//! Queues are bounded and filled with `try_send`: a member whose connection
//! cannot keep up loses its own packets, nobody else's. Packets are not
//! decoded; the writer only puts the track's own SSRC on them, drops header
//! extensions (their ids belong to the sender's session) and, for a member
//! that did not take RED, keeps just the primary Opus frame.

use crate::stats::Counters;
use rtc::rtp::packet::Packet as RtpPacket;
use softphone_rtc::OPUS_PT;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// A member, within its room.
pub(crate) type MemberId = u32;

/// One packet on its way to one member.
pub(crate) struct Forwarded {
    pub source: MemberId,
    pub packet: RtpPacket,
}

/// A member's queue.
type Queue = (MemberId, mpsc::Sender<Forwarded>);

/// Every member's queue, as the readers see them.
#[derive(Clone, Default)]
pub(crate) struct FanoutTable(Arc<RwLock<Vec<Queue>>>);

impl FanoutTable {
    pub(crate) fn add(&self, member: MemberId, queue: mpsc::Sender<Forwarded>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((member, queue));
    }

    pub(crate) fn remove(&self, member: MemberId) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(m, _)| *m != member);
    }
}

/// Reads `source`'s incoming audio until the track ends, handing each
/// packet to every other member's queue.
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
        let queues = table.0.read().unwrap_or_else(PoisonError::into_inner);
        for (_, queue) in queues.iter().filter(|(m, _)| *m != source) {
            let forwarded = Forwarded {
                source,
                packet: packet.clone(),
            };
            match queue.try_send(forwarded) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => counters.dropped(),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}

/// Changes to a writer's tracks.
pub(crate) enum WriterControl {
    /// Send `source`'s packets on `track`, with `ssrc`.
    Add {
        source: MemberId,
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
    },
    /// `source` left.
    Remove(MemberId),
    /// The payload type RED has on this connection, `None` if the member
    /// did not take it.
    Red(Option<u8>),
    /// The connection is up (ICE and DTLS): packets can go. Until then, and
    /// while it is down, they are dropped here (webrtc would refuse them).
    Connected(bool),
}

/// Drains one member's queue into its tracks until the room drops the
/// member (its control channel closes).
pub(crate) async fn write_downlink(
    mut control: mpsc::UnboundedReceiver<WriterControl>,
    mut queue: mpsc::Receiver<Forwarded>,
    counters: Arc<Counters>,
) {
    let mut tracks: HashMap<MemberId, (Arc<TrackLocalStaticRTP>, u32)> = HashMap::new();
    // Until the answer says otherwise, the member takes what we offered.
    let mut red = Some(softphone_rtc::RED_PT);
    let mut connected = false;
    loop {
        tokio::select! {
            biased;
            change = control.recv() => match change {
                None => return,
                Some(WriterControl::Add { source, track, ssrc }) => {
                    tracks.insert(source, (track, ssrc));
                }
                Some(WriterControl::Remove(source)) => {
                    tracks.remove(&source);
                }
                Some(WriterControl::Red(pt)) => red = pt,
                Some(WriterControl::Connected(up)) => connected = up,
            },
            next = queue.recv() => {
                let Some(Forwarded { source, mut packet }) = next else {
                    return;
                };
                let Some((track, ssrc)) = tracks.get(&source).filter(|_| connected) else {
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
                    Ok(()) => counters.forwarded(),
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

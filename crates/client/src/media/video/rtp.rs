//! VP8 over RTP (RFC 7741), our own way on both ends.
//!
//! - **Out**: [`Packetizer`] splits each encoded frame with `rtc`'s
//!   `Vp8Payloader` (PictureID on) and stamps every packet of it with the
//!   frame's *capture* time on the 90 kHz clock. `TrackLocalStaticSample`
//!   would instead advance the timestamp by each sample's duration, which
//!   is known only when the next frame comes (a camera's rate wanders), so
//!   the receiver could not place frames in time for lip sync.
//! - **In**: [`parse_descriptor`] reads the payload descriptor without
//!   trusting it (a garbage payload is `None`, never a panic) and says
//!   whether the packet starts a frame; `assemble.rs` does the rest.

use bytes::Bytes;
use rtc::rtp::codec::vp8::Vp8Payloader;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Payloader;

/// Largest RTP packet we send (as webrtc's own sample track does).
pub(crate) const RTP_MTU: usize = 1200;
/// A fixed RTP header without CSRCs or extensions.
const RTP_HEADER: usize = 12;

/// The 90 kHz RTP timestamp of a frame captured at `capture_us`.
pub(crate) fn rtp_timestamp(offset: u32, capture_us: u64) -> u32 {
    // Truncating to 32 bits is the modulo 2^32 RTP timestamps wrap at.
    offset.wrapping_add((capture_us.wrapping_mul(9) / 100) as u32)
}

/// Turns encoded VP8 frames into RTP packets of one stream.
#[derive(Debug)]
pub(crate) struct Packetizer {
    payloader: Vp8Payloader,
    ssrc: u32,
    payload_type: u8,
    seq: u16,
    ts_offset: u32,
}

impl Packetizer {
    /// Packets of `ssrc` with `payload_type`, sequence numbers from `seq`,
    /// timestamps offset by `ts_offset` (both random in a session, RFC 3550).
    pub(crate) fn new(ssrc: u32, payload_type: u8, seq: u16, ts_offset: u32) -> Self {
        let mut payloader = Vp8Payloader::default();
        payloader.enable_picture_id = true;
        Self {
            payloader,
            ssrc,
            payload_type,
            seq,
            ts_offset,
        }
    }

    /// Appends the packets of one frame, captured at `capture_us`, to `out`
    /// (marker bit on the last).
    pub(crate) fn packetize(&mut self, frame: &Bytes, capture_us: u64, out: &mut Vec<Packet>) {
        let payloads = match self.payloader.payload(RTP_MTU - RTP_HEADER, frame) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("a video frame could not be packetized: {e}");
                return;
            }
        };
        let timestamp = rtp_timestamp(self.ts_offset, capture_us);
        let last = payloads.len().saturating_sub(1);
        for (i, payload) in payloads.into_iter().enumerate() {
            out.push(Packet {
                header: Header {
                    version: 2,
                    marker: i == last,
                    payload_type: self.payload_type,
                    sequence_number: self.seq,
                    timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload,
            });
            self.seq = self.seq.wrapping_add(1);
        }
    }
}

/// What a packet's VP8 payload descriptor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Descriptor {
    /// The packet starts a frame (S = 1 and partition 0).
    pub start: bool,
    /// Bytes of descriptor before the VP8 data.
    pub len: usize,
}

/// Parses the payload descriptor (RFC 7741 §4.2); `None` when the payload
/// is too short for what its first bytes announce, or carries no VP8 data.
pub(crate) fn parse_descriptor(payload: &[u8]) -> Option<Descriptor> {
    let first = *payload.first()?;
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        len = 2;
        if ext & 0x80 != 0 {
            // PictureID: 7 bits, or 15 with the M bit.
            let id = *payload.get(len)?;
            len += if id & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            len += 1; // TID / Y / KEYIDX
        }
    }
    (payload.len() > len).then_some(Descriptor { start, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_capture_time_at_90_khz_and_wrap() {
        assert_eq!(rtp_timestamp(0, 1_000_000), 90_000);
        assert_eq!(rtp_timestamp(10, 33_333), 10 + 2_999);
        assert_eq!(rtp_timestamp(u32::MAX, 100), 8, "wraps modulo 2^32");
    }

    #[test]
    fn a_big_frame_becomes_mtu_sized_packets_that_parse_back() {
        let mut p = Packetizer::new(0xabcd, 96, 65_534, 1000);
        let frame: Bytes = (0..3000u32).map(|i| i as u8).collect::<Vec<u8>>().into();
        let mut packets = Vec::new();
        p.packetize(&frame, 2_000_000, &mut packets);
        assert_eq!(packets.len(), 3);
        let seqs: Vec<u16> = packets.iter().map(|p| p.header.sequence_number).collect();
        assert_eq!(seqs, vec![65_534, 65_535, 0]);
        let mut data = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            assert!(packet.payload.len() + RTP_HEADER <= RTP_MTU);
            assert_eq!(packet.header.marker, i == 2);
            assert_eq!(packet.header.timestamp, 1000 + 180_000);
            assert_eq!(
                (packet.header.ssrc, packet.header.payload_type),
                (0xabcd, 96)
            );
            let d = parse_descriptor(&packet.payload).expect("descriptor");
            assert_eq!(d.start, i == 0);
            data.extend_from_slice(&packet.payload[d.len..]);
        }
        assert_eq!(data, frame.to_vec());
        let mut more = Vec::new();
        p.packetize(&Bytes::from_static(&[1, 2, 3]), 2_033_000, &mut more);
        assert_eq!(more[0].header.sequence_number, 1);
    }

    #[test]
    fn descriptors_that_lie_are_refused_not_trusted() {
        assert_eq!(parse_descriptor(&[]), None);
        assert_eq!(parse_descriptor(&[0x10]), None, "no VP8 data");
        assert_eq!(
            parse_descriptor(&[0x10, 0x9d]),
            Some(Descriptor {
                start: true,
                len: 1
            })
        );
        assert_eq!(
            parse_descriptor(&[0x11, 0x9d]).map(|d| d.start),
            Some(false),
            "partition 1 does not start a frame"
        );
        // X, I with a 15-bit PictureID, L, T: five bytes of descriptor.
        let long = [0x90, 0xf0, 0x81, 0x02, 0x03, 0x04, 0xaa];
        assert_eq!(
            parse_descriptor(&long),
            Some(Descriptor {
                start: true,
                len: 6
            })
        );
        assert_eq!(parse_descriptor(&long[..6]), None);
        assert_eq!(parse_descriptor(&[0x80]), None, "X set, no extension byte");
        for n in 0..=255u8 {
            let _ = parse_descriptor(&[n, n, n]);
        }
    }
}

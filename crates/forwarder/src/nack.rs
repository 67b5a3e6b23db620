//! Retransmission (NACK) on the forwarder's connections, for video only.
//!
//! Each leg repairs its own loss: the forwarder's NACK generator asks a
//! sender again for the packets of its video the forwarder missed, and the
//! NACK responder on each receiver's connection resends the packets of a
//! video downtrack that receiver missed, from a buffer of what was sent on
//! it. Both are the `rtc` crate's, and both act only on streams whose
//! codec negotiated `nack` feedback: VP8 does (`softphone-rtc`), Opus does
//! not, so audio passes them untouched (a hash lookup per packet).
//!
//! [`LazyNackResponder`] wraps the `rtc` responder so that a downtrack's
//! buffer is made when its first packet goes out, not when the track is
//! negotiated: every member gets a video downtrack per other member in
//! every call, and in an audio-only call none of them ever carries a
//! packet. The buffer holds [`RESPONDER_PACKETS`] packets.

use rtc::interceptor::{
    Interceptor, NackGeneratorBuilder, NackGeneratorInterceptor, NackResponderBuilder,
    NackResponderInterceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::HashMap;
use std::time::Instant;

/// Packets of each video downtrack kept for retransmission (a power of
/// two): 1.7 s of a 720p stream at 150 packets/s, several round trips.
pub(crate) const RESPONDER_PACKETS: u16 = 256;
/// Times the generator asks for one missing packet before giving up (at
/// its 100 ms interval).
const NACKS_PER_PACKET: u16 = 5;

/// The generator for the forwarder's connections.
pub(crate) fn generator() -> NackGeneratorInterceptor {
    NackGeneratorBuilder::new()
        .with_max_nacks_per_packet(NACKS_PER_PACKET)
        .build()
}

/// The `rtc` NACK responder, told about a sent stream only when its first
/// packet goes out (see the module docs).
pub(crate) struct LazyNackResponder {
    inner: NackResponderInterceptor,
    /// Streams negotiated with NACK that have sent nothing yet.
    waiting: HashMap<u32, StreamInfo>,
}

impl LazyNackResponder {
    pub(crate) fn new() -> Self {
        Self {
            inner: NackResponderBuilder::new()
                .with_size(RESPONDER_PACKETS)
                .build(),
            waiting: HashMap::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for LazyNackResponder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.inner.handle_read(msg)
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.inner.poll_read()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if !self.waiting.is_empty() {
            if let Packet::Rtp(packet) = &msg.message.packet {
                if let Some(info) = self.waiting.remove(&packet.header.ssrc) {
                    self.inner.bind_local_stream(&info);
                }
            }
        }
        self.inner.handle_write(msg)
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.inner.poll_write()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.inner.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

impl Interceptor for LazyNackResponder {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|fb| fb.typ == "nack" && fb.parameter.is_empty());
        if nack {
            self.waiting.insert(info.ssrc, info.clone());
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.waiting.remove(&info.ssrc);
        self.inner.unbind_local_stream(info);
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_remote_stream(info);
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_remote_stream(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::{AttributedPacket, RTCPFeedback};
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
    use rtc::shared::TransportContext;

    fn tagged(packet: Packet) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::from(packet),
        }
    }

    fn rtp(ssrc: u32, seq: u16) -> Packet {
        let mut packet = rtc::rtp::packet::Packet::default();
        packet.header.ssrc = ssrc;
        packet.header.sequence_number = seq;
        packet.payload = bytes::Bytes::from_static(b"vp8");
        Packet::Rtp(packet)
    }

    fn nack(ssrc: u32, seq: u16) -> Packet {
        Packet::Rtcp(vec![Box::new(TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: ssrc,
            nacks: vec![NackPair {
                packet_id: seq,
                lost_packets: 0,
            }],
        })])
    }

    /// Sends packets 1–3 on `ssrc`, then gets a NACK for 2: what goes out
    /// after the NACK.
    fn resent(responder: &mut LazyNackResponder, ssrc: u32) -> usize {
        for seq in 1..=3 {
            responder.handle_write(tagged(rtp(ssrc, seq))).unwrap();
            assert!(responder.poll_write().is_some());
        }
        responder.handle_read(tagged(nack(ssrc, 2))).unwrap();
        assert!(responder.poll_read().is_some(), "the NACK passes on");
        std::iter::from_fn(|| responder.poll_write()).count()
    }

    #[test]
    fn video_is_resent_and_audio_is_not() {
        let mut responder = LazyNackResponder::new();
        let video = StreamInfo {
            ssrc: 10,
            mime_type: "video/VP8".into(),
            rtcp_feedback: vec![RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            }],
            ..Default::default()
        };
        let audio = StreamInfo {
            ssrc: 20,
            mime_type: "audio/opus".into(),
            ..Default::default()
        };
        responder.bind_local_stream(&video);
        responder.bind_local_stream(&audio);
        assert!(responder.waiting.contains_key(&10));
        assert!(!responder.waiting.contains_key(&20), "no NACK for audio");
        assert_eq!(resent(&mut responder, 10), 1, "packet 2 again");
        assert!(responder.waiting.is_empty(), "bound at its first packet");
        assert_eq!(resent(&mut responder, 20), 0);
    }
}

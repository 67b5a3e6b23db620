//! Retransmission (NACK) on the forwarder's connections, for video only.
//!
//! Each leg repairs its own loss: the forwarder's NACK generator asks a
//! sender again for the packets of its video the forwarder missed, and the
//! NACK responder on each receiver's connection resends the packets of a
//! video downtrack that receiver missed, from a buffer of what was sent on
//! it. Both are the `rtc` crate's, and both act only on streams whose
//! codec negotiated `nack` feedback: VP8 does (`softphone-rtc`), Opus does
//! not.
//!
//! [`VideoNack`] holds the two, and is not an interceptor of its own: it
//! lives inside the forwarder's one interceptor (`feedback.rs`), because
//! every interceptor in the chain costs every packet a hop (a queue in and
//! out, the packet moved by value), and audio, nearly all the packets, has
//! nothing to do here. An audio packet costs a scan of a few SSRCs. Also,
//! a downtrack's retransmission buffer is made when its first packet goes
//! out, not when the track is negotiated: every member gets a video
//! downtrack per other member in every call, and in an audio-only call
//! none of them ever carries a packet. The buffer holds
//! [`RESPONDER_PACKETS`] packets.

use rtc::interceptor::{
    Interceptor, NackGeneratorBuilder, NackGeneratorInterceptor, NackResponderBuilder,
    NackResponderInterceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::time::Instant;

/// Packets of each video downtrack kept for retransmission (a power of
/// two): 1.7 s of a 720p stream at 150 packets/s, several round trips.
pub(crate) const RESPONDER_PACKETS: u16 = 256;
/// Times the generator asks for one missing packet before giving up (at
/// its 100 ms interval).
const NACKS_PER_PACKET: u16 = 5;

/// Whether a stream negotiated generic NACK.
fn nack(info: &StreamInfo) -> bool {
    info.rtcp_feedback
        .iter()
        .any(|fb| fb.typ == "nack" && fb.parameter.is_empty())
}

/// The `rtc` NACK generator and responder for one connection, bypassed by
/// every packet of a stream without NACK (see the module docs).
pub(crate) struct VideoNack {
    responder: NackResponderInterceptor,
    generator: NackGeneratorInterceptor,
    /// Sent streams with NACK that have sent nothing yet.
    waiting: Vec<StreamInfo>,
    /// Sent streams with NACK, bound in the responder.
    sending: Vec<u32>,
    /// Received streams with NACK (bound in the generator).
    receiving: Vec<u32>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl VideoNack {
    pub(crate) fn new() -> Self {
        Self {
            responder: NackResponderBuilder::new()
                .with_size(RESPONDER_PACKETS)
                .build(),
            generator: NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(NACKS_PER_PACKET)
                .build(),
            waiting: Vec::new(),
            sending: Vec::new(),
            receiving: Vec::new(),
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }

    /// Moves what the two produced into our queues.
    fn drain(&mut self) {
        while let Some(msg) = self.responder.poll_write() {
            self.write.push_back(msg);
        }
        while let Some(msg) = self.generator.poll_write() {
            self.write.push_back(msg);
        }
        while let Some(msg) = self.responder.poll_read() {
            self.read.push_back(msg);
        }
        while let Some(msg) = self.generator.poll_read() {
            self.read.push_back(msg);
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for VideoNack {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    /// RTP of a received stream with NACK goes to the generator (it logs
    /// sequence numbers); RTCP to the responder (it answers NACKs and
    /// passes everything on); the rest straight through.
    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let result = match &msg.message.packet {
            Packet::Rtp(packet) if self.receiving.contains(&packet.header.ssrc) => {
                self.generator.handle_read(msg)
            }
            Packet::Rtcp(_) => self.responder.handle_read(msg),
            _ => {
                self.read.push_back(msg);
                return Ok(());
            }
        };
        self.drain();
        result
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    /// RTP of a sent stream with NACK goes to the responder (it keeps a
    /// copy); the rest, RTCP included (both pass it unchanged), straight
    /// through.
    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let Packet::Rtp(packet) = &msg.message.packet else {
            self.write.push_back(msg);
            return Ok(());
        };
        let ssrc = packet.header.ssrc;
        if !self.sending.contains(&ssrc) {
            let Some(at) = self.waiting.iter().position(|info| info.ssrc == ssrc) else {
                self.write.push_back(msg);
                return Ok(());
            };
            let info = self.waiting.swap_remove(at);
            self.responder.bind_local_stream(&info);
            self.sending.push(ssrc);
        }
        let result = self.responder.handle_write(msg);
        self.drain();
        result
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        let result = self.generator.handle_timeout(now);
        self.drain();
        result
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.generator.poll_timeout()
    }
}

impl Interceptor for VideoNack {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if nack(info) {
            self.waiting.push(info.clone());
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.waiting.retain(|w| w.ssrc != info.ssrc);
        if let Some(at) = self.sending.iter().position(|s| *s == info.ssrc) {
            self.sending.swap_remove(at);
            self.responder.unbind_local_stream(info);
        }
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if nack(info) {
            self.receiving.push(info.ssrc);
            self.generator.bind_remote_stream(info);
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if let Some(at) = self.receiving.iter().position(|s| *s == info.ssrc) {
            self.receiving.swap_remove(at);
            self.generator.unbind_remote_stream(info);
        }
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
    fn resent(responder: &mut VideoNack, ssrc: u32) -> usize {
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
        let mut responder = VideoNack::new();
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
        assert_eq!(responder.waiting.len(), 1, "no NACK for audio");
        assert_eq!(resent(&mut responder, 10), 1, "packet 2 again");
        assert!(responder.waiting.is_empty(), "bound at its first packet");
        assert_eq!(responder.sending, vec![10]);
        assert_eq!(resent(&mut responder, 20), 0);
    }

    #[test]
    fn a_gap_in_received_video_is_asked_for_again() {
        let mut nack = VideoNack::new();
        let video = StreamInfo {
            ssrc: 30,
            mime_type: "video/VP8".into(),
            rtcp_feedback: vec![RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            }],
            ..Default::default()
        };
        nack.bind_remote_stream(&video);
        let t0 = Instant::now();
        for seq in [1, 2, 4] {
            let mut msg = tagged(rtp(30, seq));
            msg.now = t0;
            nack.handle_read(msg).unwrap();
            assert!(nack.poll_read().is_some(), "packets pass on");
        }
        // Audio passes without being logged.
        nack.handle_read(tagged(rtp(40, 9))).unwrap();
        assert!(nack.poll_read().is_some());
        let at = nack.poll_timeout().expect("a NACK timer");
        nack.handle_timeout(at).unwrap();
        let sent: Vec<TaggedPacket> = std::iter::from_fn(|| nack.poll_write()).collect();
        assert_eq!(sent.len(), 1, "one NACK");
        let Packet::Rtcp(packets) = &sent[0].message.packet else {
            panic!("not RTCP");
        };
        let asked = packets[0]
            .as_any()
            .downcast_ref::<TransportLayerNack>()
            .expect("a NACK");
        assert_eq!((asked.media_ssrc, asked.nacks[0].packet_id), (30, 3));
    }
}

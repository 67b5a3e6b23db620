//! Relaying receivers' feedback to each sender, through RTCP: their loss,
//! and their key frame requests.
//!
//! A member's client adapts its audio redundancy (RED copies, Opus FEC and
//! bitrate) to the loss in the receiver reports it gets. Through the
//! forwarder those reports come from the forwarder, which sees only the
//! member's uplink; a receiver on a bad network would suffer alone. So the
//! forwarder keeps a [`LossBoard`] per room: every member's connection
//! reads the reports that member sends about the audio tracks it is sent
//! (whose source each track's SSRC names), and every member's connection
//! raises the "fraction lost" of the reports it sends about that member's
//! own audio to the worst a receiver of it reported in the last
//! [`FRESH`]. Only audio loss is relayed; the round-trip time and jitter
//! in each report stay those of the member's own path to the forwarder.
//! Video loss is not relayed: each leg retransmits what it lost (NACK,
//! `peer.rs`), and what it cannot repair it asks a key frame for.
//!
//! Key frame requests (PLI, FIR) a member sends about a video track it is
//! sent go to the [`KeyframeBoard`], which asks that track's source for a
//! key frame, at a bounded rate (`keyframes.rs`).
//!
//! [`FeedbackRelay`] is the interceptor that does all this, one per
//! connection, placed at [`RELAY_SLOT`]: nearer the wire than the report
//! generator (10 000), so it sees the reports that generator writes and
//! every report read off the wire. It also carries the connection's video
//! NACK (`nack.rs`), so that audio packets cross no more interceptors than
//! before video.

use crate::fanout::MemberId;
use crate::keyframes::KeyframeBoard;
use crate::nack::VideoNack;
use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use softphone_rtc::reception_reports;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where [`FeedbackRelay`] sits in the interceptor chain.
pub(crate) const RELAY_SLOT: usize = 9_500;
/// A receiver's report counts for this long.
pub(crate) const FRESH: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Board {
    /// Sent audio tracks: SSRC → whose audio it carries.
    tracks: HashMap<u32, MemberId>,
    /// (source, receiver) → the fraction lost (of 256) it last reported, when.
    reports: HashMap<(MemberId, MemberId), (u8, Instant)>,
}

/// One room's receivers' loss, by source. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct LossBoard(Arc<Mutex<Board>>);

impl LossBoard {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An audio track with `ssrc` carries `source`'s audio.
    pub(crate) fn track(&self, ssrc: u32, source: MemberId) {
        self.board().tracks.insert(ssrc, source);
    }

    /// `member` left: its tracks and every report by or about it go.
    pub(crate) fn forget(&self, member: MemberId) {
        let mut board = self.board();
        board.tracks.retain(|_, source| *source != member);
        board
            .reports
            .retain(|(source, receiver), _| *source != member && *receiver != member);
    }

    /// `receiver` reported `fraction_lost` about the track with `ssrc`.
    fn reported(&self, receiver: MemberId, ssrc: u32, fraction_lost: u8, at: Instant) {
        let mut board = self.board();
        if let Some(&source) = board.tracks.get(&ssrc) {
            board
                .reports
                .insert((source, receiver), (fraction_lost, at));
        }
    }

    /// The worst fresh loss any receiver reported about `source`'s audio.
    pub(crate) fn worst_for(&self, source: MemberId, now: Instant) -> u8 {
        self.board()
            .reports
            .iter()
            .filter(|((s, _), (_, at))| *s == source && now.saturating_duration_since(*at) <= FRESH)
            .map(|(_, (fraction, _))| *fraction)
            .max()
            .unwrap_or(0)
    }
}

/// The interceptor of one member's connection (see the module docs).
pub(crate) struct FeedbackRelay {
    member: MemberId,
    losses: LossBoard,
    keyframes: KeyframeBoard,
    /// The SSRCs of the member's audio (the report blocks to raise).
    audio_uplinks: Vec<u32>,
    /// Video retransmission, both ways; every packet passes through it.
    nack: VideoNack,
}

impl FeedbackRelay {
    pub(crate) fn new(member: MemberId, losses: LossBoard, keyframes: KeyframeBoard) -> Self {
        Self {
            member,
            losses,
            keyframes,
            audio_uplinks: Vec::new(),
            nack: VideoNack::new(),
        }
    }

    /// Reads the member's reports and key frame requests about the tracks
    /// it is sent.
    fn note(&self, msg: &TaggedPacket) {
        let Packet::Rtcp(packets) = &msg.message.packet else {
            return;
        };
        for packet in packets {
            let any = packet.as_any();
            if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                self.keyframes.request_for_downtrack(pli.media_ssrc);
            } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                for entry in &fir.fir {
                    self.keyframes.request_for_downtrack(entry.ssrc);
                }
            }
            for block in reception_reports(packet.as_ref()) {
                self.losses
                    .reported(self.member, block.ssrc, block.fraction_lost, msg.now);
            }
        }
    }

    /// Raises the loss in our reports to the member about its audio.
    fn raise(&self, msg: &mut TaggedPacket) {
        let Packet::Rtcp(packets) = &mut msg.message.packet else {
            return;
        };
        let worst = self.losses.worst_for(self.member, msg.now);
        if worst == 0 {
            return;
        }
        let raise =
            |ssrc: u32, fraction: u8| fraction < worst && self.audio_uplinks.contains(&ssrc);
        for packet in packets.iter_mut() {
            let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() else {
                continue;
            };
            if !rr.reports.iter().any(|b| raise(b.ssrc, b.fraction_lost)) {
                continue;
            }
            let mut raised = rr.clone();
            for block in &mut raised.reports {
                if raise(block.ssrc, block.fraction_lost) {
                    block.fraction_lost = worst;
                }
            }
            *packet = Box::new(raised);
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackRelay {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.note(&msg);
        self.nack.handle_read(msg)
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.nack.poll_read()
    }

    fn handle_write(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        self.raise(&mut msg);
        self.nack.handle_write(msg)
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.nack.poll_write()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.nack.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.nack.poll_timeout()
    }
}

impl Interceptor for FeedbackRelay {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.nack.bind_local_stream(info);
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.nack.unbind_local_stream(info);
    }
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio_uplinks.push(info.ssrc);
        }
        self.nack.bind_remote_stream(info);
    }
    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.audio_uplinks.retain(|ssrc| *ssrc != info.ssrc);
        self.nack.unbind_remote_stream(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::shared::TransportContext;

    fn rtcp(now: Instant, packet: Box<dyn rtc::rtcp::Packet>) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::from(Packet::Rtcp(vec![packet])),
        }
    }

    fn rr(about: u32, fraction_lost: u8) -> Box<dyn rtc::rtcp::Packet> {
        Box::new(ReceiverReport {
            ssrc: 1,
            reports: vec![ReceptionReport {
                ssrc: about,
                fraction_lost,
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn stream(ssrc: u32, mime_type: &str) -> StreamInfo {
        StreamInfo {
            ssrc,
            mime_type: mime_type.to_owned(),
            ..Default::default()
        }
    }

    fn fraction_of(msg: &TaggedPacket) -> u8 {
        let Packet::Rtcp(packets) = &msg.message.packet else {
            panic!("not RTCP")
        };
        let rr = packets[0]
            .as_any()
            .downcast_ref::<ReceiverReport>()
            .expect("a receiver report");
        rr.reports[0].fraction_lost
    }

    #[test]
    fn a_receivers_loss_reaches_the_sender() {
        let (alice, bob, carol) = (0, 1, 2);
        let board = LossBoard::default();
        // Tracks of alice's audio on bob's and carol's connections.
        board.track(0xB0B, alice);
        board.track(0xCA0, alice);
        let relay = |member| FeedbackRelay::new(member, board.clone(), KeyframeBoard::default());
        let (mut at_alice, mut at_bob, mut at_carol) = (relay(alice), relay(bob), relay(carol));
        // Alice's audio uplink and video uplink.
        at_alice.bind_remote_stream(&stream(0xA11CE, "audio/opus"));
        at_alice.bind_remote_stream(&stream(0xA11CF, "video/VP8"));
        at_bob.bind_remote_stream(&stream(0xB0B0, "audio/opus"));
        let t0 = Instant::now();

        // Carol loses 25 % (64/256) of alice's audio, bob 2 %.
        at_carol.handle_read(rtcp(t0, rr(0xCA0, 64))).unwrap();
        at_bob.handle_read(rtcp(t0, rr(0xB0B, 5))).unwrap();
        assert!(at_carol.poll_read().is_some(), "reports pass on unchanged");

        // Our report to alice about her uplink (1 % lost) now says 25 %.
        at_alice.handle_write(rtcp(t0, rr(0xA11CE, 3))).unwrap();
        assert_eq!(fraction_of(&at_alice.poll_write().unwrap()), 64);
        // A worse uplink keeps its own figure.
        at_alice.handle_write(rtcp(t0, rr(0xA11CE, 100))).unwrap();
        assert_eq!(fraction_of(&at_alice.poll_write().unwrap()), 100);
        // Her video's report keeps its own figure (video loss is not relayed).
        at_alice.handle_write(rtcp(t0, rr(0xA11CF, 3))).unwrap();
        assert_eq!(fraction_of(&at_alice.poll_write().unwrap()), 3);
        // Nobody reported about bob's audio: his reports are untouched.
        at_bob.handle_write(rtcp(t0, rr(0xB0B0, 7))).unwrap();
        assert_eq!(fraction_of(&at_bob.poll_write().unwrap()), 7);

        // Stale reports stop counting; a receiver who left too.
        let later = t0 + FRESH + Duration::from_secs(1);
        assert_eq!(board.worst_for(alice, later), 0);
        assert_eq!(board.worst_for(alice, t0), 64);
        board.forget(carol);
        assert_eq!(board.worst_for(alice, t0), 5);
    }

    #[tokio::test]
    async fn a_receivers_pli_and_fir_ring_the_sources_doorbell() {
        let (alice, bob) = (0, 1);
        let keyframes = KeyframeBoard::default();
        keyframes.downtrack(0xB0B, alice);
        let doorbell = keyframes.uplink(alice);
        let mut at_bob = FeedbackRelay::new(bob, LossBoard::default(), keyframes.clone());
        let t0 = Instant::now();
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 0xB0B,
        };
        at_bob.handle_read(rtcp(t0, Box::new(pli))).unwrap();
        assert!(at_bob.poll_read().is_some(), "the request passes on");
        let rang = || async {
            let wait = std::time::Duration::from_millis(5);
            tokio::time::timeout(wait, doorbell.notified())
                .await
                .is_ok()
        };
        assert!(
            rang().await,
            "a PLI about bob's track of alice's video rings alice"
        );
        assert!(!rang().await);
        let fir = FullIntraRequest {
            sender_ssrc: 1,
            media_ssrc: 0,
            fir: vec![rtc::rtcp::payload_feedbacks::full_intra_request::FirEntry {
                ssrc: 0xB0B,
                sequence_number: 1,
            }],
        };
        at_bob.handle_read(rtcp(t0, Box::new(fir))).unwrap();
        assert!(rang().await, "so does a FIR");
    }
}

//! What the other side's RTCP says about the streams we send: per SSRC,
//! the receiver reports' fraction lost, interarrival jitter and round-trip
//! time (RFC 3550 §6.4.1: now − LSR − DLSR); and for our video SSRC, the
//! key-frame requests (PLI, RFC 4585; FIR, RFC 5104).
//!
//! webrtc 0.21 consumes inbound RTCP inside its interceptor chain and never
//! fills the `remote-inbound-rtp` statistics, so a small interceptor of our
//! own ([`ReportObserver`]) sits in the chain, reads every reception report
//! block and key-frame request as it goes past, and leaves the packets
//! untouched. Reports are kept per SSRC: with audio and video going out, a
//! compound packet carries a block for each, and audio adaptation must read
//! the audio's, video adaptation the video's. Key-frame requests bump a
//! counter the video send thread watches (no lock, no channel).

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use softphone_rtc::reception_reports;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The latest report block about one stream we send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RemoteReport {
    /// Loss since their previous report, in percent (RFC 3550 fraction lost).
    pub loss_pct: f64,
    /// Their interarrival jitter of our stream (ms).
    pub jitter_ms: f64,
    /// Round-trip time, when they had received a sender report of ours.
    pub rtt_ms: Option<f64>,
    /// When it arrived.
    pub at: Instant,
}

/// What [`ReportObserver`] read; shared with the session and the video
/// send thread.
#[derive(Debug)]
pub(crate) struct RemoteFeedback {
    /// Our video SSRC: the key-frame requests that count are about it.
    video_ssrc: u32,
    /// The latest report block per SSRC of ours (other SSRCs are ignored).
    reports: Mutex<HashMap<u32, RemoteReport>>,
    /// Our SSRCs and their RTP clock rates (for the jitter in ms).
    clock_rates: HashMap<u32, u32>,
    /// PLIs received for our video SSRC.
    plis: AtomicU64,
    /// FIRs received for our video SSRC (a retransmitted FIR, same
    /// sequence number, counts once).
    firs: AtomicU64,
    last_fir_seq: Mutex<Option<u8>>,
}

/// Shared handle.
pub(crate) type RemoteReports = Arc<RemoteFeedback>;

impl RemoteFeedback {
    /// Feedback about our audio SSRC (48 kHz) and video SSRC (90 kHz).
    pub(crate) fn new(audio_ssrc: u32, video_ssrc: u32) -> Arc<Self> {
        Arc::new(Self {
            video_ssrc,
            reports: Mutex::default(),
            clock_rates: HashMap::from([(audio_ssrc, 48_000), (video_ssrc, 90_000)]),
            plis: AtomicU64::new(0),
            firs: AtomicU64::new(0),
            last_fir_seq: Mutex::default(),
        })
    }

    /// The latest report about our stream `ssrc`.
    pub(crate) fn report(&self, ssrc: u32) -> Option<RemoteReport> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ssrc)
            .copied()
    }

    /// Key-frame requests for our video so far (PLI + FIR); the send
    /// thread forces a key frame whenever this moves.
    pub(crate) fn keyframe_requests(&self) -> u64 {
        self.plis.load(Ordering::Relaxed) + self.firs.load(Ordering::Relaxed)
    }

    /// PLIs and FIRs received so far.
    pub(crate) fn plis_and_firs(&self) -> (u64, u64) {
        (
            self.plis.load(Ordering::Relaxed),
            self.firs.load(Ordering::Relaxed),
        )
    }

    fn observe(&self, block: &ReceptionReport, at: Instant) {
        let Some(&rate) = self.clock_rates.get(&block.ssrc) else {
            return;
        };
        let report = RemoteReport {
            loss_pct: f64::from(block.fraction_lost) * 100.0 / 256.0,
            jitter_ms: f64::from(block.jitter) * 1000.0 / f64::from(rate),
            rtt_ms: round_trip_ms(block.last_sender_report, block.delay, ntp_middle_now()),
            at,
        };
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(block.ssrc, report);
    }

    /// Counts a PLI or FIR if it is about our video.
    fn observe_feedback(&self, packet: &dyn rtc::rtcp::Packet) {
        let any = packet.as_any();
        if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            if pli.media_ssrc == self.video_ssrc {
                self.plis.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            for entry in fir.fir.iter().filter(|e| e.ssrc == self.video_ssrc) {
                let mut last = self
                    .last_fir_seq
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if *last != Some(entry.sequence_number) {
                    *last = Some(entry.sequence_number);
                    self.firs.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The interceptor: passes everything through, reads reception reports
/// and key-frame requests.
pub(crate) struct ReportObserver {
    feedback: RemoteReports,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl ReportObserver {
    pub(crate) fn new(feedback: RemoteReports) -> Self {
        Self {
            feedback,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

/// RFC 3550 §6.4.1 round trip from a report block's LSR and DLSR (both in
/// 1/65536 s) and the middle 32 bits of our NTP clock now. `None` when the
/// peer had no sender report of ours yet, or the figure is absurd.
fn round_trip_ms(lsr: u32, dlsr: u32, now: u32) -> Option<f64> {
    if lsr == 0 {
        return None;
    }
    let rtt = now.wrapping_sub(lsr).wrapping_sub(dlsr);
    // More than a minute means clocks or fields are off, not a real RTT.
    (rtt < 60 << 16).then(|| f64::from(rtt) * 1000.0 / 65536.0)
}

/// The middle 32 bits of the current NTP time (16.16 fixed point seconds).
fn ntp_middle_now() -> u32 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (((secs & 0xffff) << 16) | (frac >> 16)) as u32
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for ReportObserver {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                for block in reception_reports(packet.as_ref()) {
                    self.feedback.observe(block, msg.now);
                }
                self.feedback.observe_feedback(packet.as_ref());
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for ReportObserver {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_from_lsr_and_dlsr() {
        // Sent our SR at 100.0 s, they held it 0.25 s, now is 100.5 s: 250 ms.
        let lsr = 100 << 16;
        let dlsr = 1 << 14;
        let now = (100 << 16) + (1 << 15);
        assert_eq!(round_trip_ms(lsr, dlsr, now), Some(250.0));
        assert_eq!(round_trip_ms(0, dlsr, now), None, "no SR of ours yet");
        assert_eq!(round_trip_ms(lsr, dlsr, lsr), None, "negative: absurd");
    }

    #[test]
    fn ntp_clock_moves_forward() {
        let a = ntp_middle_now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = ntp_middle_now();
        let ms = f64::from(b.wrapping_sub(a)) * 1000.0 / 65536.0;
        assert!((15.0..500.0).contains(&ms), "{ms}");
    }

    fn block(ssrc: u32, fraction_lost: u8, jitter: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            fraction_lost,
            jitter,
            ..Default::default()
        }
    }

    #[test]
    fn reports_are_kept_per_ssrc_whatever_their_order() {
        let feedback = RemoteFeedback::new(1, 2);
        let at = Instant::now();
        // One compound report with the video block last, then one with it
        // first: the audio's figures stay the audio's.
        for blocks in [
            [block(1, 26, 480), block(2, 128, 900)],
            [block(2, 128, 900), block(1, 26, 480)],
        ] {
            let rr = rtc::rtcp::receiver_report::ReceiverReport {
                reports: blocks.to_vec(),
                ..Default::default()
            };
            for b in reception_reports(&rr) {
                feedback.observe(b, at);
            }
            let audio = feedback.report(1).expect("audio report");
            let video = feedback.report(2).expect("video report");
            assert!((audio.loss_pct - 10.2).abs() < 0.1, "{audio:?}");
            assert_eq!(audio.jitter_ms, 10.0, "48 kHz units");
            assert_eq!(video.loss_pct, 50.0);
            assert_eq!(video.jitter_ms, 10.0, "90 kHz units");
        }
        feedback.observe(&block(99, 255, 0), at);
        assert!(feedback.report(99).is_none(), "not one of ours");
    }

    #[test]
    fn key_frame_requests_for_our_video_count_once_each() {
        use rtc::rtcp::payload_feedbacks::full_intra_request::FirEntry;
        let feedback = RemoteFeedback::new(1, 2);
        let pli = |media_ssrc| PictureLossIndication {
            sender_ssrc: 7,
            media_ssrc,
        };
        feedback.observe_feedback(&pli(2));
        feedback.observe_feedback(&pli(1));
        let fir = |seq| FullIntraRequest {
            sender_ssrc: 7,
            media_ssrc: 0,
            fir: vec![FirEntry {
                ssrc: 2,
                sequence_number: seq,
            }],
        };
        feedback.observe_feedback(&fir(5));
        feedback.observe_feedback(&fir(5));
        feedback.observe_feedback(&fir(6));
        assert_eq!(feedback.plis_and_firs(), (1, 2));
        assert_eq!(feedback.keyframe_requests(), 3);
    }
}

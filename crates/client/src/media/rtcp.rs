//! What the other side's RTCP receiver reports say about our audio: the
//! fraction lost, their interarrival jitter and the round-trip time
//! (RFC 3550 §6.4.1: now − LSR − DLSR).
//!
//! webrtc 0.21 consumes inbound RTCP inside its interceptor chain and never
//! fills the `remote-inbound-rtp` statistics, so a small interceptor of our
//! own ([`ReportObserver`]) sits in the chain, reads every reception report
//! block about our SSRCs as it goes past, and leaves the packets untouched.

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use softphone_rtc::reception_reports;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The latest report block about the audio we send.
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

/// Where [`ReportObserver`] leaves what it read; shared with the session.
pub(crate) type RemoteReports = Arc<Mutex<Option<RemoteReport>>>;

/// The interceptor: passes everything through, reads reception reports.
pub(crate) struct ReportObserver {
    reports: RemoteReports,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl ReportObserver {
    pub(crate) fn new(reports: RemoteReports) -> Self {
        Self {
            reports,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }

    fn observe(&self, block: &ReceptionReport, at: Instant) {
        let report = RemoteReport {
            loss_pct: f64::from(block.fraction_lost) * 100.0 / 256.0,
            jitter_ms: f64::from(block.jitter) / 48.0,
            rtt_ms: round_trip_ms(block.last_sender_report, block.delay, ntp_middle_now()),
            at,
        };
        *self.reports.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
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
                // One audio stream out: the last block is about it.
                if let Some(block) = reception_reports(packet.as_ref()).last() {
                    self.observe(block, msg.now);
                }
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
}

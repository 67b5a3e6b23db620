//! [`MediaStats`]: what a media session reports every few seconds.
//!
//! Measured locally: packets and bytes counted where they are written and
//! read, loss and jitter from the jitter buffers (RFC 3550 expected −
//! received; interarrival jitter). From the other side's RTCP reports (read
//! by our own interceptor, as webrtc 0.21 leaves `remote-inbound-rtp`
//! empty): the loss and jitter of what we send, and the round-trip time
//! (RFC 3550 LSR/DLSR) when the ICE candidate pair has none. The MOS is an
//! E-model estimate (`mos.rs`).

use super::mos;
use super::rtcp::RemoteReport;
use serde::Serialize;
use softphone_media::JitterStats;
use std::sync::atomic::{AtomicU64, Ordering};

/// Figures of one call's media session.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MediaStats {
    /// Round-trip time (ms), when measured: the selected ICE candidate
    /// pair's, else from RTCP reports.
    pub rtt_ms: Option<f64>,
    /// Estimated MOS (1–4.5, ITU-T G.107 E-model) of what we hear over the
    /// last interval, once audio flows.
    pub mos: Option<f64>,
    /// RTP packets sent (our audio track).
    pub packets_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// RTP packets received (all remote audio tracks).
    pub packets_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Packets never received (all remote streams).
    pub packets_lost: u64,
    /// Lost / expected, in percent.
    pub loss_pct: f64,
    /// Interarrival jitter (ms), the largest of the remote streams.
    pub jitter_ms: f64,
    /// Outgoing payload bitrate over the last interval (kb/s).
    pub send_kbps: f64,
    /// Incoming payload bitrate over the last interval (kb/s).
    pub recv_kbps: f64,
    /// Frames concealed (PLC) on the receive side.
    pub concealed: u64,
    /// Frames rebuilt from in-band FEC.
    pub fec_recovered: u64,
    /// Lost packets rebuilt from redundant copies (RED).
    pub red_recovered: u64,
    /// Loss of what we send, as the other side last reported it (%).
    pub remote_loss_pct: Option<f64>,
    /// Redundant copies of earlier frames now sent in each packet (0–2).
    pub redundancy: u8,
    /// Opus target bitrate now (kb/s), before redundancy.
    pub opus_kbps: f64,
    /// Packets that came too late to play.
    pub late: u64,
    /// Current jitter-buffer delay (ms), the largest of the remote streams.
    pub playout_delay_ms: f64,
    /// Remote audio streams heard.
    pub streams: usize,
    /// From the accept to the first decoded audio frame (ms), once there was one.
    pub first_audio_ms: Option<u64>,
    /// Video sent and received (zeros and no streams in a call without video).
    pub video: super::video::VideoStats,
    /// True on the last report of a session.
    pub last: bool,
}

/// Counters the send and receive tasks bump.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
}

impl Counters {
    pub(crate) fn sent(&self, bytes: usize) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// What a report is built from besides the counters.
#[derive(Debug, Default)]
pub(crate) struct Inputs<'a> {
    /// Jitter-buffer figures per remote stream.
    pub streams: &'a [(u32, JitterStats)],
    /// The ICE candidate pair's round trip.
    pub ice_rtt_ms: Option<f64>,
    /// The other side's latest report on what we send.
    pub remote: Option<RemoteReport>,
    pub first_audio_ms: Option<u64>,
    pub redundancy: u8,
    pub opus_bitrate_bps: u32,
    pub video: super::video::VideoStats,
}

/// Builds [`MediaStats`] from the counters, the jitter buffers and the
/// previous report (for bitrates and the interval's MOS).
#[derive(Debug, Default)]
pub(crate) struct StatsBuilder {
    last_bytes_sent: u64,
    last_bytes_received: u64,
    last_at: Option<std::time::Instant>,
    /// expected, lost, rebuilt by RED, rebuilt by FEC at the last report.
    last_loss: (u64, u64, u64, u64),
    last_mos: Option<f64>,
}

impl StatsBuilder {
    pub(crate) fn build(&mut self, counters: &Counters, inputs: Inputs<'_>) -> MediaStats {
        let streams = inputs.streams;
        let now = std::time::Instant::now();
        let bytes_sent = counters.bytes_sent.load(Ordering::Relaxed);
        let bytes_received = counters.bytes_received.load(Ordering::Relaxed);
        let secs = self
            .last_at
            .map(|t| now.duration_since(t).as_secs_f64())
            .filter(|s| *s > 0.0);
        let kbps = |now_b: u64, then_b: u64| {
            secs.map_or(0.0, |s| {
                round1(now_b.saturating_sub(then_b) as f64 * 8.0 / s / 1000.0)
            })
        };
        let send_kbps = kbps(bytes_sent, self.last_bytes_sent);
        let recv_kbps = kbps(bytes_received, self.last_bytes_received);
        self.last_bytes_sent = bytes_sent;
        self.last_bytes_received = bytes_received;
        self.last_at = Some(now);

        let sum = |f: fn(&JitterStats) -> u64| streams.iter().map(|(_, s)| f(s)).sum::<u64>();
        let max_us =
            |f: fn(&JitterStats) -> u64| streams.iter().map(|(_, s)| f(s)).max().unwrap_or(0);
        let lost = sum(|s| s.lost);
        let received = sum(|s| s.received);
        let expected = lost + received;
        let (red, fec) = (sum(|s| s.recovered_red), sum(|s| s.recovered_fec));
        let rtt_ms = inputs.ice_rtt_ms.or(inputs.remote.and_then(|r| r.rtt_ms));
        let playout_delay_ms = round1(max_us(|s| s.current_delay_us) as f64 / 1000.0);
        let mos = self.interval_mos(expected, lost, red, fec, rtt_ms, playout_delay_ms);
        MediaStats {
            rtt_ms: rtt_ms.map(round1),
            mos,
            packets_sent: counters.packets_sent.load(Ordering::Relaxed),
            bytes_sent,
            packets_received: counters.packets_received.load(Ordering::Relaxed),
            bytes_received,
            packets_lost: lost,
            loss_pct: if expected == 0 {
                0.0
            } else {
                round1(lost as f64 * 100.0 / expected as f64)
            },
            jitter_ms: round1(max_us(|s| s.jitter_us) as f64 / 1000.0),
            send_kbps,
            recv_kbps,
            concealed: sum(|s| s.concealed),
            fec_recovered: fec,
            red_recovered: red,
            remote_loss_pct: inputs.remote.map(|r| round1(r.loss_pct)),
            redundancy: inputs.redundancy,
            opus_kbps: round1(f64::from(inputs.opus_bitrate_bps) / 1000.0),
            late: sum(|s| s.late),
            playout_delay_ms,
            streams: streams.len(),
            first_audio_ms: inputs.first_audio_ms,
            video: inputs.video,
            last: false,
        }
    }

    /// The E-model estimate over the frames expected since the last report.
    fn interval_mos(
        &mut self,
        expected: u64,
        lost: u64,
        red: u64,
        fec: u64,
        rtt_ms: Option<f64>,
        playout_delay_ms: f64,
    ) -> Option<f64> {
        let (e0, l0, r0, f0) = self.last_loss;
        self.last_loss = (expected, lost, red, fec);
        let expected = expected.saturating_sub(e0);
        if expected == 0 {
            // Nothing new (a short last interval): the score stands.
            return self.last_mos;
        }
        let unrebuilt = lost.saturating_sub(l0) as f64
            - red.saturating_sub(r0) as f64
            - fec.saturating_sub(f0) as f64 / 2.0;
        let loss_pct = (unrebuilt.max(0.0) * 100.0 / expected as f64).min(100.0);
        self.last_mos = Some(mos::estimate(
            mos::one_way_delay_ms(rtt_ms, playout_delay_ms),
            loss_pct,
        ));
        self.last_mos
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_bitrate_come_from_counters_and_buffers() {
        let counters = Counters::default();
        let mut b = StatsBuilder::default();
        let first = b.build(&counters, Inputs::default());
        assert_eq!(first.loss_pct, 0.0);
        assert_eq!(first.send_kbps, 0.0);
        for _ in 0..10 {
            counters.sent(100);
            counters.received(80);
        }
        let streams = [(
            7,
            JitterStats {
                received: 90,
                lost: 10,
                jitter_us: 2_500,
                ..JitterStats::default()
            },
        )];
        let s = b.build(
            &counters,
            Inputs {
                streams: &streams,
                ice_rtt_ms: Some(1.234),
                first_audio_ms: Some(210),
                ..Inputs::default()
            },
        );
        assert_eq!(s.packets_sent, 10);
        assert_eq!(s.bytes_received, 800);
        assert_eq!(s.loss_pct, 10.0);
        assert_eq!(s.jitter_ms, 2.5);
        assert_eq!(s.rtt_ms, Some(1.2));
        assert_eq!(s.streams, 1);
        assert!(s.send_kbps > 0.0);
        // 10 % lost, none rebuilt: a fair score at best (E-model: 3.1).
        assert!(
            s.mos.is_some_and(|m| (2.8..3.5).contains(&m)),
            "{:?}",
            s.mos
        );
        assert_eq!(first.mos, None, "nothing expected yet: no score");
    }

    #[test]
    fn rebuilt_frames_do_not_count_against_the_score_and_rtcp_fills_rtt() {
        let counters = Counters::default();
        let mut b = StatsBuilder::default();
        let streams = [(
            7,
            JitterStats {
                received: 90,
                lost: 10,
                recovered_red: 10,
                current_delay_us: 40_000,
                ..JitterStats::default()
            },
        )];
        let remote = RemoteReport {
            loss_pct: 10.0,
            jitter_ms: 1.0,
            rtt_ms: Some(12.04),
            at: std::time::Instant::now(),
        };
        let s = b.build(
            &counters,
            Inputs {
                streams: &streams,
                remote: Some(remote),
                redundancy: 2,
                opus_bitrate_bps: 24_000,
                ..Inputs::default()
            },
        );
        assert!(s.mos.is_some_and(|m| m > 4.2), "{:?}", s.mos);
        assert_eq!(s.rtt_ms, Some(12.0));
        assert_eq!(s.remote_loss_pct, Some(10.0));
        assert_eq!((s.redundancy, s.opus_kbps, s.red_recovered), (2, 24.0, 10));
    }
}

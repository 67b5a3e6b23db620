//! [`MediaStats`]: what a media session reports every few seconds.
//!
//! webrtc 0.21 leaves the remote RTCP figures (`remote-inbound-rtp` loss and
//! RTT) empty, so everything here is measured locally: packets and bytes
//! counted where they are written and read, loss and jitter from the jitter
//! buffers (RFC 3550 expected − received; interarrival jitter), and the
//! round-trip time of the nominated ICE candidate pair (STUN consent checks).

use serde::Serialize;
use softphone_media::JitterStats;
use std::sync::atomic::{AtomicU64, Ordering};

/// Figures of one call's media session.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MediaStats {
    /// Round-trip time of the selected ICE candidate pair (ms), when measured.
    pub rtt_ms: Option<f64>,
    /// RTP packets sent (our one audio track).
    pub packets_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// RTP packets received (all remote tracks).
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
    /// Packets that came too late to play.
    pub late: u64,
    /// Current jitter-buffer delay (ms), the largest of the remote streams.
    pub playout_delay_ms: f64,
    /// Remote audio streams heard.
    pub streams: usize,
    /// From the accept to the first decoded audio frame (ms), once there was one.
    pub first_audio_ms: Option<u64>,
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

/// Builds [`MediaStats`] from the counters, the jitter buffers and the
/// previous report (for bitrates).
#[derive(Debug, Default)]
pub(crate) struct StatsBuilder {
    last_bytes_sent: u64,
    last_bytes_received: u64,
    last_at: Option<std::time::Instant>,
}

impl StatsBuilder {
    pub(crate) fn build(
        &mut self,
        counters: &Counters,
        streams: &[(u32, JitterStats)],
        rtt_ms: Option<f64>,
        first_audio_ms: Option<u64>,
    ) -> MediaStats {
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
        MediaStats {
            rtt_ms: rtt_ms.map(round1),
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
            fec_recovered: sum(|s| s.recovered_fec),
            late: sum(|s| s.late),
            playout_delay_ms: round1(max_us(|s| s.current_delay_us) as f64 / 1000.0),
            streams: streams.len(),
            first_audio_ms,
            last: false,
        }
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
        let first = b.build(&counters, &[], None, None);
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
        let s = b.build(&counters, &streams, Some(1.234), Some(210));
        assert_eq!(s.packets_sent, 10);
        assert_eq!(s.bytes_received, 800);
        assert_eq!(s.loss_pct, 10.0);
        assert_eq!(s.jitter_ms, 2.5);
        assert_eq!(s.rtt_ms, Some(1.2));
        assert_eq!(s.streams, 1);
        assert!(s.send_kbps > 0.0);
    }
}

//! The video part of [`MediaStats`](crate::media::MediaStats): what we send
//! and, per remote stream, what we receive, decode and show, with rates
//! over the last interval.

use super::receive::ReceiveState;
use super::send::SendState;
use serde::Serialize;
use softphone_proto::DeviceAddr;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Video figures of one call's media session.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct VideoStats {
    /// A video source is on and its frames go out.
    pub sending: bool,
    /// The source in use (`pattern`, `camera:…`, `screen:…`), while sending.
    pub source: Option<String>,
    /// Frames sent per second over the last interval.
    pub sent_fps: f64,
    /// Size of the frames sent (after any resolution step), 0 before any.
    pub sent_width: u32,
    /// See `sent_width`.
    pub sent_height: u32,
    /// Video payload bitrate sent over the last interval (kb/s).
    pub send_kbps: f64,
    /// The encoder's target now (kb/s), from the adaptation.
    pub target_kbps: f64,
    /// Halvings of the source's width and height now (0: full size).
    pub resolution_step: u8,
    /// Frames sent in all.
    pub frames_sent: u64,
    /// Key frames sent in all.
    pub keyframes_sent: u64,
    /// Key frames sent because the other side asked (PLI or FIR).
    pub keyframes_on_request: u64,
    /// Key-frame requests received: PLIs.
    pub plis_received: u64,
    /// Key-frame requests received: FIRs.
    pub firs_received: u64,
    /// Frames not sent because the network side was behind.
    pub frames_dropped: u64,
    /// Loss of our video as the other side last reported it (%).
    pub remote_loss_pct: Option<f64>,
    /// Each remote video stream.
    pub received: Vec<VideoStreamStats>,
}

/// Figures of one remote video stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct VideoStreamStats {
    /// Its stream id (a group participant's `user/device`).
    pub stream_id: String,
    /// Whose video it is, when known.
    pub owner: Option<DeviceAddr>,
    /// Size of the last decoded frame.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Frames reassembled per second over the last interval.
    pub received_fps: f64,
    /// Frames decoded per second over the last interval.
    pub decoded_fps: f64,
    /// Frames handed to the application per second over the last interval.
    pub shown_fps: f64,
    /// Frames reassembled in all.
    pub frames_received: u64,
    /// Frames decoded in all.
    pub frames_decoded: u64,
    /// Frames handed to the application in all.
    pub frames_shown: u64,
    /// Key frames received in all.
    pub keyframes_received: u64,
    /// Frames that could not be decoded (a loss, waiting for a key frame).
    pub frames_undecodable: u64,
    /// Decoder errors (garbage, corrupt frames).
    pub decode_errors: u64,
    /// Key-frame requests (PLI) we sent for this stream.
    pub plis_sent: u64,
    /// Payload bitrate received over the last interval (kb/s).
    pub recv_kbps: f64,
    /// The lip-sync delay applied: frames are shown this long after their
    /// earliest possible arrival (the stream's audio path delay, ms).
    pub sync_delay_ms: f64,
    /// How long the last frame waited after decoding before it was shown (ms).
    pub held_ms: f64,
}

/// The counters at the previous report.
#[derive(Debug, Default, Clone, Copy)]
struct Previous {
    frames: u64,
    decoded: u64,
    rendered: u64,
    bytes: u64,
}

/// Builds [`VideoStats`], remembering the counters for the rates.
#[derive(Debug, Default)]
pub(crate) struct VideoStatsBuilder {
    last_at: Option<Instant>,
    sent: Previous,
    streams: HashMap<String, Previous>,
}

/// One remote stream as the builder sees it.
pub(crate) struct StreamInput<'a> {
    pub stream_id: &'a str,
    pub owner: Option<&'a DeviceAddr>,
    pub state: &'a ReceiveState,
}

/// What the send side looks like now.
pub(crate) struct SendInput<'a> {
    pub state: &'a SendState,
    pub source: Option<String>,
    pub plis_and_firs: (u64, u64),
    pub remote_loss_pct: Option<f64>,
}

impl VideoStatsBuilder {
    pub(crate) fn build<'a>(
        &mut self,
        send: SendInput<'_>,
        streams: impl IntoIterator<Item = StreamInput<'a>>,
    ) -> VideoStats {
        let now = Instant::now();
        let secs = self
            .last_at
            .map(|t| now.duration_since(t).as_secs_f64())
            .filter(|s| *s > 0.0);
        self.last_at = Some(now);
        let per_sec =
            |now: u64, then: u64| secs.map_or(0.0, |s| round1(now.saturating_sub(then) as f64 / s));
        let kbps = |now: u64, then: u64| {
            secs.map_or(0.0, |s| {
                round1(now.saturating_sub(then) as f64 * 8.0 / s / 1000.0)
            })
        };
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let s = send.state;
        let sent = Previous {
            frames: load(&s.frames),
            bytes: load(&s.bytes),
            ..Previous::default()
        };
        let sending = s.sending.load(Ordering::Relaxed);
        let stats_sent_fps = per_sec(sent.frames, self.sent.frames);
        let send_kbps = kbps(sent.bytes, self.sent.bytes);
        self.sent = sent;
        let mut received = Vec::new();
        for stream in streams {
            let r = stream.state;
            let now_counts = Previous {
                frames: load(&r.frames),
                decoded: load(&r.decoded),
                rendered: load(&r.rendered),
                bytes: load(&r.bytes),
            };
            let then = self
                .streams
                .insert(stream.stream_id.to_owned(), now_counts)
                .unwrap_or_default();
            received.push(VideoStreamStats {
                stream_id: stream.stream_id.to_owned(),
                owner: stream.owner.cloned(),
                width: r.width.load(Ordering::Relaxed),
                height: r.height.load(Ordering::Relaxed),
                received_fps: per_sec(now_counts.frames, then.frames),
                decoded_fps: per_sec(now_counts.decoded, then.decoded),
                shown_fps: per_sec(now_counts.rendered, then.rendered),
                frames_received: now_counts.frames,
                frames_decoded: now_counts.decoded,
                frames_shown: now_counts.rendered,
                keyframes_received: load(&r.keyframes),
                frames_undecodable: load(&r.dropped),
                decode_errors: load(&r.decode_errors),
                plis_sent: load(&r.plis),
                recv_kbps: kbps(now_counts.bytes, then.bytes),
                sync_delay_ms: round1(load(&r.delay_us) as f64 / 1000.0),
                held_ms: round1(load(&r.held_us) as f64 / 1000.0),
            });
        }
        VideoStats {
            sending,
            source: send.source.filter(|_| sending),
            sent_fps: stats_sent_fps,
            sent_width: s.width.load(Ordering::Relaxed),
            sent_height: s.height.load(Ordering::Relaxed),
            send_kbps,
            target_kbps: round1(f64::from(s.bitrate_bps.load(Ordering::Relaxed)) / 1000.0),
            resolution_step: s.step.load(Ordering::Relaxed),
            frames_sent: sent.frames,
            keyframes_sent: load(&s.keyframes),
            keyframes_on_request: load(&s.keyframes_on_request),
            plis_received: send.plis_and_firs.0,
            firs_received: send.plis_and_firs.1,
            frames_dropped: load(&s.dropped),
            remote_loss_pct: send.remote_loss_pct.map(round1),
            received,
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
    fn rates_come_from_the_counters_between_reports() {
        let send = SendState::default();
        let recv = ReceiveState::default();
        let mut b = VideoStatsBuilder::default();
        fn input(send: &SendState) -> SendInput<'_> {
            SendInput {
                state: send,
                source: Some("pattern".into()),
                plis_and_firs: (2, 1),
                remote_loss_pct: Some(1.26),
            }
        }
        fn streams(recv: &ReceiveState) -> [StreamInput<'_>; 1] {
            [StreamInput {
                stream_id: "softphone",
                owner: None,
                state: recv,
            }]
        }
        let first = b.build(input(&send), streams(&recv));
        assert_eq!(first.sent_fps, 0.0, "no interval yet");
        assert_eq!(first.source, None, "nothing on");
        send.sending.store(true, Ordering::Relaxed);
        send.frames.store(30, Ordering::Relaxed);
        recv.decoded.store(29, Ordering::Relaxed);
        recv.delay_us.store(61_234, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let s = b.build(input(&send), streams(&recv));
        assert!(s.sent_fps > 100.0 && s.sent_fps <= 300.0, "{}", s.sent_fps);
        assert_eq!(s.source.as_deref(), Some("pattern"));
        assert_eq!((s.plis_received, s.firs_received), (2, 1));
        assert_eq!(s.remote_loss_pct, Some(1.3));
        let r = &s.received[0];
        assert_eq!((r.frames_decoded, r.sync_delay_ms), (29, 61.2));
        assert!(r.decoded_fps > 90.0, "{}", r.decoded_fps);
    }
}

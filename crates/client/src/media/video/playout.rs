//! When a remote video frame is shown, and when a receiver may ask for a
//! key frame. Pure: times in microseconds in, decisions out.
//!
//! # Lip sync
//!
//! The audio of a stream is played a jitter-buffer delay after its
//! *earliest possible arrival* (`softphone-media`'s jitter buffer measures
//! each packet's transit, arrival − RTP time, against the smallest transit
//! seen; its `current_delay_us` is how far above that the frame now
//! playing is). Video gets the same treatment: [`Schedule`] keeps the
//! smallest transit of the stream's frames (our senders stamp frames with
//! their capture time, `rtp.rs`), so `RTP time + smallest transit` is when a
//! frame could have been shown at the earliest, and shows it
//! [`video_delay_us`] later: the audio path's delay (jitter buffer, plus the
//! speaker's own buffer for a sound device). Both streams leave the sender
//! at their capture time plus a few ms (an Opus frame or a VP8 frame to
//! encode) and cross the same network, so equal delays above their
//! earliest arrival put sound and picture captured together on the speaker
//! and the screen together. A frame that is already late is shown at once.
//!
//! The smallest transit is taken over two windows of [`WINDOW_US`], so a
//! path that got slower for good is followed within 4 s, and a sender
//! clock that drifts against ours moves it slowly, as it does the audio's.

/// Length of each of the two windows the smallest transit is taken over.
pub(crate) const WINDOW_US: u64 = 2_000_000;
/// Longest a frame is held for lip sync.
pub(crate) const MAX_HOLD_US: u64 = 1_000_000;
/// What a sound device's buffer adds to the audio path (the cpal sink
/// prefills 40 ms, `softphone-media`'s `cpal_io.rs`).
pub(crate) const DEVICE_OUTPUT_LATENCY_US: u64 = 40_000;
/// At most one key-frame request per stream this often.
pub(crate) const PLI_INTERVAL_US: u64 = 500_000;

/// How long after its earliest possible arrival a video frame is shown, so
/// that it plays with the audio of its stream: that audio's jitter-buffer
/// delay, plus the output device's buffer when it plays on a sound device.
/// No audio (a muted sender still sends silence frames, so this is a
/// stream without audio at all): at once.
pub(crate) fn video_delay_us(audio_jitter_delay_us: Option<u64>, audio_on_device: bool) -> u64 {
    let Some(jitter) = audio_jitter_delay_us else {
        return 0;
    };
    let device = if audio_on_device {
        DEVICE_OUTPUT_LATENCY_US
    } else {
        0
    };
    (jitter + device).min(MAX_HOLD_US)
}

/// When each frame of one stream is shown.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    /// Unwrapped timestamp of the last frame (90 kHz).
    last_ts: Option<i64>,
    /// Smallest transit (arrival µs − RTP µs) in the current and the
    /// previous window, and when the current window began.
    current_min: Option<i64>,
    previous_min: Option<i64>,
    window_start: u64,
}

impl Schedule {
    /// When to show the frame with RTP timestamp `ts` that was complete at
    /// `arrival_us`, `delay_us` after its earliest possible arrival. Never
    /// before `arrival_us`, never more than [`MAX_HOLD_US`] after it.
    pub(crate) fn render_at(&mut self, ts: u32, arrival_us: u64, delay_us: u64) -> u64 {
        let ext = match self.last_ts {
            None => i64::from(ts),
            Some(last) => {
                // The closest unwrapping of `ts` to the last timestamp.
                let diff = i64::from(ts.wrapping_sub(last as u32) as i32);
                last + diff
            }
        };
        if self
            .last_ts
            .is_some_and(|last| (ext - last).abs() > 90_000 * 10)
        {
            // A jump of more than 10 s: a new sender; forget the old one.
            *self = Self::default();
        }
        self.last_ts = Some(ext);
        let ts_us = ext * 1000 / 90;
        let transit = arrival_us as i64 - ts_us;
        if self.current_min.is_none() && self.previous_min.is_none() {
            self.window_start = arrival_us;
        }
        if arrival_us.saturating_sub(self.window_start) >= WINDOW_US {
            self.previous_min = self.current_min;
            self.current_min = None;
            self.window_start = arrival_us;
        }
        self.current_min = Some(self.current_min.map_or(transit, |m| m.min(transit)));
        let min = match (self.current_min, self.previous_min) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(transit),
        };
        let earliest = ts_us + min;
        let at = earliest.saturating_add(delay_us as i64);
        (at.max(arrival_us as i64) as u64).min(arrival_us + MAX_HOLD_US)
    }
}

/// At most one key-frame request per [`PLI_INTERVAL_US`].
#[derive(Debug, Default)]
pub(crate) struct PliLimiter {
    last: Option<u64>,
}

impl PliLimiter {
    /// Whether a request may go out now (and if so, counts it as sent).
    pub(crate) fn allow(&mut self, now_us: u64) -> bool {
        if self
            .last
            .is_some_and(|last| now_us.saturating_sub(last) < PLI_INTERVAL_US)
        {
            return false;
        }
        self.last = Some(now_us);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_waits_as_long_as_the_audio_does() {
        assert_eq!(video_delay_us(Some(60_000), false), 60_000);
        assert_eq!(video_delay_us(Some(60_000), true), 100_000);
        assert_eq!(video_delay_us(None, true), 0, "no audio: show at once");
        assert_eq!(video_delay_us(Some(5_000_000), false), MAX_HOLD_US);
    }

    #[test]
    fn frames_are_shown_the_delay_after_their_earliest_arrival() {
        let mut s = Schedule::default();
        // 30 fps, capture at 33 ms steps; network transit 10 ms, jitter
        // up to 15 ms more.
        let jitter = [0u64, 15_000, 3_000, 9_000, 0, 12_000];
        let mut shown = Vec::new();
        for (i, j) in jitter.iter().enumerate() {
            let ts = (i as u32) * 3000;
            let capture = i as u64 * 33_333;
            let arrival = capture + 10_000 + j;
            shown.push(s.render_at(ts, arrival, 40_000) as i64 - capture as i64);
        }
        // Each is shown 40 ms after the fastest transit (10 ms): 50 ms
        // after capture, whatever its own jitter.
        for d in &shown {
            assert!((49_000..=51_000).contains(d), "{shown:?}");
        }
    }

    #[test]
    fn late_frames_go_at_once_and_holds_are_bounded() {
        let mut s = Schedule::default();
        assert_eq!(s.render_at(0, 1_000_000, 0), 1_000_000);
        // 200 ms slower than the fastest: already late for a 50 ms delay.
        assert_eq!(s.render_at(3000, 1_233_333, 50_000), 1_233_333);
        let mut s = Schedule::default();
        assert_eq!(s.render_at(0, 0, 60_000_000), MAX_HOLD_US);
    }

    #[test]
    fn a_path_that_got_slower_is_followed_within_two_windows() {
        let mut s = Schedule::default();
        let mut at = 0;
        for i in 0..300u32 {
            let capture = u64::from(i) * 3000 * 1000 / 90;
            let transit = if i < 60 { 10_000 } else { 110_000 };
            at = s.render_at(i * 3000, capture + transit, 20_000) - capture;
        }
        assert_eq!(at, 130_000, "shown 20 ms after the new fastest transit");
    }

    #[test]
    fn timestamps_wrap_and_senders_restart() {
        let mut s = Schedule::default();
        let a = s.render_at(u32::MAX - 2999, 1_000_000, 0);
        let b = s.render_at(1, 1_033_367, 0);
        assert_eq!((a, b), (1_000_000, 1_033_367));
        // A new sender, timestamps elsewhere: shown at once, not held.
        assert_eq!(s.render_at(1_000_000_000, 1_066_000, 30_000), 1_096_000);
    }

    #[test]
    fn key_frame_requests_are_rate_limited() {
        let mut l = PliLimiter::default();
        assert!(l.allow(1_000_000));
        assert!(!l.allow(1_100_000));
        assert!(!l.allow(1_499_999));
        assert!(l.allow(1_500_000));
        assert!(!l.allow(1_500_001));
    }
}

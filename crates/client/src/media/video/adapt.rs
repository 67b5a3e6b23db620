//! How the video we send follows what the receiver reports about it (RTCP
//! receiver reports for our video SSRC, `rtcp.rs`): the encoder's bitrate
//! and a resolution step. Pure: reports in, a [`VideoPlan`] out. Audio has
//! its own plan (`media/adapt.rs`); the two read different report blocks.
//!
//! Bitrate, once per report (about one a second), loss-based as in
//! WebRTC's GCC (draft-ietf-rmcat-gcc §6), with a delay guard since
//! webrtc 0.21 has no sender-side bandwidth estimate:
//!
//! | report                                   | bitrate                     |
//! |------------------------------------------|-----------------------------|
//! | loss > 10 %                              | × (1 − loss / 2)            |
//! | RTT > smallest RTT seen + [`RTT_RISE_MS`] | × 0.85 (queues are growing) |
//! | loss < 2 % and RTT steady                | × 1.08, up to the maximum   |
//! | otherwise                                | held                        |
//!
//! Never below [`MIN_BITRATE_BPS`]. The resolution steps down (each step
//! halves width and height: 720p → 360p → 180p) as soon as the bitrate is
//! below [`STEP_DOWN`] of what the current size gets by default, and back
//! up only after [`STEPS_UP_AFTER`] reports in a row with enough bitrate
//! for the larger size (with 25 % headroom), so it does not flap. A new
//! size costs a key frame, so it should not change often.
//!
//! The frame rate halves (every other captured frame is sent, 30 → 15
//! fps) when the bitrate falls below [`HALF_RATE_BELOW_BPS`], whatever the
//! size: each frame then gets twice the bits, so the picture stays legible
//! where the smallest size alone would be a smear. It comes back after
//! [`STEPS_UP_AFTER`] reports in a row 25 % above that bitrate.

/// The lowest bitrate video is sent at.
pub(crate) const MIN_BITRATE_BPS: u32 = 60_000;
/// An RTT this much above the smallest seen means queues are building.
pub(crate) const RTT_RISE_MS: f64 = 150.0;
/// The step goes down below this share of the bitrate its size wants.
pub(crate) const STEP_DOWN: f64 = 0.4;
/// Reports in a row with room for the larger size before stepping up.
pub(crate) const STEPS_UP_AFTER: u32 = 3;
/// Halvings of width and height at most.
pub(crate) const MAX_STEP: u8 = 2;
/// Below this bitrate every other frame is sent.
pub(crate) const HALF_RATE_BELOW_BPS: u32 = 100_000;

/// What to send with, from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VideoPlan {
    /// Encoder target bitrate (b/s).
    pub bitrate_bps: u32,
    /// Width and height are the source's divided by 2^step.
    pub step: u8,
    /// Send every other captured frame.
    pub half_rate: bool,
}

/// Follows the reports on our video.
#[derive(Debug, Clone)]
pub(crate) struct VideoAdaptation {
    max_bps: u32,
    bitrate_bps: f64,
    step: u8,
    room_for_more: u32,
    half_rate: bool,
    room_for_full_rate: u32,
    min_rtt_ms: Option<f64>,
}

impl VideoAdaptation {
    /// Starting at, and never above, `max_bps` (the bitrate the full size
    /// wants), at full size.
    pub(crate) fn new(max_bps: u32) -> Self {
        let max_bps = max_bps.max(MIN_BITRATE_BPS);
        Self {
            max_bps,
            bitrate_bps: f64::from(max_bps),
            step: 0,
            room_for_more: 0,
            half_rate: false,
            room_for_full_rate: 0,
            min_rtt_ms: None,
        }
    }

    /// The plan now.
    pub(crate) fn plan(&self) -> VideoPlan {
        VideoPlan {
            bitrate_bps: self.bitrate_bps.round() as u32,
            step: self.step,
            half_rate: self.half_rate,
        }
    }

    /// Takes one report on our video: its loss (percent) and the RTT, when
    /// known.
    pub(crate) fn on_report(&mut self, loss_pct: f64, rtt_ms: Option<f64>) -> VideoPlan {
        let loss = if loss_pct.is_finite() {
            loss_pct.clamp(0.0, 100.0) / 100.0
        } else {
            0.0
        };
        let rtt = rtt_ms.filter(|r| r.is_finite() && *r >= 0.0);
        let queues_growing = match (rtt, self.min_rtt_ms) {
            (Some(r), Some(min)) => r > min + RTT_RISE_MS,
            _ => false,
        };
        if let Some(r) = rtt {
            self.min_rtt_ms = Some(self.min_rtt_ms.map_or(r, |m| m.min(r)));
        }
        let max = f64::from(self.max_bps);
        if loss > 0.10 {
            self.bitrate_bps *= 1.0 - loss / 2.0;
        } else if queues_growing {
            self.bitrate_bps *= 0.85;
        } else if loss < 0.02 {
            self.bitrate_bps = (self.bitrate_bps * 1.08).min(max);
        }
        self.bitrate_bps = self.bitrate_bps.clamp(
            f64::from(MIN_BITRATE_BPS),
            max.max(f64::from(MIN_BITRATE_BPS)),
        );
        self.choose_step();
        self.choose_rate();
        self.plan()
    }

    /// The bitrate the size at `step` wants: the full size's maximum over
    /// 4^step (a quarter of the pixels per step), as `default_bitrate` of
    /// the video crate roughly does.
    fn wanted(&self, step: u8) -> f64 {
        f64::from(self.max_bps) / f64::from(1u32 << (2 * u32::from(step)))
    }

    fn choose_step(&mut self) {
        while self.step < MAX_STEP && self.bitrate_bps < self.wanted(self.step) * STEP_DOWN {
            self.step += 1;
            self.room_for_more = 0;
        }
        if self.step > 0 && self.bitrate_bps >= self.wanted(self.step - 1) * STEP_DOWN * 1.25 {
            self.room_for_more += 1;
            if self.room_for_more >= STEPS_UP_AFTER {
                self.step -= 1;
                self.room_for_more = 0;
            }
        } else {
            self.room_for_more = 0;
        }
    }

    fn choose_rate(&mut self) {
        let threshold = f64::from(HALF_RATE_BELOW_BPS);
        if self.bitrate_bps < threshold {
            self.half_rate = true;
            self.room_for_full_rate = 0;
        } else if self.half_rate && self.bitrate_bps >= threshold * 1.25 {
            self.room_for_full_rate += 1;
            if self.room_for_full_rate >= STEPS_UP_AFTER {
                self.half_rate = false;
                self.room_for_full_rate = 0;
            }
        } else {
            self.room_for_full_rate = 0;
        }
    }
}

/// The size to encode at for a source frame of `width` × `height` at
/// `step`: halved `step` times, kept even, and never below 160 × 90 (the
/// step is used only as far as the frame allows).
pub(crate) fn scaled_size(width: u32, height: u32, step: u8) -> (u32, u32) {
    let mut size = (width, height);
    for _ in 0..step {
        let next = ((size.0 / 2) & !1, (size.1 / 2) & !1);
        if next.0 < 160 || next.1 < 90 {
            break;
        }
        size = next;
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_reports_keep_the_full_size_and_bitrate() {
        let mut a = VideoAdaptation::new(1_500_000);
        for _ in 0..10 {
            assert_eq!(
                a.on_report(0.0, Some(20.0)),
                VideoPlan {
                    bitrate_bps: 1_500_000,
                    step: 0,
                    half_rate: false,
                }
            );
        }
    }

    #[test]
    fn heavy_loss_walks_down_the_ladder_and_it_comes_back_slowly() {
        let mut a = VideoAdaptation::new(1_500_000);
        let mut steps = Vec::new();
        for _ in 0..8 {
            steps.push(a.on_report(30.0, Some(20.0)));
        }
        // 30 % loss: × 0.85 per report; 720p → 360p below 600 kb/s, → 180p
        // below 150 kb/s.
        assert_eq!(steps[0].bitrate_bps, 1_275_000);
        assert_eq!(steps[0].step, 0);
        let first_360 = steps.iter().position(|p| p.step == 1).unwrap();
        assert!(steps[first_360].bitrate_bps < 600_000);
        assert!(steps.iter().all(|p| p.bitrate_bps >= MIN_BITRATE_BPS));
        assert_eq!(steps.last().unwrap().step, 1, "{steps:?}");
        // Loss stops: the bitrate climbs 8 % a report; the size follows
        // three reports after there is room for it.
        let mut plans = Vec::new();
        for _ in 0..40 {
            plans.push(a.on_report(0.0, Some(20.0)));
        }
        let room = plans.iter().position(|p| p.bitrate_bps >= 750_000).unwrap();
        let up = plans.iter().position(|p| p.step == 0).unwrap();
        assert_eq!(up, room + 2, "{plans:?}");
        assert_eq!(plans.last().unwrap().bitrate_bps, 1_500_000);
    }

    #[test]
    fn rising_rtt_backs_off_before_loss_shows() {
        let mut a = VideoAdaptation::new(1_000_000);
        a.on_report(0.0, Some(30.0));
        let p = a.on_report(0.0, Some(300.0));
        assert_eq!(p.bitrate_bps, 850_000);
        // Moderate loss holds the bitrate.
        assert_eq!(a.on_report(5.0, Some(30.0)).bitrate_bps, 850_000);
        // Nonsense is ignored.
        assert_eq!(a.on_report(f64::NAN, None).bitrate_bps, 918_000);
    }

    #[test]
    fn a_starved_link_halves_the_frame_rate_until_the_bitrate_is_back() {
        let mut a = VideoAdaptation::new(1_000_000);
        let mut plans = Vec::new();
        for _ in 0..25 {
            plans.push(a.on_report(30.0, Some(20.0)));
        }
        let first_half = plans.iter().position(|p| p.half_rate).unwrap();
        assert!(
            plans[first_half].bitrate_bps < HALF_RATE_BELOW_BPS,
            "{plans:?}"
        );
        assert!(plans[..first_half]
            .iter()
            .all(|p| p.bitrate_bps >= HALF_RATE_BELOW_BPS));
        assert_eq!(plans.last().unwrap().bitrate_bps, MIN_BITRATE_BPS);
        assert!(plans.last().unwrap().half_rate);
        // Clean reports: +8 % each; the full rate comes back on the third
        // report in a row at or above 125 kb/s, not before.
        let mut plans = Vec::new();
        for _ in 0..20 {
            plans.push(a.on_report(0.0, Some(20.0)));
        }
        let room = plans.iter().position(|p| p.bitrate_bps >= 125_000).unwrap();
        let full = plans.iter().position(|p| !p.half_rate).unwrap();
        assert_eq!(full, room + 2, "{plans:?}");
        assert!(plans[full..].iter().all(|p| !p.half_rate));
    }

    #[test]
    fn sizes_halve_and_stay_even_and_large_enough() {
        assert_eq!(scaled_size(1280, 720, 0), (1280, 720));
        assert_eq!(scaled_size(1280, 720, 1), (640, 360));
        assert_eq!(scaled_size(1280, 720, 2), (320, 180));
        assert_eq!(scaled_size(640, 360, 2), (160, 90));
        assert_eq!(scaled_size(320, 180, 2), (160, 90));
        assert_eq!(scaled_size(330, 190, 1), (164, 94));
        assert_eq!(scaled_size(200, 100, 1), (200, 100));
    }
}

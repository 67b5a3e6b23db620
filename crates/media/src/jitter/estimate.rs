//! Estimators behind the jitter buffer's target delay: RFC 3550 interarrival
//! jitter, a sliding-window minimum of the transit time (the clock offset
//! between sender and receiver, which also tracks drift) and a histogram of
//! each packet's delay relative to that minimum, with exponential forgetting.

/// RFC 3550 §6.4.1 interarrival jitter, in microseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Rfc3550Jitter {
    last_transit: Option<i64>,
    jitter_us: f64,
}

impl Rfc3550Jitter {
    /// Feed one packet's transit time (arrival minus sender timestamp, µs).
    pub(crate) fn update(&mut self, transit_us: i64) {
        if let Some(last) = self.last_transit {
            let d = transit_us.saturating_sub(last).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit = Some(transit_us);
    }

    pub(crate) fn jitter_us(&self) -> f64 {
        self.jitter_us
    }
}

/// A "leaky" minimum of the transit time: the delay of the fastest packets.
///
/// It follows a falling transit at once. While packets keep arriving within
/// `band_us` of it, it holds still (jitter only ever adds delay). When none
/// has for `hold_us`, it rises by `leak` (1 % = 10 ms per second) until one
/// does. So a sender clock that runs fast or slow moves it within a second
/// or two and playout follows (the buffer skips or stretches), while steady
/// jitter leaves it alone.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeakyMin {
    min: Option<f64>,
    last_arrival: u64,
    last_confirmed: u64,
    leak: f64,
    band_us: f64,
    hold_us: u64,
}

impl LeakyMin {
    pub(crate) fn new(leak: f64, band_us: u64, hold_us: u64) -> Self {
        Self {
            leak,
            band_us: band_us as f64,
            hold_us,
            ..Self::default()
        }
    }

    pub(crate) fn clear(&mut self) {
        self.min = None;
    }

    pub(crate) fn update(&mut self, arrival_us: u64, transit_us: i64) {
        let transit = transit_us as f64;
        let arrival = arrival_us.max(self.last_arrival);
        match self.min {
            None => {
                self.min = Some(transit);
                self.last_confirmed = arrival;
            }
            Some(min) if transit <= min + self.band_us => {
                self.min = Some(min.min(transit));
                self.last_confirmed = arrival;
            }
            Some(min) => {
                if arrival.saturating_sub(self.last_confirmed) > self.hold_us {
                    let risen = min + self.leak * arrival.saturating_sub(self.last_arrival) as f64;
                    self.min = Some(risen.min(transit));
                }
            }
        }
        self.last_arrival = arrival;
    }

    pub(crate) fn min(&self) -> Option<i64> {
        self.min.map(|m| m as i64)
    }
}

/// Histogram of relative delays (µs above the window minimum).
#[derive(Debug, Clone)]
pub(crate) struct DelayHistogram {
    bins: Vec<f64>,
    bin_us: u64,
    forget: f64,
    total: f64,
}

impl DelayHistogram {
    pub(crate) fn new(bin_us: u64, max_us: u64, forget: f64) -> Self {
        let bin_us = bin_us.max(1);
        let n = (max_us / bin_us + 1) as usize;
        Self {
            bins: vec![0.0; n],
            bin_us,
            forget,
            total: 0.0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.bins.iter_mut().for_each(|b| *b = 0.0);
        self.total = 0.0;
    }

    pub(crate) fn add(&mut self, rel_us: u64) {
        for b in &mut self.bins {
            *b *= self.forget;
        }
        self.total = self.total * self.forget + 1.0;
        let last = self.bins.len() - 1;
        let i = ((rel_us / self.bin_us) as usize).min(last);
        self.bins[i] += 1.0;
    }

    /// The smallest delay (upper edge of a bin) below which `q` of the
    /// (weighted) packets fall; 0 before any packet.
    pub(crate) fn quantile_us(&self, q: f64) -> u64 {
        if self.total <= 0.0 {
            return 0;
        }
        let want = q * self.total;
        let mut acc = 0.0;
        for (i, b) in self.bins.iter().enumerate() {
            acc += b;
            if acc >= want {
                return (i as u64 + 1) * self.bin_us;
            }
        }
        self.bins.len() as u64 * self.bin_us
    }
}

/// Extend a 16-bit RTP sequence number to 64 bits next to a reference.
pub(crate) fn extend_seq(reference: u64, seq: u16) -> u64 {
    let delta = i64::from(seq.wrapping_sub(reference as u16) as i16);
    reference.wrapping_add_signed(delta)
}

/// Extend a 32-bit RTP timestamp to 64 bits next to a reference.
pub(crate) fn extend_ts(reference: i64, ts: u32) -> i64 {
    let delta = i64::from(ts.wrapping_sub(reference as u32) as i32);
    reference.wrapping_add(delta)
}

/// RTP timestamp units (1/48 000 s) to microseconds.
pub(crate) fn ts_to_us(ts: i64) -> i64 {
    ts.saturating_mul(125) / 6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_across_wrap() {
        let r = (1u64 << 32) + 65_530;
        assert_eq!(extend_seq(r, 65_535), r + 5);
        assert_eq!(extend_seq(r, 3), r + 9);
        assert_eq!(extend_seq(r + 9, 65_534), r + 4);
        let t = (1i64 << 33) + i64::from(u32::MAX) - 100;
        assert_eq!(extend_ts(t, 860), t + 961);
        assert_eq!(ts_to_us(960), 20_000);
    }

    #[test]
    fn histogram_quantile_and_forgetting() {
        let mut h = DelayHistogram::new(5_000, 400_000, 0.99);
        assert_eq!(h.quantile_us(0.9), 0);
        for _ in 0..100 {
            h.add(1_000);
        }
        assert_eq!(h.quantile_us(0.97), 5_000);
        for _ in 0..10 {
            h.add(100_000);
        }
        assert!(h.quantile_us(0.97) > 100_000);
        for _ in 0..500 {
            h.add(0);
        }
        assert_eq!(h.quantile_us(0.97), 5_000);
    }

    #[test]
    fn leaky_min_follows_drift() {
        let mut w = LeakyMin::new(0.01, 5_000, 1_000_000);
        w.update(0, 100);
        w.update(1_000, 30_000);
        assert_eq!(w.min(), Some(100), "holds while recently confirmed");
        w.update(2_000, 50);
        assert_eq!(w.min(), Some(50));
        // Transit rising 0.5 % (a slow sender): followed within a second or so.
        // Its lag stays within the band plus what the hold lets build up.
        for i in 0..500u64 {
            w.update(i * 20_000, 50 + (i * 20_000) as i64 / 200);
        }
        let now_transit = 50 + (499 * 20_000) / 200;
        assert!(
            (now_transit - w.min().unwrap()).abs() <= 10_000,
            "{:?}",
            w.min()
        );
        let mut j = Rfc3550Jitter::default();
        for i in 0..100 {
            j.update(if i % 2 == 0 { 0 } else { 16_000 });
        }
        assert!((j.jitter_us() - 16_000.0).abs() < 100.0);
    }
}

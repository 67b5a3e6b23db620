//! An estimated MOS (mean opinion score, 1–4.5) from what a session
//! measures, after the ITU-T G.107 E-model in its common simplified form:
//! R = 93.2 − Id(delay) − Ie,eff(loss), MOS from R.
//!
//! - one-way delay = RTT/2 + jitter-buffer delay + 20 ms framing + 20 ms
//!   for the sound devices (not measured; a typical figure);
//! - the loss that counts is what playout could not rebuild at full quality:
//!   lost − rebuilt from redundant copies − half of what FEC rebuilt (FEC
//!   frames are coarser);
//! - Opus at these bitrates: Ie = 0; packet-loss robustness Bpl = 20 (a
//!   codec with good concealment).
//!
//! An estimate for the in-call quality indicator, not a measurement of the
//! audio itself (PESQ in the tests and bench does that).

/// The estimate for `one_way_delay_ms` and `effective_loss_pct`.
pub(crate) fn estimate(one_way_delay_ms: f64, effective_loss_pct: f64) -> f64 {
    const R0: f64 = 93.2;
    const IE: f64 = 0.0;
    const BPL: f64 = 20.0;
    let d = one_way_delay_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = if effective_loss_pct.is_nan() {
        0.0
    } else {
        effective_loss_pct.clamp(0.0, 100.0)
    };
    let ie_eff = IE + (95.0 - IE) * ppl / (ppl + BPL);
    let r = R0 - id - ie_eff;
    let mos = if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    };
    (mos * 100.0).round() / 100.0
}

/// One-way delay from a round trip (if measured) and the playout delay.
pub(crate) fn one_way_delay_ms(rtt_ms: Option<f64>, playout_delay_ms: f64) -> f64 {
    rtt_ms.unwrap_or(0.0) / 2.0 + playout_delay_ms + 40.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_e_model() {
        let clean_lan = estimate(one_way_delay_ms(Some(1.0), 30.0), 0.0);
        assert!((4.3..=4.41).contains(&clean_lan), "{clean_lan}");
        // 5 % unrecovered loss is audible; 20 % is poor.
        let lossy = estimate(80.0, 5.0);
        assert!((3.3..3.8).contains(&lossy), "{lossy}");
        let bad = estimate(80.0, 20.0);
        assert!((1.8..2.6).contains(&bad), "{bad}");
        // Half a second one way is bad even without loss.
        let far = estimate(500.0, 0.0);
        assert!(far < 3.0, "{far}");
        assert_eq!(estimate(5000.0, 100.0), 1.0);
        assert!(estimate(f64::NAN, f64::NAN).is_finite());
    }
}

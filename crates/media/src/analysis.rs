//! Small signal helpers shared by tests, the bench and the end-to-end check:
//! tone generation, Goertzel power, RMS and echo-return-loss enhancement.

use crate::SAMPLE_RATE;

/// `len` samples of a sine at `freq` Hz with peak `amplitude`, 48 kHz.
pub fn sine(freq: f32, amplitude: f32, len: usize) -> Vec<f32> {
    let step = std::f32::consts::TAU * freq / SAMPLE_RATE as f32;
    (0..len)
        .map(|i| amplitude * (step * i as f32).sin())
        .collect()
}

/// Power of `signal` at `freq` Hz (Goertzel algorithm, 48 kHz), normalised by length.
pub fn goertzel_power(signal: &[f32], freq: f32) -> f64 {
    if signal.is_empty() {
        return 0.0;
    }
    let w = std::f64::consts::TAU * f64::from(freq) / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in signal {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (signal.len() as f64 * signal.len() as f64)
}

/// Root mean square of `signal`.
pub fn rms(signal: &[f32]) -> f64 {
    if signal.is_empty() {
        return 0.0;
    }
    let sum: f64 = signal.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (sum / signal.len() as f64).sqrt()
}

/// Echo return loss enhancement in dB: how much quieter `after` (the
/// canceller's output) is than `before` (the microphone signal).
pub fn erle_db(before: &[f32], after: &[f32]) -> f64 {
    let b = rms(before).max(1e-12);
    let a = rms(after).max(1e-12);
    20.0 * (b / a).log10()
}

/// A deterministic speech-like test signal: noise shaped by a syllable-rate
/// envelope (4 Hz) with pauses, peak about 0.5.
pub fn speech_like(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = seed
        .wrapping_mul(2_862_933_555_777_941_757)
        .wrapping_add(3_037_000_493);
    let mut lp = 0.0f32;
    (0..len)
        .map(|i| {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let white = ((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
            // One-pole low-pass: more energy low, like voice.
            lp = 0.7 * lp + 0.3 * white;
            let t = i as f32 / SAMPLE_RATE as f32;
            let syllable = (std::f32::consts::PI * 4.0 * t).sin().abs();
            let phrase = if (t % 3.0) < 2.2 { 1.0 } else { 0.0 };
            2.0 * lp * syllable * phrase
        })
        .collect()
}

/// `far` as a microphone would pick it up from a loudspeaker in a small
/// room: `delay_ms` of delay, then a `tail_ms` exponentially decaying
/// random impulse response with overall gain `gain`.
pub fn synthetic_echo(far: &[f32], delay_ms: usize, tail_ms: usize, gain: f32) -> Vec<f32> {
    let mut rng = 12_345u64;
    let taps: Vec<f32> = (0..48 * tail_ms)
        .map(|i| {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5) * (-(i as f32) / 300.0).exp()
        })
        .collect();
    let norm = taps.iter().map(|t| t * t).sum::<f32>().sqrt().max(1e-9);
    let delay = 48 * delay_ms;
    (0..far.len())
        .map(|n| {
            let mut acc = 0.0;
            for (k, &t) in taps.iter().enumerate() {
                if let Some(i) = n.checked_sub(delay + k) {
                    acc += t * far[i];
                }
            }
            acc * gain / norm
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_the_tone() {
        let s = sine(1000.0, 0.5, 4800);
        assert!(goertzel_power(&s, 1000.0) > 1000.0 * goertzel_power(&s, 1500.0));
        assert!((rms(&s) - 0.5 / 2f64.sqrt()).abs() < 1e-3);
        assert_eq!(goertzel_power(&[], 1.0), 0.0);
        assert!((erle_db(&s, &s[..]) - 0.0).abs() < 1e-9);
    }
}

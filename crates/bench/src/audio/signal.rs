//! The test signal and the marker locator.
//!
//! The input file is 1 s of silence, then blocks of: 0.5 s silence, the
//! speech, 0.5 s silence, and eight markers 600 ms apart. A marker is a
//! 50 ms low-frequency chirp (see [`marker`]); neighbours sweep in opposite
//! directions over different bands, so one is not taken for the other. [`locate`] finds a marker in a recording by
//! normalised cross-correlation over a window of lags.

use super::wav::RATE;

/// Markers per block.
pub const MARKERS_PER_BLOCK: usize = 8;
/// Marker length.
pub const MARKER_SAMPLES: usize = (RATE as usize) * 50 / 1000;
/// Distance between two markers.
pub const MARKER_SPACING: usize = (RATE as usize) * 600 / 1000;
/// Leading silence of the file.
const LEAD: usize = RATE as usize;
/// Silence around the speech in each block.
const GAP: usize = (RATE as usize) / 2;

/// Marker `variant` (0..8): a 50 ms Hann-windowed linear chirp, peak
/// amplitude 0.5, over 800 Hz starting at 250 Hz + 100 Hz × variant;
/// upwards for even variants, downwards for odd ones. Low and narrow on
/// purpose: Opus at 32 kb/s keeps the waveform of such a sweep (normalised
/// correlation ≈ 0.99 after a call), while a 0.5–5 kHz sweep came out at
/// ≈ 0.5.
pub fn marker(variant: usize) -> Vec<f32> {
    let v = variant % MARKERS_PER_BLOCK;
    let low = 250.0 + 100.0 * v as f64;
    let (f0, f1) = if v.is_multiple_of(2) {
        (low, low + 800.0)
    } else {
        (low + 800.0, low)
    };
    let n = MARKER_SAMPLES;
    let dur = n as f64 / f64::from(RATE);
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * dur));
            let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
            (0.5 * window * phase.sin()) as f32
        })
        .collect()
}

/// The input file and where its markers are.
#[derive(Debug, Clone)]
pub struct Layout {
    /// 48 kHz mono samples.
    pub samples: Vec<f32>,
    /// Each marker: (first sample in `samples`, variant).
    pub markers: Vec<(usize, usize)>,
    /// Where the first marker starts, i.e. how long a call must last to
    /// carry the whole speech of the first block.
    pub first_marker: usize,
}

/// Builds an input of at least `seconds` (whole blocks, at least one).
pub fn build_input(speech: &[f32], seconds: f64) -> Layout {
    let want = (seconds * f64::from(RATE)) as usize;
    let mut samples = vec![0.0; LEAD];
    let mut markers = Vec::new();
    loop {
        samples.extend(std::iter::repeat_n(0.0, GAP));
        samples.extend_from_slice(speech);
        samples.extend(std::iter::repeat_n(0.0, GAP));
        for k in 0..MARKERS_PER_BLOCK {
            markers.push((samples.len(), k));
            samples.extend(marker(k));
            samples.extend(std::iter::repeat_n(0.0, MARKER_SPACING - MARKER_SAMPLES));
        }
        if samples.len() >= want {
            break;
        }
    }
    let first_marker = markers.first().map_or(0, |m| m.0);
    Layout {
        samples,
        markers,
        first_marker,
    }
}

/// The lag in `from..to` where `template` best matches `recording`
/// (normalised cross-correlation), with that correlation (-1 ..= 1).
/// `None` if the range holds no full window or only silence.
pub fn locate(recording: &[f32], template: &[f32], from: usize, to: usize) -> Option<(usize, f32)> {
    let n = template.len();
    let last = recording.len().checked_sub(n)?;
    let to = to.min(last + 1);
    if from >= to {
        return None;
    }
    let t_energy: f64 = template.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if t_energy == 0.0 {
        return None;
    }
    // Running energy of the recording window.
    let mut w_energy: f64 = recording[from..from + n]
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum();
    let mut best: Option<(usize, f32)> = None;
    for lag in from..to {
        if lag > from {
            let out = f64::from(recording[lag - 1]);
            let inn = f64::from(recording[lag + n - 1]);
            w_energy = (w_energy - out * out + inn * inn).max(0.0);
        }
        if w_energy < 1e-9 {
            continue;
        }
        let dot: f32 = recording[lag..lag + n]
            .iter()
            .zip(template)
            .map(|(a, b)| a * b)
            .sum();
        let ncc = (f64::from(dot) / (t_energy * w_energy).sqrt()) as f32;
        if best.is_none_or(|(_, b)| ncc > b) {
            best = Some((lag, ncc));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u32, amp: f32) -> Vec<f32> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0 * amp
            })
            .collect()
    }

    #[test]
    fn markers_are_found_where_they_were_put_even_in_noise() {
        let speech = noise(RATE as usize, 7, 0.3);
        let layout = build_input(&speech, 5.0);
        assert_eq!(layout.markers.len(), MARKERS_PER_BLOCK);
        // The "recording": 123.4 ms later, quieter, with noise on top.
        let delay = 5923;
        let mut rec = vec![0.0; delay];
        rec.extend(layout.samples.iter().map(|s| s * 0.6));
        for (r, n) in rec
            .iter_mut()
            .zip(noise(layout.samples.len() + delay, 3, 0.02))
        {
            *r += n;
        }
        for &(pos, variant) in &layout.markers {
            let (lag, ncc) = locate(&rec, &marker(variant), pos, pos + 26_400).unwrap();
            assert_eq!(lag, pos + delay, "marker {variant}");
            assert!(ncc > 0.9, "{ncc}");
        }
    }

    #[test]
    fn a_neighbouring_marker_does_not_match_well() {
        let a = marker(2);
        let mut rec = vec![0.0; 5000];
        rec.extend(marker(3));
        rec.extend(vec![0.0; 5000]);
        let (_, ncc) = locate(&rec, &a, 0, rec.len()).unwrap();
        assert!(ncc < 0.5, "marker 3 matched marker 2 with {ncc}");
        assert!(locate(&vec![0.0; 10_000], &a, 0, 8000).is_none(), "silence");
        assert!(locate(&rec, &a, 20_000, 30_000).is_none(), "past the end");
    }
}

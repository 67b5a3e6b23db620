//! Streaming sample-rate conversion to and from 48 kHz (rubato's FFT
//! resampler), used off the audio callback only: it allocates.

use std::collections::VecDeque;

use rubato::{FftFixedIn, Resampler as _};

use crate::error::{MediaError, Result};

const CHUNK_IN: usize = 480;

/// Mono resampler fed with chunks of any size; output is queued.
pub(crate) struct StreamResampler {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    out: VecDeque<f32>,
    out_buf: Vec<Vec<f32>>,
    /// Output samples still to drop to undo the resampler's delay.
    skip: usize,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("passthrough", &self.inner.is_none())
            .field("queued", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// Convert from `from_hz` to `to_hz` (mono).
    pub(crate) fn new(from_hz: u32, to_hz: u32) -> Result<Self> {
        if from_hz == 0 || to_hz == 0 {
            return Err(MediaError::Resample(format!(
                "cannot convert {from_hz} Hz to {to_hz} Hz"
            )));
        }
        let inner = if from_hz == to_hz {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(from_hz as usize, to_hz as usize, CHUNK_IN, 2, 1)
                    .map_err(|e| MediaError::Resample(e.to_string()))?,
            )
        };
        let (out_buf, skip) = match &inner {
            Some(r) => (vec![vec![0.0; r.output_frames_max()]], r.output_delay()),
            None => (Vec::new(), 0),
        };
        Ok(Self {
            inner,
            pending: Vec::with_capacity(CHUNK_IN * 2),
            out: VecDeque::new(),
            out_buf,
            skip,
        })
    }

    /// Feed input samples.
    pub(crate) fn push(&mut self, input: &[f32]) -> Result<()> {
        let Some(inner) = self.inner.as_mut() else {
            self.out.extend(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= inner.input_frames_next() {
            let need = inner.input_frames_next();
            let chunk = &self.pending[start..start + need];
            let (used, written) = inner
                .process_into_buffer(&[chunk], &mut self.out_buf, None)
                .map_err(|e| MediaError::Resample(e.to_string()))?;
            start += used;
            let produced = &self.out_buf[0][..written];
            let drop = self.skip.min(produced.len());
            self.skip -= drop;
            self.out.extend(&produced[drop..]);
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Push the last partial chunk through (end of a file).
    pub(crate) fn flush(&mut self) -> Result<()> {
        if let Some(inner) = self.inner.as_mut() {
            // Zero-pad the tail to a whole chunk, then one more chunk of
            // zeros to push out the resampler's own delay line.
            for _ in 0..2 {
                let need = inner.input_frames_next();
                let mut chunk = std::mem::take(&mut self.pending);
                chunk.resize(need.max(chunk.len()), 0.0);
                let (_, written) = inner
                    .process_into_buffer(&[&chunk[..need]], &mut self.out_buf, None)
                    .map_err(|e| MediaError::Resample(e.to_string()))?;
                let produced = &self.out_buf[0][..written];
                let drop = self.skip.min(produced.len());
                self.skip -= drop;
                self.out.extend(&produced[drop..]);
            }
        }
        Ok(())
    }

    /// Samples ready.
    pub(crate) fn available(&self) -> usize {
        self.out.len()
    }

    /// Take exactly `dst.len()` samples if that many are ready.
    pub(crate) fn pop_into(&mut self, dst: &mut [f32]) -> bool {
        if self.out.len() < dst.len() {
            return false;
        }
        let n = dst.len();
        for (d, s) in dst.iter_mut().zip(self.out.drain(..n)) {
            *d = s;
        }
        true
    }

    /// Take everything ready.
    pub(crate) fn take_all(&mut self) -> Vec<f32> {
        self.out.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{goertzel_power, sine};

    #[test]
    fn converts_44100_to_48000_keeping_length_and_pitch() {
        // A 1 kHz tone at 44.1 kHz, one second, fed in odd-sized pieces.
        let step = std::f32::consts::TAU * 1000.0 / 44_100.0;
        let input: Vec<f32> = (0..44_100).map(|i| 0.5 * (step * i as f32).sin()).collect();
        let mut r = StreamResampler::new(44_100, 48_000).unwrap();
        for piece in input.chunks(333) {
            r.push(piece).unwrap();
        }
        r.flush().unwrap();
        let out = r.take_all();
        assert!((47_500..=48_500).contains(&out.len()), "{}", out.len());
        let mid = &out[10_000..20_000];
        assert!(goertzel_power(mid, 1000.0) > 1000.0 * goertzel_power(mid, 1100.0));
        let _ = sine(1.0, 1.0, 1);
    }

    #[test]
    fn same_rate_is_a_passthrough_and_zero_rate_is_an_error() {
        assert!(StreamResampler::new(0, 48_000).is_err());
        let mut r = StreamResampler::new(48_000, 48_000).unwrap();
        r.push(&[1.0, 2.0, 3.0]).unwrap();
        let mut d = [0.0; 2];
        assert!(r.pop_into(&mut d));
        assert_eq!(d, [1.0, 2.0]);
        assert_eq!(r.available(), 1);
        assert!(!r.pop_into(&mut d));
    }
}

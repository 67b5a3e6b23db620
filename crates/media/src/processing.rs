//! The echo-cancellation / noise-suppression slot of the pipeline.
//!
//! An [`AudioProcessor`] sees both directions: the far-end audio about to
//! be played (`process_render`) and the microphone audio about to be encoded
//! (`process_capture`, in place). The send and receive sides run on
//! different threads, so they share one processor through
//! [`SharedProcessor`] (a mutex taken once per 20 ms frame on ordinary
//! threads, never in an audio callback).
//!
//! [`EchoCanceller`] is WebRTC's audio processing (AEC3 echo canceller,
//! noise suppression, high-pass filter) in pure Rust, from the `sonora`
//! crate. Why that one: of the candidates that build here it removed the
//! most echo for the least CPU (figures in `docs/media.md`), and it needs no
//! C++ toolchain or system library.

use std::sync::{Arc, Mutex};

/// Echo cancellation, noise suppression or any other processing of the
/// microphone signal that may need to know what the speaker plays.
pub trait AudioProcessor: Send {
    /// Far-end audio (48 kHz mono, one 20 ms frame) that is about to be played.
    fn process_render(&mut self, frame: &[f32]);
    /// Near-end audio (48 kHz mono, one 20 ms frame), processed in place.
    fn process_capture(&mut self, frame: &mut [f32]);
    /// A short name for logs and stats.
    fn name(&self) -> &'static str;
}

/// A processor shared by the send and receive sides.
pub type SharedProcessor = Arc<Mutex<dyn AudioProcessor>>;

/// Wrap a processor for sharing.
pub fn shared(p: impl AudioProcessor + 'static) -> SharedProcessor {
    Arc::new(Mutex::new(p))
}

/// Leaves audio untouched: no echo cancellation, no noise suppression.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl AudioProcessor for PassThrough {
    fn process_render(&mut self, _frame: &[f32]) {}
    fn process_capture(&mut self, _frame: &mut [f32]) {}
    fn name(&self) -> &'static str {
        "pass-through"
    }
}

/// Echo cancellation (WebRTC AEC3) and optional noise suppression, 48 kHz
/// mono, through the pure-Rust `sonora` port of WebRTC's audio processing.
pub struct EchoCanceller {
    apm: sonora::AudioProcessing,
    input: Vec<f32>,
    scratch: Vec<f32>,
    errors: u64,
}

impl std::fmt::Debug for EchoCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoCanceller")
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

/// WebRTC's processing works on 10 ms: 480 samples at 48 kHz.
const APM_CHUNK: usize = 480;

impl EchoCanceller {
    /// Echo cancellation, plus noise suppression if `noise_suppression`.
    pub fn new(noise_suppression: bool) -> Self {
        use sonora::config::{EchoCanceller as Aec, HighPassFilter, NoiseSuppression};
        let config = sonora::Config {
            echo_canceller: Some(Aec::default()),
            high_pass_filter: Some(HighPassFilter::default()),
            noise_suppression: noise_suppression.then(NoiseSuppression::default),
            ..Default::default()
        };
        let stream = sonora::StreamConfig::new(crate::SAMPLE_RATE, 1);
        let apm = sonora::AudioProcessing::builder()
            .config(config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        Self {
            apm,
            input: vec![0.0; APM_CHUNK],
            scratch: vec![0.0; APM_CHUNK],
            errors: 0,
        }
    }

    /// Chunks the processor rejected (they passed through unprocessed).
    pub fn errors(&self) -> u64 {
        self.errors
    }
}

impl AudioProcessor for EchoCanceller {
    fn process_render(&mut self, frame: &[f32]) {
        for chunk in frame.chunks_exact(APM_CHUNK) {
            if self
                .apm
                .process_render_f32(&[chunk], &mut [&mut self.scratch])
                .is_err()
            {
                self.errors += 1;
            }
        }
    }

    fn process_capture(&mut self, frame: &mut [f32]) {
        for chunk in frame.chunks_exact_mut(APM_CHUNK) {
            self.input.copy_from_slice(chunk);
            if self
                .apm
                .process_capture_f32(&[&self.input], &mut [chunk])
                .is_err()
            {
                self.errors += 1;
            }
        }
    }

    fn name(&self) -> &'static str {
        "webrtc-aec3 (sonora)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{erle_db, rms, sine, speech_like, synthetic_echo};
    use crate::FRAME_SAMPLES;

    fn run(p: &mut dyn AudioProcessor, far: &[f32], mic: &[f32]) -> Vec<f32> {
        let mut out = mic.to_vec();
        for (f, m) in far
            .chunks_exact(FRAME_SAMPLES)
            .zip(out.chunks_exact_mut(FRAME_SAMPLES))
        {
            p.process_render(f);
            p.process_capture(m);
        }
        out
    }

    #[test]
    fn echo_canceller_removes_echo_and_keeps_near_end_speech() {
        let secs = 6;
        let far = speech_like(48_000 * secs, 1);
        let mut mic = synthetic_echo(&far, 40, 10, 0.3);
        let tail = 48_000 * 4..48_000 * 6;
        let mut aec = EchoCanceller::new(true);
        let out = run(&mut aec, &far, &mic);
        let erle = erle_db(&mic[tail.clone()], &out[tail]);
        assert!(erle > 20.0, "ERLE {erle:.1} dB");
        assert_eq!(aec.errors(), 0);
        assert_eq!(aec.name(), "webrtc-aec3 (sonora)");

        // Near-end talk with a silent far end passes.
        let mut aec = EchoCanceller::new(false);
        let silent = vec![0.0; 48_000 * 2];
        mic = sine(700.0, 0.3, 48_000 * 2);
        let out = run(&mut aec, &silent, &mic);
        let kept = rms(&out[48_000..]) / rms(&mic[48_000..]);
        assert!(kept > 0.5, "near end kept {kept:.2}");
    }

    #[test]
    fn pass_through_changes_nothing() {
        let far = speech_like(48_000, 2);
        let mic = synthetic_echo(&far, 40, 10, 0.3);
        let mut p = shared(PassThrough);
        let out = run(&mut *p.lock().unwrap(), &far, &mic);
        assert_eq!(out, mic);
        let _ = &mut p;
    }
}

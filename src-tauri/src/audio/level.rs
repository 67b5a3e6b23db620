//! Microphone and speaker levels for the in-call meters: each device is
//! wrapped so that every 20 ms frame leaves its peak in an atomic, and a
//! task sends both to the window's channel five times a second while the
//! call's devices are open.

use serde::Serialize;
use softphone_media::{AudioSink, AudioSource, ReadStatus, Result};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use ts_rs::TS;

/// The peak of the last frame through one device (0.0–1.0).
#[derive(Debug, Clone, Default)]
pub struct LevelMeter(Arc<AtomicU32>);

impl LevelMeter {
    fn record(&self, frame: &[f32]) {
        let peak = frame.iter().fold(0.0f32, |m, s| m.max(s.abs())).min(1.0);
        self.0.store(peak.to_bits(), Ordering::Relaxed);
    }

    /// The last peak.
    pub fn peak(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Whether the device it measures is still open (it holds a clone).
    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }
}

/// A source whose level is measured (before any mute).
pub struct MeteredSource<S>(pub S, pub LevelMeter);

impl<S: AudioSource> AudioSource for MeteredSource<S> {
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        let status = self.0.read_frame(frame)?;
        self.1.record(frame);
        Ok(status)
    }
}

/// A sink whose level is measured.
pub struct MeteredSink<K>(pub K, pub LevelMeter);

impl<K: AudioSink> AudioSink for MeteredSink<K> {
    fn write_frame(&mut self, frame: &[f32]) -> Result<()> {
        self.1.record(frame);
        self.0.write_frame(frame)
    }
    fn finish(&mut self) -> Result<()> {
        self.0.finish()
    }
}

/// Both levels of the call in progress.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct UiAudioLevels {
    /// The call.
    pub session_id: String,
    /// Microphone peak, 0–1 (measured before mute).
    pub mic: f32,
    /// Speaker peak, 0–1.
    pub speaker: f32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_media::device::NullSink;
    use softphone_media::FRAME_SAMPLES;

    struct Half;
    impl AudioSource for Half {
        fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
            frame.iter_mut().for_each(|s| *s = -0.5);
            Ok(ReadStatus::Frame)
        }
    }

    #[test]
    fn meters_keep_the_last_peak_while_the_device_is_open() {
        let (mic, spk) = (LevelMeter::default(), LevelMeter::default());
        let mut source = MeteredSource(Half, mic.clone());
        let mut sink = MeteredSink(NullSink::default(), spk.clone());
        let mut f = [0.0f32; FRAME_SAMPLES];
        source.read_frame(&mut f).unwrap();
        f[10] = 0.9;
        sink.write_frame(&f).unwrap();
        assert_eq!((mic.peak(), spk.peak()), (0.5, 0.9));
        assert!(mic.in_use() && spk.in_use());
        drop(source);
        assert!(!mic.in_use(), "the call's devices are closed");
    }
}

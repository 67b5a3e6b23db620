//! Audio devices behind two small traits.
//!
//! Every [`AudioSource`] produces 48 kHz mono 20 ms frames (960 samples)
//! whatever the underlying device or file does; every [`AudioSink`] takes
//! them. Implementations: WAV files ([`WavFileSource`], [`WavFileSink`]),
//! null ([`NullSource`], [`NullSink`]) and real devices through cpal
//! ([`CpalSource`], [`CpalSink`], [`list_devices`]). [`Muted`] wraps any
//! source with a mute switch. [`delay_line`] joins a sink to a source a
//! fixed delay later (the echo-test contact).

mod cpal_io;
mod echo;
mod list;
mod resample;
mod wav;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cpal_io::{CpalSink, CpalSource, DeviceEvent};
pub use echo::{delay_line, delay_line_paced, EchoSink, EchoSource};
pub use list::{list_all_devices, list_devices, DeviceInfo, DeviceWatcher};
pub(crate) use resample::StreamResampler;
pub use wav::{read_wav_48k_mono, WavFileSink, WavFileSource};

use crate::error::Result;
use crate::{FRAME_SAMPLES, FRAME_US};

/// What a source returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStatus {
    /// The frame was filled.
    Frame,
    /// No more audio (end of a file). The frame is silence.
    Ended,
}

/// Something that produces 48 kHz mono 20 ms frames.
pub trait AudioSource: Send {
    /// Fill `frame` (960 samples, -1.0 ..= 1.0) with the next 20 ms,
    /// waiting for it if the source is paced in real time.
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus>;

    /// The same as 16-bit samples.
    fn read_frame_i16(&mut self, frame: &mut [i16]) -> Result<ReadStatus> {
        let mut f = [0.0f32; FRAME_SAMPLES];
        let status = self.read_frame(&mut f)?;
        for (d, s) in frame.iter_mut().zip(f) {
            *d = f32_to_i16(s);
        }
        Ok(status)
    }

    /// A sound device (not a file or silence): if it fails mid-call the
    /// session falls back to the default device instead of to silence.
    fn is_device(&self) -> bool {
        false
    }
}

/// Something that takes 48 kHz mono 20 ms frames.
pub trait AudioSink: Send {
    /// Play or store one frame (960 samples).
    fn write_frame(&mut self, frame: &[f32]) -> Result<()>;

    /// The same from 16-bit samples.
    fn write_frame_i16(&mut self, frame: &[i16]) -> Result<()> {
        let mut f = [0.0f32; FRAME_SAMPLES];
        for (d, &s) in f.iter_mut().zip(frame) {
            *d = f32::from(s) / 32768.0;
        }
        let n = frame.len().min(FRAME_SAMPLES);
        self.write_frame(&f[..n])
    }

    /// Flush and close (files are finalised here; dropping also does it,
    /// but cannot report an error).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    /// A sound device (see [`AudioSource::is_device`]).
    fn is_device(&self) -> bool {
        false
    }
}

impl<T: AudioSource + ?Sized> AudioSource for Box<T> {
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        (**self).read_frame(frame)
    }
    fn is_device(&self) -> bool {
        (**self).is_device()
    }
}

impl<T: AudioSink + ?Sized> AudioSink for Box<T> {
    fn write_frame(&mut self, frame: &[f32]) -> Result<()> {
        (**self).write_frame(frame)
    }
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
    fn is_device(&self) -> bool {
        (**self).is_device()
    }
}

/// Convert a float sample to 16 bits, clipping.
pub fn f32_to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Whether a source waits so that frames come out at real-time speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// One frame every 20 ms of wall-clock time.
    RealTime,
    /// As fast as the caller asks (tests, offline processing).
    Unpaced,
}

/// Sleeps until each next 20 ms frame is due.
#[derive(Debug)]
pub(crate) struct Pacer {
    mode: Pacing,
    start: Option<Instant>,
    frames: u64,
}

impl Pacer {
    pub(crate) fn new(mode: Pacing) -> Self {
        Self {
            mode,
            start: None,
            frames: 0,
        }
    }

    pub(crate) fn wait(&mut self) {
        if self.mode == Pacing::Unpaced {
            return;
        }
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_micros(self.frames * FRAME_US);
        self.frames += 1;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// A source of silence.
#[derive(Debug)]
pub struct NullSource {
    pacer: Pacer,
}

impl NullSource {
    /// Silence, paced as asked.
    pub fn new(pacing: Pacing) -> Self {
        Self {
            pacer: Pacer::new(pacing),
        }
    }
}

impl AudioSource for NullSource {
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        self.pacer.wait();
        frame.iter_mut().for_each(|s| *s = 0.0);
        Ok(ReadStatus::Frame)
    }
}

/// A sink that discards audio (and counts frames).
#[derive(Debug, Default)]
pub struct NullSink {
    /// Frames written so far.
    pub frames: u64,
}

impl AudioSink for NullSink {
    fn write_frame(&mut self, _frame: &[f32]) -> Result<()> {
        self.frames += 1;
        Ok(())
    }
}

/// A handle that mutes and unmutes a [`Muted`] source from any thread.
#[derive(Debug, Clone, Default)]
pub struct MuteHandle(Arc<AtomicBool>);

impl MuteHandle {
    /// Mute (`true`) or unmute.
    pub fn set_muted(&self, muted: bool) {
        self.0.store(muted, Ordering::Relaxed);
    }

    /// Whether muted now.
    pub fn is_muted(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Wraps a source; while muted it still reads (keeping the pace and the
/// device's buffers drained) but hands out silence.
#[derive(Debug)]
pub struct Muted<S> {
    inner: S,
    handle: MuteHandle,
}

impl<S: AudioSource> Muted<S> {
    /// Wrap `inner`, unmuted.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            handle: MuteHandle::default(),
        }
    }

    /// Wrap `inner` behind an existing switch (so a replacement source
    /// stays as muted as the one it replaces).
    pub fn with_handle(inner: S, handle: MuteHandle) -> Self {
        Self { inner, handle }
    }

    /// The switch.
    pub fn handle(&self) -> MuteHandle {
        self.handle.clone()
    }
}

impl<S: AudioSource> AudioSource for Muted<S> {
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        let status = self.inner.read_frame(frame)?;
        if self.handle.is_muted() {
            frame.iter_mut().for_each(|s| *s = 0.0);
        }
        Ok(status)
    }
    fn is_device(&self) -> bool {
        self.inner.is_device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_devices_and_mute() {
        let mut src = Muted::new(NullSource::new(Pacing::Unpaced));
        let mut f = [1.0f32; FRAME_SAMPLES];
        assert_eq!(src.read_frame(&mut f).unwrap(), ReadStatus::Frame);
        assert!(f.iter().all(|&s| s == 0.0));
        let h = src.handle();
        h.set_muted(true);
        assert!(h.is_muted());
        let mut i = [5i16; FRAME_SAMPLES];
        src.read_frame_i16(&mut i).unwrap();
        assert!(i.iter().all(|&s| s == 0));
        let mut sink = NullSink::default();
        sink.write_frame(&f).unwrap();
        sink.write_frame_i16(&i).unwrap();
        sink.finish().unwrap();
        assert_eq!(sink.frames, 2);
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(-1.0), -32767);
    }

    #[test]
    fn real_time_pacing_takes_real_time() {
        let mut src = NullSource::new(Pacing::RealTime);
        let mut f = [0.0f32; FRAME_SAMPLES];
        let t = Instant::now();
        for _ in 0..6 {
            src.read_frame(&mut f).unwrap();
        }
        // The first frame is due at once, the sixth 100 ms later.
        assert!(
            t.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t.elapsed()
        );
    }
}

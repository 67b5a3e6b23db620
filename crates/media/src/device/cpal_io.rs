//! Real audio devices through cpal (PulseAudio natively, and ALSA).
//!
//! Each stream lives on a thread of its own (a cpal `Stream` is not `Send`
//! on every platform), built there and dropped there. The audio callback
//! only moves samples through a lock-free SPSC ring (`rtrb`): it never
//! locks, allocates, logs or awaits. Down-mixing happens in the callback
//! (a few additions); sample-rate conversion happens on the caller's
//! thread. A device that fails or disappears sends a [`DeviceEvent`] and
//! makes reads fail with [`MediaError::StreamClosed`]; nothing panics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::list::{device_id, find_device};
use super::{AudioSink, AudioSource, ReadStatus, StreamResampler};
use crate::error::{MediaError, Result};
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// How long a read waits for a silent device before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Capture period asked of the backend.
const INPUT_PERIOD_MS: u32 = 10;
/// Playback period asked of the backend.
const OUTPUT_PERIOD_MS: u32 = 20;
/// Output latency prefilled with silence (as in cpal's feedback example).
const OUTPUT_PREFILL_MS: u32 = 40;
/// Queued output above which new frames are skipped (latency bound).
const OUTPUT_HIGH_WATER_MS: u32 = 100;
/// Frames skipped in a row (3 s) after which a device that takes no audio
/// counts as failed. Longer than any start-up stall seen (2 s).
const OUTPUT_STALL_FRAMES: u32 = 150;
/// Something that happened to an open device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// The device went away (unplugged, server gone). The stream is dead.
    Disconnected {
        /// The device's id.
        device_id: String,
    },
    /// The backend reported an error; the stream may be dead.
    StreamError {
        /// The device's id.
        device_id: String,
        /// What the backend said.
        message: String,
    },
    /// The default device changed and the stream followed it.
    Rerouted {
        /// The device's id.
        device_id: String,
    },
}

/// `config`, then the same with the backend's default period if it had a fixed one.
fn with_default_period(config: cpal::StreamConfig) -> Vec<cpal::StreamConfig> {
    let mut out = vec![config];
    if config.buffer_size != cpal::BufferSize::Default {
        let mut c = config;
        c.buffer_size = cpal::BufferSize::Default;
        out.push(c);
    }
    out
}

/// Owns the thread that owns the cpal stream; dropping it stops the stream.
#[derive(Debug)]
pub(super) struct StreamThread {
    pub(super) stop: Option<Sender<()>>,
    pub(super) join: Option<JoinHandle<()>>,
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// The device's format at 48 kHz if it offers that, else its default.
fn pick_config(device: &cpal::Device, input: bool) -> Result<(cpal::StreamConfig, SampleFormat)> {
    let default = if input {
        device.default_input_config()
    } else {
        device.default_output_config()
    }
    .map_err(|e| MediaError::Device(format!("no usable stream format: {e}")))?;
    let format = default.sample_format();
    let ranges: Vec<_> = if input {
        device
            .supported_input_configs()
            .map(|r| r.collect())
            .unwrap_or_default()
    } else {
        device
            .supported_output_configs()
            .map(|r| r.collect())
            .unwrap_or_default()
    };
    let at_48k = ranges
        .into_iter()
        .filter(|r| r.sample_format() == format && r.channels() == default.channels())
        .find_map(|r| r.try_with_sample_rate(SAMPLE_RATE));
    let chosen = at_48k.unwrap_or(default);
    let mut config = chosen.config();
    // Ask for short periods: the default can be a second or more (PulseAudio
    // then delivers capture in bursts that big, and plays that late).
    let period_ms = if input {
        INPUT_PERIOD_MS
    } else {
        OUTPUT_PERIOD_MS
    };
    if period_ms == 0 {
        return Ok((config, format));
    }
    if let cpal::SupportedBufferSize::Range { min, max } = chosen.buffer_size() {
        let want = (config.sample_rate * period_ms / 1000).clamp(*min, *max);
        config.buffer_size = cpal::BufferSize::Fixed(want);
    }
    Ok((config, format))
}

/// What the stream thread reports back once the stream runs.
struct Opened {
    device_id: String,
    rate: u32,
}

/// Spawn the stream thread: `build` finds the device and builds the stream
/// there; the thread plays it and keeps it until told to stop.
fn spawn_stream<F>(name: &str, build: F) -> Result<(StreamThread, Opened)>
where
    F: FnOnce() -> Result<(cpal::Stream, Opened)> + Send + 'static,
{
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<Opened>>(1);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let join = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || stream_thread(build, ready_tx, stop_rx))
        .map_err(|e| MediaError::Device(format!("cannot start the audio thread: {e}")))?;
    let thread = StreamThread {
        stop: Some(stop_tx),
        join: Some(join),
    };
    match ready_rx.recv() {
        Ok(Ok(opened)) => Ok((thread, opened)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(MediaError::StreamClosed(
            "the audio thread ended while opening".into(),
        )),
    }
}

fn stream_thread<F>(build: F, ready: SyncSender<Result<Opened>>, stop: Receiver<()>)
where
    F: FnOnce() -> Result<(cpal::Stream, Opened)>,
{
    let stream = match build() {
        Ok((stream, opened)) => match stream.play() {
            Ok(()) => {
                let _ = ready.send(Ok(opened));
                stream
            }
            Err(e) => {
                let _ = ready.send(Err(MediaError::Device(format!(
                    "cannot start the stream: {e}"
                ))));
                return;
            }
        },
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // Block until the owner drops its end, then drop the stream here.
    let _ = stop.recv();
    drop(stream);
}

/// The error callback: not the audio path, so it may allocate.
fn error_callback(
    device_id: String,
    failed: Arc<AtomicBool>,
    events: Sender<DeviceEvent>,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |err: cpal::Error| {
        let device_id = device_id.clone();
        let event = match err.kind() {
            cpal::ErrorKind::DeviceChanged => DeviceEvent::Rerouted { device_id },
            cpal::ErrorKind::DeviceNotAvailable => {
                failed.store(true, Ordering::Release);
                DeviceEvent::Disconnected { device_id }
            }
            _ => {
                failed.store(true, Ordering::Release);
                DeviceEvent::StreamError {
                    device_id,
                    message: err.to_string(),
                }
            }
        };
        let _ = events.send(event);
    }
}

macro_rules! with_sample_type {
    ($format:expr, $f:ident ( $($arg:expr),* )) => {
        match $format {
            SampleFormat::F32 => $f::<f32>($($arg),*),
            SampleFormat::I16 => $f::<i16>($($arg),*),
            SampleFormat::I32 => $f::<i32>($($arg),*),
            SampleFormat::U16 => $f::<u16>($($arg),*),
            SampleFormat::U8 => $f::<u8>($($arg),*),
            SampleFormat::I8 => $f::<i8>($($arg),*),
            SampleFormat::F64 => $f::<f64>($($arg),*),
            other => Err(MediaError::Device(format!("unsupported sample format {other}"))),
        }
    };
}

/// Microphone (or any capture device) as a 48 kHz mono [`AudioSource`].
#[derive(Debug)]
pub struct CpalSource {
    consumer: rtrb::Consumer<f32>,
    resampler: StreamResampler,
    device_id: String,
    failed: Arc<AtomicBool>,
    overruns: Arc<AtomicU64>,
    events: Receiver<DeviceEvent>,
    _thread: StreamThread,
}

struct CaptureShared {
    producer: rtrb::Producer<f32>,
    overruns: Arc<AtomicU64>,
    channels: usize,
}

fn build_input<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    shared: CaptureShared,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let CaptureShared {
        mut producer,
        overruns,
        channels,
    } = shared;
    let channels = channels.max(1);
    let scale = 1.0 / channels as f32;
    // The real-time callback: arithmetic and a lock-free push only.
    let data = move |data: &[T], _: &cpal::InputCallbackInfo| {
        for frame in data.chunks_exact(channels) {
            let mut acc = 0.0f32;
            for &s in frame {
                acc += f32::from_sample_(s);
            }
            if producer.push(acc * scale).is_err() {
                overruns.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    device
        .build_input_stream::<T, _, _>(*config, data, on_error, Some(Duration::from_secs(5)))
        .map_err(|e| MediaError::Device(format!("cannot open the capture stream: {e}")))
}

impl CpalSource {
    /// Open a capture device by id (see [`list_devices`](super::list_devices)) or the default one.
    pub fn open(id: Option<&str>) -> Result<Self> {
        let id = id.map(str::to_string);
        let failed = Arc::new(AtomicBool::new(false));
        let overruns = Arc::new(AtomicU64::new(0));
        let (events_tx, events) = mpsc::channel();
        let (cons_tx, cons_rx) = mpsc::sync_channel(1);
        let (f, o) = (failed.clone(), overruns.clone());
        let (thread, opened) = spawn_stream("media-capture", move || {
            let device = find_device(id.as_deref(), true)?;
            let device_id = device_id(&device).unwrap_or_else(|| "unknown".into());
            let (config, format) = pick_config(&device, true)?;
            // With the short period first, then the backend's default if
            // the device refuses it (each try gets a fresh ring).
            let mut last_err = None;
            let mut built = None;
            for config in with_default_period(config) {
                // One second of headroom between the callback and the reader.
                let (producer, consumer) = rtrb::RingBuffer::new(config.sample_rate as usize);
                let shared = CaptureShared {
                    producer,
                    overruns: o.clone(),
                    channels: usize::from(config.channels),
                };
                let on_error = error_callback(device_id.clone(), f.clone(), events_tx.clone());
                match with_sample_type!(format, build_input(&device, &config, shared, on_error)) {
                    Ok(stream) => {
                        built = Some((stream, consumer, config));
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            let Some((stream, consumer, config)) = built else {
                return Err(last_err.unwrap_or_else(|| MediaError::Device("no stream".into())));
            };
            tracing::info!(device = %device_id, ?config, %format, "capture stream open");
            let _ = cons_tx.send(consumer);
            Ok((
                stream,
                Opened {
                    device_id,
                    rate: config.sample_rate,
                },
            ))
        })?;
        let consumer = cons_rx
            .recv()
            .map_err(|_| MediaError::StreamClosed("capture ring was not handed over".into()))?;
        Ok(Self {
            consumer,
            resampler: StreamResampler::new(opened.rate, SAMPLE_RATE)?,
            device_id: opened.device_id,
            failed,
            overruns,
            events,
            _thread: thread,
        })
    }

    /// The id of the device actually opened.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Device events (poll with `try_recv`).
    pub fn events(&self) -> &Receiver<DeviceEvent> {
        &self.events
    }

    /// Samples the callback had to drop because the reader fell behind.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }
}

impl AudioSource for CpalSource {
    fn is_device(&self) -> bool {
        true
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        let started = Instant::now();
        let mut chunk = [0.0f32; 256];
        loop {
            if self.resampler.available() >= frame.len() {
                self.resampler.pop_into(frame);
                return Ok(ReadStatus::Frame);
            }
            let mut n = 0;
            while n < chunk.len() {
                match self.consumer.pop() {
                    Ok(s) => {
                        chunk[n] = s;
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            if n > 0 {
                self.resampler.push(&chunk[..n])?;
                continue;
            }
            if self.failed.load(Ordering::Acquire) {
                return Err(MediaError::StreamClosed(format!(
                    "capture device {} failed",
                    self.device_id
                )));
            }
            if started.elapsed() > READ_TIMEOUT {
                return Err(MediaError::StreamClosed(format!(
                    "no audio from capture device {} for {} s",
                    self.device_id,
                    READ_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Speaker (or any playback device) as a 48 kHz mono [`AudioSink`].
#[derive(Debug)]
pub struct CpalSink {
    producer: rtrb::Producer<f32>,
    resampler: StreamResampler,
    converted: Vec<f32>,
    device_id: String,
    failed: Arc<AtomicBool>,
    underruns: Arc<AtomicU64>,
    dropped: u64,
    /// [`OUTPUT_HIGH_WATER_MS`] in device samples.
    high_water: usize,
    /// Writes skipped in a row because the device took nothing.
    stalled_frames: u32,
    events: Receiver<DeviceEvent>,
    _thread: StreamThread,
}

struct PlaybackShared {
    consumer: rtrb::Consumer<f32>,
    underruns: Arc<AtomicU64>,
    channels: usize,
    /// The device's sample rate.
    rate: u32,
}

fn build_output<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    shared: PlaybackShared,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let PlaybackShared {
        mut consumer,
        underruns,
        channels,
        rate,
    } = shared;

    let channels = channels.max(1);
    let refill = (rate * OUTPUT_PREFILL_MS / 1000) as usize;
    let mut priming = false;
    // The real-time callback: lock-free pops and a copy per channel only.
    // After an underrun it plays silence until the ring holds the prefill
    // again, so one late tick costs one gap and a little latency instead of
    // a gap in every callback from then on (the writer never gets ahead by
    // itself: it produces in real time).
    let data = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        let frames = data.len() / channels;
        if priming && consumer.slots() >= refill.max(frames) {
            priming = false;
        }
        for frame in data.chunks_exact_mut(channels) {
            let s = if priming {
                0.0
            } else {
                match consumer.pop() {
                    Ok(s) => s,
                    Err(_) => {
                        underruns.fetch_add(1, Ordering::Relaxed);
                        priming = true;
                        0.0
                    }
                }
            };
            let v = T::from_sample_(s);
            for x in frame {
                *x = v;
            }
        }
    };
    device
        .build_output_stream::<T, _, _>(*config, data, on_error, Some(Duration::from_secs(5)))
        .map_err(|e| MediaError::Device(format!("cannot open the playback stream: {e}")))
}

impl CpalSink {
    /// Open a playback device by id (see [`list_devices`](super::list_devices)) or the default one.
    pub fn open(id: Option<&str>) -> Result<Self> {
        let id = id.map(str::to_string);
        let failed = Arc::new(AtomicBool::new(false));
        let underruns = Arc::new(AtomicU64::new(0));
        let (events_tx, events) = mpsc::channel();
        let (prod_tx, prod_rx) = mpsc::sync_channel(1);
        let (f, u) = (failed.clone(), underruns.clone());
        let (thread, opened) = spawn_stream("media-playback", move || {
            let device = find_device(id.as_deref(), false)?;
            let device_id = device_id(&device).unwrap_or_else(|| "unknown".into());
            let (config, format) = pick_config(&device, false)?;
            let rate = config.sample_rate;
            let mut last_err = None;
            let mut built = None;
            for config in with_default_period(config) {
                // Half a second of room; prefilled with silence to the latency.
                let (mut producer, consumer) = rtrb::RingBuffer::new(rate as usize / 2);
                for _ in 0..rate * OUTPUT_PREFILL_MS / 1000 {
                    let _ = producer.push(0.0);
                }
                let shared = PlaybackShared {
                    consumer,
                    underruns: u.clone(),
                    channels: usize::from(config.channels),
                    rate,
                };
                let on_error = error_callback(device_id.clone(), f.clone(), events_tx.clone());
                match with_sample_type!(format, build_output(&device, &config, shared, on_error)) {
                    Ok(stream) => {
                        built = Some((stream, producer, config));
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            let Some((stream, producer, config)) = built else {
                return Err(last_err.unwrap_or_else(|| MediaError::Device("no stream".into())));
            };
            tracing::info!(device = %device_id, ?config, %format, "playback stream open");
            let _ = prod_tx.send(producer);
            Ok((stream, Opened { device_id, rate }))
        })?;
        let producer = prod_rx
            .recv()
            .map_err(|_| MediaError::StreamClosed("playback ring was not handed over".into()))?;
        Ok(Self {
            producer,
            resampler: StreamResampler::new(SAMPLE_RATE, opened.rate)?,
            converted: vec![0.0; FRAME_SAMPLES * 2],
            device_id: opened.device_id,
            failed,
            underruns,
            dropped: 0,
            high_water: (opened.rate * OUTPUT_HIGH_WATER_MS / 1000) as usize,
            stalled_frames: 0,
            events,
            _thread: thread,
        })
    }

    /// The id of the device actually opened.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Device events (poll with `try_recv`).
    pub fn events(&self) -> &Receiver<DeviceEvent> {
        &self.events
    }

    /// Samples the callback played as silence because nothing was queued.
    pub fn underruns(&self) -> u64 {
        self.underruns.load(Ordering::Relaxed)
    }

    /// Samples dropped because the device did not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Samples queued for the device (at its rate): how far ahead of the
    /// device the writer is, for drift monitoring.
    pub fn queued(&self) -> usize {
        self.producer.buffer().capacity() - self.producer.slots()
    }
}

impl AudioSink for CpalSink {
    fn is_device(&self) -> bool {
        true
    }

    fn write_frame(&mut self, frame: &[f32]) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(MediaError::StreamClosed(format!(
                "playback device {} failed",
                self.device_id
            )));
        }
        self.resampler.push(frame)?;
        let n = self.resampler.available();
        if self.converted.len() < n {
            self.converted.resize(n, 0.0);
        }
        self.resampler.pop_into(&mut self.converted[..n]);
        // Keep the latency bounded: a device that started late or stalled
        // leaves a backlog that would otherwise stay as delay for the rest
        // of the call. Skip whole frames until it is back under the mark.
        if self.queued() > self.high_water {
            self.dropped += n as u64;
            self.stalled_frames += 1;
            if self.stalled_frames > OUTPUT_STALL_FRAMES {
                // The sound server stopped taking audio without a word (a
                // killed stream, a vanished device): treat it as failed.
                self.failed.store(true, Ordering::Release);
                return Err(MediaError::StreamClosed(format!(
                    "playback device {} stopped taking audio",
                    self.device_id
                )));
            }
            return Ok(());
        }
        self.stalled_frames = 0;
        // Never wait for the device: the caller's 20 ms tick is the clock.
        // A device that consumes slower than that (its clock drifts, or it
        // stalled) loses the excess here instead of stalling the jitter buffers.
        let room = self.producer.slots();
        let take = n.min(room);
        for &s in &self.converted[..take] {
            // `slots()` said there is room; a failed push cannot happen.
            let _ = self.producer.push(s);
        }
        self.dropped += (n - take) as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        tracing::info!(
            device = %self.device_id,
            underrun_samples = self.underruns(),
            dropped_samples = self.dropped,
            "playback finished"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_device_ids_are_errors_not_panics() {
        for id in [
            "no-colon",
            "nosuchhost:x",
            "alsa:definitely-not-a-device-42",
        ] {
            match CpalSource::open(Some(id)) {
                Err(MediaError::DeviceNotFound(got)) => assert_eq!(got, id),
                Err(MediaError::Device(_)) => {}
                other => panic!("{id}: {other:?}"),
            }
            assert!(CpalSink::open(Some(id)).is_err());
        }
        // Listing never fails, with or without a sound server.
        let _ = super::super::list_devices().unwrap();
    }
}

//! The two directions of a call's audio.
//!
//! Send: `AudioSource` (already 48 kHz mono: sources resample) → echo
//! cancellation / noise suppression slot → Opus encode → 20 ms payloads.
//!
//! Receive: payloads per remote stream → jitter buffer (one per stream,
//! each with its own decoder) → decode/conceal → mix all streams → render
//! reference for the echo canceller → `AudioSink`.
//!
//! Both are plain structs driven by the caller (`next_frame` blocks on the
//! source's pace; `tick(now)` is called every 20 ms); [`spawn_sender`] runs
//! the send side on a thread of its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::codec::{EncoderConfig, OpusDecoder, OpusEncoder};
use crate::device::{AudioSink, AudioSource, ReadStatus};
use crate::error::{MediaError, Result};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Packet, PushOutcome};
use crate::processing::SharedProcessor;
use crate::FRAME_SAMPLES;

/// One encoded 20 ms frame, ready for an RTP packetizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The Opus payload.
    pub payload: Vec<u8>,
    /// A sequence number counted by the pipeline (the RTP layer may use its own).
    pub seq: u16,
    /// The RTP timestamp of the frame's first sample (48 kHz units).
    pub timestamp: u32,
}

/// Microseconds since a fixed start: the clock the jitter buffers run on.
#[derive(Debug, Clone, Copy)]
pub struct MediaClock(Instant);

impl MediaClock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self(Instant::now())
    }

    /// Microseconds since the clock started.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl Default for MediaClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Send side: source → processing → Opus.
pub struct SendPipeline<S> {
    source: S,
    processor: SharedProcessor,
    encoder: OpusEncoder,
    frame: Vec<f32>,
    seq: u16,
    timestamp: u32,
}

impl<S> std::fmt::Debug for SendPipeline<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendPipeline")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<S: AudioSource> SendPipeline<S> {
    /// A send side reading `source`, processing with `processor`, encoding with `config`.
    pub fn new(source: S, processor: SharedProcessor, config: EncoderConfig) -> Result<Self> {
        Ok(Self {
            source,
            processor,
            encoder: OpusEncoder::new(config)?,
            frame: vec![0.0; FRAME_SAMPLES],
            seq: 0,
            timestamp: 0,
        })
    }

    /// The encoder, to change bitrate or expected loss mid-call.
    pub fn encoder_mut(&mut self) -> &mut OpusEncoder {
        &mut self.encoder
    }

    /// The source.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Swap the source mid-call (device hot-swap); returns the old one.
    /// Use `S = Box<dyn AudioSource>` to switch between kinds of source.
    pub fn replace_source(&mut self, source: S) -> S {
        std::mem::replace(&mut self.source, source)
    }

    /// Read, process and encode the next 20 ms; `None` once the source ended.
    pub fn next_frame(&mut self) -> Result<Option<EncodedFrame>> {
        if self.source.read_frame(&mut self.frame)? == ReadStatus::Ended {
            return Ok(None);
        }
        self.processor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .process_capture(&mut self.frame);
        let payload = self.encoder.encode(&self.frame)?;
        let out = EncodedFrame {
            payload,
            seq: self.seq,
            timestamp: self.timestamp,
        };
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        Ok(Some(out))
    }
}

/// A send side running on its own thread; frames come out of [`SenderHandle::frames`].
#[derive(Debug)]
pub struct SenderHandle {
    frames: Receiver<Result<EncodedFrame>>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl SenderHandle {
    /// Encoded frames (an `Err` item is the error that stopped the sender).
    pub fn frames(&self) -> &Receiver<Result<EncodedFrame>> {
        &self.frames
    }

    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for SenderHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Run `pipeline` on a thread until its source ends, it fails, or it is stopped.
pub fn spawn_sender<S: AudioSource + 'static>(
    mut pipeline: SendPipeline<S>,
) -> Result<SenderHandle> {
    let (tx, frames) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let join = std::thread::Builder::new()
        .name("media-send".into())
        .spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match pipeline.next_frame() {
                    Ok(Some(f)) => {
                        if tx.send(Ok(f)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "send pipeline stopped");
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
        })
        .map_err(|e| MediaError::Device(format!("cannot start the send thread: {e}")))?;
    Ok(SenderHandle {
        frames,
        stop,
        join: Some(join),
    })
}

/// Receive side: jitter buffer per stream → mix → sink.
pub struct ReceivePipeline<K> {
    sink: K,
    processor: SharedProcessor,
    config: JitterConfig,
    streams: BTreeMap<u32, JitterBuffer<OpusDecoder>>,
    /// Per stream, the loudest frame's mean square since [`take_levels`](Self::take_levels).
    levels: BTreeMap<u32, f32>,
    mix: Vec<f32>,
    frame: Vec<f32>,
}

impl<K> std::fmt::Debug for ReceivePipeline<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivePipeline")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl<K: AudioSink> ReceivePipeline<K> {
    /// A receive side playing into `sink`, telling `processor` what it plays.
    pub fn new(sink: K, processor: SharedProcessor, config: JitterConfig) -> Self {
        Self {
            sink,
            processor,
            config,
            streams: BTreeMap::new(),
            levels: BTreeMap::new(),
            mix: vec![0.0; FRAME_SAMPLES],
            frame: vec![0.0; FRAME_SAMPLES],
        }
    }

    /// Hand in a packet of remote stream `stream` (for example its SSRC),
    /// received at `arrival_us` on the pipeline's clock.
    pub fn push(&mut self, stream: u32, packet: Packet, arrival_us: u64) -> Result<PushOutcome> {
        let jb = match self.streams.entry(stream) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(JitterBuffer::new(OpusDecoder::new()?, self.config))
            }
        };
        Ok(jb.push(packet, arrival_us))
    }

    /// Hand in the redundant copies (RED, RFC 2198) that came with a packet
    /// of `stream` just given to [`push`](Self::push): they fill that
    /// stream's gaps, and their number is how far back the sender's copies
    /// now reach.
    pub fn push_redundant(&mut self, stream: u32, copies: Vec<Packet>) {
        if let Some(jb) = self.streams.get_mut(&stream) {
            jb.set_redundancy(u8::try_from(copies.len()).unwrap_or(u8::MAX));
            for copy in copies {
                jb.push_redundant(copy);
            }
        }
    }

    /// Forget a remote stream (participant left).
    pub fn remove_stream(&mut self, stream: u32) {
        self.streams.remove(&stream);
        self.levels.remove(&stream);
    }

    /// Play the next 20 ms: pop every stream, mix, write to the sink.
    pub fn tick(&mut self, now_us: u64) -> Result<()> {
        self.mix.iter_mut().for_each(|s| *s = 0.0);
        for (stream, jb) in self.streams.iter_mut() {
            jb.pop_into(now_us, &mut self.frame);
            let mut energy = 0.0;
            for (m, s) in self.mix.iter_mut().zip(&self.frame) {
                *m += s;
                energy += s * s;
            }
            let level = self.levels.entry(*stream).or_insert(0.0);
            *level = level.max(energy / FRAME_SAMPLES as f32);
        }
        soft_clip(&mut self.mix);
        self.processor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .process_render(&self.mix);
        self.sink.write_frame(&self.mix)
    }

    /// How loud each stream was since the last call: the RMS level of its
    /// loudest 20 ms frame in dBFS (−100 for silence), into `out` (cleared
    /// first, so a caller can reuse it). Resets the levels.
    pub fn take_levels(&mut self, out: &mut Vec<(u32, f32)>) {
        out.clear();
        for (stream, mean_square) in self.levels.iter_mut() {
            let db = if *mean_square > 1e-10 {
                10.0 * mean_square.log10()
            } else {
                -100.0
            };
            out.push((*stream, db));
            *mean_square = 0.0;
        }
    }

    /// Jitter-buffer figures per stream.
    pub fn stats(&self) -> Vec<(u32, JitterStats)> {
        self.streams
            .iter()
            .map(|(k, jb)| (*k, jb.stats()))
            .collect()
    }

    /// The sink (for example to finish a WAV file).
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// Swap the sink mid-call (device hot-swap); returns the old one.
    /// Use `K = Box<dyn AudioSink>` to switch between kinds of sink.
    pub fn replace_sink(&mut self, sink: K) -> K {
        std::mem::replace(&mut self.sink, sink)
    }
}

/// Keep a mix of several talkers inside -1.0 ..= 1.0 without hard clipping
/// the common case: samples below 0.9 pass untouched, louder ones are
/// compressed smoothly towards 1.0.
pub fn soft_clip(samples: &mut [f32]) {
    for s in samples {
        let a = s.abs();
        if a > 0.9 {
            *s = s.signum() * (0.9 + 0.1 * ((a - 0.9) / 0.1).tanh());
        }
    }
}

#[cfg(test)]
mod tests;

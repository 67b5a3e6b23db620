//! Audio pipeline of the softphone: devices, Opus, jitter buffer, echo
//! cancellation and mixing.
//!
//! The crate's boundary is deliberately below the network: the WebRTC
//! session (in `softphone-client`) hands in received RTP payloads with their
//! sequence number, timestamp and arrival time, and takes out 20 ms Opus
//! payloads to send. No sockets, no async runtime; time is always an
//! argument, so the jitter buffer is tested with a virtual clock.
//!
//! # Layout
//!
//! - [`codec`]: Opus encoder/decoder (48 kHz mono, 20 ms, in-band FEC,
//!   runtime bitrate and expected-loss), FEC decoding and concealment.
//! - [`jitter`]: adaptive jitter buffer per remote stream: reordering,
//!   RFC 3550 jitter, target delay, loss concealment, drift correction.
//! - [`device`]: [`AudioSource`]/[`AudioSink`] traits; WAV file, null and
//!   cpal (PulseAudio/ALSA) devices; device listing and watching; mute.
//! - [`red`]: audio redundancy (RFC 2198): each packet carries copies of
//!   the previous frames, so a lost packet is rebuilt from the next one.
//! - [`processing`]: the echo-cancellation / noise-suppression slot
//!   ([`processing::AudioProcessor`]), shared by both directions.
//! - [`pipeline`]: send side (source → processing → Opus) and receive side
//!   (jitter buffer per stream → decode → mix → sink).
//! - [`analysis`]: tone generation, Goertzel power, RMS, ERLE (tests and
//!   measurements).
//!
//! # Why
//!
//! - Real-time audio has one hard rule: the device callback never locks,
//!   allocates, logs or awaits. Everything that may block lives on ordinary
//!   threads; the callback only moves samples through a lock-free ring, and
//!   each cpal stream lives on a thread of its own.
//! - The jitter buffer takes time as an argument (like quinn-proto's
//!   `handle_timeout(now)`), so reordering, loss, spikes and clock drift are
//!   unit-tested on a virtual clock in milliseconds of test time.
//! - The decoder sits behind a small trait ([`FrameDecoder`]) so the jitter
//!   buffer's decisions (decode, FEC from the next packet, conceal) are
//!   observable in tests without Opus.
//! - Echo cancellation is WebRTC's AEC3 through the pure-Rust `sonora` port:
//!   it measured best of the candidates that build here and needs no C++
//!   toolchain (figures in `docs/media.md`).

#![warn(missing_docs)]

pub mod analysis;
pub mod codec;
pub mod device;
mod error;
pub mod jitter;
pub mod pipeline;
pub mod processing;
pub mod red;

pub use codec::{EncoderConfig, FrameDecoder, OpusDecoder, OpusEncoder};
pub use device::{AudioSink, AudioSource, Pacing, ReadStatus};
pub use error::{MediaError, Result};
pub use jitter::{Frame, FrameKind, JitterBuffer, JitterConfig, JitterStats, Packet};
pub use pipeline::{EncodedFrame, MediaClock, ReceivePipeline, SendPipeline};
pub use processing::{AudioProcessor, EchoCanceller, PassThrough, SharedProcessor};

/// The pipeline's sample rate (Hz).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms mono frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// Length of one frame in microseconds.
pub const FRAME_US: u64 = 20_000;

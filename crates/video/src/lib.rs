//! Video pipeline of the softphone: I420 frames, a synthetic test pattern,
//! VP8 encoding and decoding, and camera and screen sources.
//!
//! Like the audio crate (`softphone-media`), this one stops below the
//! network: no WebRTC, no sockets, no async runtime. The WebRTC session
//! hands in each received VP8 frame (reassembled from RTP by the `rtc`
//! crate, see [`vp8`]) and takes out encoded frames to send; the app takes
//! decoded frames as RGBA; a group forwarder needs only
//! [`vp8::is_keyframe`]. Time is the capture timestamp on each frame, in
//! microseconds of a [`Clock`] shared with the audio.
//!
//! # Layout
//!
//! - [`frame`]: [`Frame`], one I420 picture (three planes with strides, one
//!   allocation, reused) with its capture timestamp; [`Clock`].
//! - [`convert`]: RGB/RGBA/BGRx → I420 (screen capture, MJPEG), YUYV →
//!   I420 (cameras), I420 → RGBA (the app's canvas), bilinear scaling;
//!   BT.601 limited range throughout.
//! - [`pattern`]: the test pattern: colour bars with documented colours, a
//!   moving block, the frame counter in digits and as a machine-readable
//!   code that [`read_counter`] decodes after lossy VP8 and refuses on
//!   anything else.
//! - [`vp8`]: [`Vp8Encoder`] (real time, key frames on request, bitrate /
//!   frame rate / size changes) and [`Vp8Decoder`] over the system libvpx.
//!   Every `unsafe` block of the crate is in this module.
//! - [`source`]: the [`VideoSource`] trait and its sources with stable ids:
//!   `pattern`, `camera:<id>` (V4L2), `screen:<display>` (X11).
//!
//! # Why
//!
//! - **libvpx, not a Rust VP8 encoder.** VP8 is what every WebRTC peer
//!   decodes, and libvpx is the reference real-time encoder; Debian ships it
//!   (`libvpx-dev` 1.12). The bindings are `env-libvpx-sys`, which carries
//!   pre-generated bindings for 1.12: no bindgen/libclang at build time for
//!   the codec, and the ABI version passed to libvpx at init makes a
//!   mismatched library refuse to start instead of misbehaving. The safe
//!   wrapper is ours (small, and its real-time settings are WebRTC's).
//! - **I420 everywhere in the middle.** Sources convert once into I420,
//!   libvpx reads and writes it, and the app converts to RGBA only at the
//!   end. Frames and output buffers are reused, so a steady stream does not
//!   allocate per frame (the X11 grab is the exception: x11rb allocates
//!   each reply).
//! - **The pattern carries its own truth.** A frame counter that survives
//!   compression lets tests check delivery, order, frame rate and
//!   glass-to-glass latency of a real call by looking at decoded pixels;
//!   the Gray code + CRC-16 makes a wrong reading practically impossible
//!   (a damaged code reads as `None`, never as another number).
//! - **V4L2 through the `v4l` crate** (not `nokhwa`, which wraps the same
//!   crate with a larger API and more dependencies): we need only listing,
//!   YUYV/MJPEG streaming and our own conversion to I420. MJPEG is decoded
//!   by `zune-jpeg` (pure Rust, accepts camera frames without Huffman
//!   tables). **X11 through `x11rb`** (pure Rust, no libxcb).
//! - `unsafe` is denied in the crate and allowed in `vp8` alone (the
//!   workspace forbids it everywhere else); clippy's
//!   `undocumented_unsafe_blocks` makes every block state its SAFETY.

#![warn(missing_docs)]

pub mod convert;
mod error;
pub mod frame;
pub mod pattern;
pub mod source;
pub mod vp8;

pub use convert::{PixelFormat, Rgb};
pub use error::{Result, VideoError};
pub use frame::{Clock, Frame, Plane};
pub use pattern::read_counter;
pub use source::{
    list_sources, open_source, Pacing, SourceConfig, SourceId, SourceInfo, VideoSource,
};
pub use vp8::{EncodedFrame, EncoderConfig, Vp8Decoder, Vp8Encoder};

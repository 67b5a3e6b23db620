//! VP8 through the system libvpx: a real-time encoder and a decoder.
//!
//! This module holds every `unsafe` block of the crate (each with a SAFETY
//! comment); the rest of the crate sees only safe types.
//!
//! - [`Vp8Encoder`]: one-pass CBR for real time (`VPX_DL_REALTIME`, fixed
//!   speed through `cpu_used`, error resilient, no lag, so one frame in
//!   gives at most one frame out), key frame on request
//!   ([`Vp8Encoder::force_keyframe`], for PLI/FIR), bitrate and frame rate
//!   changes in place, resolution changes by recreating the encoder (the
//!   next frame is then a key frame). Settings follow WebRTC's own libvpx
//!   VP8 wrapper (`libvpx_vp8_encoder.cc`) where they apply.
//! - [`Vp8Decoder`]: one complete VP8 frame in, at most one [`Frame`](crate::Frame) out.
//!   Garbage, truncated or corrupt input and inter frames without their
//!   references are errors ([`VideoError::Decode`]), never a panic; after
//!   a loss ([`Vp8Decoder::mark_lost`]) inter frames are refused until the
//!   next key frame, which is the caller's cue to send a PLI.
//!
//! # RTP
//!
//! Packetizing is not done here: webrtc 0.21's `rtc` crate has VP8 (RFC
//! 7741) in `rtc::rtp::codec::vp8` (note: `codec`, singular).
//! `Vp8Payloader` splits one encoded frame into payloads of at most `mtu`
//! bytes, each with the payload descriptor (`S` bit on the first,
//! `enable_picture_id` for the 15-bit PictureID); sending through
//! `TrackLocalStaticSample` with the `video/VP8` codec picks it
//! automatically (`RTCRtpCodec::payloader`, PictureID on), so a sender only
//! writes each [`EncodedFrame::data`] as one `Sample` whose duration is the
//! frame interval (90 kHz RTP clock). On the receiving side,
//! `Vp8Packet::depacketize` strips the descriptor of each payload, and
//! `rtc::media::io::sample_builder::SampleBuilder::new(max_late,
//! Vp8Packet::default(), 90_000)` reassembles whole frames by RTP timestamp
//! and marker bit for [`Vp8Decoder::decode`]. A gap in sequence numbers
//! inside or between frames means [`Vp8Decoder::mark_lost`] and a PLI.
//! (`Vp8Packet::depacketize` refuses payloads shorter than 4 bytes.)
//! The client's media session does not use `TrackLocalStaticSample` or
//! `SampleBuilder` (it stamps packets with the capture time and hands out
//! each frame as soon as its last packet is in): see
//! `crates/client/src/media/video/` and `docs/video.md`.

#![allow(unsafe_code)]

mod decoder;
mod encoder;
#[cfg(test)]
mod tests;

use std::ffi::CStr;

use vpx_sys::{vpx_codec_ctx_t, vpx_codec_err_t};

use crate::error::VideoError;

pub use decoder::Vp8Decoder;
pub use encoder::{default_bitrate, Content, EncodedFrame, EncoderConfig, Vp8Encoder};

/// Whether `data` (one complete VP8 frame) is a key frame: the frame tag's
/// first bit is 0 and the key frame start code `9d 01 2a` follows it
/// (RFC 6386 §9.1). Pure parsing, no decoder needed.
pub fn is_keyframe(data: &[u8]) -> bool {
    data.len() >= 10 && data[0] & 1 == 0 && data[3..6] == [0x9d, 0x01, 0x2a]
}

/// Width and height coded in a key frame's header (scaling bits dropped),
/// `None` for inter frames and anything too short.
pub fn keyframe_size(data: &[u8]) -> Option<(u32, u32)> {
    if !is_keyframe(data) {
        return None;
    }
    let w = u16::from_le_bytes([data[6], data[7]]) & 0x3fff;
    let h = u16::from_le_bytes([data[8], data[9]]) & 0x3fff;
    Some((u32::from(w), u32::from(h)))
}

/// The version of the libvpx in use, e.g. `libvpx v1.12.0`.
pub fn libvpx_version() -> String {
    // SAFETY: vpx_codec_version_str returns a pointer to a static,
    // NUL-terminated string.
    let version = unsafe { cstr(vpx_sys::vpx_codec_version_str()) };
    format!("libvpx {version}")
}

/// Turn a libvpx status into our error, with libvpx's message and detail.
///
/// `ctx` must point to a context that libvpx has initialized, or to a
/// zeroed one (then only the generic message is used).
fn check(
    ctx: *mut vpx_codec_ctx_t,
    status: vpx_codec_err_t,
    operation: &'static str,
) -> Result<(), VideoError> {
    if status == vpx_codec_err_t::VPX_CODEC_OK {
        return Ok(());
    }
    // SAFETY: vpx_codec_err_to_string returns a pointer to a static,
    // NUL-terminated string for every code (an "Unrecognized error code"
    // text for unknown ones).
    let mut message = unsafe { cstr(vpx_sys::vpx_codec_err_to_string(status)) };
    // SAFETY: `ctx` is a live context (initialized or zeroed) owned by the
    // caller. vpx_codec_error_detail returns NULL or a NUL-terminated string
    // owned by the context that stays valid until the next call on it; we
    // copy it out at once.
    let detail = unsafe { cstr(vpx_sys::vpx_codec_error_detail(ctx)) };
    if !detail.is_empty() {
        message = format!("{message} ({detail})");
    }
    Err(VideoError::Codec { operation, message })
}

/// Copy a C string into a `String`; NULL gives an empty string.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string valid for this call.
unsafe fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-null and NUL-terminated per this function's contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

//! The VP8 decoder.

use std::os::raw::{c_int, c_uint};

use vpx_sys::{
    vp8_dec_control_id, vpx_codec_ctx_t, vpx_codec_dec_cfg_t, vpx_codec_err_t, vpx_img_fmt,
};

use super::{check, is_keyframe};
use crate::error::{Result, VideoError};
use crate::frame::{check_size, Frame, Plane};

/// Largest VP8 frame we hand to libvpx (its length is a C `unsigned int`,
/// and no real-time frame comes near this).
const MAX_FRAME_BYTES: usize = 16 << 20;

/// A libvpx VP8 decoder. See the module docs.
pub struct Vp8Decoder {
    /// Boxed: libvpx may keep pointers to the context, so it never moves.
    ctx: Box<vpx_codec_ctx_t>,
    frame: Frame,
    /// Set after a loss or a decode error: inter frames are refused until a
    /// key frame arrives.
    need_keyframe: bool,
}

// SAFETY: as for the encoder: the context has no thread affinity, and every
// call that touches it takes `&mut self`.
unsafe impl Send for Vp8Decoder {}

impl std::fmt::Debug for Vp8Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Decoder")
            .field("need_keyframe", &self.need_keyframe)
            .finish_non_exhaustive()
    }
}

impl Vp8Decoder {
    /// A decoder (single-threaded, no post-processing).
    pub fn new() -> Result<Self> {
        let mut decoder = Self {
            // SAFETY: all-zero bytes are a valid, un-initialized context (see
            // the encoder).
            ctx: Box::new(unsafe { std::mem::zeroed() }),
            frame: Frame::new(2, 2)?,
            need_keyframe: true,
        };
        let cfg = vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        };
        // SAFETY: `ctx` is zeroed, `cfg` is a complete decoder config, and the
        // ABI version is the one the bindings were generated for (libvpx
        // refuses a mismatch).
        let status = unsafe {
            vpx_sys::vpx_codec_dec_init_ver(
                &mut *decoder.ctx,
                vpx_sys::vpx_codec_vp8_dx(),
                &cfg,
                0,
                vpx_sys::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if let Err(e) = check(&mut *decoder.ctx, status, "decoder init") {
            // SAFETY: a failed init leaves nothing to destroy; zero the
            // context so Drop sees it as un-initialized.
            *decoder.ctx = unsafe { std::mem::zeroed() };
            return Err(e);
        }
        Ok(decoder)
    }

    /// Say that a frame was lost (a gap in RTP sequence numbers): from now
    /// on inter frames are refused until the next key frame, instead of
    /// decoding them against the wrong reference. Ask the sender for one.
    pub fn mark_lost(&mut self) {
        self.need_keyframe = true;
    }

    /// Whether the decoder waits for a key frame (at the start, after
    /// [`mark_lost`](Self::mark_lost) or after a decode error).
    pub fn needs_keyframe(&self) -> bool {
        self.need_keyframe
    }

    /// Decode one complete VP8 frame. `Ok(None)` when it decoded but shows
    /// nothing (a hidden frame). The frame, stamped `timestamp_us`, is
    /// borrowed from the decoder until the next call.
    ///
    /// Every failure is [`VideoError::Decode`] and leaves the decoder
    /// waiting for a key frame.
    pub fn decode(&mut self, data: &[u8], timestamp_us: u64) -> Result<Option<&Frame>> {
        match self.decode_inner(data) {
            Ok(true) => {
                self.need_keyframe = false;
                self.frame.timestamp_us = timestamp_us;
                Ok(Some(&self.frame))
            }
            Ok(false) => {
                self.need_keyframe = false;
                Ok(None)
            }
            Err(e) => {
                self.need_keyframe = true;
                Err(e)
            }
        }
    }

    fn decode_inner(&mut self, data: &[u8]) -> Result<bool> {
        let keyframe = is_keyframe(data);
        if data.is_empty() || data.len() > MAX_FRAME_BYTES {
            return Err(VideoError::Decode(format!(
                "a frame of {} bytes",
                data.len()
            )));
        }
        if self.need_keyframe && !keyframe {
            return Err(VideoError::Decode(
                "an inter frame while waiting for a key frame".into(),
            ));
        }
        // SAFETY: `ctx` is an initialized decoder; `data` is valid for
        // `data.len()` bytes (checked to fit an unsigned int) during the
        // call, and libvpx does not keep the pointer without
        // VPX_CODEC_USE_INPUT_FRAGMENTS, which we do not set. libvpx's VP8
        // decoder bounds-checks its input (it is fuzzed upstream).
        let status = unsafe {
            vpx_sys::vpx_codec_decode(
                &mut *self.ctx,
                data.as_ptr(),
                data.len() as c_uint,
                std::ptr::null_mut(),
                0,
            )
        };
        if status != vpx_codec_err_t::VPX_CODEC_OK {
            let detail = check(&mut *self.ctx, status, "decode")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            self.drain();
            return Err(VideoError::Decode(detail));
        }
        let mut corrupted: c_int = 0;
        // SAFETY: VP8D_GET_FRAME_CORRUPTED takes an `int *`, which points to
        // a live local here.
        let status = unsafe {
            vpx_sys::vpx_codec_control_(
                &mut *self.ctx,
                vp8_dec_control_id::VP8D_GET_FRAME_CORRUPTED as c_int,
                &mut corrupted as *mut c_int,
            )
        };
        if status == vpx_codec_err_t::VPX_CODEC_OK && corrupted != 0 {
            self.drain();
            return Err(VideoError::Decode("the frame decoded with errors".into()));
        }
        let mut shown = false;
        let mut iter: vpx_sys::vpx_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: `ctx` is initialized and `iter` is libvpx's own
            // iterator, starting from NULL.
            let image = unsafe { vpx_sys::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if image.is_null() {
                break;
            }
            if !shown {
                // SAFETY: a non-null image is valid until the next decode call.
                unsafe { copy_image(image, &mut self.frame)? };
                shown = true;
            }
        }
        Ok(shown)
    }

    /// Take any frames libvpx still holds after an error, so none leaks into
    /// the next call.
    fn drain(&mut self) {
        let mut iter: vpx_sys::vpx_codec_iter_t = std::ptr::null();
        // SAFETY: as in `decode_inner`; the images are only counted.
        while !unsafe { vpx_sys::vpx_codec_get_frame(&mut *self.ctx, &mut iter) }.is_null() {}
    }
}

/// Copy a decoded I420 image into `frame` (resized to fit).
///
/// # Safety
///
/// `image` points to a valid image from vpx_codec_get_frame, not yet
/// invalidated by another call on its decoder.
unsafe fn copy_image(image: *const vpx_sys::vpx_image_t, frame: &mut Frame) -> Result<()> {
    // SAFETY: valid per this function's contract; `fmt` is read as its raw
    // integer so an unexpected format cannot be an invalid enum value.
    let (fmt, img) = unsafe {
        (
            std::ptr::addr_of!((*image).fmt).cast::<u32>().read(),
            &*image,
        )
    };
    if fmt != vpx_img_fmt::VPX_IMG_FMT_I420 as u32 {
        return Err(VideoError::Decode(format!(
            "unexpected image format {fmt:#x}"
        )));
    }
    let (w, h) = (img.d_w, img.d_h);
    check_size(w, h).map_err(|e| VideoError::Decode(e.to_string()))?;
    frame.resize(w, h)?;
    for (i, plane) in [Plane::Y, Plane::U, Plane::V].into_iter().enumerate() {
        let (pw, ph) = if i == 0 {
            (w as usize, h as usize)
        } else {
            (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
        };
        let src_stride = usize::try_from(img.stride[i]).unwrap_or(0);
        if img.planes[i].is_null() || src_stride < pw {
            return Err(VideoError::Decode(
                "a decoded image without its planes".into(),
            ));
        }
        let dst_stride = frame.stride(plane);
        let dst = frame.plane_mut(plane);
        for row in 0..ph {
            // SAFETY: libvpx's I420 image holds `ph` rows of at least `pw`
            // bytes, `stride` bytes apart, from `planes[i]` (checked non-null
            // and stride >= width above).
            let src =
                unsafe { std::slice::from_raw_parts(img.planes[i].add(row * src_stride), pw) };
            dst[row * dst_stride..][..pw].copy_from_slice(src);
        }
    }
    Ok(())
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        if self.ctx.priv_.is_null() {
            return;
        }
        // SAFETY: a non-null `priv_` means the context was initialized and
        // not destroyed; it is destroyed exactly once, here.
        unsafe {
            vpx_sys::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

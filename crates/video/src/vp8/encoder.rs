//! The real-time VP8 encoder.

use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};

use vpx_sys::{
    vp8e_enc_control_id as ctrl, vpx_codec_ctx_t, vpx_codec_cx_pkt_kind, vpx_codec_enc_cfg_t,
    vpx_codec_err_t, vpx_image_t, vpx_img_fmt, vpx_kf_mode, vpx_rational, vpx_rc_mode,
};

use super::check;
use crate::error::{Result, VideoError};
use crate::frame::{check_size, Frame, Plane};

/// What the encoder is fed; tunes it like WebRTC does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Camera or synthetic motion video.
    Camera,
    /// Screen sharing: mostly static, sharp text (libvpx screen content mode).
    Screen,
}

/// Encoder settings. [`EncoderConfig::new`] gives real-time defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Frame width in pixels (1 ..= 16383).
    pub width: u32,
    /// Frame height in pixels (1 ..= 16383).
    pub height: u32,
    /// Nominal frame rate (1 ..= 120); the rate control budgets per frame
    /// from it and from the timestamps.
    pub fps: u32,
    /// Target bitrate in bits per second (10 000 ..= 50 000 000).
    pub bitrate_bps: u32,
    /// libvpx `cpu_used`, -16 ..= 16. Negative: a fixed speed of
    /// `-cpu_used` (higher is faster and worse; WebRTC uses -6 on desktops,
    /// -12 on weak CPUs). Positive: libvpx picks the speed itself to use
    /// about `(16 - cpu_used) / 16` of the frame interval. Default -10:
    /// at 720p it took 3.8 ms of CPU per camera-like frame here, against
    /// 4.5 at -8 and 6.4 at -4, for the same PSNR (`docs/video.md`).
    pub cpu_used: i32,
    /// Longest run of frames between key frames. Key frames otherwise come
    /// on request (PLI/FIR), so this is a slow safety net.
    pub keyframe_interval: u32,
    /// Encoder threads (1 ..= 16). Keep 1 on small machines: libvpx's VP8
    /// threads spin while they wait for each other, and with 2 threads on
    /// this 2-core machine a 720p frame took 28 ms of CPU instead of 4.
    pub threads: u32,
    /// Let the rate control skip frames when the buffer runs low (WebRTC
    /// does, at 30 %). Off: every frame in gives a frame out.
    pub drop_frames: bool,
    /// Camera or screen.
    pub content: Content,
}

impl EncoderConfig {
    /// Real-time defaults for `width` × `height` at 30 fps, with
    /// [`default_bitrate`]'s bitrate.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            fps: 30,
            bitrate_bps: default_bitrate(width, height),
            cpu_used: -10,
            keyframe_interval: 3000,
            threads: 1,
            drop_frames: false,
            content: Content::Camera,
        }
    }

    fn validate(&self) -> Result<()> {
        check_size(self.width, self.height)?;
        let checks = [
            ((1..=120).contains(&self.fps), "fps is 1..=120"),
            (
                (10_000..=50_000_000).contains(&self.bitrate_bps),
                "bitrate is 10000..=50000000 b/s",
            ),
            ((-16..=16).contains(&self.cpu_used), "cpu_used is -16..=16"),
            (
                self.keyframe_interval >= 1,
                "keyframe_interval is at least 1",
            ),
            ((1..=16).contains(&self.threads), "threads is 1..=16"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, rule)) => Err(VideoError::invalid(format!(
                "encoder config: {rule}, got {self:?}"
            ))),
            None => Ok(()),
        }
    }
}

/// A bitrate for 30 fps real-time video of this size: 300 kb/s up to
/// 320×240, 500 kb/s up to 640×480, 1.5 Mb/s up to 1280×720, 2.5 Mb/s above.
pub fn default_bitrate(width: u32, height: u32) -> u32 {
    match u64::from(width) * u64::from(height) {
        0..=76_800 => 300_000,
        76_801..=307_200 => 500_000,
        307_201..=921_600 => 1_500_000,
        _ => 2_500_000,
    }
}

/// One encoded frame, borrowed from the encoder until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedFrame<'a> {
    /// The complete VP8 frame (one RTP `Sample`).
    pub data: &'a [u8],
    /// Whether this is a key frame (decodable on its own).
    pub keyframe: bool,
    /// The input frame's capture timestamp (µs).
    pub timestamp_us: u64,
}

/// A libvpx VP8 encoder set up for real time. See the module docs.
pub struct Vp8Encoder {
    /// Boxed: libvpx may keep pointers to the context, so it never moves.
    ctx: Box<vpx_codec_ctx_t>,
    cfg: vpx_codec_enc_cfg_t,
    config: EncoderConfig,
    /// pts of the first frame, so libvpx's timestamps start at 0.
    first_us: Option<u64>,
    last_pts: i64,
    force_keyframe: bool,
    out: Vec<u8>,
}

// SAFETY: a libvpx codec context has no thread affinity: it may be used from
// any thread as long as calls are not concurrent, which `&mut self` on every
// call that touches it guarantees. The raw pointers inside (context, config
// buffers) are owned by this value alone.
unsafe impl Send for Vp8Encoder {}

impl std::fmt::Debug for Vp8Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Vp8Encoder {
    /// An encoder with these settings.
    pub fn new(config: EncoderConfig) -> Result<Self> {
        config.validate()?;
        let cfg = default_cfg()?;
        let mut encoder = Self {
            // SAFETY: vpx_codec_ctx_t is plain C data (pointers, integers, a
            // union of pointers and an error enum whose 0 is VPX_CODEC_OK),
            // so all-zero bytes are a valid value; zero is also what libvpx
            // expects of a context before init.
            ctx: Box::new(unsafe { std::mem::zeroed() }),
            cfg,
            config,
            first_us: None,
            last_pts: -1,
            force_keyframe: false,
            out: Vec::with_capacity(64 * 1024),
        };
        encoder.init()?;
        Ok(encoder)
    }

    /// The current settings.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Make the next encoded frame a key frame (answer to a PLI or FIR).
    pub fn force_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Change the target bitrate (bits per second) from the next frame on.
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<()> {
        let config = EncoderConfig {
            bitrate_bps,
            ..self.config
        };
        config.validate()?;
        self.config = config;
        self.cfg.rc_target_bitrate = bitrate_bps / 1000;
        // SAFETY: `ctx` was initialized by `init` (every constructor path
        // goes through it) and `cfg` is the valid config it was created from.
        let status = unsafe { vpx_sys::vpx_codec_enc_config_set(&mut *self.ctx, &self.cfg) };
        check(&mut *self.ctx, status, "set bitrate")
    }

    /// Change the nominal frame rate (the per-frame budget and the key frame
    /// size cap follow it).
    pub fn set_fps(&mut self, fps: u32) -> Result<()> {
        let config = EncoderConfig { fps, ..self.config };
        config.validate()?;
        self.config = config;
        self.control(ctrl::VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct(fps))
    }

    /// Change the frame size. This recreates the encoder, so the next frame
    /// is a key frame. [`encode`](Self::encode) calls it when a frame of
    /// another size arrives.
    pub fn set_resolution(&mut self, width: u32, height: u32) -> Result<()> {
        if (width, height) == (self.config.width, self.config.height) {
            return Ok(());
        }
        let config = EncoderConfig {
            width,
            height,
            ..self.config
        };
        config.validate()?;
        self.destroy();
        self.config = config;
        self.init()
    }

    /// Encode one frame. `Ok(None)` when the rate control dropped it (only
    /// with [`EncoderConfig::drop_frames`]). The result borrows the encoder's
    /// output buffer until the next call.
    pub fn encode(&mut self, frame: &Frame) -> Result<Option<EncodedFrame<'_>>> {
        self.set_resolution(frame.width(), frame.height())?;
        if self.ctx.priv_.is_null() {
            // An earlier re-init failed; try again rather than feed libvpx
            // an empty context.
            self.init()?;
        }
        let first = *self.first_us.get_or_insert(frame.timestamp_us);
        // libvpx wants strictly increasing timestamps; tolerate a source that
        // repeats or steps back by nudging forward one microsecond.
        let pts = i64::try_from(frame.timestamp_us.saturating_sub(first))
            .unwrap_or(i64::MAX)
            .max(self.last_pts + 1);
        let duration = c_ulong::from(1_000_000 / self.config.fps);
        let flags: c_long = if self.force_keyframe {
            vpx_sys::VPX_EFLAG_FORCE_KF as c_long
        } else {
            0
        };
        let mut image = MaybeUninit::<vpx_image_t>::uninit();
        let data = frame.as_bytes().as_ptr().cast_mut();
        // SAFETY: vpx_img_wrap only fills in the descriptor `image` (it
        // memsets it, then sets the fields) and stores `data` without
        // reading it; the dimensions were validated.
        let wrapped = unsafe {
            vpx_sys::vpx_img_wrap(
                image.as_mut_ptr(),
                vpx_img_fmt::VPX_IMG_FMT_I420,
                frame.width(),
                frame.height(),
                1,
                data,
            )
        };
        if wrapped.is_null() {
            return Err(VideoError::Codec {
                operation: "wrap image",
                message: "vpx_img_wrap refused the frame".into(),
            });
        }
        // SAFETY: vpx_img_wrap returned non-null, so it initialized `image`.
        let mut image = unsafe { image.assume_init() };
        // Point the planes at the frame's own layout (vpx_img_wrap assumes
        // its own, which differs for odd widths).
        for (i, plane) in [Plane::Y, Plane::U, Plane::V].into_iter().enumerate() {
            image.planes[i] = frame.plane(plane).as_ptr().cast_mut();
            image.stride[i] = frame.stride(plane) as c_int;
        }
        // SAFETY: `ctx` is initialized; `image` describes the frame's three
        // planes, which hold `stride * rows` bytes each (Frame's invariant)
        // and outlive this call. libvpx only reads the image (it copies it
        // into its own lookahead buffer), so the `*mut` casts above are
        // never written through.
        let status = unsafe {
            vpx_sys::vpx_codec_encode(
                &mut *self.ctx,
                &image,
                pts,
                duration,
                flags,
                c_ulong::from(vpx_sys::VPX_DL_REALTIME),
            )
        };
        check(&mut *self.ctx, status, "encode")?;
        self.force_keyframe = false;
        self.last_pts = pts;

        self.out.clear();
        let mut keyframe = false;
        let mut iter: vpx_sys::vpx_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: `ctx` is initialized and `iter` is the iterator libvpx
            // hands back between calls, starting from NULL.
            let packet = unsafe { vpx_sys::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if packet.is_null() {
                break;
            }
            // SAFETY: a non-null packet is valid until the next
            // get_cx_data/encode call. `kind` is read as its raw integer,
            // so an unknown kind cannot be an invalid enum value.
            let kind = unsafe { std::ptr::addr_of!((*packet).kind).cast::<u32>().read() };
            if kind != vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT as u32 {
                continue;
            }
            // SAFETY: for VPX_CODEC_CX_FRAME_PKT the `frame` member of the
            // union is the active one; `buf` holds `sz` bytes owned by the
            // encoder until the next call, copied out here at once.
            let bytes = unsafe {
                let f = (*packet).data.frame;
                if f.buf.is_null() {
                    &[][..]
                } else {
                    keyframe |= f.flags & vpx_sys::VPX_FRAME_IS_KEY != 0;
                    std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz as usize)
                }
            };
            self.out.extend_from_slice(bytes);
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            data: &self.out,
            keyframe,
            timestamp_us: frame.timestamp_us,
        }))
    }

    /// Create the libvpx encoder from `self.config` (the context is zeroed).
    fn init(&mut self) -> Result<()> {
        let c = self.config;
        let cfg = &mut self.cfg;
        cfg.g_w = c.width;
        cfg.g_h = c.height;
        cfg.g_threads = c.threads;
        cfg.g_timebase = vpx_rational {
            num: 1,
            den: 1_000_000,
        };
        cfg.g_error_resilient = vpx_sys::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_lag_in_frames = 0;
        cfg.g_pass = vpx_sys::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = c.bitrate_bps / 1000;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        cfg.rc_resize_allowed = 0;
        cfg.rc_dropframe_thresh = if c.drop_frames { 30 } else { 0 };
        cfg.kf_mode = vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = c.keyframe_interval;

        // SAFETY: `ctx` is zeroed (new, or after `destroy`), `cfg` is a
        // complete config from vpx_codec_enc_config_default, and the ABI
        // version is the one these bindings were generated for; libvpx
        // refuses a mismatch with VPX_CODEC_ABI_MISMATCH.
        let status = unsafe {
            vpx_sys::vpx_codec_enc_init_ver(
                &mut *self.ctx,
                vpx_sys::vpx_codec_vp8_cx(),
                &self.cfg,
                0,
                vpx_sys::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if let Err(e) = check(&mut *self.ctx, status, "encoder init") {
            // A failed init leaves nothing to destroy; start from zero again.
            // SAFETY: as in `new`, zero is a valid, un-initialized context.
            *self.ctx = unsafe { std::mem::zeroed() };
            return Err(e);
        }
        self.first_us = None;
        self.last_pts = -1;
        let screen = c.content == Content::Screen;
        self.control(ctrl::VP8E_SET_CPUUSED, c.cpu_used)?;
        self.control(ctrl::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        self.control(ctrl::VP8E_SET_STATIC_THRESHOLD, 1)?;
        self.control(
            ctrl::VP8E_SET_TOKEN_PARTITIONS,
            vpx_sys::vp8e_token_partitions::VP8_ONE_TOKENPARTITION as c_int,
        )?;
        self.control(ctrl::VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct(c.fps))?;
        self.control(ctrl::VP8E_SET_SCREEN_CONTENT_MODE, c_int::from(screen))?;
        Ok(())
    }

    /// Set an integer encoder control.
    fn control(&mut self, id: ctrl, value: c_int) -> Result<()> {
        // SAFETY: `ctx` is an initialized VP8 encoder, and every control
        // passed here takes one `int` argument (vp8cx.h's
        // VPX_CTRL_USE_TYPE declarations for these ids).
        let status = unsafe { vpx_sys::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        check(&mut *self.ctx, status, "encoder control")
    }

    fn destroy(&mut self) {
        if self.ctx.priv_.is_null() {
            return;
        }
        // SAFETY: a non-null `priv_` means `ctx` was initialized and not yet
        // destroyed; vpx_codec_destroy frees it, and we zero the context so
        // it is never destroyed twice.
        unsafe {
            vpx_sys::vpx_codec_destroy(&mut *self.ctx);
            *self.ctx = std::mem::zeroed();
        }
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// Largest key frame as a percentage of an average frame: WebRTC's
/// `MaxIntraTarget` (half the optimal buffer, 600 ms, in frames), at least 300 %.
fn max_intra_pct(fps: u32) -> c_int {
    let pct = 600 * fps / 2 / 10;
    pct.max(300) as c_int
}

/// libvpx's default VP8 encoder config for real-time usage.
fn default_cfg() -> Result<vpx_codec_enc_cfg_t> {
    let mut cfg = MaybeUninit::<vpx_codec_enc_cfg_t>::uninit();
    // SAFETY: vpx_codec_enc_config_default writes a complete config into
    // `cfg` when it returns VPX_CODEC_OK; usage 0 is the only VP8 usage.
    let status = unsafe {
        vpx_sys::vpx_codec_enc_config_default(
            vpx_sys::vpx_codec_vp8_cx(),
            cfg.as_mut_ptr(),
            0 as c_uint,
        )
    };
    if status != vpx_codec_err_t::VPX_CODEC_OK {
        return Err(VideoError::Codec {
            operation: "default encoder config",
            message: format!("{status:?}"),
        });
    }
    // SAFETY: the call succeeded, so `cfg` is initialized.
    Ok(unsafe { cfg.assume_init() })
}

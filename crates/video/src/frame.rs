//! The I420 frame every part of the crate passes around, and the capture clock.
//!
//! I420 is planar YUV 4:2:0: a full-size luma plane (Y) followed by two
//! quarter-size chroma planes (U = Cb, V = Cr), each chroma sample covering a
//! 2×2 block of pixels (odd sizes round the chroma planes up). It is what
//! libvpx encodes and decodes, so a frame goes from a source to the encoder,
//! and from the decoder to the renderer, without conversions. Samples use
//! BT.601 limited range (Y 16..=235, U/V 16..=240), the range VP8 decoders
//! and browsers assume for WebRTC video.
//!
//! All three planes live in one `Vec`, so a frame is one allocation that
//! [`Frame::resize`] and the `fill_*` conversions reuse: the real-time paths
//! keep one frame per stage and never allocate per frame.

use std::time::Instant;

use crate::error::{Result, VideoError};

/// Largest width or height of a frame (VP8 codes each in 14 bits).
pub const MAX_DIMENSION: u32 = 16_383;

/// One of the three planes of an I420 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Luma, full size.
    Y,
    /// Blue-difference chroma (Cb), half width and half height.
    U,
    /// Red-difference chroma (Cr), half width and half height.
    V,
}

impl Plane {
    fn index(self) -> usize {
        match self {
            Plane::Y => 0,
            Plane::U => 1,
            Plane::V => 2,
        }
    }
}

/// Black in BT.601 limited range: Y, U, V.
pub const BLACK_YUV: [u8; 3] = [16, 128, 128];

/// An I420 video frame with its capture time.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    /// Y, then U, then V.
    data: Vec<u8>,
    offsets: [usize; 3],
    strides: [usize; 3],
    /// When the frame was captured, in microseconds of a [`Clock`]
    /// (monotonic; the same clock as the audio for lip sync).
    pub timestamp_us: u64,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("timestamp_us", &self.timestamp_us)
            .finish_non_exhaustive()
    }
}

impl Frame {
    /// A black frame of `width` × `height` pixels (each 1 ..= [`MAX_DIMENSION`]).
    pub fn new(width: u32, height: u32) -> Result<Self> {
        let mut frame = Self {
            width: 0,
            height: 0,
            data: Vec::new(),
            offsets: [0; 3],
            strides: [0; 3],
            timestamp_us: 0,
        };
        frame.resize(width, height)?;
        frame.fill(BLACK_YUV);
        Ok(frame)
    }

    /// Change the frame's size, keeping its allocation when it is big
    /// enough. The pixels are unspecified afterwards: the caller overwrites
    /// them. Does nothing when the size is unchanged.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<()> {
        check_size(width, height)?;
        if (width, height) == (self.width, self.height) {
            return Ok(());
        }
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        self.width = width;
        self.height = height;
        self.strides = [w, cw, cw];
        self.offsets = [0, w * h, w * h + cw * ch];
        self.data.resize(w * h + 2 * cw * ch, 0);
        Ok(())
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width of the chroma planes (half the width, rounded up).
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }

    /// Height of the chroma planes (half the height, rounded up).
    pub fn chroma_height(&self) -> u32 {
        self.height.div_ceil(2)
    }

    /// Bytes from the start of one row of `plane` to the next.
    pub fn stride(&self, plane: Plane) -> usize {
        self.strides[plane.index()]
    }

    /// The samples of `plane`, row after row (`stride` bytes apart).
    pub fn plane(&self, plane: Plane) -> &[u8] {
        let i = plane.index();
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.data.len());
        &self.data[self.offsets[i]..end]
    }

    /// The samples of `plane`, writable.
    pub fn plane_mut(&mut self, plane: Plane) -> &mut [u8] {
        let i = plane.index();
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.data.len());
        &mut self.data[self.offsets[i]..end]
    }

    /// All three planes at once, writable: `[y, u, v]`.
    pub fn planes_mut(&mut self) -> [&mut [u8]; 3] {
        let (y, rest) = self.data.split_at_mut(self.offsets[1]);
        let (u, v) = rest.split_at_mut(self.offsets[2] - self.offsets[1]);
        [y, u, v]
    }

    /// The luma plane.
    pub fn y(&self) -> &[u8] {
        self.plane(Plane::Y)
    }

    /// The Cb plane.
    pub fn u(&self) -> &[u8] {
        self.plane(Plane::U)
    }

    /// The Cr plane.
    pub fn v(&self) -> &[u8] {
        self.plane(Plane::V)
    }

    /// The whole frame as one buffer: Y, U, V planes back to back with the
    /// strides above (today the rows are packed, so this is plain I420).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Paint the whole frame one colour, given as `[y, u, v]`.
    pub fn fill(&mut self, yuv: [u8; 3]) {
        let [y, u, v] = self.planes_mut();
        y.fill(yuv[0]);
        u.fill(yuv[1]);
        v.fill(yuv[2]);
    }

    /// The `[y, u, v]` samples at pixel (`x`, `y`), `None` outside the frame.
    pub fn yuv_at(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let (x, y) = (x as usize, y as usize);
        let c = (y / 2) * self.strides[1] + x / 2;
        Some([self.y()[y * self.strides[0] + x], self.u()[c], self.v()[c]])
    }

    /// Make this frame a copy of `other`, reusing this frame's allocation.
    pub fn copy_from(&mut self, other: &Frame) {
        self.width = other.width;
        self.height = other.height;
        self.offsets = other.offsets;
        self.strides = other.strides;
        self.timestamp_us = other.timestamp_us;
        self.data.clear();
        self.data.extend_from_slice(&other.data);
    }
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<()> {
    if (1..=MAX_DIMENSION).contains(&width) && (1..=MAX_DIMENSION).contains(&height) {
        Ok(())
    } else {
        Err(VideoError::invalid(format!(
            "a frame is 1..={MAX_DIMENSION} pixels wide and high, got {width}x{height}"
        )))
    }
}

/// A monotonic clock in microseconds, like `softphone_media::MediaClock`.
///
/// Sources stamp frames with it. For lip sync the audio and video clocks of
/// a call must share one epoch: build both from the same [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A clock whose zero is `epoch`.
    pub fn starting_at(epoch: Instant) -> Self {
        Self { epoch }
    }

    /// The instant this clock counts from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Microseconds since the epoch.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_have_i420_sizes_even_for_odd_dimensions() {
        let f = Frame::new(5, 3).unwrap();
        assert_eq!((f.chroma_width(), f.chroma_height()), (3, 2));
        assert_eq!(f.y().len(), 15);
        assert_eq!(f.u().len(), 6);
        assert_eq!(f.v().len(), 6);
        assert_eq!(f.as_bytes().len(), 27);
        assert_eq!(f.yuv_at(4, 2), Some(BLACK_YUV));
        assert_eq!(f.yuv_at(5, 0), None);
    }

    #[test]
    fn refuses_empty_and_oversized_frames() {
        assert!(Frame::new(0, 10).is_err());
        assert!(Frame::new(10, 0).is_err());
        assert!(Frame::new(MAX_DIMENSION + 1, 2).is_err());
        let mut f = Frame::new(4, 4).unwrap();
        assert!(f.resize(0, 0).is_err());
        assert_eq!(
            (f.width(), f.height()),
            (4, 4),
            "a refused resize changes nothing"
        );
    }

    #[test]
    fn planes_mut_writes_land_in_the_right_plane() {
        let mut f = Frame::new(4, 2).unwrap();
        let [y, u, v] = f.planes_mut();
        y[5] = 100;
        u[1] = 50;
        v[0] = 200;
        assert_eq!(f.yuv_at(1, 1), Some([100, 128, 200]));
        assert_eq!(f.yuv_at(2, 0), Some([16, 50, 128]));
    }

    #[test]
    fn resize_and_copy_reuse_the_allocation() {
        let mut f = Frame::new(64, 64).unwrap();
        let cap = f.data.capacity();
        f.resize(32, 16).unwrap();
        assert_eq!(f.as_bytes().len(), 32 * 16 * 3 / 2);
        let mut g = Frame::new(8, 8).unwrap();
        g.fill([1, 2, 3]);
        g.timestamp_us = 42;
        f.copy_from(&g);
        assert_eq!(f, g);
        assert_eq!(f.data.capacity(), cap);
    }

    #[test]
    fn clock_is_monotonic_from_its_epoch() {
        let epoch = Instant::now();
        let c = Clock::starting_at(epoch);
        let a = c.now_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = c.now_us();
        assert!(b >= a + 2_000, "{a} -> {b}");
        assert_eq!(c.epoch(), epoch);
    }
}

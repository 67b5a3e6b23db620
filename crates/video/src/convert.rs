//! Colour and size conversions into and out of I420.
//!
//! BT.601 limited range in 8-bit fixed point (the usual libyuv/ITU
//! coefficients scaled by 256), the convention WebRTC uses for VP8. All
//! conversions write into a buffer the caller keeps, so a stream of frames
//! reuses one allocation. Integer arithmetic only; the inner loops are
//! plain slices the compiler vectorises.

use crate::error::{Result, VideoError};
use crate::frame::{check_size, Frame, Plane};

/// An RGB colour, `[r, g, b]`.
pub type Rgb = [u8; 3];

/// Byte layout of a packed pixel buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 3 bytes per pixel: R, G, B.
    Rgb24,
    /// 4 bytes per pixel: R, G, B, A (alpha ignored).
    Rgba32,
    /// 4 bytes per pixel: B, G, R, unused (X11 32-bit TrueColor on
    /// little-endian machines, most screen grabs).
    Bgrx32,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb24 => 3,
            PixelFormat::Rgba32 | PixelFormat::Bgrx32 => 4,
        }
    }
}

#[inline(always)]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

#[inline(always)]
fn chroma(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u as u8, v as u8)
}

#[inline(always)]
fn clamp(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

/// The `[y, u, v]` of an RGB colour (BT.601 limited range).
pub fn rgb_to_yuv(rgb: Rgb) -> [u8; 3] {
    let (r, g, b) = (i32::from(rgb[0]), i32::from(rgb[1]), i32::from(rgb[2]));
    let (u, v) = chroma(r, g, b);
    [luma(r, g, b), u, v]
}

/// The RGB colour of `[y, u, v]` samples (BT.601 limited range).
pub fn yuv_to_rgb(yuv: [u8; 3]) -> Rgb {
    let c = 298 * (i32::from(yuv[0]) - 16) + 128;
    let (d, e) = (i32::from(yuv[1]) - 128, i32::from(yuv[2]) - 128);
    [
        clamp((c + 409 * e) >> 8),
        clamp((c - 100 * d - 208 * e) >> 8),
        clamp((c + 516 * d) >> 8),
    ]
}

impl Frame {
    /// Fill this frame from a packed RGB-family buffer of `width` × `height`
    /// pixels, rows `stride` bytes apart (screen capture, images). The frame
    /// takes the source's size. Each chroma sample is the colour of the mean
    /// of its 2×2 pixels.
    pub fn fill_from_packed(
        &mut self,
        src: &[u8],
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
    ) -> Result<()> {
        check_size(width, height)?;
        let bpp = format.bytes_per_pixel();
        check_buffer(src.len(), width as usize * bpp, height as usize, stride)?;
        self.resize(width, height)?;
        // One monomorphic loop per layout, so the pixel reads inline.
        match format {
            PixelFormat::Rgb24 => self.packed_to_i420::<3>(src, stride, |p| (p[0], p[1], p[2])),
            PixelFormat::Rgba32 => self.packed_to_i420::<4>(src, stride, |p| (p[0], p[1], p[2])),
            PixelFormat::Bgrx32 => self.packed_to_i420::<4>(src, stride, |p| (p[2], p[1], p[0])),
        }
        Ok(())
    }

    /// The body of [`fill_from_packed`](Self::fill_from_packed): `B` bytes
    /// per pixel, `rgb` reads one pixel. The frame already has the size.
    fn packed_to_i420<const B: usize>(
        &mut self,
        src: &[u8],
        stride: usize,
        rgb: impl Fn(&[u8]) -> (u8, u8, u8),
    ) {
        let (w, h) = (self.width() as usize, self.height() as usize);
        let (ys, cs) = (self.stride(Plane::Y), self.stride(Plane::U));
        let px = |p: &[u8]| {
            let (r, g, b) = rgb(p);
            (i32::from(r), i32::from(g), i32::from(b))
        };
        let [yp, up, vp] = self.planes_mut();
        for cy in 0..h.div_ceil(2) {
            // An odd last row pairs with itself (and writes no second luma row).
            let two = 2 * cy + 1 < h;
            let row0 = &src[2 * cy * stride..][..w * B];
            let row1 = if two {
                &src[(2 * cy + 1) * stride..][..w * B]
            } else {
                row0
            };
            let (y0, rest) = yp[2 * cy * ys..].split_at_mut(ys);
            let y1 = if two {
                &mut rest[..w]
            } else {
                &mut [0u8; 0][..]
            };
            let (ur, vr) = (&mut up[cy * cs..][..cs], &mut vp[cy * cs..][..cs]);
            for cx in 0..cs {
                let (x0, x1) = (2 * cx, (2 * cx + 1).min(w - 1));
                let (a, b) = (px(&row0[x0 * B..][..B]), px(&row0[x1 * B..][..B]));
                let (c, d) = (px(&row1[x0 * B..][..B]), px(&row1[x1 * B..][..B]));
                y0[x0] = luma(a.0, a.1, a.2);
                y0[x1] = luma(b.0, b.1, b.2);
                if two {
                    y1[x0] = luma(c.0, c.1, c.2);
                    y1[x1] = luma(d.0, d.1, d.2);
                }
                let (u, v) = chroma(
                    (a.0 + b.0 + c.0 + d.0 + 2) >> 2,
                    (a.1 + b.1 + c.1 + d.1 + 2) >> 2,
                    (a.2 + b.2 + c.2 + d.2 + 2) >> 2,
                );
                ur[cx] = u;
                vr[cx] = v;
            }
        }
    }

    /// Fill this frame from packed YUYV 4:2:2 (YUY2, the usual uncompressed
    /// camera format): `Y0 U Y1 V` per pixel pair, rows `stride` bytes apart.
    /// Chroma of two rows is averaged into one.
    pub fn fill_from_yuyv(
        &mut self,
        src: &[u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Result<()> {
        check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let row_bytes = 2 * w.next_multiple_of(2);
        check_buffer(src.len(), row_bytes, h, stride)?;
        self.resize(width, height)?;
        let (ys, cs) = (self.stride(Plane::Y), self.stride(Plane::U));
        let [yp, up, vp] = self.planes_mut();
        for y in 0..h {
            let row = &src[y * stride..][..row_bytes];
            for (x, out) in yp[y * ys..][..w].iter_mut().enumerate() {
                *out = row[2 * x];
            }
        }
        for cy in 0..h.div_ceil(2) {
            let row0 = &src[2 * cy * stride..][..row_bytes];
            let row1 = &src[(2 * cy + 1).min(h - 1) * stride..][..row_bytes];
            let (ur, vr) = (&mut up[cy * cs..][..cs], &mut vp[cy * cs..][..cs]);
            for cx in 0..cs {
                let (a, b) = (&row0[4 * cx..4 * cx + 4], &row1[4 * cx..4 * cx + 4]);
                ur[cx] = ((u16::from(a[1]) + u16::from(b[1]) + 1) >> 1) as u8;
                vr[cx] = ((u16::from(a[3]) + u16::from(b[3]) + 1) >> 1) as u8;
            }
        }
        Ok(())
    }

    /// Write the frame as RGBA (alpha 255), `width * 4` bytes per row, into
    /// `out`, which is resized to fit (and keeps its allocation).
    pub fn write_rgba(&self, out: &mut Vec<u8>) {
        let (w, h) = (self.width() as usize, self.height() as usize);
        out.resize(w * h * 4, 0);
        let (ys, cs) = (self.stride(Plane::Y), self.stride(Plane::U));
        let (yp, up, vp) = (self.y(), self.u(), self.v());
        for (y, row) in out.chunks_exact_mut(w * 4).enumerate() {
            let yr = &yp[y * ys..][..w];
            let (ur, vr) = (&up[(y / 2) * cs..][..cs], &vp[(y / 2) * cs..][..cs]);
            // Two pixels per chroma sample: its terms are computed once.
            let mut pairs = row.chunks_exact_mut(8);
            let mut lumas = yr.chunks_exact(2);
            for (((px, luma), &u), &v) in (&mut pairs).zip(&mut lumas).zip(ur).zip(vr) {
                let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
                let (r, g, b) = (409 * e, -100 * d - 208 * e, 516 * d);
                for (px, &l) in px.chunks_exact_mut(4).zip(luma) {
                    let c = 298 * (i32::from(l) - 16) + 128;
                    px.copy_from_slice(&[
                        clamp((c + r) >> 8),
                        clamp((c + g) >> 8),
                        clamp((c + b) >> 8),
                        255,
                    ]);
                }
            }
            // An odd width leaves one pixel.
            if let (Some(&l), px) = (lumas.remainder().first(), pairs.into_remainder()) {
                let rgb = yuv_to_rgb([l, ur[cs - 1], vr[cs - 1]]);
                px.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
            }
        }
    }

    /// Scale this frame into `dst`, whose size says the target size
    /// (bilinear; good for ratios up to 2:1, aliasing beyond). The
    /// timestamp is copied.
    pub fn scale_into(&self, dst: &mut Frame) {
        dst.timestamp_us = self.timestamp_us;
        for plane in [Plane::Y, Plane::U, Plane::V] {
            let (sw, sh, dw, dh) = match plane {
                Plane::Y => (self.width(), self.height(), dst.width(), dst.height()),
                _ => (
                    self.chroma_width(),
                    self.chroma_height(),
                    dst.chroma_width(),
                    dst.chroma_height(),
                ),
            };
            let (ss, ds) = (self.stride(plane), dst.stride(plane));
            scale_plane(
                self.plane(plane),
                ss,
                (sw, sh),
                dst.plane_mut(plane),
                ds,
                (dw, dh),
            );
        }
    }
}

/// Source positions of the destination samples `0..dst`, in 16.16 fixed
/// point, sample centres aligned: `(i + ½) · src / dst − ½`, clamped at 0.
/// Stepped by addition (no division per sample).
fn source_positions(src: u32, dst: u32) -> impl Iterator<Item = u32> {
    let step = (u64::from(src) << 16) / u64::from(dst);
    let start = (step / 2) as i64 - (1 << 15);
    (0..u64::from(dst)).map(move |i| (start + (i * step) as i64).max(0) as u32)
}

/// Split a 16.16 source position into the two neighbours and the weight
/// (0..=255) of the second.
#[inline(always)]
fn taps(pos: u32, len: u32) -> (usize, usize, u32) {
    let i0 = (pos >> 16).min(len - 1) as usize;
    (i0, (i0 + 1).min(len as usize - 1), (pos >> 8) & 0xff)
}

fn scale_plane(
    src: &[u8],
    ss: usize,
    (sw, sh): (u32, u32),
    dst: &mut [u8],
    ds: usize,
    (dw, dh): (u32, u32),
) {
    for (y, py) in source_positions(sh, dh).enumerate() {
        let (y0, y1, fy) = taps(py, sh);
        let (r0, r1) = (
            &src[y0 * ss..][..sw as usize],
            &src[y1 * ss..][..sw as usize],
        );
        let row = &mut dst[y * ds..][..dw as usize];
        for (out, px) in row.iter_mut().zip(source_positions(sw, dw)) {
            let (x0, x1, fx) = taps(px, sw);
            let top = u32::from(r0[x0]) * (256 - fx) + u32::from(r0[x1]) * fx;
            let bottom = u32::from(r1[x0]) * (256 - fx) + u32::from(r1[x1]) * fx;
            *out = ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8;
        }
    }
}

fn check_buffer(len: usize, row_bytes: usize, rows: usize, stride: usize) -> Result<()> {
    if stride < row_bytes {
        return Err(VideoError::invalid(format!(
            "stride {stride} is shorter than a row ({row_bytes} bytes)"
        )));
    }
    let needed = stride * (rows - 1) + row_bytes;
    if len < needed {
        return Err(VideoError::invalid(format!(
            "pixel buffer of {len} bytes is too short: {rows} rows need {needed}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLOURS: [Rgb; 9] = [
        [0, 0, 0],
        [255, 255, 255],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [191, 191, 0],
        [0, 191, 191],
        [191, 0, 191],
        [90, 140, 30],
    ];

    fn close(a: Rgb, b: Rgb, tolerance: u8) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
    }

    #[test]
    fn known_colours_have_their_bt601_values() {
        assert_eq!(rgb_to_yuv([0, 0, 0]), [16, 128, 128]);
        assert_eq!(rgb_to_yuv([255, 255, 255]), [235, 128, 128]);
        // The textbook limited-range values of pure red, green and blue
        // (green's Y is 144.5 exactly; the fixed-point formula, like
        // libyuv's, rounds it down).
        assert_eq!(rgb_to_yuv([255, 0, 0]), [82, 90, 240]);
        assert_eq!(rgb_to_yuv([0, 255, 0]), [144, 54, 34]);
        assert_eq!(rgb_to_yuv([0, 0, 255]), [41, 240, 110]);
    }

    #[test]
    fn colours_survive_rgb_to_i420_to_rgba() {
        for format in [PixelFormat::Rgb24, PixelFormat::Rgba32, PixelFormat::Bgrx32] {
            let bpp = format.bytes_per_pixel();
            // One colour per 2x2 block so chroma subsampling keeps them apart.
            let (w, h) = (2 * COLOURS.len() as u32, 2);
            let stride = w as usize * bpp + 3; // padded rows
            let mut src = vec![0xAA; stride * 2];
            for y in 0..2 {
                for x in 0..w as usize {
                    let [r, g, b] = COLOURS[x / 2];
                    let px = &mut src[y * stride + x * bpp..][..bpp];
                    match format {
                        PixelFormat::Bgrx32 => px[..3].copy_from_slice(&[b, g, r]),
                        _ => px[..3].copy_from_slice(&[r, g, b]),
                    }
                }
            }
            let mut frame = Frame::new(1, 1).unwrap();
            frame.fill_from_packed(&src, w, h, stride, format).unwrap();
            let mut rgba = Vec::new();
            frame.write_rgba(&mut rgba);
            assert_eq!(rgba.len(), (w * h * 4) as usize);
            for (x, px) in rgba.chunks_exact(4).take(w as usize).enumerate() {
                let want = COLOURS[x / 2];
                assert!(
                    close([px[0], px[1], px[2]], want, 3),
                    "{format:?}: pixel {x} is {px:?}, want {want:?}"
                );
                assert_eq!(px[3], 255);
            }
        }
    }

    #[test]
    fn a_colour_survives_yuv_round_trip() {
        for c in COLOURS {
            let back = yuv_to_rgb(rgb_to_yuv(c));
            assert!(close(back, c, 3), "{c:?} came back as {back:?}");
        }
    }

    #[test]
    fn odd_sizes_convert_every_pixel() {
        let (w, h) = (3, 3);
        let src: Vec<u8> = [255, 0, 0].repeat(9);
        let mut frame = Frame::new(1, 1).unwrap();
        frame
            .fill_from_packed(&src, w, h, 9, PixelFormat::Rgb24)
            .unwrap();
        let mut rgba = Vec::new();
        frame.write_rgba(&mut rgba);
        for px in rgba.chunks_exact(4) {
            assert!(close([px[0], px[1], px[2]], [255, 0, 0], 3), "{px:?}");
        }
    }

    #[test]
    fn short_buffers_and_strides_are_errors() {
        let mut frame = Frame::new(2, 2).unwrap();
        let src = vec![0; 11];
        assert!(frame
            .fill_from_packed(&src, 2, 2, 6, PixelFormat::Rgb24)
            .is_err());
        assert!(frame
            .fill_from_packed(&src, 2, 2, 5, PixelFormat::Rgb24)
            .is_err());
        assert!(frame.fill_from_yuyv(&src, 4, 2, 8).is_err());
        assert!(frame
            .fill_from_packed(&[], 0, 0, 0, PixelFormat::Rgb24)
            .is_err());
        assert_eq!((frame.width(), frame.height()), (2, 2));
    }

    #[test]
    fn yuyv_keeps_luma_and_averages_chroma_rows() {
        // 2x2: row 0 Y=50,60 U=100 V=200; row 1 Y=70,80 U=110 V=210.
        let src = [50, 100, 60, 200, 70, 110, 80, 210];
        let mut frame = Frame::new(1, 1).unwrap();
        frame.fill_from_yuyv(&src, 2, 2, 4).unwrap();
        assert_eq!(frame.y(), &[50, 60, 70, 80]);
        assert_eq!(frame.u(), &[105]);
        assert_eq!(frame.v(), &[205]);
    }

    #[test]
    fn scaling_halves_a_checkerboard_to_grey_and_keeps_flat_areas() {
        let mut src = Frame::new(8, 4).unwrap();
        src.fill([128, 60, 200]);
        for (i, y) in src.plane_mut(Plane::Y).iter_mut().enumerate() {
            *y = if (i % 8 + i / 8) % 2 == 0 { 16 } else { 236 };
        }
        src.timestamp_us = 7;
        let mut dst = Frame::new(4, 2).unwrap();
        src.scale_into(&mut dst);
        assert!(dst.y().iter().all(|&y| y == 126), "{:?}", dst.y());
        assert!(dst.u().iter().all(|&u| u == 60));
        assert!(dst.v().iter().all(|&v| v == 200));
        assert_eq!(dst.timestamp_us, 7);
        // A non-integer ratio (like 1280 -> 1152) follows a gradient: each
        // sample is the source's value at (x + 1/2) * 100 / 64 - 1/2.
        let mut ramp = Frame::new(100, 2).unwrap();
        let stride = ramp.stride(Plane::Y);
        for (i, y) in ramp.plane_mut(Plane::Y).iter_mut().enumerate() {
            *y = (16 + 2 * (i % stride)) as u8;
        }
        let mut narrow = Frame::new(64, 2).unwrap();
        ramp.scale_into(&mut narrow);
        for (x, &got) in narrow.y()[..64].iter().enumerate() {
            let pos = ((x as f64 + 0.5) * 100.0 / 64.0 - 0.5).max(0.0);
            let want = 16.0 + 2.0 * pos;
            assert!(
                (f64::from(got) - want).abs() <= 1.0,
                "x {x}: {got}, want {want:.1}"
            );
        }
        // Upscaling a flat frame stays flat.
        let mut big = Frame::new(13, 7).unwrap();
        dst.scale_into(&mut big);
        assert!(big.u().iter().all(|&u| u == 60));
    }
}

//! MJPEG camera frames to I420, through zune-jpeg (pure Rust).

use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::convert::PixelFormat;
use crate::error::{Result, VideoError};
use crate::frame::Frame;

/// An APP0 segment saying "AVI1": zune-jpeg then fills in the standard
/// Huffman tables that MJPEG frames may leave out.
const AVI1_APP0: [u8; 9] = [0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0];

/// Whether a JPEG's header segments end (at the scan) without a Huffman
/// table: the AVI MJPEG convention many UVC cameras follow.
fn lacks_huffman_tables(data: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= data.len() && data[i] == 0xFF {
        match data[i + 1] {
            0xC4 => return false,
            0xDA => return true,
            0xFF => i += 1, // fill byte
            _ => i += 2 + usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]])),
        }
    }
    false
}

/// Decodes MJPEG camera frames into I420 [`Frame`]s, reusing its buffers.
#[derive(Debug, Default)]
pub struct MjpegDecoder {
    /// The frame with an AVI1 marker added, when it lacks Huffman tables.
    jpeg: Vec<u8>,
    /// The decoded RGB picture.
    rgb: Vec<u8>,
}

impl MjpegDecoder {
    /// Decode one MJPEG frame (a baseline JPEG; Huffman tables optional)
    /// into `frame`, which takes the picture's size.
    pub fn decode(&mut self, data: &[u8], frame: &mut Frame) -> Result<()> {
        let data = if data.len() > 2 && lacks_huffman_tables(data) {
            self.jpeg.clear();
            self.jpeg.extend_from_slice(&data[..2]);
            self.jpeg.extend_from_slice(&AVI1_APP0);
            self.jpeg.extend_from_slice(&data[2..]);
            &self.jpeg[..]
        } else {
            data
        };
        decode_rgb(data, &mut self.rgb, frame)
    }
}

fn decode_rgb(data: &[u8], rgb: &mut Vec<u8>, frame: &mut Frame) -> Result<()> {
    let bad = |e: &dyn std::fmt::Display| VideoError::Jpeg(e.to_string());
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder.decode_headers().map_err(|e| bad(&e))?;
    let (w, h) = decoder.dimensions().ok_or_else(|| bad(&"no dimensions"))?;
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| bad(&"no size"))?;
    rgb.resize(size, 0);
    decoder.decode_into(rgb).map_err(|e| bad(&e))?;
    let (w, h) = (
        u32::try_from(w).map_err(|e| bad(&e))?,
        u32::try_from(h).map_err(|e| bad(&e))?,
    );
    frame.fill_from_packed(rgb, w, h, w as usize * 3, PixelFormat::Rgb24)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = include_bytes!("../../tests/fixtures/red-blue-64x32.jpg");

    fn close(px: &[u8], want: [u8; 3]) -> bool {
        px.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 24)
    }

    fn check_red_blue(frame: &Frame) {
        assert_eq!((frame.width(), frame.height()), (64, 32));
        let mut rgba = Vec::new();
        frame.write_rgba(&mut rgba);
        let at = |x: usize, y: usize| &rgba[(y * 64 + x) * 4..][..3];
        assert!(close(at(8, 16), [255, 0, 0]), "{:?}", at(8, 16));
        assert!(close(at(56, 16), [0, 0, 255]), "{:?}", at(56, 16));
    }

    #[test]
    fn mjpeg_frames_decode_to_their_colours() {
        let mut frame = Frame::new(2, 2).unwrap();
        let mut decoder = MjpegDecoder::default();
        assert!(!lacks_huffman_tables(JPEG));
        decoder.decode(JPEG, &mut frame).unwrap();
        check_red_blue(&frame);
        assert!(decoder.jpeg.is_empty(), "a complete JPEG is not copied");
    }

    #[test]
    fn mjpeg_without_huffman_tables_uses_the_standard_ones() {
        // Cameras leave the DHT segments out (the AVI MJPEG convention).
        let mut stripped = JPEG[..2].to_vec();
        let mut i = 2;
        while i + 4 <= JPEG.len() && JPEG[i] == 0xFF && JPEG[i + 1] != 0xDA {
            let len = usize::from(u16::from_be_bytes([JPEG[i + 2], JPEG[i + 3]]));
            if JPEG[i + 1] != 0xC4 {
                stripped.extend_from_slice(&JPEG[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        stripped.extend_from_slice(&JPEG[i..]);
        assert!(
            stripped.len() < JPEG.len(),
            "the fixture had Huffman tables to strip"
        );
        assert!(lacks_huffman_tables(&stripped));
        let mut frame = Frame::new(2, 2).unwrap();
        MjpegDecoder::default()
            .decode(&stripped, &mut frame)
            .unwrap();
        check_red_blue(&frame);
    }

    #[test]
    fn broken_mjpeg_is_an_error() {
        let mut frame = Frame::new(2, 2).unwrap();
        for data in [
            &[][..],
            &[0xFF, 0xD8],
            &JPEG[..JPEG.len() / 3],
            &[0x55; 500],
        ] {
            let r = MjpegDecoder::default().decode(data, &mut frame);
            assert!(matches!(r, Err(VideoError::Jpeg(_))), "{r:?}");
        }
    }
}

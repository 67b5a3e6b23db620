//! One video frame as the window receives it: a small fixed header, the
//! stream's key and owner, then the picture as planar I420 (what the
//! decoder gives, 1.5 bytes a pixel: RGBA would be 4), in one binary
//! message (`InvokeResponseBody::Raw`; no JSON, no base64). The UI parses
//! it in `ui/src/lib/video.ts` (`parseFrame`), converts it to RGBA into a
//! reused `ImageData` (`i420ToRgba`) and draws it with `putImageData`.
//!
//! The bytes matter more than the conversion: every message crosses the
//! app's main thread (WebKitGTK's UI process) on its way to the page, and
//! with RGBA at 640×360 that thread was saturated at ~18 frames a second
//! (desktop e2e, debug build).
//!
//! ```text
//! offset  size  field
//!  0      4     magic "SPVF"
//!  4      1     version (1)
//!  5      1     flags: bit 0 = our own camera (preview)
//!  6      2     K: length of the stream key (UTF-8), little endian
//!  8      2     O: length of the owner's user id (UTF-8; 0: unknown)
//! 10      1     pixel format: 1 = I420
//! 11      1     reserved (0)
//! 12      4     width (pixels)
//! 16      4     height
//! 20      4     sequence number (per window, wraps)
//! 24      K     stream key: the track's stream id, `local` for the preview
//! 24+K    O     owner's user id
//! 24+K+O  Y (w·h), then U and V (⌈w/2⌉·⌈h/2⌉ each), rows top to bottom,
//!               no padding (BT.601 limited range)
//! ```

use softphone_video::frame::Plane;
use softphone_video::Frame;

/// The first four bytes of every frame message.
pub const MAGIC: &[u8; 4] = b"SPVF";
/// The layout above.
pub const VERSION: u8 = 1;
/// Bytes before the stream key.
pub const HEADER_LEN: usize = 24;
/// Pixel format: planar I420.
pub const FORMAT_I420: u8 = 1;
/// Flag: the frame is our own camera's (preview).
pub const FLAG_LOCAL: u8 = 1;
/// The stream key of our own preview.
pub const LOCAL_KEY: &str = "local";

/// Who a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta<'a> {
    /// Our own camera.
    pub local: bool,
    /// Which stream (one tile per key).
    pub key: &'a str,
    /// Whose (a user id), empty when unknown.
    pub owner: &'a str,
    /// Sequence number.
    pub seq: u32,
}

/// Writes `frame` with `meta` as one message into `out` (cleared first).
pub fn encode(meta: &FrameMeta<'_>, frame: &Frame, out: &mut Vec<u8>) {
    let key = clip(meta.key);
    let owner = clip(meta.owner);
    out.clear();
    out.reserve(HEADER_LEN + key.len() + owner.len() + i420_len(frame));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(if meta.local { FLAG_LOCAL } else { 0 });
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(&(owner.len() as u16).to_le_bytes());
    out.extend_from_slice(&[FORMAT_I420, 0]);
    out.extend_from_slice(&frame.width().to_le_bytes());
    out.extend_from_slice(&frame.height().to_le_bytes());
    out.extend_from_slice(&meta.seq.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(owner.as_bytes());
    let (w, cw) = (frame.width() as usize, frame.chroma_width() as usize);
    for (plane, width, rows) in [
        (Plane::Y, w, frame.height()),
        (Plane::U, cw, frame.chroma_height()),
        (Plane::V, cw, frame.chroma_height()),
    ] {
        let stride = frame.stride(plane);
        let samples = frame.plane(plane);
        for row in 0..rows as usize {
            out.extend_from_slice(&samples[row * stride..][..width]);
        }
    }
}

/// The bytes of `frame` as packed I420.
fn i420_len(frame: &Frame) -> usize {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let (cw, ch) = (
        frame.chroma_width() as usize,
        frame.chroma_height() as usize,
    );
    w * h + 2 * cw * ch
}

/// At most 255 bytes, cut on a character boundary (ids are short; a
/// length that fits the header whatever comes).
fn clip(s: &str) -> &str {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A parsed message (the Rust twin of the UI's parser, for tests).
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// See [`FrameMeta`].
    pub local: bool,
    /// Stream key.
    pub key: &'a str,
    /// Owner.
    pub owner: &'a str,
    /// Size.
    pub width: u32,
    /// Size.
    pub height: u32,
    /// Sequence number.
    pub seq: u32,
    /// Packed I420.
    pub i420: &'a [u8],
}

/// Reads a message back; `None` if it is not one.
pub fn parse(b: &[u8]) -> Option<Parsed<'_>> {
    if b.len() < HEADER_LEN || &b[0..4] != MAGIC || b[4] != VERSION || b[10] != FORMAT_I420 {
        return None;
    }
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let (k, o) = (u16_at(6), u16_at(8));
    let (width, height) = (u32_at(12), u32_at(16));
    let start = HEADER_LEN + k + o;
    let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
    let len = width as usize * height as usize + 2 * cw * ch;
    if b.len() != start + len {
        return None;
    }
    Some(Parsed {
        local: b[5] & FLAG_LOCAL != 0,
        key: std::str::from_utf8(&b[HEADER_LEN..HEADER_LEN + k]).ok()?,
        owner: std::str::from_utf8(&b[HEADER_LEN + k..start]).ok()?,
        width,
        height,
        seq: u32_at(20),
        i420: &b[start..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_video::pattern::{count_bar_colours, BAR_COLOURS};
    use softphone_video::source::{open_source, SourceConfig};
    use softphone_video::SourceId;

    #[test]
    fn a_frame_round_trips_with_its_key_owner_and_pixels() {
        let mut frame = Frame::new(4, 2).unwrap();
        frame.fill([235, 128, 128]); // white
        let meta = FrameMeta {
            local: false,
            key: "alice/desktop-1",
            owner: "alice",
            seq: 7,
        };
        let mut out = vec![9; 3];
        encode(&meta, &frame, &mut out);
        assert_eq!(&out[..4], b"SPVF");
        assert_eq!(out.len(), HEADER_LEN + 15 + 5 + 4 * 2 + 2 * 2);
        let p = parse(&out).unwrap();
        assert_eq!(
            (p.local, p.key, p.owner, p.width, p.height, p.seq),
            (false, "alice/desktop-1", "alice", 4, 2, 7)
        );
        assert_eq!(
            p.i420,
            [235, 235, 235, 235, 235, 235, 235, 235, 128, 128, 128, 128]
        );
    }

    #[test]
    fn the_preview_is_flagged_and_long_ids_are_cut_on_a_character() {
        let frame = Frame::new(3, 3).unwrap(); // odd: chroma rounds up
        let long = "é".repeat(200); // 400 bytes
        let meta = FrameMeta {
            local: true,
            key: LOCAL_KEY,
            owner: &long,
            seq: u32::MAX,
        };
        let mut out = Vec::new();
        encode(&meta, &frame, &mut out);
        let p = parse(&out).unwrap();
        assert!(p.local);
        assert_eq!(p.i420.len(), 9 + 2 * 4);
        assert_eq!(p.owner.len(), 254);
        assert_eq!(p.seq, u32::MAX);
        assert!(parse(&out[..out.len() - 1]).is_none(), "truncated");
        assert!(parse(b"nope").is_none());
    }

    #[test]
    fn the_test_pattern_keeps_its_bar_colours() {
        let config = SourceConfig {
            width: 320,
            height: 180,
            ..SourceConfig::default()
        };
        let mut source = open_source(&SourceId::Pattern, config).unwrap();
        let mut frame = Frame::new(320, 180).unwrap();
        source.read_frame(&mut frame).unwrap();
        let mut out = Vec::new();
        let meta = FrameMeta {
            local: false,
            key: "s",
            owner: "",
            seq: 0,
        };
        encode(&meta, &frame, &mut out);
        let p = parse(&out).unwrap();
        // Back to a frame, as the page's conversion does, then to RGBA.
        let mut back = Frame::new(p.width, p.height).unwrap();
        back.planes_mut().into_iter().fold(p.i420, |rest, plane| {
            let (this, rest) = rest.split_at(plane.len());
            plane.copy_from_slice(this);
            rest
        });
        let mut rgba = Vec::new();
        back.write_rgba(&mut rgba);
        let found = count_bar_colours(&rgba, 12);
        assert_eq!(found, BAR_COLOURS.len(), "bars found: {found}");
    }
}

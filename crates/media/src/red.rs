//! Audio redundancy (RED, RFC 2198): each packet also carries copies of the
//! previous one or two Opus frames, so a packet lost at random is rebuilt
//! from the next one at full quality. Opus's in-band FEC alone rebuilds it
//! at a much lower bitrate, and not at all when two packets in a row are
//! lost (see `docs/media.md` for the figures).
//!
//! Wire format (RFC 2198 §3): one 4-byte header per redundant block
//! (`F=1`, payload type, 14-bit timestamp offset, 10-bit length), oldest
//! first, then a 1-byte header (`F=0`, payload type) for the primary
//! block; then the blocks' bytes in the same order.
//!
//! Pure code: no clock, no allocation beyond the output buffer.

use crate::FRAME_SAMPLES;
use std::collections::VecDeque;

/// The most redundant copies a packet carries.
pub const MAX_REDUNDANCY: usize = 2;
/// RFC 2198's block length is 10 bits.
const MAX_BLOCK_LEN: usize = 1023;

/// Wraps each new Opus frame with copies of the previous ones.
#[derive(Debug)]
pub struct RedEncoder {
    payload_type: u8,
    history: VecDeque<Vec<u8>>,
}

impl RedEncoder {
    /// Blocks are labelled with `payload_type` (the negotiated Opus one).
    pub fn new(payload_type: u8) -> Self {
        Self {
            payload_type: payload_type & 0x7f,
            history: VecDeque::with_capacity(MAX_REDUNDANCY + 1),
        }
    }

    /// The RED payload for `primary`, carrying up to `redundancy` (at most
    /// [`MAX_REDUNDANCY`]) previous frames. Frames too large for a RED
    /// block are sent without copies rather than not at all.
    pub fn encode(&mut self, primary: &[u8], redundancy: usize) -> Vec<u8> {
        let redundancy = redundancy.min(MAX_REDUNDANCY).min(self.history.len());
        let len = self.history.len();
        // Oldest first, each with its distance in frames from `primary`.
        let copies: Vec<(usize, &Vec<u8>)> = self
            .history
            .iter()
            .enumerate()
            .skip(len - redundancy)
            .map(|(i, frame)| (len - i, frame))
            .filter(|(_, frame)| !frame.is_empty() && frame.len() <= MAX_BLOCK_LEN)
            .collect();
        let size = copies.iter().map(|(_, f)| 4 + f.len()).sum::<usize>() + 1 + primary.len();
        let mut out = Vec::with_capacity(size);
        for (distance, frame) in &copies {
            let offset = (*distance * FRAME_SAMPLES) as u32;
            let len = frame.len() as u32;
            out.push(0x80 | self.payload_type);
            out.extend_from_slice(&[
                (offset >> 6) as u8,
                (((offset & 0x3f) << 2) | (len >> 8)) as u8,
            ]);
            out.push((len & 0xff) as u8);
        }
        out.push(self.payload_type);
        for (_, frame) in &copies {
            out.extend_from_slice(frame);
        }
        out.extend_from_slice(primary);

        if self.history.len() == MAX_REDUNDANCY {
            self.history.pop_front();
        }
        self.history.push_back(primary.to_vec());
        out
    }
}

/// One block of a RED payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// How far (in 48 kHz timestamp units) before the packet's own
    /// timestamp this block's audio starts; 0 for the primary block.
    pub timestamp_offset: u32,
    /// The block's payload (an Opus frame).
    pub payload: &'a [u8],
}

/// Why a RED payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed RED payload: {0}")]
pub struct RedError(&'static str);

/// Splits a RED payload into its redundant blocks (oldest first) and the
/// primary block.
pub fn parse_red(payload: &[u8]) -> Result<(Vec<RedBlock<'_>>, RedBlock<'_>), RedError> {
    let mut headers = Vec::new();
    let mut pos = 0;
    loop {
        let first = *payload
            .get(pos)
            .ok_or(RedError("ends inside its headers"))?;
        if first & 0x80 == 0 {
            pos += 1;
            break;
        }
        let h = payload
            .get(pos..pos + 4)
            .ok_or(RedError("ends inside a block header"))?;
        let offset = (u32::from(h[1]) << 6) | (u32::from(h[2]) >> 2);
        let len = ((usize::from(h[2]) & 0x03) << 8) | usize::from(h[3]);
        headers.push((offset, len));
        if headers.len() > 8 {
            return Err(RedError("more than 8 redundant blocks"));
        }
        pos += 4;
    }
    let mut blocks = Vec::with_capacity(headers.len());
    for (offset, len) in headers {
        let body = payload
            .get(pos..pos + len)
            .ok_or(RedError("a block is longer than the packet"))?;
        blocks.push(RedBlock {
            timestamp_offset: offset,
            payload: body,
        });
        pos += len;
    }
    let primary = RedBlock {
        timestamp_offset: 0,
        payload: &payload[pos..],
    };
    Ok((blocks, primary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_two_copies() {
        let mut enc = RedEncoder::new(111);
        let frames: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 50 + usize::from(i)]).collect();
        let mut last = Vec::new();
        for f in &frames {
            last = enc.encode(f, 2);
        }
        let (blocks, primary) = parse_red(&last).expect("valid");
        assert_eq!(primary.payload, &frames[3][..]);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].payload, &frames[1][..]);
        assert_eq!(blocks[0].timestamp_offset, 2 * FRAME_SAMPLES as u32);
        assert_eq!(blocks[1].payload, &frames[2][..]);
        assert_eq!(blocks[1].timestamp_offset, FRAME_SAMPLES as u32);
    }

    #[test]
    fn first_packet_and_zero_redundancy_carry_only_the_primary() {
        let mut enc = RedEncoder::new(111);
        let out = enc.encode(&[1, 2, 3], 2);
        assert_eq!(out, vec![111, 1, 2, 3]);
        let out = enc.encode(&[4, 5], 0);
        assert_eq!(out, vec![111, 4, 5]);
        let (blocks, primary) = parse_red(&out).unwrap();
        assert!(blocks.is_empty());
        assert_eq!(primary.payload, &[4, 5]);
    }

    #[test]
    fn oversized_frames_are_not_copied() {
        let mut enc = RedEncoder::new(111);
        enc.encode(&vec![7; 1500], 1);
        let out = enc.encode(&[1], 1);
        let (blocks, primary) = parse_red(&out).unwrap();
        assert!(blocks.is_empty());
        assert_eq!(primary.payload, &[1]);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        assert!(parse_red(&[]).is_err());
        assert!(parse_red(&[0x80 | 111, 0, 0]).is_err());
        // Claims a 100-byte block in a 6-byte packet.
        assert!(parse_red(&[0x80 | 111, 0x0f, 0x00, 100, 111, 1]).is_err());
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 0x81) as u8).collect();
            let _ = parse_red(&junk);
        }
    }
}

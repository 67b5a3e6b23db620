//! The human-readable counter: seven-segment digits in the top band.

use super::fill_rect;
use crate::frame::Frame;

/// Segments lit per digit, bits a..g = 0..6 (a top, b top right, c bottom
/// right, d bottom, e bottom left, f top left, g middle).
const SEGMENTS: [u8; 10] = [0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F];

/// At least this many digits are drawn (leading zeros), so the number does
/// not jump around as it grows.
const MIN_DIGITS: usize = 6;

/// Draw `n` in decimal at the left of the band `0..band_h`.
pub(super) fn draw_number(frame: &mut Frame, n: u32, band_h: u32, colour: [u8; 3]) {
    let h = band_h * 7 / 10;
    let w = h * 11 / 20;
    let thick = (h / 8).max(1);
    let gap = (w / 3).max(1);
    if h < 5 {
        return;
    }
    let top = (band_h - h) / 2;
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut rest = n;
    loop {
        digits[len] = (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let len = len.max(MIN_DIGITS);
    for (pos, &digit) in digits[..len].iter().rev().enumerate() {
        let x = gap + pos as u32 * (w + gap);
        draw_digit(frame, (x, top), (w, h), thick, digit, colour);
    }
}

fn draw_digit(
    frame: &mut Frame,
    (x, y): (u32, u32),
    (w, h): (u32, u32),
    t: u32,
    digit: u8,
    colour: [u8; 3],
) {
    let mid = y + h / 2;
    let segments = [
        ((x, y), (x + w, y + t)),                             // a
        ((x + w - t, y), (x + w, mid)),                       // b
        ((x + w - t, mid), (x + w, y + h)),                   // c
        ((x, y + h - t), (x + w, y + h)),                     // d
        ((x, mid), (x + t, y + h)),                           // e
        ((x, y), (x + t, mid)),                               // f
        ((x, y + (h - t) / 2), (x + w, y + (h - t) / 2 + t)), // g
    ];
    let lit = SEGMENTS[usize::from(digit % 10)];
    for (i, (from, to)) in segments.into_iter().enumerate() {
        if lit >> i & 1 == 1 {
            fill_rect(frame, from, to, colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::BLACK_YUV;

    /// Read a digit back from which segment centres are lit.
    fn read_digit(frame: &Frame, (x, y): (u32, u32), (w, h): (u32, u32), t: u32) -> Option<u8> {
        let centres = [
            (x + w / 2, y + t / 2),
            (x + w - t / 2 - 1, y + h / 4),
            (x + w - t / 2 - 1, y + 3 * h / 4),
            (x + w / 2, y + h - t / 2 - 1),
            (x + t / 2, y + 3 * h / 4),
            (x + t / 2, y + h / 4),
            (x + w / 2, y + h / 2),
        ];
        let mut lit = 0u8;
        for (i, (cx, cy)) in centres.into_iter().enumerate() {
            if frame.yuv_at(cx, cy)?[0] > 128 {
                lit |= 1 << i;
            }
        }
        SEGMENTS.iter().position(|&s| s == lit).map(|d| d as u8)
    }

    #[test]
    fn every_digit_reads_back_from_its_segments() {
        for digit in 0..10 {
            let mut frame = Frame::new(64, 64).unwrap();
            draw_digit(&mut frame, (8, 4), (22, 40), 5, digit, [235, 128, 128]);
            assert_eq!(read_digit(&frame, (8, 4), (22, 40), 5), Some(digit));
        }
    }

    #[test]
    fn numbers_are_drawn_left_to_right_with_leading_zeros() {
        let mut frame = Frame::new(640, 60).unwrap();
        draw_number(&mut frame, 9_041_327, 60, [235, 128, 128]);
        let (h, w) = (42, 23);
        let (t, gap, top) = (h / 8, w / 3, (60 - h) / 2);
        let read: Vec<u8> = (0..7)
            .map(|pos| read_digit(&frame, (gap + pos * (w + gap), top), (w, h), t).unwrap())
            .collect();
        assert_eq!(read, [9, 0, 4, 1, 3, 2, 7]);

        let mut frame = Frame::new(640, 60).unwrap();
        draw_number(&mut frame, 5, 60, [235, 128, 128]);
        let read: Vec<u8> = (0..6)
            .map(|pos| read_digit(&frame, (gap + pos * (w + gap), top), (w, h), t).unwrap())
            .collect();
        assert_eq!(read, [0, 0, 0, 0, 0, 5]);
        // Nothing drawn past the sixth digit.
        let x = gap + 6 * (w + gap);
        assert!((x..x + w).all(|x| frame.yuv_at(x, top + h / 2) == Some(BLACK_YUV)));
    }

    #[test]
    fn tiny_bands_draw_nothing_and_do_not_panic() {
        let mut frame = Frame::new(4, 4).unwrap();
        draw_number(&mut frame, u32::MAX, 4, [235, 128, 128]);
        draw_number(&mut frame, u32::MAX, 1000, [235, 128, 128]);
        assert!(frame.y().iter().all(|&y| y == 235 || y == 16));
    }
}

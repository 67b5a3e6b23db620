//! The machine-readable counter: two rows of black/white cells at the
//! bottom of the pattern (layout and reasoning in the module above).

use super::{fill_rect, Layout, MIN_HEIGHT, MIN_WIDTH};
use crate::frame::{Frame, Plane};

/// Cells per row: 2 guards, 24 data bits, 2 guards.
pub(crate) const CELLS_PER_ROW: usize = 28;
const ROWS: u32 = 2;
const DATA_PER_ROW: usize = 24;
/// Bits 0..32 carry the Gray-coded counter, 32..48 its CRC-16, MSB first.
const DATA_BITS: usize = 48;

/// Gray code of `n`: consecutive numbers differ in one bit.
fn gray(n: u32) -> u32 {
    n ^ (n >> 1)
}

fn from_gray(mut g: u32) -> u32 {
    let mut n = g;
    while g > 1 {
        g >>= 1;
        n ^= g;
    }
    n
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the counter's four
/// big-endian bytes.
fn crc16(counter: u32) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in counter.to_be_bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 48 data bits of `counter`, as a number (bit 47 is the first cell).
fn payload(counter: u32) -> u64 {
    (u64::from(gray(counter)) << 16) | u64::from(crc16(counter))
}

/// Cell `i` of row `r` is `x0..x1` × `y0..y1`.
fn cell(layout: &Layout, row: u32, i: usize) -> ((u32, u32), (u32, u32)) {
    let w = u64::from(layout.width);
    let n = CELLS_PER_ROW as u64;
    let x0 = (i as u64 * w / n) as u32;
    let x1 = ((i as u64 + 1) * w / n) as u32;
    let row_h = (layout.height - layout.code_top) / ROWS;
    let y0 = layout.code_top + row * row_h;
    let y1 = if row + 1 == ROWS {
        layout.height
    } else {
        y0 + row_h
    };
    ((x0, y0), (x1, y1))
}

/// Whether cell `i` of `row` is white: guards, then data.
fn cell_is_white(bits: u64, row: u32, i: usize) -> bool {
    match i {
        0 => true,
        1 => false,
        i if i == CELLS_PER_ROW - 2 => false,
        i if i == CELLS_PER_ROW - 1 => true,
        i => {
            let bit = row as usize * DATA_PER_ROW + (i - 2);
            bits >> (DATA_BITS - 1 - bit) & 1 == 1
        }
    }
}

pub(super) fn draw(
    frame: &mut Frame,
    layout: &Layout,
    counter: u32,
    black: [u8; 3],
    white: [u8; 3],
) {
    let bits = payload(counter);
    for row in 0..ROWS {
        for i in 0..CELLS_PER_ROW {
            let (from, to) = cell(layout, row, i);
            let colour = if cell_is_white(bits, row, i) {
                white
            } else {
                black
            };
            fill_rect(frame, from, to, colour);
        }
    }
}

/// Mean luma of the middle quarter (half width × half height) of a cell.
fn cell_luma(frame: &Frame, (from, to): ((u32, u32), (u32, u32))) -> u32 {
    let (w, h) = (to.0 - from.0, to.1 - from.1);
    let (x0, x1) = (from.0 + w / 4, to.0 - w / 4);
    let (y0, y1) = (from.1 + h / 4, to.1 - h / 4);
    let stride = frame.stride(Plane::Y);
    let luma = frame.y();
    let mut sum = 0u32;
    for y in y0..y1 {
        let row = &luma[y as usize * stride..];
        sum += row[x0 as usize..x1 as usize]
            .iter()
            .map(|&v| u32::from(v))
            .sum::<u32>();
    }
    sum / ((x1 - x0) * (y1 - y0)).max(1)
}

/// The frame counter burned into a pattern frame, or `None` when `frame`
/// does not carry a readable pattern code (not the pattern, too small,
/// too damaged, or a checksum mismatch).
///
/// Works on any frame size from [`MIN_WIDTH`] × [`MIN_HEIGHT`] up, as long
/// as the pattern fills the whole frame (decoded, or scaled as a whole).
pub fn read_counter(frame: &Frame) -> Option<u32> {
    if frame.width() < MIN_WIDTH || frame.height() < MIN_HEIGHT {
        return None;
    }
    let layout = Layout::new(frame.width(), frame.height());
    let mut levels = [[0u32; CELLS_PER_ROW]; ROWS as usize];
    for (row, out) in (0..ROWS).zip(levels.iter_mut()) {
        for (i, level) in out.iter_mut().enumerate() {
            *level = cell_luma(frame, cell(&layout, row, i));
        }
    }

    // Black and white references from the guards of both rows.
    let guards = |white: bool| {
        levels.iter().flat_map(move |row| {
            let idx: [usize; 2] = if white {
                [0, CELLS_PER_ROW - 1]
            } else {
                [1, CELLS_PER_ROW - 2]
            };
            idx.map(|i| row[i])
        })
    };
    let darkest_white = guards(true).min()?;
    let brightest_black = guards(false).max()?;
    // Limited-range black/white are 16/235; demand most of that contrast.
    if darkest_white < brightest_black + 100 {
        return None;
    }
    let black = guards(false).sum::<u32>() / 4;
    let white = guards(true).sum::<u32>() / 4;
    let span = white - black;

    let mut bits = 0u64;
    for cells in &levels {
        for &level in &cells[2..CELLS_PER_ROW - 2] {
            // Position between black (0) and white (10); the middle is refused.
            let t = (level.saturating_sub(black) * 10) / span;
            let bit = match t {
                0..=2 => 0,
                7.. => 1,
                _ => return None,
            };
            bits = (bits << 1) | bit;
        }
    }
    let counter = from_gray((bits >> 16) as u32);
    (crc16(counter) == (bits & 0xFFFF) as u16).then_some(counter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_code_round_trips_and_changes_one_bit() {
        for n in (0..5000).chain([u32::MAX - 1, u32::MAX, 1 << 31]) {
            assert_eq!(from_gray(gray(n)), n);
            if n < u32::MAX {
                assert_eq!((gray(n) ^ gray(n + 1)).count_ones(), 1);
            }
        }
    }

    #[test]
    fn crc_matches_the_ccitt_false_check_value() {
        // The catalogue's check value is over "123456789"; over our four
        // bytes, 00 00 00 00 gives 0x84C0 (computed independently).
        assert_eq!(crc16(0), 0x84C0);
        assert_ne!(crc16(1), crc16(2));
    }
}

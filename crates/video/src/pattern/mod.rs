//! The synthetic source's picture: colour bars, a moving block and the
//! frame counter burned in twice.
//!
//! ```text
//!  ┌────────────────────────────────────────────┐  0
//!  │ 000123   (white 7-segment digits on black)  │
//!  ├──────┬──────┬──────┬──────┬──────┬──────┬──┤  H/6
//!  │ grey │yellow│ cyan │green │magenta│ red │blue│
//!  │      │   ▚▚▚▚ (moving checkered block)      │
//!  ├──────┴──────┴──────┴──────┴──────┴──────┴──┤  3H/4
//!  │ W B ▮▯▮▮▯▯▮▯▮▯▮▮▯▮▯▯▮▯▯▮▮▯▮▯ B W           │  code row 0
//!  │ W B ▯▮▯▮▮▯▯▮▯▮▮▯▯▮▯▮▯▯▮▮▯▮▯▮ B W           │  code row 1
//!  └────────────────────────────────────────────┘  H
//! ```
//!
//! - The digits are for people looking at a screenshot or a recording.
//! - The code rows are for machines: [`read_counter`] decodes them after
//!   lossy compression (tested through VP8 at 300 kb/s) and refuses
//!   anything else. Each row is 28 large black/white cells: white-black
//!   guards at both ends (they give the reader its black and white levels),
//!   then 24 data bits. The 48 data bits are the counter Gray-coded (one
//!   cell changes from frame to frame, which costs the encoder little) and a
//!   CRC-16 of the counter (a half-updated, smeared or foreign picture fails
//!   it). Only the middle quarter of each cell is read, away from blocking
//!   and ringing at the cell edges.
//! - The moving block gives the encoder real motion to estimate.
//! - The bar colours are 75 % bars, far from each other and from the
//!   black/white of the rest, so a screenshot of a rendered remote pattern
//!   can be checked for them ([`BAR_COLOURS`], [`count_bar_colours`]).
//!
//! The layout is proportional to the frame, so any size from
//! [`MIN_WIDTH`] × [`MIN_HEIGHT`] up carries a readable code.

mod code;
mod digits;

pub use code::read_counter;

use crate::convert::{rgb_to_yuv, Rgb};
use crate::frame::{Frame, Plane};

/// The seven bar colours, left to right, as RGB (75 % bars).
pub const BAR_COLOURS: [Rgb; 7] = [
    [191, 191, 191], // grey
    [191, 191, 0],   // yellow
    [0, 191, 191],   // cyan
    [0, 191, 0],     // green
    [191, 0, 191],   // magenta
    [191, 0, 0],     // red
    [0, 0, 191],     // blue
];
/// Background of the digits band, and the code's 0 cells.
pub const BLACK: Rgb = [0, 0, 0];
/// The digits, and the code's 1 cells.
pub const WHITE: Rgb = [255, 255, 255];

/// Smallest frame whose code [`read_counter`] can read (4 pixels per cell).
pub const MIN_WIDTH: u32 = 4 * code::CELLS_PER_ROW as u32;
/// Smallest frame whose code [`read_counter`] can read.
pub const MIN_HEIGHT: u32 = 32;

/// Where each part of the pattern lives in a `width` × `height` frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// First row of the colour bars (the digits band is above).
    pub(crate) bars_top: u32,
    /// First row of the code (the bars end here).
    pub(crate) code_top: u32,
}

impl Layout {
    pub(crate) fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            bars_top: even(height / 6),
            code_top: even(height * 3 / 4),
        }
    }
}

fn even(x: u32) -> u32 {
    x & !1
}

/// Draw pattern frame number `counter` into `frame` (its size is kept).
pub fn draw(frame: &mut Frame, counter: u32) {
    let layout = Layout::new(frame.width(), frame.height());
    let w = layout.width;
    let black = rgb_to_yuv(BLACK);
    let white = rgb_to_yuv(WHITE);

    // Digits band.
    fill_rect(frame, (0, 0), (w, layout.bars_top), black);
    digits::draw_number(frame, counter, layout.bars_top, white);

    // Colour bars.
    for (i, colour) in BAR_COLOURS.iter().enumerate() {
        let x0 = even(i as u32 * w / 7);
        let x1 = if i == 6 {
            w
        } else {
            even((i as u32 + 1) * w / 7)
        };
        let yuv = rgb_to_yuv(*colour);
        fill_rect(frame, (x0, layout.bars_top), (x1, layout.code_top), yuv);
    }
    draw_mover(frame, &layout, counter, black, white);

    code::draw(frame, &layout, counter, black, white);
}

/// The checkered block: across the bars in 3 s (at 30 fps), bobbing up and down.
fn draw_mover(frame: &mut Frame, layout: &Layout, counter: u32, black: [u8; 3], white: [u8; 3]) {
    let bars_h = layout.code_top - layout.bars_top;
    let side = even(bars_h / 3).max(4);
    if side >= layout.width || side >= bars_h {
        return;
    }
    let step = even(layout.width / 90).max(2);
    let x = even(((u64::from(counter) * u64::from(step)) % u64::from(layout.width - side)) as u32);
    let travel = (bars_h - side) / 2;
    let phase = counter % 60;
    let tri = if phase < 30 { phase } else { 60 - phase };
    let y = even(layout.bars_top + travel / 2 + travel * tri / 30);
    let cell = (side / 4).max(1);
    for cy in 0..4 {
        for cx in 0..4 {
            let colour = if (cx + cy) % 2 == 0 { white } else { black };
            let (x0, y0) = (x + cx * cell, y + cy * cell);
            fill_rect(frame, (x0, y0), (x0 + cell, y0 + cell), colour);
        }
    }
}

/// Fill the pixels `from` ..< `to` (clipped to the frame) with `yuv`; the
/// chroma samples touched by the rectangle get the colour too.
pub(crate) fn fill_rect(frame: &mut Frame, from: (u32, u32), to: (u32, u32), yuv: [u8; 3]) {
    let x1 = to.0.min(frame.width()) as usize;
    let y1 = to.1.min(frame.height()) as usize;
    let (x0, y0) = (from.0 as usize, from.1 as usize);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let (ys, cs) = (frame.stride(Plane::Y), frame.stride(Plane::U));
    let [yp, up, vp] = frame.planes_mut();
    for row in y0..y1 {
        yp[row * ys + x0..row * ys + x1].fill(yuv[0]);
    }
    for row in y0 / 2..y1.div_ceil(2) {
        up[row * cs + x0 / 2..row * cs + x1.div_ceil(2)].fill(yuv[1]);
        vp[row * cs + x0 / 2..row * cs + x1.div_ceil(2)].fill(yuv[2]);
    }
}

/// How many of the seven [`BAR_COLOURS`] appear in an RGBA picture
/// (`width * 4` bytes per row), each on at least 64 pixels within
/// `tolerance` per channel. For checking a screenshot of a rendered remote
/// pattern: the pattern shows all seven, other pictures rarely more than
/// one or two. A tolerance of 24 allows for VP8 at low bitrates and scaling.
pub fn count_bar_colours(rgba: &[u8], tolerance: u8) -> usize {
    let mut hits = [0u32; BAR_COLOURS.len()];
    for px in rgba.chunks_exact(4) {
        for (hit, colour) in hits.iter_mut().zip(BAR_COLOURS) {
            if px[..3]
                .iter()
                .zip(colour)
                .all(|(a, b)| a.abs_diff(b) <= tolerance)
            {
                *hit += 1;
            }
        }
    }
    hits.iter().filter(|&&n| n >= 64).count()
}

#[cfg(test)]
pub(crate) mod tests;

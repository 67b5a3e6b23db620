use super::*;
use crate::frame::Frame;

/// xorshift64*: reproducible noise without a dependency.
pub(crate) fn noise(seed: u64) -> impl FnMut() -> u8 {
    let mut s = seed.max(1);
    move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    }
}

fn pattern(w: u32, h: u32, counter: u32) -> Frame {
    let mut f = Frame::new(w, h).unwrap();
    draw(&mut f, counter);
    f
}

#[test]
fn counters_read_back_at_many_sizes() {
    let sizes = [
        (640, 360),
        (1280, 720),
        (320, 180),
        (MIN_WIDTH, MIN_HEIGHT),
        (333, 97),
    ];
    let counters = [
        0,
        1,
        2,
        3,
        255,
        256,
        65_535,
        1_000_003,
        u32::MAX - 1,
        u32::MAX,
    ];
    for (w, h) in sizes {
        for n in counters.into_iter().chain(0..200) {
            assert_eq!(
                read_counter(&pattern(w, h, n)),
                Some(n),
                "{w}x{h} counter {n}"
            );
        }
    }
}

#[test]
fn frames_that_are_not_the_pattern_are_refused() {
    let (w, h) = (640, 360);
    let mut f = Frame::new(w, h).unwrap();
    assert_eq!(read_counter(&f), None, "black");
    f.fill([235, 128, 128]);
    assert_eq!(read_counter(&f), None, "white");

    let mut rng = noise(7);
    for y in f.plane_mut(Plane::Y) {
        *y = rng();
    }
    assert_eq!(read_counter(&f), None, "noise");

    // Black/white noise in cell-sized blocks: crisp cells, so only the
    // guards and the checksum can refuse it. 2000 tries.
    let mut refused = 0;
    for seed in 1..=2000 {
        let mut rng = noise(seed);
        let bits: Vec<bool> = (0..64).map(|_| rng() & 1 == 1).collect();
        let mut f = pattern(w, h, 0);
        let layout = Layout::new(w, h);
        for row in 0..2 {
            for i in 0..code::CELLS_PER_ROW {
                let x0 = i as u32 * w / 28;
                let y0 = layout.code_top + row * (h - layout.code_top) / 2;
                let c = if bits[row as usize * 28 + i] {
                    [235, 128, 128]
                } else {
                    [16, 128, 128]
                };
                fill_rect(&mut f, (x0, y0), ((i as u32 + 1) * w / 28, y0 + h / 8), c);
            }
        }
        refused += usize::from(read_counter(&f).is_none());
    }
    assert_eq!(refused, 2000, "random cells must never pass");

    // The pattern with its code band painted over.
    let mut f = pattern(w, h, 42);
    let layout = Layout::new(w, h);
    fill_rect(&mut f, (0, layout.code_top), (w, h), [16, 128, 128]);
    assert_eq!(read_counter(&f), None, "no code");

    // A horizontal gradient.
    let mut f = Frame::new(w, h).unwrap();
    let stride = f.stride(Plane::Y);
    for (i, y) in f.plane_mut(Plane::Y).iter_mut().enumerate() {
        *y = (16 + (i % stride) * 219 / w as usize) as u8;
    }
    assert_eq!(read_counter(&f), None, "gradient");

    // Too small to carry a code.
    assert_eq!(read_counter(&pattern(MIN_WIDTH - 1, 200, 5)), None);
    assert_eq!(read_counter(&pattern(640, MIN_HEIGHT - 1, 5)), None);
}

#[test]
fn any_single_flipped_cell_is_caught() {
    let (w, h) = (640, 360);
    let layout = Layout::new(w, h);
    let good = pattern(w, h, 123_456);
    for row in 0..2u32 {
        for i in 2..code::CELLS_PER_ROW - 2 {
            let mut f = good.clone();
            let x0 = i as u32 * w / 28 + 2;
            let y0 = layout.code_top + row * (h - layout.code_top) / 2 + 2;
            let was_white = f.yuv_at(x0 + 3, y0 + 3).unwrap()[0] > 128;
            let c = if was_white {
                [16, 128, 128]
            } else {
                [235, 128, 128]
            };
            fill_rect(
                &mut f,
                (x0, y0),
                ((i as u32 + 1) * w / 28 - 2, y0 + h / 8 - 4),
                c,
            );
            assert_eq!(read_counter(&f), None, "row {row} cell {i}");
        }
    }
}

#[test]
fn a_grey_cell_is_refused_rather_than_guessed() {
    let (w, h) = (640, 360);
    let layout = Layout::new(w, h);
    let mut f = pattern(w, h, 77);
    let (x0, y0) = (10 * w / 28, layout.code_top);
    fill_rect(&mut f, (x0, y0), (11 * w / 28, y0 + h / 8), [125, 128, 128]);
    assert_eq!(read_counter(&f), None);
}

#[test]
fn bars_have_their_documented_colours() {
    let (w, h) = (1280, 720);
    let f = pattern(w, h, 0);
    let layout = Layout::new(w, h);
    let mut rgba = Vec::new();
    f.write_rgba(&mut rgba);
    // Near the top of the bars, where the moving block never goes.
    let y = layout.bars_top as usize + 4;
    for (i, want) in BAR_COLOURS.iter().enumerate() {
        let x = (2 * i + 1) * w as usize / 14;
        let px = &rgba[(y * w as usize + x) * 4..][..3];
        for (got, want) in px.iter().zip(want) {
            assert!(got.abs_diff(*want) <= 3, "bar {i}: {px:?}, want {want:?}");
        }
    }
    assert_eq!(count_bar_colours(&rgba, 8), 7);

    let mut black = Vec::new();
    Frame::new(w, h).unwrap().write_rgba(&mut black);
    assert_eq!(count_bar_colours(&black, 24), 0);
}

#[test]
fn the_block_moves_and_the_rest_stays() {
    let (w, h) = (640, 360);
    let (a, b) = (pattern(w, h, 10), pattern(w, h, 11));
    let layout = Layout::new(w, h);
    let stride = a.stride(Plane::Y);
    let bars = layout.bars_top as usize * stride..layout.code_top as usize * stride;
    let changed = a.y()[bars.clone()]
        .iter()
        .zip(&b.y()[bars])
        .filter(|(x, y)| x != y)
        .count();
    assert!(
        changed > 500,
        "the block moved: {changed} luma samples differ"
    );
    // The top rows of the bars are never crossed by the block.
    let top = layout.bars_top as usize * stride..(layout.bars_top as usize + 4) * stride;
    assert_eq!(a.y()[top.clone()], b.y()[top]);
}

#[test]
fn drawing_tiny_frames_does_not_panic() {
    for (w, h) in [(1, 1), (2, 1), (1, 7), (7, 3), (56, 31), (3, 500)] {
        let mut f = Frame::new(w, h).unwrap();
        draw(&mut f, 12_345);
        assert_eq!(read_counter(&f), None);
    }
}

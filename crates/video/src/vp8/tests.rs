use super::*;
use crate::error::VideoError;
use crate::frame::Frame;
use crate::pattern::{self, read_counter};

const FRAME_US: u64 = 33_333;

/// Encode `n` pattern frames (counters `start..start + n`) at 30 fps.
fn encode_pattern(
    enc: &mut Vp8Encoder,
    size: (u32, u32),
    start: u32,
    n: u32,
) -> Vec<(Vec<u8>, bool)> {
    encode_frames(enc, size, start, n, false)
}

/// As `encode_pattern`, optionally with sensor-like noise on the luma, so
/// the encoder has more to code than the bitrate allows.
fn encode_frames(
    enc: &mut Vp8Encoder,
    (w, h): (u32, u32),
    start: u32,
    n: u32,
    noisy: bool,
) -> Vec<(Vec<u8>, bool)> {
    let mut frame = Frame::new(w, h).unwrap();
    let mut rng = crate::pattern::tests::noise(u64::from(start) + 1);
    (start..start + n)
        .map(|i| {
            pattern::draw(&mut frame, i);
            if noisy {
                for y in frame.plane_mut(crate::frame::Plane::Y) {
                    *y = y.saturating_add(rng() >> 4);
                }
            }
            frame.timestamp_us = u64::from(i) * FRAME_US;
            let out = enc.encode(&frame).unwrap().expect("no frame dropping");
            assert_eq!(out.timestamp_us, frame.timestamp_us);
            (out.data.to_vec(), out.keyframe)
        })
        .collect()
}

fn encoder(w: u32, h: u32, bitrate_bps: u32) -> Vp8Encoder {
    Vp8Encoder::new(EncoderConfig {
        bitrate_bps,
        ..EncoderConfig::new(w, h)
    })
    .unwrap()
}

fn mean_len(frames: &[(Vec<u8>, bool)]) -> f64 {
    frames.iter().map(|(d, _)| d.len()).sum::<usize>() as f64 / frames.len() as f64
}

#[test]
fn pattern_counters_survive_vp8_at_low_and_high_bitrates() {
    for (w, h) in [(640, 360), (1280, 720)] {
        for bitrate in [300_000, 1_500_000] {
            let mut enc = encoder(w, h, bitrate);
            let mut dec = Vp8Decoder::new().unwrap();
            let frames = encode_pattern(&mut enc, (w, h), 0, 300);
            let mut misread = Vec::new();
            for (i, (data, _)) in frames.iter().enumerate() {
                let frame = dec
                    .decode(data, i as u64)
                    .unwrap_or_else(|e| panic!("{w}x{h} @ {bitrate}: frame {i}: {e}"))
                    .expect("every frame is shown");
                assert_eq!((frame.width(), frame.height()), (w, h));
                if read_counter(frame) != Some(i as u32) {
                    misread.push((i, read_counter(frame)));
                }
            }
            let kbps = mean_len(&frames[30..]) * 8.0 * 30.0 / 1000.0;
            assert!(
                misread.is_empty(),
                "{w}x{h} @ {bitrate} b/s ({kbps:.0} kb/s coded): misread {misread:?}"
            );
        }
    }
}

#[test]
fn keyframes_come_first_and_on_request_only() {
    let (w, h) = (640, 360);
    let mut enc = encoder(w, h, 500_000);
    let first = encode_pattern(&mut enc, (w, h), 0, 40);
    assert!(first[0].1, "the first frame is a key frame");
    assert!(
        first[1..].iter().all(|(_, key)| !key),
        "then none until asked"
    );
    enc.force_keyframe();
    let next = encode_pattern(&mut enc, (w, h), 40, 5);
    assert_eq!(
        next.iter().map(|f| f.1).collect::<Vec<_>>(),
        [true, false, false, false, false]
    );
    // The bitstream agrees with the flag.
    for (data, key) in first.iter().chain(&next) {
        assert_eq!(is_keyframe(data), *key);
    }
    assert_eq!(keyframe_size(&next[0].0), Some((w, h)));
    assert_eq!(keyframe_size(&next[1].0), None);
    // A key frame decodes on its own, in a fresh decoder.
    let mut dec = Vp8Decoder::new().unwrap();
    let frame = dec.decode(&next[0].0, 0).unwrap().unwrap();
    assert_eq!(read_counter(frame), Some(40));
}

#[test]
fn bitrate_changes_take_effect() {
    let (w, h) = (1280, 720);
    // Noisy frames: more detail than either bitrate can carry, so the
    // coded rate is the rate control's doing, not the content's.
    let mut enc = encoder(w, h, 1_500_000);
    let high = encode_frames(&mut enc, (w, h), 0, 150, true);
    enc.set_bitrate(300_000).unwrap();
    let low = encode_frames(&mut enc, (w, h), 150, 150, true);
    enc.set_bitrate(1_500_000).unwrap();
    let again = encode_frames(&mut enc, (w, h), 300, 150, true);
    // Skip the first second of each stretch: the rate control adapts.
    let kbps = |f: &[(Vec<u8>, bool)]| mean_len(&f[30..]) * 8.0 * 30.0 / 1000.0;
    let (high, low, again) = (kbps(&high), kbps(&low), kbps(&again));
    for (what, got, want) in [
        ("1.5 Mb/s", high, 1500.0),
        ("300 kb/s", low, 300.0),
        ("1.5 Mb/s again", again, 1500.0),
    ] {
        assert!(
            (0.7 * want..=1.3 * want).contains(&got),
            "{what}: coded at {got:.0} kb/s (1.5M: {high:.0}, 300k: {low:.0}, again: {again:.0})"
        );
    }
    assert!(enc.set_bitrate(5).is_err());
    assert_eq!(
        enc.config().bitrate_bps,
        1_500_000,
        "a refused change changes nothing"
    );
}

#[test]
fn resolution_changes_restart_with_a_keyframe() {
    let mut enc = encoder(640, 360, 500_000);
    let mut dec = Vp8Decoder::new().unwrap();
    for (data, _) in encode_pattern(&mut enc, (640, 360), 0, 10) {
        dec.decode(&data, 0).unwrap();
    }
    // A frame of another size reconfigures the encoder on its own.
    let bigger = encode_pattern(&mut enc, (1280, 720), 10, 10);
    assert!(bigger[0].1 && !bigger[1].1);
    assert_eq!(enc.config().width, 1280);
    for (i, (data, _)) in bigger.iter().enumerate() {
        let frame = dec.decode(data, 0).unwrap().unwrap();
        assert_eq!((frame.width(), frame.height()), (1280, 720));
        assert_eq!(read_counter(frame), Some(10 + i as u32));
    }
    enc.set_resolution(320, 180).unwrap();
    enc.set_fps(15).unwrap();
    let smaller = encode_pattern(&mut enc, (320, 180), 20, 3);
    assert!(smaller[0].1);
    let frame = dec.decode(&smaller[0].0, 0).unwrap().unwrap();
    assert_eq!((frame.width(), frame.height()), (320, 180));
    assert!(enc.set_resolution(0, 10).is_err());
    assert!(enc.set_fps(0).is_err());
}

#[test]
fn screen_content_mode_encodes_too() {
    let mut enc = Vp8Encoder::new(EncoderConfig {
        content: Content::Screen,
        fps: 5,
        ..EncoderConfig::new(1280, 720)
    })
    .unwrap();
    let frames = encode_pattern(&mut enc, (1280, 720), 0, 5);
    let mut dec = Vp8Decoder::new().unwrap();
    for (i, (data, _)) in frames.iter().enumerate() {
        assert_eq!(
            read_counter(dec.decode(data, 0).unwrap().unwrap()),
            Some(i as u32)
        );
    }
}

#[test]
fn bad_configs_are_refused() {
    let good = EncoderConfig::new(640, 360);
    let bad = [
        EncoderConfig { width: 0, ..good },
        EncoderConfig {
            height: 20_000,
            ..good
        },
        EncoderConfig { fps: 0, ..good },
        EncoderConfig {
            bitrate_bps: 0,
            ..good
        },
        EncoderConfig {
            cpu_used: 17,
            ..good
        },
        EncoderConfig { threads: 0, ..good },
        EncoderConfig {
            keyframe_interval: 0,
            ..good
        },
    ];
    for config in bad {
        assert!(
            matches!(Vp8Encoder::new(config), Err(VideoError::InvalidArgument(_))),
            "{config:?}"
        );
    }
}

fn noise_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = crate::pattern::tests::noise(seed);
    (0..n).map(|_| rng()).collect()
}

#[test]
fn garbage_and_truncated_frames_are_errors_and_a_keyframe_recovers() {
    let (w, h) = (640, 360);
    let mut enc = encoder(w, h, 500_000);
    let frames = encode_pattern(&mut enc, (w, h), 0, 10);
    let key = &frames[0].0;
    let mut dec = Vp8Decoder::new().unwrap();

    let mut fake_key = noise_bytes(3, 5000);
    fake_key[0] &= !1;
    fake_key[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("noise", noise_bytes(1, 5000)),
        ("zeros", vec![0; 3000]),
        ("a key frame header on noise", fake_key),
        ("a key frame cut to 10 bytes", key[..10].to_vec()),
        ("half a key frame", key[..key.len() / 2].to_vec()),
        ("an inter frame first", frames[1].0.clone()),
    ];
    for (what, data) in &cases {
        let r = dec.decode(data, 0);
        assert!(matches!(r, Err(VideoError::Decode(_))), "{what}: {r:?}");
        assert!(dec.needs_keyframe(), "{what}");
    }
    // The whole stream still decodes from its key frame.
    for (i, (data, _)) in frames.iter().enumerate() {
        let frame = dec.decode(data, 0).unwrap().unwrap();
        assert_eq!(read_counter(frame), Some(i as u32));
    }
}

#[test]
fn after_a_loss_inter_frames_wait_for_the_keyframe() {
    let (w, h) = (640, 360);
    let mut enc = encoder(w, h, 500_000);
    let mut dec = Vp8Decoder::new().unwrap();
    let frames = encode_pattern(&mut enc, (w, h), 0, 10);
    for (data, _) in &frames[..5] {
        dec.decode(data, 0).unwrap();
    }
    // Frame 5 is lost on the way.
    dec.mark_lost();
    for (data, _) in &frames[6..] {
        assert!(dec.decode(data, 0).is_err());
    }
    // The receiver asks for a key frame (PLI); the sender forces one.
    enc.force_keyframe();
    let recovery = encode_pattern(&mut enc, (w, h), 10, 3);
    for (i, (data, _)) in recovery.iter().enumerate() {
        let frame = dec.decode(data, 0).unwrap().unwrap();
        assert_eq!(read_counter(frame), Some(10 + i as u32));
    }
}

#[test]
fn mutated_streams_never_panic() {
    let (w, h) = (320, 180);
    let mut enc = encoder(w, h, 300_000);
    let frames = encode_pattern(&mut enc, (w, h), 0, 30);
    let mut rng = crate::pattern::tests::noise(99);
    let mut dec = Vp8Decoder::new().unwrap();
    let (mut ok, mut failed) = (0, 0);
    for round in 0..1500 {
        let (data, _) = &frames[round % frames.len()];
        let mut data = data.clone();
        match rng() % 4 {
            0 => {
                let n = usize::from(rng()) * data.len() / 256;
                data.truncate(n.max(1));
            }
            1 => {
                for _ in 0..1 + rng() % 8 {
                    let i = (usize::from(rng()) << 8 | usize::from(rng())) % data.len();
                    data[i] ^= 1 << (rng() % 8);
                }
            }
            2 => data.extend(noise_bytes(round as u64 + 1, usize::from(rng()))),
            _ => {}
        }
        match dec.decode(&data, 0) {
            Ok(_) => ok += 1,
            Err(VideoError::Decode(_)) => failed += 1,
            Err(e) => panic!("unexpected error kind: {e}"),
        }
    }
    // Errors make the decoder wait for a key frame, so most rounds are refused.
    assert!(ok > 0 && failed > 0, "{ok} decoded, {failed} refused");
    // And the clean stream still decodes afterwards.
    for (i, (data, _)) in frames.iter().enumerate() {
        assert_eq!(
            read_counter(dec.decode(data, 0).unwrap().unwrap()),
            Some(i as u32)
        );
    }
}

#[test]
fn codecs_can_move_to_another_thread() {
    fn send<T: Send>(_: &T) {}
    let enc = encoder(64, 64, 100_000);
    let dec = Vp8Decoder::new().unwrap();
    send(&enc);
    send(&dec);
    std::thread::spawn(move || drop((enc, dec))).join().unwrap();
}

#[test]
fn keyframe_parsing_refuses_short_and_inter_data() {
    assert!(!is_keyframe(&[]));
    assert!(!is_keyframe(&[0, 0, 0, 0x9d, 0x01, 0x2a, 0, 0, 0]));
    assert!(!is_keyframe(&[1, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 2, 0x68, 1]));
    assert_eq!(
        keyframe_size(&[0, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0xc2, 0x68, 1]),
        Some((640, 360))
    );
}

#[test]
fn odd_sizes_encode_and_decode() {
    let (w, h) = (321, 181);
    let mut enc = encoder(w, h, 300_000);
    let mut dec = Vp8Decoder::new().unwrap();
    for (i, (data, _)) in encode_pattern(&mut enc, (w, h), 0, 10).iter().enumerate() {
        let frame = dec.decode(data, 0).unwrap().unwrap();
        assert_eq!((frame.width(), frame.height()), (w, h));
        assert_eq!(read_counter(frame), Some(i as u32));
        // The chroma planes line up (a stride mix-up would shear them).
        let mut src = Frame::new(w, h).unwrap();
        pattern::draw(&mut src, i as u32);
        for (got, want) in [(frame.u(), src.u()), (frame.v(), src.v())] {
            let diff: u64 = got
                .iter()
                .zip(want)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let mean = diff as f64 / want.len() as f64;
            assert!(mean < 4.0, "frame {i}: chroma off by {mean:.1} on average");
        }
    }
}

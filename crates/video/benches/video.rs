//! Prints what video costs on this machine:
//! `cargo bench -p softphone-video --bench video` (release build).
//! Asserts nothing; the figures go in the closing notes and docs.
//!
//! - VP8 encode and decode time per frame (median, p95, and thread CPU
//!   time from /proc/thread-self/schedstat) at 720p/1.5 Mb/s and
//!   360p/500 kb/s, on the bare test pattern (flat areas, cheap to code)
//!   and on a camera-like version of it (a fixed texture of 4×4 blocks
//!   plus fresh sensor-like noise every frame), the coded bitrate, key
//!   frame sizes (the first, and one forced mid-stream), luma PSNR, and
//!   whether every counter still reads back.
//! - The CPU share of one core a 720p30 call (encode + decode) takes.
//! - A `cpu_used` sweep at 720p, to choose the default speed.
//! - The per-frame helpers: pattern, counter reading, conversions, scaling,
//!   MJPEG decoding.

use std::hint::black_box;
use std::time::{Duration, Instant};

use softphone_video::convert::PixelFormat;
use softphone_video::pattern::{self, read_counter};
use softphone_video::source::MjpegDecoder;
use softphone_video::vp8::{EncoderConfig, Vp8Decoder, Vp8Encoder};
use softphone_video::{Frame, Plane};

const FPS: u64 = 30;

/// CPU time of this thread so far (ns resolution, unlike getrusage's ticks).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (median, p95, mean) in ms.
fn summary(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let pick = |q: f64| ms(v[((v.len() - 1) as f64 * q).round() as usize]);
    let mean = ms(v.iter().sum::<Duration>()) / v.len() as f64;
    (pick(0.5), pick(0.95), mean)
}

/// xorshift64*, as in the crate's tests.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    }
}

fn psnr(a: &Frame, b: &Frame) -> f64 {
    let se: u64 = a
        .y()
        .iter()
        .zip(b.y())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)).pow(2))
        .sum();
    let mse = se as f64 / a.y().len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

struct Run {
    enc: Vec<Duration>,
    dec: Vec<Duration>,
    enc_cpu: Duration,
    dec_cpu: Duration,
    bytes: Vec<usize>,
    keyframes: Vec<usize>,
    psnr: f64,
    misreads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Pattern,
    CameraLike,
}

/// A fixed texture of 4x4 blocks, 0..=63, to add to the luma.
fn texture(w: u32, h: u32) -> Vec<u8> {
    let (bw, bh) = (w.div_ceil(4) as usize, h.div_ceil(4) as usize);
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let blocks: Vec<u8> = (0..bw * bh).map(|_| noise.next() >> 2).collect();
    (0..(w * h) as usize)
        .map(|i| blocks[(i / w as usize / 4) * bw + (i % w as usize) / 4])
        .collect()
}

fn run(config: EncoderConfig, content: Content, frames: u32) -> Run {
    let mut enc = Vp8Encoder::new(config).expect("encoder");
    let mut dec = Vp8Decoder::new().expect("decoder");
    let mut frame = Frame::new(config.width, config.height).expect("frame");
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let texture = texture(config.width, config.height);
    let mut packet = Vec::new();
    let mut r = Run {
        enc: Vec::new(),
        dec: Vec::new(),
        enc_cpu: Duration::ZERO,
        dec_cpu: Duration::ZERO,
        bytes: Vec::new(),
        keyframes: Vec::new(),
        psnr: 0.0,
        misreads: 0,
    };
    for i in 0..frames {
        pattern::draw(&mut frame, i);
        if content == Content::CameraLike {
            for (y, t) in frame.plane_mut(Plane::Y).iter_mut().zip(&texture) {
                *y = y.saturating_sub(32).saturating_add(t + (noise.next() >> 5));
            }
        }
        frame.timestamp_us = u64::from(i) * 1_000_000 / FPS;
        if i == frames / 2 {
            enc.force_keyframe();
        }

        let (c0, t0) = (thread_cpu(), Instant::now());
        let out = enc.encode(&frame).expect("encode").expect("a frame");
        r.enc.push(t0.elapsed());
        r.enc_cpu += thread_cpu() - c0;
        packet.clear();
        packet.extend_from_slice(out.data);
        if out.keyframe {
            r.keyframes.push(packet.len());
        }
        r.bytes.push(packet.len());

        let (c0, t0) = (thread_cpu(), Instant::now());
        let decoded = dec
            .decode(&packet, frame.timestamp_us)
            .expect("decode")
            .expect("shown");
        r.dec.push(t0.elapsed());
        r.dec_cpu += thread_cpu() - c0;
        r.psnr += psnr(&frame, decoded);
        r.misreads += usize::from(read_counter(decoded) != Some(i));
    }
    r.psnr /= f64::from(frames);
    r
}

fn kbps(bytes: &[usize]) -> f64 {
    // Skip the first second: the rate control settles.
    let tail = &bytes[FPS as usize..];
    tail.iter().sum::<usize>() as f64 * 8.0 * FPS as f64 / tail.len() as f64 / 1000.0
}

fn codec() {
    println!("== VP8 per frame (defaults: single thread, cpu_used -10; 300 frames at 30 fps) ==");
    for (w, h, bitrate) in [(1280, 720, 1_500_000), (640, 360, 500_000)] {
        for content in [Content::Pattern, Content::CameraLike] {
            let config = EncoderConfig {
                bitrate_bps: bitrate,
                ..EncoderConfig::new(w, h)
            };
            let frames = 300;
            let r = run(config, content, frames);
            let (em, ep, _) = summary(r.enc.clone());
            let (dm, dp, _) = summary(r.dec.clone());
            let enc_cpu = ms(r.enc_cpu) / f64::from(frames);
            let dec_cpu = ms(r.dec_cpu) / f64::from(frames);
            println!(
                "{w}x{h} {:>4} kb/s {:8}: encode median {em:5.2} ms p95 {ep:5.2} (cpu {enc_cpu:5.2}) | \
                 decode median {dm:5.2} ms p95 {dp:5.2} (cpu {dec_cpu:5.2}) | coded {:5.0} kb/s, \
                 key frames {:?} bytes, inter mean {:.0} B | PSNR-Y {:4.1} dB | counter misreads {}",
                bitrate / 1000,
                match content {
                    Content::Pattern => "pattern",
                    Content::CameraLike => "cam-like",
                },
                kbps(&r.bytes),
                r.keyframes,
                r.bytes.iter().sum::<usize>() as f64 / r.bytes.len() as f64,
                r.psnr,
                r.misreads,
            );
            if w == 1280 {
                let share = (enc_cpu + dec_cpu) * FPS as f64 / 1000.0 * 100.0;
                println!(
                    "  -> a 720p30 call (encode + decode, {}): {share:.1} % of one core (target <= 25 %)",
                    match content {
                        Content::Pattern => "bare pattern",
                        Content::CameraLike => "camera-like",
                    }
                );
            }
        }
    }
}

fn speed_sweep() {
    println!("== cpu_used at 720p, 1.5 Mb/s, camera-like, 150 frames ==");
    for (cpu_used, threads) in [
        (-4, 1),
        (-6, 1),
        (-8, 1),
        (-10, 1),
        (-12, 1),
        (-16, 1),
        (4, 1),
        (-10, 2),
    ] {
        let config = EncoderConfig {
            cpu_used,
            threads,
            ..EncoderConfig::new(1280, 720)
        };
        let r = run(config, Content::CameraLike, 150);
        let (em, ep, _) = summary(r.enc.clone());
        let enc_cpu = ms(r.enc_cpu) / 150.0;
        println!(
            "cpu_used {cpu_used:3} threads {threads}: encode median {em:5.2} ms p95 {ep:5.2} (cpu {enc_cpu:5.2}) | \
             {:5.0} kb/s | PSNR-Y {:4.1} dB | misreads {}",
            kbps(&r.bytes),
            r.psnr,
            r.misreads
        );
    }
}

fn time<F: FnMut()>(label: &str, n: u32, mut f: F) {
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        f();
        v.push(t.elapsed());
    }
    let (m, p, _) = summary(v);
    println!("{label:44} median {m:6.3} ms p95 {p:6.3}");
}

fn helpers() {
    println!("== per-frame helpers at 720p ==");
    let (w, h) = (1280, 720);
    let mut frame = Frame::new(w, h).expect("frame");
    let mut i = 0;
    time("pattern::draw", 200, || {
        pattern::draw(&mut frame, i);
        i += 1;
    });
    time("read_counter", 200, || {
        black_box(read_counter(&frame));
    });
    let mut rgba = Vec::new();
    time("I420 -> RGBA (write_rgba)", 200, || {
        frame.write_rgba(&mut rgba)
    });
    let bgrx: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect();
    let mut out = Frame::new(2, 2).expect("frame");
    time("BGRx -> I420 (fill_from_packed)", 200, || {
        out.fill_from_packed(&bgrx, w, h, w as usize * 4, PixelFormat::Bgrx32)
            .expect("convert");
    });
    let yuyv = vec![128u8; (w * h * 2) as usize];
    time("YUYV -> I420 (fill_from_yuyv)", 200, || {
        out.fill_from_yuyv(&yuyv, w, h, w as usize * 2)
            .expect("convert");
    });
    let mut big = Frame::new(1280, 800).expect("frame");
    pattern::draw(&mut big, 1);
    let mut scaled = Frame::new(1152, 720).expect("frame");
    time("scale 1280x800 -> 1152x720", 100, || {
        big.scale_into(&mut scaled)
    });
    let mut half = Frame::new(640, 360).expect("frame");
    time("scale 1280x720 -> 640x360", 100, || {
        frame.scale_into(&mut half)
    });

    match jpeg_of(&frame) {
        Some(jpeg) => {
            let mut decoder = MjpegDecoder::default();
            time(
                &format!("MJPEG 720p ({} kB, q85 4:2:2) -> I420", jpeg.len() / 1000),
                100,
                || {
                    decoder.decode(&jpeg, &mut out).expect("mjpeg");
                },
            );
        }
        None => println!("MJPEG: skipped (ImageMagick `convert` not found)"),
    }
}

/// The frame as a camera-like JPEG, made by ImageMagick.
fn jpeg_of(frame: &Frame) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("video-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let mut rgba = Vec::new();
    frame.write_rgba(&mut rgba);
    let mut ppm = format!("P6\n{} {}\n255\n", frame.width(), frame.height()).into_bytes();
    ppm.extend(rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]));
    let (src, dst) = (dir.join("f.ppm"), dir.join("f.jpg"));
    std::fs::write(&src, ppm).ok()?;
    let ok = std::process::Command::new("convert")
        .arg(&src)
        .args(["-quality", "85", "-sampling-factor", "2x1"])
        .arg(&dst)
        .status()
        .is_ok_and(|s| s.success());
    let jpeg = ok.then(|| std::fs::read(&dst).ok()).flatten();
    let _ = std::fs::remove_dir_all(&dir);
    jpeg
}

fn main() {
    println!(
        "{} on {}",
        softphone_video::vp8::libvpx_version(),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s
                .lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l[13..].trim().to_owned()))
            .unwrap_or_default()
    );
    codec();
    speed_sweep();
    helpers();
}

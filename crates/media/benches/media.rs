//! Prints what the audio path costs on this machine:
//! `cargo bench -p softphone-media --bench media` (release build).
//!
//! Opus encode/decode/FEC/PLC per 20 ms frame, jitter-buffer cost per
//! packet (with a decoder that does nothing, so only the buffer is timed),
//! and the echo canceller's CPU per 10 ms and ERLE on a synthetic echo path.

use std::hint::black_box;
use std::time::{Duration, Instant};

use softphone_media::analysis::{erle_db, speech_like, synthetic_echo};
use softphone_media::codec::{EncoderConfig, FrameDecoder, OpusDecoder, OpusEncoder};
use softphone_media::jitter::{JitterBuffer, JitterConfig, Packet};
use softphone_media::processing::{AudioProcessor, EchoCanceller, PassThrough};
use softphone_media::{Result, FRAME_SAMPLES, FRAME_US};

fn per(d: Duration, n: usize) -> String {
    format!("{:8.1} µs", d.as_secs_f64() * 1e6 / n as f64)
}

/// A decoder that only zeroes the frame: isolates the jitter buffer's own cost.
struct NoDecoder;

impl FrameDecoder for NoDecoder {
    fn decode(&mut self, _: &[u8], out: &mut [f32]) -> Result<()> {
        out[0] = 1.0;
        Ok(())
    }
    fn decode_fec(&mut self, _: &[u8], out: &mut [f32]) -> Result<()> {
        out[0] = 2.0;
        Ok(())
    }
    fn conceal(&mut self, out: &mut [f32]) -> Result<()> {
        out[0] = 3.0;
        Ok(())
    }
    fn reset(&mut self) -> Result<()> {
        Ok(())
    }
}

fn codec() {
    let frames = 2_000;
    let signal = speech_like(FRAME_SAMPLES * frames, 7);
    for bitrate in [16_000, 32_000, 64_000] {
        let mut enc = OpusEncoder::new(EncoderConfig {
            bitrate_bps: bitrate,
            ..EncoderConfig::default()
        })
        .expect("encoder");
        let t = Instant::now();
        let packets: Vec<Vec<u8>> = signal
            .chunks_exact(FRAME_SAMPLES)
            .map(|f| enc.encode(f).expect("encode"))
            .collect();
        let enc_t = t.elapsed();
        let bytes: usize = packets.iter().map(Vec::len).sum();

        let mut dec = OpusDecoder::new().expect("decoder");
        let mut out = vec![0.0; FRAME_SAMPLES];
        let t = Instant::now();
        for p in &packets {
            dec.decode(p, &mut out).expect("decode");
            black_box(&out);
        }
        let dec_t = t.elapsed();
        let t = Instant::now();
        for p in &packets {
            dec.decode_fec(p, &mut out).expect("fec");
            black_box(&out);
        }
        let fec_t = t.elapsed();
        let t = Instant::now();
        for _ in &packets {
            dec.conceal(&mut out).expect("plc");
            black_box(&out);
        }
        let plc_t = t.elapsed();
        println!(
            "opus {:3} kb/s (complexity 9, FEC, 10 % loss expected): encode {} | decode {} | FEC decode {} | PLC {} per 20 ms frame; {:.0} bytes/frame",
            bitrate / 1000,
            per(enc_t, frames),
            per(dec_t, frames),
            per(fec_t, frames),
            per(plc_t, frames),
            bytes as f64 / frames as f64
        );
    }
}

fn jitter_buffer() {
    let packets = 200_000;
    let mut jb = JitterBuffer::new(NoDecoder, JitterConfig::default());
    let mut out = vec![0.0; FRAME_SAMPLES];
    let mut rng = 99u64;
    let mut pending: Vec<(Packet, u64)> = Vec::with_capacity(64);
    let t = Instant::now();
    let mut now = 0u64;
    for i in 0..packets {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let jitter = (rng >> 40) % 60_000;
        if !(rng >> 20).is_multiple_of(100) {
            pending.push((
                Packet {
                    seq: i as u16,
                    timestamp: (i as u32).wrapping_mul(960),
                    payload: vec![0; 80],
                },
                i as u64 * FRAME_US + jitter,
            ));
        }
        now += FRAME_US;
        let mut k = 0;
        while k < pending.len() {
            if pending[k].1 <= now {
                let (p, a) = pending.swap_remove(k);
                jb.push(p, a);
            } else {
                k += 1;
            }
        }
        black_box(jb.pop_into(now, &mut out));
    }
    let d = t.elapsed();
    println!(
        "jitter buffer: push + pop {} per packet (0–60 ms jitter, 1 % loss; decoder excluded); {:?}",
        per(d, packets),
        jb.stats()
    );
}

fn echo_canceller() {
    let secs = 20;
    let far = speech_like(48_000 * secs, 3);
    let mic = synthetic_echo(&far, 40, 30, 0.3);
    let candidates: Vec<(&str, Box<dyn AudioProcessor>)> = vec![
        ("pass-through", Box::new(PassThrough)),
        ("AEC3", Box::new(EchoCanceller::new(false))),
        ("AEC3 + NS", Box::new(EchoCanceller::new(true))),
    ];
    for (label, mut p) in candidates {
        let mut out = mic.clone();
        let t = Instant::now();
        for (f, m) in far
            .chunks_exact(FRAME_SAMPLES)
            .zip(out.chunks_exact_mut(FRAME_SAMPLES))
        {
            p.process_render(f);
            p.process_capture(m);
        }
        let d = t.elapsed();
        let tail = 48_000 * 5..;
        println!(
            "{:38} CPU {} per 10 ms (render + capture); ERLE after 5 s {:5.1} dB (synthetic 40 ms + 30 ms room echo, −10 dB)",
            format!("{label} ({}):", p.name()),
            per(d, secs * 100),
            erle_db(&mic[tail.clone()], &out[tail])
        );
    }
}

fn main() {
    // `cargo test --benches` runs this too: keep that quick.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    codec();
    jitter_buffer();
    echo_canceller();
}

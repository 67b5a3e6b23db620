//! WAV file in → send pipeline → a lossy, jittery virtual network → receive
//! pipeline → WAV file out, on a virtual clock (no real time, no devices).
//! The output must follow the input's loudness envelope closely, clean and
//! with 10 % random loss and 0–40 ms jitter.

use softphone_media::device::{read_wav_48k_mono, Pacing, WavFileSink, WavFileSource};
use softphone_media::pipeline::{ReceivePipeline, SendPipeline};
use softphone_media::processing::{shared, PassThrough};
use softphone_media::{
    AudioSink, EncoderConfig, JitterConfig, Packet, FRAME_SAMPLES, FRAME_US, SAMPLE_RATE,
};

/// A voiced-speech-like test signal: a 150 Hz buzz with harmonics, in
/// syllables of varying loudness separated by pauses.
fn voice(secs: usize) -> Vec<f32> {
    let n = SAMPLE_RATE as usize * secs;
    (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let buzz: f32 = (1..=8)
                .map(|h| (std::f32::consts::TAU * 150.0 * h as f32 * t).sin() / h as f32)
                .sum();
            let syllable = (std::f32::consts::PI * 3.0 * t).sin().max(0.0);
            let phrase = if (t % 2.0) < 1.4 {
                0.5 + 0.5 * (t * 0.7).sin().abs()
            } else {
                0.0
            };
            0.2 * buzz * syllable * phrase
        })
        .collect()
}

fn envelope(x: &[f32]) -> Vec<f64> {
    x.chunks(FRAME_SAMPLES)
        .map(|c| (c.iter().map(|&s| f64::from(s * s)).sum::<f64>() / c.len() as f64).sqrt())
        .collect()
}

/// Best Pearson correlation of the two envelopes over lags of 0..=15 frames.
fn envelope_match(input: &[f32], output: &[f32]) -> (f64, usize) {
    let a = envelope(input);
    let b = envelope(output);
    (0..=15)
        .map(|lag| {
            let n = a.len().min(b.len().saturating_sub(lag));
            let (x, y) = (&a[..n], &b[lag..lag + n]);
            let mx = x.iter().sum::<f64>() / n as f64;
            let my = y.iter().sum::<f64>() / n as f64;
            let cov: f64 = x.iter().zip(y).map(|(p, q)| (p - mx) * (q - my)).sum();
            let vx: f64 = x.iter().map(|p| (p - mx).powi(2)).sum();
            let vy: f64 = y.iter().map(|q| (q - my).powi(2)).sum();
            (cov / (vx * vy).sqrt().max(1e-12), lag)
        })
        .max_by(|p, q| p.0.total_cmp(&q.0))
        .unwrap_or((0.0, 0))
}

fn run(loss_pct: u64, jitter_us: u64) -> (f64, softphone_media::JitterStats) {
    let dir = tempfile::tempdir().unwrap();
    let input = voice(6);
    let in_path = dir.path().join("in.wav");
    let mut w = WavFileSink::create(&in_path).unwrap();
    for c in input.chunks(FRAME_SAMPLES) {
        w.write_frame(c).unwrap();
    }
    w.finish().unwrap();

    let source = WavFileSource::open(&in_path, Pacing::Unpaced).unwrap();
    let config = EncoderConfig {
        expected_loss_pct: loss_pct.max(5) as u8,
        ..EncoderConfig::default()
    };
    let mut tx = SendPipeline::new(source, shared(PassThrough), config).unwrap();
    let out_path = dir.path().join("out.wav");
    let sink = WavFileSink::create(&out_path).unwrap();
    let mut rx = ReceivePipeline::new(sink, shared(PassThrough), JitterConfig::default());

    // Frame i is sent at 20 ms × i; the network drops some and delays each by 5 ms + jitter.
    let mut rng = 0x5eed_u64;
    let mut next = || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        rng >> 33
    };
    let mut in_flight: Vec<(u64, Packet)> = Vec::new();
    let mut i = 0u64;
    let mut ended = false;
    let mut now = 0;
    while !ended || !in_flight.is_empty() || now < (i + 10) * FRAME_US {
        if !ended {
            match tx.next_frame().unwrap() {
                Some(f) => {
                    if next() % 100 >= loss_pct {
                        let arrival = i * FRAME_US + 5_000 + next() % (jitter_us + 1);
                        let p = Packet {
                            seq: f.seq,
                            timestamp: f.timestamp,
                            payload: f.payload,
                        };
                        in_flight.push((arrival, p));
                    }
                    i += 1;
                }
                None => ended = true,
            }
        }
        in_flight.sort_by_key(|(a, _)| *a);
        while in_flight.first().is_some_and(|(a, _)| *a <= now) {
            let (a, p) = in_flight.remove(0);
            rx.push(1, p, a).unwrap();
        }
        rx.tick(now).unwrap();
        now += FRAME_US;
    }
    let stats = rx.stats()[0].1;
    rx.sink_mut().finish().unwrap();
    let output = read_wav_48k_mono(&out_path).unwrap();
    let (corr, lag) = envelope_match(&input, &output);
    println!("loss {loss_pct} %, jitter {jitter_us} µs: envelope correlation {corr:.3} at lag {lag} frames; {stats:?}");
    (corr, stats)
}

#[test]
fn clean_network_keeps_the_signal() {
    let (corr, stats) = run(0, 0);
    assert!(corr > 0.97, "{corr}");
    assert_eq!(stats.lost, 0);
    // Only the tail after the last packet (then silence).
    assert!(stats.concealed <= 5, "{stats:?}");
}

#[test]
fn ten_percent_loss_and_jitter_are_concealed() {
    let (corr, stats) = run(10, 40_000);
    assert!(corr > 0.85, "{corr}");
    assert!(stats.lost > 10, "{stats:?}");
    assert!(stats.recovered_fec > stats.lost / 3, "{stats:?}");
}

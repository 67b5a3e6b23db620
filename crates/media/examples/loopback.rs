//! Play a WAV file through the whole audio path over a simulated network and
//! write what the far end would hear:
//!
//! `cargo run -p softphone-media --example loopback -- IN.wav OUT.wav [LOSS_PCT] [JITTER_MS] [BITRATE]`
//!
//! Sender: WAV (any format) → 48 kHz mono → Opus (FEC, expected loss =
//! max(LOSS_PCT, 5)). Network: each packet independently lost with
//! probability LOSS_PCT, delayed by 5 ms + uniform 0..JITTER_MS. Receiver:
//! jitter buffer → decode/FEC/PLC → WAV (48 kHz mono 16-bit). Runs on a
//! virtual clock, as fast as the CPU allows.

use softphone_media::device::{Pacing, WavFileSink, WavFileSource};
use softphone_media::pipeline::{ReceivePipeline, SendPipeline};
use softphone_media::processing::{shared, PassThrough};
use softphone_media::{AudioSink, EncoderConfig, JitterConfig, Packet, FRAME_US};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: loopback IN.wav OUT.wav [LOSS_PCT] [JITTER_MS] [BITRATE]");
        std::process::exit(2);
    }
    let loss: u64 = args.get(2).map_or(Ok(0), |s| s.parse())?;
    let jitter_us: u64 = args.get(3).map_or(Ok(0), |s| s.parse::<u64>())? * 1000;
    let bitrate: u32 = args.get(4).map_or(Ok(32_000), |s| s.parse())?;

    let source = WavFileSource::open(&args[0], Pacing::Unpaced)?;
    let config = EncoderConfig {
        bitrate_bps: bitrate,
        expected_loss_pct: loss.clamp(5, 100) as u8,
        ..EncoderConfig::default()
    };
    let mut tx = SendPipeline::new(source, shared(PassThrough), config)?;
    let sink = WavFileSink::create(&args[1])?;
    let mut rx = ReceivePipeline::new(sink, shared(PassThrough), JitterConfig::default());

    let mut rng = 0x1234_5678_u64;
    let mut rand = move || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        rng >> 33
    };
    let mut in_flight: Vec<(u64, Packet)> = Vec::new();
    let (mut sent, mut now, mut ended) = (0u64, 0u64, false);
    while !ended || !in_flight.is_empty() || now < (sent + 10) * FRAME_US {
        if !ended {
            match tx.next_frame()? {
                Some(f) => {
                    if rand() % 100 >= loss {
                        let arrival = sent * FRAME_US + 5_000 + rand() % (jitter_us + 1);
                        let p = Packet {
                            seq: f.seq,
                            timestamp: f.timestamp,
                            payload: f.payload,
                        };
                        in_flight.push((arrival, p));
                    }
                    sent += 1;
                }
                None => ended = true,
            }
        }
        in_flight.sort_by_key(|(a, _)| *a);
        while in_flight.first().is_some_and(|(a, _)| *a <= now) {
            let (a, p) = in_flight.remove(0);
            rx.push(1, p, a)?;
        }
        rx.tick(now)?;
        now += FRAME_US;
    }
    rx.sink_mut().finish()?;
    for (stream, s) in rx.stats() {
        println!("stream {stream}: {s:?}");
    }
    Ok(())
}

use super::*;
use crate::analysis::{goertzel_power, sine};
use crate::device::{Pacing, WavFileSource};
use crate::processing::{shared, PassThrough};
use crate::FRAME_US;

/// A sink that keeps everything (tests only).
#[derive(Debug, Default)]
struct VecSink(Vec<f32>);

impl AudioSink for VecSink {
    fn write_frame(&mut self, frame: &[f32]) -> Result<()> {
        self.0.extend_from_slice(frame);
        Ok(())
    }
}

fn tone_sender(freq: f32, secs: f32) -> SendPipeline<WavFileSource> {
    let samples = sine(freq, 0.4, (48_000.0 * secs) as usize);
    let src = WavFileSource::from_samples(samples, Pacing::Unpaced);
    SendPipeline::new(src, shared(PassThrough), EncoderConfig::default()).unwrap()
}

fn frames(mut s: SendPipeline<WavFileSource>) -> Vec<EncodedFrame> {
    std::iter::from_fn(|| s.next_frame().unwrap()).collect()
}

/// Deliver each stream's frames (frame i arrives at 20 ms × i + 5 ms unless
/// `lost(i)`), ticking the receiver every 20 ms.
fn play(
    streams: &[(u32, Vec<EncodedFrame>)],
    lost: impl Fn(usize) -> bool,
) -> (Vec<f32>, Vec<(u32, JitterStats)>) {
    let mut rx = ReceivePipeline::new(
        VecSink::default(),
        shared(PassThrough),
        JitterConfig::default(),
    );
    let n = streams.iter().map(|(_, f)| f.len()).max().unwrap_or(0);
    for i in 0..n + 10 {
        let now = i as u64 * FRAME_US;
        if i > 0 && i - 1 < n && !lost(i - 1) {
            for (id, frames) in streams {
                if let Some(f) = frames.get(i - 1) {
                    let p = Packet {
                        seq: f.seq,
                        timestamp: f.timestamp,
                        payload: f.payload.clone(),
                    };
                    rx.push(*id, p, now - 15_000).unwrap();
                }
            }
        }
        rx.tick(now).unwrap();
    }
    let stats = rx.stats();
    (std::mem::take(&mut rx.sink_mut().0), stats)
}

#[test]
fn a_tone_goes_through_encode_jitter_buffer_decode() {
    let f = frames(tone_sender(1000.0, 1.0));
    assert_eq!(f.len(), 50);
    assert_eq!((f[1].seq, f[1].timestamp), (1, 960));
    let (out, stats) = play(&[(7, f)], |_| false);
    let mid = &out[48_000 / 4..48_000 * 3 / 4];
    assert!(goertzel_power(mid, 1000.0) > 1000.0 * goertzel_power(mid, 2000.0));
    assert_eq!(stats[0].0, 7);
    assert_eq!(stats[0].1.received, 50);
}

#[test]
fn two_streams_are_mixed() {
    let a = frames(tone_sender(500.0, 1.0));
    let b = frames(tone_sender(1500.0, 1.0));
    let (out, stats) = play(&[(1, a), (2, b)], |_| false);
    let mid = &out[48_000 / 4..48_000 * 3 / 4];
    let (pa, pb, off) = (
        goertzel_power(mid, 500.0),
        goertzel_power(mid, 1500.0),
        goertzel_power(mid, 1000.0),
    );
    assert!(pa > 100.0 * off && pb > 100.0 * off, "{pa} {pb} {off}");
    assert_eq!(stats.len(), 2);
    assert!(out.iter().all(|s| s.abs() <= 1.0));
}

#[test]
fn ten_percent_loss_is_concealed_with_fec() {
    let f = frames(tone_sender(800.0, 2.0));
    let (out, stats) = play(&[(1, f)], |i| i % 10 == 5);
    let s = stats[0].1;
    assert_eq!(s.lost, 10);
    assert!(s.recovered_fec >= 5, "{s:?}");
    let mid = &out[48_000 / 2..48_000 * 3 / 2];
    assert!(goertzel_power(mid, 800.0) > 100.0 * goertzel_power(mid, 1600.0));
}

#[test]
fn sender_thread_runs_to_the_end_and_runtime_settings_apply() {
    let mut p = tone_sender(440.0, 0.2);
    p.encoder_mut().set_bitrate(16_000).unwrap();
    p.encoder_mut().set_expected_loss(0).unwrap();
    let h = spawn_sender(p).unwrap();
    let got: Vec<_> = h.frames().iter().collect();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|f| f.is_ok()));
    h.stop();
}

#[test]
fn soft_clip_keeps_quiet_samples_and_bounds_loud_ones() {
    let mut s = [0.5, -0.8, 1.7, -3.0, 0.95];
    soft_clip(&mut s);
    assert_eq!(&s[..2], &[0.5, -0.8]);
    assert!(s[2] > 0.9 && s[2] <= 1.0 && s[3] < -0.9 && s[3] >= -1.0);
    assert!(s[4] > 0.9 && s[4] < 0.95);
    let _ = MediaClock::new().now_us();
}

#[test]
fn devices_can_be_swapped_mid_call() {
    use crate::device::{NullSink, NullSource};
    let src: Box<dyn AudioSource> = Box::new(NullSource::new(Pacing::Unpaced));
    let mut tx = SendPipeline::new(src, shared(PassThrough), EncoderConfig::default()).unwrap();
    assert!(tx.next_frame().unwrap().is_some());
    let tone: Box<dyn AudioSource> = Box::new(WavFileSource::from_samples(
        sine(300.0, 0.3, 960),
        Pacing::Unpaced,
    ));
    let _old = tx.replace_source(tone);
    let f = tx.next_frame().unwrap().unwrap();
    assert_eq!(f.seq, 1, "numbering continues across the swap");
    assert!(tx.next_frame().unwrap().is_none(), "the new source ended");

    let sink: Box<dyn AudioSink> = Box::new(NullSink::default());
    let mut rx = ReceivePipeline::new(sink, shared(PassThrough), JitterConfig::default());
    rx.tick(0).unwrap();
    let _old = rx.replace_sink(Box::new(VecSink::default()));
    rx.tick(FRAME_US).unwrap();
    rx.remove_stream(1);
}

#[test]
fn levels_say_which_stream_is_loud() {
    let loud = frames(tone_sender(700.0, 0.6));
    // A tone at 0.4 amplitude vs digital silence.
    let quiet = {
        let src = WavFileSource::from_samples(vec![0.0; 48_000 * 6 / 10], Pacing::Unpaced);
        frames(SendPipeline::new(src, shared(PassThrough), EncoderConfig::default()).unwrap())
    };
    let mut rx = ReceivePipeline::new(
        VecSink::default(),
        shared(PassThrough),
        JitterConfig::default(),
    );
    let mut levels = Vec::new();
    for (i, (a, b)) in loud.iter().zip(&quiet).enumerate() {
        let now = i as u64 * FRAME_US;
        for (id, f) in [(1, a), (2, b)] {
            let p = Packet {
                seq: f.seq,
                timestamp: f.timestamp,
                payload: f.payload.clone(),
            };
            rx.push(id, p, now).unwrap();
        }
        rx.tick(now + 20_000).unwrap();
    }
    rx.take_levels(&mut levels);
    assert_eq!(levels.len(), 2);
    let (tone, silence) = (levels[0].1, levels[1].1);
    // A 0.4 sine has an RMS of 0.28: −11 dBFS.
    assert!((-14.0..-8.0).contains(&tone), "{levels:?}");
    assert!(silence < -60.0, "{levels:?}");
    rx.take_levels(&mut levels);
    assert!(
        levels.iter().all(|(_, db)| *db <= -100.0),
        "reset: {levels:?}"
    );
    rx.remove_stream(1);
    rx.take_levels(&mut levels);
    assert_eq!(levels.len(), 1, "a removed stream has no level");
}

//! Ringtone and ringback: tone patterns generated here and played on the
//! chosen speaker from a thread of their own (the media crate's cpal sink
//! takes 20 ms frames and never waits, so this thread keeps the pace).

use softphone_media::device::CpalSink;
use softphone_media::{AudioSink, FRAME_SAMPLES, SAMPLE_RATE};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Someone calls this device: a two-tone warble (880/660 Hz) for one
    /// second, then two seconds of silence.
    Ringtone,
    /// This device's call rings at the other end: 425 Hz for one second,
    /// then four seconds of silence (the ETSI ringback cadence).
    Ringback,
}

/// One segment of a cadence: how long, and which frequency (`None`: silence).
type Segment = (u32, Option<f32>);

const RINGTONE: &[Segment] = &[
    (100, Some(880.0)),
    (100, Some(660.0)),
    (100, Some(880.0)),
    (100, Some(660.0)),
    (100, Some(880.0)),
    (100, Some(660.0)),
    (100, Some(880.0)),
    (100, Some(660.0)),
    (100, Some(880.0)),
    (100, Some(660.0)),
    (2000, None),
];
const RINGBACK: &[Segment] = &[(1000, Some(425.0)), (4000, None)];

/// Fade in and out at every segment edge (5 ms), so switches do not click.
const RAMP: u64 = SAMPLE_RATE as u64 / 200;
/// Peak amplitude at volume 100.
const FULL_SCALE: f32 = 0.5;
/// A tone nobody stops still ends after this long.
const MAX_PLAY: Duration = Duration::from_secs(180);

impl Tone {
    fn cadence(self) -> &'static [Segment] {
        match self {
            Tone::Ringtone => RINGTONE,
            Tone::Ringback => RINGBACK,
        }
    }
}

/// Generates a tone's samples (48 kHz mono) at a volume.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    tone: Tone,
    amplitude: f32,
    position: u64,
}

impl ToneGenerator {
    /// `tone` at `volume` (0–100).
    pub fn new(tone: Tone, volume: u8) -> Self {
        Self {
            tone,
            amplitude: FULL_SCALE * f32::from(volume.min(100)) / 100.0,
            position: 0,
        }
    }

    /// Fills `frame` with the next samples.
    pub fn fill(&mut self, frame: &mut [f32]) {
        for s in frame.iter_mut() {
            *s = self.sample(self.position);
            self.position += 1;
        }
    }

    fn sample(&self, n: u64) -> f32 {
        let cadence = self.tone.cadence();
        let per_ms = u64::from(SAMPLE_RATE) / 1000;
        let period: u64 = cadence.iter().map(|(ms, _)| u64::from(*ms) * per_ms).sum();
        let mut t = n % period;
        for &(ms, freq) in cadence {
            let len = u64::from(ms) * per_ms;
            if t < len {
                let Some(f) = freq else { return 0.0 };
                let ramp = (t.min(len - 1 - t) as f32 / RAMP as f32).min(1.0);
                let phase =
                    std::f64::consts::TAU * f64::from(f) * n as f64 / f64::from(SAMPLE_RATE);
                return self.amplitude * ramp * phase.sin() as f32;
            }
            t -= len;
        }
        0.0
    }
}

/// A tone playing on a thread of its own; dropping it stops the tone.
#[derive(Debug)]
pub struct TonePlayer {
    stop: Arc<AtomicBool>,
}

impl TonePlayer {
    /// Plays `tone` at `volume` on speaker `output` (or the system default,
    /// also when that one cannot be opened); `on_error` gets a sentence when
    /// no speaker can be opened. Volume 0 plays nothing.
    pub fn start(
        tone: Tone,
        output: Option<String>,
        volume: u8,
        on_error: impl FnOnce(String) + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if volume == 0 {
            return Self { stop };
        }
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("ring-tone".into())
            .spawn(move || {
                let opened = CpalSink::open(output.as_deref()).or_else(|e| match output {
                    Some(_) => CpalSink::open(None),
                    None => Err(e),
                });
                match opened {
                    Ok(mut sink) => {
                        play(&mut sink, ToneGenerator::new(tone, volume), &flag, MAX_PLAY);
                    }
                    Err(e) => on_error(format!("Speaker unavailable for the ring tone: {e}")),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the ring tone thread: {e}");
        }
        Self { stop }
    }
}

impl Drop for TonePlayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Writes `tone` to `sink` one 20 ms frame at a time, in real time, until
/// `stop` is set, `max` has passed or the sink fails.
pub fn play(sink: &mut dyn AudioSink, mut tone: ToneGenerator, stop: &AtomicBool, max: Duration) {
    let mut frame = [0.0f32; FRAME_SAMPLES];
    let start = Instant::now();
    let mut frames = 0u32;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < max {
        tone.fill(&mut frame);
        if let Err(e) = sink.write_frame(&frame) {
            tracing::warn!("the ring tone stopped: {e}");
            break;
        }
        frames += 1;
        let due = start + Duration::from_millis(20) * frames;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    if let Err(e) = sink.finish() {
        tracing::debug!("closing the ring tone's speaker: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_media::analysis::{goertzel_power, rms};

    fn samples(tone: Tone, volume: u8, ms: usize) -> Vec<f32> {
        let mut out = vec![0.0; ms * 48];
        ToneGenerator::new(tone, volume).fill(&mut out);
        out
    }

    #[test]
    fn the_ringtone_warbles_then_pauses() {
        let s = samples(Tone::Ringtone, 100, 3000);
        let first = &s[480..4320]; // inside the first 880 Hz segment
        assert!(goertzel_power(first, 880.0) > 100.0 * goertzel_power(first, 660.0));
        let second = &s[5280..9120];
        assert!(goertzel_power(second, 660.0) > 100.0 * goertzel_power(second, 880.0));
        assert_eq!(rms(&s[48 * 1000..48 * 3000]), 0.0, "two seconds of silence");
        let peak = s.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((0.45..=0.5).contains(&peak), "{peak}");
    }

    #[test]
    fn ringback_is_one_second_in_five_and_the_volume_scales() {
        let loud = samples(Tone::Ringback, 100, 5000);
        assert!(rms(&loud[..48_000]) > 0.3);
        assert_eq!(rms(&loud[48_000..]), 0.0);
        let quiet = samples(Tone::Ringback, 20, 1000);
        let ratio = rms(&quiet) / rms(&loud[..48_000]);
        assert!((ratio - 0.2).abs() < 0.01, "{ratio}");
        assert_eq!(rms(&samples(Tone::Ringback, 0, 1000)), 0.0);
    }

    #[test]
    fn segment_edges_do_not_click() {
        let s = samples(Tone::Ringtone, 100, 1100);
        let biggest_step = s
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        // A 880 Hz sine at 0.5 moves at most 0.058 per sample.
        assert!(biggest_step < 0.06, "{biggest_step}");
    }

    #[derive(Default)]
    struct Count(u32);
    impl AudioSink for Count {
        fn write_frame(&mut self, _: &[f32]) -> softphone_media::Result<()> {
            self.0 += 1;
            Ok(())
        }
    }

    #[test]
    fn playing_keeps_real_time_and_stops() {
        let mut sink = Count::default();
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        play(
            &mut sink,
            ToneGenerator::new(Tone::Ringtone, 50),
            &stop,
            Duration::from_millis(200),
        );
        assert!(t.elapsed() >= Duration::from_millis(190));
        assert!((9..=11).contains(&sink.0), "{} frames in 200 ms", sink.0);
        stop.store(true, Ordering::Relaxed);
        let mut again = Count::default();
        play(
            &mut again,
            ToneGenerator::new(Tone::Ringtone, 50),
            &stop,
            Duration::from_secs(5),
        );
        assert_eq!(again.0, 0);
    }
}

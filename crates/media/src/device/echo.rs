//! A delay line: what an [`EchoSink`] is given comes back out of its
//! [`EchoSource`] a fixed time later, for the echo-test contact (a bot that
//! plays back what it hears about a second later).
//!
//! Each frame written is stamped with the time it arrived; the source (paced
//! in real time, as every source is) hands a frame out once `delay` has
//! passed since its stamp, and silence while none is due; a frame more
//! than 60 ms overdue (the reader started late or stalled) is skipped, so
//! a backlog never lengthens the delay. Time is wall-clock
//! time, so the delay holds even if one side starts late or stalls for a
//! moment; [`EchoSink::write_at`] and [`EchoSource::read_at`] take it as an
//! argument for tests. The buffer is bounded (the delay plus one second of
//! frames, allocated once): when the reader falls behind, the oldest frames
//! are dropped. One short uncontended mutex between the two threads; this is
//! not a device callback.

use super::{AudioSink, AudioSource, Pacer, Pacing, ReadStatus};
use crate::error::Result;
use crate::{FRAME_SAMPLES, FRAME_US};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames kept beyond the delay before the oldest are dropped (1 s).
const SLACK_FRAMES: usize = 50;

/// How late a frame may be handed out; older ones are skipped.
const MAX_LATE: Duration = Duration::from_millis(60);

type Stamped = (Instant, [f32; FRAME_SAMPLES]);

#[derive(Debug)]
struct Shared {
    frames: VecDeque<Stamped>,
    cap: usize,
}

/// A delay line of `delay`: what the sink takes comes out of the source
/// `delay` later (silence until then). The source is paced in real time.
pub fn delay_line(delay: Duration) -> (EchoSink, EchoSource) {
    delay_line_paced(delay, Pacing::RealTime)
}

/// [`delay_line`] with the source's pacing chosen (tests use
/// [`Pacing::Unpaced`] with [`EchoSource::read_at`]).
pub fn delay_line_paced(delay: Duration, pacing: Pacing) -> (EchoSink, EchoSource) {
    let delay_frames =
        usize::try_from(delay.as_micros() / u128::from(FRAME_US)).unwrap_or(usize::MAX);
    let cap = delay_frames.saturating_add(SLACK_FRAMES).min(100_000);
    let shared = Arc::new(Mutex::new(Shared {
        frames: VecDeque::with_capacity(cap),
        cap,
    }));
    (
        EchoSink {
            shared: shared.clone(),
            dropped: 0,
        },
        EchoSource {
            shared,
            delay,
            pacer: Pacer::new(pacing),
            skipped: 0,
        },
    )
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The input end of a [`delay_line`].
#[derive(Debug)]
pub struct EchoSink {
    shared: Arc<Mutex<Shared>>,
    dropped: u64,
}

impl EchoSink {
    /// Takes one frame (up to 960 samples; a short one is padded with
    /// silence) that arrived at `now`.
    pub fn write_at(&mut self, frame: &[f32], now: Instant) {
        let mut samples = [0.0f32; FRAME_SAMPLES];
        let n = frame.len().min(FRAME_SAMPLES);
        samples[..n].copy_from_slice(&frame[..n]);
        let mut shared = lock(&self.shared);
        while shared.frames.len() >= shared.cap {
            shared.frames.pop_front();
            self.dropped += 1;
        }
        shared.frames.push_back((now, samples));
    }

    /// Frames dropped so far because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl AudioSink for EchoSink {
    fn write_frame(&mut self, frame: &[f32]) -> Result<()> {
        self.write_at(frame, Instant::now());
        Ok(())
    }
}

/// The output end of a [`delay_line`].
#[derive(Debug)]
pub struct EchoSource {
    shared: Arc<Mutex<Shared>>,
    delay: Duration,
    pacer: Pacer,
    skipped: u64,
}

impl EchoSource {
    /// Fills `frame` with the oldest frame written at least `delay` before
    /// `now`, or silence if none is due yet. Half a frame of tolerance, so
    /// a reader and writer ticking at the same rate do not alternate.
    pub fn read_at(&mut self, frame: &mut [f32], now: Instant) {
        let half = Duration::from_micros(FRAME_US / 2);
        let mut shared = lock(&self.shared);
        // Frames overdue by more than MAX_LATE are skipped, so the delay
        // stays `delay` when the reader starts after the writer (media
        // sends only once connected, playout runs from the start) or
        // stalls: a backlog would add to the delay for the whole call.
        while shared
            .frames
            .front()
            .is_some_and(|(at, _)| *at + self.delay + MAX_LATE < now)
        {
            shared.frames.pop_front();
            self.skipped += 1;
        }
        let due = shared
            .frames
            .front()
            .is_some_and(|(at, _)| *at + self.delay <= now + half);
        if due {
            if let Some((_, samples)) = shared.frames.pop_front() {
                let n = frame.len().min(FRAME_SAMPLES);
                frame[..n].copy_from_slice(&samples[..n]);
                frame[n..].iter_mut().for_each(|s| *s = 0.0);
                return;
            }
        }
        drop(shared);
        frame.iter_mut().for_each(|s| *s = 0.0);
    }

    /// Frames skipped so far because they were overdue (the reader
    /// started late or stalled).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Frames waiting in the line.
    pub fn buffered(&self) -> usize {
        lock(&self.shared).frames.len()
    }
}

impl AudioSource for EchoSource {
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        self.pacer.wait();
        self.read_at(frame, Instant::now());
        Ok(ReadStatus::Frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(20);

    fn frame(value: f32) -> [f32; FRAME_SAMPLES] {
        [value; FRAME_SAMPLES]
    }

    /// Writer and reader ticking every 20 ms of virtual time, frame `k`
    /// carrying the value `k + 1`: the reader sees silence for the delay,
    /// then every frame in order, each exactly `delay` late.
    #[test]
    fn frames_come_back_after_the_delay_in_order() {
        let t0 = Instant::now();
        let (mut sink, mut src) = delay_line_paced(Duration::from_secs(1), Pacing::Unpaced);
        let mut out = [0.0f32; FRAME_SAMPLES];
        let mut heard = Vec::new();
        for k in 0..200u32 {
            let now = t0 + TICK * k;
            sink.write_at(&frame((k + 1) as f32), now);
            src.read_at(&mut out, now);
            assert!(out.iter().all(|&s| s == out[0]), "tick {k}: mixed frame");
            heard.push(out[0]);
        }
        // 1 s = 50 frames of silence, then 1, 2, 3, …
        assert!(heard[..50].iter().all(|&v| v == 0.0), "{:?}", &heard[..55]);
        for (k, v) in heard[50..].iter().enumerate() {
            assert_eq!(*v, (k + 1) as f32, "tick {}", k + 50);
        }
        assert!(src.buffered() <= 51, "{}", src.buffered());
        assert_eq!(sink.dropped(), 0);
    }

    /// The writer starting late does not shorten the delay: the reader
    /// waits `delay` from the first frame written.
    #[test]
    fn a_late_writer_keeps_the_delay() {
        let t0 = Instant::now();
        let (mut sink, mut src) = delay_line_paced(Duration::from_millis(500), Pacing::Unpaced);
        let mut out = [0.0f32; FRAME_SAMPLES];
        let mut first = None;
        for k in 0..200u32 {
            let now = t0 + TICK * k;
            if k >= 40 {
                sink.write_at(&frame(1.0), now);
            }
            src.read_at(&mut out, now);
            if out[0] != 0.0 && first.is_none() {
                first = Some(k);
            }
        }
        // Written from tick 40 on, heard from tick 40 + 25.
        assert_eq!(first, Some(65));
    }

    /// A reader that starts after the writer (a call's playout runs from
    /// the start, its sending only once media is connected) does not turn
    /// the backlog into extra delay: overdue frames are skipped.
    #[test]
    fn a_late_reader_catches_up() {
        let t0 = Instant::now();
        let (mut sink, mut src) = delay_line_paced(Duration::ZERO, Pacing::Unpaced);
        let mut out = [0.0f32; FRAME_SAMPLES];
        for k in 0..100u32 {
            let now = t0 + TICK * k;
            sink.write_at(&frame((k + 1) as f32), now);
            if k >= 40 {
                src.read_at(&mut out, now);
                // Never more than 60 ms behind the writer.
                assert!(out[0] >= (k + 1 - 3) as f32, "tick {k}: heard {}", out[0]);
            }
        }
        // Frames 1..=37 were more than 60 ms overdue at tick 40; at most
        // 60 ms of backlog is left.
        assert_eq!(src.skipped(), 37);
        assert!(src.buffered() <= 3, "{}", src.buffered());
    }

    /// A reader that stops while the writer goes on: the buffer stays
    /// bounded (delay + 1 s), the oldest frames go, nothing grows.
    #[test]
    fn the_buffer_is_capped() {
        let t0 = Instant::now();
        let (mut sink, mut src) = delay_line_paced(Duration::from_secs(1), Pacing::Unpaced);
        for k in 0..10_000u32 {
            sink.write_at(&frame(k as f32), t0 + TICK * k);
        }
        assert_eq!(src.buffered(), 100);
        assert_eq!(sink.dropped(), 9_900);
        // What is left is the newest 100 frames (2 s); read on time, the
        // oldest of them comes out first.
        let mut out = [0.0f32; FRAME_SAMPLES];
        src.read_at(&mut out, t0 + TICK * 9_900 + Duration::from_secs(1));
        assert_eq!(out[0], 9_900.0);
    }

    /// Short frames are padded, short reads take what fits; zero delay
    /// passes frames straight through.
    #[test]
    fn odd_sizes_and_zero_delay() {
        let t0 = Instant::now();
        let (mut sink, mut src) = delay_line_paced(Duration::ZERO, Pacing::Unpaced);
        sink.write_at(&[0.5; 10], t0);
        let mut out = [1.0f32; FRAME_SAMPLES];
        src.read_at(&mut out, t0);
        assert!(out[..10].iter().all(|&s| s == 0.5));
        assert!(out[10..].iter().all(|&s| s == 0.0));
        let mut short = [1.0f32; 4];
        src.read_at(&mut short, t0);
        assert_eq!(short, [0.0; 4], "nothing due: silence");
    }

    /// Through the traits, paced in real time.
    #[test]
    fn through_the_traits_in_real_time() {
        let (mut sink, mut src) = delay_line(Duration::from_millis(100));
        let mut out = [0.0f32; FRAME_SAMPLES];
        sink.write_frame(&frame(0.25)).unwrap();
        let start = Instant::now();
        let mut reads = 0;
        while out[0] == 0.0 && reads < 50 {
            assert_eq!(src.read_frame(&mut out).unwrap(), ReadStatus::Frame);
            reads += 1;
        }
        assert_eq!(out[0], 0.25);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(80) && waited < Duration::from_millis(400),
            "{waited:?}"
        );
    }
}

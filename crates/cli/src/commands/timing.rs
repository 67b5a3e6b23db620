//! `--timing-log PATH`: the wall-clock time of every 20 ms audio frame.
//!
//! The call's source and sink are wrapped so that each frame the source
//! hands to the send pipeline, and each frame the playout thread hands to
//! the sink, appends one line to PATH:
//!
//! ```text
//! source 0 1764089123456789
//! sink 0 1764089123467012
//! ```
//!
//! (`source`/`sink`, the frame's index counted from 0 for each call, and
//! the unix time in microseconds, taken right after the source returned the
//! frame and right before the sink was given it). Sample `n` of the input
//! file is in source frame `n / 960`; sample `n` of an `--output-wav`
//! recording is in sink frame `n / 960`. With both ends on one machine the
//! clock is common, so `softphone-audio-bench` turns marker positions into
//! mouth-to-ear latency. Lines are buffered and flushed about once a second
//! and when the call's audio stops.
//!
//! In a call with video from the test pattern, each frame whose counter
//! can be read is logged too: `video-source COUNTER UNIX_US` as our frame
//! is captured (before encoding), `video-sink COUNTER UNIX_US` as a remote
//! frame is shown (after the lip-sync hold). The same counter on two ends
//! gives glass-to-glass latency; against the audio's, the A/V offset.

use anyhow::Context as _;
use softphone_media::{AudioSink, AudioSource, ReadStatus};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines between two flushes (both directions together: about a second).
const FLUSH_EVERY: u64 = 100;

/// The open log, shared by a call's source and sink.
#[derive(Clone)]
pub struct TimingLog {
    inner: Arc<Mutex<LogFile>>,
}

struct LogFile {
    out: BufWriter<File>,
    lines: u64,
}

impl TimingLog {
    /// Creates (truncates) the log file.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot write the timing log {}", path.display()))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(LogFile {
                out: BufWriter::new(file),
                lines: 0,
            })),
        })
    }

    /// Notes a test-pattern frame: ours captured (`local`) or a remote one shown.
    pub fn note_video(&self, local: bool, counter: u32) {
        let kind = if local { "video-source" } else { "video-sink" };
        self.note(kind, u64::from(counter));
    }

    fn note(&self, kind: &str, frame: u64) {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let mut log = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(log.out, "{kind} {frame} {us}");
        log.lines += 1;
        if log.lines.is_multiple_of(FLUSH_EVERY) {
            let _ = log.out.flush();
        }
    }

    fn flush(&self) {
        let mut log = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = log.out.flush();
    }
}

/// A source that logs when each frame leaves it.
pub struct TimedSource {
    inner: Box<dyn AudioSource>,
    log: TimingLog,
    frames: u64,
}

impl TimedSource {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn AudioSource>, log: TimingLog) -> Self {
        Self {
            inner,
            log,
            frames: 0,
        }
    }
}

impl AudioSource for TimedSource {
    fn read_frame(&mut self, frame: &mut [f32]) -> softphone_media::Result<ReadStatus> {
        let status = self.inner.read_frame(frame)?;
        self.log.note("source", self.frames);
        self.frames += 1;
        Ok(status)
    }
}

impl Drop for TimedSource {
    fn drop(&mut self) {
        self.log.flush();
    }
}

/// A sink that logs when each frame enters it.
pub struct TimedSink {
    inner: Box<dyn AudioSink>,
    log: TimingLog,
    frames: u64,
}

impl TimedSink {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn AudioSink>, log: TimingLog) -> Self {
        Self {
            inner,
            log,
            frames: 0,
        }
    }
}

impl AudioSink for TimedSink {
    fn write_frame(&mut self, frame: &[f32]) -> softphone_media::Result<()> {
        self.log.note("sink", self.frames);
        self.frames += 1;
        self.inner.write_frame(frame)
    }

    fn finish(&mut self) -> softphone_media::Result<()> {
        self.log.flush();
        self.inner.finish()
    }
}

impl Drop for TimedSink {
    fn drop(&mut self) {
        self.log.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_media::device::{NullSink, WavFileSource};
    use softphone_media::Pacing;

    #[test]
    fn every_frame_gets_a_line_with_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let log = TimingLog::create(&path).unwrap();
        let mut source = TimedSource::new(
            Box::new(WavFileSource::from_samples(
                vec![0.1; 960 * 3],
                Pacing::Unpaced,
            )),
            log.clone(),
        );
        let mut sink = TimedSink::new(Box::new(NullSink::default()), log);
        let mut frame = vec![0.0; 960];
        for _ in 0..3 {
            source.read_frame(&mut frame).unwrap();
            sink.write_frame(&frame).unwrap();
        }
        sink.finish().unwrap();
        drop((source, sink));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(lines[0][..2], ["source", "0"]);
        assert_eq!(lines[5][..2], ["sink", "2"]);
        let t: Vec<u64> = lines.iter().map(|l| l[2].parse().unwrap()).collect();
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
        assert!(t[0] > 1_600_000_000_000_000, "unix µs: {}", t[0]);
    }
}

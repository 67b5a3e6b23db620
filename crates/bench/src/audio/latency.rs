//! Mouth-to-ear latency from markers, on the CLIs' common wall clock.
//!
//! Each CLI runs with `--timing-log`: the unix time (µs) at which every
//! 20 ms frame left its source and entered its sink. Input sample `s` left
//! the sender's source at `source[s / 960] + (s % 960) / 48 kHz`; recorded
//! sample `q` entered the receiver's sink at `sink[q / 960] + (q % 960) /
//! 48 kHz`. For each marker put into the input, the recording is searched
//! (normalised cross-correlation) from the moment the marker left the source
//! up to 550 ms later; the difference of the two times is its latency.
//! Markers not found (correlation < 0.7, e.g. sent before the media was up)
//! are counted, not used.

use super::report::{summarize, Report, Target};
use super::signal::{locate, marker, Layout, MARKER_SPACING};
use super::wav::{self, RATE};
use anyhow::{bail, Context as _, Result};
use serde_json::json;
use std::path::Path;

/// Frame length in samples.
const FRAME: usize = 960;
/// The longest latency looked for (less than the marker spacing).
const SEARCH: usize = MARKER_SPACING * 55 / 60;
/// A weaker match than this is not the marker.
const MIN_NCC: f32 = 0.7;

/// Frame times from one `--timing-log`.
#[derive(Debug, Default, Clone)]
pub struct FrameTimes {
    /// Unix µs of source frame i.
    pub source: Vec<u64>,
    /// Unix µs of sink frame i.
    pub sink: Vec<u64>,
}

impl FrameTimes {
    /// Reads a timing log (only its first call: indices must count up from 0).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the timing log {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses `source|sink INDEX UNIX_US` lines.
    pub fn parse(text: &str) -> Result<Self> {
        let mut t = FrameTimes::default();
        for (n, line) in text.lines().enumerate() {
            let mut parts = line.split_whitespace();
            let (Some(kind), Some(index), Some(us)) = (parts.next(), parts.next(), parts.next())
            else {
                bail!("line {}: {line:?} is not `KIND INDEX UNIX_US`", n + 1);
            };
            let index: usize = index
                .parse()
                .with_context(|| format!("line {}: bad index", n + 1))?;
            let us: u64 = us
                .parse()
                .with_context(|| format!("line {}: bad time", n + 1))?;
            let list = match kind {
                "source" => &mut t.source,
                "sink" => &mut t.sink,
                // Video frames (`--timing-log` in a video call).
                "video-source" | "video-sink" => continue,
                other => bail!("line {}: unknown kind {other:?}", n + 1),
            };
            // A second call in the same log starts again at 0: ignore it.
            if index == list.len() {
                list.push(us);
            }
        }
        Ok(t)
    }

    fn source_time(&self, sample: usize) -> Option<f64> {
        let t = *self.source.get(sample / FRAME)?;
        Some(t as f64 + (sample % FRAME) as f64 * 1e6 / f64::from(RATE))
    }

    fn sink_time(&self, sample: usize) -> Option<f64> {
        let t = *self.sink.get(sample / FRAME)?;
        Some(t as f64 + (sample % FRAME) as f64 * 1e6 / f64::from(RATE))
    }

    /// The recorded sample that entered the sink at unix µs `t` (0 if before).
    fn sink_sample_at(&self, t: f64) -> usize {
        let k = self.sink.partition_point(|&s| (s as f64) <= t);
        if k == 0 {
            return 0;
        }
        let frame = k - 1;
        let into = ((t - self.sink[frame] as f64) * f64::from(RATE) / 1e6).max(0.0) as usize;
        frame * FRAME + into.min(FRAME - 1)
    }
}

/// Latencies of one direction.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    /// Milliseconds, one per marker found.
    pub ms: Vec<f64>,
    /// Markers that were sent while the source ran.
    pub sent: usize,
}

/// Latency of each marker of `layout` from the sender's source to the
/// receiver's sink (`recording` = the receiver's `--output-wav`).
pub fn measure(
    layout: &Layout,
    sender: &FrameTimes,
    receiver: &FrameTimes,
    recording: &[f32],
) -> Latencies {
    let mut out = Latencies::default();
    for &(pos, variant) in &layout.markers {
        let Some(sent_at) = sender.source_time(pos) else {
            continue; // the source stopped before this marker
        };
        out.sent += 1;
        // The receiver may tick a frame early; start 20 ms before.
        let from = receiver.sink_sample_at(sent_at).saturating_sub(FRAME);
        let Some((lag, ncc)) = locate(recording, &marker(variant), from, from + SEARCH) else {
            continue;
        };
        if ncc < MIN_NCC {
            continue;
        }
        if let Some(heard_at) = receiver.sink_time(lag) {
            out.ms.push((heard_at - sent_at) / 1000.0);
        }
    }
    out
}

/// The files of one direction of a call.
#[derive(Debug, Clone, Copy)]
pub struct Direction<'a> {
    /// Who sent (for labels), e.g. `alice`.
    pub from: &'a str,
    /// Who heard.
    pub to: &'a str,
    /// The sender's `--timing-log`.
    pub sender_log: &'a Path,
    /// The receiver's `--timing-log`.
    pub receiver_log: &'a Path,
    /// The receiver's `--output-wav`.
    pub recording: &'a Path,
}

/// Measures one direction and reports it under `m2e_{key}_…`: median and
/// p95 against `target`, the markers found of those sent, each latency
/// (JSON), and a note; a direction that cannot be measured is a note.
pub fn report_direction(
    report: &mut Report,
    key: &str,
    dir: Direction<'_>,
    layout: &Layout,
    target: Target,
) {
    let Direction { from, to, .. } = dir;
    let got = (|| -> Result<Latencies> {
        let sender = FrameTimes::read(dir.sender_log)?;
        let receiver = FrameTimes::read(dir.receiver_log)?;
        let recording = wav::read_48k(dir.recording)?;
        Ok(measure(layout, &sender, &receiver, &recording))
    })();
    let lat = match got {
        Ok(lat) => lat,
        Err(e) => return report.note(format!("mouth-to-ear {from}→{to}: n/a: {e:#}")),
    };
    let s = summarize(&lat.ms);
    let label = format!("mouth-to-ear {from}→{to}");
    report.figure(
        &format!("m2e_{key}_median_ms"),
        &format!("{label} median"),
        s.map(|s| s.median),
        "ms",
        target,
    );
    report.figure(
        &format!("m2e_{key}_p95_ms"),
        &format!("{label} p95"),
        s.map(|s| s.p95),
        "ms",
        target,
    );
    report.value(
        &format!("m2e_{key}_markers"),
        json!({"found": lat.ms.len(), "sent": lat.sent}),
    );
    let each: Vec<f64> = lat.ms.iter().map(|m| (m * 10.0).round() / 10.0).collect();
    report.value(&format!("m2e_{key}_each_ms"), json!(each));
    report.note(format!(
        "mouth-to-ear {from}→{to}: {} of {} markers found{}",
        lat.ms.len(),
        lat.sent,
        s.map(|s| format!(", max {:.1} ms", s.max))
            .unwrap_or_default()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::signal::build_input;

    #[test]
    fn a_known_delay_is_measured_from_frame_times() {
        let speech = vec![0.0; 4800];
        let layout = build_input(&speech, 3.0);
        // The sink starts 7 ms after the source and the network delays 41.5 ms.
        let frames = layout.samples.len() / FRAME + 200;
        let t0 = 1_700_000_000_000_000u64;
        let sender = FrameTimes {
            source: (0..frames as u64).map(|i| t0 + i * 20_000).collect(),
            sink: Vec::new(),
        };
        let receiver = FrameTimes {
            source: Vec::new(),
            sink: (0..frames as u64)
                .map(|i| t0 + 7_000 + i * 20_000)
                .collect(),
        };
        // Sample s of the input is heard at recording index r with
        // t0 + 7 ms + r/48k = t0 + s/48k + 41.5 ms → r = s + 34.5 ms.
        let shift = 1656;
        let mut rec = vec![0.0; shift];
        rec.extend_from_slice(&layout.samples);
        let lat = measure(&layout, &sender, &receiver, &rec);
        assert_eq!(lat.sent, layout.markers.len());
        assert_eq!(lat.ms.len(), layout.markers.len());
        for ms in lat.ms {
            assert!((ms - 41.5).abs() < 0.05, "{ms}");
        }
    }

    #[test]
    fn logs_parse_and_bad_lines_are_errors() {
        let t = FrameTimes::parse("source 0 10\nsink 0 15\nsource 1 30\nsource 0 99\n").unwrap();
        assert_eq!(t.source, vec![10, 30]);
        assert_eq!(t.sink, vec![15]);
        assert!(FrameTimes::parse("source zero 10").is_err());
        assert!(FrameTimes::parse("mic 0 10").is_err());
        assert!(FrameTimes::parse("source 0").is_err());
    }
}

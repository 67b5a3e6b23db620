//! Helpers of `tests/audio.rs` and `tests/loss.rs`: speech made with
//! espeak-ng and sox, a small WAV reader, the alignment and similarity
//! score, wideband PESQ through `scripts/speech_score.py`, and coturn.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Speech as a 48 kHz mono 16-bit WAV, padded with 0.3 s of silence at the start.
pub fn speech(dir: &Path, name: &str, text: &str) -> PathBuf {
    let raw = dir.join(format!("{name}_raw.wav"));
    let out = dir.join(format!("{name}.wav"));
    run("espeak-ng", &["-w", path(&raw), text]);
    run(
        "sox",
        &[
            path(&raw),
            "-r",
            "48000",
            "-c",
            "1",
            "-b",
            "16",
            path(&out),
            "pad",
            "0.3",
            "0",
        ],
    );
    out
}

fn run(tool: &str, args: &[&str]) {
    let status = Command::new(tool).args(args).status().unwrap_or_else(|e| {
        panic!(
            "cannot run {tool} ({e}); install it (Debian package {tool}, scripts/install-deps.sh)"
        )
    });
    assert!(status.success(), "{tool} {args:?} failed: {status}");
}

/// 16-bit PCM samples of the first channel of a WAV file.
pub fn read_wav(file: &Path) -> Vec<f32> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{} is not a WAV file",
        file.display()
    );
    let (mut pos, mut channels, mut data) = (12, 1usize, None);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            assert_eq!(
                u16::from_le_bytes([body[14], body[15]]),
                16,
                "{}: 16-bit PCM expected",
                file.display()
            );
            channels = usize::from(u16::from_le_bytes([body[2], body[3]])).max(1);
        } else if id == b"data" {
            data = Some(body);
        }
        pos += 8 + len + (len & 1);
    }
    let data = data.unwrap_or_else(|| panic!("{} has no data", file.display()));
    data.chunks_exact(2 * channels)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect()
}

/// How well a recording matches what was sent, once aligned.
#[derive(Debug)]
pub struct Score {
    /// Where the sent audio starts in the recording (s).
    pub offset_s: f64,
    /// Normalized correlation of the 10 ms energy envelopes (0..1).
    pub envelope: f64,
    /// Median normalized correlation of the 250 ms speech windows, each
    /// aligned to the sample (-1..1).
    pub samples: f64,
    /// Recording level over the speech relative to the original (dB).
    pub level_db: f64,
}

impl Score {
    pub fn check(&self, what: &str) {
        // Thresholds leave room for a loaded machine (a stall conceals a
        // few frames); a recording without this speech scores below 0.3.
        assert!(
            self.envelope > 0.8,
            "{what}: the energy envelope does not match: {self:?}"
        );
        assert!(
            self.samples > 0.6,
            "{what}: the waveform does not match: {self:?}"
        );
        assert!(
            self.level_db.abs() < 6.0,
            "{what}: the level is off: {self:?}"
        );
        // The recording starts with the session, the speech (after 0.3 s
        // of padding) once media is connected.
        assert!(
            self.offset_s < 3.0,
            "{what}: the speech came late: {self:?}"
        );
    }
}

/// Wideband PESQ of a recording against what was sent, from
/// `scripts/speech_score.py` (which aligns the two first).
#[derive(Debug)]
pub struct Pesq {
    /// MOS-LQO, 1.04 (bad) to 4.64 (transparent).
    pub pesq_wb: f64,
    /// Where the sent audio starts in the recording (s).
    pub offset_s: f64,
    /// Normalized cross-correlation at that offset (16 kHz samples).
    pub correlation: f64,
}

/// Scores `received` against `sent` with the venv python that
/// scripts/install-deps.sh makes (`$SOFTPHONE_VENV`, by default
/// `~/.cache/softphone/venv`, with pesq, numpy and scipy).
pub fn pesq(sent: &Path, received: &Path) -> Pesq {
    let venv = std::env::var_os("SOFTPHONE_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/softphone/venv")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/speech_score.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([sent, received])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); scripts/install-deps.sh makes that venv",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "speech_score.py {} {} failed: {}",
        sent.display(),
        received.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("speech_score.py printed no JSON ({e}): {out:?}"));
    let field = |name: &str| {
        v[name]
            .as_f64()
            .unwrap_or_else(|| panic!("speech_score.py printed no {name}: {v}"))
    };
    Pesq {
        pesq_wb: field("pesq_wb"),
        offset_s: field("offset_s"),
        correlation: field("correlation"),
    }
}

const HOP: usize = 480; // 10 ms at 48 kHz

fn envelope(x: &[f32]) -> Vec<f64> {
    x.chunks(HOP)
        .map(|c| c.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>().sqrt())
        .collect()
}

fn ncc(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum();
    let nb: f64 = b.iter().map(|x| x * x).sum();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb).sqrt()
    }
}

fn ncc_f32(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb).sqrt()
    }
}

/// 250 ms at 48 kHz.
const WINDOW: usize = 12_000;

fn energy(x: &[f32]) -> f64 {
    x.iter()
        .map(|s| f64::from(*s).powi(2))
        .sum::<f64>()
        .max(1e-12)
}

/// The best correlation of window `w` within `radius` samples of
/// `expected` in `rec`: every 4th sample first, then to the sample.
fn local_match(w: &[f32], rec: &[f32], expected: usize, radius: usize) -> f64 {
    let lo = expected.saturating_sub(radius);
    let hi = (expected + radius).min(rec.len().saturating_sub(w.len()));
    if lo > hi {
        return 0.0;
    }
    let every4 = |x: &[f32]| -> Vec<f32> { x.iter().step_by(4).copied().collect() };
    let w4 = every4(w);
    let (mut best, mut best_at) = (f64::MIN, lo);
    for at in (lo..=hi).step_by(4) {
        let c = ncc_f32(&w4, &every4(&rec[at..at + w.len()]));
        if c > best {
            (best, best_at) = (c, at);
        }
    }
    (best_at.saturating_sub(4)..=(best_at + 4).min(hi))
        .map(|at| ncc_f32(w, &rec[at..at + w.len()]))
        .fold(f64::MIN, f64::max)
}

/// Aligns `sent` inside `recorded`: coarsely on energy envelopes (10 ms),
/// then window by window to the sample (see [`Score::samples`]).
pub fn similarity(sent: &[f32], recorded: &[f32]) -> Score {
    let (es, er) = (envelope(sent), envelope(recorded));
    assert!(
        er.len() >= es.len(),
        "the recording ({} s) is shorter than the speech",
        recorded.len() as f64 / 48_000.0
    );
    let (mut best_env, mut best_hop) = (f64::MIN, 0);
    for hop in 0..=(er.len() - es.len()) {
        let c = ncc(&es, &er[hop..hop + es.len()]);
        if c > best_env {
            (best_env, best_hop) = (c, hop);
        }
    }
    let best_at = (best_hop * HOP).min(recorded.len() - sent.len());
    // Sample-level match per 250 ms window, each aligned on its own within
    // ±30 ms of the envelope's offset (the jitter buffer may skip or stretch
    // a frame now and then, which shifts everything after it); the median
    // over the windows with speech in them.
    let loudest = sent.chunks(WINDOW).map(energy).fold(0.0, f64::max);
    let mut windows: Vec<f64> = sent
        .chunks_exact(WINDOW)
        .enumerate()
        .filter(|(_, w)| energy(w) > loudest * 0.1)
        .map(|(i, w)| local_match(w, recorded, best_at + i * WINDOW, 1_440))
        .collect();
    windows.sort_by(f64::total_cmp);
    let samples = windows.get(windows.len() / 2).copied().unwrap_or(0.0);
    let level_db = 10.0 * (energy(&recorded[best_at..best_at + sent.len()]) / energy(sent)).log10();
    Score {
        offset_s: best_at as f64 / 48_000.0,
        envelope: best_env,
        samples,
        level_db,
    }
}

/// coturn (`turnserver`, Debian `coturn`) on a free loopback port; killed on drop.
pub struct Coturn(std::process::Child);

impl Coturn {
    pub fn start(port: u16, secret: &str) -> Self {
        let child = Command::new("turnserver")
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--realm=softphone",
                "--use-auth-secret",
            ])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--static-auth-secret={secret}"))
            .args([
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                "--log-file=stdout",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run turnserver ({e}); install coturn (scripts/install-deps.sh)")
            });
        std::thread::sleep(Duration::from_millis(500));
        Self(child)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

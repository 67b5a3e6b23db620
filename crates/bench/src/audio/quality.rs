//! Speech and its score: an espeak-ng sentence resampled by sox to 48 kHz
//! mono 16-bit, and `scripts/speech_score.py SENT RECEIVED` (wideband PESQ
//! after aligning the recording by cross-correlation), run with the
//! project's venv Python (`$SOFTPHONE_VENV`, default
//! `~/.cache/softphone/venv`).

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The sentence spoken.
pub const SENTENCE: &str =
    "The quick brown fox jumps over the lazy dog. Seven, eight, nine. Please call me back tomorrow morning.";

/// Makes `dir/speech.wav` (48 kHz mono 16-bit).
pub fn make_speech(dir: &Path) -> Result<PathBuf> {
    let raw = dir.join("speech_raw.wav");
    let out = dir.join("speech.wav");
    run(
        "espeak-ng",
        &["-w".as_ref(), raw.as_os_str(), SENTENCE.as_ref()],
    )?;
    run(
        "sox",
        &[
            raw.as_os_str(),
            "-r".as_ref(),
            "48000".as_ref(),
            "-c".as_ref(),
            "1".as_ref(),
            "-b".as_ref(),
            "16".as_ref(),
            out.as_os_str(),
        ],
    )?;
    Ok(out)
}

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "cannot run {tool} (Debian package {tool}; scripts/install-deps.sh installs it)"
            )
        })?;
    if !out.status.success() {
        bail!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One score.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    /// PESQ-WB (MOS-LQO).
    pub pesq_wb: f64,
    /// Where the speech was found in the recording (s).
    pub offset_s: f64,
    /// Normalised correlation of the aligned speech.
    pub correlation: f64,
}

/// The scorer: the venv's Python and the script.
#[derive(Debug, Clone)]
pub struct Scorer {
    python: PathBuf,
    script: PathBuf,
}

impl Scorer {
    /// Finds the venv Python and `scripts/speech_score.py` (given, or
    /// found from the current folder or the executable upwards).
    pub fn find(script: Option<&Path>) -> Result<Scorer> {
        let venv = std::env::var_os("SOFTPHONE_VENV")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/softphone/venv"))
            })
            .context("no SOFTPHONE_VENV and no HOME")?;
        let python = venv.join("bin/python");
        if !python.exists() {
            bail!(
                "{} is missing (scripts/install-deps.sh makes the scorer's venv)",
                python.display()
            );
        }
        let script = match script {
            Some(s) => s.to_path_buf(),
            None => find_upwards("scripts/speech_score.py").context(
                "scripts/speech_score.py not found; run from the repository or pass --score-script",
            )?,
        };
        Ok(Scorer { python, script })
    }

    /// Scores `received` against `sent`.
    pub fn score(&self, sent: &Path, received: &Path) -> Result<Score> {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .arg(sent)
            .arg(received)
            .stdin(Stdio::null())
            .output()
            .context("cannot run the speech scorer")?;
        if !out.status.success() {
            bail!(
                "the speech scorer failed on {}: {}",
                received.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        parse_score(&text).with_context(|| format!("the scorer printed {:?}", text.trim()))
    }
}

/// Reads the scorer's JSON line.
pub fn parse_score(text: &str) -> Result<Score> {
    let v: Value = serde_json::from_str(text.trim()).context("not JSON")?;
    let get = |k: &str| v[k].as_f64().with_context(|| format!("no number `{k}`"));
    Ok(Score {
        pesq_wb: get("pesq_wb")?,
        offset_s: get("offset_s")?,
        correlation: get("correlation")?,
    })
}

fn find_upwards(rel: &str) -> Option<PathBuf> {
    let mut starts = vec![];
    if let Ok(d) = std::env::current_dir() {
        starts.push(d);
    }
    if let Ok(e) = std::env::current_exe() {
        starts.push(e);
    }
    for start in starts {
        for dir in start.ancestors() {
            let p = dir.join(rel);
            if p.exists() {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scorer_output_parses_or_says_why_not() {
        let s = parse_score(r#"{"pesq_wb": 4.1, "offset_s": 1.23, "correlation": 0.97}"#).unwrap();
        assert!((s.pesq_wb - 4.1).abs() < 1e-9);
        assert!(parse_score("Traceback ...").is_err());
        assert!(parse_score(r#"{"pesq_wb": null}"#).is_err());
    }
}

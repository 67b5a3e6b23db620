//! `softphone-audio-bench`: the audio figures of a real call, in one run.
//!
//! Starts the real server on loopback and real `softphone-cli` processes
//! with WAV files as microphone and speaker, then prints a table and a final
//! JSON line: mouth-to-ear latency, accept → first decoded audio, CPU per
//! endpoint (and the ratio to two baresip instances doing the same call),
//! and PESQ-WB of received speech, clean and under random UDP loss.
//! See `docs/bench.md` for how each figure is measured.
//!
//! Run: `cargo build --release -p softphone-server -p softphone-cli
//! -p softphone-bench && target/release/softphone-audio-bench`
//! (`--quick` for a short smoke run). Asserts nothing: a missed target is
//! printed, not an error.

use clap::Parser;
use softphone_bench::audio;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = audio::Args::parse();
    match audio::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softphone-audio-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

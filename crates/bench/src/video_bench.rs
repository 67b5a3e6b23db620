//! `softphone-video-bench`: the video figures of real calls, in one run.
//!
//! Starts the real server on loopback and two real `softphone-cli`
//! processes sending the test pattern both ways, then prints a table and a
//! final JSON line: CPU per endpoint at 720p and 360p, 30 fps, the frame
//! rates and bitrates, and glass-to-glass latency read off the pattern's
//! counter. See `docs/bench.md`.
//!
//! Run: `cargo build --release -p softphone-server -p softphone-cli
//! -p softphone-bench && target/release/softphone-video-bench`.
//! Asserts nothing: a missed target is printed, not an error.

use clap::Parser;
use softphone_bench::video;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = video::Args::parse();
    match video::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softphone-video-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

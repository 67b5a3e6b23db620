//! `softphone-group-bench`: group calls through the server's forwarder.
//!
//! 1. **Forwarder load**: the real server and one process playing N members
//!    of one group call (`--members 10,20`), each sending Opus frames
//!    pre-encoded from speech and counting what it receives, without
//!    decoding. Prints the server's CPU and memory, forwarded audio streams
//!    per core and the delivery ratio.
//! 2. **Mouth-to-ear through the forwarder**: a group call of three real
//!    `softphone-cli` processes, one playing the audio bench's marker signal.
//! 3. With `--profile`: where the server's time goes (perf) under the
//!    largest load.
//!
//! See `docs/bench.md`. Run: `cargo build --release -p softphone-server
//! -p softphone-cli -p softphone-bench &&
//! target/release/softphone-group-bench` (`--quick` for a smoke run).
//! Asserts nothing: a missed target is printed, not an error.

use clap::Parser;
use softphone_bench::group;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = group::Args::parse();
    match group::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softphone-group-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

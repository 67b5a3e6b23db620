//! `softphone-cli`: a headless softphone for scripts, bots and tests.
//!
//! It places and answers calls with the same calling API as the desktop app
//! (`softphone-client`), prints every call event as one JSON line on stdout
//! (flushed at once) and sentences for people on stderr. See `--help`.
//!
//! # Layout
//! - `main.rs`: parse the command line, set up logging and the runtime, dispatch.
//! - `commands/mod.rs`: global options, login, the event pump, signals, the
//!   in-call loop shared by `call` and `answer`.
//! - `commands/call.rs`, `commands/answer.rs`: placing and answering calls.
//! - `commands/echo_bot.rs`: `echo-bot`, the echo-test contact.
//! - `commands/query.rs`: `users`, `groups`, `history`.
//! - `commands/output.rs`: the JSON line shapes and the sentences.
//! - `commands/media.rs`: the audio options, `devices`.
//! - `commands/video.rs`: the video options (`--video-source`,
//!   `--video-after`, …) and `--record-video` (IVF files, `video_received`
//!   lines).
//! - `commands/timing.rs`: `--timing-log`, per-frame wall-clock times of the
//!   call's audio source and sink (for the audio bench), and of test-pattern
//!   video frames.

mod commands;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

/// A headless softphone: place and answer calls, list users, groups and the call log.
#[derive(Debug, Parser)]
#[command(name = "softphone-cli", version, about)]
struct Cli {
    #[command(flatten)]
    global: commands::Global,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // webrtc's ICE and DTLS layers warn about normal setup steps
        // ("no candidate pairs yet", "no server_name"): errors only.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,rtc_ice=error,rtc_dtls=error")
        });
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(commands::run(cli.global, cli.command))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from([
            "softphone-cli",
            "call",
            "bob",
            "--user",
            "alice",
            "--server",
            "http://h:1",
            "--video",
            "--timeout",
            "1.5",
            "--device",
            "d1",
        ])
        .unwrap();
        assert_eq!(cli.global.user.as_deref(), Some("alice"));
        assert_eq!(cli.global.server, "http://h:1");
        assert_eq!(cli.global.device.as_deref(), Some("d1"));
        let commands::Command::Call(args) = cli.command else {
            panic!("expected call");
        };
        assert!(args.video && !args.group);
        assert_eq!(args.timeout, Some(std::time::Duration::from_millis(1500)));
    }

    #[test]
    fn echo_bot_defaults_and_options() {
        let cli = Cli::try_parse_from(["softphone-cli", "echo-bot"]).unwrap();
        let commands::Command::EchoBot(args) = cli.command else {
            panic!("expected echo-bot");
        };
        assert_eq!(args.delay, std::time::Duration::from_secs(1));
        assert_eq!(args.max_call, std::time::Duration::from_secs(120));
        assert_eq!(cli.global.user, None, "echo is filled in when logging in");
        let cli = Cli::try_parse_from([
            "softphone-cli",
            "echo-bot",
            "--delay",
            "0.5",
            "--max-call",
            "30",
        ])
        .unwrap();
        let commands::Command::EchoBot(args) = cli.command else {
            panic!("expected echo-bot");
        };
        assert_eq!(args.delay, std::time::Duration::from_millis(500));
        assert_eq!(args.max_call, std::time::Duration::from_secs(30));
    }

    #[test]
    fn bad_input_is_a_usage_error_not_a_panic() {
        for argv in [
            &["softphone-cli", "call"][..],
            &["softphone-cli", "call", "bob", "--hangup-after", "soon"],
            &["softphone-cli", "answer", "--count", "0"],
            &["softphone-cli", "answer", "--reject", "--busy"],
            &["softphone-cli", "answer", "--busy", "--hangup-after", "1"],
            &["softphone-cli", "history", "--missed", "--incoming"],
            &["softphone-cli", "echo-bot", "--delay", "-1"],
            &["softphone-cli", "echo-bot", "--delay", "61"],
            &["softphone-cli", "echo-bot", "--max-call", "soon"],
            &["softphone-cli", "dance"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }
}

//! `softphone-cli echo-bot`: the echo-test contact. Logs in (as `echo`
//! unless `--user` says otherwise), answers every incoming call, one at a
//! time, and plays back what it hears `--delay` seconds later, so a caller
//! can check their microphone and speakers. Each call is hung up after
//! `--max-call` so nobody ties the bot up; a second caller meanwhile gets
//! the server's busy (this device has no call waiting).
//!
//! Prints the usual JSON event lines. Runs until Ctrl-C or SIGTERM, then
//! hangs up any call, logs out and exits 0. Exits 1 if it cannot log in or
//! the server refuses it for good (`connection_state` `disconnected`).

use super::answer::{self, AnswerArgs};
use super::{output, parse_secs, Device, Global, Outcome, FAILURE};
use clap::Args;
use softphone_client::media::{MediaConfig, MediaDevices};
use softphone_media::device::delay_line;
use std::process::ExitCode;
use std::time::Duration;

/// The user the bot logs in as when `--user` is not given.
pub const DEFAULT_USER: &str = "echo";

/// Options of `echo-bot`.
#[derive(Debug, Args)]
pub struct EchoBotArgs {
    /// Play back what the caller says this many seconds later.
    #[arg(long, value_name = "SECS", default_value = "1.0", value_parser = parse_delay)]
    pub delay: Duration,
    /// Hang up each call after this long.
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse_secs)]
    pub max_call: Duration,
}

/// At most a minute of delay (the line holds that much audio).
fn parse_delay(text: &str) -> Result<Duration, String> {
    let delay = parse_secs(text)?;
    if delay > Duration::from_secs(60) {
        return Err(format!("{text:?} is more than 60 seconds"));
    }
    Ok(delay)
}

/// The media config: each call gets a fresh delay line, its sink (what the
/// caller says) feeding its source (what the bot sends). No echo
/// cancellation: the echo is the point.
pub fn media_config(delay: Duration) -> MediaConfig {
    MediaConfig::new(move |_call| {
        let (sink, source) = delay_line(delay);
        Ok(MediaDevices {
            source: Box::new(source),
            sink: Box::new(sink),
            echo_cancellation: false,
            video: None,
        })
    })
}

/// Runs `echo-bot`.
pub async fn run(global: &Global, args: EchoBotArgs) -> anyhow::Result<ExitCode> {
    let mut global = global.clone();
    if global.user.as_deref().is_none_or(str::is_empty) {
        global.user = Some(DEFAULT_USER.to_owned());
    }
    let mut device = Device::login_with(&global, media_config(args.delay)).await?;
    output::sentence(&format!(
        "echo bot logged in as {}; answering calls (playback {} s later, each call at most {} s)",
        device.me,
        args.delay.as_secs_f64(),
        args.max_call.as_secs_f64()
    ));
    let code = serve(&mut device, &args).await;
    device.close().await;
    Ok(code)
}

async fn serve(device: &mut Device, args: &EchoBotArgs) -> ExitCode {
    let answer_args = AnswerArgs {
        reject: false,
        busy: false,
        count: 1,
        hangup_after: Some(args.max_call),
        answer_after: None,
        wait: None,
        media: super::media::MediaArgs::default(),
    };
    loop {
        // Waits (without polling) for the next call, a signal or a
        // terminal disconnect.
        let outcome = match answer::next_call(device, None).await {
            Ok(call) => answer::handle(device, &answer_args, &call).await,
            Err(Outcome::Failed(sentence)) => {
                output::sentence(&sentence);
                return ExitCode::from(FAILURE);
            }
            Err(outcome) => outcome,
        };
        match outcome {
            Outcome::Done => {}
            // One call went wrong (the caller gave up before the answer,
            // its audio failed…): the next caller is still welcome.
            Outcome::Failed(sentence) => output::sentence(&sentence),
            Outcome::Interrupted(signal) => {
                output::sentence(&format!("{}: the echo bot stops", signal.name()));
                return ExitCode::SUCCESS;
            }
        }
    }
}

//! `softphone-cli answer`: wait for incoming calls and answer (or decline)
//! each of `--count` calls, then stay in each answered call until it ends
//! (or `--hangup-after`).
//!
//! Exit 0 if every one of the calls went as asked. Exit 1 with a sentence
//! (after printing the events) if one stopped ringing before the answer, was
//! answered elsewhere, could not be answered, or no call came within
//! `--wait`. Exit 130/143 on Ctrl-C / SIGTERM, after hanging up.

use super::{output, parse_secs, Device, Global, Outcome, FAILURE};
use clap::Args;
use softphone_client::{Call, CallEvent, CallStatus, CallType, ConnectionState};
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// Options of `answer`.
#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// Decline each call (status `rejected`) instead of answering it.
    #[arg(long, conflicts_with = "busy")]
    pub reject: bool,
    /// Decline each call as busy.
    #[arg(long)]
    pub busy: bool,
    /// How many calls to handle before exiting.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Hang up this long after answering.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with_all = ["reject", "busy"])]
    pub hangup_after: Option<Duration>,
    /// Let each call ring this long before answering (or declining) it.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub answer_after: Option<Duration>,
    /// Give up if no call comes within this long (counted afresh for each
    /// call); by default wait forever.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
    /// Audio devices or files for the call.
    #[command(flatten)]
    pub media: super::media::MediaArgs,
}

/// Runs `answer`.
pub async fn run(global: &Global, args: AnswerArgs) -> anyhow::Result<ExitCode> {
    let mut device = Device::login(global, &args.media).await?;
    output::sentence(&format!("logged in as {}; waiting for calls", device.me));
    let code = answer_calls(&mut device, &args).await;
    device.close().await;
    Ok(code)
}

async fn answer_calls(device: &mut Device, args: &AnswerArgs) -> ExitCode {
    let mut failed = 0;
    for _ in 0..args.count {
        let outcome = match next_call(device, args.wait).await {
            Ok(call) => handle(device, args, &call).await,
            Err(outcome) => outcome,
        };
        match outcome {
            Outcome::Done => {}
            Outcome::Failed(sentence) => {
                output::sentence(&sentence);
                failed += 1;
            }
            Outcome::Interrupted(signal) => return signal.exit_code(),
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILURE)
    }
}

/// The next call ringing here, waiting up to `wait` for one.
pub(super) async fn next_call(
    device: &mut Device,
    wait: Option<Duration>,
) -> Result<Call, Outcome> {
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        if let Some(call) = device.events.take_ringing() {
            return Ok(call);
        }
        tokio::select! {
            event = device.events.next() => match event {
                None => return Err(Outcome::Failed("the client stopped".to_owned())),
                Some(CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { reason })) => {
                    return Err(Outcome::Failed(format!("lost the connection to the server: {reason}")));
                }
                Some(_) => {}
            },
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let secs = wait.unwrap_or_default().as_secs_f64();
                return Err(Outcome::Failed(format!("no call came in within {secs} s")));
            }
            signal = device.signals.recv() => return Err(Outcome::Interrupted(signal)),
        }
    }
}

/// Answers or declines one ringing call, then (if answered) stays in it.
pub(super) async fn handle(device: &mut Device, args: &AnswerArgs, call: &Call) -> Outcome {
    let sid = call.session_id.as_str();
    let from = call.initiator.as_str();
    let kind = match call.call_type {
        CallType::Audio => "audio",
        CallType::Video => "video",
    };
    output::sentence(&format!("{from} is calling ({kind} call {sid})"));
    if let Some(delay) = args.answer_after {
        if let Some(outcome) = let_it_ring(device, call, delay).await {
            return outcome;
        }
    }
    device.events.drain_ready();
    if let Some(reason) = device.events.stopped(sid) {
        return stopped_ringing(from, reason);
    }
    let decline = match (args.reject, args.busy) {
        (_, true) => Some(CallStatus::Busy),
        (true, false) => Some(CallStatus::Rejected),
        (false, false) => None,
    };
    if let Some(status) = decline {
        return match device.client.reject_call(sid, status).await {
            Ok(declined) => {
                device.events.drain_ready();
                output::local("call_rejected", &declined);
                output::sentence(&format!("declined the call from {from}"));
                Outcome::Done
            }
            Err(e) => refused(device, from, sid, "decline", e).await,
        };
    }
    match device.client.accept_call(sid).await {
        Ok(accepted) => {
            device.events.drain_ready();
            output::local("call_accepted", &accepted);
            output::sentence(&format!("answered the call from {from}"));
            device.in_call(sid, args.hangup_after).await
        }
        Err(e) => refused(device, from, sid, "answer", e).await,
    }
}

/// Lets the call ring for `delay`. `Some` if that already decided the outcome.
async fn let_it_ring(device: &mut Device, call: &Call, delay: Duration) -> Option<Outcome> {
    let sid = call.session_id.as_str();
    let until = Instant::now() + delay;
    loop {
        tokio::select! {
            event = device.events.next() => match event {
                None => return Some(Outcome::Failed("the client stopped".to_owned())),
                Some(CallEvent::IncomingCallCancelled { call: c, reason }) if c.session_id == sid => {
                    return Some(stopped_ringing(&call.initiator, reason));
                }
                Some(CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { reason })) => {
                    return Some(Outcome::Failed(format!("lost the connection to the server: {reason}")));
                }
                Some(_) => {}
            },
            () = tokio::time::sleep_until(until) => return None,
            // Leave without a word: the call goes on ringing the user's other devices.
            signal = device.signals.recv() => return Some(Outcome::Interrupted(signal)),
        }
    }
}

/// Answering or declining failed: most likely the call stopped ringing just
/// before. Print that event (it is on its way) and say so.
async fn refused(
    device: &mut Device,
    from: &str,
    sid: &str,
    verb: &str,
    e: softphone_client::Error,
) -> Outcome {
    device.events.drain_ready();
    let mut reason = device.events.stopped(sid);
    if reason.is_none() {
        let event = device
            .events
            .wait_for(Duration::from_secs(1), |ev| {
                matches!(ev, CallEvent::IncomingCallCancelled { call, .. } if call.session_id == sid)
            })
            .await;
        if let Some(CallEvent::IncomingCallCancelled { reason: r, .. }) = event {
            reason = Some(r);
        }
    }
    match reason {
        Some(reason) => stopped_ringing(from, reason),
        None => Outcome::Failed(format!("could not {verb} the call from {from}: {e}")),
    }
}

fn stopped_ringing(from: &str, reason: softphone_client::CancelReason) -> Outcome {
    Outcome::Failed(format!(
        "the call from {from} stopped ringing before it was answered: {}",
        output::cancel_reason_words(reason)
    ))
}

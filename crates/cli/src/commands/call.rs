//! `softphone-cli call RECEIVER`: place a call, wait for the answer, stay in
//! the call until it ends (or `--hangup-after`), or cancel it while it rings
//! (`--cancel-after`).
//!
//! Exit 0: answered and then ended, or cancelled as asked. Exit 1 with a
//! sentence: declined, busy, unanswered, failed. Exit 130/143 on Ctrl-C /
//! SIGTERM, after cancelling or hanging up.

use super::{output, parse_secs, Device, Global, Outcome};
use anyhow::bail;
use clap::Args;
use softphone_client::{Call, CallEvent, CallStatus, CallType, ConnectionState, ReceiverType};
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// Options of `call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// User id or group id to call.
    pub receiver: String,
    /// Make a video call (default: audio).
    #[arg(long)]
    pub video: bool,
    /// Call RECEIVER as a group, without looking it up.
    #[arg(long)]
    pub group: bool,
    /// Ring timeout in seconds (default: the server's, 45 s).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// Hang up this long after the call is answered.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub hangup_after: Option<Duration>,
    /// Cancel the call if it still rings after this long; exit 0 if the cancel worked.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub cancel_after: Option<Duration>,
    /// Audio devices or files for the call.
    #[command(flatten)]
    pub media: super::media::MediaArgs,
}

/// Runs `call`.
pub async fn run(global: &Global, args: CallArgs) -> anyhow::Result<ExitCode> {
    let mut device = Device::login(global, &args.media).await?;
    let result = place(&mut device, &args).await;
    device.close().await;
    Ok(result?.exit_code())
}

async fn place(device: &mut Device, args: &CallArgs) -> anyhow::Result<Outcome> {
    let receiver_type = receiver_type(device, &args.receiver, args.group).await?;
    let call_type = if args.video {
        CallType::Video
    } else {
        CallType::Audio
    };
    let mut call = Call::new(args.receiver.clone(), call_type, receiver_type);
    if let Some(timeout) = args.timeout {
        call = call.with_ring_timeout(timeout);
    }
    device.events.drain_ready();
    let placed = match device.client.initiate_call(call).await {
        Ok(placed) => placed,
        Err(e) => return Ok(Outcome::Failed(e.to_string())),
    };
    output::local("call_initiated", &placed);
    let sid = placed.session_id.clone();
    match placed.status {
        CallStatus::Initiated => {
            output::sentence(&format!("calling {}…", args.receiver));
        }
        CallStatus::Ongoing => {
            // Glare: the callee was calling us; the calls became one.
            output::sentence(&format!(
                "{} was calling you too; the calls were joined",
                args.receiver
            ));
            return Ok(device.in_call(&sid, args.hangup_after).await);
        }
        status => return Ok(finished_at_once(device, &placed, status).await),
    }
    match ring(device, &sid, args.cancel_after).await {
        Ringing::Answered => {
            output::sentence("answered");
            Ok(device.in_call(&sid, args.hangup_after).await)
        }
        Ringing::Over(outcome) => Ok(outcome),
    }
}

/// Whether RECEIVER is a user or a group (of which this user is a member).
async fn receiver_type(
    device: &Device,
    receiver: &str,
    force_group: bool,
) -> anyhow::Result<ReceiverType> {
    if force_group {
        return Ok(ReceiverType::Group);
    }
    let users = device.client.users().await?;
    if users.iter().any(|u| u.user_id == receiver) {
        return Ok(ReceiverType::User);
    }
    let groups = device.client.groups().await?;
    match groups.iter().find(|g| g.group_id == receiver) {
        Some(g) if g.members.contains(&device.me.user_id) => Ok(ReceiverType::Group),
        Some(_) => bail!("you are not a member of group {receiver}; only its members can call it"),
        None => bail!(
            "there is no user or group named {receiver:?}; `softphone-cli users` and `softphone-cli groups` list them"
        ),
    }
}

/// The reply was already final (busy, offline): the server sends the
/// rejection as an event too; print it (or, if it does not come, a line made
/// from the reply).
async fn finished_at_once(device: &mut Device, placed: &Call, status: CallStatus) -> Outcome {
    let sid = placed.session_id.clone();
    let event = device
        .events
        .wait_for(
            Duration::from_secs(2),
            |e| matches!(e, CallEvent::OutgoingCallRejected { call, .. } if call.session_id == sid),
        )
        .await;
    if event.is_none() {
        output::event(&CallEvent::OutgoingCallRejected {
            call: placed.clone(),
            status,
        });
    }
    Outcome::Failed(output::not_answered_sentence(placed, status))
}

enum Ringing {
    Answered,
    Over(Outcome),
}

/// Waits for the answer while the call rings.
async fn ring(device: &mut Device, sid: &str, cancel_after: Option<Duration>) -> Ringing {
    let cancel_at = cancel_after.map(|d| Instant::now() + d);
    loop {
        tokio::select! {
            event = device.events.next() => match event {
                None => return Ringing::Over(Outcome::Failed("the client stopped".to_owned())),
                Some(CallEvent::OutgoingCallAccepted { call, .. }) if call.session_id == sid => {
                    return Ringing::Answered;
                }
                Some(CallEvent::OutgoingCallRejected { call, status }) if call.session_id == sid => {
                    return Ringing::Over(Outcome::Failed(output::not_answered_sentence(&call, status)));
                }
                Some(CallEvent::CallEnded { call, reason, .. }) if call.session_id == sid => {
                    return Ringing::Over(Outcome::Failed(format!(
                        "the call ended before it was answered: {}",
                        output::end_reason_words(reason)
                    )));
                }
                Some(CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { reason })) => {
                    return Ringing::Over(Outcome::Failed(format!("lost the connection to the server: {reason}")));
                }
                Some(_) => {}
            },
            () = tokio::time::sleep_until(cancel_at.unwrap_or_else(Instant::now)), if cancel_at.is_some() => {
                return Ringing::Over(cancel(device, sid).await);
            }
            signal = device.signals.recv() => {
                output::sentence(&format!("{}: cancelling the call", signal.name()));
                let _ = cancel(device, sid).await;
                return Ringing::Over(Outcome::Interrupted(signal));
            }
        }
    }
}

/// Cancels the ringing call. If it was answered in the meantime, hangs up
/// instead (and reports that the cancel did not happen).
async fn cancel(device: &mut Device, sid: &str) -> Outcome {
    match device.client.reject_call(sid, CallStatus::Cancelled).await {
        Ok(call) => {
            device.events.drain_ready();
            output::local("call_cancelled", &call);
            output::sentence("cancelled the call");
            Outcome::Done
        }
        Err(e) => {
            let answered = device
                .client
                .active_call()
                .is_some_and(|c| c.session_id == sid && c.status == CallStatus::Ongoing);
            if answered {
                let _ = device.hang_up(sid).await;
                Outcome::Failed(format!(
                    "could not cancel: the call was answered first; hung up ({e})"
                ))
            } else {
                Outcome::Failed(format!("could not cancel the call: {e}"))
            }
        }
    }
}

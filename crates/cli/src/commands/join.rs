//! `softphone-cli join GROUP`: join the group's call in progress — late,
//! after declining it, or after leaving — and stay until it ends (or
//! `--hangup-after`).
//!
//! Exit 0 once the joined call has ended or been left as asked. Exit 1 with
//! a sentence if the group has no call in progress or the join is refused.

use super::{output, parse_secs, Device, Global, Outcome};
use clap::Args;
use softphone_client::{CallLogQuery, CallStatus};
use std::process::ExitCode;
use std::time::Duration;

/// Options of `join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The group whose call to join.
    pub group: String,
    /// Leave this long after joining.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub hangup_after: Option<Duration>,
    /// Audio devices or files for the call.
    #[command(flatten)]
    pub media: super::media::MediaArgs,
}

/// Runs `join`.
pub async fn run(global: &Global, args: JoinArgs) -> anyhow::Result<ExitCode> {
    let mut device = Device::login(global, &args.media).await?;
    let outcome = join(&mut device, &args).await;
    device.close().await;
    Ok(outcome.exit_code())
}

async fn join(device: &mut Device, args: &JoinArgs) -> Outcome {
    let group = &args.group;
    let query = CallLogQuery {
        group: Some(group.clone()),
        limit: Some(20),
        ..Default::default()
    };
    let calls = match device.client.call_log(query).await {
        Ok(calls) => calls,
        Err(e) => return Outcome::Failed(format!("cannot look up the calls of {group}: {e}")),
    };
    let Some(call) = calls.into_iter().find(|c| c.status == CallStatus::Ongoing) else {
        return Outcome::Failed(format!(
            "group {group} has no call in progress; `softphone-cli call {group}` starts one"
        ));
    };
    device.events.drain_ready();
    match device.client.join_call(&call.session_id).await {
        Ok(joined) => {
            output::local("call_joined", &joined);
            output::sentence(&format!("joined the call of {group}"));
            device.in_call(&joined.session_id, args.hangup_after).await
        }
        Err(e) => Outcome::Failed(format!("cannot join the call of {group}: {e}")),
    }
}

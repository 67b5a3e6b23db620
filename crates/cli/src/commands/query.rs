//! `users`, `groups`, `history`: HTTP queries, printed as one JSON object per
//! line. They log in over HTTP only (no signaling connection, so this
//! device never rings) and log out when done.

use super::{client, credentials, output, Global};
use clap::Args;
use serde::Serialize;
use softphone_client::{CallDirection, CallLogQuery, Client};
use std::future::Future;
use std::process::ExitCode;

/// Options of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only calls to me that I never answered nor declined.
    #[arg(long, conflicts_with_all = ["incoming", "outgoing"])]
    pub missed: bool,
    /// Only calls to me (or to my groups, by others).
    #[arg(long, conflicts_with = "outgoing")]
    pub incoming: bool,
    /// Only calls I placed.
    #[arg(long)]
    pub outgoing: bool,
    /// Only 1:1 calls with this user.
    #[arg(long = "with", value_name = "USER")]
    pub with_user: Option<String>,
    /// Only calls to this group.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// At most this many calls (the server's default when absent).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

impl HistoryArgs {
    /// The call-log filters these options ask for.
    pub fn query(&self) -> CallLogQuery {
        let direction = if self.missed {
            Some(CallDirection::Missed)
        } else if self.incoming {
            Some(CallDirection::Incoming)
        } else if self.outgoing {
            Some(CallDirection::Outgoing)
        } else {
            None
        };
        CallLogQuery {
            direction,
            with_user: self.with_user.clone(),
            group: self.group.clone(),
            limit: self.limit,
        }
    }
}

/// Runs `users`.
pub async fn users(global: &Global) -> anyhow::Result<ExitCode> {
    print_all(global, |c| async move { c.users().await }).await
}

/// Runs `groups`.
pub async fn groups(global: &Global) -> anyhow::Result<ExitCode> {
    print_all(global, |c| async move { c.groups().await }).await
}

/// Runs `history`.
pub async fn history(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let query = args.query();
    print_all(global, |c| async move { c.call_log(query).await }).await
}

/// Logs in, runs one query, logs out, prints each item as a line.
async fn print_all<T, F, Fut>(global: &Global, query: F) -> anyhow::Result<ExitCode>
where
    T: Serialize,
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = softphone_client::Result<Vec<T>>>,
{
    let (user, password) = credentials(global)?;
    let client = client(global)?;
    client.authenticate(user, password).await?;
    let result = query(client.clone()).await;
    if let Err(e) = client.logout().await {
        tracing::debug!("logout failed: {e}");
    }
    for item in result? {
        output::line(&item);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        history: HistoryArgs,
    }

    #[test]
    fn history_options_become_filters() {
        let cli = Cli::try_parse_from(["x", "--missed", "--with", "bob", "--limit", "5"]).unwrap();
        let q = cli.history.query();
        assert_eq!(q.direction, Some(CallDirection::Missed));
        assert_eq!(q.with_user.as_deref(), Some("bob"));
        assert_eq!(q.limit, Some(5));
        assert!(Cli::try_parse_from(["x", "--missed", "--outgoing"]).is_err());
        assert!(Cli::try_parse_from(["x", "--limit", "-3"]).is_err());
    }
}

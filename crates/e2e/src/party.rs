//! A logged-in `softphone-client` with its event stream, for scenario tests.

use crate::PATIENCE;
use futures_util::StreamExt;
use softphone_client::{CallEvent, Client, ClientConfig, Timing};
use std::pin::Pin;
use std::time::Duration;

/// One device of one user, connected through the real client library.
pub struct Party {
    /// The client.
    pub client: Client,
    events: Pin<Box<dyn futures_util::Stream<Item = CallEvent> + Send>>,
    seen: Vec<CallEvent>,
    name: String,
}

impl Party {
    /// Logs in `user/device` (password = user name) at `server_url`.
    pub async fn login(server_url: &str, who: &str) -> Self {
        let (user, device) = who.split_once('/').unwrap_or((who, "d1"));
        let timing = Timing {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..Timing::default()
        };
        let client = Client::with_timing(ClientConfig::new(server_url, device), timing)
            .expect("client config");
        let events = Box::pin(client.events());
        client
            .login(user, user)
            .await
            .unwrap_or_else(|e| panic!("{who} logs in: {e}"));
        Self {
            client,
            events,
            seen: Vec::new(),
            name: who.to_owned(),
        }
    }

    /// Waits for an event that `pred` accepts and returns it.
    pub async fn expect(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&CallEvent) -> bool,
    ) -> CallEvent {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if pred(&event) {
                        return event;
                    }
                }
                _ => panic!(
                    "[{}] no {what} within {PATIENCE:?}; saw {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Asserts that no event `pred` accepts arrives within `quiet`.
    pub async fn expect_none(
        &mut self,
        what: &str,
        quiet: Duration,
        mut pred: impl FnMut(&CallEvent) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.next()).await {
            assert!(
                !pred(&event),
                "[{}] unexpected {what}: {event:#?}",
                self.name
            );
            self.seen.push(event);
        }
    }

    /// Waits for an incoming call and returns its session id.
    pub async fn expect_ring(&mut self) -> String {
        match self
            .expect("incoming call", |e| {
                matches!(e, CallEvent::IncomingCallReceived { .. })
            })
            .await
        {
            CallEvent::IncomingCallReceived { call } => call.session_id,
            _ => unreachable!(),
        }
    }
}

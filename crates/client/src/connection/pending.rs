//! Requests waiting for their replies, matched by request id.

use crate::active::Effect;
use crate::error::{Error, Result};
use softphone_proto::{RequestId, ServerMessage, SessionId};
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Who is waiting for a reply, and what the reply does.
pub(crate) struct Pending {
    /// The operation, for error messages ("accepting the call").
    pub(crate) what: &'static str,
    /// What a success does to the active call.
    pub(crate) effect: Effect,
    /// The call the request is about, if any.
    pub(crate) session_id: Option<SessionId>,
    /// Where the reply goes; `None` for the task's own requests.
    pub(crate) reply: Option<oneshot::Sender<Result<ServerMessage>>>,
}

/// Requests sent and not yet answered, by id. The server answers each
/// request exactly once; a request whose caller gave up (timed out) stays
/// until its reply comes or the connection drops, so the reply still updates
/// the active call.
#[derive(Default)]
pub(crate) struct PendingRequests {
    map: HashMap<RequestId, Pending>,
}

impl PendingRequests {
    pub(crate) fn insert(&mut self, id: RequestId, pending: Pending) {
        if let Some(old) = self.map.insert(id, pending) {
            tracing::warn!(
                id,
                what = old.what,
                "request id reused; the older request is dropped"
            );
        }
    }

    /// The pending request a reply answers.
    pub(crate) fn take(&mut self, id: RequestId) -> Option<Pending> {
        self.map.remove(&id)
    }

    /// Fails every pending request at once (the connection dropped).
    pub(crate) fn fail_all(&mut self, error: impl Fn(&'static str) -> Error) {
        for (_, p) in self.map.drain() {
            if let Some(tx) = p.reply {
                let _ = tx.send(Err(error(p.what)));
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// The request id a server message answers, if it is a reply.
pub(crate) fn reply_id(message: &ServerMessage) -> Option<RequestId> {
    match message {
        ServerMessage::CallReply { id, .. }
        | ServerMessage::PresenceSnapshot { id, .. }
        | ServerMessage::Pong { id } => Some(*id),
        ServerMessage::Error { id, .. } => *id,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_proto::{Call, CallStatus, CallType, ErrorCode, ReceiverType};

    fn pending(what: &'static str) -> (Pending, oneshot::Receiver<Result<ServerMessage>>) {
        let (tx, rx) = oneshot::channel();
        let p = Pending {
            what,
            effect: Effect::None,
            session_id: None,
            reply: Some(tx),
        };
        (p, rx)
    }

    #[test]
    fn pending_requests_are_matched_by_id() {
        let mut map = PendingRequests::default();
        let (p1, _rx1) = pending("one");
        let (p2, _rx2) = pending("two");
        map.insert(1, p1);
        map.insert(2, p2);
        assert_eq!(map.len(), 2);
        assert_eq!(map.take(2).map(|p| p.what), Some("two"));
        assert!(map.take(2).is_none());
        assert_eq!(map.len(), 1);
    }

    #[tokio::test]
    async fn a_drop_fails_every_pending_request_at_once() {
        let mut map = PendingRequests::default();
        let (p1, rx1) = pending("accepting the call");
        let (p2, rx2) = pending("ending the call");
        map.insert(7, p1);
        map.insert(8, p2);
        map.fail_all(|what| Error::ConnectionLost { what });
        assert_eq!(map.len(), 0);
        let e1 = rx1.await.unwrap().unwrap_err();
        let e2 = rx2.await.unwrap().unwrap_err();
        assert!(
            e1.to_string()
                .starts_with("accepting the call failed: the connection"),
            "{e1}"
        );
        assert!(matches!(
            e2,
            Error::ConnectionLost {
                what: "ending the call"
            }
        ));
    }

    #[test]
    fn replies_are_told_from_events() {
        let call = Call::new("bob", CallType::Audio, ReceiverType::User);
        assert_eq!(
            reply_id(&ServerMessage::CallReply {
                id: 3,
                call: call.clone()
            }),
            Some(3)
        );
        assert_eq!(reply_id(&ServerMessage::Pong { id: 4 }), Some(4));
        assert_eq!(
            reply_id(&ServerMessage::PresenceSnapshot {
                id: 5,
                users: vec![]
            }),
            Some(5)
        );
        let error = |id| ServerMessage::Error {
            id,
            code: ErrorCode::BadRequest,
            message: "x".into(),
        };
        assert_eq!(reply_id(&error(Some(6))), Some(6));
        assert_eq!(reply_id(&error(None)), None);
        assert_eq!(
            reply_id(&ServerMessage::IncomingCall { call: call.clone() }),
            None
        );
        let rejected = ServerMessage::OutgoingCallRejected {
            call,
            status: CallStatus::Busy,
        };
        assert_eq!(reply_id(&rejected), None);
    }
}

use super::*;
use futures_util::StreamExt;
use softphone_proto::{CallType, ReceiverType};

fn call(sid: &str) -> Call {
    let mut c = Call::new("bob", CallType::Audio, ReceiverType::User);
    c.session_id = sid.into();
    c.initiator = "alice".into();
    c
}

fn bob() -> DeviceAddr {
    DeviceAddr::new("bob", "phone")
}

#[test]
fn replies_and_hello_are_not_events() {
    let not_events = [
        ServerMessage::Hello {
            protocol: 1,
            user_id: "alice".into(),
            device_id: "d".into(),
            server_time: 0,
        },
        ServerMessage::CallReply {
            id: 1,
            call: call("s"),
        },
        ServerMessage::PresenceSnapshot {
            id: 2,
            users: vec![],
        },
        ServerMessage::Pong { id: 3 },
        ServerMessage::Error {
            id: Some(4),
            code: ErrorCode::UnknownCall,
            message: "no".into(),
        },
    ];
    for m in not_events {
        assert_eq!(CallEvent::from_server(m.clone()), None, "{m:?}");
    }
}

#[test]
fn every_server_event_maps_to_its_call_event() {
    let cases = vec![
        (
            ServerMessage::IncomingCall { call: call("s") },
            CallEvent::IncomingCallReceived { call: call("s") },
        ),
        (
            ServerMessage::OutgoingCallAccepted {
                call: call("s"),
                by: bob(),
            },
            CallEvent::OutgoingCallAccepted {
                call: call("s"),
                by: bob(),
            },
        ),
        (
            ServerMessage::OutgoingCallRejected {
                call: call("s"),
                status: CallStatus::Unanswered,
            },
            CallEvent::OutgoingCallRejected {
                call: call("s"),
                status: CallStatus::Unanswered,
            },
        ),
        (
            ServerMessage::IncomingCallCancelled {
                call: call("s"),
                reason: CancelReason::AnsweredElsewhere,
            },
            CallEvent::IncomingCallCancelled {
                call: call("s"),
                reason: CancelReason::AnsweredElsewhere,
            },
        ),
        (
            ServerMessage::CallEnded {
                call: call("s"),
                reason: EndReason::Hangup,
                by: Some(bob()),
            },
            CallEvent::CallEnded {
                call: call("s"),
                reason: EndReason::Hangup,
                by: Some(bob()),
            },
        ),
        (
            ServerMessage::ParticipantJoined {
                session_id: "s".into(),
                participant: bob(),
            },
            CallEvent::ParticipantJoined {
                session_id: "s".into(),
                participant: bob(),
            },
        ),
        (
            ServerMessage::ParticipantLeft {
                session_id: "s".into(),
                participant: bob(),
                reason: LeaveReason::ConnectionLost,
            },
            CallEvent::ParticipantLeft {
                session_id: "s".into(),
                participant: bob(),
                reason: LeaveReason::ConnectionLost,
            },
        ),
        (
            ServerMessage::ParticipantDeclined {
                session_id: "s".into(),
                user_id: "bob".into(),
                status: CallStatus::Busy,
            },
            CallEvent::ParticipantDeclined {
                session_id: "s".into(),
                user_id: "bob".into(),
                status: CallStatus::Busy,
            },
        ),
        (
            ServerMessage::ParticipantReconnecting {
                session_id: "s".into(),
                participant: bob(),
            },
            CallEvent::ParticipantReconnecting {
                session_id: "s".into(),
                participant: bob(),
            },
        ),
        (
            ServerMessage::ParticipantReconnected {
                session_id: "s".into(),
                participant: bob(),
            },
            CallEvent::ParticipantReconnected {
                session_id: "s".into(),
                participant: bob(),
            },
        ),
        (
            ServerMessage::CallResumed { call: call("s") },
            CallEvent::CallResumed { call: call("s") },
        ),
        (
            ServerMessage::Signal {
                session_id: "s".into(),
                from: bob(),
                data: serde_json::json!({"sdp": "x"}),
            },
            CallEvent::Signal {
                session_id: "s".into(),
                from: bob(),
                data: serde_json::json!({"sdp": "x"}),
            },
        ),
        (
            ServerMessage::IceServers {
                session_id: "s".into(),
                servers: vec![],
            },
            CallEvent::IceServers {
                session_id: "s".into(),
                servers: vec![],
            },
        ),
        (
            ServerMessage::Presence {
                user_id: "bob".into(),
                status: PresenceStatus::InCall,
            },
            CallEvent::PresenceChanged {
                user_id: "bob".into(),
                status: PresenceStatus::InCall,
            },
        ),
        (
            ServerMessage::Error {
                id: None,
                code: ErrorCode::InvalidState,
                message: "bob/phone is not in this call".into(),
            },
            CallEvent::ServerError {
                code: ErrorCode::InvalidState,
                message: "bob/phone is not in this call".into(),
            },
        ),
    ];
    for (message, expected) in cases {
        let event = CallEvent::from_server(message).expect("an event");
        if !matches!(
            event,
            CallEvent::PresenceChanged { .. } | CallEvent::ServerError { .. }
        ) {
            assert_eq!(event.session_id(), Some("s"), "{event:?}");
        }
        assert_eq!(event, expected);
    }
}

/// Records which listener method ran, with the session id or state.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl CallListener for Recorder {
    fn on_incoming_call_received(&self, call: &Call) {
        self.push(format!("incoming {}", call.session_id));
    }
    fn on_outgoing_call_accepted(&self, call: &Call) {
        self.push(format!("accepted {}", call.session_id));
    }
    fn on_outgoing_call_rejected(&self, call: &Call) {
        self.push(format!("rejected {} {:?}", call.session_id, call.status));
    }
    fn on_incoming_call_cancelled(&self, call: &Call, reason: CancelReason) {
        self.push(format!("cancelled {} {reason:?}", call.session_id));
    }
    fn on_call_ended_message_received(&self, call: &Call) {
        self.push(format!("ended {}", call.session_id));
    }
    fn on_participant_left(&self, session_id: &str, participant: &DeviceAddr, reason: LeaveReason) {
        self.push(format!("left {session_id} {participant} {reason:?}"));
    }
    fn on_connection_state_changed(&self, state: &ConnectionState) {
        self.push(format!("state {state}"));
    }
}

#[test]
fn listeners_get_the_matching_callback() {
    let dispatcher = Dispatcher::default();
    let rec = Arc::new(Recorder::default());
    dispatcher.add("rec", rec.clone());
    let mut rejected = call("s2");
    rejected.status = CallStatus::Busy;
    dispatcher.dispatch(CallEvent::IncomingCallReceived { call: call("s1") });
    dispatcher.dispatch(CallEvent::OutgoingCallRejected {
        call: rejected,
        status: CallStatus::Busy,
    });
    dispatcher.dispatch(CallEvent::IncomingCallCancelled {
        call: call("s1"),
        reason: CancelReason::Unanswered,
    });
    dispatcher.dispatch(CallEvent::ParticipantLeft {
        session_id: "s3".into(),
        participant: bob(),
        reason: LeaveReason::Hangup,
    });
    // A method the listener does not implement is a no-op.
    dispatcher.dispatch(CallEvent::ParticipantJoined {
        session_id: "s3".into(),
        participant: bob(),
    });
    dispatcher.dispatch(CallEvent::ConnectionStateChanged(
        ConnectionState::Reconnecting {
            attempt: 2,
            retry_in: Duration::from_millis(500),
        },
    ));
    assert_eq!(
        rec.take(),
        [
            "incoming s1",
            "rejected s2 Busy",
            "cancelled s1 Unanswered",
            "left s3 bob/phone Hangup",
            "state reconnecting (attempt 2 in 500 ms)",
        ]
    );
    assert!(dispatcher.remove("rec"));
    assert!(!dispatcher.remove("rec"));
    dispatcher.dispatch(CallEvent::IncomingCallReceived { call: call("s4") });
    assert!(rec.take().is_empty());
}

#[test]
fn same_id_replaces_and_a_panicking_listener_is_skipped() {
    struct Panics;
    impl CallListener for Panics {
        fn on_incoming_call_received(&self, _: &Call) {
            panic!("listener bug");
        }
    }
    let dispatcher = Dispatcher::default();
    let first = Arc::new(Recorder::default());
    let second = Arc::new(Recorder::default());
    dispatcher.add("bad", Arc::new(Panics));
    dispatcher.add("x", first.clone());
    dispatcher.add("x", second.clone());
    dispatcher.dispatch(CallEvent::IncomingCallReceived { call: call("s1") });
    assert!(first.take().is_empty());
    assert_eq!(second.take(), ["incoming s1"]);
}

#[tokio::test]
async fn streams_get_every_event_and_a_lag_notice() {
    let dispatcher = Dispatcher::default();
    let mut fast = dispatcher.subscribe();
    let mut slow = dispatcher.subscribe();
    dispatcher.dispatch(CallEvent::IncomingCallReceived { call: call("s1") });
    assert_eq!(
        fast.next().await,
        Some(CallEvent::IncomingCallReceived { call: call("s1") })
    );
    assert_eq!(
        slow.next().await,
        Some(CallEvent::IncomingCallReceived { call: call("s1") })
    );
    let extra = 5;
    for i in 0..EVENT_BUFFER + extra {
        dispatcher.dispatch(CallEvent::PresenceChanged {
            user_id: format!("u{i}"),
            status: PresenceStatus::Online,
        });
    }
    assert_eq!(
        slow.next().await,
        Some(CallEvent::Lagged {
            missed: extra as u64
        })
    );
    assert_eq!(
        slow.next().await,
        Some(CallEvent::PresenceChanged {
            user_id: format!("u{extra}"),
            status: PresenceStatus::Online,
        })
    );
    drop(dispatcher);
    let mut rest = 0;
    while let Some(event) = fast.next().await {
        assert!(!matches!(event, CallEvent::Lagged { .. }) || rest == 0);
        rest += 1;
    }
    assert!(rest > 0);
}

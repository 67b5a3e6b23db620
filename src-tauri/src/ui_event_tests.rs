//! Client event → UI event: the sentences and the call as seen by each side.

use super::*;
use crate::dto::UiCallStatus;
use softphone_client::{Call, CallType, DeviceAddr, PresenceStatus, ReceiverType};
use std::time::Duration;

fn mk(from: &str, to: &str, status: CallStatus) -> Call {
    let mut call = Call::new(to, CallType::Audio, ReceiverType::User);
    call.session_id = "s1".into();
    call.initiator = from.into();
    call.status = status;
    call.initiated_at = 1_700_000_000_000;
    call
}

fn names(id: &str) -> String {
    match id {
        "alice" => "Alice".into(),
        "bob" => "Bob".into(),
        other => other.into(),
    }
}

fn map(event: CallEvent, me: &str) -> UiEvent {
    UiEvent::from_client(&event, me, &names).expect("shown")
}

#[test]
fn incoming_call_names_the_caller() {
    let ev = map(
        CallEvent::IncomingCallReceived {
            call: mk("alice", "bob", CallStatus::Initiated),
        },
        "bob",
    );
    let UiEvent::IncomingCall { call, caller_name } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(caller_name, "Alice");
    assert_eq!(call.peer, "alice");
    assert!(!call.outgoing);
    let json = serde_json::to_value(UiEvent::IncomingCall { call, caller_name }).unwrap();
    assert_eq!(json["type"], "incoming_call");
    assert_eq!(json["call"]["call_type"], "audio");
    assert_eq!(json["call"]["status"], "initiated");
}

#[test]
fn rejected_outgoing_calls_say_why() {
    let cases = [
        (CallStatus::Busy, None, "Bob is busy."),
        (CallStatus::Rejected, None, "Bob declined the call."),
        (CallStatus::Unanswered, None, "Bob did not answer."),
        (
            CallStatus::Unanswered,
            Some(EndReason::Offline),
            "Bob is offline.",
        ),
    ];
    for (status, reason, text) in cases {
        let mut c = mk("alice", "bob", status);
        c.end_reason = reason;
        let ev = map(CallEvent::OutgoingCallRejected { call: c, status }, "alice");
        let UiEvent::OutgoingRejected { call, message } = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(message, text);
        assert!(call.outgoing);
        assert_eq!(call.peer, "bob");
    }
}

#[test]
fn a_ring_that_stops_unanswered_is_a_missed_call() {
    let ev = map(
        CallEvent::IncomingCallCancelled {
            call: mk("alice", "bob", CallStatus::Unanswered),
            reason: CancelReason::Unanswered,
        },
        "bob",
    );
    let UiEvent::IncomingStopped { call, message } = ev else {
        panic!("{ev:?}")
    };
    assert!(call.missed);
    assert_eq!(call.status, UiCallStatus::Unanswered);
    assert_eq!(message, "Missed call from Alice.");

    let ev = map(
        CallEvent::IncomingCallCancelled {
            call: mk("alice", "bob", CallStatus::Ongoing),
            reason: CancelReason::AnsweredElsewhere,
        },
        "bob",
    );
    let UiEvent::IncomingStopped { call, message } = ev else {
        panic!("{ev:?}")
    };
    assert!(!call.missed);
    assert_eq!(message, "Answered on another device.");
}

#[test]
fn connection_states_read_as_sentences() {
    let ev = map(
        CallEvent::ConnectionStateChanged(ConnectionState::Reconnecting {
            attempt: 2,
            retry_in: Duration::from_millis(1500),
        }),
        "bob",
    );
    assert_eq!(
        ev,
        UiEvent::Connection {
            state: UiConnection::Reconnecting,
            message: "Connection lost; reconnecting in 2 s…".into()
        }
    );
    let ev = map(
        CallEvent::PresenceChanged {
            user_id: "carol".into(),
            status: PresenceStatus::InCall,
        },
        "bob",
    );
    assert_eq!(
        serde_json::to_value(ev).unwrap(),
        serde_json::json!({"type": "presence", "user_id": "carol", "presence": "in_call"})
    );
}

#[test]
fn joins_and_leaves_name_the_user() {
    let ev = CallEvent::ParticipantJoined {
        session_id: "s1".into(),
        participant: DeviceAddr::new("alice", "laptop"),
    };
    assert_eq!(
        UiEvent::from_client(&ev, "bob", &names),
        Some(UiEvent::ParticipantJoined {
            session_id: "s1".into(),
            user_id: "alice".into()
        })
    );
    let ev = CallEvent::ParticipantReconnecting {
        session_id: "s1".into(),
        participant: DeviceAddr::new("alice", "laptop"),
    };
    assert_eq!(UiEvent::from_client(&ev, "bob", &names), None);
}

#[test]
fn media_connected_and_failed_reach_the_ui_stats_do_not() {
    let ev = map(
        CallEvent::MediaConnected {
            session_id: "s1".into(),
            after: Duration::from_millis(62),
        },
        "bob",
    );
    assert_eq!(
        serde_json::to_value(ev).unwrap(),
        serde_json::json!({"type": "media_connected", "session_id": "s1", "after_ms": 62})
    );
    let ev = map(
        CallEvent::MediaFailed {
            session_id: "s1".into(),
            reason: "ICE failed".into(),
        },
        "bob",
    );
    assert_eq!(
        ev,
        UiEvent::MediaFailed {
            session_id: "s1".into(),
            message: "The call's audio failed: ICE failed".into()
        }
    );
    let stats = CallEvent::MediaStats {
        session_id: "s1".into(),
        stats: softphone_client::media::MediaStats::default(),
    };
    assert_eq!(UiEvent::from_client(&stats, "bob", &names), None);
}

#[test]
fn mutes_and_speakers_name_users() {
    let ev = CallEvent::ParticipantMuted {
        session_id: "s1".into(),
        participant: DeviceAddr::new("alice", "laptop"),
        muted: true,
    };
    assert_eq!(
        serde_json::to_value(map(ev, "bob")).unwrap(),
        serde_json::json!({"type": "participant_muted", "session_id": "s1", "user_id": "alice", "muted": true})
    );
    let ev = CallEvent::ActiveSpeakers {
        session_id: "s1".into(),
        speakers: vec![
            DeviceAddr::new("carol", "desk"),
            DeviceAddr::new("alice", "laptop"),
            DeviceAddr::new("carol", "phone"),
        ],
    };
    assert_eq!(
        map(ev, "bob"),
        UiEvent::Speakers {
            session_id: "s1".into(),
            speaking: vec!["carol".into(), "alice".into()],
        },
        "users, once each, the active speaker first"
    );
}

#[test]
fn camera_changes_and_remote_streams_reach_the_ui() {
    let alice = DeviceAddr {
        user_id: "alice".into(),
        device_id: "d1".into(),
    };
    let started = map(
        CallEvent::VideoStarted {
            session_id: "s1".into(),
            owner: Some(alice.clone()),
            stream_id: "softphone".into(),
            width: 640,
            height: 360,
        },
        "bob",
    );
    assert_eq!(
        serde_json::to_value(started).unwrap(),
        serde_json::json!({"type": "video_started", "session_id": "s1", "stream_id": "softphone", "owner": "alice"})
    );
    let stopped = map(
        CallEvent::VideoStopped {
            session_id: "s1".into(),
            owner: Some(alice),
            stream_id: "softphone".into(),
        },
        "bob",
    );
    assert_eq!(
        stopped,
        UiEvent::VideoStopped {
            session_id: "s1".into(),
            stream_id: "softphone".into()
        }
    );
    let failed = map(
        CallEvent::VideoSourceChanged {
            session_id: "s1".into(),
            source: None,
            failure: Some("the camera was unplugged".into()),
        },
        "bob",
    );
    assert_eq!(
        failed,
        UiEvent::Camera {
            session_id: "s1".into(),
            source: None,
            failure: Some(
                "The camera stopped: the camera was unplugged. The call goes on without video."
                    .into()
            ),
        }
    );
}

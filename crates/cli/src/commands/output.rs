//! What the CLI prints: one JSON object per line on stdout (events, query
//! results), flushed at once so that scripts and tests can read them live;
//! sentences for people on stderr.
//!
//! Every event line has an `event` field named after the listener method
//! (`incoming_call_received`, `call_ended`, …) and, when the event is about
//! one call, its `session_id`.

use serde::Serialize;
use serde_json::{json, Map, Value};
use softphone_client::{
    Call, CallEvent, CallStatus, CancelReason, ConnectionState, DeviceAddr, EndReason, ReceiverType,
};
use std::io::Write;

/// Prints one JSON value as a line on stdout and flushes. A closed stdout
/// (the reader went away) is not worth a panic: the line is dropped.
pub fn line(value: &impl Serialize) {
    let Ok(text) = serde_json::to_string(value) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints a sentence for people on stderr.
pub fn sentence(text: &str) {
    eprintln!("{text}");
}

/// Prints an event line.
pub fn event(event: &CallEvent) {
    line(&event_json(event));
}

/// Prints a line for something this device did (`call_initiated`,
/// `call_accepted`, `call_cancelled`, `call_rejected`), with the call.
pub fn local(name: &str, call: &Call) {
    line(&Value::Object(call_fields(name, call)));
}

/// Prints the `call_ended` line for this device's own hang-up (the server
/// sends no event to the device that ends a call; its reply says it).
pub fn local_call_ended(call: &Call, me: &DeviceAddr) {
    let mut fields = call_fields("call_ended", call);
    let reason = call.end_reason.unwrap_or(EndReason::Hangup);
    fields.insert("reason".into(), json!(reason));
    fields.insert("by".into(), json!(me));
    fields.insert("local".into(), json!(true));
    line(&Value::Object(fields));
}

/// The JSON line for an event.
pub fn event_json(event: &CallEvent) -> Value {
    let fields = match event {
        CallEvent::IncomingCallReceived { call } => call_fields("incoming_call_received", call),
        CallEvent::OutgoingCallAccepted { call, by } => {
            let mut f = call_fields("outgoing_call_accepted", call);
            f.insert("by".into(), json!(by));
            f
        }
        CallEvent::OutgoingCallRejected { call, status } => {
            let mut f = call_fields("outgoing_call_rejected", call);
            f.insert("status".into(), json!(status));
            f
        }
        CallEvent::IncomingCallCancelled { call, reason } => {
            let mut f = call_fields("incoming_call_cancelled", call);
            f.insert("reason".into(), json!(reason));
            f
        }
        CallEvent::CallEnded { call, reason, by } => {
            let mut f = call_fields("call_ended", call);
            f.insert("reason".into(), json!(reason));
            f.insert("by".into(), json!(by));
            f
        }
        CallEvent::CallResumed { call } => call_fields("call_resumed", call),
        CallEvent::ParticipantJoined {
            session_id,
            participant,
        } => participant_fields("participant_joined", session_id, participant),
        CallEvent::ParticipantLeft {
            session_id,
            participant,
            reason,
        } => {
            let mut f = participant_fields("participant_left", session_id, participant);
            f.insert("reason".into(), json!(reason));
            f
        }
        CallEvent::ParticipantDeclined {
            session_id,
            user_id,
            status,
        } => object(json!({
            "event": "participant_declined",
            "session_id": session_id,
            "user_id": user_id,
            "status": status,
        })),
        CallEvent::ParticipantReconnecting {
            session_id,
            participant,
        } => participant_fields("participant_reconnecting", session_id, participant),
        CallEvent::ParticipantReconnected {
            session_id,
            participant,
        } => participant_fields("participant_reconnected", session_id, participant),
        CallEvent::Signal {
            session_id,
            from,
            data,
        } => object(json!({
            "event": "signal",
            "session_id": session_id,
            "from": from,
            "data": data,
        })),
        CallEvent::IceServers {
            session_id,
            servers,
        } => object(json!({
            "event": "ice_servers",
            "session_id": session_id,
            "servers": servers,
        })),
        CallEvent::PresenceChanged { user_id, status } => object(json!({
            "event": "presence_changed",
            "user_id": user_id,
            "status": status,
        })),
        CallEvent::ServerError { code, message } => object(json!({
            "event": "server_error",
            "code": code,
            "message": message,
        })),
        CallEvent::ConnectionStateChanged(state) => connection_fields(state),
        CallEvent::Lagged { missed } => object(json!({ "event": "lagged", "missed": missed })),
        CallEvent::MediaConnected { session_id, after } => object(json!({
            "event": "media_connected",
            "session_id": session_id,
            "after_ms": after.as_millis() as u64,
        })),
        CallEvent::MediaStats { session_id, stats } => {
            let mut f = object(json!({ "event": "media_stats", "session_id": session_id }));
            f.extend(object(json!(stats)));
            f
        }
        CallEvent::MediaFailed { session_id, reason } => object(json!({
            "event": "media_failed",
            "session_id": session_id,
            "reason": reason,
        })),
        CallEvent::MediaDeviceChanged {
            session_id,
            input,
            device_id,
            failure,
        } => object(json!({
            "event": "media_device_changed",
            "session_id": session_id,
            "kind": if *input { "input" } else { "output" },
            "device_id": device_id,
            "failure": failure,
        })),
        CallEvent::ParticipantMuted {
            session_id,
            participant,
            muted,
        } => {
            let mut f = participant_fields("participant_muted", session_id, participant);
            f.insert("muted".into(), json!(muted));
            f
        }
        CallEvent::ActiveSpeakers {
            session_id,
            speakers,
        } => object(json!({
            "event": "active_speakers",
            "session_id": session_id,
            "speakers": speakers,
        })),
        CallEvent::VideoStarted {
            session_id,
            owner,
            stream_id,
            width,
            height,
        } => object(json!({
            "event": "video_started",
            "session_id": session_id,
            "owner": owner,
            "stream_id": stream_id,
            "width": width,
            "height": height,
        })),
        CallEvent::VideoStopped {
            session_id,
            owner,
            stream_id,
        } => object(json!({
            "event": "video_stopped",
            "session_id": session_id,
            "owner": owner,
            "stream_id": stream_id,
        })),
        CallEvent::VideoSourceChanged {
            session_id,
            source,
            failure,
        } => object(json!({
            "event": "video_source_changed",
            "session_id": session_id,
            "source": source,
            "failure": failure,
        })),
        other => object(json!({ "event": "unknown", "debug": format!("{other:?}") })),
    };
    // Every shape above starts with `event`; extras go after the call's fields.
    Value::Object(fields)
}

/// `event`, `session_id`, the call's summary fields, and the whole call.
fn call_fields(name: &str, call: &Call) -> Map<String, Value> {
    object(json!({
        "event": name,
        "session_id": call.session_id,
        "status": call.status,
        "call_type": call.call_type,
        "receiver_type": call.receiver_type,
        "initiator": call.initiator,
        "receiver": call.receiver,
        "call": call,
    }))
}

fn participant_fields(
    name: &str,
    session_id: &str,
    participant: &DeviceAddr,
) -> Map<String, Value> {
    object(json!({
        "event": name,
        "session_id": session_id,
        "participant": participant,
    }))
}

fn connection_fields(state: &ConnectionState) -> Map<String, Value> {
    object(match state {
        ConnectionState::Connecting => json!({"event": "connection_state", "state": "connecting"}),
        ConnectionState::Connected => json!({"event": "connection_state", "state": "connected"}),
        ConnectionState::Reconnecting { attempt, retry_in } => json!({
            "event": "connection_state",
            "state": "reconnecting",
            "attempt": attempt,
            "retry_in_ms": retry_in.as_millis() as u64,
        }),
        ConnectionState::Disconnected { reason } => json!({
            "event": "connection_state",
            "state": "disconnected",
            "reason": reason,
        }),
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Why a ringing call stopped, in words.
pub fn cancel_reason_words(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Cancelled => "the caller cancelled",
        CancelReason::Unanswered => "nobody answered in time",
        CancelReason::AnsweredElsewhere => "it was answered on another device",
        CancelReason::DeclinedElsewhere => "it was declined on another device",
        CancelReason::ConnectionLost => "the caller's connection was lost",
        CancelReason::ServerShutdown => "the server shut down",
    }
}

/// Why a call ended, in words.
pub fn end_reason_words(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Hangup => "hung up",
        EndReason::Timeout => "nobody answered in time",
        EndReason::Offline => "nobody could be rung",
        EndReason::Busy => "busy",
        EndReason::ConnectionLost => "a connection was lost",
        EndReason::ServerShutdown => "the server shut down",
    }
}

/// Why an outgoing call was not answered, as a sentence.
pub fn not_answered_sentence(call: &Call, status: CallStatus) -> String {
    let who = &call.receiver;
    let group = call.receiver_type == ReceiverType::Group;
    match (status, group) {
        (CallStatus::Rejected, false) => format!("{who} declined the call"),
        (CallStatus::Rejected, true) => format!("everyone in {who} declined the call"),
        (CallStatus::Busy, false) => format!("{who} is busy"),
        (CallStatus::Busy, true) => format!("everyone in {who} is busy"),
        (CallStatus::Unanswered, _) if call.end_reason == Some(EndReason::Offline) => {
            if group {
                format!("nobody else in {who} is online; nobody could be rung")
            } else {
                format!("{who} is not online; nobody could be rung")
            }
        }
        (CallStatus::Unanswered, _) => format!(
            "{who} did not answer within {} s",
            call.ring_timeout_ms.div_ceil(1000)
        ),
        (CallStatus::Cancelled, _) => "the call was cancelled before anyone answered".to_owned(),
        (other, _) => format!("the call to {who} did not go through (status {other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_client::{CallType, LeaveReason};
    use std::time::Duration;

    fn call() -> Call {
        let mut c = Call::new("bob", CallType::Audio, ReceiverType::User);
        c.session_id = "s1".into();
        c.initiator = "alice".into();
        c
    }

    #[test]
    fn call_events_carry_the_session_and_their_extras() {
        let v = event_json(&CallEvent::OutgoingCallRejected {
            call: Call {
                status: CallStatus::Busy,
                ..call()
            },
            status: CallStatus::Busy,
        });
        assert_eq!(v["event"], "outgoing_call_rejected");
        assert_eq!(v["session_id"], "s1");
        assert_eq!(v["status"], "busy");
        assert_eq!(v["initiator"], "alice");
        assert_eq!(v["call"]["receiver"], "bob");
        let text = serde_json::to_string(&v).unwrap();
        assert!(
            text.starts_with(r#"{"event":"outgoing_call_rejected","#),
            "{text}"
        );

        let v = event_json(&CallEvent::IncomingCallCancelled {
            call: call(),
            reason: CancelReason::AnsweredElsewhere,
        });
        assert_eq!(
            (v["event"].as_str(), v["reason"].as_str()),
            (Some("incoming_call_cancelled"), Some("answered_elsewhere"))
        );

        let v = event_json(&CallEvent::CallEnded {
            call: call(),
            reason: EndReason::ConnectionLost,
            by: None,
        });
        assert_eq!(
            (v["event"].as_str(), v["reason"].as_str()),
            (Some("call_ended"), Some("connection_lost"))
        );
        assert!(v["by"].is_null());
    }

    #[test]
    fn participant_and_connection_events() {
        let v = event_json(&CallEvent::ParticipantLeft {
            session_id: "s1".into(),
            participant: DeviceAddr::new("bob", "phone"),
            reason: LeaveReason::Hangup,
        });
        assert_eq!(
            v,
            json!({"event": "participant_left", "session_id": "s1",
                   "participant": {"user_id": "bob", "device_id": "phone"}, "reason": "hangup"})
        );
        let v = event_json(&CallEvent::ConnectionStateChanged(
            ConnectionState::Reconnecting {
                attempt: 3,
                retry_in: Duration::from_millis(750),
            },
        ));
        assert_eq!(
            v,
            json!({"event": "connection_state", "state": "reconnecting", "attempt": 3, "retry_in_ms": 750})
        );
        let v = event_json(&CallEvent::ParticipantDeclined {
            session_id: "s1".into(),
            user_id: "carol".into(),
            status: CallStatus::Rejected,
        });
        assert_eq!(v["event"], "participant_declined");
        assert_eq!(v["status"], "rejected");
    }

    #[test]
    fn sentences_name_the_callee() {
        let mut c = call();
        assert_eq!(not_answered_sentence(&c, CallStatus::Busy), "bob is busy");
        c.ring_timeout_ms = 1500;
        assert_eq!(
            not_answered_sentence(&c, CallStatus::Unanswered),
            "bob did not answer within 2 s"
        );
        c.end_reason = Some(EndReason::Offline);
        assert_eq!(
            not_answered_sentence(&c, CallStatus::Unanswered),
            "bob is not online; nobody could be rung"
        );
    }
}

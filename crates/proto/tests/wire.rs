//! The wire format, pinned: a snapshot of every message's serialized form,
//! round trips, clear errors for malformed frames, and a check that
//! `docs/protocol.md` documents every message with an example that decodes.

use softphone_proto::*;

fn sample_call() -> Call {
    let mut call = Call::new("bob", CallType::Audio, ReceiverType::User);
    call.session_id = "8f14e45fceea167a5a36dedd4bea2543".into();
    call.initiator = "alice".into();
    call.status = CallStatus::Ongoing;
    call.initiated_at = 1_700_000_000_000;
    call.answered_at = Some(1_700_000_002_000);
    call.invitees = vec![Invitee {
        user_id: "bob".into(),
        response: Response::Accepted,
    }];
    call.participants = vec![
        Participant {
            user_id: "alice".into(),
            device_id: "laptop".into(),
            joined_at: 1_700_000_000_000,
            left_at: None,
            left_reason: None,
        },
        Participant {
            user_id: "bob".into(),
            device_id: "desk".into(),
            joined_at: 1_700_000_002_000,
            left_at: None,
            left_reason: None,
        },
    ];
    call
}

fn sid() -> String {
    sample_call().session_id
}

fn client_messages() -> Vec<ClientMessage> {
    vec![
        ClientMessage::InitiateCall {
            id: 1,
            receiver_id: "bob".into(),
            receiver_type: ReceiverType::User,
            call_type: CallType::Audio,
            timeout_secs: Some(30),
        },
        ClientMessage::AcceptCall {
            id: 2,
            session_id: sid(),
        },
        ClientMessage::RejectCall {
            id: 3,
            session_id: sid(),
            status: CallStatus::Busy,
        },
        ClientMessage::EndCall {
            id: 4,
            session_id: sid(),
        },
        ClientMessage::JoinCall {
            id: 5,
            session_id: sid(),
        },
        ClientMessage::Signal {
            id: None,
            session_id: sid(),
            to: Some(DeviceAddr::new("bob", "desk")),
            data: serde_json::json!({"kind": "offer", "sdp": "v=0..."}),
        },
        ClientMessage::SetMuted {
            id: 8,
            session_id: sid(),
            muted: true,
        },
        ClientMessage::SubscribePresence { id: 6 },
        ClientMessage::Ping { id: 7 },
    ]
}

fn server_messages() -> Vec<ServerMessage> {
    let call = sample_call();
    let bob = DeviceAddr::new("bob", "desk");
    vec![
        ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            user_id: "alice".into(),
            device_id: "laptop".into(),
            server_time: 1_700_000_000_000,
        },
        ServerMessage::CallReply {
            id: 1,
            call: call.clone(),
        },
        ServerMessage::PresenceSnapshot {
            id: 6,
            users: vec![UserPresence {
                user_id: "bob".into(),
                status: PresenceStatus::InCall,
            }],
        },
        ServerMessage::Pong { id: 7 },
        ServerMessage::Error {
            id: Some(2),
            code: ErrorCode::NotAParty,
            message: "you are not a party to this call".into(),
        },
        ServerMessage::IncomingCall { call: call.clone() },
        ServerMessage::OutgoingCallAccepted {
            call: call.clone(),
            by: bob.clone(),
        },
        ServerMessage::OutgoingCallRejected {
            call: call.clone(),
            status: CallStatus::Busy,
        },
        ServerMessage::IncomingCallCancelled {
            call: call.clone(),
            reason: CancelReason::AnsweredElsewhere,
        },
        ServerMessage::CallEnded {
            call: call.clone(),
            reason: EndReason::Hangup,
            by: Some(bob.clone()),
        },
        ServerMessage::ParticipantJoined {
            session_id: sid(),
            participant: bob.clone(),
        },
        ServerMessage::ParticipantLeft {
            session_id: sid(),
            participant: bob.clone(),
            reason: LeaveReason::ConnectionLost,
        },
        ServerMessage::ParticipantMuted {
            session_id: sid(),
            participant: bob.clone(),
            muted: true,
        },
        ServerMessage::ParticipantDeclined {
            session_id: sid(),
            user_id: "carol".into(),
            status: CallStatus::Rejected,
        },
        ServerMessage::ParticipantReconnecting {
            session_id: sid(),
            participant: bob.clone(),
        },
        ServerMessage::ParticipantReconnected {
            session_id: sid(),
            participant: bob.clone(),
        },
        ServerMessage::CallResumed { call },
        ServerMessage::Signal {
            session_id: sid(),
            from: bob,
            data: serde_json::json!({"kind": "answer", "sdp": "v=0..."}),
        },
        ServerMessage::IceServers {
            session_id: sid(),
            servers: vec![
                IceServer {
                    urls: vec!["stun:turn.example.org:3478".into()],
                    username: None,
                    credential: None,
                },
                IceServer {
                    urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
                    username: Some("1700043200:alice".into()),
                    credential: Some("bWFkZS11cC1leGFtcGxlLWNyZWQ=".into()),
                },
            ],
        },
        ServerMessage::Presence {
            user_id: "bob".into(),
            status: PresenceStatus::Online,
        },
    ]
}

fn type_name(v: &serde_json::Value) -> String {
    v["type"].as_str().expect("a type field").to_string()
}

#[test]
fn every_message_has_a_pinned_serialized_form() {
    // Keys sorted: serde_json's key order depends on whether another crate in
    // the build turned on its `preserve_order` feature.
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    let _sorted = settings.bind_to_scope();
    for m in client_messages() {
        let v = serde_json::to_value(&m).expect("serializes");
        insta::assert_json_snapshot!(format!("client_{}", type_name(&v)), v);
    }
    for m in server_messages() {
        let v = serde_json::to_value(&m).expect("serializes");
        insta::assert_json_snapshot!(format!("server_{}", type_name(&v)), v);
    }
}

#[test]
fn every_message_round_trips() {
    for m in client_messages() {
        let text = serde_json::to_string(&m).expect("serializes");
        assert_eq!(decode_client(&text), Ok(m));
    }
    for m in server_messages() {
        let text = serde_json::to_string(&m).expect("serializes");
        let back: ServerMessage = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, m);
    }
}

#[test]
fn malformed_frames_get_a_sentence_naming_the_problem() {
    let cases = [
        ("not json", "expected"),
        (r#"{"type":"dance","id":1}"#, "unknown variant `dance`"),
        (
            r#"{"type":"accept_call","id":1}"#,
            "missing field `session_id`",
        ),
        (
            r#"{"type":"reject_call","id":1,"session_id":"x","status":"maybe"}"#,
            "unknown variant `maybe`",
        ),
        (r#"{"type":"ping","id":"one"}"#, "invalid type"),
        (
            r#"{"type":"ping","id":1,"extra":true}"#,
            "unknown field `extra`",
        ),
    ];
    for (frame, expected) in cases {
        let err = decode_client(frame).expect_err(frame);
        assert!(err.starts_with("malformed message: "), "{err}");
        assert!(err.contains(expected), "{frame}: {err}");
    }
    assert_eq!(
        salvage_request_id(r#"{"type":"accept_call","id":42}"#),
        Some(42)
    );
    assert_eq!(salvage_request_id("garbage"), None);
}

/// The JSON examples of docs/protocol.md, with the heading they sit under.
fn documented_examples() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/protocol.md exists");
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut block: Option<String> = None;
    for line in doc.lines() {
        if let Some(text) = block.as_mut() {
            if line.starts_with("```") {
                out.push((heading.clone(), block.take().unwrap_or_default()));
            } else {
                text.push_str(line);
                text.push('\n');
            }
        } else if line.starts_with("```json") {
            block = Some(String::new());
        } else if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_string();
        }
    }
    out
}

#[test]
fn protocol_doc_has_a_decoding_example_of_every_message() {
    let examples = documented_examples();
    let mut seen = std::collections::BTreeSet::new();
    for (heading, json) in &examples {
        let v: serde_json::Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("example under {heading:?} is not JSON: {e}"));
        let Some(kind) = v.get("type").and_then(|t| t.as_str()) else {
            continue;
        };
        if heading.starts_with("Client:") {
            decode_client(json).unwrap_or_else(|e| panic!("{heading}: {e}"));
            seen.insert(format!("client {kind}"));
        } else if heading.starts_with("Server:") {
            serde_json::from_str::<ServerMessage>(json)
                .unwrap_or_else(|e| panic!("{heading}: {e}"));
            seen.insert(format!("server {kind}"));
        }
    }
    for m in client_messages() {
        let kind = type_name(&serde_json::to_value(&m).expect("serializes"));
        assert!(
            seen.contains(&format!("client {kind}")),
            "docs/protocol.md lacks an example of client `{kind}`"
        );
    }
    for m in server_messages() {
        let kind = type_name(&serde_json::to_value(&m).expect("serializes"));
        assert!(
            seen.contains(&format!("server {kind}")),
            "docs/protocol.md lacks an example of server `{kind}`"
        );
    }
}

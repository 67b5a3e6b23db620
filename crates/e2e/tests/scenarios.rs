//! Call scenarios through the real server with the real client library:
//! glare, a group call, strangers, malformed frames, throttled logins.

use softphone_client::CallEvent;
use softphone_e2e::raw::{http, RawSocket};
use softphone_e2e::{audio_call, Party, TestServer};
use softphone_proto::*;
use std::time::Duration;

#[tokio::test]
async fn glare_connects_both_on_the_first_call() {
    let server = TestServer::start(&[]);
    let mut alice = Party::login(&server.url(), "alice").await;
    let mut bob = Party::login(&server.url(), "bob").await;
    let first = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("alice calls");
    bob.expect_ring().await;
    let merged = bob
        .client
        .initiate_call(audio_call("alice"))
        .await
        .expect("bob calls back");
    assert_eq!(merged.session_id, first.session_id);
    assert_eq!(merged.status, CallStatus::Ongoing);
    alice
        .expect("accepted", |e| {
            matches!(e, CallEvent::OutgoingCallAccepted { .. })
        })
        .await;
    alice
        .expect_none("a ring", Duration::from_millis(500), |e| {
            matches!(e, CallEvent::IncomingCallReceived { .. })
        })
        .await;
    bob.client
        .end_call(&first.session_id)
        .await
        .expect("hang up");
    alice
        .expect("call ended", |e| matches!(e, CallEvent::CallEnded { .. }))
        .await;
}

#[tokio::test]
async fn group_call_with_decline_late_join_and_end_on_last_leave() {
    let server = TestServer::start(&[]);
    server.admin(&["group", "add-member", "team", "dave"]);
    let mut alice = Party::login(&server.url(), "alice").await;
    let mut bob = Party::login(&server.url(), "bob").await;
    let mut carol = Party::login(&server.url(), "carol").await;
    let call = alice
        .client
        .initiate_call(Call::new("team", CallType::Audio, ReceiverType::Group))
        .await
        .expect("alice calls the team");
    let sid = call.session_id.clone();
    assert_eq!(bob.expect_ring().await, sid);
    assert_eq!(carol.expect_ring().await, sid);
    bob.client.accept_call(&sid).await.expect("bob accepts");
    alice
        .expect("accepted", |e| {
            matches!(e, CallEvent::OutgoingCallAccepted { .. })
        })
        .await;
    carol
        .client
        .reject_call(&sid, CallStatus::Rejected)
        .await
        .expect("carol declines");
    alice
        .expect(
            "carol declined",
            |e| matches!(e, CallEvent::ParticipantDeclined { user_id, .. } if user_id == "carol"),
        )
        .await;
    // dave comes online late and joins.
    let mut dave = Party::login(&server.url(), "dave").await;
    dave.client.join_call(&sid).await.expect("dave joins");
    for p in [&mut alice, &mut bob] {
        p.expect("dave joined", |e| matches!(e, CallEvent::ParticipantJoined { participant, .. } if participant.user_id == "dave"))
            .await;
    }
    bob.client.end_call(&sid).await.expect("bob leaves");
    dave.expect("bob left", |e| matches!(e, CallEvent::ParticipantLeft { participant, .. } if participant.user_id == "bob"))
        .await;
    alice.client.end_call(&sid).await.expect("alice leaves");
    let last = dave.client.end_call(&sid).await.expect("dave leaves last");
    assert_eq!(last.status, CallStatus::Ended);

    let row = alice.client.call(&sid).await.expect("call log row");
    assert_eq!(row.status, CallStatus::Ended);
    let who: Vec<&str> = row
        .participants
        .iter()
        .map(|p| p.user_id.as_str())
        .collect();
    assert_eq!(who, ["alice", "bob", "dave"]);
    assert!(row
        .participants
        .iter()
        .all(|p| p.left_at.is_some_and(|l| l >= p.joined_at)));
    assert_eq!(
        row.invitee("carol").map(|i| i.response),
        Some(Response::Declined)
    );
    let with_group = carol
        .client
        .call_log(CallLogQuery {
            group: Some("team".into()),
            ..CallLogQuery::default()
        })
        .await
        .expect("carol's log");
    assert_eq!(with_group.len(), 1);
}

#[tokio::test]
async fn a_stranger_cannot_touch_someone_elses_call() {
    let server = TestServer::start(&[]);
    let alice = Party::login(&server.url(), "alice").await;
    let mut bob = Party::login(&server.url(), "bob").await;
    let mallory = Party::login(&server.url(), "mallory").await;
    let sid = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call")
        .session_id;
    bob.expect_ring().await;
    let err = mallory
        .client
        .accept_call(&sid)
        .await
        .expect_err("stranger accept");
    assert_eq!(err.code(), Some(ErrorCode::NotAParty), "{err}");
    bob.client.accept_call(&sid).await.expect("bob accepts");
    let err = mallory
        .client
        .end_call(&sid)
        .await
        .expect_err("stranger end");
    assert_eq!(err.code(), Some(ErrorCode::NotAParty));
    let err = mallory
        .client
        .send_signal(
            &sid,
            Some(DeviceAddr::new("bob", "d1")),
            serde_json::json!({"sdp": "evil"}),
        )
        .await;
    // Signals are fire-and-forget; any error arrives as an event, never at bob.
    drop(err);
    assert!(
        mallory.client.call(&sid).await.is_err(),
        "the call log is private too"
    );
    bob.expect_none("mallory's signal", Duration::from_millis(500), |e| {
        matches!(e, CallEvent::Signal { .. } | CallEvent::CallEnded { .. })
    })
    .await;
    alice.client.end_call(&sid).await.expect("alice hangs up");
    bob.expect("ended", |e| matches!(e, CallEvent::CallEnded { .. }))
        .await;
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_call_survives() {
    let server = TestServer::start(&[]);
    let mut alice = RawSocket::connect(server.addr(), "alice", "raw").await;
    let mut bob = Party::login(&server.url(), "bob").await;
    alice
        .send_json(
            serde_json::json!({"type": "initiate_call", "id": 1, "receiver_id": "bob",
            "receiver_type": "user", "call_type": "audio"}),
        )
        .await;
    let sid = bob.expect_ring().await;
    bob.client.accept_call(&sid).await.expect("accept");

    let bad: [(&str, &str); 5] = [
        ("{not json", "malformed"),
        (r#"{"type":"teleport","id":2}"#, "teleport"),
        (r#"{"type":"accept_call","id":3}"#, "session_id"),
        (
            r#"{"type":"reject_call","id":4,"session_id":"x","status":"sideways"}"#,
            "sideways",
        ),
        (
            r#"{"type":"end_call","id":5,"session_id":"no-such-call"}"#,
            "no call",
        ),
    ];
    for (frame, says) in bad {
        alice.send_text(frame).await;
        match alice
            .recv_until(|m| matches!(m, ServerMessage::Error { .. }))
            .await
        {
            ServerMessage::Error { message, .. } => {
                assert!(message.contains(says), "{frame} → {message}")
            }
            _ => unreachable!(),
        }
    }
    alice.send_binary(vec![0, 1, 2, 3]).await;
    alice
        .recv_until(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::BadRequest,
                    ..
                }
            )
        })
        .await;
    alice.send_text(&"x".repeat(100_000)).await;
    alice
        .recv_until(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::BadRequest,
                    ..
                }
            )
        })
        .await;

    alice
        .send_json(serde_json::json!({"type": "ping", "id": 9}))
        .await;
    alice
        .recv_until(|m| matches!(m, ServerMessage::Pong { id: 9 }))
        .await;
    // The call is intact: a relayed signal still arrives and hanging up works.
    alice
        .send_json(serde_json::json!({"type": "signal", "session_id": sid, "data": {"sdp": "v=0"}}))
        .await;
    bob.expect("signal", |e| matches!(e, CallEvent::Signal { .. }))
        .await;
    alice
        .send_json(serde_json::json!({"type": "end_call", "id": 10, "session_id": sid}))
        .await;
    bob.expect("ended", |e| matches!(e, CallEvent::CallEnded { .. }))
        .await;
}

#[tokio::test]
async fn wrong_passwords_are_throttled() {
    let server = TestServer::start(&[]);
    let unknown = serde_json::json!({"username": "nobody", "password": "x"}).to_string();
    let (status, text) = http(server.addr(), "POST", "/v1/login", None, &unknown).await;
    assert_eq!(status, 401, "{text}");
    assert!(
        text.contains("wrong username or password"),
        "same sentence as a wrong password: {text}"
    );
    let body = serde_json::json!({"username": "alice", "password": "wrong"}).to_string();
    let (status, text) = http(server.addr(), "POST", "/v1/login", None, &body).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("wrong username or password"), "{text}");
    let mut last = (0, String::new());
    for _ in 0..6 {
        last = http(server.addr(), "POST", "/v1/login", None, &body).await;
    }
    assert_eq!(last.0, 429, "throttled after repeated failures: {}", last.1);
    assert!(last.1.contains("rate_limited"), "{}", last.1);
}

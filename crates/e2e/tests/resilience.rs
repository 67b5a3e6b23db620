//! Dropped connections and server restarts: reconnect inside and after the
//! grace period (through a relay the test cuts), and a call log that
//! survives graceful and abrupt restarts.

use softphone_client::{CallEvent, ConnectionState};
use softphone_e2e::{audio_call, Party, TcpProxy, TestServer};
use softphone_proto::*;
use std::time::Duration;

/// alice (direct) and bob (through `proxy`) in an ongoing call.
async fn talking(server: &TestServer, proxy: &TcpProxy) -> (Party, Party, String) {
    let mut alice = Party::login(&server.url(), "alice").await;
    let mut bob = Party::login(&proxy.url(), "bob").await;
    let sid = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call")
        .session_id;
    bob.expect_ring().await;
    bob.client.accept_call(&sid).await.expect("accept");
    alice
        .expect("accepted", |e| {
            matches!(e, CallEvent::OutgoingCallAccepted { .. })
        })
        .await;
    (alice, bob, sid)
}

#[tokio::test]
async fn reconnect_inside_grace_resumes_the_call() {
    let server = TestServer::start(&["--reconnect-grace", "5"]);
    let proxy = TcpProxy::start(server.addr()).await;
    let (mut alice, mut bob, sid) = talking(&server, &proxy).await;
    proxy.cut();
    alice
        .expect("bob reconnecting", |e| {
            matches!(e, CallEvent::ParticipantReconnecting { .. })
        })
        .await;
    bob.expect("reconnecting", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Reconnecting { .. })
        )
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    match bob
        .expect("resumed", |e| matches!(e, CallEvent::CallResumed { .. }))
        .await
    {
        CallEvent::CallResumed { call } => {
            assert_eq!(call.session_id, sid);
            assert_eq!(call.status, CallStatus::Ongoing);
        }
        _ => unreachable!(),
    }
    alice
        .expect("bob back", |e| {
            matches!(e, CallEvent::ParticipantReconnected { .. })
        })
        .await;
    assert_eq!(
        bob.client.active_call().map(|c| c.session_id),
        Some(sid.clone())
    );
    // Past the grace period the call is still up, and hangs up normally.
    tokio::time::sleep(Duration::from_secs(5)).await;
    bob.client
        .end_call(&sid)
        .await
        .expect("bob hangs up after resuming");
    match alice
        .expect("ended", |e| matches!(e, CallEvent::CallEnded { .. }))
        .await
    {
        CallEvent::CallEnded { reason, .. } => assert_eq!(reason, EndReason::Hangup),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn reconnect_after_grace_finds_the_call_ended_as_connection_lost() {
    let server = TestServer::start(&["--reconnect-grace", "1.5"]);
    let proxy = TcpProxy::start(server.addr()).await;
    let (mut alice, mut bob, sid) = talking(&server, &proxy).await;
    proxy.cut();
    match alice
        .expect("ended", |e| matches!(e, CallEvent::CallEnded { .. }))
        .await
    {
        CallEvent::CallEnded { reason, .. } => assert_eq!(reason, EndReason::ConnectionLost),
        _ => unreachable!(),
    }
    proxy.restore();
    bob.expect("connected again", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Connected)
        )
    })
    .await;
    bob.expect("told the call ended", |e| {
        matches!(e, CallEvent::CallEnded { .. })
    })
    .await;
    assert_eq!(bob.client.active_call(), None);
    let row = alice.client.call(&sid).await.expect("log row");
    assert_eq!(row.end_reason, Some(EndReason::ConnectionLost));
    let bob_row = row
        .participants
        .iter()
        .find(|p| p.user_id == "bob")
        .expect("bob");
    assert_eq!(bob_row.left_reason, Some(LeaveReason::ConnectionLost));
}

#[tokio::test]
async fn restarts_keep_every_call_log_row() {
    let mut server = TestServer::start(&["--ring-timeout", "1"]);
    let alice = Party::login(&server.url(), "alice").await;
    let mut bob = Party::login(&server.url(), "bob").await;

    let answered = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call 1")
        .session_id;
    bob.expect_ring().await;
    bob.client.accept_call(&answered).await.expect("accept");
    alice.client.end_call(&answered).await.expect("end");

    let declined = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call 2")
        .session_id;
    bob.expect_ring().await;
    bob.client
        .reject_call(&declined, CallStatus::Rejected)
        .await
        .expect("reject");

    let missed = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call 3")
        .session_id;
    bob.expect("missed", |e| {
        matches!(e, CallEvent::IncomingCallCancelled { .. })
    })
    .await;

    let live = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call 4")
        .session_id;
    bob.expect_ring().await;
    bob.client.accept_call(&live).await.expect("accept");

    // Graceful stop: the live call ends with server_shutdown, both are told.
    assert!(server.stop(), "graceful stop exits 0");
    match bob
        .expect("ended", |e| matches!(e, CallEvent::CallEnded { .. }))
        .await
    {
        CallEvent::CallEnded { reason, .. } => assert_eq!(reason, EndReason::ServerShutdown),
        _ => unreachable!(),
    }
    alice.client.disconnect().await;
    bob.client.disconnect().await;
    server.start_again();

    let alice = Party::login(&server.url(), "alice").await;
    let log = alice
        .client
        .call_log(CallLogQuery::default())
        .await
        .expect("log");
    let status_of = |sid: &str| log.iter().find(|c| c.session_id == sid).map(|c| c.status);
    assert_eq!(status_of(&answered), Some(CallStatus::Ended));
    assert_eq!(status_of(&declined), Some(CallStatus::Rejected));
    assert_eq!(status_of(&missed), Some(CallStatus::Unanswered));
    assert_eq!(status_of(&live), Some(CallStatus::Ended));
    let live_row = log.iter().find(|c| c.session_id == live).expect("live row");
    assert_eq!(live_row.end_reason, Some(EndReason::ServerShutdown));

    // An abrupt stop mid-call: the next start closes the row it left open.
    let mut bob = Party::login(&server.url(), "bob").await;
    let crashed = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("call 5")
        .session_id;
    bob.expect_ring().await;
    bob.client.accept_call(&crashed).await.expect("accept");
    tokio::time::sleep(Duration::from_millis(300)).await; // let the writer commit
    server.kill();
    alice.client.disconnect().await;
    bob.client.disconnect().await;
    server.start_again();
    let alice = Party::login(&server.url(), "alice").await;
    let log = alice
        .client
        .call_log(CallLogQuery::default())
        .await
        .expect("log");
    assert_eq!(log.len(), 5, "{log:#?}");
    let row = log
        .iter()
        .find(|c| c.session_id == crashed)
        .expect("crashed row");
    assert_eq!(row.status, CallStatus::Ended);
    assert_eq!(row.end_reason, Some(EndReason::ServerShutdown));
    let missed_for_bob = Party::login(&server.url(), "bob")
        .await
        .client
        .call_log(CallLogQuery {
            direction: Some(CallDirection::Missed),
            ..CallLogQuery::default()
        })
        .await
        .expect("bob's missed calls");
    let ids: Vec<&str> = missed_for_bob
        .iter()
        .map(|c| c.session_id.as_str())
        .collect();
    assert_eq!(ids, [missed.as_str()]);
}

//! The client against a scripted fake server: requests and replies, events,
//! drops and reconnects, keep-alive, timeouts, login errors.

mod support;

use futures_util::{Stream, StreamExt};
use softphone_client::{
    CallEvent, CallListener, Client, ClientConfig, ConnectionState, Error, Timing,
};
use softphone_proto::{
    Call, CallDirection, CallLogQuery, CallStatus, CallType, ClientMessage, DeviceAddr, EndReason,
    ErrorCode, Participant, ReceiverType, ServerMessage,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{FakeServer, WsConn, PATIENCE};
use tokio::time::Instant;

fn timing() -> Timing {
    Timing {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(80),
        keepalive_timeout: Duration::from_secs(5),
        resume_check_delay: Duration::from_millis(100),
    }
}

fn client_with(server: &FakeServer, timing: Timing) -> Client {
    let mut config = ClientConfig::new(server.url.clone(), "laptop");
    config.request_timeout = Duration::from_secs(2);
    Client::with_timing(config, timing).unwrap()
}

/// A client logged in with a token, and the server's end of its connection.
async fn connected(server: &mut FakeServer, timing: Timing) -> (Client, WsConn) {
    let client = client_with(server, timing);
    let session = client.login_with_token("tok").await.unwrap();
    assert_eq!(session.user_id, "alice");
    let conn = server.next_conn().await;
    assert_eq!(conn.auth, "Bearer tok");
    assert_eq!(conn.device_id, "laptop");
    (client, conn)
}

fn placed(sid: &str, status: CallStatus) -> Call {
    let mut call = Call::new("bob", CallType::Audio, ReceiverType::User);
    call.session_id = sid.into();
    call.initiator = "alice".into();
    call.status = status;
    call.participants.push(Participant {
        user_id: "alice".into(),
        device_id: "laptop".into(),
        joined_at: 1,
        left_at: None,
        left_reason: None,
    });
    call
}

async fn next_event(
    events: &mut (impl Stream<Item = CallEvent> + Unpin),
    what: &str,
    pred: impl Fn(&CallEvent) -> bool,
) -> CallEvent {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event stream ended while waiting for {what}"),
            Err(_) => panic!("no {what} event in time"),
        }
    }
}

/// Starts placing a call from the client, answers it from the server, returns the reply.
async fn place_call(client: &Client, conn: &mut WsConn, sid: &str) -> Call {
    let c = client.clone();
    let task = tokio::spawn(async move {
        c.initiate_call(Call::new("bob", CallType::Audio, ReceiverType::User))
            .await
    });
    let ClientMessage::InitiateCall { id, .. } = conn.recv().await else {
        panic!("expected initiate_call");
    };
    conn.send(ServerMessage::CallReply {
        id,
        call: placed(sid, CallStatus::Initiated),
    })
    .await;
    task.await.unwrap().unwrap()
}

#[tokio::test]
async fn requests_get_their_replies() {
    let mut server = FakeServer::start("alice").await;
    let (client, mut conn) = connected(&mut server, timing()).await;
    assert_eq!(client.connection_state(), ConnectionState::Connected);

    // A custom ring timeout goes out in whole seconds, rounded up.
    let c = client.clone();
    let task = tokio::spawn(async move {
        let call = Call::new("bob", CallType::Video, ReceiverType::User)
            .with_ring_timeout(Duration::from_millis(1500));
        c.initiate_call(call).await
    });
    let ClientMessage::InitiateCall {
        id,
        receiver_id,
        receiver_type,
        call_type,
        timeout_secs,
    } = conn.recv().await
    else {
        panic!("expected initiate_call");
    };
    assert_eq!(
        (receiver_id.as_str(), receiver_type, call_type, timeout_secs),
        ("bob", ReceiverType::User, CallType::Video, Some(2))
    );
    // An event in between does not confuse the reply.
    conn.send(ServerMessage::Presence {
        user_id: "carol".into(),
        status: softphone_proto::PresenceStatus::Online,
    })
    .await;
    conn.send(ServerMessage::CallReply {
        id,
        call: placed("s1", CallStatus::Initiated),
    })
    .await;
    let call = task.await.unwrap().unwrap();
    assert_eq!(call.session_id, "s1");
    assert_eq!(
        client.active_call().map(|c| c.session_id),
        Some("s1".into())
    );

    // The default ring timeout is not sent; a refusal carries the server's code.
    let c = client.clone();
    let task = tokio::spawn(async move {
        c.initiate_call(Call::new("bob", CallType::Audio, ReceiverType::User))
            .await
    });
    let ClientMessage::InitiateCall {
        id, timeout_secs, ..
    } = conn.recv().await
    else {
        panic!("expected initiate_call");
    };
    assert_eq!(timeout_secs, None);
    conn.send(ServerMessage::Error {
        id: Some(id),
        code: ErrorCode::AlreadyInCall,
        message: "this device is already in another call; end it first".into(),
    })
    .await;
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AlreadyInCall));
    assert_eq!(
        err.to_string(),
        "placing the call failed: this device is already in another call; end it first (already_in_call)"
    );

    // Ending the call clears the active call.
    let c = client.clone();
    let task = tokio::spawn(async move { c.end_call("s1").await });
    let ClientMessage::EndCall { id, session_id } = conn.recv().await else {
        panic!("expected end_call");
    };
    assert_eq!(session_id, "s1");
    conn.send(ServerMessage::CallReply {
        id,
        call: placed("s1", CallStatus::Cancelled),
    })
    .await;
    assert_eq!(task.await.unwrap().unwrap().status, CallStatus::Cancelled);
    assert_eq!(client.active_call(), None);

    // Bad arguments are refused before anything is sent.
    let err = client
        .reject_call("s1", CallStatus::Ongoing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl CallListener for Seen {
    fn on_outgoing_call_accepted(&self, call: &Call) {
        self.0
            .lock()
            .unwrap()
            .push(format!("accepted {}", call.session_id));
    }
    fn on_call_ended_message_received(&self, call: &Call) {
        self.0
            .lock()
            .unwrap()
            .push(format!("ended {}", call.session_id));
    }
}

#[tokio::test]
async fn events_reach_listeners_and_streams_and_update_the_active_call() {
    let mut server = FakeServer::start("alice").await;
    let (client, mut conn) = connected(&mut server, timing()).await;
    let seen = Arc::new(Seen::default());
    client.add_call_listener("seen", seen.clone());
    let mut events = client.events();
    place_call(&client, &mut conn, "s1").await;

    conn.send(ServerMessage::OutgoingCallAccepted {
        call: placed("s1", CallStatus::Ongoing),
        by: DeviceAddr::new("bob", "phone"),
    })
    .await;
    next_event(&mut events, "accepted", |e| {
        matches!(e, CallEvent::OutgoingCallAccepted { .. })
    })
    .await;
    assert_eq!(client.active_call().unwrap().status, CallStatus::Ongoing);

    // A frame the client cannot read is skipped; the connection goes on.
    conn.send_raw(r#"{"type":"something_new","x":1}"#).await;
    conn.send(ServerMessage::CallEnded {
        call: placed("s1", CallStatus::Ended),
        reason: EndReason::Hangup,
        by: Some(DeviceAddr::new("bob", "phone")),
    })
    .await;
    let ended = next_event(&mut events, "ended", |e| {
        matches!(e, CallEvent::CallEnded { .. })
    })
    .await;
    assert_eq!(ended.session_id(), Some("s1"));
    assert_eq!(client.active_call(), None);
    assert_eq!(*seen.0.lock().unwrap(), ["accepted s1", "ended s1"]);

    assert!(client.remove_call_listener("seen"));
    server.http("POST /v1/logout", 204, "");
    client.logout().await.unwrap();
    assert_eq!(
        server.http_log(),
        [("POST /v1/logout".to_owned(), "Bearer tok".to_owned())]
    );
    assert!(conn.closed_within(PATIENCE).await);
    let state = next_event(&mut events, "disconnected", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { .. })
        )
    })
    .await;
    assert_eq!(
        state,
        CallEvent::ConnectionStateChanged(ConnectionState::Disconnected {
            reason: "logged out".into()
        })
    );
    let err = client.accept_call("s2").await.unwrap_err();
    assert!(matches!(err, Error::NotLoggedIn), "{err}");
}

#[tokio::test]
async fn a_drop_fails_pending_requests_at_once_and_reconnects() {
    let mut server = FakeServer::start("alice").await;
    let (client, mut conn) = connected(&mut server, timing()).await;
    let mut events = client.events();

    let c = client.clone();
    let started = Instant::now();
    let task = tokio::spawn(async move { c.accept_call("s9").await });
    let ClientMessage::AcceptCall { .. } = conn.recv().await else {
        panic!("expected accept_call");
    };
    drop(conn);
    let err = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::ConnectionLost {
                what: "accepting the call"
            }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "failed only after {:?}",
        started.elapsed()
    );

    let reconnecting = next_event(&mut events, "reconnecting", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Reconnecting { .. })
        )
    })
    .await;
    let CallEvent::ConnectionStateChanged(ConnectionState::Reconnecting { attempt, retry_in }) =
        reconnecting
    else {
        unreachable!()
    };
    assert_eq!(attempt, 1);
    assert!(retry_in <= Duration::from_millis(20));
    let mut conn = server.next_conn().await;
    assert_eq!(conn.device_id, "laptop");
    next_event(&mut events, "connected", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Connected)
        )
    })
    .await;

    // The new connection carries requests.
    let c = client.clone();
    let task = tokio::spawn(async move { c.ping().await });
    let ClientMessage::Ping { id } = conn.recv().await else {
        panic!("expected ping");
    };
    conn.send(ServerMessage::Pong { id }).await;
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn backoff_grows_while_the_server_refuses_and_requests_fail_at_once() {
    let mut server = FakeServer::start("alice").await;
    let (client, conn) = connected(&mut server, timing()).await;
    let mut events = client.events();
    server.refuse_ws(Some(503));
    drop(conn);
    let mut attempts = Vec::new();
    while attempts.len() < 4 {
        let e = next_event(&mut events, "reconnecting", |e| {
            matches!(
                e,
                CallEvent::ConnectionStateChanged(ConnectionState::Reconnecting { .. })
            )
        })
        .await;
        if let CallEvent::ConnectionStateChanged(ConnectionState::Reconnecting {
            attempt,
            retry_in,
        }) = e
        {
            attempts.push((attempt, retry_in));
        }
    }
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    // 20, 40, 80, 80 ms, each jittered into its upper half.
    for ((_, d), base) in attempts.iter().zip([20u64, 40, 80, 80]) {
        let base = Duration::from_millis(base);
        assert!(*d >= base / 2 && *d <= base, "{d:?} vs {base:?}");
    }
    let started = Instant::now();
    let err = client.end_call("s1").await.unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_millis(500));

    server.refuse_ws(None);
    let _conn = server.next_conn().await;
    next_event(&mut events, "connected", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Connected)
        )
    })
    .await;
}

#[tokio::test]
async fn a_401_on_reconnect_is_final() {
    let mut server = FakeServer::start("alice").await;
    let (client, conn) = connected(&mut server, timing()).await;
    let mut events = client.events();
    server.refuse_ws(Some(401));
    drop(conn);
    let e = next_event(&mut events, "disconnected", |e| {
        matches!(
            e,
            CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { .. })
        )
    })
    .await;
    let CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { reason }) = e else {
        unreachable!()
    };
    assert!(reason.contains("log in again"), "{reason}");
    server.refuse_ws(None);
    assert!(
        server.no_conn_within(Duration::from_millis(300)).await,
        "it kept trying"
    );
    let err = client.accept_call("s1").await.unwrap_err();
    assert!(err.to_string().contains("log in again"), "{err}");
}

#[tokio::test]
async fn a_silent_connection_is_dead() {
    let mut server = FakeServer::start("alice").await;
    let timing = Timing {
        keepalive_timeout: Duration::from_millis(300),
        ..timing()
    };
    let (_client, mut first) = connected(&mut server, timing).await;
    let started = Instant::now();
    let _second = server.next_conn().await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "reconnected after {waited:?}"
    );
    assert!(first.closed_within(PATIENCE).await);
}

#[tokio::test]
async fn an_unanswered_request_times_out() {
    let mut server = FakeServer::start("alice").await;
    let client = {
        let mut config = ClientConfig::new(server.url.clone(), "laptop");
        config.request_timeout = Duration::from_millis(300);
        Client::with_timing(config, timing()).unwrap()
    };
    client.login_with_token("tok").await.unwrap();
    let mut conn = server.next_conn().await;
    let err = client.join_call("s1").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "joining the call",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("did not answer within 0.3 s"),
        "{err}"
    );
    let ClientMessage::JoinCall { .. } = conn.recv().await else {
        panic!("expected join_call");
    };
}

#[tokio::test]
async fn a_call_resumes_after_a_reconnect() {
    let mut server = FakeServer::start("alice").await;
    let (client, mut conn) = connected(&mut server, timing()).await;
    let mut events = client.events();
    place_call(&client, &mut conn, "s1").await;
    drop(conn);
    let mut conn = server.next_conn().await;
    conn.send(ServerMessage::CallResumed {
        call: placed("s1", CallStatus::Ongoing),
    })
    .await;
    next_event(&mut events, "resumed", |e| {
        matches!(e, CallEvent::CallResumed { .. })
    })
    .await;
    assert_eq!(client.active_call().unwrap().status, CallStatus::Ongoing);
    // No check over HTTP was needed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.http_log().is_empty(), "{:?}", server.http_log());
}

#[tokio::test]
async fn a_call_that_ended_while_away_is_reported() {
    let mut server = FakeServer::start("alice").await;
    let (client, mut conn) = connected(&mut server, timing()).await;
    let mut events = client.events();
    place_call(&client, &mut conn, "s1").await;
    let mut ended = placed("s1", CallStatus::Ended);
    ended.answered_at = Some(2);
    ended.end_reason = Some(EndReason::ConnectionLost);
    ended.participants[0].left_at = Some(3);
    server.http(
        "GET /v1/calls/s1",
        200,
        serde_json::to_string(&ended).unwrap(),
    );
    drop(conn);
    let _conn = server.next_conn().await;
    let e = next_event(&mut events, "ended", |e| {
        matches!(e, CallEvent::CallEnded { .. })
    })
    .await;
    assert!(matches!(
        e,
        CallEvent::CallEnded {
            reason: EndReason::ConnectionLost,
            by: None,
            ..
        }
    ));
    assert_eq!(client.active_call(), None);
    assert_eq!(
        server.http_log(),
        [("GET /v1/calls/s1".to_owned(), "Bearer tok".to_owned())]
    );
}

#[tokio::test]
async fn login_and_queries_over_http() {
    let mut server = FakeServer::start("alice").await;
    let client = client_with(&server, timing());

    server.http(
        "POST /v1/login",
        401,
        r#"{"code":"unauthorized","message":"wrong username or password"}"#,
    );
    let err = client.login("alice", "nope").await.unwrap_err();
    assert!(matches!(err, Error::WrongCredentials), "{err}");
    assert_eq!(err.to_string(), "wrong username or password");
    let err = client.users().await.unwrap_err();
    assert!(matches!(err, Error::NotLoggedIn), "{err}");

    server.http(
        "POST /v1/login",
        200,
        r#"{"token":"t1","user_id":"alice","expires_at":99}"#,
    );
    let session = client.login("alice", "right").await.unwrap();
    assert_eq!(
        (session.token.as_str(), session.expires_at),
        ("t1", Some(99))
    );
    let conn = server.next_conn().await;
    assert_eq!(conn.auth, "Bearer t1");

    server.http(
        "GET /v1/users",
        200,
        r#"[{"user_id":"bob","display_name":"Bob","presence":"online"}]"#,
    );
    let users = client.users().await.unwrap();
    assert_eq!(users[0].user_id, "bob");
    server.http("GET /v1/calls", 200, "[]");
    let query = CallLogQuery {
        direction: Some(CallDirection::Missed),
        with_user: Some("bob".into()),
        limit: Some(3),
        ..CallLogQuery::default()
    };
    assert!(client.call_log(query).await.unwrap().is_empty());
    let err = client.call("nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    server.http(
        "GET /v1/groups",
        429,
        r#"{"code":"rate_limited","message":"slow down"}"#,
    );
    let err = client.groups().await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err}");
    let log: Vec<String> = server.http_log().into_iter().map(|(r, _)| r).collect();
    assert!(
        log.contains(&"GET /v1/calls?direction=missed&with_user=bob&limit=3".to_owned()),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_named() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ClientConfig::new(format!("http://127.0.0.1:{port}"), "laptop");
    let client = Client::new(config).unwrap();
    let err = client.login("alice", "pw").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the server at http://127.0.0.1:{port}/"
        )),
        "{text}"
    );
    let err = client.login_with_token("tok").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

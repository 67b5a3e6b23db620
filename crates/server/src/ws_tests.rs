//! Connection tests over channels: no sockets, a real hub and store.

use super::*;
use crate::hub::CLOSE_REPLACED;
use crate::store::test_util::temp_store;
use crate::store::writer::CallLogWriter;
use crate::turn::TurnConfig;
use futures_util::stream;
use softphone_proto::{CallStatus, ServerMessage};
use tokio::sync::mpsc;

type Inbox = mpsc::UnboundedReceiver<Message>;
type Outbox = mpsc::UnboundedSender<Result<Message, axum::Error>>;

struct Device {
    inbox: Inbox,
    outbox: Outbox,
    task: tokio::task::JoinHandle<()>,
}

impl Device {
    fn send(&self, text: &str) {
        self.outbox
            .send(Ok(Message::Text(text.into())))
            .expect("connection alive");
    }

    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.inbox.recv())
            .await
            .expect("a frame in time")
            .expect("connection open")
    }

    /// Next text frame, skipping pings.
    async fn message(&mut self) -> ServerMessage {
        loop {
            match self.next().await {
                Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("server message")
                }
                Message::Ping(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }
}

fn connect(hub: &Arc<Hub>, store: &Store, user: &str, device: &str) -> Device {
    let (to_client, inbox) = mpsc::unbounded_channel::<Message>();
    let (outbox, from_client) = mpsc::unbounded_channel::<Result<Message, axum::Error>>();
    let sink = Box::pin(futures_util::sink::unfold(
        to_client,
        |tx, m: Message| async move {
            tx.send(m).map_err(|_| axum::Error::new("client gone"))?;
            Ok::<_, axum::Error>(tx)
        },
    ));
    let stream = Box::pin(stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    }));
    let settings = Settings {
        ping_interval: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
    };
    let task = tokio::spawn(run_connection(
        sink,
        stream,
        hub.clone(),
        store.clone(),
        DeviceAddr::new(user, device),
        false,
        settings,
    ));
    Device {
        inbox,
        outbox,
        task,
    }
}

async fn setup() -> (Arc<Hub>, Store, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    for u in ["alice", "bob"] {
        store.create_user(u, u, "h").await.expect("user");
    }
    let (writer, _task) = CallLogWriter::spawn(store.clone());
    let hub = Arc::new(Hub::new(
        softphone_proto::Config::default(),
        writer,
        TurnConfig::default(),
        None,
    ));
    (hub, store, dir)
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays() {
    let (hub, store, _dir) = setup().await;
    let mut alice = connect(&hub, &store, "alice", "d1");
    assert!(
        matches!(alice.message().await, ServerMessage::Hello { ref user_id, .. } if user_id == "alice")
    );

    alice.send("not json");
    assert!(matches!(
        alice.message().await,
        ServerMessage::Error {
            id: None,
            code: ErrorCode::BadRequest,
            ..
        }
    ));
    alice.send(r#"{"type":"no_such_thing","id":12}"#);
    assert!(matches!(
        alice.message().await,
        ServerMessage::Error {
            id: Some(12),
            code: ErrorCode::BadRequest,
            ..
        }
    ));
    let big = format!(
        r#"{{"type":"ping","id":13,"pad":"{}"}}"#,
        "x".repeat(MAX_FRAME)
    );
    alice.send(&big);
    assert!(matches!(
        alice.message().await,
        ServerMessage::Error {
            id: Some(13),
            code: ErrorCode::BadRequest,
            ..
        }
    ));
    alice
        .outbox
        .send(Ok(Message::Binary(vec![1, 2, 3].into())))
        .expect("alive");
    assert!(matches!(
        alice.message().await,
        ServerMessage::Error {
            id: None,
            code: ErrorCode::BadRequest,
            ..
        }
    ));
    alice.send(r#"{"type":"ping","id":7}"#);
    assert_eq!(alice.message().await, ServerMessage::Pong { id: 7 });

    alice.send(r#"{"type":"initiate_call","id":3,"receiver_id":"zed","receiver_type":"user","call_type":"audio"}"#);
    assert!(matches!(
        alice.message().await,
        ServerMessage::Error {
            id: Some(3),
            code: ErrorCode::UnknownReceiver,
            ..
        }
    ));
    alice.send(r#"{"type":"accept_call","id":4,"session_id":"nope"}"#);
    assert!(matches!(
        alice.message().await,
        ServerMessage::Error {
            id: Some(4),
            code: ErrorCode::UnknownCall,
            ..
        }
    ));
    assert_eq!(hub.connection_count(), 1);

    drop(alice.outbox);
    alice.task.await.expect("connection task");
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test]
async fn a_call_rings_and_is_answered_across_connections() {
    let (hub, store, _dir) = setup().await;
    let mut alice = connect(&hub, &store, "alice", "d1");
    let mut bob = connect(&hub, &store, "bob", "phone");
    alice.message().await;
    bob.message().await;
    alice.send(r#"{"type":"subscribe_presence","id":1}"#);
    match alice.message().await {
        ServerMessage::PresenceSnapshot { id: 1, users } => assert_eq!(users.len(), 2),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    alice.send(r#"{"type":"initiate_call","id":2,"receiver_id":"bob","receiver_type":"user","call_type":"audio"}"#);
    let ServerMessage::CallReply { id: 2, call } = alice.message().await else {
        panic!("expected a call reply");
    };
    assert_eq!(call.status, CallStatus::Initiated);
    assert_eq!(call.session_id.len(), 32);
    let ServerMessage::IncomingCall { call: rung } = bob.message().await else {
        panic!("expected a ring");
    };
    assert_eq!(rung.session_id, call.session_id);
    bob.send(&format!(
        r#"{{"type":"accept_call","id":9,"session_id":"{}"}}"#,
        call.session_id
    ));
    let mut got_reply = false;
    while !got_reply {
        if let ServerMessage::CallReply { id: 9, call } = bob.message().await {
            assert_eq!(call.status, CallStatus::Ongoing);
            got_reply = true;
        }
    }
    let mut accepted = false;
    for _ in 0..10 {
        if let ServerMessage::OutgoingCallAccepted { .. } = alice.message().await {
            accepted = true;
            break;
        }
    }
    assert!(accepted, "alice heard the answer");
}

#[tokio::test]
async fn a_second_connection_of_a_device_replaces_the_first() {
    let (hub, store, _dir) = setup().await;
    let mut first = connect(&hub, &store, "alice", "d1");
    first.message().await;
    let mut second = connect(&hub, &store, "alice", "d1");
    assert!(matches!(
        second.message().await,
        ServerMessage::Hello { .. }
    ));
    loop {
        match first.next().await {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CLOSE_REPLACED);
                break;
            }
            Message::Close(None) => panic!("close without a reason"),
            _ => continue,
        }
    }
    first.task.await.expect("first ends");
    // The old connection's clean-up left the new one registered.
    assert_eq!(hub.connection_count(), 1);
    second.send(r#"{"type":"ping","id":1}"#);
    assert_eq!(second.message().await, ServerMessage::Pong { id: 1 });
}

#[tokio::test]
async fn shutdown_closes_connections_with_a_reason() {
    let (hub, store, _dir) = setup().await;
    let mut alice = connect(&hub, &store, "alice", "d1");
    alice.message().await;
    hub.shutdown();
    loop {
        if let Message::Close(Some(frame)) = alice.next().await {
            assert_eq!(frame.code, CLOSE_GOING_AWAY);
            break;
        }
    }
    alice.task.await.expect("ends");
    assert!(hub.connect(DeviceAddr::new("bob", "x"), false).is_none());
}

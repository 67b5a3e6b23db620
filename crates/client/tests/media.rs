//! The media session between two real clients, each on its own scripted
//! fake server; the test plays both servers and relays `signal`s between
//! them as the real server would. Null devices: this is about negotiation,
//! connection, stats and stopping (the audio itself is checked end to end
//! in `crates/e2e/tests/audio.rs`).

mod support;

use futures_util::{Stream, StreamExt};
use softphone_client::media::{MediaConfig, MediaDevices};
use softphone_client::{CallEvent, Client, ClientConfig};
use softphone_proto::{
    Call, CallStatus, CallType, ClientMessage, DeviceAddr, EndReason, Participant, ReceiverType,
    ServerMessage,
};
use std::time::Duration;
use support::{FakeServer, WsConn};
use tokio::time::Instant;

const SID: &str = "5e55105e55105e55105e55105e551050";

fn media() -> MediaConfig {
    let mut config = MediaConfig::new(|_call| Ok(MediaDevices::null()));
    config.udp_addrs = vec!["127.0.0.1:0".into()];
    config.stats_interval = Duration::from_millis(300);
    config
}

fn call(status: CallStatus) -> Call {
    let mut call = Call::new("bob", CallType::Audio, ReceiverType::User);
    call.session_id = SID.into();
    call.initiator = "alice".into();
    call.status = status;
    for (user, device) in [("alice", "laptop"), ("bob", "desk")] {
        call.participants.push(Participant {
            user_id: user.into(),
            device_id: device.into(),
            joined_at: 1,
            left_at: None,
            left_reason: None,
        });
    }
    call
}

async fn next_event(
    events: &mut (impl Stream<Item = CallEvent> + Unpin),
    what: &str,
    pred: impl Fn(&CallEvent) -> bool,
) -> CallEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event stream ended while waiting for {what}"),
            Err(_) => panic!("no {what} event in time"),
        }
    }
}

/// Plays the server between the two connections: relays signals, answers
/// alice's `end_call` and tells bob.
async fn relay(mut a: WsConn, mut b: WsConn) {
    let alice = DeviceAddr::new("alice".to_owned(), "laptop".to_owned());
    let bob = DeviceAddr::new("bob".to_owned(), "desk".to_owned());
    loop {
        tokio::select! {
            m = a.recv() => match m {
                ClientMessage::Signal { session_id, data, .. } => {
                    b.send(ServerMessage::Signal { session_id, from: alice.clone(), data }).await;
                }
                ClientMessage::EndCall { id, .. } => {
                    a.send(ServerMessage::CallReply { id, call: call(CallStatus::Ended) }).await;
                    b.send(ServerMessage::CallEnded {
                        call: call(CallStatus::Ended),
                        reason: EndReason::Hangup,
                        by: Some(alice.clone()),
                    })
                    .await;
                }
                _ => {}
            },
            m = b.recv() => if let ClientMessage::Signal { session_id, data, .. } = m {
                a.send(ServerMessage::Signal { session_id, from: bob.clone(), data }).await;
            },
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answered_call_gets_media_both_ways_and_stops_with_the_call() {
    let mut server_a = FakeServer::start("alice").await;
    let mut server_b = FakeServer::start("bob").await;
    let alice = Client::new(ClientConfig::new(server_a.url.clone(), "laptop")).unwrap();
    let bob = Client::new(ClientConfig::new(server_b.url.clone(), "desk")).unwrap();
    let media_a = alice.enable_media(media());
    let media_b = bob.enable_media(media());
    let (mut events_a, mut events_b) = (alice.events(), bob.events());
    alice.login_with_token("a").await.unwrap();
    let mut conn_a = server_a.next_conn().await;
    bob.login_with_token("b").await.unwrap();
    let mut conn_b = server_b.next_conn().await;

    // alice calls, bob answers; the server tells alice and hands out ICE servers.
    let caller = alice.clone();
    let placing = tokio::spawn(async move {
        caller
            .initiate_call(Call::new("bob", CallType::Audio, ReceiverType::User))
            .await
    });
    let ClientMessage::InitiateCall { id, .. } = conn_a.recv().await else {
        panic!("expected initiate_call");
    };
    conn_a
        .send(ServerMessage::CallReply {
            id,
            call: call(CallStatus::Initiated),
        })
        .await;
    placing.await.unwrap().unwrap();
    let callee = bob.clone();
    let answering = tokio::spawn(async move { callee.accept_call(SID).await });
    let ClientMessage::AcceptCall { id, .. } = conn_b.recv().await else {
        panic!("expected accept_call");
    };
    conn_b
        .send(ServerMessage::CallReply {
            id,
            call: call(CallStatus::Ongoing),
        })
        .await;
    answering.await.unwrap().unwrap();
    let ice = || ServerMessage::IceServers {
        session_id: SID.into(),
        servers: vec![],
    };
    conn_b.send(ice()).await;
    conn_a
        .send(ServerMessage::OutgoingCallAccepted {
            call: call(CallStatus::Ongoing),
            by: DeviceAddr::new("bob".to_owned(), "desk".to_owned()),
        })
        .await;
    conn_a.send(ice()).await;
    let relaying = tokio::spawn(relay(conn_a, conn_b));

    for (who, events) in [("alice", &mut events_a), ("bob", &mut events_b)] {
        let connected = next_event(events, "media_connected", |e| {
            matches!(e, CallEvent::MediaConnected { .. })
        })
        .await;
        let CallEvent::MediaConnected { session_id, after } = connected else {
            unreachable!()
        };
        assert_eq!(session_id, SID);
        assert!(after < Duration::from_secs(5), "{who}: {after:?}");
        // Silence still flows as Opus packets, and they are counted.
        next_event(events, "media_stats with packets", |e| {
            matches!(e, CallEvent::MediaStats { stats, .. } if stats.packets_received > 5 && stats.packets_sent > 5)
        })
        .await;
    }

    // alice hangs up: her session stops on her own end_call, bob's on call_ended.
    alice.end_call(SID).await.unwrap();
    for (who, events) in [("alice", &mut events_a), ("bob", &mut events_b)] {
        let last = next_event(
            events,
            "the last media_stats",
            |e| matches!(e, CallEvent::MediaStats { stats, .. } if stats.last),
        )
        .await;
        let CallEvent::MediaStats { stats, .. } = last else {
            unreachable!()
        };
        assert!(stats.first_audio_ms.is_some(), "{who}: {stats:?}");
        assert_eq!(stats.packets_lost, 0, "{who}: {stats:?}");
    }
    media_a.shutdown().await;
    media_b.shutdown().await;
    relaying.abort();
}

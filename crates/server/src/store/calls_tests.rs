//! Call-log tests: round trips, crash recovery, and every filter checked
//! against a plain-Rust reading of its definition over the same calls.

use crate::store::test_util::temp_store;
use crate::store::Store;
use softphone_proto::{
    Call, CallDirection, CallLogQuery, CallStatus, CallType, EndReason, Invitee, LeaveReason,
    Participant, ReceiverType, Response,
};

fn call(
    sid: &str,
    at: u64,
    from: &str,
    to: &str,
    kind: ReceiverType,
    invitees: &[(&str, Response)],
) -> Call {
    let mut c = Call::new(to, CallType::Audio, kind);
    c.session_id = sid.into();
    c.initiator = from.into();
    c.initiated_at = at;
    c.status = CallStatus::Unanswered;
    c.ended_at = Some(at + 45_000);
    c.end_reason = Some(EndReason::Timeout);
    c.invitees = invitees
        .iter()
        .map(|(u, r)| Invitee {
            user_id: (*u).into(),
            response: *r,
        })
        .collect();
    c
}

fn answered(mut c: Call, by: &str) -> Call {
    c.status = CallStatus::Ended;
    c.answered_at = Some(c.initiated_at + 1000);
    c.ended_at = Some(c.initiated_at + 61_000);
    c.duration_ms = Some(60_000);
    c.end_reason = Some(EndReason::Hangup);
    c.participants = vec![
        Participant {
            user_id: c.initiator.clone(),
            device_id: "d1".into(),
            joined_at: c.initiated_at,
            left_at: Some(c.initiated_at + 61_000),
            left_reason: Some(LeaveReason::Hangup),
        },
        Participant {
            user_id: by.into(),
            device_id: "d2".into(),
            joined_at: c.initiated_at + 1000,
            left_at: Some(c.initiated_at + 61_000),
            left_reason: Some(LeaveReason::CallEnded),
        },
    ];
    c
}

/// A small history among alice, bob, carol, dave and groups `team`
/// (alice, bob, carol) and `ops` (bob, dave).
fn history() -> Vec<Call> {
    use ReceiverType::{Group, User};
    use Response::*;
    vec![
        answered(
            call("s1", 1_000, "alice", "bob", User, &[("bob", Accepted)]),
            "bob",
        ),
        call("s2", 2_000, "bob", "alice", User, &[("alice", Missed)]),
        call("s3", 3_000, "carol", "alice", User, &[("alice", Busy)]),
        call("s4", 4_000, "alice", "carol", User, &[("carol", Declined)]),
        answered(
            call(
                "s5",
                5_000,
                "bob",
                "team",
                Group,
                &[("alice", Accepted), ("carol", Missed)],
            ),
            "alice",
        ),
        call("s6", 6_000, "dave", "ops", Group, &[("bob", Missed)]),
        call(
            "s7",
            7_000,
            "alice",
            "team",
            Group,
            &[("bob", Declined), ("carol", Missed)],
        ),
        call("s8", 8_000, "bob", "carol", User, &[("carol", Missed)]),
    ]
}

fn members(group: &str) -> &'static [&'static str] {
    match group {
        "team" => &["alice", "bob", "carol"],
        "ops" => &["bob", "dave"],
        _ => &[],
    }
}

/// The filters' definition, in Rust, over the same calls.
fn expected(all: &[Call], me: &str, q: &CallLogQuery) -> Vec<String> {
    let mut out: Vec<&Call> = all
        .iter()
        .filter(|c| match &q.group {
            Some(g) => {
                c.receiver_type == ReceiverType::Group
                    && &c.receiver == g
                    && (c.involves(me) || members(g).contains(&me))
            }
            None => c.involves(me),
        })
        .filter(|c| match q.direction {
            Some(CallDirection::Outgoing) => c.initiator == me,
            Some(CallDirection::Incoming) => c.invitee(me).is_some(),
            Some(CallDirection::Missed) => c.is_missed_by(me),
            None => true,
        })
        .filter(|c| match &q.with_user {
            Some(u) => {
                c.receiver_type == ReceiverType::User
                    && ((c.initiator == me && &c.receiver == u)
                        || (&c.initiator == u && c.receiver == me))
            }
            None => true,
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.initiated_at));
    out.truncate(q.limit.unwrap_or(50) as usize);
    out.into_iter().map(|c| c.session_id.clone()).collect()
}

async fn seeded() -> (Store, tempfile::TempDir, Vec<Call>) {
    let (store, dir) = temp_store().await;
    for u in ["alice", "bob", "carol", "dave"] {
        store.create_user(u, u, "h").await.expect("user");
    }
    let team: Vec<String> = members("team").iter().map(|s| s.to_string()).collect();
    let ops: Vec<String> = members("ops").iter().map(|s| s.to_string()).collect();
    store
        .create_group("team", "Team", &team)
        .await
        .expect("team");
    store.create_group("ops", "Ops", &ops).await.expect("ops");
    let calls = history();
    store.save_calls(&calls).await.expect("save");
    (store, dir, calls)
}

#[tokio::test]
async fn a_call_round_trips() {
    let (store, _dir, calls) = seeded().await;
    for c in &calls {
        assert_eq!(
            store.call(&c.session_id).await.expect("get").as_ref(),
            Some(c)
        );
    }
    assert!(store.call("nope").await.expect("get").is_none());
}

#[tokio::test]
async fn an_upsert_replaces_invitees_and_participants() {
    let (store, _dir, calls) = seeded().await;
    let mut c = calls[1].clone();
    c.invitees[0].response = Response::Accepted;
    let c = answered(c, "alice");
    store
        .save_calls(&[calls[1].clone(), c.clone()])
        .await
        .expect("save");
    assert_eq!(store.call("s2").await.expect("get"), Some(c));
}

#[tokio::test]
async fn every_filter_matches_its_definition() {
    let (store, _dir, calls) = seeded().await;
    let directions = [
        None,
        Some(CallDirection::Missed),
        Some(CallDirection::Incoming),
        Some(CallDirection::Outgoing),
    ];
    let users = ["alice", "bob", "carol", "dave"];
    for me in users {
        for direction in directions {
            for with_user in [None, Some("alice"), Some("bob"), Some("carol")] {
                for group in [None, Some("team"), Some("ops")] {
                    for limit in [None, Some(2)] {
                        let q = CallLogQuery {
                            direction,
                            with_user: with_user.map(String::from),
                            group: group.map(String::from),
                            limit,
                        };
                        let got: Vec<String> = store
                            .call_log(me, &q)
                            .await
                            .expect("query")
                            .into_iter()
                            .map(|c| c.session_id)
                            .collect();
                        assert_eq!(got, expected(&calls, me, &q), "me={me} {q:?}");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn spot_checks_of_the_filters() {
    let (store, _dir, _) = seeded().await;
    let ids = |calls: Vec<Call>| calls.into_iter().map(|c| c.session_id).collect::<Vec<_>>();
    let missed = CallLogQuery {
        direction: Some(CallDirection::Missed),
        ..Default::default()
    };
    assert_eq!(
        ids(store.call_log("alice", &missed).await.expect("q")),
        ["s3", "s2"]
    );
    let out = CallLogQuery {
        direction: Some(CallDirection::Outgoing),
        ..Default::default()
    };
    assert_eq!(
        ids(store.call_log("alice", &out).await.expect("q")),
        ["s7", "s4", "s1"]
    );
    // dave is not in team and took part in none of its calls.
    let team = CallLogQuery {
        group: Some("team".into()),
        ..Default::default()
    };
    assert!(store.call_log("dave", &team).await.expect("q").is_empty());
    assert_eq!(
        ids(store.call_log("carol", &team).await.expect("q")),
        ["s7", "s5"]
    );
    let with_bob = CallLogQuery {
        with_user: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.call_log("alice", &with_bob).await.expect("q")),
        ["s2", "s1"]
    );
}

#[tokio::test]
async fn interrupted_calls_are_finished_at_startup() {
    let (store, _dir) = temp_store().await;
    let mut ringing = call(
        "r1",
        1_000,
        "alice",
        "bob",
        ReceiverType::User,
        &[("bob", Response::Ringing)],
    );
    ringing.status = CallStatus::Initiated;
    ringing.ended_at = None;
    ringing.end_reason = None;
    let mut live = answered(
        call(
            "o1",
            2_000,
            "alice",
            "bob",
            ReceiverType::User,
            &[("bob", Response::Accepted)],
        ),
        "bob",
    );
    live.status = CallStatus::Ongoing;
    live.ended_at = None;
    live.duration_ms = None;
    live.end_reason = None;
    live.participants[1].left_at = None;
    live.participants[1].left_reason = None;
    let done = call(
        "d1",
        500,
        "bob",
        "alice",
        ReceiverType::User,
        &[("alice", Response::Missed)],
    );
    store
        .save_calls(&[ringing, live, done.clone()])
        .await
        .expect("save");
    assert_eq!(
        store
            .finish_interrupted_calls(10_000)
            .await
            .expect("recover"),
        2
    );
    let r1 = store.call("r1").await.expect("get").expect("r1");
    assert_eq!(r1.status, CallStatus::Cancelled);
    assert_eq!(r1.end_reason, Some(EndReason::ServerShutdown));
    assert_eq!(r1.ended_at, Some(10_000));
    assert_eq!(r1.invitees[0].response, Response::Missed);
    let o1 = store.call("o1").await.expect("get").expect("o1");
    assert_eq!(o1.status, CallStatus::Ended);
    assert_eq!(o1.duration_ms, Some(10_000 - 3_000));
    assert_eq!(o1.participants[1].left_at, Some(10_000));
    assert_eq!(o1.participants[1].left_reason, Some(LeaveReason::CallEnded));
    assert_eq!(store.call("d1").await.expect("get"), Some(done));
    assert_eq!(
        store.finish_interrupted_calls(20_000).await.expect("again"),
        0
    );
}

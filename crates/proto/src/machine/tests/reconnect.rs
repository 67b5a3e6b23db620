//! A participant's connection drops: the grace period, resuming, and losing the call.

use super::*;

fn talking(h: &mut Harness) -> String {
    let sid = h.call("alice", "bob").expect("call").session_id;
    h.accept("bob", &sid).expect("accept");
    h.clear();
    sid
}

#[test]
fn reconnect_inside_grace_resumes_the_call() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = talking(&mut h);
    h.offline("bob");
    assert_eq!(h.sent("alice"), ["participant_reconnecting"]);
    assert_eq!(h.sb.poll_timeout(), Some(h.now + 30_000));
    assert_eq!(
        h.sb.presence("bob"),
        PresenceStatus::InCall,
        "still in the call while away"
    );
    h.advance(29_000);
    h.online("bob");
    assert_eq!(h.sent("bob"), ["call_resumed", "ice_servers"]);
    assert_eq!(
        h.sent("alice"),
        ["participant_reconnecting", "participant_reconnected"]
    );
    h.advance(60_000);
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing)
    );
    h.end("bob", &sid).expect("hang up after resuming");
}

#[test]
fn grace_expiry_ends_the_call_as_connection_lost() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = talking(&mut h);
    h.offline("bob");
    h.advance(30_000);
    assert_eq!(
        h.sent("alice"),
        ["participant_reconnecting", "call_ended:connection_lost"]
    );
    let row = h.recorded(&sid);
    assert_eq!(row.status, CallStatus::Ended);
    assert_eq!(row.end_reason, Some(EndReason::ConnectionLost));
    let bob = row
        .participants
        .iter()
        .find(|p| p.user_id == "bob")
        .expect("bob");
    assert_eq!(bob.left_reason, Some(LeaveReason::ConnectionLost));
    assert_eq!(h.sb.presence("bob"), PresenceStatus::Offline);
    h.online("bob");
    assert!(!h.sent("bob").contains(&"call_resumed".to_string()));
}

#[test]
fn grace_is_configurable() {
    let mut h = Harness::with_config(Config {
        reconnect_grace_ms: 2_000,
        ..Config::default()
    });
    h.online("alice");
    h.online("bob");
    let sid = talking(&mut h);
    h.offline("alice");
    h.advance(2_000);
    assert_eq!(h.recorded(&sid).end_reason, Some(EndReason::ConnectionLost));
    assert_eq!(
        h.sent("bob"),
        ["participant_reconnecting", "call_ended:connection_lost"]
    );
}

#[test]
fn caller_lost_while_ringing_cancels_after_grace() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = h.call("alice", "bob").expect("call").session_id;
    h.clear();
    h.offline("alice");
    h.advance(30_000);
    assert_eq!(h.sent("bob"), ["incoming_call_cancelled:connection_lost"]);
    let row = h.recorded(&sid);
    assert_eq!(row.status, CallStatus::Cancelled);
    assert_eq!(row.end_reason, Some(EndReason::ConnectionLost));
}

#[test]
fn callee_may_answer_while_the_caller_is_reconnecting() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = h.call("alice", "bob").expect("call").session_id;
    h.offline("alice");
    h.accept("bob", &sid).expect("accept");
    h.clear();
    h.online("alice");
    assert_eq!(h.sent("alice"), ["call_resumed", "ice_servers"]);
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing)
    );
}

#[test]
fn replacement_connection_is_told_its_call() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let _sid = talking(&mut h);
    h.online("bob");
    assert_eq!(h.sent("bob"), ["call_resumed"]);
    assert!(h.sent("alice").is_empty());
}

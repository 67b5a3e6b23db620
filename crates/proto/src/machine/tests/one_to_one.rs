//! One-to-one calls: accept, reject, busy, cancel, timeout, multi-device, glare, authorization.

use super::*;

/// alice/d1 calls bob, whose d1 rings. Returns the session id.
fn ringing(h: &mut Harness) -> String {
    let call = h.call("alice", "bob").expect("call placed");
    assert_eq!(call.status, CallStatus::Initiated);
    call.session_id
}

/// alice/d1 and bob/d1 in an ongoing call.
fn ongoing(h: &mut Harness) -> String {
    let sid = ringing(h);
    h.accept("bob", &sid).expect("accepted");
    h.clear();
    sid
}

#[test]
fn accepted_call_connects_both_and_hangup_ends_it() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    assert_eq!(h.sent("bob"), ["incoming_call"]);
    assert!(h.sent("alice").is_empty(), "the caller gets the reply only");

    h.now += 2_000;
    let call = h.accept("bob", &sid).expect("accept");
    assert_eq!(call.status, CallStatus::Ongoing);
    assert_eq!(call.answered_at, Some(T0 + 2_000));
    assert_eq!(
        h.sent("alice"),
        ["incoming_call", "outgoing_call_accepted", "ice_servers"][1..]
    );
    assert_eq!(h.sent("bob"), ["incoming_call", "ice_servers"]);
    assert_eq!(h.sb.presence("alice"), PresenceStatus::InCall);

    h.clear();
    h.now += 60_000;
    let ended = h.end("alice", &sid).expect("end");
    assert_eq!(ended.status, CallStatus::Ended);
    assert_eq!(ended.duration_ms, Some(60_000));
    assert_eq!(h.sent("bob"), ["call_ended:hangup"]);
    assert!(h.sent("alice").is_empty());
    let row = h.recorded(&sid);
    assert!(row
        .participants
        .iter()
        .all(|p| p.left_at == Some(T0 + 62_000)));
    assert_eq!(response_of(&row, "bob"), Response::Accepted);
    assert_eq!(h.sb.presence("bob"), PresenceStatus::Online);
    assert_eq!(h.sb.live_calls(), 0);
}

#[test]
fn callee_rejects() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    h.clear();
    let call = h.reject("bob", &sid, CallStatus::Rejected).expect("reject");
    assert_eq!(call.status, CallStatus::Rejected);
    assert_eq!(h.sent("alice"), ["outgoing_call_rejected:rejected"]);
    assert!(!h.recorded(&sid).is_missed_by("bob"));
}

#[test]
fn callee_declines_as_busy() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    h.clear();
    let call = h.reject("bob", &sid, CallStatus::Busy).expect("busy");
    assert_eq!(call.status, CallStatus::Busy);
    assert_eq!(call.end_reason, Some(EndReason::Busy));
    assert_eq!(h.sent("alice"), ["outgoing_call_rejected:busy"]);
}

#[test]
fn caller_cancels_and_callee_sees_a_missed_call() {
    let mut h = Harness::online_all(&["alice", "bob/d1", "bob/d2"]);
    let sid = ringing(&mut h);
    h.clear();
    let call = h
        .reject("alice", &sid, CallStatus::Cancelled)
        .expect("cancel");
    assert_eq!(call.status, CallStatus::Cancelled);
    assert_eq!(h.sent("bob/d1"), ["incoming_call_cancelled:cancelled"]);
    assert_eq!(h.sent("bob/d2"), ["incoming_call_cancelled:cancelled"]);
    assert!(h.recorded(&sid).is_missed_by("bob"));
    // Accepting afterwards is refused with the reason.
    assert_eq!(
        h.accept("bob/d1", &sid),
        Err(CallError::Finished(CallStatus::Cancelled))
    );
}

#[test]
fn unanswered_after_ring_timeout() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    assert_eq!(h.sb.poll_timeout(), Some(T0 + 45_000));
    h.clear();
    h.advance(44_999);
    assert!(h.sent("alice").is_empty());
    h.advance(1);
    assert_eq!(h.sent("alice"), ["outgoing_call_rejected:unanswered"]);
    assert_eq!(h.sent("bob"), ["incoming_call_cancelled:unanswered"]);
    let row = h.recorded(&sid);
    assert_eq!(row.status, CallStatus::Unanswered);
    assert_eq!(row.end_reason, Some(EndReason::Timeout));
    assert!(row.is_missed_by("bob"));
}

#[test]
fn ring_timeout_can_be_set_per_call() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let request = CallRequest {
        receiver: Receiver::User("bob".into()),
        call_type: CallType::Video,
        ring_timeout_ms: Some(5_000),
    };
    let call = h.request("alice", request).expect("placed");
    assert_eq!(call.ring_timeout_ms, 5_000);
    assert_eq!(call.call_type, CallType::Video);
    h.advance(5_000);
    assert_eq!(h.recorded(&call.session_id).status, CallStatus::Unanswered);
}

#[test]
fn calling_someone_in_a_call_is_busy_at_once() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let _ = ongoing(&mut h);
    let call = h.call("carol", "bob").expect("placed");
    assert_eq!(call.status, CallStatus::Busy);
    assert_eq!(call.end_reason, Some(EndReason::Busy));
    assert!(h.sent("bob").is_empty(), "no ring while busy");
    assert_eq!(h.sent("carol"), ["outgoing_call_rejected:busy"]);
    assert!(call.is_missed_by("bob"));
}

#[test]
fn call_waiting_rings_a_device_in_a_call() {
    let mut h = Harness::online_all(&["alice", "carol"]);
    h.online_waiting("bob");
    let _ = ongoing(&mut h);
    let call = h.call("carol", "bob").expect("placed");
    assert_eq!(call.status, CallStatus::Initiated);
    assert_eq!(h.sent("bob"), ["incoming_call"]);
    // Accepting it while still in the first call is refused.
    assert_eq!(
        h.accept("bob", &call.session_id),
        Err(CallError::AlreadyInCall)
    );
}

#[test]
fn idle_second_device_rings_while_first_is_in_a_call() {
    let mut h = Harness::online_all(&["alice", "bob/d1", "bob/d2", "carol"]);
    let _ = ongoing(&mut h);
    let call = h.call("carol", "bob").expect("placed");
    assert_eq!(call.status, CallStatus::Initiated);
    assert_eq!(h.sent("bob/d2"), ["incoming_call"]);
    assert!(h.sent("bob/d1").is_empty());
}

#[test]
fn offline_callee_gets_a_missed_call_at_once() {
    let mut h = Harness::online_all(&["alice"]);
    let call = h.call("alice", "bob").expect("placed");
    assert_eq!(call.status, CallStatus::Unanswered);
    assert_eq!(call.end_reason, Some(EndReason::Offline));
    assert_eq!(h.sent("alice"), ["outgoing_call_rejected:unanswered"]);
    assert!(call.is_missed_by("bob"));
    assert_eq!(h.sb.live_calls(), 0);
}

#[test]
fn first_device_to_accept_wins() {
    let mut h = Harness::online_all(&["alice", "bob/d1", "bob/d2", "bob/d3"]);
    let sid = ringing(&mut h);
    h.clear();
    h.accept("bob/d2", &sid).expect("accept");
    assert_eq!(
        h.sent("bob/d1"),
        ["incoming_call_cancelled:answered_elsewhere"]
    );
    assert_eq!(
        h.sent("bob/d3"),
        ["incoming_call_cancelled:answered_elsewhere"]
    );
    assert_eq!(h.sent("bob/d2"), ["ice_servers"]);
    let late = h.accept("bob/d1", &sid);
    assert!(matches!(late, Err(CallError::InvalidState(_))), "{late:?}");
}

#[test]
fn decline_on_one_device_stops_them_all() {
    let mut h = Harness::online_all(&["alice", "bob/d1", "bob/d2"]);
    let sid = ringing(&mut h);
    h.clear();
    h.reject("bob/d1", &sid, CallStatus::Rejected)
        .expect("reject");
    assert_eq!(
        h.sent("bob/d2"),
        ["incoming_call_cancelled:declined_elsewhere"]
    );
    assert!(h.sent("bob/d1").is_empty());
}

#[test]
fn device_coming_online_while_ringing_rings_too() {
    let mut h = Harness::online_all(&["alice", "bob/d1"]);
    let sid = ringing(&mut h);
    h.now += 10_000;
    h.online("bob/d2");
    assert_eq!(h.sent("bob/d2"), ["incoming_call"]);
    h.accept("bob/d2", &sid)
        .expect("accept from the new device");
    assert_eq!(
        h.sent("bob/d1"),
        [
            "incoming_call",
            "incoming_call_cancelled:answered_elsewhere"
        ]
    );
}

#[test]
fn ringing_device_that_drops_stops_ringing_and_rings_again_on_return() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    h.offline("bob");
    h.clear();
    h.online("bob");
    assert_eq!(h.sent("bob"), ["incoming_call"]);
    h.accept("bob", &sid).expect("accept");
}

#[test]
fn glare_merges_into_the_first_call() {
    let mut h = Harness::online_all(&["alice", "bob/d1", "bob/d2"]);
    let first = ringing(&mut h);
    h.clear();
    let merged = h.call("bob/d2", "alice").expect("bob calls back");
    assert_eq!(merged.session_id, first);
    assert_eq!(merged.status, CallStatus::Ongoing);
    assert_eq!(h.sent("alice"), ["outgoing_call_accepted", "ice_servers"]);
    assert_eq!(
        h.sent("bob/d1"),
        ["incoming_call_cancelled:answered_elsewhere"]
    );
    assert_eq!(h.sb.live_calls(), 1);
    let active: Vec<String> = merged
        .active_participants()
        .map(|p| p.addr().to_string())
        .collect();
    assert_eq!(active, ["alice/d1", "bob/d2"]);
}

#[test]
fn strangers_cannot_act_on_a_call() {
    let mut h = Harness::online_all(&["alice", "bob", "mallory"]);
    let sid = ringing(&mut h);
    h.clear();
    assert_eq!(h.accept("mallory", &sid), Err(CallError::NotAParty));
    assert_eq!(
        h.reject("mallory", &sid, CallStatus::Rejected),
        Err(CallError::NotAParty)
    );
    assert_eq!(
        h.reject("mallory", &sid, CallStatus::Cancelled)
            .map(|c| c.status)
            .ok(),
        None
    );
    h.accept("bob", &sid).expect("accept");
    h.clear();
    assert_eq!(h.end("mallory", &sid), Err(CallError::NotAParty));
    assert_eq!(
        h.signal("mallory", &sid, Some("bob")),
        Err(CallError::NotAParty)
    );
    assert!(
        h.sent("bob").is_empty() && h.sent("alice").is_empty(),
        "nothing reached the parties"
    );
    h.end("bob", &sid).expect("end");
    assert_eq!(
        h.end("mallory", &sid),
        Err(CallError::NotAParty),
        "no status leaks to strangers"
    );
    assert_eq!(
        h.end("alice", &sid),
        Err(CallError::Finished(CallStatus::Ended))
    );
    assert!(matches!(
        h.accept("bob", "nope"),
        Err(CallError::UnknownCall(_))
    ));
}

#[test]
fn only_the_right_side_cancels_or_declines() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    assert!(matches!(
        h.reject("bob", &sid, CallStatus::Cancelled),
        Err(CallError::InvalidState(_))
    ));
    assert!(matches!(
        h.reject("alice", &sid, CallStatus::Rejected),
        Err(CallError::InvalidState(_))
    ));
    assert!(matches!(
        h.reject("bob", &sid, CallStatus::Ended),
        Err(CallError::InvalidState(_))
    ));
    assert!(matches!(
        h.accept("alice", &sid),
        Err(CallError::InvalidState(_))
    ));
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Initiated)
    );
}

#[test]
fn end_while_ringing_cancels_or_declines() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let sid = ringing(&mut h);
    assert_eq!(
        h.end("alice", &sid).map(|c| c.status),
        Ok(CallStatus::Cancelled)
    );
    let sid = h.call("carol", "bob").expect("placed").session_id;
    assert_eq!(
        h.end("bob", &sid).map(|c| c.status),
        Ok(CallStatus::Rejected)
    );
}

#[test]
fn cancel_from_another_device_of_the_caller() {
    let mut h = Harness::online_all(&["alice/d1", "alice/d2", "bob"]);
    let sid = ringing(&mut h);
    h.clear();
    h.reject("alice/d2", &sid, CallStatus::Cancelled)
        .expect("cancel");
    assert_eq!(h.sent("alice/d1"), ["call_ended:hangup"]);
    assert_eq!(h.sent("bob"), ["incoming_call_cancelled:cancelled"]);
}

#[test]
fn one_call_per_device_and_no_calling_yourself() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let _ = ringing(&mut h);
    assert_eq!(h.call("alice", "carol"), Err(CallError::AlreadyInCall));
    assert_eq!(h.call("carol", "carol"), Err(CallError::CallingYourself));
}

#[test]
fn negotiation_is_relayed_only_between_active_parties() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ringing(&mut h);
    assert!(matches!(
        h.signal("alice", &sid, None),
        Err(CallError::InvalidState(_))
    ));
    h.accept("bob", &sid).expect("accept");
    h.clear();
    h.signal("alice", &sid, None)
        .expect("relayed to the other party");
    assert_eq!(h.sent("bob"), ["signal"]);
    h.signal("bob", &sid, Some("alice")).expect("relayed");
    assert_eq!(h.sent("alice"), ["signal"]);
    assert!(matches!(
        h.signal("bob", &sid, Some("bob")),
        Err(CallError::InvalidState(_))
    ));
    assert!(matches!(
        h.signal("bob", &sid, Some("alice/other")),
        Err(CallError::InvalidState(_))
    ));
}

#[test]
fn presence_follows_devices_and_calls() {
    let mut h = Harness::new();
    h.online("alice");
    h.online("bob");
    let sid = ringing(&mut h);
    h.accept("bob", &sid).expect("accept");
    h.end("bob", &sid).expect("end");
    h.offline("bob");
    let events = h.presence_events();
    use PresenceStatus::*;
    assert_eq!(
        events,
        [
            ("alice".to_string(), Online),
            ("bob".to_string(), Online),
            ("alice".to_string(), InCall),
            ("bob".to_string(), InCall),
            ("alice".to_string(), Online),
            ("bob".to_string(), Online),
            ("bob".to_string(), Offline),
        ]
    );
}

#[test]
fn shutdown_ends_every_live_call() {
    let mut h = Harness::online_all(&["alice", "bob", "carol", "dave"]);
    let talking = ongoing(&mut h);
    let ringing_sid = h.call("carol", "dave").expect("placed").session_id;
    h.clear();
    h.sb.shutdown(h.now);
    h.drain();
    assert_eq!(h.sent("alice"), ["call_ended:server_shutdown"]);
    assert_eq!(h.sent("bob"), ["call_ended:server_shutdown"]);
    assert_eq!(h.sent("carol"), ["call_ended:server_shutdown"]);
    assert_eq!(h.sent("dave"), ["incoming_call_cancelled:server_shutdown"]);
    assert_eq!(h.recorded(&talking).status, CallStatus::Ended);
    assert_eq!(h.recorded(&ringing_sid).status, CallStatus::Cancelled);
    assert_eq!(h.sb.live_calls(), 0);
}

#[test]
fn finished_calls_are_forgotten_after_retention() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = ongoing(&mut h);
    h.end("alice", &sid).expect("end");
    h.advance(FINISHED_RETENTION_MS);
    assert!(matches!(
        h.end("alice", &sid),
        Err(CallError::UnknownCall(_))
    ));
    assert_eq!(h.sb.poll_timeout(), None);
}

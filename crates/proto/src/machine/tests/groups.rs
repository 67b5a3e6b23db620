//! Group calls: ring every online member, accept or decline each, join late, leave, end on last leave.

use super::*;

const TEAM: &[&str] = &["alice", "bob", "carol", "dave"];

#[test]
fn group_call_from_ring_to_last_leave() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let call = h.call_group("alice", "team", TEAM).expect("placed");
    let sid = call.session_id.clone();
    assert_eq!(call.status, CallStatus::Initiated);
    assert_eq!(
        response_of(&call, "dave"),
        Response::Ringing,
        "dave is offline, but may still come online"
    );
    assert_eq!(h.sent("bob"), ["incoming_call"]);
    assert_eq!(h.sent("carol"), ["incoming_call"]);
    assert!(h.sent("alice").is_empty(), "the caller is not rung");

    h.clear();
    h.now += 1_000;
    h.accept("bob", &sid).expect("bob accepts");
    assert_eq!(h.sent("alice"), ["outgoing_call_accepted", "ice_servers"]);
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing)
    );
    assert_eq!(h.sent("carol"), Vec::<String>::new(), "carol keeps ringing");

    h.clear();
    h.reject("carol", &sid, CallStatus::Rejected)
        .expect("carol declines");
    assert_eq!(h.sent("alice"), ["participant_declined:rejected"]);
    assert_eq!(h.sent("bob"), ["participant_declined:rejected"]);
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing)
    );

    h.clear();
    h.now += 1_000;
    h.online("dave");
    h.join("dave", &sid).expect("dave joins late");
    assert_eq!(h.sent("alice"), ["participant_joined"]);
    assert_eq!(h.sent("bob"), ["participant_joined"]);
    assert_eq!(
        h.sent("dave"),
        ["incoming_call", "ice_servers"],
        "rang on coming online, then joined"
    );

    h.clear();
    h.end("bob", &sid).expect("bob leaves");
    assert_eq!(h.sent("alice"), ["participant_left:hangup"]);
    assert_eq!(h.sent("dave"), ["participant_left:hangup"]);
    h.end("alice", &sid).expect("alice leaves");
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing),
        "dave is still there"
    );
    h.now += 5_000;
    let last = h.end("dave", &sid).expect("dave leaves last");
    assert_eq!(last.status, CallStatus::Ended);
    let row = h.recorded(&sid);
    assert_eq!(row.participants.len(), 3);
    assert!(row.participants.iter().all(|p| p.left_at.is_some()));
    assert_eq!(response_of(&row, "carol"), Response::Declined);
    assert_eq!(response_of(&row, "dave"), Response::Accepted);
    assert_eq!(h.sb.live_calls(), 0);
}

#[test]
fn member_who_comes_online_while_ringing_is_rung() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.online("dave");
    assert_eq!(h.sent("dave"), ["incoming_call"]);
    h.accept("dave", &sid).expect("dave accepts");
}

#[test]
fn unanswered_members_stop_ringing_at_timeout_but_the_call_goes_on() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.accept("bob", &sid).expect("bob accepts");
    h.clear();
    h.advance(45_000);
    assert_eq!(h.sent("carol"), ["incoming_call_cancelled:unanswered"]);
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing)
    );
    assert_eq!(response_of(&h.recorded(&sid), "carol"), Response::Missed);
    h.join("carol", &sid)
        .expect("a member who missed the ring joins anyway");
}

#[test]
fn nobody_answers_a_group_call() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.clear();
    h.advance(45_000);
    assert_eq!(h.sent("alice"), ["outgoing_call_rejected:unanswered"]);
    assert_eq!(h.recorded(&sid).status, CallStatus::Unanswered);
}

#[test]
fn caller_cancels_a_group_call_for_everyone() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.clear();
    h.reject("alice", &sid, CallStatus::Cancelled)
        .expect("cancel");
    assert_eq!(h.sent("bob"), ["incoming_call_cancelled:cancelled"]);
    assert_eq!(h.sent("carol"), ["incoming_call_cancelled:cancelled"]);
    assert!(matches!(
        h.join("bob", &sid),
        Err(CallError::Finished(CallStatus::Cancelled))
    ));
}

#[test]
fn caller_hanging_up_before_any_answer_cancels() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.clear();
    assert_eq!(
        h.end("alice", &sid).map(|c| c.status),
        Ok(CallStatus::Cancelled)
    );
    assert_eq!(h.sent("bob"), ["incoming_call_cancelled:cancelled"]);
}

#[test]
fn every_member_declining_rejects_the_call() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.clear();
    h.reject("bob", &sid, CallStatus::Rejected)
        .expect("bob declines");
    assert_eq!(h.sent("alice"), ["participant_declined:rejected"]);
    h.reject("carol", &sid, CallStatus::Busy)
        .expect("carol busy");
    assert_eq!(
        h.sent("alice"),
        [
            "participant_declined:rejected",
            "participant_declined:busy",
            "outgoing_call_rejected:rejected"
        ]
    );
    assert_eq!(h.recorded(&sid).status, CallStatus::Rejected);
}

#[test]
fn strangers_and_non_members_are_kept_out() {
    let mut h = Harness::online_all(&["alice", "bob", "mallory"]);
    assert_eq!(
        h.call_group("mallory", "team", TEAM),
        Err(CallError::NotAMember("team".into()))
    );
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.accept("bob", &sid).expect("bob accepts");
    assert_eq!(h.join("mallory", &sid), Err(CallError::NotAParty));
    assert_eq!(h.accept("mallory", &sid), Err(CallError::NotAParty));
    assert_eq!(h.signal("mallory", &sid, None), Err(CallError::NotAParty));
    h.signal("bob", &sid, None).expect("to the forwarder");
    h.signal("bob", &sid, Some("alice"))
        .expect("relayed to a participant");
}

#[test]
fn group_media_goes_through_the_forwarder() {
    let mut h = Harness::online_all(&["alice", "bob", "carol", "dave"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    assert!(h.forwarder().is_empty(), "nobody has media while it rings");
    h.accept("bob", &sid).expect("bob accepts");
    assert_eq!(h.forwarder(), ["join alice/d1", "join bob/d1"]);

    h.clear();
    h.signal("bob", &sid, None)
        .expect("no target: the forwarder");
    h.signal("bob", &sid, Some("@server/forwarder"))
        .expect("the forwarder by name");
    assert_eq!(h.forwarder(), ["signal bob/d1", "signal bob/d1"]);
    assert!(h.sent("alice").is_empty(), "nothing reaches alice");

    h.clear();
    h.join("carol", &sid).expect("carol joins");
    assert_eq!(h.forwarder(), ["join carol/d1"]);

    h.clear();
    h.offline("carol");
    h.online("carol");
    assert_eq!(h.forwarder(), ["restart carol/d1"], "back inside the grace");

    h.clear();
    h.end("bob", &sid).expect("bob leaves");
    h.offline("carol");
    h.advance(30_000);
    assert_eq!(h.forwarder(), ["leave bob/d1", "leave carol/d1"]);
    h.clear();
    h.reject("dave", &sid, CallStatus::Rejected)
        .expect("dave declines");
    h.end("alice", &sid).expect("the last one leaves");
    assert_eq!(h.forwarder(), ["leave alice/d1"]);
}

#[test]
fn one_to_one_calls_have_no_forwarder() {
    let mut h = Harness::online_all(&["alice", "bob"]);
    let sid = h.call("alice", "bob").expect("placed").session_id;
    h.accept("bob", &sid).expect("accept");
    assert!(matches!(
        h.signal("bob", &sid, Some("@server/forwarder")),
        Err(CallError::InvalidState(_))
    ));
    h.signal("bob", &sid, None).expect("to alice");
    h.end("bob", &sid).expect("end");
    assert!(h.forwarder().is_empty());
}

#[test]
fn mutes_reach_the_others_and_later_joiners() {
    let mut h = Harness::online_all(&["alice", "bob", "carol", "dave", "mallory"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.accept("bob", &sid).expect("bob accepts");
    h.accept("carol", &sid).expect("carol accepts");
    h.clear();
    h.mute("bob", &sid, true).expect("bob mutes");
    h.mute("bob", &sid, true).expect("again: nothing new");
    assert_eq!(h.sent("alice"), ["participant_muted"]);
    assert_eq!(h.sent("carol"), ["participant_muted"]);
    assert!(h.sent("bob").is_empty(), "bob knows");
    assert_eq!(h.mute("mallory", &sid, true), Err(CallError::NotAParty));
    assert!(
        matches!(h.mute("dave", &sid, true), Err(CallError::InvalidState(_))),
        "dave still rings"
    );

    h.clear();
    h.accept("dave", &sid).expect("dave accepts");
    assert_eq!(h.sent("dave"), ["ice_servers", "participant_muted"]);

    h.clear();
    h.mute("bob", &sid, false).expect("bob unmutes");
    assert_eq!(h.sent("dave"), ["participant_muted"]);
    h.mute("bob", &sid, true).expect("bob mutes");
    h.end("bob", &sid).expect("bob leaves");
    h.join("bob", &sid).expect("and comes back");
    h.clear();
    h.join("dave", &sid).expect_err("dave is in already");
    h.end("dave", &sid).expect("dave leaves");
    h.join("dave", &sid).expect("dave comes back");
    assert!(
        !h.sent("dave").contains(&"participant_muted".to_string()),
        "bob came back unmuted"
    );
}

#[test]
fn a_member_cannot_be_in_the_call_twice() {
    let mut h = Harness::online_all(&["alice", "bob/d1", "bob/d2"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.accept("bob/d1", &sid).expect("accept");
    assert!(matches!(
        h.join("bob/d2", &sid),
        Err(CallError::InvalidState(_))
    ));
}

#[test]
fn dropped_member_is_removed_after_grace_and_the_rest_go_on() {
    let mut h = Harness::online_all(&["alice", "bob", "carol"]);
    let sid = h
        .call_group("alice", "team", TEAM)
        .expect("placed")
        .session_id;
    h.accept("bob", &sid).expect("bob");
    h.accept("carol", &sid).expect("carol");
    h.clear();
    h.offline("carol");
    h.advance(30_000);
    assert_eq!(
        h.sent("alice"),
        [
            "participant_reconnecting",
            "participant_left:connection_lost"
        ]
    );
    assert_eq!(
        h.sb.live_call(&sid).map(|c| c.status),
        Some(CallStatus::Ongoing)
    );
}

#[test]
fn a_group_nobody_can_be_rung_in_is_unanswered_or_busy() {
    let mut h = Harness::online_all(&["alice"]);
    let call = h.call_group("alice", "team", TEAM).expect("placed");
    assert_eq!(call.status, CallStatus::Unanswered);
    let mut h = Harness::online_all(&["alice", "bob", "carol", "x"]);
    let sid = h.call("bob", "carol").expect("placed").session_id;
    h.accept("carol", &sid).expect("accept");
    let call = h
        .call_group("alice", "duo", &["alice", "bob", "carol"])
        .expect("placed");
    assert_eq!(call.status, CallStatus::Busy);
}

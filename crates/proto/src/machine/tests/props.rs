//! Property test: random sequences of inputs never panic and always leave
//! every call consistent (the machine's invariants hold after every input,
//! and every finished call is recorded in a consistent final form).

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

const USERS: &[&str] = &["alice", "bob", "carol", "dave"];
const DEVICES: &[&str] = &["d1", "d2"];

#[derive(Debug, Clone)]
enum Op {
    Online(usize, usize, bool),
    Offline(usize, usize),
    Call(usize, usize, usize),
    CallGroup(usize, usize),
    Accept(usize, usize, usize),
    Reject(usize, usize, usize, u8),
    End(usize, usize, usize),
    Join(usize, usize, usize),
    Signal(usize, usize, usize, usize),
    Mute(usize, usize, usize, bool),
    Advance(u64),
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS.len();
    let d = 0..DEVICES.len();
    let s = 0..8usize;
    prop_oneof![
        3 => (u.clone(), d.clone(), any::<bool>()).prop_map(|(u, d, w)| Op::Online(u, d, w)),
        2 => (u.clone(), d.clone()).prop_map(|(u, d)| Op::Offline(u, d)),
        3 => (u.clone(), d.clone(), u.clone()).prop_map(|(u, d, t)| Op::Call(u, d, t)),
        1 => (u.clone(), d.clone()).prop_map(|(u, d)| Op::CallGroup(u, d)),
        3 => (u.clone(), d.clone(), s.clone()).prop_map(|(u, d, s)| Op::Accept(u, d, s)),
        2 => (u.clone(), d.clone(), s.clone(), 0..4u8).prop_map(|(u, d, s, k)| Op::Reject(u, d, s, k)),
        2 => (u.clone(), d.clone(), s.clone()).prop_map(|(u, d, s)| Op::End(u, d, s)),
        1 => (u.clone(), d.clone(), s.clone()).prop_map(|(u, d, s)| Op::Join(u, d, s)),
        1 => (u.clone(), d.clone(), s.clone(), u.clone()).prop_map(|(u, d, s, t)| Op::Signal(u, d, s, t)),
        1 => (u, d, s, any::<bool>()).prop_map(|(u, d, s, m)| Op::Mute(u, d, s, m)),
        2 => (0u64..40_000).prop_map(Op::Advance),
        1 => Just(Op::Shutdown),
    ]
}

fn addr(u: usize, d: usize) -> String {
    format!("{}/{}", USERS[u], DEVICES[d])
}

fn apply(h: &mut Harness, op: &Op) {
    let sid = |s: &usize| format!("s{}", s + 1);
    let statuses = [
        CallStatus::Rejected,
        CallStatus::Busy,
        CallStatus::Cancelled,
        CallStatus::Ended,
    ];
    match op {
        Op::Online(u, d, w) if *w => h.online_waiting(&addr(*u, *d)),
        Op::Online(u, d, _) => h.online(&addr(*u, *d)),
        Op::Offline(u, d) => h.offline(&addr(*u, *d)),
        Op::Call(u, d, t) => {
            let _ = h.call(&addr(*u, *d), USERS[*t]);
        }
        Op::CallGroup(u, d) => {
            let _ = h.call_group(&addr(*u, *d), "team", &USERS[..3]);
        }
        Op::Accept(u, d, s) => {
            let _ = h.accept(&addr(*u, *d), &sid(s));
        }
        Op::Reject(u, d, s, k) => {
            let _ = h.reject(&addr(*u, *d), &sid(s), statuses[*k as usize]);
        }
        Op::End(u, d, s) => {
            let _ = h.end(&addr(*u, *d), &sid(s));
        }
        Op::Join(u, d, s) => {
            let _ = h.join(&addr(*u, *d), &sid(s));
        }
        // Target 0 is the forwarder (no `to`).
        Op::Signal(u, d, s, t) => {
            let to = (*t > 0).then(|| addr(*t, 0));
            let _ = h.signal(&addr(*u, *d), &sid(s), to.as_deref());
        }
        Op::Mute(u, d, s, m) => {
            let _ = h.mute(&addr(*u, *d), &sid(s), *m);
        }
        Op::Advance(ms) => h.advance(*ms),
        Op::Shutdown => {
            h.sb.shutdown(h.now);
            h.drain();
        }
    }
}

fn check_records(h: &Harness) -> Result<(), TestCaseError> {
    for action in &h.actions {
        let Action::Record(call) = action else {
            continue;
        };
        if call.status.is_final() {
            prop_assert!(call.ended_at.is_some(), "final without ended_at: {call:?}");
            prop_assert!(
                call.active_participants().next().is_none(),
                "final with participants: {call:?}"
            );
            prop_assert!(
                call.invitees
                    .iter()
                    .all(|i| i.response != Response::Ringing),
                "final with a ringing invitee: {call:?}"
            );
            if call.status == CallStatus::Ended {
                prop_assert!(call.answered_at.is_some() && call.duration_ms.is_some());
            }
        }
        prop_assert!(!call.invitees.iter().any(|i| i.user_id == call.initiator));
    }
    Ok(())
}

/// The forwarder's view, rebuilt from its actions, matches the machine:
/// it carries media for exactly the participants of ongoing group calls,
/// and never hears of the same device joining twice.
fn check_forwarder(h: &Harness) -> Result<(), TestCaseError> {
    let mut joined: BTreeSet<(String, DeviceAddr)> = BTreeSet::new();
    for action in &h.actions {
        match action {
            Action::Forwarder(ForwarderAction::Join {
                session_id,
                participant,
                ..
            }) => prop_assert!(
                joined.insert((session_id.clone(), participant.clone())),
                "{participant} joined {session_id} twice"
            ),
            Action::Forwarder(ForwarderAction::Leave {
                session_id,
                participant,
            }) => {
                joined.remove(&(session_id.clone(), participant.clone()));
            }
            Action::Forwarder(
                ForwarderAction::Restart {
                    session_id,
                    participant,
                }
                | ForwarderAction::Signal {
                    session_id,
                    from: participant,
                    ..
                },
            ) => prop_assert!(
                joined.contains(&(session_id.clone(), participant.clone())),
                "the forwarder heard of {participant} in {session_id} before it joined"
            ),
            _ => {}
        }
    }
    let mut expected = BTreeSet::new();
    for n in 1..=9 {
        let sid = format!("s{n}");
        if let Some(call) = h.sb.live_call(&sid) {
            if call.receiver_type == ReceiverType::Group && call.status == CallStatus::Ongoing {
                expected.extend(call.active_participants().map(|p| (sid.clone(), p.addr())));
            }
        }
    }
    prop_assert_eq!(joined, expected);
    Ok(())
}

proptest! {
    // 512 cases by default; PROPTEST_CASES raises it for a longer hunt.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn random_inputs_keep_every_call_consistent(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        for op in &ops {
            apply(&mut h, op);
            check_records(&h)?;
            check_forwarder(&h)?;
        }
        // However it went, time eventually finishes every ringing call and
        // every call whose participants all went away.
        for u in 0..USERS.len() {
            for d in 0..DEVICES.len() {
                h.offline(&addr(u, d));
            }
        }
        h.advance(400_000);
        check_records(&h)?;
        check_forwarder(&h)?;
        prop_assert_eq!(h.sb.live_calls(), 0);
        for u in USERS {
            prop_assert_eq!(h.sb.presence(u), PresenceStatus::Offline);
        }
    }
}

//! This device's current call ([`Client::active_call`](crate::Client::active_call)):
//! pure rules for how replies and events change it, applied on the
//! connection task before listeners run, so a listener always sees the call
//! as the event left it.

use crate::events::CallEvent;
use softphone_proto::{
    Call, CallStatus, DeviceAddr, EndReason, ErrorCode, LeaveReason, Millis, Participant, Response,
    ServerMessage,
};

/// What a successful call request does to the active call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// initiate, accept, join: the reply's call becomes the active call.
    Enter,
    /// reject, end: this device is out of the call.
    Leave,
    /// Nothing (presence, ping).
    None,
}

/// A successful reply to a call request.
pub(crate) fn on_reply(active: &mut Option<Call>, effect: Effect, call: &Call) {
    match effect {
        Effect::Enter if !call.status.is_final() => *active = Some(call.clone()),
        Effect::Enter | Effect::Leave => clear_if(active, &call.session_id),
        Effect::None => {}
    }
}

/// A refused call request: a call the server says is over or unknown is no
/// longer this device's call.
pub(crate) fn on_refusal(active: &mut Option<Call>, session_id: Option<&str>, code: ErrorCode) {
    if let Some(sid) = session_id {
        if matches!(code, ErrorCode::CallFinished | ErrorCode::UnknownCall) {
            clear_if(active, sid);
        }
    }
}

/// An event from the server. `me` is this device; `now` the server's time
/// (estimated), for participants who join.
pub(crate) fn on_event(
    active: &mut Option<Call>,
    me: &DeviceAddr,
    message: &ServerMessage,
    now: Millis,
) {
    match message {
        ServerMessage::CallResumed { call } if !call.status.is_final() => {
            *active = Some(call.clone());
        }
        ServerMessage::OutgoingCallAccepted { call, .. } if is_active(active, &call.session_id) => {
            *active = Some(call.clone());
        }
        ServerMessage::OutgoingCallRejected { call, .. }
        | ServerMessage::IncomingCallCancelled { call, .. }
        | ServerMessage::CallEnded { call, .. }
        | ServerMessage::CallResumed { call } => clear_if(active, &call.session_id),
        ServerMessage::ParticipantJoined {
            session_id,
            participant,
        } => {
            if let Some(call) = active.as_mut().filter(|c| &c.session_id == session_id) {
                if !call.active_participants().any(|p| &p.addr() == participant) {
                    call.participants.push(Participant {
                        user_id: participant.user_id.clone(),
                        device_id: participant.device_id.clone(),
                        joined_at: now,
                        left_at: None,
                        left_reason: None,
                    });
                }
            }
        }
        ServerMessage::ParticipantLeft {
            session_id,
            participant,
            reason,
        } => {
            if participant == me {
                clear_if(active, session_id);
            } else if let Some(call) = active.as_mut().filter(|c| &c.session_id == session_id) {
                for p in call.participants.iter_mut() {
                    if p.is_active() && &p.addr() == participant {
                        p.left_at = Some(now);
                        p.left_reason = Some(*reason);
                    }
                }
            }
        }
        ServerMessage::ParticipantDeclined {
            session_id,
            user_id,
            status,
        } => {
            if let Some(call) = active.as_mut().filter(|c| &c.session_id == session_id) {
                for i in call.invitees.iter_mut().filter(|i| &i.user_id == user_id) {
                    i.response = if *status == CallStatus::Busy {
                        Response::Busy
                    } else {
                        Response::Declined
                    };
                }
            }
        }
        _ => {}
    }
}

/// After a reconnect that brought no `call_resumed`: `fetched` is the active
/// call as the server's log has it. If this device is no longer in it, the
/// active call is cleared and the event the device missed is returned.
pub(crate) fn reconcile(
    active: &mut Option<Call>,
    me: &DeviceAddr,
    fetched: Call,
) -> Option<CallEvent> {
    if !is_active(active, &fetched.session_id) {
        return None;
    }
    let still_in =
        !fetched.status.is_final() && fetched.active_participants().any(|p| &p.addr() == me);
    if still_in {
        *active = Some(fetched);
        return None;
    }
    *active = None;
    let never_answered = fetched.answered_at.is_none();
    Some(match fetched.status {
        CallStatus::Rejected | CallStatus::Busy | CallStatus::Unanswered if never_answered => {
            CallEvent::OutgoingCallRejected {
                status: fetched.status,
                call: fetched,
            }
        }
        _ => {
            let left = fetched
                .participants
                .iter()
                .rev()
                .find(|p| &p.addr() == me)
                .and_then(|p| p.left_reason);
            let reason = match (fetched.end_reason, left) {
                (_, Some(LeaveReason::ConnectionLost)) => EndReason::ConnectionLost,
                (Some(reason), _) => reason,
                (None, _) => EndReason::ConnectionLost,
            };
            CallEvent::CallEnded {
                call: fetched,
                reason,
                by: None,
            }
        }
    })
}

fn is_active(active: &Option<Call>, session_id: &str) -> bool {
    active.as_ref().is_some_and(|c| c.session_id == session_id)
}

fn clear_if(active: &mut Option<Call>, session_id: &str) {
    if is_active(active, session_id) {
        *active = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_proto::{CallType, CancelReason, Invitee, ReceiverType};

    fn me() -> DeviceAddr {
        DeviceAddr::new("alice", "laptop")
    }

    fn call(sid: &str, status: CallStatus) -> Call {
        let mut c = Call::new("bob", CallType::Audio, ReceiverType::User);
        c.session_id = sid.into();
        c.initiator = "alice".into();
        c.status = status;
        c.invitees.push(Invitee {
            user_id: "bob".into(),
            response: Response::Ringing,
        });
        c.participants.push(Participant {
            user_id: "alice".into(),
            device_id: "laptop".into(),
            joined_at: 1,
            left_at: None,
            left_reason: None,
        });
        c
    }

    #[test]
    fn initiate_then_accept_then_end() {
        let mut active = None;
        on_reply(
            &mut active,
            Effect::Enter,
            &call("s1", CallStatus::Initiated),
        );
        assert_eq!(active.as_ref().unwrap().status, CallStatus::Initiated);
        let accepted = ServerMessage::OutgoingCallAccepted {
            call: call("s1", CallStatus::Ongoing),
            by: DeviceAddr::new("bob", "phone"),
        };
        on_event(&mut active, &me(), &accepted, 5);
        assert_eq!(active.as_ref().unwrap().status, CallStatus::Ongoing);
        // An event about another call changes nothing.
        let other = ServerMessage::CallEnded {
            call: call("s2", CallStatus::Ended),
            reason: EndReason::Hangup,
            by: None,
        };
        on_event(&mut active, &me(), &other, 6);
        assert!(active.is_some());
        on_reply(&mut active, Effect::Leave, &call("s1", CallStatus::Ended));
        assert!(active.is_none());
    }

    #[test]
    fn a_final_initiate_reply_sets_nothing() {
        let mut active = None;
        on_reply(&mut active, Effect::Enter, &call("s1", CallStatus::Busy));
        assert!(active.is_none());
    }

    #[test]
    fn finishing_events_clear_the_call() {
        let finishing = [
            ServerMessage::OutgoingCallRejected {
                call: call("s1", CallStatus::Rejected),
                status: CallStatus::Rejected,
            },
            ServerMessage::IncomingCallCancelled {
                call: call("s1", CallStatus::Cancelled),
                reason: CancelReason::Cancelled,
            },
            ServerMessage::CallEnded {
                call: call("s1", CallStatus::Ended),
                reason: EndReason::ConnectionLost,
                by: None,
            },
            ServerMessage::ParticipantLeft {
                session_id: "s1".into(),
                participant: me(),
                reason: LeaveReason::ConnectionLost,
            },
        ];
        for message in finishing {
            let mut active = Some(call("s1", CallStatus::Ongoing));
            on_event(&mut active, &me(), &message, 9);
            assert!(active.is_none(), "{message:?}");
        }
    }

    #[test]
    fn participants_and_declines_update_the_call() {
        let mut active = Some(call("s1", CallStatus::Ongoing));
        let bob = DeviceAddr::new("bob", "phone");
        let joined = ServerMessage::ParticipantJoined {
            session_id: "s1".into(),
            participant: bob.clone(),
        };
        on_event(&mut active, &me(), &joined, 10);
        on_event(&mut active, &me(), &joined, 11);
        assert_eq!(active.as_ref().unwrap().active_participants().count(), 2);
        let left = ServerMessage::ParticipantLeft {
            session_id: "s1".into(),
            participant: bob,
            reason: LeaveReason::Hangup,
        };
        on_event(&mut active, &me(), &left, 12);
        let c = active.as_ref().unwrap();
        assert_eq!(c.active_participants().count(), 1);
        assert_eq!(c.participants[1].left_at, Some(12));
        let declined = ServerMessage::ParticipantDeclined {
            session_id: "s1".into(),
            user_id: "bob".into(),
            status: CallStatus::Busy,
        };
        on_event(&mut active, &me(), &declined, 13);
        assert_eq!(
            active.as_ref().unwrap().invitees[0].response,
            Response::Busy
        );
    }

    #[test]
    fn resume_and_refusals() {
        let mut active = None;
        let resumed = ServerMessage::CallResumed {
            call: call("s1", CallStatus::Ongoing),
        };
        on_event(&mut active, &me(), &resumed, 1);
        assert!(active.is_some());
        on_refusal(&mut active, Some("s1"), ErrorCode::InvalidState);
        assert!(active.is_some());
        on_refusal(&mut active, Some("s1"), ErrorCode::CallFinished);
        assert!(active.is_none());
    }

    #[test]
    fn reconcile_reports_what_was_missed() {
        // Still in the call: nothing missed.
        let mut active = Some(call("s1", CallStatus::Ongoing));
        assert_eq!(
            reconcile(&mut active, &me(), call("s1", CallStatus::Ongoing)),
            None
        );
        assert!(active.is_some());
        // The call ended while away.
        let mut ended = call("s1", CallStatus::Ended);
        ended.answered_at = Some(3);
        ended.end_reason = Some(EndReason::ConnectionLost);
        let event = reconcile(&mut active, &me(), ended);
        assert!(matches!(
            event,
            Some(CallEvent::CallEnded {
                reason: EndReason::ConnectionLost,
                ..
            })
        ));
        assert!(active.is_none());
        // A ringing call that timed out while away.
        let mut active = Some(call("s1", CallStatus::Initiated));
        let event = reconcile(&mut active, &me(), call("s1", CallStatus::Unanswered));
        assert!(matches!(
            event,
            Some(CallEvent::OutgoingCallRejected {
                status: CallStatus::Unanswered,
                ..
            })
        ));
    }
}

//! The requests a device makes: initiate, accept, reject, end, join, signal,
//! mute.
//! Each either succeeds (returning the call as it now stands, with actions
//! queued) or fails with a [`CallError`] and changes nothing.

use super::rules::Finish;
use super::{
    CallError, CallRequest, ForwarderAction, LiveCall, Receiver, Switchboard, MIN_RING_TIMEOUT_MS,
};
use crate::call::{
    Call, CallStatus, CancelReason, DeviceAddr, EndReason, Invitee, LeaveReason, Millis,
    ReceiverType, Response, SessionId, UserId,
};
use crate::wire::ServerMessage;
use std::collections::{BTreeMap, BTreeSet};

impl Switchboard {
    /// Places a call from `from`. `session_id` must be fresh and unguessable.
    ///
    /// The reply is the call: `initiated` and ringing; already `busy` or
    /// `unanswered` when nobody could be rung; or, on glare, the callee's own
    /// call to us, now `ongoing`.
    pub fn initiate(
        &mut self,
        now: Millis,
        from: &DeviceAddr,
        session_id: SessionId,
        request: CallRequest,
    ) -> Result<Call, CallError> {
        if self.calls.contains_key(&session_id) || self.finished.contains_key(&session_id) {
            return Err(CallError::Internal(format!(
                "session id {session_id} reused"
            )));
        }
        if !self.online.contains_key(from) {
            return Err(CallError::state("this device is not connected"));
        }
        if self.device_call.contains_key(from) {
            return Err(CallError::AlreadyInCall);
        }
        let (receiver_type, receiver, members, invitees) = match &request.receiver {
            Receiver::User(callee) => {
                if callee == &from.user_id {
                    return Err(CallError::CallingYourself);
                }
                if let Some(sid) = self.glare_partner(&from.user_id, callee) {
                    let call = self.answer(now, from, &sid);
                    self.flush_presence();
                    return Ok(call);
                }
                (
                    ReceiverType::User,
                    callee.clone(),
                    BTreeSet::new(),
                    vec![callee.clone()],
                )
            }
            Receiver::Group { group_id, members } => {
                if !members.contains(&from.user_id) {
                    return Err(CallError::NotAMember(group_id.clone()));
                }
                let members: BTreeSet<UserId> = members.iter().cloned().collect();
                let invitees = members
                    .iter()
                    .filter(|m| **m != from.user_id)
                    .cloned()
                    .collect();
                (ReceiverType::Group, group_id.clone(), members, invitees)
            }
        };
        let timeout = request
            .ring_timeout_ms
            .unwrap_or(self.config.default_ring_timeout_ms)
            .clamp(
                MIN_RING_TIMEOUT_MS,
                self.config.max_ring_timeout_ms.max(MIN_RING_TIMEOUT_MS),
            );
        let mut call = Call::new(receiver, request.call_type, receiver_type);
        call.session_id = session_id.clone();
        call.initiator = from.user_id.clone();
        call.initiated_at = now;
        call.ring_timeout_ms = timeout;
        let mut to_ring: Vec<DeviceAddr> = Vec::new();
        for user in invitees {
            let devices: Vec<DeviceAddr> = self
                .online_devices(&user)
                .into_iter()
                .filter(|d| self.may_ring(d))
                .collect();
            // Offline invitees stay pending: a device of theirs that comes
            // online before the ring timeout starts ringing.
            let busy = devices.is_empty()
                && (self.user_in_call(&user) || !self.online_devices(&user).is_empty());
            let response = if busy {
                Response::Busy
            } else {
                Response::Ringing
            };
            to_ring.extend(devices);
            call.invitees.push(Invitee {
                user_id: user,
                response,
            });
        }
        self.calls.insert(
            session_id.clone(),
            LiveCall {
                call,
                members,
                ring_deadline: now + timeout,
                ringing: BTreeSet::new(),
                grace: BTreeMap::new(),
                muted: BTreeSet::new(),
            },
        );
        self.add_participant(now, &session_id, from);
        for device in &to_ring {
            self.ring(&session_id, device);
        }
        let outcome = self.unreachable_outcome(&session_id);
        if let Some((status, reason)) = outcome {
            self.finish(
                now,
                &session_id,
                Finish {
                    status,
                    reason,
                    ring_cancel: CancelReason::Unanswered,
                    by: None,
                    by_leaves: LeaveReason::CallEnded,
                },
            );
            // The caller learns it from the reply as well as the event.
            self.flush_presence();
            return self.finished_snapshot(&session_id);
        }
        self.record(&session_id);
        self.flush_presence();
        self.snapshot(&session_id)
    }

    /// Answers a ringing call on `by` (for a group: joins it, late or not).
    pub fn accept(
        &mut self,
        now: Millis,
        by: &DeviceAddr,
        session_id: &str,
    ) -> Result<Call, CallError> {
        let live = self.lookup(session_id, &by.user_id)?;
        let call = &live.call;
        if call.initiator == by.user_id && call.invitee(&by.user_id).is_none() {
            if call.receiver_type == ReceiverType::Group {
                return self.join(now, by, session_id);
            }
            return Err(CallError::state(
                "you placed this call; only the callee can accept it",
            ));
        }
        let Some(invitee) = call.invitee(&by.user_id) else {
            return Err(CallError::NotAParty);
        };
        self.check_can_enter(by, session_id)?;
        match (call.receiver_type, call.status, invitee.response) {
            (ReceiverType::User, CallStatus::Ongoing, _) => {
                return Err(CallError::state(
                    "the call was already answered on another device",
                ))
            }
            (ReceiverType::Group, _, Response::Accepted) => {
                return Err(CallError::state(
                    "you are already in this call on another device",
                ))
            }
            _ => {}
        }
        let call = self.answer(now, by, session_id);
        self.flush_presence();
        Ok(call)
    }

    /// Declines (`rejected`, `busy`; callee) or cancels (`cancelled`; caller) a ringing call.
    pub fn reject(
        &mut self,
        now: Millis,
        by: &DeviceAddr,
        session_id: &str,
        status: CallStatus,
    ) -> Result<Call, CallError> {
        let live = self.lookup(session_id, &by.user_id)?;
        let call = &live.call;
        match status {
            CallStatus::Cancelled => {
                if call.initiator != by.user_id {
                    return Err(CallError::state(
                        "only the caller can cancel; decline with rejected or busy",
                    ));
                }
                if call.status != CallStatus::Initiated {
                    return Err(CallError::state(
                        "the call was already answered; end it instead",
                    ));
                }
                let caller = self.caller_device(session_id).unwrap_or_else(|| by.clone());
                self.finish(
                    now,
                    session_id,
                    Finish {
                        status: CallStatus::Cancelled,
                        reason: EndReason::Hangup,
                        ring_cancel: CancelReason::Cancelled,
                        by: Some(&caller),
                        by_leaves: LeaveReason::Hangup,
                    },
                );
                if &caller != by {
                    // Cancelled from another device of the caller: the ringing
                    // device is told like any other party.
                    self.notify_cancelled_elsewhere(session_id, &caller);
                }
            }
            CallStatus::Rejected | CallStatus::Busy => {
                let Some(invitee) = call.invitee(&by.user_id) else {
                    return Err(if call.initiator == by.user_id {
                        CallError::state("the caller cancels with cancelled, not rejected or busy")
                    } else {
                        CallError::NotAParty
                    });
                };
                if invitee.response != Response::Ringing {
                    return Err(CallError::state("this call is not ringing for you"));
                }
                self.decline(now, by, session_id, status);
            }
            _ => {
                return Err(CallError::state(
                    "reject_call takes rejected, busy or cancelled",
                ));
            }
        }
        self.flush_presence();
        self.snapshot(session_id)
            .or_else(|_| self.finished_snapshot(session_id))
    }

    /// Hangs up (1:1: ends the call for both; group: leaves it). On a call
    /// still ringing it cancels (caller) or declines (callee).
    pub fn end(
        &mut self,
        now: Millis,
        by: &DeviceAddr,
        session_id: &str,
    ) -> Result<Call, CallError> {
        let live = self.lookup(session_id, &by.user_id)?;
        let call = &live.call;
        let is_participant = call.active_participants().any(|p| &p.addr() == by);
        if !is_participant {
            if call.status == CallStatus::Initiated {
                if call.initiator == by.user_id {
                    return self.reject(now, by, session_id, CallStatus::Cancelled);
                }
                if call
                    .invitee(&by.user_id)
                    .is_some_and(|i| i.response == Response::Ringing)
                {
                    return self.reject(now, by, session_id, CallStatus::Rejected);
                }
            }
            if call.active_participants().any(|p| p.user_id == by.user_id) {
                return Err(CallError::state("you are in this call on another device"));
            }
            return Err(CallError::state("this device is not in the call"));
        }
        match call.receiver_type {
            ReceiverType::Group => self.leave_group_call(now, session_id, by, LeaveReason::Hangup),
            ReceiverType::User => {
                let status = if call.status == CallStatus::Initiated {
                    CallStatus::Cancelled
                } else {
                    CallStatus::Ended
                };
                self.finish(
                    now,
                    session_id,
                    Finish {
                        status,
                        reason: EndReason::Hangup,
                        ring_cancel: CancelReason::Cancelled,
                        by: Some(by),
                        by_leaves: LeaveReason::Hangup,
                    },
                );
            }
        }
        self.flush_presence();
        self.snapshot(session_id)
            .or_else(|_| self.finished_snapshot(session_id))
    }

    /// Joins a group call (late, or again after leaving). Group members only.
    pub fn join(
        &mut self,
        now: Millis,
        by: &DeviceAddr,
        session_id: &str,
    ) -> Result<Call, CallError> {
        let live = self.lookup(session_id, &by.user_id)?;
        if live.call.receiver_type != ReceiverType::Group {
            return Err(CallError::state(
                "only group calls can be joined; accept a 1:1 call instead",
            ));
        }
        if !live.members.contains(&by.user_id) {
            return Err(CallError::NotAMember(live.call.receiver.clone()));
        }
        if live
            .call
            .active_participants()
            .any(|p| p.user_id == by.user_id)
        {
            return Err(CallError::state("you are already in this call"));
        }
        self.check_can_enter(by, session_id)?;
        let call = self.answer(now, by, session_id);
        self.flush_presence();
        Ok(call)
    }

    /// Relays a negotiation message to another active participant.
    pub fn signal(
        &mut self,
        _now: Millis,
        from: &DeviceAddr,
        session_id: &str,
        to: Option<DeviceAddr>,
        data: serde_json::Value,
    ) -> Result<(), CallError> {
        let live = self.lookup(session_id, &from.user_id)?;
        let call = &live.call;
        if !call.active_participants().any(|p| &p.addr() == from) {
            return Err(CallError::state("this device is not in the call"));
        }
        if call.status != CallStatus::Ongoing {
            return Err(CallError::state(
                "media negotiation starts once the call is answered",
            ));
        }
        let target = match to {
            Some(to) if !to.is_forwarder() => to,
            None if call.receiver_type == ReceiverType::User => call
                .active_participants()
                .map(|p| p.addr())
                .find(|a| a != from)
                .ok_or_else(|| CallError::state("nobody else is in the call"))?,
            _ if call.receiver_type == ReceiverType::User => {
                return Err(CallError::state(
                    "1:1 calls are peer to peer; there is no forwarder to signal",
                ))
            }
            // Group media goes through the forwarder.
            _ => {
                self.actions
                    .push_back(super::Action::Forwarder(ForwarderAction::Signal {
                        session_id: session_id.to_owned(),
                        from: from.clone(),
                        data,
                    }));
                return Ok(());
            }
        };
        if &target == from || !call.active_participants().any(|p| p.addr() == target) {
            return Err(CallError::state(format!("{target} is not in this call")));
        }
        self.send(
            &target,
            ServerMessage::Signal {
                session_id: session_id.to_owned(),
                from: from.clone(),
                data,
            },
        );
        Ok(())
    }

    /// Records that `from` muted (or unmuted) its microphone in the call and
    /// tells the other participants; devices that join later are told too.
    pub fn set_muted(
        &mut self,
        _now: Millis,
        from: &DeviceAddr,
        session_id: &str,
        muted: bool,
    ) -> Result<Call, CallError> {
        let live = self.lookup(session_id, &from.user_id)?;
        if !live.call.active_participants().any(|p| &p.addr() == from) {
            return Err(CallError::state("this device is not in the call"));
        }
        let Some(live) = self.calls.get_mut(session_id) else {
            return Err(CallError::UnknownCall(session_id.to_owned()));
        };
        let changed = if muted {
            live.muted.insert(from.clone())
        } else {
            live.muted.remove(from)
        };
        if changed {
            self.send_to_participants(
                session_id,
                Some(from),
                ServerMessage::ParticipantMuted {
                    session_id: session_id.to_owned(),
                    participant: from.clone(),
                    muted,
                },
            );
        }
        self.snapshot(session_id)
    }

    // ---- helpers ---------------------------------------------------------

    /// The live call, if `user` may act on it; a finished or unknown one as an error.
    fn lookup(&self, session_id: &str, user: &str) -> Result<&LiveCall, CallError> {
        if let Some(live) = self.calls.get(session_id) {
            let member = live.members.contains(user);
            return if live.call.involves(user) || member {
                Ok(live)
            } else {
                Err(CallError::NotAParty)
            };
        }
        match self.finished.get(session_id) {
            Some(f) if f.parties.contains(user) => Err(CallError::Finished(f.status)),
            Some(_) => Err(CallError::NotAParty),
            None => Err(CallError::UnknownCall(session_id.to_owned())),
        }
    }

    /// A device may enter a call if it is not already in another one.
    fn check_can_enter(&self, device: &DeviceAddr, session_id: &str) -> Result<(), CallError> {
        match self.device_call.get(device) {
            Some(sid) if sid == session_id => {
                Err(CallError::state("this device is already in the call"))
            }
            Some(_) => Err(CallError::AlreadyInCall),
            None => Ok(()),
        }
    }

    /// A ringing 1:1 call from `callee` to `caller`, if any (glare).
    fn glare_partner(&self, caller: &str, callee: &str) -> Option<SessionId> {
        self.calls
            .iter()
            .find(|(_, l)| {
                l.call.receiver_type == ReceiverType::User
                    && l.call.status == CallStatus::Initiated
                    && l.call.initiator == callee
                    && l.call.receiver == caller
            })
            .map(|(sid, _)| sid.clone())
    }

    /// `by` enters the call: it stops ringing everywhere for that user, the
    /// call becomes ongoing if it was ringing, and everyone is told.
    fn answer(&mut self, now: Millis, by: &DeviceAddr, sid: &str) -> Call {
        self.stop_ringing_user(sid, &by.user_id, Some(by), CancelReason::AnsweredElsewhere);
        let Some(live) = self.calls.get_mut(sid) else {
            return Call::new("", crate::call::CallType::Audio, ReceiverType::User);
        };
        for invitee in live.call.invitees.iter_mut() {
            if invitee.user_id == by.user_id {
                invitee.response = Response::Accepted;
            }
        }
        let first_answer = live.call.status == CallStatus::Initiated;
        if first_answer {
            live.call.status = CallStatus::Ongoing;
            live.call.answered_at = Some(now);
        }
        let others: Vec<DeviceAddr> = live.call.active_participants().map(|p| p.addr()).collect();
        self.dirty.extend(others.iter().map(|d| d.user_id.clone()));
        self.add_participant(now, sid, by);
        let call = self
            .snapshot(sid)
            .unwrap_or_else(|_| Call::new("", crate::call::CallType::Audio, ReceiverType::User));
        for other in &others {
            let message = if first_answer {
                ServerMessage::OutgoingCallAccepted {
                    call: call.clone(),
                    by: by.clone(),
                }
            } else {
                ServerMessage::ParticipantJoined {
                    session_id: sid.to_owned(),
                    participant: by.clone(),
                }
            };
            self.send(other, message);
        }
        let ice_for: Vec<DeviceAddr> = if first_answer {
            others.into_iter().chain([by.clone()]).collect()
        } else {
            vec![by.clone()]
        };
        let group = call.receiver_type == ReceiverType::Group;
        for to in ice_for {
            self.actions.push_back(super::Action::IceServers {
                to: to.clone(),
                session_id: sid.to_owned(),
            });
            if group {
                self.actions
                    .push_back(super::Action::Forwarder(ForwarderAction::Join {
                        session_id: sid.to_owned(),
                        participant: to,
                        call_type: call.call_type,
                    }));
            }
        }
        self.tell_mutes(sid, by);
        self.record(sid);
        call
    }

    /// Tells `joiner` which of the others have their microphone muted.
    fn tell_mutes(&mut self, sid: &str, joiner: &DeviceAddr) {
        let Some(live) = self.calls.get(sid) else {
            return;
        };
        let muted: Vec<DeviceAddr> = live
            .muted
            .iter()
            .filter(|d| *d != joiner)
            .cloned()
            .collect();
        for participant in muted {
            self.send(
                joiner,
                ServerMessage::ParticipantMuted {
                    session_id: sid.to_owned(),
                    participant,
                    muted: true,
                },
            );
        }
    }

    /// An invitee declines: their devices stop ringing; a 1:1 call finishes,
    /// a group call finishes only if nobody is left to answer.
    fn decline(&mut self, now: Millis, by: &DeviceAddr, sid: &str, status: CallStatus) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        for invitee in live.call.invitees.iter_mut() {
            if invitee.user_id == by.user_id {
                invitee.response = Response::Declined;
            }
        }
        let group = live.call.receiver_type == ReceiverType::Group;
        self.stop_ringing_user(sid, &by.user_id, Some(by), CancelReason::DeclinedElsewhere);
        if group {
            self.send_to_participants(
                sid,
                None,
                ServerMessage::ParticipantDeclined {
                    session_id: sid.to_owned(),
                    user_id: by.user_id.clone(),
                    status,
                },
            );
            let Some(live) = self.calls.get(sid) else {
                return;
            };
            // Nobody answered and no device rings any more: members still
            // pending are offline, so the caller is not left waiting for them.
            let nobody_left = live.call.status == CallStatus::Initiated && live.ringing.is_empty();
            if !nobody_left {
                self.record(sid);
                return;
            }
        }
        let reason = if status == CallStatus::Busy {
            EndReason::Busy
        } else {
            EndReason::Hangup
        };
        let final_status = if group { CallStatus::Rejected } else { status };
        self.finish(
            now,
            sid,
            Finish {
                status: final_status,
                reason,
                ring_cancel: CancelReason::DeclinedElsewhere,
                by: Some(by),
                by_leaves: LeaveReason::Hangup,
            },
        );
    }

    /// Right after ringing started: the final status if nobody could be rung.
    fn unreachable_outcome(&self, sid: &str) -> Option<(CallStatus, EndReason)> {
        let live = self.calls.get(sid)?;
        if !live.ringing.is_empty() {
            return None;
        }
        let all_busy = !live.call.invitees.is_empty()
            && live
                .call
                .invitees
                .iter()
                .all(|i| i.response == Response::Busy);
        Some(if all_busy {
            (CallStatus::Busy, EndReason::Busy)
        } else {
            (CallStatus::Unanswered, EndReason::Offline)
        })
    }

    /// The caller's device in a ringing call.
    fn caller_device(&self, sid: &str) -> Option<DeviceAddr> {
        let live = self.calls.get(sid)?;
        live.call
            .active_participants()
            .find(|p| p.user_id == live.call.initiator)
            .map(|p| p.addr())
    }

    /// The caller cancelled from a device other than the one that placed
    /// the call: that device is told its call ended.
    fn notify_cancelled_elsewhere(&mut self, sid: &str, caller: &DeviceAddr) {
        if let Ok(call) = self.finished_snapshot(sid) {
            self.send(
                caller,
                ServerMessage::CallEnded {
                    call,
                    reason: EndReason::Hangup,
                    by: None,
                },
            );
        }
    }

    fn snapshot(&self, sid: &str) -> Result<Call, CallError> {
        self.calls
            .get(sid)
            .map(|l| l.call.clone())
            .ok_or_else(|| CallError::UnknownCall(sid.to_owned()))
    }

    /// The final form of a call that just finished: the last `Record` for it.
    fn finished_snapshot(&self, sid: &str) -> Result<Call, CallError> {
        self.actions
            .iter()
            .rev()
            .find_map(|a| match a {
                super::Action::Record(call) if call.session_id == sid => Some(call.clone()),
                _ => None,
            })
            .ok_or_else(|| CallError::UnknownCall(sid.to_owned()))
    }
}

//! Transitions shared by requests and timers: ringing, joining, leaving,
//! finishing a call, grace and ring expiry, and the invariants they keep.

use super::{Finished, ForwarderAction, LiveCall, Switchboard};
use crate::call::{
    CallStatus, CancelReason, DeviceAddr, EndReason, LeaveReason, Millis, Participant,
    ReceiverType, Response,
};
use crate::wire::ServerMessage;
use std::collections::BTreeSet;

/// How a call finishes: its final status, why, and who did it.
pub(super) struct Finish<'a> {
    pub status: CallStatus,
    pub reason: EndReason,
    /// What ringing devices are told.
    pub ring_cancel: CancelReason,
    /// The device whose request finished it (it gets the reply, not an event).
    pub by: Option<&'a DeviceAddr>,
    /// How `by` leaves, if it is a participant.
    pub by_leaves: LeaveReason,
}

impl Switchboard {
    /// Starts ringing `device` for call `sid`.
    pub(super) fn ring(&mut self, sid: &str, device: &DeviceAddr) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        if live.ringing.insert(device.clone()) {
            let call = live.call.clone();
            self.send(device, ServerMessage::IncomingCall { call });
        }
    }

    /// Stops every device of `user` ringing for `sid`, telling all but `except` why.
    pub(super) fn stop_ringing_user(
        &mut self,
        sid: &str,
        user: &str,
        except: Option<&DeviceAddr>,
        reason: CancelReason,
    ) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        let stopped: Vec<DeviceAddr> = live
            .ringing
            .iter()
            .filter(|d| d.user_id == user)
            .cloned()
            .collect();
        for d in &stopped {
            live.ringing.remove(d);
        }
        let call = live.call.clone();
        for d in stopped.iter().filter(|d| Some(*d) != except) {
            self.send(
                d,
                ServerMessage::IncomingCallCancelled {
                    call: call.clone(),
                    reason,
                },
            );
        }
    }

    /// Adds `device` as a participant of `sid`.
    pub(super) fn add_participant(&mut self, now: Millis, sid: &str, device: &DeviceAddr) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        live.call.participants.push(Participant {
            user_id: device.user_id.clone(),
            device_id: device.device_id.clone(),
            joined_at: now,
            left_at: None,
            left_reason: None,
        });
        self.device_call.insert(device.clone(), sid.to_owned());
        self.dirty.insert(device.user_id.clone());
    }

    /// Marks `device` as having left `sid` (no messages).
    pub(super) fn remove_participant(
        &mut self,
        now: Millis,
        sid: &str,
        device: &DeviceAddr,
        reason: LeaveReason,
    ) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        for p in live.call.participants.iter_mut() {
            if p.is_active() && p.user_id == device.user_id && p.device_id == device.device_id {
                p.left_at = Some(now);
                p.left_reason = Some(reason);
            }
        }
        live.grace.remove(device);
        live.muted.remove(device);
        if live.call.receiver_type == ReceiverType::Group && live.call.answered_at.is_some() {
            self.actions
                .push_back(super::Action::Forwarder(ForwarderAction::Leave {
                    session_id: sid.to_owned(),
                    participant: device.clone(),
                }));
        }
        if self.device_call.get(device).map(String::as_str) == Some(sid) {
            self.device_call.remove(device);
        }
        self.dirty.insert(device.user_id.clone());
    }

    /// A group participant leaves; the call ends if nobody is left, and is
    /// cancelled if it was still ringing (only the caller was in it).
    pub(super) fn leave_group_call(
        &mut self,
        now: Millis,
        sid: &str,
        device: &DeviceAddr,
        reason: LeaveReason,
    ) {
        let Some(status) = self.calls.get(sid).map(|l| l.call.status) else {
            return;
        };
        if status == CallStatus::Initiated {
            let (end_reason, ring_cancel) = match reason {
                LeaveReason::ConnectionLost => {
                    (EndReason::ConnectionLost, CancelReason::ConnectionLost)
                }
                _ => (EndReason::Hangup, CancelReason::Cancelled),
            };
            self.finish(
                now,
                sid,
                Finish {
                    status: CallStatus::Cancelled,
                    reason: end_reason,
                    ring_cancel,
                    by: Some(device),
                    by_leaves: reason,
                },
            );
            return;
        }
        self.remove_participant(now, sid, device, reason);
        let remaining = self
            .calls
            .get(sid)
            .map_or(0, |l| l.call.active_participants().count());
        if remaining == 0 {
            let end_reason = match reason {
                LeaveReason::ConnectionLost => EndReason::ConnectionLost,
                _ => EndReason::Hangup,
            };
            self.finish(
                now,
                sid,
                Finish {
                    status: CallStatus::Ended,
                    reason: end_reason,
                    ring_cancel: CancelReason::Cancelled,
                    by: Some(device),
                    by_leaves: reason,
                },
            );
        } else {
            self.send_to_participants(
                sid,
                Some(device),
                ServerMessage::ParticipantLeft {
                    session_id: sid.to_owned(),
                    participant: device.clone(),
                    reason,
                },
            );
            self.record(sid);
        }
    }

    /// Brings a call to a final status, tells everyone still in it or ringing
    /// for it, records it, and forgets it.
    pub(super) fn finish(&mut self, now: Millis, sid: &str, how: Finish<'_>) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        let was_ringing = live.call.status == CallStatus::Initiated;
        live.call.status = how.status;
        live.call.end_reason = Some(how.reason);
        live.call.ended_at = Some(now);
        live.call.duration_ms = live.call.answered_at.map(|a| now.saturating_sub(a));
        for invitee in live.call.invitees.iter_mut() {
            if invitee.response == Response::Ringing {
                invitee.response = Response::Missed;
            }
        }
        let ringing: Vec<DeviceAddr> = std::mem::take(&mut live.ringing).into_iter().collect();
        let active: Vec<DeviceAddr> = live.call.active_participants().map(|p| p.addr()).collect();
        for device in &active {
            let reason = if Some(device) == how.by {
                how.by_leaves
            } else {
                LeaveReason::CallEnded
            };
            self.remove_participant(now, sid, device, reason);
        }
        let Some(live) = self.calls.remove(sid) else {
            return;
        };
        let call = live.call;
        for device in ringing.iter().filter(|d| Some(*d) != how.by) {
            self.send(
                device,
                ServerMessage::IncomingCallCancelled {
                    call: call.clone(),
                    reason: how.ring_cancel,
                },
            );
        }
        let rejected = matches!(
            how.status,
            CallStatus::Rejected | CallStatus::Busy | CallStatus::Unanswered
        );
        for device in active.iter().filter(|d| Some(*d) != how.by) {
            let message = if was_ringing && rejected {
                ServerMessage::OutgoingCallRejected {
                    call: call.clone(),
                    status: how.status,
                }
            } else {
                ServerMessage::CallEnded {
                    call: call.clone(),
                    reason: how.reason,
                    by: how.by.cloned(),
                }
            };
            self.send(device, message);
        }
        let mut parties: BTreeSet<String> =
            call.invitees.iter().map(|i| i.user_id.clone()).collect();
        parties.insert(call.initiator.clone());
        parties.extend(call.participants.iter().map(|p| p.user_id.clone()));
        self.dirty.extend(parties.iter().cloned());
        self.finished.insert(
            sid.to_owned(),
            Finished {
                status: call.status,
                parties,
            },
        );
        self.finished_order.push_back((now, sid.to_owned()));
        while self.finished_order.len() > super::FINISHED_CAPACITY {
            if let Some((_, old)) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
        self.actions.push_back(super::Action::Record(call));
    }

    /// A device in grace came back: it is told the call goes on, the others that it is back.
    pub(super) fn resume(&mut self, sid: &str, device: &DeviceAddr) {
        let Some(live) = self.calls.get_mut(sid) else {
            return;
        };
        let was_away = live.grace.remove(device).is_some();
        let call = live.call.clone();
        self.send(device, ServerMessage::CallResumed { call });
        if !was_away {
            // A replacement connection of a device that never dropped.
            return;
        }
        if let Some(live) = self
            .calls
            .get(sid)
            .filter(|l| l.call.status == CallStatus::Ongoing)
        {
            let group = live.call.receiver_type == ReceiverType::Group;
            self.actions.push_back(super::Action::IceServers {
                to: device.clone(),
                session_id: sid.to_owned(),
            });
            if group {
                self.actions
                    .push_back(super::Action::Forwarder(ForwarderAction::Restart {
                        session_id: sid.to_owned(),
                        participant: device.clone(),
                    }));
            }
        }
        self.send_to_participants(
            sid,
            Some(device),
            ServerMessage::ParticipantReconnected {
                session_id: sid.to_owned(),
                participant: device.clone(),
            },
        );
    }

    /// Participants whose grace ran out leave with `connection_lost`.
    pub(super) fn expire_grace(&mut self, now: Millis, sid: &str) {
        let Some(live) = self.calls.get(sid) else {
            return;
        };
        let expired: Vec<DeviceAddr> = live
            .grace
            .iter()
            .filter(|(_, &deadline)| deadline <= now)
            .map(|(d, _)| d.clone())
            .collect();
        for device in expired {
            let Some(live) = self.calls.get(sid) else {
                return;
            };
            let (status, receiver_type) = (live.call.status, live.call.receiver_type);
            match (receiver_type, status) {
                (ReceiverType::Group, _) => {
                    self.leave_group_call(now, sid, &device, LeaveReason::ConnectionLost)
                }
                (ReceiverType::User, CallStatus::Initiated) => self.finish(
                    now,
                    sid,
                    Finish {
                        status: CallStatus::Cancelled,
                        reason: EndReason::ConnectionLost,
                        ring_cancel: CancelReason::ConnectionLost,
                        by: Some(&device),
                        by_leaves: LeaveReason::ConnectionLost,
                    },
                ),
                (ReceiverType::User, _) => self.finish(
                    now,
                    sid,
                    Finish {
                        status: CallStatus::Ended,
                        reason: EndReason::ConnectionLost,
                        ring_cancel: CancelReason::ConnectionLost,
                        by: Some(&device),
                        by_leaves: LeaveReason::ConnectionLost,
                    },
                ),
            }
        }
    }

    /// The ring timed out: an unanswered call becomes `unanswered`; in an
    /// ongoing group call, members who never answered stop ringing (missed).
    pub(super) fn expire_ring(&mut self, now: Millis, sid: &str) {
        let Some(live) = self.calls.get(sid) else {
            return;
        };
        if live.ring_deadline > now || !live.has_ringing_invitee() {
            return;
        }
        if live.call.status == CallStatus::Initiated {
            self.finish(
                now,
                sid,
                Finish {
                    status: CallStatus::Unanswered,
                    reason: EndReason::Timeout,
                    ring_cancel: CancelReason::Unanswered,
                    by: None,
                    by_leaves: LeaveReason::CallEnded,
                },
            );
            return;
        }
        let users: Vec<String> = live
            .call
            .invitees
            .iter()
            .filter(|i| i.response == Response::Ringing)
            .map(|i| i.user_id.clone())
            .collect();
        if let Some(live) = self.calls.get_mut(sid) {
            for invitee in live.call.invitees.iter_mut() {
                if invitee.response == Response::Ringing {
                    invitee.response = Response::Missed;
                }
            }
        }
        for user in users {
            self.stop_ringing_user(sid, &user, None, CancelReason::Unanswered);
        }
        self.record(sid);
    }

    /// Ends one live call because the server stops.
    pub(super) fn shut_down_call(&mut self, now: Millis, sid: &str) {
        let Some(live) = self.calls.get(sid) else {
            return;
        };
        let status = if live.call.status == CallStatus::Initiated {
            CallStatus::Cancelled
        } else {
            CallStatus::Ended
        };
        self.finish(
            now,
            sid,
            Finish {
                status,
                reason: EndReason::ServerShutdown,
                ring_cancel: CancelReason::ServerShutdown,
                by: None,
                by_leaves: LeaveReason::CallEnded,
            },
        );
    }
}

/// The machine's invariants; see [`Switchboard::check_invariants`].
pub(super) fn check_invariants(sb: &Switchboard) -> Result<(), String> {
    for (sid, live) in &sb.calls {
        check_live_call(sb, sid, live)?;
    }
    for (device, sid) in &sb.device_call {
        let live = sb
            .calls
            .get(sid)
            .ok_or_else(|| format!("{device} points at {sid}, which is not live"))?;
        if !live.call.active_participants().any(|p| &p.addr() == device) {
            return Err(format!(
                "{device} is indexed in {sid} but not an active participant"
            ));
        }
    }
    for sid in sb.finished.keys() {
        if sb.calls.contains_key(sid) {
            return Err(format!("{sid} is both live and finished"));
        }
    }
    Ok(())
}

fn check_live_call(sb: &Switchboard, sid: &str, live: &LiveCall) -> Result<(), String> {
    let call = &live.call;
    if call.status.is_final() {
        return Err(format!("{sid} is live with final status {:?}", call.status));
    }
    let active: Vec<DeviceAddr> = call.active_participants().map(|p| p.addr()).collect();
    if active.is_empty() && live.grace.is_empty() {
        return Err(format!("{sid} is live with nobody in it"));
    }
    for device in &active {
        if sb.device_call.get(device).map(String::as_str) != Some(sid) {
            return Err(format!("{device} is active in {sid} but not indexed"));
        }
    }
    let unique: BTreeSet<&DeviceAddr> = active.iter().collect();
    if unique.len() != active.len() {
        return Err(format!("{sid} lists a device twice"));
    }
    match call.status {
        CallStatus::Ongoing if call.answered_at.is_none() => {
            return Err(format!("{sid} is ongoing without answered_at"))
        }
        CallStatus::Initiated if call.answered_at.is_some() => {
            return Err(format!("{sid} is ringing with answered_at"))
        }
        _ => {}
    }
    if call.receiver_type == ReceiverType::User && active.len() > 2 {
        return Err(format!("1:1 call {sid} has {} participants", active.len()));
    }
    for device in &live.ringing {
        let rings_for = call.invitee(&device.user_id).map(|i| i.response);
        if rings_for != Some(Response::Ringing) {
            return Err(format!(
                "{device} rings for {sid} but its user is {rings_for:?}"
            ));
        }
        if active.contains(device) {
            return Err(format!("{device} rings for {sid} while in it"));
        }
        if !sb.online.contains_key(device) {
            return Err(format!("{device} rings for {sid} while offline"));
        }
    }
    for device in live.grace.keys() {
        if !active.contains(device) {
            return Err(format!(
                "{device} is in grace for {sid} but not a participant"
            ));
        }
    }
    Ok(())
}

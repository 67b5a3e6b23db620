//! The call state machine: every call rule lives here, and nothing else.
//!
//! [`Switchboard`] is sans-IO in the manner of `quinn-proto` and `str0m`: the
//! driver (the server) feeds it inputs — a device came online or went away, a
//! request arrived, time passed — each with the current time as an argument,
//! and then drains [`Action`]s with [`Switchboard::poll_action`] until it
//! returns `None`: messages to send, call-log rows to store, presence to push.
//! [`Switchboard::poll_timeout`] says when to call
//! [`Switchboard::handle_timeout`] next. No clock, no sockets, no randomness
//! (the driver passes in fresh session ids), so every rule is tested with
//! plain `#[test]`s and a virtual clock.
//!
//! # Call statuses
//!
//! ```text
//!                       accept (first device / first member wins)
//!   initiate ─► INITIATED ─────────────────────────────────────► ONGOING
//!                 │  │  │  │                                      │  │
//!   reject(rejected) │  │  │ ring timeout, or                     │  │ end_call (1:1), last member
//!   all members      │  │  │ nobody could be rung                 │  │ leaves (group), grace
//!   declined ──► REJECTED │  └──────────────► UNANSWERED          │  │ expired, server shutdown
//!                    │  │                                         ▼  ▼
//!  reject(busy), or  │  └─ reject(cancelled) by the caller,      ENDED
//!  callee in a call ─┘     caller lost beyond grace ─► CANCELLED
//!        ▼
//!      BUSY
//! ```
//!
//! - **Multi-device**: every online device of the callee rings; the first
//!   accept wins and the others get `incoming_call_cancelled(answered_elsewhere)`;
//!   a decline on one stops them all (`declined_elsewhere`). A device that
//!   comes online while the call still rings starts ringing too.
//! - **Busy**: if every online device of the callee is in a call (and none
//!   allows call waiting), the call is `busy` at once, without ringing.
//!   Nobody online at all: `unanswered` at once (reason `offline`), a missed call.
//! - **Glare**: if B calls A while A's call to B still rings, B's call is
//!   answered into A's session: A gets `outgoing_call_accepted`, B's reply is
//!   A's call, `ongoing`.
//! - **Groups**: every online member but the caller rings; the call is
//!   `ongoing` from the first accept; members accept, decline or join late for
//!   themselves; `end_call` means "leave"; the last to leave ends it. The
//!   caller cancelling before any accept cancels it for all; every member
//!   declining makes it `rejected`.
//! - **Reconnect grace**: a participant whose device goes offline has
//!   [`Config::reconnect_grace_ms`] to come back (`call_resumed`); after that
//!   it leaves with `connection_lost` (which ends a 1:1 call).
//! - **Authorization**: only the caller, invitees and participants act on a
//!   call, and only its active participants exchange negotiation messages.
//! - `end_call` on a call still ringing means cancel (caller) or decline (callee).

mod error;
mod requests;
mod rules;
#[cfg(test)]
mod tests;

pub use error::CallError;

use crate::call::{
    Call, CallStatus, CallType, DeviceAddr, DeviceId, Millis, SessionId, UserId,
    DEFAULT_RING_TIMEOUT,
};
use crate::wire::{PresenceStatus, ServerMessage, UserPresence};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Timing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Ring timeout when the caller asks for none.
    pub default_ring_timeout_ms: u64,
    /// The longest ring timeout a caller may ask for.
    pub max_ring_timeout_ms: u64,
    /// How long a participant whose connection dropped may take to come back.
    pub reconnect_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_ring_timeout_ms: DEFAULT_RING_TIMEOUT.as_millis() as u64,
            max_ring_timeout_ms: 300_000,
            reconnect_grace_ms: 30_000,
        }
    }
}

/// Shortest ring timeout accepted (shorter requests are raised to it).
pub const MIN_RING_TIMEOUT_MS: u64 = 500;
/// How long a finished call is remembered, to answer late requests with
/// "the call has already finished" rather than "no such call".
pub const FINISHED_RETENTION_MS: u64 = 300_000;
/// At most this many finished calls are remembered (oldest forgotten first).
pub const FINISHED_CAPACITY: usize = 100_000;

/// Whom a call goes to. The driver resolves the id against its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receiver {
    /// One user (who exists).
    User(UserId),
    /// A group and its current members (the caller must be one).
    Group {
        /// Group id.
        group_id: String,
        /// Member user ids.
        members: Vec<UserId>,
    },
}

/// A request to place a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    /// Whom to call.
    pub receiver: Receiver,
    /// Audio or video.
    pub call_type: CallType,
    /// Ring timeout; the configured default when `None`.
    pub ring_timeout_ms: Option<u64>,
}

/// What the driver must carry out, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Deliver to that device if it is connected; drop otherwise.
    Send {
        /// Recipient device.
        to: DeviceAddr,
        /// The message.
        message: ServerMessage,
    },
    /// Store (insert or replace, by session id) this call-log row.
    Record(Call),
    /// Push this presence change to every subscriber.
    Presence(UserPresence),
    /// Send that device STUN/TURN servers with fresh credentials for the call.
    IceServers {
        /// Recipient device.
        to: DeviceAddr,
        /// The call they are for.
        session_id: SessionId,
    },
    /// Tell the group-call forwarder (the server's media relay).
    Forwarder(ForwarderAction),
}

/// What the group-call forwarder must hear. Group media goes through it:
/// each participant device has one media connection to the forwarder, which
/// sends it everyone else's audio. The machine decides who is in; the
/// forwarder only carries media for the devices it was told joined.
#[derive(Debug, Clone, PartialEq)]
pub enum ForwarderAction {
    /// `participant` entered the ongoing group call (it was just sent its
    /// ICE servers): connect it and forward the others to it and it to them.
    Join {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
        /// Audio or video.
        call_type: CallType,
    },
    /// `participant` left the call (hung up, lost beyond grace, call over):
    /// close its connection and stop forwarding it.
    Leave {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
    },
    /// `participant` came back inside the grace period: restart ICE with it.
    Restart {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
    },
    /// Media negotiation from `from` to the forwarder.
    Signal {
        /// The call.
        session_id: SessionId,
        /// The sending participant.
        from: DeviceAddr,
        /// The payload, as sent (normally a [`SignalMessage`](crate::SignalMessage)).
        data: serde_json::Value,
    },
}

/// A call that has not reached a final status.
#[derive(Debug, Clone)]
struct LiveCall {
    call: Call,
    /// Group members allowed to join (empty for 1:1 calls).
    members: BTreeSet<UserId>,
    ring_deadline: Millis,
    /// Devices ringing now.
    ringing: BTreeSet<DeviceAddr>,
    /// Participant devices whose connection dropped, with their grace deadline.
    grace: BTreeMap<DeviceAddr, Millis>,
    /// Participant devices that muted their microphone.
    muted: BTreeSet<DeviceAddr>,
}

/// What is remembered of a finished call.
#[derive(Debug, Clone)]
struct Finished {
    status: CallStatus,
    parties: BTreeSet<UserId>,
}

/// The state of every live call and connected device. See the module docs.
#[derive(Debug, Default)]
pub struct Switchboard {
    config: Config,
    /// Connected devices and whether each allows call waiting.
    online: BTreeMap<DeviceAddr, bool>,
    calls: HashMap<SessionId, LiveCall>,
    /// Device → the live call it is an active participant of (also while in grace).
    device_call: BTreeMap<DeviceAddr, SessionId>,
    finished: HashMap<SessionId, Finished>,
    finished_order: VecDeque<(Millis, SessionId)>,
    /// Presence last published, per user.
    published: HashMap<UserId, PresenceStatus>,
    /// Users whose presence may have changed during the current input.
    dirty: BTreeSet<UserId>,
    actions: VecDeque<Action>,
}

impl Switchboard {
    /// An empty switchboard.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The timing rules in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Next action to carry out; drain after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Switchboard::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let mut next: Option<Millis> = self
            .finished_order
            .front()
            .map(|(at, _)| at + FINISHED_RETENTION_MS);
        for live in self.calls.values() {
            if live.has_ringing_invitee() {
                next = min_opt(next, live.ring_deadline);
            }
            if let Some(&deadline) = live.grace.values().min() {
                next = min_opt(next, deadline);
            }
        }
        next
    }

    /// A device connected (or reconnected). Resumes calls it was in, and
    /// rings it for calls to its user that are still ringing.
    pub fn device_online(&mut self, now: Millis, device: DeviceAddr, call_waiting: bool) {
        self.online.insert(device.clone(), call_waiting);
        if let Some(sid) = self.device_call.get(&device).cloned() {
            self.resume(&sid, &device);
        }
        let to_ring: Vec<SessionId> = self
            .calls
            .iter()
            .filter(|(_, live)| {
                now < live.ring_deadline
                    && !live.ringing.contains(&device)
                    && live
                        .call
                        .invitee(&device.user_id)
                        .is_some_and(|i| i.response == crate::call::Response::Ringing)
            })
            .map(|(sid, _)| sid.clone())
            .collect();
        for sid in to_ring {
            if self.may_ring(&device) {
                self.ring(&sid, &device);
            }
        }
        self.dirty.insert(device.user_id.clone());
        self.flush_presence();
    }

    /// A device disconnected. It stops ringing; calls it is in get the grace period.
    pub fn device_offline(&mut self, now: Millis, device: &DeviceAddr) {
        self.online.remove(device);
        for live in self.calls.values_mut() {
            live.ringing.remove(device);
        }
        if let Some(sid) = self.device_call.get(device).cloned() {
            let deadline = now + self.config.reconnect_grace_ms;
            if let Some(live) = self.calls.get_mut(&sid) {
                live.grace.insert(device.clone(), deadline);
                let message = ServerMessage::ParticipantReconnecting {
                    session_id: sid.clone(),
                    participant: device.clone(),
                };
                self.send_to_participants(&sid, Some(device), message);
            }
        }
        self.dirty.insert(device.user_id.clone());
        self.flush_presence();
    }

    /// Time passed: ring timeouts, grace expiries, forgetting old finished calls.
    pub fn handle_timeout(&mut self, now: Millis) {
        let mut sids: Vec<SessionId> = self.calls.keys().cloned().collect();
        sids.sort();
        for sid in sids {
            self.expire_grace(now, &sid);
            self.expire_ring(now, &sid);
        }
        while let Some((at, _)) = self.finished_order.front() {
            if at + FINISHED_RETENTION_MS > now {
                break;
            }
            if let Some((_, sid)) = self.finished_order.pop_front() {
                self.finished.remove(&sid);
            }
        }
        self.flush_presence();
    }

    /// The server is stopping: every live call ends (`server_shutdown`).
    pub fn shutdown(&mut self, now: Millis) {
        let mut sids: Vec<SessionId> = self.calls.keys().cloned().collect();
        sids.sort();
        for sid in sids {
            self.shut_down_call(now, &sid);
        }
        self.flush_presence();
    }

    /// A user's presence now.
    pub fn presence(&self, user: &str) -> PresenceStatus {
        let in_call = self.devices_of(&self.device_call, user).any(|(_, sid)| {
            self.calls
                .get(sid)
                .is_some_and(|l| l.call.status == CallStatus::Ongoing)
        });
        if in_call {
            PresenceStatus::InCall
        } else if self.devices_of(&self.online, user).next().is_some() {
            PresenceStatus::Online
        } else {
            PresenceStatus::Offline
        }
    }

    /// The live call a device is in, if any.
    pub fn call_of_device(&self, device: &DeviceAddr) -> Option<&Call> {
        let sid = self.device_call.get(device)?;
        self.calls.get(sid).map(|l| &l.call)
    }

    /// A live call by id.
    pub fn live_call(&self, session_id: &str) -> Option<&Call> {
        self.calls.get(session_id).map(|l| &l.call)
    }

    /// Number of live (initiated or ongoing) calls.
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// Checks the machine's internal invariants; for tests and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        rules::check_invariants(self)
    }

    // ---- helpers shared by the submodules ------------------------------------

    fn devices_of<'a, V>(
        &self,
        map: &'a BTreeMap<DeviceAddr, V>,
        user: &str,
    ) -> impl Iterator<Item = (&'a DeviceAddr, &'a V)> + 'a {
        let start = DeviceAddr::new(user, DeviceId::new());
        let user = user.to_owned();
        map.range(start..)
            .take_while(move |(d, _)| d.user_id == user)
    }

    fn online_devices(&self, user: &str) -> Vec<DeviceAddr> {
        self.devices_of(&self.online, user)
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// A device may ring if it is not in a call, or allows call waiting.
    fn may_ring(&self, device: &DeviceAddr) -> bool {
        match self.online.get(device) {
            Some(&call_waiting) => call_waiting || !self.device_call.contains_key(device),
            None => false,
        }
    }

    /// True if any device of the user is an active participant of a call.
    fn user_in_call(&self, user: &str) -> bool {
        self.devices_of(&self.device_call, user).next().is_some()
    }

    fn send(&mut self, to: &DeviceAddr, message: ServerMessage) {
        self.actions.push_back(Action::Send {
            to: to.clone(),
            message,
        });
    }

    /// Sends to every active participant of a call, except `except`.
    fn send_to_participants(
        &mut self,
        sid: &str,
        except: Option<&DeviceAddr>,
        message: ServerMessage,
    ) {
        let Some(live) = self.calls.get(sid) else {
            return;
        };
        let to: Vec<DeviceAddr> = live
            .call
            .active_participants()
            .map(|p| p.addr())
            .filter(|a| Some(a) != except)
            .collect();
        for addr in to {
            self.send(&addr, message.clone());
        }
    }

    fn record(&mut self, sid: &str) {
        if let Some(live) = self.calls.get(sid) {
            self.actions.push_back(Action::Record(live.call.clone()));
        }
    }

    fn flush_presence(&mut self) {
        for user in std::mem::take(&mut self.dirty) {
            let status = self.presence(&user);
            let last = self
                .published
                .get(&user)
                .copied()
                .unwrap_or(PresenceStatus::Offline);
            if status != last {
                if status == PresenceStatus::Offline {
                    self.published.remove(&user);
                } else {
                    self.published.insert(user.clone(), status);
                }
                self.actions.push_back(Action::Presence(UserPresence {
                    user_id: user,
                    status,
                }));
            }
        }
    }
}

impl LiveCall {
    fn has_ringing_invitee(&self) -> bool {
        self.call
            .invitees
            .iter()
            .any(|i| i.response == crate::call::Response::Ringing)
    }
}

fn min_opt(a: Option<Millis>, b: Millis) -> Option<Millis> {
    Some(a.map_or(b, |a| a.min(b)))
}

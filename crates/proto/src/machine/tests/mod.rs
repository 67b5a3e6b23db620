//! Scenario tests of the call machine, in the manner of RingRTC's
//! `tests/outgoing.rs`: helpers bring a call to a state, small tests start
//! from there and check what each device was sent. A virtual clock only.

mod groups;
mod one_to_one;
mod props;
mod reconnect;

use super::*;
use crate::call::*;
use crate::wire::*;

pub(super) const T0: Millis = 1_700_000_000_000;

/// A switchboard, a virtual clock, and everything it has asked for so far.
pub(super) struct Harness {
    pub sb: Switchboard,
    pub now: Millis,
    next_sid: u32,
    pub actions: Vec<Action>,
}

pub(super) fn dev(spec: &str) -> DeviceAddr {
    let (user, device) = spec.split_once('/').unwrap_or((spec, "d1"));
    DeviceAddr::new(user, device)
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        Self {
            sb: Switchboard::new(config),
            now: T0,
            next_sid: 0,
            actions: Vec::new(),
        }
    }

    /// Harness with these devices ("alice/d1", or "bob" for bob/d1) online.
    pub fn online_all(devices: &[&str]) -> Self {
        let mut h = Self::new();
        for d in devices {
            h.online(d);
        }
        h.clear();
        h
    }

    fn drain(&mut self) {
        while let Some(a) = self.sb.poll_action() {
            self.actions.push(a);
        }
        self.sb.check_invariants().expect("invariants hold");
    }

    pub fn clear(&mut self) {
        self.actions.clear();
    }

    pub fn online(&mut self, d: &str) {
        self.sb.device_online(self.now, dev(d), false);
        self.drain();
    }

    pub fn online_waiting(&mut self, d: &str) {
        self.sb.device_online(self.now, dev(d), true);
        self.drain();
    }

    pub fn offline(&mut self, d: &str) {
        self.sb.device_offline(self.now, &dev(d));
        self.drain();
    }

    fn fresh_sid(&mut self) -> String {
        self.next_sid += 1;
        format!("s{}", self.next_sid)
    }

    pub fn call(&mut self, from: &str, to: &str) -> Result<Call, CallError> {
        let request = CallRequest {
            receiver: Receiver::User(to.into()),
            call_type: CallType::Audio,
            ring_timeout_ms: None,
        };
        self.request(from, request)
    }

    pub fn call_group(
        &mut self,
        from: &str,
        group: &str,
        members: &[&str],
    ) -> Result<Call, CallError> {
        let request = CallRequest {
            receiver: Receiver::Group {
                group_id: group.into(),
                members: members.iter().map(|m| m.to_string()).collect(),
            },
            call_type: CallType::Audio,
            ring_timeout_ms: None,
        };
        self.request(from, request)
    }

    pub fn request(&mut self, from: &str, request: CallRequest) -> Result<Call, CallError> {
        let sid = self.fresh_sid();
        let r = self.sb.initiate(self.now, &dev(from), sid, request);
        self.drain();
        r
    }

    pub fn accept(&mut self, by: &str, sid: &str) -> Result<Call, CallError> {
        let r = self.sb.accept(self.now, &dev(by), sid);
        self.drain();
        r
    }

    pub fn reject(&mut self, by: &str, sid: &str, status: CallStatus) -> Result<Call, CallError> {
        let r = self.sb.reject(self.now, &dev(by), sid, status);
        self.drain();
        r
    }

    pub fn end(&mut self, by: &str, sid: &str) -> Result<Call, CallError> {
        let r = self.sb.end(self.now, &dev(by), sid);
        self.drain();
        r
    }

    pub fn join(&mut self, by: &str, sid: &str) -> Result<Call, CallError> {
        let r = self.sb.join(self.now, &dev(by), sid);
        self.drain();
        r
    }

    pub fn signal(&mut self, from: &str, sid: &str, to: Option<&str>) -> Result<(), CallError> {
        let r = self.sb.signal(
            self.now,
            &dev(from),
            sid,
            to.map(dev),
            serde_json::json!({"sdp": "x"}),
        );
        self.drain();
        r
    }

    pub fn mute(&mut self, by: &str, sid: &str, muted: bool) -> Result<Call, CallError> {
        let r = self.sb.set_muted(self.now, &dev(by), sid, muted);
        self.drain();
        r
    }

    /// Moves the clock, firing every timeout on the way, as a driver would.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        while let Some(deadline) = self.sb.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.sb.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// The messages sent to a device, in order, each as a short label:
    /// the message type, then `:reason` or `:status` when it has one.
    pub fn sent(&self, d: &str) -> Vec<String> {
        let to = dev(d);
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { to: t, message } if *t == to => Some(label(message)),
                Action::IceServers { to: t, .. } if *t == to => Some("ice_servers".to_string()),
                _ => None,
            })
            .collect()
    }

    /// What the forwarder was told, as `"join alice/d1"`, `"leave …"`,
    /// `"restart …"` or `"signal …"` (the sender).
    pub fn forwarder(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Forwarder(f) => Some(match f {
                    ForwarderAction::Join { participant, .. } => format!("join {participant}"),
                    ForwarderAction::Leave { participant, .. } => format!("leave {participant}"),
                    ForwarderAction::Restart { participant, .. } => {
                        format!("restart {participant}")
                    }
                    ForwarderAction::Signal { from, .. } => format!("signal {from}"),
                }),
                _ => None,
            })
            .collect()
    }

    /// The last call-log row recorded for a session.
    pub fn recorded(&self, sid: &str) -> Call {
        self.actions
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::Record(c) if c.session_id == sid => Some(c.clone()),
                _ => None,
            })
            .expect("a record for the call")
    }

    pub fn presence_events(&self) -> Vec<(String, PresenceStatus)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Presence(p) => Some((p.user_id.clone(), p.status)),
                _ => None,
            })
            .collect()
    }
}

pub(super) fn label(message: &ServerMessage) -> String {
    let v = serde_json::to_value(message).expect("serializes");
    let kind = v["type"].as_str().unwrap_or("?").to_string();
    match v.get("reason").or_else(|| v.get("status")) {
        Some(extra) => format!("{kind}:{}", extra.as_str().unwrap_or("?")),
        None => kind,
    }
}

pub(super) fn response_of(call: &Call, user: &str) -> Response {
    call.invitee(user).expect("invitee").response
}

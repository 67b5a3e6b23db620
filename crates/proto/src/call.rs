//! The call record shared by the server, the client and the call log.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A user's id: the login name (`alice`).
pub type UserId = String;
/// A device's id, chosen by the client and stable across its restarts.
pub type DeviceId = String;
/// A call's unguessable id, chosen by the server.
pub type SessionId = String;
/// Milliseconds since the Unix epoch. The machine never reads a clock; every
/// time it sees comes in as one of these.
pub type Millis = u64;

/// Default ring timeout: a call nobody answers becomes `unanswered` after this.
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(45);

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    /// Voice only.
    Audio,
    /// Voice and camera.
    Video,
}

/// Whether a call goes to one user or to every member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverType {
    /// A one-to-one call.
    User,
    /// A group call.
    Group,
}

/// Where a call stands. See the diagram in [`crate::machine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Ringing; nobody has answered yet.
    Initiated,
    /// Answered; media flows.
    Ongoing,
    /// The callee (or every group member) declined.
    Rejected,
    /// The callee is in another call (or declined as busy).
    Busy,
    /// The caller gave up before an answer.
    Cancelled,
    /// Nobody answered before the ring timeout (or nobody could be rung).
    Unanswered,
    /// An answered call that is over.
    Ended,
}

impl CallStatus {
    /// True once the call can no longer change.
    pub fn is_final(self) -> bool {
        !matches!(self, CallStatus::Initiated | CallStatus::Ongoing)
    }
}

/// Why a call (or a ringing that never got answered) finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A party hung up, declined or cancelled.
    Hangup,
    /// The ring timed out.
    Timeout,
    /// Nobody could be rung: every callee device was offline.
    Offline,
    /// The callee was in another call.
    Busy,
    /// A party's connection dropped and did not come back within the grace period.
    ConnectionLost,
    /// The server stopped (or restarted) while the call was live.
    ServerShutdown,
}

/// Why a device stopped ringing without its user answering there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The caller cancelled.
    Cancelled,
    /// The ring timed out.
    Unanswered,
    /// Another device of the same user accepted.
    AnsweredElsewhere,
    /// Another device of the same user declined.
    DeclinedElsewhere,
    /// The caller's connection was lost and did not come back.
    ConnectionLost,
    /// The server is shutting down.
    ServerShutdown,
}

/// Why a participant left a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They hung up.
    Hangup,
    /// Their connection was lost beyond the grace period.
    ConnectionLost,
    /// The call ended around them (the other side hung up, or the server stopped).
    CallEnded,
}

/// What an invited user did with the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Still ringing.
    Ringing,
    /// Answered (on one of their devices).
    Accepted,
    /// Declined.
    Declined,
    /// Was in another call; the server answered busy for them.
    Busy,
    /// Never answered: offline, timed out, or the caller cancelled first.
    Missed,
}

/// One device of one user, the unit that rings and that carries media.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceAddr {
    /// The user.
    pub user_id: UserId,
    /// Their device.
    pub device_id: DeviceId,
}

impl DeviceAddr {
    /// Shorthand constructor.
    pub fn new(user_id: impl Into<UserId>, device_id: impl Into<DeviceId>) -> Self {
        Self {
            user_id: user_id.into(),
            device_id: device_id.into(),
        }
    }

    /// The address the server's group-call forwarder uses in `signal`
    /// messages: `@server/forwarder` (no user id can start with `@`).
    pub fn forwarder() -> Self {
        Self::new(FORWARDER_USER, "forwarder")
    }

    /// Whether this is [`DeviceAddr::forwarder`].
    pub fn is_forwarder(&self) -> bool {
        self.user_id == FORWARDER_USER
    }
}

/// The user part of [`DeviceAddr::forwarder`].
const FORWARDER_USER: &str = "@server";

impl std::fmt::Display for DeviceAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.user_id, self.device_id)
    }
}

/// A user invited to a call (the callee, or each group member but the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitee {
    /// Who.
    pub user_id: UserId,
    /// What they did.
    pub response: Response,
}

/// A device that took part in the media session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The user.
    pub user_id: UserId,
    /// The device they joined from.
    pub device_id: DeviceId,
    /// When they joined.
    pub joined_at: Millis,
    /// When they left; `None` while in the call.
    pub left_at: Option<Millis>,
    /// Why they left.
    pub left_reason: Option<LeaveReason>,
}

impl Participant {
    /// The participant's device address.
    pub fn addr(&self) -> DeviceAddr {
        DeviceAddr::new(self.user_id.clone(), self.device_id.clone())
    }

    /// Still in the call.
    pub fn is_active(&self) -> bool {
        self.left_at.is_none()
    }
}

/// A call, as the server reports it and as the call log stores it.
///
/// Clients build one with [`Call::new`] to ask for a call; the server fills in
/// the session id, the times and the participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Unguessable id; empty in a call not yet placed.
    pub session_id: SessionId,
    /// Audio or video.
    pub call_type: CallType,
    /// One user or a group.
    pub receiver_type: ReceiverType,
    /// The caller.
    pub initiator: UserId,
    /// The callee's user id, or the group id.
    pub receiver: String,
    /// Where the call stands.
    pub status: CallStatus,
    /// How long it rings before it becomes `unanswered`, in milliseconds.
    pub ring_timeout_ms: u64,
    /// When it was placed.
    pub initiated_at: Millis,
    /// When the first callee answered.
    pub answered_at: Option<Millis>,
    /// When it reached a final status.
    pub ended_at: Option<Millis>,
    /// Talk time: `ended_at - answered_at`, once both are known.
    pub duration_ms: Option<u64>,
    /// Why it finished.
    pub end_reason: Option<EndReason>,
    /// Who was rung and what each did.
    pub invitees: Vec<Invitee>,
    /// Every device that joined, in joining order, including those that left.
    pub participants: Vec<Participant>,
}

impl Call {
    /// A call to place: `initiate_call(Call::new("bob", CallType::Audio, ReceiverType::User))`.
    pub fn new(
        receiver: impl Into<String>,
        call_type: CallType,
        receiver_type: ReceiverType,
    ) -> Self {
        Self {
            session_id: SessionId::new(),
            call_type,
            receiver_type,
            initiator: UserId::new(),
            receiver: receiver.into(),
            status: CallStatus::Initiated,
            ring_timeout_ms: DEFAULT_RING_TIMEOUT.as_millis() as u64,
            initiated_at: 0,
            answered_at: None,
            ended_at: None,
            duration_ms: None,
            end_reason: None,
            invitees: Vec::new(),
            participants: Vec::new(),
        }
    }

    /// Sets the ring timeout of a call to place.
    pub fn with_ring_timeout(mut self, timeout: Duration) -> Self {
        self.ring_timeout_ms = timeout.as_millis() as u64;
        self
    }

    /// Devices still in the call.
    pub fn active_participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.iter().filter(|p| p.is_active())
    }

    /// True if `user` placed the call, was invited to it, or joined it.
    pub fn involves(&self, user: &str) -> bool {
        self.initiator == user
            || self.invitees.iter().any(|i| i.user_id == user)
            || self.participants.iter().any(|p| p.user_id == user)
    }

    /// The invitee entry of `user`, if they were invited.
    pub fn invitee(&self, user: &str) -> Option<&Invitee> {
        self.invitees.iter().find(|i| i.user_id == user)
    }

    /// True for `user` if they were rung and never answered nor declined.
    pub fn is_missed_by(&self, user: &str) -> bool {
        self.invitee(user)
            .is_some_and(|i| matches!(i.response, Response::Missed | Response::Busy))
    }
}

//! The shapes the UI sees. The client's wire types are translated into these
//! (a call seen from this user: direction, the other party, missed or not),
//! and their TypeScript twins are generated (`bindings.rs`), so the UI never
//! hand-writes a payload.

use serde::{Deserialize, Serialize};
use softphone_client::{
    Call, CallStatus, CallType, GroupInfo, PresenceStatus, ReceiverType, UserInfo,
};
use ts_rs::TS;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiCallType {
    /// Voice only.
    Audio,
    /// Voice and camera.
    Video,
}

/// Who a call goes to: one user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiReceiverType {
    /// One user.
    User,
    /// Every online member of a group.
    Group,
}

/// Where a call stands (the protocol's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiCallStatus {
    /// Ringing.
    Initiated,
    /// Answered, in progress.
    Ongoing,
    /// Declined.
    Rejected,
    /// Declined as busy.
    Busy,
    /// The caller gave up before an answer.
    Cancelled,
    /// Nobody answered in time (or the callee was offline).
    Unanswered,
    /// Over.
    Ended,
}

/// Online, offline or in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiPresence {
    /// Not connected.
    Offline,
    /// Connected and free.
    Online,
    /// Connected and in a call.
    InCall,
}

/// A call as this user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiCall {
    /// The call's id.
    pub session_id: String,
    /// Audio or video.
    pub call_type: UiCallType,
    /// User or group call.
    pub receiver_type: UiReceiverType,
    /// Who placed it.
    pub initiator: String,
    /// The user or group called.
    pub receiver: String,
    /// The other party: the caller for incoming calls, the receiver otherwise.
    pub peer: String,
    /// Did this user place it?
    pub outgoing: bool,
    /// Incoming and never answered (nobody picked up, or the caller gave up).
    pub missed: bool,
    /// Where it stands.
    pub status: UiCallStatus,
    /// When it was placed (ms since the Unix epoch).
    #[ts(type = "number")]
    pub initiated_at: u64,
    /// When it was answered.
    #[ts(type = "number | null")]
    pub answered_at: Option<u64>,
    /// How long it lasted, once ended.
    #[ts(type = "number | null")]
    pub duration_ms: Option<u64>,
    /// Who is in the call now (user ids, this user included; for group calls
    /// the in-call screen lists them).
    pub participants: Vec<String>,
}

impl UiCall {
    /// `call` as seen by user `me`.
    pub fn new(call: &Call, me: &str) -> Self {
        let outgoing = call.initiator == me;
        let peer = if outgoing || call.receiver_type == ReceiverType::Group {
            call.receiver.clone()
        } else {
            call.initiator.clone()
        };
        let missed = !outgoing
            && call.answered_at.is_none()
            && matches!(call.status, CallStatus::Unanswered | CallStatus::Cancelled);
        Self {
            session_id: call.session_id.clone(),
            call_type: call.call_type.into(),
            receiver_type: match call.receiver_type {
                ReceiverType::User => UiReceiverType::User,
                ReceiverType::Group => UiReceiverType::Group,
            },
            initiator: call.initiator.clone(),
            receiver: call.receiver.clone(),
            peer,
            outgoing,
            missed,
            status: call.status.into(),
            initiated_at: call.initiated_at,
            answered_at: call.answered_at,
            duration_ms: call.duration_ms,
            participants: present(call),
        }
    }
}

/// The users with a device in `call` now, in the order they joined.
fn present(call: &Call) -> Vec<String> {
    let mut users: Vec<String> = Vec::new();
    for p in call.participants.iter().filter(|p| p.left_at.is_none()) {
        if !users.contains(&p.user_id) {
            users.push(p.user_id.clone());
        }
    }
    users
}

impl From<CallType> for UiCallType {
    fn from(t: CallType) -> Self {
        match t {
            CallType::Audio => UiCallType::Audio,
            CallType::Video => UiCallType::Video,
        }
    }
}

impl From<UiCallType> for CallType {
    fn from(t: UiCallType) -> Self {
        match t {
            UiCallType::Audio => CallType::Audio,
            UiCallType::Video => CallType::Video,
        }
    }
}

impl From<UiReceiverType> for ReceiverType {
    fn from(t: UiReceiverType) -> Self {
        match t {
            UiReceiverType::User => ReceiverType::User,
            UiReceiverType::Group => ReceiverType::Group,
        }
    }
}

impl From<CallStatus> for UiCallStatus {
    fn from(s: CallStatus) -> Self {
        match s {
            CallStatus::Initiated => UiCallStatus::Initiated,
            CallStatus::Ongoing => UiCallStatus::Ongoing,
            CallStatus::Rejected => UiCallStatus::Rejected,
            CallStatus::Busy => UiCallStatus::Busy,
            CallStatus::Cancelled => UiCallStatus::Cancelled,
            CallStatus::Unanswered => UiCallStatus::Unanswered,
            CallStatus::Ended => UiCallStatus::Ended,
        }
    }
}

impl From<PresenceStatus> for UiPresence {
    fn from(p: PresenceStatus) -> Self {
        match p {
            PresenceStatus::Offline => UiPresence::Offline,
            PresenceStatus::Online => UiPresence::Online,
            PresenceStatus::InCall => UiPresence::InCall,
        }
    }
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiUser {
    /// Their id (what calls use).
    pub user_id: String,
    /// Their name to show.
    pub display_name: String,
    /// Online, offline or in a call.
    pub presence: UiPresence,
}

impl From<UserInfo> for UiUser {
    fn from(u: UserInfo) -> Self {
        Self {
            user_id: u.user_id,
            display_name: u.display_name,
            presence: u.presence.into(),
        }
    }
}

/// A group this user can call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiGroup {
    /// Its id (what calls use).
    pub group_id: String,
    /// Its name to show.
    pub display_name: String,
    /// Member user ids.
    pub members: Vec<String>,
}

impl From<GroupInfo> for UiGroup {
    fn from(g: GroupInfo) -> Self {
        Self {
            group_id: g.group_id,
            display_name: g.display_name,
            members: g.members,
        }
    }
}

/// The signed-in session, as the UI needs it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SessionInfo {
    /// Who is signed in.
    pub user_id: String,
    /// Where.
    pub server_url: String,
    /// Something to tell the person about the sign-in (the keyring refused
    /// to keep the session, …).
    pub notice: Option<String>,
}

/// What the login screen starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct LoginDefaults {
    /// The last server URL used (or the default).
    pub server_url: String,
    /// The last username used.
    pub username: String,
    /// Whether "remember me" was on.
    pub remember: bool,
}

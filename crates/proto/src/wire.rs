//! The wire protocol: JSON text frames over one WebSocket per device, plus
//! the few HTTP bodies (login, queries). Every message is documented with an
//! example in `docs/protocol.md`; `tests/snapshots` pins their serialized form.
//!
//! A frame is one JSON object whose `type` field names the message. Requests
//! from the client carry an `id` (any number the client picks); the server
//! answers each with exactly one `call_reply`, `presence_snapshot`, `pong` or
//! `error` carrying the same `id`. Everything else the server sends is an
//! event.

use crate::call::{
    Call, CallStatus, CallType, CancelReason, DeviceAddr, EndReason, LeaveReason, Millis,
    ReceiverType, SessionId, UserId,
};
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks. The WebSocket lives at
/// `/v1/ws`; a server that cannot speak a client's version refuses the upgrade.
pub const PROTOCOL_VERSION: u32 = 1;

/// A client's number for a request, echoed in the reply.
pub type RequestId = u64;

/// Messages a client sends over its WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Place a call. Answered with `call_reply` (the call, `initiated`, or
    /// already final if nobody could be rung, or `ongoing` after a glare merge).
    InitiateCall {
        /// Request id.
        id: RequestId,
        /// Callee user id or group id.
        receiver_id: String,
        /// `user` or `group`.
        receiver_type: ReceiverType,
        /// `audio` or `video`.
        call_type: CallType,
        /// Ring timeout in seconds; the server's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u32>,
    },
    /// Answer a ringing call (or join an ongoing group call).
    AcceptCall {
        /// Request id.
        id: RequestId,
        /// The call.
        session_id: SessionId,
    },
    /// Decline (`rejected`, `busy`) as callee, or cancel (`cancelled`) as caller.
    RejectCall {
        /// Request id.
        id: RequestId,
        /// The call.
        session_id: SessionId,
        /// `rejected`, `busy` or `cancelled`.
        status: CallStatus,
    },
    /// Hang up (in a group call: leave).
    EndCall {
        /// Request id.
        id: RequestId,
        /// The call.
        session_id: SessionId,
    },
    /// Join an ongoing group call late.
    JoinCall {
        /// Request id.
        id: RequestId,
        /// The call.
        session_id: SessionId,
    },
    /// Tell the other participants this device muted (or unmuted) its
    /// microphone. Answered with `call_reply`.
    SetMuted {
        /// Request id.
        id: RequestId,
        /// The call.
        session_id: SessionId,
        /// Muted now.
        muted: bool,
    },
    /// Media negotiation (SDP offer/answer, ICE candidates, a
    /// [`SignalMessage`](crate::SignalMessage)) for another participant of
    /// the same ongoing call, relayed as is; in a group call, for the
    /// server's forwarder.
    Signal {
        /// Optional request id; only errors are answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// The call.
        session_id: SessionId,
        /// The participant device to deliver to. Omitted: in a 1:1 call,
        /// the other party; in a group call, the forwarder (as is
        /// `@server/forwarder`, the address its own signals come from).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<DeviceAddr>,
        /// Opaque negotiation payload.
        data: serde_json::Value,
    },
    /// Ask for everyone's presence now and for `presence` events from now on.
    SubscribePresence {
        /// Request id.
        id: RequestId,
    },
    /// Keep-alive; answered with `pong`.
    Ping {
        /// Request id.
        id: RequestId,
    },
}

impl ClientMessage {
    /// The request id, if the message has one.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            ClientMessage::InitiateCall { id, .. }
            | ClientMessage::AcceptCall { id, .. }
            | ClientMessage::RejectCall { id, .. }
            | ClientMessage::EndCall { id, .. }
            | ClientMessage::JoinCall { id, .. }
            | ClientMessage::SetMuted { id, .. }
            | ClientMessage::SubscribePresence { id }
            | ClientMessage::Ping { id } => Some(*id),
            ClientMessage::Signal { id, .. } => *id,
        }
    }
}

/// A user's reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// No device connected.
    Offline,
    /// At least one device connected, not in a call.
    Online,
    /// In an ongoing call.
    InCall,
}

/// One user's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPresence {
    /// Who.
    pub user_id: UserId,
    /// Their status.
    pub status: PresenceStatus,
}

/// A STUN or TURN server for ICE, in the shape of WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp`.
    pub urls: Vec<String>,
    /// TURN username (`<expiry>:<user>`), absent for STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (HMAC of the username), absent for STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Stable, machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not a valid message (the message says what is wrong).
    BadRequest,
    /// No such call.
    UnknownCall,
    /// The call has already finished.
    CallFinished,
    /// The caller is not a party to the call.
    NotAParty,
    /// Only group members may do this.
    NotAMember,
    /// No such user or group.
    UnknownReceiver,
    /// The operation does not fit the call's current state.
    InvalidState,
    /// The device is already in another call.
    AlreadyInCall,
    /// Credentials or token not accepted.
    Unauthorized,
    /// Too many attempts; wait and retry.
    RateLimited,
    /// The server is at its connection limit.
    ServerFull,
    /// Something broke on the server; the request was not carried out.
    Internal,
}

/// Messages the server sends over a device's WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    /// First frame after the upgrade.
    Hello {
        /// Protocol version spoken.
        protocol: u32,
        /// Who the token belongs to.
        user_id: UserId,
        /// This connection's device.
        device_id: String,
        /// Server time, for clients that show call timers.
        server_time: Millis,
    },
    /// Success reply to a call request, with the call as it now stands.
    CallReply {
        /// The request's id.
        id: RequestId,
        /// The call.
        call: Call,
    },
    /// Reply to `subscribe_presence`.
    PresenceSnapshot {
        /// The request's id.
        id: RequestId,
        /// Every user's presence.
        users: Vec<UserPresence>,
    },
    /// Reply to `ping`.
    Pong {
        /// The request's id.
        id: RequestId,
    },
    /// A request failed, or a frame could not be understood. Nothing changed.
    Error {
        /// The request's id, when it had one the server could read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// What kind of failure.
        code: ErrorCode,
        /// A sentence for people.
        message: String,
    },
    /// Someone is calling this device.
    IncomingCall {
        /// The call (status `initiated`).
        call: Call,
    },
    /// The callee (or a first group member) answered.
    OutgoingCallAccepted {
        /// The call (status `ongoing`).
        call: Call,
        /// The device that answered.
        by: DeviceAddr,
    },
    /// The call will not be answered: `rejected`, `busy` or `unanswered`.
    OutgoingCallRejected {
        /// The call, final.
        call: Call,
        /// Same as `call.status`, for convenience.
        status: CallStatus,
    },
    /// This device stopped ringing without answering here.
    IncomingCallCancelled {
        /// The call as it now stands.
        call: Call,
        /// Why.
        reason: CancelReason,
    },
    /// The call this device was in is over.
    CallEnded {
        /// The call, `ended`.
        call: Call,
        /// Why.
        reason: EndReason,
        /// Who hung up, if someone did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<DeviceAddr>,
    },
    /// A device joined the call this device is in.
    ParticipantJoined {
        /// The call.
        session_id: SessionId,
        /// Who joined.
        participant: DeviceAddr,
    },
    /// A device left the call this device is in.
    ParticipantLeft {
        /// The call.
        session_id: SessionId,
        /// Who left.
        participant: DeviceAddr,
        /// Why.
        reason: LeaveReason,
    },
    /// Another participant muted or unmuted its microphone (also sent on
    /// joining, for each participant already muted).
    ParticipantMuted {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
        /// Muted now.
        muted: bool,
    },
    /// A group member declined (or was busy).
    ParticipantDeclined {
        /// The call.
        session_id: SessionId,
        /// Who declined.
        user_id: UserId,
        /// `rejected` or `busy`.
        status: CallStatus,
    },
    /// A participant's connection dropped; they have the grace period to return.
    ParticipantReconnecting {
        /// The call.
        session_id: SessionId,
        /// Who dropped.
        participant: DeviceAddr,
    },
    /// A participant came back within the grace period (expect an ICE restart).
    ParticipantReconnected {
        /// The call.
        session_id: SessionId,
        /// Who came back.
        participant: DeviceAddr,
    },
    /// Sent to a device that reconnected within the grace period: it is still in this call.
    CallResumed {
        /// The call as it now stands.
        call: Call,
    },
    /// Negotiation relayed from another participant (in a group call, from
    /// the forwarder, `@server/forwarder`).
    Signal {
        /// The call.
        session_id: SessionId,
        /// The sending device.
        from: DeviceAddr,
        /// The payload, as sent.
        data: serde_json::Value,
    },
    /// STUN/TURN servers (with fresh credentials) for a call's media.
    IceServers {
        /// The call.
        session_id: SessionId,
        /// The servers.
        servers: Vec<IceServer>,
    },
    /// A user's presence changed (sent to devices that subscribed).
    Presence {
        /// Who.
        user_id: UserId,
        /// New status.
        status: PresenceStatus,
    },
}

// ---- HTTP bodies ---------------------------------------------------------

/// `POST /v1/login` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// User id.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /v1/login` success body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Opaque bearer token for HTTP requests and the WebSocket.
    pub token: String,
    /// Who logged in.
    pub user_id: UserId,
    /// When the token stops working.
    pub expires_at: Millis,
}

/// Error body of every failed HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
}

/// One entry of `GET /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Login name.
    pub user_id: UserId,
    /// Name to show.
    pub display_name: String,
    /// Presence now.
    pub presence: PresenceStatus,
}

/// One entry of `GET /v1/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Group id.
    pub group_id: String,
    /// Name to show.
    pub display_name: String,
    /// Member user ids.
    pub members: Vec<UserId>,
}

/// Filters of `GET /v1/calls` (as query parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLogQuery {
    /// `missed`, `incoming` or `outgoing`; all calls when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<CallDirection>,
    /// Only 1:1 calls with this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_user: Option<UserId>,
    /// Only calls to this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// At most this many, newest first (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Call log direction filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// Calls to me that I never answered nor declined.
    Missed,
    /// Calls to me (or to a group of mine by someone else).
    Incoming,
    /// Calls I placed.
    Outgoing,
}

/// `GET /v1/ice-servers` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServersResponse {
    /// The servers, TURN ones with time-limited credentials.
    pub servers: Vec<IceServer>,
}

/// Decode a client frame. The error text says what was wrong, for the reply.
pub fn decode_client(text: &str) -> Result<ClientMessage, String> {
    serde_json::from_str(text).map_err(|e| format!("malformed message: {e}"))
}

/// The `id` of a frame that failed to decode, if one can be read from it.
pub fn salvage_request_id(text: &str) -> Option<RequestId> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("id")?
        .as_u64()
}

//! [`UiEvent`]: the client's events translated for the UI (one Tauri event,
//! [`EVENT`], whose payload is a tagged union). Pure: tested without a window.

use crate::dto::{UiCall, UiPresence};
use serde::Serialize;
use softphone_client::{CallEvent, CallStatus, CancelReason, ConnectionState, EndReason};
use ts_rs::TS;

/// The name of the Tauri event every [`UiEvent`] is emitted under.
pub const EVENT: &str = "softphone://event";

/// The signaling connection, for the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiConnection {
    /// Opening the connection.
    Connecting,
    /// Connected.
    Connected,
    /// Lost; trying again.
    Reconnecting,
    /// Not connected and not trying.
    Disconnected,
}

/// A state change the UI shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiEvent {
    /// Someone is calling this device.
    IncomingCall {
        /// The call.
        call: UiCall,
        /// The caller's name to show.
        caller_name: String,
    },
    /// The callee answered this device's call.
    OutgoingAccepted {
        /// The call, ongoing.
        call: UiCall,
    },
    /// This device's call will not be answered.
    OutgoingRejected {
        /// The call, final.
        call: UiCall,
        /// Why, as a sentence ("Bob is busy.").
        message: String,
    },
    /// This device stopped ringing without answering here.
    IncomingStopped {
        /// The call as it now stands.
        call: UiCall,
        /// Why, as a sentence.
        message: String,
    },
    /// The call this device was in is over.
    CallEnded {
        /// The call, ended.
        call: UiCall,
        /// Why, as a sentence.
        message: String,
    },
    /// This device came back to its call after a reconnect.
    CallResumed {
        /// The call.
        call: UiCall,
    },
    /// Someone joined the call this device is in (group calls).
    ParticipantJoined {
        /// The call.
        session_id: String,
        /// Who.
        user_id: String,
    },
    /// Someone left the call this device is in.
    ParticipantLeft {
        /// The call.
        session_id: String,
        /// Who.
        user_id: String,
    },
    /// Someone in the call muted (`true`) or unmuted their microphone.
    ParticipantMuted {
        /// The call.
        session_id: String,
        /// Who.
        user_id: String,
        /// Muted now.
        muted: bool,
    },
    /// Who is speaking in a group call now, the active speaker first.
    Speakers {
        /// The call.
        session_id: String,
        /// User ids, the active speaker first (empty: nobody).
        speaking: Vec<String>,
    },
    /// A contact's presence changed.
    Presence {
        /// Who.
        user_id: String,
        /// Now.
        presence: UiPresence,
    },
    /// The signaling connection changed state.
    Connection {
        /// The state.
        state: UiConnection,
        /// In words, for the status line.
        message: String,
    },
    /// The call's audio is flowing both ways.
    MediaConnected {
        /// The call.
        session_id: String,
        /// From the answer to connected (ms).
        #[ts(type = "number")]
        after_ms: u64,
    },
    /// The call's audio could not start or broke; the client ended the call.
    MediaFailed {
        /// The call.
        session_id: String,
        /// What went wrong, as a sentence.
        message: String,
    },
    /// A device the call wanted was unavailable; the call goes on without it
    /// or with the system default ("Microphone unavailable: …").
    AudioWarning {
        /// The call.
        session_id: String,
        /// The sentence.
        message: String,
    },
    /// Our camera went on (`source`: its id), off (`None`), or failed
    /// (`failure` says how; video is then off and the call goes on).
    Camera {
        /// The call.
        session_id: String,
        /// The source sending now (`pattern`, `camera:…`, `screen:…`), or
        /// `None`: off.
        source: Option<String>,
        /// A sentence when it was not asked for.
        failure: Option<String>,
    },
    /// Someone's video started showing (their first frame is due).
    VideoStarted {
        /// The call.
        session_id: String,
        /// The stream (the key of its frames, see `video::wire`).
        stream_id: String,
        /// Whose, when known (a user id).
        owner: Option<String>,
    },
    /// Someone's video stopped (no frame for 2 s): their tile goes.
    VideoStopped {
        /// The call.
        session_id: String,
        /// The stream.
        stream_id: String,
    },
    /// The server reported a problem that answers no request.
    ServerError {
        /// Its sentence.
        message: String,
    },
}

impl UiEvent {
    /// The UI event for a client event seen by user `me`; `name` gives a
    /// user's display name. `None` for what the UI does not show (media
    /// negotiation, ICE servers, participant details) and for media figures
    /// (they go through the quality channel, see `audio::stats`).
    pub fn from_client(event: &CallEvent, me: &str, name: &dyn Fn(&str) -> String) -> Option<Self> {
        Some(match event {
            CallEvent::IncomingCallReceived { call } => UiEvent::IncomingCall {
                caller_name: name(&call.initiator),
                call: UiCall::new(call, me),
            },
            CallEvent::OutgoingCallAccepted { call, .. } => UiEvent::OutgoingAccepted {
                call: UiCall::new(call, me),
            },
            CallEvent::OutgoingCallRejected { call, status } => {
                let who = name(&call.receiver);
                let message = match status {
                    CallStatus::Busy => format!("{who} is busy."),
                    CallStatus::Rejected => format!("{who} declined the call."),
                    CallStatus::Unanswered if call.end_reason == Some(EndReason::Offline) => {
                        format!("{who} is offline.")
                    }
                    CallStatus::Unanswered => format!("{who} did not answer."),
                    _ => format!("The call to {who} did not go through."),
                };
                UiEvent::OutgoingRejected {
                    call: UiCall::new(call, me),
                    message,
                }
            }
            CallEvent::IncomingCallCancelled { call, reason } => {
                let who = name(&call.initiator);
                let message = match reason {
                    CancelReason::Cancelled => format!("Missed call from {who}: they hung up."),
                    CancelReason::Unanswered => format!("Missed call from {who}."),
                    CancelReason::AnsweredElsewhere => "Answered on another device.".to_owned(),
                    CancelReason::DeclinedElsewhere => "Declined on another device.".to_owned(),
                    CancelReason::ConnectionLost => format!("The call from {who} was lost."),
                    CancelReason::ServerShutdown => "The server shut down.".to_owned(),
                };
                UiEvent::IncomingStopped {
                    call: UiCall::new(call, me),
                    message,
                }
            }
            CallEvent::CallEnded { call, reason, .. } => {
                let message = match reason {
                    EndReason::Hangup => "Call ended.",
                    EndReason::ConnectionLost => "Call ended: the connection was lost.",
                    EndReason::ServerShutdown => "Call ended: the server shut down.",
                    EndReason::Timeout | EndReason::Offline | EndReason::Busy => "Call ended.",
                };
                UiEvent::CallEnded {
                    call: UiCall::new(call, me),
                    message: message.to_owned(),
                }
            }
            CallEvent::CallResumed { call } => UiEvent::CallResumed {
                call: UiCall::new(call, me),
            },
            CallEvent::ParticipantJoined {
                session_id,
                participant,
            } => UiEvent::ParticipantJoined {
                session_id: session_id.clone(),
                user_id: participant.user_id.clone(),
            },
            CallEvent::ParticipantLeft {
                session_id,
                participant,
                ..
            } => UiEvent::ParticipantLeft {
                session_id: session_id.clone(),
                user_id: participant.user_id.clone(),
            },
            CallEvent::ParticipantMuted {
                session_id,
                participant,
                muted,
            } => UiEvent::ParticipantMuted {
                session_id: session_id.clone(),
                user_id: participant.user_id.clone(),
                muted: *muted,
            },
            CallEvent::ActiveSpeakers {
                session_id,
                speakers,
            } => {
                let mut speaking: Vec<String> = Vec::new();
                for who in speakers {
                    if !speaking.contains(&who.user_id) {
                        speaking.push(who.user_id.clone());
                    }
                }
                UiEvent::Speakers {
                    session_id: session_id.clone(),
                    speaking,
                }
            }
            CallEvent::PresenceChanged { user_id, status } => UiEvent::Presence {
                user_id: user_id.clone(),
                presence: (*status).into(),
            },
            CallEvent::ConnectionStateChanged(state) => connection(state),
            CallEvent::MediaConnected { session_id, after } => UiEvent::MediaConnected {
                session_id: session_id.clone(),
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            },
            CallEvent::MediaFailed { session_id, reason } => UiEvent::MediaFailed {
                session_id: session_id.clone(),
                message: format!("The call's audio failed: {reason}"),
            },
            CallEvent::VideoSourceChanged {
                session_id,
                source,
                failure,
            } => UiEvent::Camera {
                session_id: session_id.clone(),
                source: source.clone(),
                failure: failure
                    .as_ref()
                    .map(|f| format!("The camera stopped: {f}. The call goes on without video.")),
            },
            CallEvent::VideoStarted {
                session_id,
                owner,
                stream_id,
                ..
            } => UiEvent::VideoStarted {
                session_id: session_id.clone(),
                stream_id: stream_id.clone(),
                owner: owner.as_ref().map(|o| o.user_id.clone()),
            },
            CallEvent::VideoStopped {
                session_id,
                stream_id,
                ..
            } => UiEvent::VideoStopped {
                session_id: session_id.clone(),
                stream_id: stream_id.clone(),
            },
            CallEvent::ServerError { message, .. } => UiEvent::ServerError {
                message: message.clone(),
            },
            _ => return None,
        })
    }
}

fn connection(state: &ConnectionState) -> UiEvent {
    let (state, message) = match state {
        ConnectionState::Connecting => (UiConnection::Connecting, "Connecting…".to_owned()),
        ConnectionState::Connected => (UiConnection::Connected, "Connected".to_owned()),
        ConnectionState::Reconnecting { retry_in, .. } => (
            UiConnection::Reconnecting,
            format!(
                "Connection lost; reconnecting in {} s…",
                retry_in.as_secs_f64().ceil()
            ),
        ),
        ConnectionState::Disconnected { reason } => (
            UiConnection::Disconnected,
            format!("Disconnected: {reason}"),
        ),
    };
    UiEvent::Connection { state, message }
}

#[cfg(test)]
#[path = "ui_event_tests.rs"]
mod tests;

//! What the client tells the application: [`CallEvent`] (one per server event,
//! plus connection changes), the [`CallListener`] trait, and the dispatcher
//! that hands each event to every listener and to every event stream.

use futures_util::Stream;
use softphone_proto::{
    Call, CallStatus, CancelReason, DeviceAddr, EndReason, ErrorCode, IceServer, LeaveReason,
    PresenceStatus, ServerMessage, SessionId, UserId,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How many events an [`events`](crate::Client::events) stream may fall
/// behind before it skips some (and gets [`CallEvent::Lagged`]).
pub const EVENT_BUFFER: usize = 256;

/// The state of the signaling connection.
///
/// ```text
///  login ─► Connecting ─► Connected ──drop──► Reconnecting{1} ─► Connecting ─► Connected
///                             │                   ▲    (fails)        │
///                             │                   └── Reconnecting{n+1} ◄┘
///       logout, disconnect,   ▼
///       401 on reconnect ─► Disconnected{reason}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the WebSocket.
    Connecting,
    /// Connected; requests go through and events arrive.
    Connected,
    /// The connection dropped; the next attempt (`attempt`, from 1) starts
    /// after `retry_in`.
    Reconnecting {
        /// Which attempt comes next, from 1.
        attempt: u32,
        /// When it starts.
        retry_in: Duration,
    },
    /// Not connected and not trying: not logged in, logged out, disconnected
    /// on purpose, or the server no longer accepts the session.
    Disconnected {
        /// Why, as a sentence.
        reason: String,
    },
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionState::Connecting => f.write_str("connecting"),
            ConnectionState::Connected => f.write_str("connected"),
            ConnectionState::Reconnecting { attempt, retry_in } => write!(
                f,
                "reconnecting (attempt {attempt} in {} ms)",
                retry_in.as_millis()
            ),
            ConnectionState::Disconnected { reason } => write!(f, "disconnected: {reason}"),
        }
    }
}

/// Everything the client reports: one variant per server event, the
/// connection's state changes, and (on streams only) a lag notice.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// Someone is calling this device (status `initiated`).
    IncomingCallReceived {
        /// The call.
        call: Call,
    },
    /// The callee (or the first group member) answered this device's call.
    OutgoingCallAccepted {
        /// The call, `ongoing`.
        call: Call,
        /// The device that answered.
        by: DeviceAddr,
    },
    /// This device's call will not be answered: `rejected`, `busy` or `unanswered`.
    OutgoingCallRejected {
        /// The call, final.
        call: Call,
        /// Same as `call.status`.
        status: CallStatus,
    },
    /// This device stopped ringing without answering here.
    IncomingCallCancelled {
        /// The call as it now stands.
        call: Call,
        /// Why: cancelled, unanswered, answered or declined elsewhere, ….
        reason: CancelReason,
    },
    /// The call this device was in is over (the other side hung up, the
    /// connection was lost, the server stopped). Not sent for this device's
    /// own `end_call`: its reply says it.
    CallEnded {
        /// The call, `ended`.
        call: Call,
        /// Why.
        reason: EndReason,
        /// Who hung up, if someone did.
        by: Option<DeviceAddr>,
    },
    /// A device joined this device's call.
    ParticipantJoined {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
    },
    /// A device left this device's call.
    ParticipantLeft {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
        /// Why.
        reason: LeaveReason,
    },
    /// A group member declined (`rejected`) or was `busy`.
    ParticipantDeclined {
        /// The call.
        session_id: SessionId,
        /// Who.
        user_id: UserId,
        /// `rejected` or `busy`.
        status: CallStatus,
    },
    /// Another participant muted (`true`) or unmuted its microphone (also
    /// on joining a call, for each participant already muted).
    ParticipantMuted {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
        /// Muted now.
        muted: bool,
    },
    /// Who is speaking now in a group call with media, loudest first (empty:
    /// nobody); sent when it changes. The first is the active speaker.
    ActiveSpeakers {
        /// The call.
        session_id: SessionId,
        /// The participants heard speaking, loudest first.
        speakers: Vec<DeviceAddr>,
    },
    /// A participant's connection dropped; they have a grace period to return.
    ParticipantReconnecting {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
    },
    /// A participant came back within the grace period (expect an ICE restart).
    ParticipantReconnected {
        /// The call.
        session_id: SessionId,
        /// Who.
        participant: DeviceAddr,
    },
    /// This device reconnected within the grace period and is still in this call.
    CallResumed {
        /// The call as it now stands.
        call: Call,
    },
    /// Media negotiation from another participant.
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
    /// A user's presence changed (after [`subscribe_presence`](crate::Client::subscribe_presence)).
    PresenceChanged {
        /// Who.
        user_id: UserId,
        /// Their status now.
        status: PresenceStatus,
    },
    /// The server reported an error that answers no pending request (for
    /// example a refused `send_signal`).
    ServerError {
        /// What kind.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The signaling connection changed state.
    ConnectionStateChanged(ConnectionState),
    /// The call's media session is up (ICE and DTLS-SRTP connected); only
    /// with [`Client::enable_media`](crate::Client::enable_media).
    MediaConnected {
        /// The call.
        session_id: SessionId,
        /// From the accept (the server's `ice_servers` right after it) to connected.
        after: Duration,
    },
    /// Periodic figures of a call's media session (and a last one when it stops).
    MediaStats {
        /// The call.
        session_id: SessionId,
        /// The figures.
        stats: crate::media::MediaStats,
    },
    /// The call's media could not be set up or broke (no answer to the
    /// offer, ICE failure, a device failed). The client has ended the call.
    MediaFailed {
        /// The call.
        session_id: SessionId,
        /// What went wrong, as a sentence.
        reason: String,
    },
    /// The call's microphone or speaker changed: switched on request, or the
    /// one in use failed and the default device (or, without one, silence)
    /// took over. The call goes on.
    MediaDeviceChanged {
        /// The call.
        session_id: SessionId,
        /// The microphone (`true`) or the speaker.
        input: bool,
        /// The device now in use; `None` for silence / no playback.
        device_id: Option<String>,
        /// Why, when it was not a request: what happened to the old one.
        failure: Option<String>,
    },
    /// A remote video stream started showing (its first decoded frame, or
    /// the first after it had stopped); frames go to the
    /// [`VideoSink`](crate::media::VideoSink).
    VideoStarted {
        /// The call.
        session_id: SessionId,
        /// Whose video (the other party of a 1:1 call, the participant a
        /// group call's stream names), when known.
        owner: Option<DeviceAddr>,
        /// The stream id of its track.
        stream_id: String,
        /// Size of the first frame.
        width: u32,
        /// See `width`.
        height: u32,
    },
    /// A remote video stream stopped: no frame shown for 2 s (its camera
    /// was turned off, or the network broke).
    VideoStopped {
        /// The call.
        session_id: SessionId,
        /// Whose video, when known.
        owner: Option<DeviceAddr>,
        /// The stream id of its track.
        stream_id: String,
    },
    /// Our video source changed: turned on, switched or off on request,
    /// or it failed (`failure` says how; video is then off, the call goes
    /// on).
    VideoSourceChanged {
        /// The call.
        session_id: SessionId,
        /// The source now sending (`pattern`, `camera:…`, `screen:…`);
        /// `None`: video off.
        source: Option<String>,
        /// Why, when it was not a request.
        failure: Option<String>,
    },
    /// Only on [`events`](crate::Client::events) streams: this stream fell
    /// behind and `missed` events were skipped.
    Lagged {
        /// How many.
        missed: u64,
    },
}

impl CallEvent {
    /// The event for a server message; `None` for replies and `hello`, which
    /// are not events.
    pub fn from_server(message: ServerMessage) -> Option<CallEvent> {
        Some(match message {
            ServerMessage::Hello { .. }
            | ServerMessage::CallReply { .. }
            | ServerMessage::PresenceSnapshot { .. }
            | ServerMessage::Pong { .. }
            | ServerMessage::Error { id: Some(_), .. } => return None,
            ServerMessage::Error {
                id: None,
                code,
                message,
            } => CallEvent::ServerError { code, message },
            ServerMessage::IncomingCall { call } => CallEvent::IncomingCallReceived { call },
            ServerMessage::OutgoingCallAccepted { call, by } => {
                CallEvent::OutgoingCallAccepted { call, by }
            }
            ServerMessage::OutgoingCallRejected { call, status } => {
                CallEvent::OutgoingCallRejected { call, status }
            }
            ServerMessage::IncomingCallCancelled { call, reason } => {
                CallEvent::IncomingCallCancelled { call, reason }
            }
            ServerMessage::CallEnded { call, reason, by } => {
                CallEvent::CallEnded { call, reason, by }
            }
            ServerMessage::ParticipantJoined {
                session_id,
                participant,
            } => CallEvent::ParticipantJoined {
                session_id,
                participant,
            },
            ServerMessage::ParticipantLeft {
                session_id,
                participant,
                reason,
            } => CallEvent::ParticipantLeft {
                session_id,
                participant,
                reason,
            },
            ServerMessage::ParticipantDeclined {
                session_id,
                user_id,
                status,
            } => CallEvent::ParticipantDeclined {
                session_id,
                user_id,
                status,
            },
            ServerMessage::ParticipantMuted {
                session_id,
                participant,
                muted,
            } => CallEvent::ParticipantMuted {
                session_id,
                participant,
                muted,
            },
            ServerMessage::ParticipantReconnecting {
                session_id,
                participant,
            } => CallEvent::ParticipantReconnecting {
                session_id,
                participant,
            },
            ServerMessage::ParticipantReconnected {
                session_id,
                participant,
            } => CallEvent::ParticipantReconnected {
                session_id,
                participant,
            },
            ServerMessage::CallResumed { call } => CallEvent::CallResumed { call },
            ServerMessage::Signal {
                session_id,
                from,
                data,
            } => CallEvent::Signal {
                session_id,
                from,
                data,
            },
            ServerMessage::IceServers {
                session_id,
                servers,
            } => CallEvent::IceServers {
                session_id,
                servers,
            },
            ServerMessage::Presence { user_id, status } => {
                CallEvent::PresenceChanged { user_id, status }
            }
        })
    }

    /// The call's session id, for events about one call.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            CallEvent::IncomingCallReceived { call }
            | CallEvent::OutgoingCallAccepted { call, .. }
            | CallEvent::OutgoingCallRejected { call, .. }
            | CallEvent::IncomingCallCancelled { call, .. }
            | CallEvent::CallEnded { call, .. }
            | CallEvent::CallResumed { call } => Some(&call.session_id),
            CallEvent::ParticipantJoined { session_id, .. }
            | CallEvent::ParticipantLeft { session_id, .. }
            | CallEvent::ParticipantDeclined { session_id, .. }
            | CallEvent::ParticipantMuted { session_id, .. }
            | CallEvent::ActiveSpeakers { session_id, .. }
            | CallEvent::ParticipantReconnecting { session_id, .. }
            | CallEvent::ParticipantReconnected { session_id, .. }
            | CallEvent::Signal { session_id, .. }
            | CallEvent::IceServers { session_id, .. }
            | CallEvent::MediaConnected { session_id, .. }
            | CallEvent::MediaStats { session_id, .. }
            | CallEvent::MediaFailed { session_id, .. }
            | CallEvent::MediaDeviceChanged { session_id, .. }
            | CallEvent::VideoStarted { session_id, .. }
            | CallEvent::VideoStopped { session_id, .. }
            | CallEvent::VideoSourceChanged { session_id, .. } => Some(session_id),
            CallEvent::PresenceChanged { .. }
            | CallEvent::ServerError { .. }
            | CallEvent::ConnectionStateChanged(_)
            | CallEvent::Lagged { .. } => None,
        }
    }
}

/// Callbacks for call events, in the manner of CometChat's `CallListener`.
/// Every method has a no-op default: implement the ones you need.
///
/// Listeners run on the client's connection task, in the order events
/// arrive (the connection-state changes of `login`, `logout` and
/// `disconnect` themselves run on the task calling those). **They must not
/// block** (no blocking IO, no long locks, no `block_on`): while one runs, no
/// other event is handled and no reply is read. Hand work off to a channel
/// or a spawned task. Calling the [`Client`](crate::Client) from a listener
/// means spawning a task for it. A listener that panics is logged and
/// skipped; the connection goes on.
#[allow(unused_variables)]
pub trait CallListener: Send + Sync {
    /// Someone is calling this device; `call.status` is `initiated`.
    fn on_incoming_call_received(&self, call: &Call) {}
    /// The callee answered this device's call; `call.status` is `ongoing`.
    fn on_outgoing_call_accepted(&self, call: &Call) {}
    /// This device's call will not be answered; `call.status` says why:
    /// `rejected`, `busy` or `unanswered`.
    fn on_outgoing_call_rejected(&self, call: &Call) {}
    /// This device stopped ringing: the caller cancelled, it timed out, or it
    /// was answered or declined on another device of the user.
    fn on_incoming_call_cancelled(&self, call: &Call, reason: CancelReason) {}
    /// The call this device was in is over; `call.end_reason` says why.
    fn on_call_ended_message_received(&self, call: &Call) {}
    /// This device came back within the grace period and is still in `call`.
    fn on_call_resumed(&self, call: &Call) {}
    /// A device joined the call.
    fn on_participant_joined(&self, session_id: &str, participant: &DeviceAddr) {}
    /// A device left the call.
    fn on_participant_left(&self, session_id: &str, participant: &DeviceAddr, reason: LeaveReason) {
    }
    /// A group member declined (`rejected`) or was `busy`.
    fn on_participant_declined(&self, session_id: &str, user_id: &str, status: CallStatus) {}
    /// A participant muted (`true`) or unmuted its microphone.
    fn on_participant_muted(&self, session_id: &str, participant: &DeviceAddr, muted: bool) {}
    /// Who speaks now in a group call, loudest first.
    fn on_active_speakers(&self, session_id: &str, speakers: &[DeviceAddr]) {}
    /// A participant's connection dropped; they may come back.
    fn on_participant_reconnecting(&self, session_id: &str, participant: &DeviceAddr) {}
    /// A participant came back.
    fn on_participant_reconnected(&self, session_id: &str, participant: &DeviceAddr) {}
    /// Media negotiation from another participant.
    fn on_signal_received(&self, session_id: &str, from: &DeviceAddr, data: &serde_json::Value) {}
    /// STUN/TURN servers for a call's media.
    fn on_ice_servers(&self, session_id: &str, servers: &[IceServer]) {}
    /// A user's presence changed.
    fn on_presence_changed(&self, user_id: &str, status: PresenceStatus) {}
    /// The server reported an error that answers no request.
    fn on_server_error(&self, code: ErrorCode, message: &str) {}
    /// The signaling connection changed state.
    fn on_connection_state_changed(&self, state: &ConnectionState) {}
    /// The call's media session connected, `after` the accept.
    fn on_media_connected(&self, session_id: &str, after: Duration) {}
    /// Periodic media figures.
    fn on_media_stats(&self, session_id: &str, stats: &crate::media::MediaStats) {}
    /// The call's media failed; the call has been ended.
    fn on_media_failed(&self, session_id: &str, reason: &str) {}
    /// The call's microphone (`input`) or speaker changed to `device_id`
    /// (`None`: silence), because of `failure` or on request.
    fn on_media_device_changed(
        &self,
        session_id: &str,
        input: bool,
        device_id: Option<&str>,
        failure: Option<&str>,
    ) {
    }
    /// A remote video stream started showing, `width` × `height`.
    fn on_video_started(
        &self,
        session_id: &str,
        owner: Option<&DeviceAddr>,
        stream_id: &str,
        width: u32,
        height: u32,
    ) {
    }
    /// A remote video stream stopped.
    fn on_video_stopped(&self, session_id: &str, owner: Option<&DeviceAddr>, stream_id: &str) {}
    /// Our video source changed to `source` (`None`: off), because of
    /// `failure` or on request.
    fn on_video_source_changed(
        &self,
        session_id: &str,
        source: Option<&str>,
        failure: Option<&str>,
    ) {
    }
}

/// Calls the listener method that matches `event`.
pub(crate) fn deliver(listener: &dyn CallListener, event: &CallEvent) {
    match event {
        CallEvent::IncomingCallReceived { call } => listener.on_incoming_call_received(call),
        CallEvent::OutgoingCallAccepted { call, .. } => listener.on_outgoing_call_accepted(call),
        CallEvent::OutgoingCallRejected { call, .. } => listener.on_outgoing_call_rejected(call),
        CallEvent::IncomingCallCancelled { call, reason } => {
            listener.on_incoming_call_cancelled(call, *reason)
        }
        CallEvent::CallEnded { call, .. } => listener.on_call_ended_message_received(call),
        CallEvent::CallResumed { call } => listener.on_call_resumed(call),
        CallEvent::ParticipantJoined {
            session_id,
            participant,
        } => listener.on_participant_joined(session_id, participant),
        CallEvent::ParticipantLeft {
            session_id,
            participant,
            reason,
        } => listener.on_participant_left(session_id, participant, *reason),
        CallEvent::ParticipantDeclined {
            session_id,
            user_id,
            status,
        } => listener.on_participant_declined(session_id, user_id, *status),
        CallEvent::ParticipantMuted {
            session_id,
            participant,
            muted,
        } => listener.on_participant_muted(session_id, participant, *muted),
        CallEvent::ActiveSpeakers {
            session_id,
            speakers,
        } => listener.on_active_speakers(session_id, speakers),
        CallEvent::ParticipantReconnecting {
            session_id,
            participant,
        } => listener.on_participant_reconnecting(session_id, participant),
        CallEvent::ParticipantReconnected {
            session_id,
            participant,
        } => listener.on_participant_reconnected(session_id, participant),
        CallEvent::Signal {
            session_id,
            from,
            data,
        } => listener.on_signal_received(session_id, from, data),
        CallEvent::IceServers {
            session_id,
            servers,
        } => listener.on_ice_servers(session_id, servers),
        CallEvent::PresenceChanged { user_id, status } => {
            listener.on_presence_changed(user_id, *status)
        }
        CallEvent::ServerError { code, message } => listener.on_server_error(*code, message),
        CallEvent::ConnectionStateChanged(state) => listener.on_connection_state_changed(state),
        CallEvent::MediaConnected { session_id, after } => {
            listener.on_media_connected(session_id, *after)
        }
        CallEvent::MediaStats { session_id, stats } => listener.on_media_stats(session_id, stats),
        CallEvent::MediaFailed { session_id, reason } => {
            listener.on_media_failed(session_id, reason)
        }
        CallEvent::MediaDeviceChanged {
            session_id,
            input,
            device_id,
            failure,
        } => listener.on_media_device_changed(
            session_id,
            *input,
            device_id.as_deref(),
            failure.as_deref(),
        ),
        CallEvent::VideoStarted {
            session_id,
            owner,
            stream_id,
            width,
            height,
        } => listener.on_video_started(session_id, owner.as_ref(), stream_id, *width, *height),
        CallEvent::VideoStopped {
            session_id,
            owner,
            stream_id,
        } => listener.on_video_stopped(session_id, owner.as_ref(), stream_id),
        CallEvent::VideoSourceChanged {
            session_id,
            source,
            failure,
        } => listener.on_video_source_changed(session_id, source.as_deref(), failure.as_deref()),
        CallEvent::Lagged { .. } => {}
    }
}

/// Fans events out to the registered listeners and to every event stream.
pub(crate) struct Dispatcher {
    listeners: Mutex<Vec<(String, Arc<dyn CallListener>)>>,
    sender: broadcast::Sender<CallEvent>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self {
            listeners: Mutex::new(Vec::new()),
            sender: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl Dispatcher {
    /// Adds a listener, replacing one with the same id.
    pub(crate) fn add(&self, id: &str, listener: Arc<dyn CallListener>) {
        let mut listeners = lock(&self.listeners);
        match listeners.iter_mut().find(|(i, _)| i == id) {
            Some(slot) => slot.1 = listener,
            None => listeners.push((id.to_owned(), listener)),
        }
    }

    /// Removes a listener; true if there was one with that id.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut listeners = lock(&self.listeners);
        let before = listeners.len();
        listeners.retain(|(i, _)| i != id);
        listeners.len() != before
    }

    /// Hands `event` to every listener (in the order they were added), then
    /// to every stream. Listeners run outside the lock, so they may add or
    /// remove listeners themselves.
    pub(crate) fn dispatch(&self, event: CallEvent) {
        let listeners: Vec<(String, Arc<dyn CallListener>)> = lock(&self.listeners).clone();
        for (id, listener) in listeners {
            let run = std::panic::AssertUnwindSafe(|| deliver(listener.as_ref(), &event));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!(listener = %id, ?event, "a call listener panicked; event skipped for it");
            }
        }
        // No subscriber is not an error: nobody asked for a stream.
        let _ = self.sender.send(event);
    }

    /// A new stream of the events dispatched from now on.
    pub(crate) fn subscribe(&self) -> impl Stream<Item = CallEvent> + Send + Unpin + 'static {
        event_stream(self.sender.subscribe())
    }
}

/// A broadcast receiver as a stream; lag becomes a [`CallEvent::Lagged`] item.
fn event_stream(
    receiver: broadcast::Receiver<CallEvent>,
) -> impl Stream<Item = CallEvent> + Send + Unpin + 'static {
    Box::pin(futures_util::stream::unfold(
        receiver,
        |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Some((CallEvent::Lagged { missed }, rx))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        },
    ))
}

/// Locks a mutex, recovering it if a panic poisoned it (the data are plain
/// values that stay consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;

//! [`Client`]: the calling API. Log in, place and answer calls, listen for
//! call events, query users, groups and the call log.

use crate::active::Effect;
use crate::config::{parse_server_url, tls_config, websocket_url, ClientConfig, Timing};
use crate::connection::{self, Command, Handle, Hello, Pending, Shared};
use crate::error::{Error, Result};
use crate::events::{lock, CallEvent, CallListener, ConnectionState};
use crate::http::HttpApi;
use futures_util::Stream;
use softphone_proto::{
    Call, CallLogQuery, CallStatus, ClientMessage, DeviceAddr, DeviceId, GroupInfo, IceServer,
    IceServersResponse, LoginRequest, Millis, RequestId, ServerMessage, UserId, UserInfo,
    UserPresence, DEFAULT_RING_TIMEOUT,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who is logged in.
    pub user_id: UserId,
    /// The bearer token (keep it secret; the desktop app keeps it in the OS keyring).
    pub token: String,
    /// This device.
    pub device_id: DeviceId,
    /// When the token stops working, if the server said (it does on password login).
    pub expires_at: Option<Millis>,
}

impl Session {
    /// This device's address.
    pub fn device(&self) -> DeviceAddr {
        DeviceAddr::new(self.user_id.clone(), self.device_id.clone())
    }
}

/// The calling API of one device. Cheap to clone: clones share the session,
/// the connection and the listeners. The connection stops when the last
/// clone is dropped (or on [`logout`](Client::logout) / [`disconnect`](Client::disconnect)).
///
/// Must be used inside a tokio runtime (it spawns the connection task).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    session: Mutex<Option<Session>>,
    connection: Mutex<Option<Handle>>,
    /// Serializes login, logout and disconnect.
    lifecycle: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server_url", &self.inner.shared.config.server_url)
            .field("device_id", &self.inner.shared.config.device_id)
            .field("state", &self.connection_state())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`; nothing is sent until [`login`](Client::login).
    /// Fails on an unusable server URL or CA certificate.
    pub fn new(config: ClientConfig) -> Result<Self> {
        Self::with_timing(config, Timing::default())
    }

    /// Like [`Client::new`], with a non-default reconnect and keep-alive clock.
    pub fn with_timing(config: ClientConfig, timing: Timing) -> Result<Self> {
        if config.device_id.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "the device id is empty; give this device a stable id".to_owned(),
            ));
        }
        let base = parse_server_url(&config.server_url)?;
        let tls = tls_config(config.extra_root_ca_pem.as_deref())?;
        let http = HttpApi::new(base.clone(), &tls, config.request_timeout)?;
        let ws_url = websocket_url(&base, &config.device_id, config.call_waiting);
        let shared = Shared::new(config, timing, tls, ws_url, http);
        Ok(Self {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                session: Mutex::new(None),
                connection: Mutex::new(None),
                lifecycle: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.shared.config
    }

    // ---- session -----------------------------------------------------------

    /// Logs in with a password (HTTP) and opens the signaling connection.
    /// Wrong credentials give [`Error::WrongCredentials`].
    pub async fn login(&self, username: &str, password: &str) -> Result<Session> {
        let _guard = self.inner.lifecycle.lock().await;
        let session = self.authenticate_locked(username, password).await?;
        if let Err(e) = self.open(&session.token).await {
            // Half a login is no login: forget (and revoke) the token.
            lock(&self.inner.session).take();
            let _ = self.inner.shared.http.logout(&session.token).await;
            return Err(e);
        }
        Ok(session)
    }

    /// Logs in over HTTP only, without opening the signaling connection:
    /// enough for the queries ([`users`](Client::users), [`call_log`](Client::call_log), …).
    /// [`connect`](Client::connect) opens the connection later.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Session> {
        let _guard = self.inner.lifecycle.lock().await;
        self.authenticate_locked(username, password).await
    }

    async fn authenticate_locked(&self, username: &str, password: &str) -> Result<Session> {
        if username.trim().is_empty() {
            return Err(Error::InvalidArgument("the username is empty".to_owned()));
        }
        self.close("logging in again").await;
        let request = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let resp = self.inner.shared.http.login(&request).await?;
        let session = Session {
            user_id: resp.user_id,
            token: resp.token,
            device_id: self.inner.shared.config.device_id.clone(),
            expires_at: Some(resp.expires_at),
        };
        *lock(&self.inner.session) = Some(session.clone());
        Ok(session)
    }

    /// Resumes a session from a saved token: opens the signaling connection
    /// with it. A token the server no longer accepts gives [`Error::SessionExpired`].
    pub async fn login_with_token(&self, token: &str) -> Result<Session> {
        let _guard = self.inner.lifecycle.lock().await;
        self.close("logging in again").await;
        let hello = self.open(token).await?;
        let session = Session {
            user_id: hello.user_id,
            token: token.to_owned(),
            device_id: self.inner.shared.config.device_id.clone(),
            expires_at: None,
        };
        *lock(&self.inner.session) = Some(session.clone());
        Ok(session)
    }

    /// Opens the signaling connection for the current session (after
    /// [`authenticate`](Client::authenticate) or [`disconnect`](Client::disconnect)).
    pub async fn connect(&self) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        let token = self.session().ok_or(Error::NotLoggedIn)?.token;
        if self.live_commands().is_some() {
            return Ok(());
        }
        self.open(&token).await.map(drop)
    }

    /// Ends this device's active call (if any), closes the connection and
    /// revokes the token. The session is forgotten even if the server cannot
    /// be told.
    pub async fn logout(&self) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        if let Some(call) = self.active_call() {
            if let Err(e) = self.end_call(&call.session_id).await {
                tracing::warn!(
                    "could not end call {} while logging out: {e}",
                    call.session_id
                );
            }
        }
        self.close("logged out").await;
        let Some(session) = lock(&self.inner.session).take() else {
            return Ok(());
        };
        match self.inner.shared.http.logout(&session.token).await {
            Ok(()) | Err(Error::SessionExpired) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Closes the signaling connection and stops reconnecting, keeping the
    /// session ([`connect`](Client::connect) reopens it). An active call is
    /// not ended: the server keeps it for its grace period.
    pub async fn disconnect(&self) {
        let _guard = self.inner.lifecycle.lock().await;
        self.close("disconnected by the application").await;
    }

    /// The current session, if logged in.
    pub fn session(&self) -> Option<Session> {
        lock(&self.inner.session).clone()
    }

    /// The signaling connection's state now.
    pub fn connection_state(&self) -> ConnectionState {
        lock(&self.inner.shared.state).clone()
    }

    /// This device's current call: set by initiate, accept, join and resume,
    /// kept up to date by events, cleared when the call finishes for this device.
    pub fn active_call(&self) -> Option<Call> {
        lock(&self.inner.shared.active_call).clone()
    }

    async fn open(&self, token: &str) -> Result<Hello> {
        let shared = &self.inner.shared;
        shared.set_state(ConnectionState::Connecting);
        match connection::connect(shared, token).await {
            Ok((ws, hello)) => {
                shared.set_state(ConnectionState::Connected);
                let handle = connection::spawn(shared.clone(), token.to_owned(), ws, hello.clone());
                *lock(&self.inner.connection) = Some(handle);
                Ok(hello)
            }
            Err(e) => {
                let e = Error::from(e);
                shared.set_state(ConnectionState::Disconnected {
                    reason: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// Stops the connection task, if any, and waits (briefly) for it.
    async fn close(&self, reason: &str) {
        let Some(handle) = lock(&self.inner.connection).take() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        let command = Command::Shutdown {
            reason: reason.to_owned(),
            done,
        };
        if handle.commands.send(command).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), wait).await;
        }
        handle.task.abort();
    }

    // ---- calls ---------------------------------------------------------------

    /// Places a call built with [`Call::new`] (and optionally
    /// [`Call::with_ring_timeout`]). The reply is the call with its session
    /// id: `initiated` while ringing; already final (`busy`, `unanswered`)
    /// if nobody could be rung; `ongoing` if the callee was calling us (glare).
    pub async fn initiate_call(&self, call: Call) -> Result<Call> {
        if call.receiver.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "the call has no receiver; give a user id or a group id".to_owned(),
            ));
        }
        let timeout_secs = ring_timeout_secs(call.ring_timeout_ms);
        self.call_request("placing the call", Effect::Enter, None, |id| {
            ClientMessage::InitiateCall {
                id,
                receiver_id: call.receiver,
                receiver_type: call.receiver_type,
                call_type: call.call_type,
                timeout_secs,
            }
        })
        .await
    }

    /// Answers a ringing call (or joins an ongoing group call).
    pub async fn accept_call(&self, session_id: &str) -> Result<Call> {
        let sid = checked(session_id)?;
        self.call_request("accepting the call", Effect::Enter, Some(sid), |id| {
            ClientMessage::AcceptCall {
                id,
                session_id: sid.to_owned(),
            }
        })
        .await
    }

    /// Declines a ringing call ([`CallStatus::Rejected`] or [`CallStatus::Busy`])
    /// as the callee, or cancels it ([`CallStatus::Cancelled`]) as the caller.
    pub async fn reject_call(&self, session_id: &str, status: CallStatus) -> Result<Call> {
        let sid = checked(session_id)?;
        let what = match status {
            CallStatus::Rejected => "declining the call",
            CallStatus::Busy => "declining the call as busy",
            CallStatus::Cancelled => "cancelling the call",
            other => {
                return Err(Error::InvalidArgument(format!(
                    "reject_call takes CallStatus::Rejected, Busy or Cancelled, not {other:?}"
                )))
            }
        };
        self.call_request(what, Effect::Leave, Some(sid), |id| {
            ClientMessage::RejectCall {
                id,
                session_id: sid.to_owned(),
                status,
            }
        })
        .await
    }

    /// Hangs up (in a group call: leaves it). On a call still ringing it
    /// cancels (caller) or declines (callee).
    pub async fn end_call(&self, session_id: &str) -> Result<Call> {
        let sid = checked(session_id)?;
        self.call_request("ending the call", Effect::Leave, Some(sid), |id| {
            ClientMessage::EndCall {
                id,
                session_id: sid.to_owned(),
            }
        })
        .await
    }

    /// Joins an ongoing group call late (or again after leaving).
    pub async fn join_call(&self, session_id: &str) -> Result<Call> {
        let sid = checked(session_id)?;
        self.call_request("joining the call", Effect::Enter, Some(sid), |id| {
            ClientMessage::JoinCall {
                id,
                session_id: sid.to_owned(),
            }
        })
        .await
    }

    /// Tells the other participants of the call that this device muted
    /// (`true`) or unmuted its microphone (they get
    /// [`CallEvent::ParticipantMuted`]). It does not mute anything itself:
    /// [`MediaHandle::set_muted`](crate::media::MediaHandle::set_muted) does
    /// both.
    pub async fn set_muted(&self, session_id: &str, muted: bool) -> Result<Call> {
        let sid = checked(session_id)?;
        self.call_request(
            "telling the call about the mute",
            Effect::None,
            Some(sid),
            |id| ClientMessage::SetMuted {
                id,
                session_id: sid.to_owned(),
                muted,
            },
        )
        .await
    }

    /// Sends media negotiation (SDP, ICE candidates) to another participant
    /// of an ongoing call; `to: None` means "the other party" in a 1:1 call
    /// and the server's forwarder in a group call.
    /// Returns once the message is written; a refusal arrives later as
    /// [`CallEvent::ServerError`].
    pub async fn send_signal(
        &self,
        session_id: &str,
        to: Option<DeviceAddr>,
        data: serde_json::Value,
    ) -> Result<()> {
        let what = "sending media negotiation";
        let commands = self.commands()?;
        let (done, wait) = oneshot::channel();
        let message = ClientMessage::Signal {
            id: None,
            session_id: checked(session_id)?.to_owned(),
            to,
            data,
        };
        commands
            .send(Command::Send {
                message,
                what,
                done,
            })
            .map_err(|_| self.not_connected())?;
        self.wait(what, wait).await
    }

    /// Asks for every user's presence now, and for
    /// [`CallEvent::PresenceChanged`] events from now on (renewed by itself
    /// after a reconnect).
    pub async fn subscribe_presence(&self) -> Result<Vec<UserPresence>> {
        let reply = self
            .request("subscribing to presence", Effect::None, None, |id| {
                ClientMessage::SubscribePresence { id }
            })
            .await?;
        match reply {
            ServerMessage::PresenceSnapshot { users, .. } => Ok(users),
            other => Err(unexpected("presence_snapshot", &other)),
        }
    }

    /// Round trip to the server over the signaling connection.
    pub async fn ping(&self) -> Result<Duration> {
        let start = Instant::now();
        self.request("pinging the server", Effect::None, None, |id| {
            ClientMessage::Ping { id }
        })
        .await?;
        Ok(start.elapsed())
    }

    // ---- listeners -------------------------------------------------------------

    /// Registers a listener under `id` (replacing one with the same id).
    /// Listeners run on the connection task and must not block; see
    /// [`CallListener`].
    pub fn add_call_listener(&self, id: &str, listener: Arc<dyn CallListener>) {
        self.inner.shared.dispatcher.add(id, listener);
    }

    /// Removes the listener registered under `id`; true if there was one.
    pub fn remove_call_listener(&self, id: &str) -> bool {
        self.inner.shared.dispatcher.remove(id)
    }

    /// A stream of every event from now on. A stream that falls more than
    /// [`EVENT_BUFFER`](crate::EVENT_BUFFER) events behind skips the oldest
    /// and yields [`CallEvent::Lagged`]. It ends when the client is dropped.
    pub fn events(&self) -> impl Stream<Item = CallEvent> + Send + Unpin + 'static {
        self.inner.shared.dispatcher.subscribe()
    }

    // ---- queries (HTTP) ----------------------------------------------------------

    /// Every user, with their presence.
    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        self.get("listing users", &["v1", "users"], &NO_QUERY).await
    }

    /// The groups this user can see.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>> {
        self.get("listing groups", &["v1", "groups"], &NO_QUERY)
            .await
    }

    /// This user's call log, newest first.
    pub async fn call_log(&self, query: CallLogQuery) -> Result<Vec<Call>> {
        self.get("reading the call log", &["v1", "calls"], &query)
            .await
    }

    /// One call of the log.
    pub async fn call(&self, session_id: &str) -> Result<Call> {
        let sid = checked(session_id)?;
        self.get("reading the call", &["v1", "calls", sid], &NO_QUERY)
            .await
    }

    /// STUN/TURN servers, TURN ones with fresh time-limited credentials.
    pub async fn ice_servers(&self) -> Result<Vec<IceServer>> {
        let resp: IceServersResponse = self
            .get("getting ICE servers", &["v1", "ice-servers"], &NO_QUERY)
            .await?;
        Ok(resp.servers)
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        segments: &[&str],
        query: &(impl serde::Serialize + ?Sized),
    ) -> Result<T> {
        let token = self.session().ok_or(Error::NotLoggedIn)?.token;
        self.inner
            .shared
            .http
            .get(what, &token, segments, query)
            .await
    }

    // ---- plumbing ------------------------------------------------------------------

    async fn call_request(
        &self,
        what: &'static str,
        effect: Effect,
        session_id: Option<&str>,
        build: impl FnOnce(RequestId) -> ClientMessage,
    ) -> Result<Call> {
        match self.request(what, effect, session_id, build).await? {
            ServerMessage::CallReply { call, .. } => Ok(call),
            other => Err(unexpected("call_reply", &other)),
        }
    }

    async fn request(
        &self,
        what: &'static str,
        effect: Effect,
        session_id: Option<&str>,
        build: impl FnOnce(RequestId) -> ClientMessage,
    ) -> Result<ServerMessage> {
        let commands = self.commands()?;
        let id = self.inner.shared.next_request_id();
        let (reply, wait) = oneshot::channel();
        let pending = Pending {
            what,
            effect,
            session_id: session_id.map(str::to_owned),
            reply: Some(reply),
        };
        commands
            .send(Command::Request {
                message: build(id),
                pending,
            })
            .map_err(|_| self.not_connected())?;
        self.wait(what, wait).await
    }

    async fn wait<T>(&self, what: &'static str, wait: oneshot::Receiver<Result<T>>) -> Result<T> {
        let timeout = self.inner.shared.config.request_timeout;
        match tokio::time::timeout(timeout, wait).await {
            Err(_) => Err(Error::Timeout { what, timeout }),
            Ok(Err(_)) => Err(Error::ConnectionLost { what }),
            Ok(Ok(result)) => result,
        }
    }

    fn live_commands(&self) -> Option<tokio::sync::mpsc::UnboundedSender<Command>> {
        lock(&self.inner.connection)
            .as_ref()
            .map(|h| h.commands.clone())
            .filter(|c| !c.is_closed())
    }

    fn commands(&self) -> Result<tokio::sync::mpsc::UnboundedSender<Command>> {
        self.live_commands().ok_or_else(|| self.not_connected())
    }

    fn not_connected(&self) -> Error {
        if lock(&self.inner.session).is_none() {
            Error::NotLoggedIn
        } else {
            Error::NotConnected {
                state: self.connection_state().to_string(),
            }
        }
    }
}

/// A [`Client`] that does not keep it alive (for the media sessions, which
/// the client itself owns through its listeners).
#[derive(Clone)]
pub(crate) struct WeakClient(std::sync::Weak<Inner>);

impl WeakClient {
    /// The client, if any clone of it is still alive.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

impl Client {
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }

    /// Hands an event of the client's own (media) to listeners and streams.
    pub(crate) fn dispatch(&self, event: CallEvent) {
        self.inner.shared.dispatcher.dispatch(event);
    }
}

const NO_QUERY: [(&str, &str); 0] = [];

/// `timeout_secs` for a ring timeout: absent for the default, else whole
/// seconds rounded up.
pub(crate) fn ring_timeout_secs(ring_timeout_ms: u64) -> Option<u32> {
    let default_ms = DEFAULT_RING_TIMEOUT.as_millis() as u64;
    (ring_timeout_ms != default_ms)
        .then(|| u32::try_from(ring_timeout_ms.div_ceil(1000)).unwrap_or(u32::MAX))
}

fn checked(session_id: &str) -> Result<&str> {
    if session_id.trim().is_empty() {
        Err(Error::InvalidArgument("the session id is empty".to_owned()))
    } else {
        Ok(session_id)
    }
}

fn unexpected(expected: &str, got: &ServerMessage) -> Error {
    let got = serde_json::to_value(got)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    Error::Protocol(format!("expected {expected}, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_timeouts_round_up_and_default_is_omitted() {
        assert_eq!(ring_timeout_secs(45_000), None);
        assert_eq!(ring_timeout_secs(30_000), Some(30));
        assert_eq!(ring_timeout_secs(1_500), Some(2));
        assert_eq!(ring_timeout_secs(1), Some(1));
        assert_eq!(ring_timeout_secs(0), Some(0));
        assert_eq!(ring_timeout_secs(u64::MAX), Some(u32::MAX));
    }
}

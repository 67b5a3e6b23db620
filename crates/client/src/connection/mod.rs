//! The signaling connection: one task per logged-in client that owns the
//! WebSocket, sends requests, matches replies to them (the pending map),
//! turns everything else into events, keeps the connection alive and
//! reconnects with backoff when it drops.
//!
//! The task is the only owner of the socket and of the pending map, so
//! neither needs a lock. The [`Client`](crate::Client) talks to it through a
//! command channel; when every `Client` clone is gone, the channel closes and
//! the task stops.

mod dial;
mod pending;

pub(crate) use dial::{connect, Backoff, ConnectError, Hello, Ws};
pub(crate) use pending::{reply_id, Pending, PendingRequests};

use crate::active::{self, Effect};
use crate::config::{ClientConfig, Timing};
use crate::error::{chain, Error, Result};
use crate::events::{lock, CallEvent, ConnectionState, Dispatcher};
use crate::http::HttpApi;
use futures_util::{SinkExt, StreamExt};
use softphone_proto::{
    salvage_request_id, Call, ClientMessage, DeviceAddr, Millis, RequestId, ServerMessage,
};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// State shared by the [`Client`](crate::Client) and its connection task.
pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    pub(crate) timing: Timing,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) ws_url: url::Url,
    pub(crate) http: HttpApi,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) active_call: Mutex<Option<Call>>,
    pub(crate) state: Mutex<ConnectionState>,
    next_id: AtomicU64,
    /// Server clock minus local clock, in ms, from the last `hello`.
    clock_offset_ms: AtomicI64,
}

impl Shared {
    pub(crate) fn new(
        config: ClientConfig,
        timing: Timing,
        tls: Arc<rustls::ClientConfig>,
        ws_url: url::Url,
        http: HttpApi,
    ) -> Self {
        Self {
            config,
            timing,
            tls,
            ws_url,
            http,
            dispatcher: Dispatcher::default(),
            active_call: Mutex::new(None),
            state: Mutex::new(ConnectionState::Disconnected {
                reason: "not logged in".to_owned(),
            }),
            next_id: AtomicU64::new(1),
            clock_offset_ms: AtomicI64::new(0),
        }
    }

    /// Records and announces a new connection state.
    pub(crate) fn set_state(&self, state: ConnectionState) {
        *lock(&self.state) = state.clone();
        self.dispatcher
            .dispatch(CallEvent::ConnectionStateChanged(state));
    }

    /// A fresh request id.
    pub(crate) fn next_request_id(&self) -> RequestId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Records server clock minus local clock, from a `hello`.
    fn set_clock_offset(&self, offset_ms: i64) {
        self.clock_offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// The server's clock now, as estimated from the last `hello`.
    fn server_now(&self) -> Millis {
        let offset = self.clock_offset_ms.load(Ordering::Relaxed);
        local_now_ms().saturating_add_signed(offset)
    }
}

fn local_now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// What the client asks of its connection task.
pub(crate) enum Command {
    /// Send a request and route its reply.
    Request {
        message: ClientMessage,
        pending: Pending,
    },
    /// Send a message that gets no reply; `done` says whether it was written.
    Send {
        message: ClientMessage,
        what: &'static str,
        done: oneshot::Sender<Result<()>>,
    },
    /// What the server's log says of the active call (after a reconnect).
    Reconcile(Box<Call>),
    /// Close the connection and stop.
    Shutdown {
        reason: String,
        done: oneshot::Sender<()>,
    },
}

/// The client's end of a running connection task.
pub(crate) struct Handle {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Starts the task for a connection that just said hello.
pub(crate) fn spawn(shared: Arc<Shared>, token: String, ws: Ws, hello: Hello) -> Handle {
    let (tx, rx) = mpsc::unbounded_channel();
    let me = DeviceAddr::new(hello.user_id, shared.config.device_id.clone());
    let task = Task {
        shared,
        token,
        me,
        commands: rx,
        weak: tx.downgrade(),
        pending: PendingRequests::default(),
        presence_subscribed: false,
    };
    Handle {
        commands: tx,
        task: tokio::spawn(task.run(ws)),
    }
}

/// How a connected session of the loop ended.
enum End {
    Shutdown(String, oneshot::Sender<()>),
    ClientGone,
    Dropped(String),
}

/// Why the reconnect loop gave up.
enum Stop {
    Shutdown(String, oneshot::Sender<()>),
    ClientGone,
    Unauthorized,
}

struct Task {
    shared: Arc<Shared>,
    token: String,
    me: DeviceAddr,
    commands: mpsc::UnboundedReceiver<Command>,
    weak: mpsc::WeakUnboundedSender<Command>,
    pending: PendingRequests,
    presence_subscribed: bool,
}

impl Task {
    async fn run(mut self, mut ws: Ws) {
        let mut reconnected = false;
        loop {
            let end = self.connected(&mut ws, reconnected).await;
            self.pending.fail_all(|what| Error::ConnectionLost { what });
            match end {
                End::Shutdown(reason, done) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    self.finish(reason);
                    let _ = done.send(());
                    return;
                }
                End::ClientGone => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return;
                }
                End::Dropped(why) => {
                    tracing::warn!("signaling connection lost: {why}; reconnecting");
                }
            }
            match self.reconnect().await {
                Ok(new) => {
                    ws = new;
                    reconnected = true;
                }
                Err(Stop::Shutdown(reason, done)) => {
                    self.finish(reason);
                    let _ = done.send(());
                    return;
                }
                Err(Stop::ClientGone) => return,
                Err(Stop::Unauthorized) => {
                    self.finish(Error::SessionExpired.to_string());
                    return;
                }
            }
        }
    }

    /// The task stops for good: nothing is active any more.
    fn finish(&self, reason: String) {
        *lock(&self.shared.active_call) = None;
        self.shared
            .set_state(ConnectionState::Disconnected { reason });
    }

    /// Runs a live connection until it ends.
    async fn connected(&mut self, ws: &mut Ws, reconnected: bool) -> End {
        let keepalive = self.shared.timing.keepalive_timeout;
        let mut last_frame = Instant::now();
        let mut resume_check = None;
        if reconnected {
            self.shared.set_state(ConnectionState::Connected);
            if lock(&self.shared.active_call).is_some() {
                resume_check = Some(Instant::now() + self.shared.timing.resume_check_delay);
            }
            if self.presence_subscribed {
                let id = self.shared.next_request_id();
                let pending = Pending {
                    what: "subscribing to presence",
                    effect: Effect::None,
                    session_id: None,
                    reply: None,
                };
                if let Err(end) = self
                    .send_request(ws, ClientMessage::SubscribePresence { id }, pending)
                    .await
                {
                    return end;
                }
            }
        }
        loop {
            let resume_at = resume_check.unwrap_or_else(Instant::now);
            tokio::select! {
                frame = ws.next() => {
                    last_frame = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if self.handle_text(&text) {
                                resume_check = None;
                            }
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queues the pong; make sure it goes out now.
                            if let Err(e) = ws.flush().await {
                                return End::Dropped(chain(&e));
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map_or_else(String::new, |f| format!(": {} {}", u16::from(f.code), f.reason));
                            return End::Dropped(format!("the server closed the connection{why}"));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return End::Dropped(chain(&e)),
                        None => return End::Dropped("the connection closed".to_owned()),
                    }
                }
                command = self.commands.recv() => match command {
                    None => return End::ClientGone,
                    Some(Command::Shutdown { reason, done }) => return End::Shutdown(reason, done),
                    Some(Command::Request { message, pending }) => {
                        if let Err(end) = self.send_request(ws, message, pending).await {
                            return end;
                        }
                    }
                    Some(Command::Send { message, what, done }) => {
                        match send_json(ws, &message).await {
                            Ok(()) => { let _ = done.send(Ok(())); }
                            Err(why) => {
                                let _ = done.send(Err(Error::ConnectionLost { what }));
                                return End::Dropped(why);
                            }
                        }
                    }
                    Some(Command::Reconcile(call)) => self.reconcile(*call),
                },
                () = tokio::time::sleep_until(last_frame + keepalive) => {
                    return End::Dropped(format!(
                        "no frame from the server for {} s",
                        keepalive.as_secs_f32()
                    ));
                }
                () = tokio::time::sleep_until(resume_at), if resume_check.is_some() => {
                    resume_check = None;
                    self.spawn_resume_check();
                }
            }
        }
    }

    async fn send_request(
        &mut self,
        ws: &mut Ws,
        message: ClientMessage,
        pending: Pending,
    ) -> Result<(), End> {
        let Some(id) = message.request_id() else {
            tracing::error!(?message, "a request without an id cannot be answered");
            return Ok(());
        };
        let what = pending.what;
        self.pending.insert(id, pending);
        if let Err(why) = send_json(ws, &message).await {
            if let Some(p) = self.pending.take(id).and_then(|p| p.reply) {
                let _ = p.send(Err(Error::ConnectionLost { what }));
            }
            return Err(End::Dropped(why));
        }
        Ok(())
    }

    /// Handles one text frame. True if it was a `call_resumed` for the active call.
    fn handle_text(&mut self, text: &str) -> bool {
        let message = match serde_json::from_str::<ServerMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                let error = Error::Protocol(format!("unreadable frame: {e}"));
                match salvage_request_id(text).and_then(|id| self.pending.take(id)) {
                    Some(Pending {
                        reply: Some(tx), ..
                    }) => {
                        let _ = tx.send(Err(error));
                    }
                    _ => tracing::warn!(
                        "ignoring a frame this client cannot read: {e}: {}",
                        text.chars().take(300).collect::<String>()
                    ),
                }
                return false;
            }
        };
        if let Some(id) = reply_id(&message) {
            self.handle_reply(id, message);
            return false;
        }
        let resumed = {
            let mut active = lock(&self.shared.active_call);
            let was = active.as_ref().map(|c| c.session_id.clone());
            active::on_event(&mut active, &self.me, &message, self.shared.server_now());
            matches!(&message, ServerMessage::CallResumed { call } if Some(&call.session_id) == was.as_ref())
        };
        if let Some(event) = CallEvent::from_server(message) {
            self.shared.dispatcher.dispatch(event);
        }
        resumed
    }

    fn handle_reply(&mut self, id: RequestId, message: ServerMessage) {
        let Some(p) = self.pending.take(id) else {
            tracing::debug!(id, "reply to a request nobody waits for");
            return;
        };
        let result = match message {
            ServerMessage::Error { code, message, .. } => {
                active::on_refusal(
                    &mut lock(&self.shared.active_call),
                    p.session_id.as_deref(),
                    code,
                );
                Err(Error::Call {
                    what: p.what,
                    code,
                    message,
                })
            }
            ServerMessage::CallReply { id, call } => {
                active::on_reply(&mut lock(&self.shared.active_call), p.effect, &call);
                Ok(ServerMessage::CallReply { id, call })
            }
            ServerMessage::PresenceSnapshot { id, users } => {
                self.presence_subscribed = true;
                if p.reply.is_none() {
                    // Our own re-subscription after a reconnect: tell what changed as events.
                    for u in users {
                        self.shared.dispatcher.dispatch(CallEvent::PresenceChanged {
                            user_id: u.user_id,
                            status: u.status,
                        });
                    }
                    return;
                }
                Ok(ServerMessage::PresenceSnapshot { id, users })
            }
            other => Ok(other),
        };
        match p.reply {
            Some(tx) => {
                if tx.send(result).is_err() {
                    tracing::debug!(id, what = p.what, "the reply came after its caller gave up");
                }
            }
            None => {
                if let Err(e) = result {
                    tracing::warn!("{e}");
                }
            }
        }
    }

    /// After a reconnect without `call_resumed`: ask the call log what became
    /// of the active call; the answer comes back as [`Command::Reconcile`].
    fn spawn_resume_check(&self) {
        let Some(session_id) = lock(&self.shared.active_call)
            .as_ref()
            .map(|c| c.session_id.clone())
        else {
            return;
        };
        let shared = self.shared.clone();
        let token = self.token.clone();
        let weak = self.weak.clone();
        tokio::spawn(async move {
            let segments = ["v1", "calls", session_id.as_str()];
            let no_query: &[(&str, &str)] = &[];
            match shared
                .http
                .get::<Call>("checking the call", &token, &segments, no_query)
                .await
            {
                Ok(call) => {
                    if let Some(tx) = weak.upgrade() {
                        let _ = tx.send(Command::Reconcile(Box::new(call)));
                    }
                }
                Err(e) => {
                    tracing::warn!("could not check call {session_id} after reconnecting: {e}")
                }
            }
        });
    }

    fn reconcile(&self, call: Call) {
        let event = active::reconcile(&mut lock(&self.shared.active_call), &self.me, call);
        if let Some(event) = event {
            self.shared.dispatcher.dispatch(event);
        }
    }

    /// Tries to reconnect until it works, the client stops it, or the server
    /// refuses the session. Requests made meanwhile fail at once.
    async fn reconnect(&mut self) -> Result<Ws, Stop> {
        let timing = self.shared.timing;
        let mut backoff = Backoff::new(timing.backoff_initial, timing.backoff_max);
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let delay = backoff.next_delay();
            self.shared.set_state(ConnectionState::Reconnecting {
                attempt,
                retry_in: delay,
            });
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = self.commands.recv() => self.offline(command)?,
                }
            }
            self.shared.set_state(ConnectionState::Connecting);
            let shared = self.shared.clone();
            let token = self.token.clone();
            let attempt_fut = async move { connect(&shared, &token).await };
            tokio::pin!(attempt_fut);
            let result = loop {
                tokio::select! {
                    result = &mut attempt_fut => break result,
                    command = self.commands.recv() => self.offline(command)?,
                }
            };
            match result {
                Ok((ws, _hello)) => return Ok(ws),
                Err(ConnectError::Unauthorized) => return Err(Stop::Unauthorized),
                Err(ConnectError::Other(e)) => {
                    tracing::info!(attempt, "reconnect failed: {e}");
                }
            }
        }
    }

    /// A command while there is no connection.
    fn offline(&mut self, command: Option<Command>) -> Result<(), Stop> {
        let not_connected = || Error::NotConnected {
            state: lock(&self.shared.state).to_string(),
        };
        match command {
            None => Err(Stop::ClientGone),
            Some(Command::Shutdown { reason, done }) => Err(Stop::Shutdown(reason, done)),
            Some(Command::Request { pending, .. }) => {
                if let Some(tx) = pending.reply {
                    let _ = tx.send(Err(not_connected()));
                }
                Ok(())
            }
            Some(Command::Send { done, .. }) => {
                let _ = done.send(Err(not_connected()));
                Ok(())
            }
            Some(Command::Reconcile(_)) => Ok(()),
        }
    }
}

async fn send_json(ws: &mut Ws, message: &ClientMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    ws.send(Message::text(text)).await.map_err(|e| chain(&e))
}

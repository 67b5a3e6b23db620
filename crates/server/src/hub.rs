//! The hub: drives the call machine ([`Switchboard`]) and owns the registry of
//! connected devices.
//!
//! Every input — a device connecting or going away, a call request, a timer
//! firing — takes the one lock, feeds the machine with the time, and then,
//! still under the lock, carries out every action the machine emits, in
//! order: messages go into the devices' outbound queues (`try_send`, never
//! awaited), call-log rows go to the [writer](crate::store::writer) (never
//! awaited), presence goes to subscribed connections, ICE servers are minted,
//! group-call media changes go to the forwarder (a channel, never awaited).
//! Nothing under the lock awaits, so a slow disk or a slow socket never
//! holds up call routing; and because actions are queued under the lock, two
//! inputs' messages never interleave. A request's reply is queued before its
//! actions.
//!
//! A device's outbound queue is bounded; a device that lets it fill up is too
//! slow and is dropped (which the machine then sees as the device going away).
//!
//! Connections carry a generation number: when a device connects again while
//! its old connection is still open, the new one replaces it (the old one is
//! closed with a reason), and the old one's clean-up, seeing a stale
//! generation, leaves the new one alone.

use crate::store::now_ms;
use crate::store::writer::CallLogWriter;
use crate::turn::TurnConfig;
use axum::extract::ws::Utf8Bytes;
use softphone_forwarder::{Forwarder, Outgoing};
use softphone_proto::{
    Action, Call, CallError, DeviceAddr, ErrorCode, Millis, PresenceStatus, RequestId,
    ServerMessage, Switchboard, UserPresence, PROTOCOL_VERSION,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Outbound queue length per connection.
pub const QUEUE_LEN: usize = 512;

/// WebSocket close code for "this connection was replaced by a newer one".
pub const CLOSE_REPLACED: u16 = 4000;
/// WebSocket close code for "going away" (server shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code for a connection that did not keep up.
pub const CLOSE_TOO_SLOW: u16 = 1008;

/// What a connection's send task writes to its socket.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A serialized [`ServerMessage`].
    Text(Utf8Bytes),
    /// A close frame, after which the connection ends.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Why, for people.
        reason: &'static str,
    },
}

/// One connection's view of the hub: its address, generation and queue.
#[derive(Debug)]
pub struct Registration {
    /// The device.
    pub addr: DeviceAddr,
    /// This connection's generation.
    pub generation: u64,
    /// Where the send task reads from.
    pub outbound: mpsc::Receiver<Outbound>,
    /// Notified when the hub wants this connection gone at once.
    pub kill: Arc<Notify>,
}

struct Conn {
    generation: u64,
    tx: mpsc::Sender<Outbound>,
    kill: Arc<Notify>,
    presence: bool,
}

struct Inner {
    switchboard: Switchboard,
    conns: HashMap<DeviceAddr, Conn>,
    next_generation: u64,
    /// The last time handed to the machine; time never goes backwards for it.
    last_now: Millis,
    closing: bool,
}

impl Inner {
    fn now(&mut self) -> Millis {
        self.last_now = self.last_now.max(now_ms());
        self.last_now
    }

    fn is_current(&self, addr: &DeviceAddr, generation: u64) -> bool {
        self.conns
            .get(addr)
            .is_some_and(|c| c.generation == generation)
    }
}

/// The switchboard driver and connection registry. See the module docs.
pub struct Hub {
    inner: Mutex<Inner>,
    wake: Notify,
    writer: CallLogWriter,
    turn: TurnConfig,
    forwarder: Option<Forwarder>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with an empty switchboard. Group calls' media goes through
    /// `forwarder` (none: group calls carry no media).
    pub fn new(
        config: softphone_proto::Config,
        writer: CallLogWriter,
        turn: TurnConfig,
        forwarder: Option<Forwarder>,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                switchboard: Switchboard::new(config),
                conns: HashMap::new(),
                next_generation: 1,
                last_now: 0,
                closing: false,
            }),
            wake: Notify::new(),
            writer,
            turn,
            forwarder,
        }
    }

    /// Delivers what the forwarder says to a member, as a `signal` from
    /// `@server/forwarder` (if the member is still connected).
    pub fn from_forwarder(&self, out: Outgoing) {
        let guard = self.lock();
        let message = ServerMessage::Signal {
            session_id: out.session_id,
            from: DeviceAddr::forwarder(),
            data: out.data,
        };
        deliver(&guard.conns, &out.to, &message);
    }

    /// The forwarder's figures (none without one).
    pub fn forwarder_stats(&self) -> Option<softphone_forwarder::ForwarderStats> {
        self.forwarder.as_ref().map(Forwarder::stats)
    }

    /// Stops the forwarder's connections (after [`Hub::shutdown`]).
    pub async fn stop_forwarder(&self) {
        if let Some(forwarder) = &self.forwarder {
            forwarder.shutdown().await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under the lock would be a bug; keep serving rather than
        // poisoning every later request.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection: queues `hello`, replaces (and closes) an
    /// older connection of the same device, and tells the machine the device
    /// is online. `None` once the server is shutting down.
    pub fn connect(&self, addr: DeviceAddr, call_waiting: bool) -> Option<Registration> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.closing {
            return None;
        }
        let now = inner.now();
        let generation = inner.next_generation;
        inner.next_generation += 1;
        let (tx, outbound) = mpsc::channel(QUEUE_LEN);
        let kill = Arc::new(Notify::new());
        let hello = ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            user_id: addr.user_id.clone(),
            device_id: addr.device_id.clone(),
            server_time: now,
        };
        if let Some(text) = encode(&hello) {
            let _ = tx.try_send(Outbound::Text(text));
        }
        let conn = Conn {
            generation,
            tx,
            kill: kill.clone(),
            presence: false,
        };
        if let Some(old) = inner.conns.insert(addr.clone(), conn) {
            tracing::info!(device = %addr, "a newer connection replaces this device's open one");
            close(
                &old,
                CLOSE_REPLACED,
                "replaced by a newer connection of this device",
            );
            // The old connection is gone as far as the machine is concerned:
            // calls get the grace period and resume at once below, ringing
            // starts again on the new connection.
            inner.switchboard.device_offline(now, &addr);
            self.dispatch(inner, now);
        }
        inner
            .switchboard
            .device_online(now, addr.clone(), call_waiting);
        self.dispatch(inner, now);
        drop(guard);
        self.wake.notify_one();
        Some(Registration {
            addr,
            generation,
            outbound,
            kill,
        })
    }

    /// A connection ended. If it is still the device's current one, the
    /// machine hears the device went away.
    pub fn disconnect(&self, addr: &DeviceAddr, generation: u64) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.is_current(addr, generation) {
            return;
        }
        inner.conns.remove(addr);
        if inner.closing {
            return;
        }
        let now = inner.now();
        inner.switchboard.device_offline(now, addr);
        self.dispatch(inner, now);
        drop(guard);
        self.wake.notify_one();
    }

    /// Runs a call request against the machine, queues the reply
    /// (`call_reply` or `error`) to the requesting connection, then the actions.
    pub fn call_request<F>(&self, addr: &DeviceAddr, generation: u64, id: RequestId, op: F)
    where
        F: FnOnce(&mut Switchboard, Millis) -> Result<Call, CallError>,
    {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.is_current(addr, generation) || inner.closing {
            return;
        }
        let now = inner.now();
        let reply = match op(&mut inner.switchboard, now) {
            Ok(call) => ServerMessage::CallReply { id, call },
            Err(err) => error_message(Some(id), &err),
        };
        deliver(&inner.conns, addr, &reply);
        self.dispatch(inner, now);
        drop(guard);
        self.wake.notify_one();
    }

    /// Relays negotiation through the machine; only errors are answered.
    pub fn signal(
        &self,
        addr: &DeviceAddr,
        generation: u64,
        id: Option<RequestId>,
        session_id: &str,
        to: Option<DeviceAddr>,
        data: serde_json::Value,
    ) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.is_current(addr, generation) || inner.closing {
            return;
        }
        let now = inner.now();
        if let Err(err) = inner.switchboard.signal(now, addr, session_id, to, data) {
            deliver(&inner.conns, addr, &error_message(id, &err));
        }
        self.dispatch(inner, now);
        drop(guard);
        self.wake.notify_one();
    }

    /// Subscribes a connection to presence and queues the snapshot of
    /// `users` (every user, from the store), atomically with the subscription
    /// so no change falls between the two.
    pub fn subscribe_presence(
        &self,
        addr: &DeviceAddr,
        generation: u64,
        id: RequestId,
        users: Vec<String>,
    ) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.is_current(addr, generation) {
            return;
        }
        let users = users
            .into_iter()
            .map(|user_id| UserPresence {
                status: inner.switchboard.presence(&user_id),
                user_id,
            })
            .collect();
        if let Some(conn) = inner.conns.get_mut(addr) {
            conn.presence = true;
        }
        deliver(
            &inner.conns,
            addr,
            &ServerMessage::PresenceSnapshot { id, users },
        );
    }

    /// Queues a message to one connection (pong, error replies).
    pub fn reply(&self, addr: &DeviceAddr, generation: u64, message: &ServerMessage) {
        let guard = self.lock();
        if guard.is_current(addr, generation) {
            deliver(&guard.conns, addr, message);
        }
    }

    /// Presence of each user, now.
    pub fn presence(&self, users: &[String]) -> Vec<PresenceStatus> {
        let guard = self.lock();
        users
            .iter()
            .map(|u| guard.switchboard.presence(u))
            .collect()
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// The server is stopping: every live call ends (devices get
    /// `call_ended`), every connection is asked to close, and nothing new is
    /// accepted.
    pub fn shutdown(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.closing {
            return;
        }
        inner.closing = true;
        let now = inner.now();
        inner.switchboard.shutdown(now);
        self.dispatch(inner, now);
        for conn in inner.conns.values() {
            close(conn, CLOSE_GOING_AWAY, "the server is shutting down");
        }
        drop(guard);
        self.wake.notify_one();
    }

    /// The timer: sleeps until the machine's next deadline (or until an input
    /// may have changed it) and runs `handle_timeout`. Ends at shutdown.
    pub async fn run_timer(self: Arc<Self>) {
        loop {
            let deadline = {
                let guard = self.lock();
                if guard.closing {
                    return;
                }
                guard.switchboard.poll_timeout()
            };
            let sleep = match deadline {
                Some(at) => Duration::from_millis(at.saturating_sub(now_ms())),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {
                    let mut guard = self.lock();
                    let inner = &mut *guard;
                    if inner.closing {
                        return;
                    }
                    let now = inner.now();
                    if deadline.is_some_and(|at| at <= now) {
                        inner.switchboard.handle_timeout(now);
                        self.dispatch(inner, now);
                    }
                }
                () = self.wake.notified() => {}
            }
        }
    }

    /// Carries out every queued action, in order. Called under the lock.
    fn dispatch(&self, inner: &mut Inner, now: Millis) {
        let Inner {
            switchboard, conns, ..
        } = inner;
        while let Some(action) = switchboard.poll_action() {
            match action {
                Action::Send { to, message } => deliver(conns, &to, &message),
                Action::Record(call) => self.writer.record(call),
                Action::Presence(p) => {
                    let message = ServerMessage::Presence {
                        user_id: p.user_id,
                        status: p.status,
                    };
                    if let Some(text) = encode(&message) {
                        for conn in conns.values().filter(|c| c.presence) {
                            push(conn, Outbound::Text(text.clone()));
                        }
                    }
                }
                Action::Forwarder(action) => match &self.forwarder {
                    Some(forwarder) => forwarder.handle(action),
                    None => tracing::debug!(?action, "no forwarder: group media is off"),
                },
                Action::IceServers { to, session_id } => {
                    let servers = self.turn.ice_servers(&to.user_id, now / 1000);
                    deliver(
                        conns,
                        &to,
                        &ServerMessage::IceServers {
                            session_id,
                            servers,
                        },
                    );
                }
            }
        }
    }
}

/// The `error` frame for a refused request.
pub fn error_message(id: Option<RequestId>, err: &CallError) -> ServerMessage {
    ServerMessage::Error {
        id,
        code: err.code(),
        message: err.to_string(),
    }
}

/// An `error` frame with any code.
pub fn error_frame(
    id: Option<RequestId>,
    code: ErrorCode,
    message: impl Into<String>,
) -> ServerMessage {
    ServerMessage::Error {
        id,
        code,
        message: message.into(),
    }
}

fn encode(message: &ServerMessage) -> Option<Utf8Bytes> {
    match serde_json::to_string(message) {
        Ok(text) => Some(Utf8Bytes::from(text)),
        Err(err) => {
            tracing::error!(%err, "could not serialize a server message");
            None
        }
    }
}

fn deliver(conns: &HashMap<DeviceAddr, Conn>, to: &DeviceAddr, message: &ServerMessage) {
    if let Some(conn) = conns.get(to) {
        if let Some(text) = encode(message) {
            push(conn, Outbound::Text(text));
        }
    }
}

/// Queues without waiting; a full queue means the device is too slow, and
/// it is dropped.
fn push(conn: &Conn, out: Outbound) {
    match conn.tx.try_send(out) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                generation = conn.generation,
                "connection too slow: outbound queue full; dropping it"
            );
            conn.kill.notify_one();
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

fn close(conn: &Conn, code: u16, reason: &'static str) {
    if conn.tx.try_send(Outbound::Close { code, reason }).is_err() {
        conn.kill.notify_one();
    }
}

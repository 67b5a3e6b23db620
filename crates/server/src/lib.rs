//! The softphone's signaling server: sign-in, users and groups, call routing
//! over WebSockets, the call log, TURN credentials, and the forwarder that
//! carries group calls' media.
//!
//! The server decides no call rule itself. Every rule (ringing, busy, ring
//! timeout, multi-device, glare, groups, reconnect grace, who may do what)
//! lives in the pure [`softphone_proto::Switchboard`]; this crate feeds it
//! inputs with the time, carries out the actions it emits, and checks only
//! what the machine cannot know: that a receiver exists, who a token belongs
//! to, and that session ids are unguessable.
//!
//! # Layout
//!
//! - [`server`]: [`server::run`]`(listener, shutdown, state)` — serve until
//!   `shutdown` resolves, then stop cleanly; the plain/TLS listener.
//! - [`http`]: the `/v1` HTTP API (login, users, groups, call log, ICE servers).
//! - [`ws`]: `/v1/ws`, one WebSocket per device: upgrade checks, the send
//!   and receive tasks, frame decoding.
//! - [`hub`]: drives the switchboard under one lock, owns the registry of
//!   connected devices and their outbound queues, runs the timer.
//! - [`store`]: SQLite via sqlx (users, groups, tokens, call log) and the
//!   batching call-log writer.
//! - [`auth`]: argon2 passwords, tokens, bearer auth, login throttling.
//! - [`turn`]: STUN/TURN servers with coturn REST credentials.
//! - group-call media: `softphone-forwarder`, driven by the hub with the
//!   switchboard's `Forwarder` actions; what it says to members goes out
//!   as `signal`s from `@server/forwarder`.
//! - [`tls`]: optional rustls (ring) serving.
//! - [`config`]: run-time settings and their parsers.
//! - [`error`]: [`Error`] for the library, [`AppError`] for HTTP answers.
//!
//! The binary (`src/main.rs`, with its commands in `src/cli.rs`) is a thin
//! clap front end over this library.
//!
//! # Why it is built this way
//!
//! - Call routing never waits on IO: the switchboard lock is never held
//!   across an `.await`, messages go into bounded per-device queues with
//!   `try_send` (a device that lets its queue fill is dropped as too slow),
//!   and call-log rows go to a writer task that batches them into one
//!   transaction.
//! - Everything a test needs to control is injectable: the listener
//!   (`127.0.0.1:0`), the shutdown future, the timers (ping, idle, grace).

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod server;
pub mod store;
pub mod tls;
pub mod turn;
pub mod ws;

pub use config::ServerConfig;
pub use error::{AppError, Error, Result};
pub use server::{run, ServerListener};

use auth::{PasswordPool, Throttle};
use hub::Hub;
use std::sync::Arc;
use store::writer::CallLogWriter;
use store::Store;
use tokio::sync::Semaphore;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The switchboard driver and connection registry.
    pub hub: Arc<Hub>,
    /// The call-log writer.
    pub writer: CallLogWriter,
    /// Failed-login bookkeeping.
    pub throttle: Throttle,
    /// Password hashing off the runtime.
    pub passwords: PasswordPool,
    /// One permit per open WebSocket.
    pub connections: Arc<Semaphore>,
    /// Settings.
    pub config: ServerConfig,
}

impl AppState {
    /// Prepares a server over `store`: finishes calls a crash left live,
    /// starts the call-log writer, builds the hub. Needs a tokio runtime.
    pub async fn new(store: Store, config: ServerConfig) -> Result<Arc<Self>> {
        config.turn.validate().map_err(Error::Invalid)?;
        if config.max_connections == 0 {
            return Err(Error::Invalid(
                "--max-connections must be at least 1".into(),
            ));
        }
        let finished = store.finish_interrupted_calls(store::now_ms()).await?;
        if finished > 0 {
            tracing::warn!(finished, "finished calls left live by an earlier stop");
        }
        let (writer, _task) = CallLogWriter::spawn(store.clone());
        let (outbox, mut from_forwarder) = tokio::sync::mpsc::unbounded_channel();
        let forwarder = config
            .forwarder
            .clone()
            .map(|c| softphone_forwarder::Forwarder::spawn(c, outbox));
        let hub = Arc::new(Hub::new(
            config.switchboard.clone(),
            writer.clone(),
            config.turn.clone(),
            forwarder,
        ));
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            while let Some(out) = from_forwarder.recv().await {
                let Some(hub) = weak.upgrade() else { return };
                hub.from_forwarder(out);
            }
        });
        Ok(Arc::new(Self {
            store,
            hub,
            writer,
            throttle: Throttle::default(),
            passwords: PasswordPool::default(),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            config,
        }))
    }
}

//! Client core of the softphone: the calling API that the desktop app and the
//! CLI share.
//!
//! A [`Client`] logs in over HTTP, then keeps one WebSocket to the server
//! (the signaling connection) on which it places, answers, declines and ends
//! calls and hears about them. The API follows CometChat's "Default Call"
//! flow in Rust idiom: [`Client::initiate_call`], [`Client::accept_call`],
//! [`Client::reject_call`], [`Client::end_call`], listeners registered with
//! [`Client::add_call_listener`], or the same events as a stream from
//! [`Client::events`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), softphone_client::Error> {
//! use softphone_client::{CallEvent, CallType, Client, ClientConfig, ReceiverType};
//! use futures_util::StreamExt;
//! use softphone_proto::Call;
//!
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:8480", "laptop"))?;
//! let mut events = client.events();
//! client.login("alice", "secret").await?;
//! let call = client
//!     .initiate_call(Call::new("bob", CallType::Audio, ReceiverType::User))
//!     .await?;
//! while let Some(event) = events.next().await {
//!     if let CallEvent::OutgoingCallAccepted { .. } = event {
//!         client.end_call(&call.session_id).await?;
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`ClientConfig`] (server URL, device id, call waiting, extra
//!   CA, request timeout) and [`Timing`] (backoff, keep-alive); the one rustls
//!   configuration (ring provider, webpki roots) both transports use.
//! - [`error`]: [`Error`], one enum whose `Display` is a sentence to act on.
//! - `http`: login, logout and the queries (users, groups, call log, ICE servers).
//! - `connection`: the task that owns the WebSocket: sends requests, matches
//!   replies, turns the rest into events, keeps the connection alive (30 s
//!   without a frame is a dead connection) and reconnects with backoff.
//!   `connection/dial.rs` opens the socket (TCP, TLS, upgrade, `hello`) and
//!   holds the backoff (250 ms doubling to 5 s, with jitter);
//!   `connection/pending.rs` is the pending-request map.
//! - `active`: the pure rules that keep [`Client::active_call`] up to date.
//! - [`events`]: [`CallEvent`], [`ConnectionState`], the [`CallListener`]
//!   trait and the dispatcher feeding listeners and streams.
//! - `client`: [`Client`], the API itself.
//! - [`media`]: the WebRTC media session of a call (webrtc 0.21, Opus and
//!   VP8, DTLS-SRTP) over `softphone-media`'s audio pipeline and
//!   `softphone-video`'s video pipeline. [`Client::enable_media`] turns it
//!   on: every answered call then gets audio both ways, and video when a
//!   source is on ([`media::MediaDevices::video`],
//!   [`media::MediaHandle::set_video_source`]), started by the
//!   `ice_servers` event that follows the accept and stopped with the call;
//!   [`CallEvent::MediaConnected`], [`CallEvent::MediaStats`],
//!   [`CallEvent::MediaFailed`] and the `Video*` events report on it, and
//!   decoded video goes to [`media::MediaConfig::video_sink`].
//!   `media/peer.rs` builds the peer connection (codecs, tracks, handler),
//!   `media/session/` negotiates (offer/answer, trickle ICE as
//!   [`media::SignalMessage`]) and runs the session, `media/audio.rs` runs
//!   the audio threads, `media/video/` the video ones (capture/encode, a
//!   decoder per remote stream, lip sync, key-frame requests),
//!   `media/stats.rs` builds [`media::MediaStats`].
//!
//! # Design decisions
//! - **One task owns the socket.** Requests reach it over a channel; replies
//!   come back on oneshot channels. No lock guards the socket or the pending
//!   map, and a dropped connection fails every waiting request at once
//!   ([`Error::ConnectionLost`]) instead of letting it time out.
//! - **Listeners run on that task**, in arrival order, after the active call
//!   has been updated, so a listener always sees the state the event left.
//!   They must not block; see [`CallListener`].
//! - **Reconnect is the client's job**, not the application's: the device id
//!   stays the same, so the server resumes a call within its grace period
//!   (`call_resumed`). If the grace ran out while away, the client learns it
//!   from the call log and reports the missed `call_ended` itself.
//! - **The server decides every call rule** (busy, glare, multi-device,
//!   timeouts). The client never second-guesses it; it only reports.
#![warn(missing_docs)]

mod active;
mod client;
pub mod config;
mod connection;
pub mod error;
pub mod events;
mod http;
pub mod media;

pub use client::{Client, Session};
pub use config::{ClientConfig, Timing, DEFAULT_REQUEST_TIMEOUT};
pub use error::{Error, Result};
pub use events::{CallEvent, CallListener, ConnectionState, EVENT_BUFFER};

/// The wire types the API speaks, re-exported for convenience.
pub use softphone_proto::{
    Call, CallDirection, CallLogQuery, CallStatus, CallType, CancelReason, DeviceAddr, EndReason,
    ErrorCode, GroupInfo, IceServer, LeaveReason, PresenceStatus, ReceiverType, UserInfo,
    UserPresence,
};

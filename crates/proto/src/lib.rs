#![warn(missing_docs)]
//! Wire protocol and call state machine of the softphone.
//!
//! Pure: no IO, no clock, no async runtime. Time comes in as an argument
//! ([`Millis`]), and the machine answers with actions for its driver to carry out.
//!
//! # Layout
//! - [`call`]: the [`Call`] record and its enums (status, type, reasons); what
//!   the call log stores and what both ends see.
//! - [`wire`]: JSON messages over the WebSocket and HTTP bodies, versioned by
//!   [`PROTOCOL_VERSION`]. Documented with examples in `docs/protocol.md`.
//! - [`machine`]: [`Switchboard`], the sans-IO call state machine that owns
//!   every rule (ringing, busy, ring timeout, multi-device, glare, groups,
//!   reconnect grace, authorization). The server drives it.
//! - [`signal`]: [`SignalMessage`], the media negotiation (SDP, ICE
//!   candidates) carried inside `signal` messages, shared by clients and the
//!   server's group-call forwarder.
pub mod call;
pub mod machine;
pub mod signal;
pub mod wire;

pub use call::*;
pub use machine::{Action, CallError, CallRequest, Config, ForwarderAction, Receiver, Switchboard};
pub use signal::SignalMessage;
pub use wire::*;

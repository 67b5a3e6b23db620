//! The server's group-call forwarder (an SFU): every member of a group call
//! has one WebRTC connection to it, and it forwards each member's audio to
//! every other member as it came — RTP in, RTP out, never decoded.
//!
//! The call rules stay in `softphone-proto`'s switchboard: it decides who is
//! in a call and emits [`ForwarderAction`]s (join, leave, restart ICE,
//! negotiation from a member). The server hands them to
//! [`Forwarder::handle`], which never blocks, and delivers what the
//! forwarder wants to say to a member ([`Outgoing`], a
//! [`SignalMessage`](softphone_proto::SignalMessage) as JSON) as a `signal`
//! from `@server/forwarder`.
//!
//! # Layout
//! - this file: [`Forwarder`] (the handle), [`ForwarderConfig`], and the
//!   router task that keeps who is in which call and starts and stops rooms.
//! - `room.rs`: one group call's media: its members' peer connections and
//!   the changes when someone joins or leaves.
//! - `member.rs`: one member's connection: the offers (the forwarder always
//!   offers; members only answer), trickled candidates, its tracks.
//! - `fanout.rs`: the packet path: one reader per member's incoming audio,
//!   one writer per member's outgoing audio, bounded queues between.
//! - `peer.rs`: building a peer connection (codecs from `softphone-rtc`,
//!   RTCP reports, our loss relay).
//! - `feedback.rs`: relaying receivers' loss to each sender through RTCP.
//! - `stats.rs`: counters.
//!
//! # Why it is built this way
//! - **The forwarder always offers.** When a member joins it gets an offer
//!   with one receive-only audio section (its microphone) and one send-only
//!   section per other member; the others get a new offer with a section
//!   for the newcomer; a leaver's sections go inactive. With one side
//!   offering, renegotiation never collides (no glare), and a member's
//!   client only ever answers. ICE restarts after a member reconnects are
//!   the forwarder's offers too.
//! - **Each outgoing track names its source**: its `msid` stream id is the
//!   source member's `user_id/device_id`, so a client knows whose audio
//!   each stream is (for the participant list and the active speaker).
//! - **One slow member slows nobody else.** A member's outgoing packets
//!   wait in a bounded queue of its own, drained by its own task; when it is
//!   full (that member's connection cannot keep up) its packets are dropped
//!   and counted, and the others' queues are untouched.
//! - **Loss is reported per path, acted on by the sender.** Each member's
//!   client adapts its redundancy to the loss its RTCP receiver reports
//!   show. The forwarder's reports to a sender carry the worst loss among
//!   the receivers of that sender's audio (`feedback.rs`), so a member on a
//!   bad network gets the sender's redundancy without anyone else losing
//!   anything.
#![warn(missing_docs)]

mod fanout;
mod feedback;
mod keyframes;
mod member;
mod nack;
mod peer;
mod room;
mod stats;

pub use stats::ForwarderStats;

use room::RoomInput;
use softphone_proto::{DeviceAddr, ForwarderAction, SessionId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How the forwarder connects.
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    /// Local UDP addresses its peer connections bind (port 0: any free
    /// port). A wildcard means every non-loopback interface; loopback must
    /// be named.
    pub udp_addrs: Vec<String>,
    /// Packets queued per member before its outgoing audio is dropped
    /// (at 50 packets/s per stream: 256 is 0.5 s for 10 speakers).
    pub queue_len: usize,
    /// Packets queued per member before its outgoing video is dropped: a
    /// queue of its own, so that video bursts never push out audio. 1,024
    /// is 0.5 s of 2 Mb/s from each of 9 senders, or a 720p key frame
    /// (≈ 25–30 packets) from every sender of a large call at once.
    pub video_queue_len: usize,
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        Self {
            udp_addrs: vec!["0.0.0.0:0".to_owned(), "127.0.0.1:0".to_owned()],
            queue_len: 256,
            video_queue_len: 1024,
        }
    }
}

/// A message from the forwarder to one member: a `signal` with this `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The member's device.
    pub to: DeviceAddr,
    /// The call.
    pub session_id: SessionId,
    /// The negotiation message, as JSON.
    pub data: serde_json::Value,
}

/// The handle: feed it the switchboard's forwarder actions.
#[derive(Debug, Clone)]
pub struct Forwarder {
    router: mpsc::UnboundedSender<ToRouter>,
    stats: Arc<stats::Counters>,
}

enum ToRouter {
    Action(ForwarderAction),
    Shutdown(oneshot::Sender<()>),
}

impl Forwarder {
    /// Starts the forwarder (needs a tokio runtime). What it says to
    /// members goes to `outbox`.
    pub fn spawn(config: ForwarderConfig, outbox: mpsc::UnboundedSender<Outgoing>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(stats::Counters::default());
        let router = Router {
            config: Arc::new(config),
            outbox,
            stats: stats.clone(),
            rooms: HashMap::new(),
        };
        tokio::spawn(router.run(rx));
        Self { router: tx, stats }
    }

    /// Carries out one action of the switchboard. Never blocks.
    pub fn handle(&self, action: ForwarderAction) {
        if self.router.send(ToRouter::Action(action)).is_err() {
            tracing::warn!("the forwarder has stopped; a group-call action was dropped");
        }
    }

    /// Figures since the start.
    pub fn stats(&self) -> ForwarderStats {
        self.stats.snapshot()
    }

    /// Closes every connection and waits (up to 5 s) until the rooms are
    /// gone.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.router.send(ToRouter::Shutdown(done)).is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wait).await;
        }
    }
}

/// One running room: its inbox, its task, and who the switchboard says is in it.
struct RoomHandle {
    inbox: mpsc::UnboundedSender<RoomInput>,
    task: tokio::task::JoinHandle<()>,
    members: BTreeSet<DeviceAddr>,
}

/// Keeps who is in which call, starts a room at its first join and stops it
/// at its last leave, and passes everything else to the room.
struct Router {
    config: Arc<ForwarderConfig>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    stats: Arc<stats::Counters>,
    rooms: HashMap<SessionId, RoomHandle>,
}

impl Router {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<ToRouter>) {
        while let Some(message) = rx.recv().await {
            match message {
                ToRouter::Action(action) => self.route(action),
                ToRouter::Shutdown(done) => {
                    let rooms: Vec<RoomHandle> = self.rooms.drain().map(|(_, r)| r).collect();
                    for room in &rooms {
                        let _ = room.inbox.send(RoomInput::Close);
                    }
                    for room in rooms {
                        let _ = room.task.await;
                    }
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn route(&mut self, action: ForwarderAction) {
        match action {
            ForwarderAction::Join {
                session_id,
                participant,
                ..
            } => {
                let room = self.rooms.entry(session_id.clone()).or_insert_with(|| {
                    let (inbox, rx) = mpsc::unbounded_channel();
                    let room = room::Room::new(
                        session_id.clone(),
                        self.config.clone(),
                        inbox.clone(),
                        self.outbox.clone(),
                        self.stats.clone(),
                    );
                    self.stats.room_opened();
                    RoomHandle {
                        inbox,
                        task: tokio::spawn(room.run(rx)),
                        members: BTreeSet::new(),
                    }
                });
                if room.members.insert(participant.clone()) {
                    let _ = room.inbox.send(RoomInput::Join(participant));
                }
            }
            ForwarderAction::Leave {
                session_id,
                participant,
            } => {
                let Some(room) = self.rooms.get_mut(&session_id) else {
                    return;
                };
                if room.members.remove(&participant) {
                    let _ = room.inbox.send(RoomInput::Leave(participant));
                }
                if room.members.is_empty() {
                    if let Some(room) = self.rooms.remove(&session_id) {
                        let _ = room.inbox.send(RoomInput::Close);
                        self.stats.room_closed();
                    }
                }
            }
            ForwarderAction::Restart {
                session_id,
                participant,
            } => self.to_member(&session_id, participant, RoomInput::Restart),
            ForwarderAction::Signal {
                session_id,
                from,
                data,
            } => self.to_member(&session_id, from, |from| RoomInput::Signal(from, data)),
        }
    }

    /// Passes a member's input to its room, if the member is in one.
    fn to_member(
        &self,
        session_id: &str,
        member: DeviceAddr,
        input: impl FnOnce(DeviceAddr) -> RoomInput,
    ) {
        match self.rooms.get(session_id) {
            Some(room) if room.members.contains(&member) => {
                let _ = room.inbox.send(input(member));
            }
            _ => tracing::debug!(session = session_id, %member, "not in a forwarded call; ignored"),
        }
    }
}

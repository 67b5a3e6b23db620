//! The server's group-call forwarder (an SFU): every member of a group call
//! has one WebRTC connection to it, and it forwards each member's audio and
//! video to every other member as they came — RTP in, RTP out, never
//! decoded.
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
//!   the changes when someone joins, leaves or connects.
//! - `member.rs`: one member's connection: the offers (the forwarder always
//!   offers; members only answer), what each answer took (RED, VP8),
//!   trickled candidates, its tracks.
//! - `fanout.rs`: the packet path: one reader per member's incoming audio
//!   and video, one writer per member draining its audio queue and its
//!   video queue into its tracks.
//! - `peer.rs`: building a peer connection (codecs from `softphone-rtc`,
//!   RTCP reports, NACK for video, our feedback relay) and reading an
//!   answer.
//! - `feedback.rs`: the interceptor that reads receivers' RTCP: their loss
//!   (relayed to each sender in our reports) and their key frame requests.
//! - `keyframes.rs`: key frames asked of senders (receivers' PLI/FIR, joins),
//!   at most one request per sender per 400 ms.
//! - `nack.rs`: retransmission on each leg, for video only.
//! - `stats.rs`: counters.
//!
//! # Why it is built this way
//! - **The forwarder always offers.** When a member joins it gets an offer
//!   with a receive-only audio and a receive-only video section (its
//!   microphone and camera, first, so that a client's own transceivers take
//!   them) and a send-only audio and video section per other member; the
//!   others get a new offer with sections for the newcomer; a leaver's
//!   sections go inactive. With one side offering, renegotiation never
//!   collides (no glare), and a member's client only ever answers. ICE
//!   restarts after a member reconnects are the forwarder's offers too.
//! - **Video sections always.** Every member gets them, in audio calls too,
//!   so a camera can come on at any time without a new negotiation; a
//!   section that carries nothing costs nothing per packet (and the NACK
//!   buffer of a downtrack is made at its first packet). A client without
//!   VP8 rejects them in its first answer and gets no more of them.
//! - **Each outgoing track names its source**: its `msid` stream id is the
//!   source member's `user_id/device_id`, the same for the source's audio
//!   and video, so a client knows whose each stream is (participant list,
//!   active speaker) and pairs them for lip sync.
//! - **One slow member slows nobody else.** A member's outgoing packets
//!   wait in bounded queues of its own (audio, and video apart with a
//!   larger bound: a key frame is a burst of tens of packets that must not
//!   push out audio), drained by its own task, audio first; when one is
//!   full (that member's connection cannot keep up) its packets are
//!   dropped and counted, and the others' queues are untouched.
//! - **Loss is reported per path, acted on by the sender.** Each member's
//!   client adapts its redundancy to the loss its RTCP receiver reports
//!   show. The forwarder's reports to a sender carry the worst audio loss
//!   among the receivers of that sender's audio (`feedback.rs`), so a
//!   member on a bad network gets the sender's redundancy without anyone
//!   else losing anything. Video loss is repaired per leg by NACK instead.
//! - **Key frames are the sender's to make.** A receiver's PLI or FIR about
//!   a downtrack goes to the source as a PLI for the SSRC it sends on; the
//!   forwarder asks by itself when a member's downtracks start mid-stream.
//!   Requests for one sender collapse to one per 400 ms, so a PLI storm
//!   from one member, or ten members joining at once, costs the sender at
//!   most 2.5 key frames a second.
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

//! The WebRTC media session of a call: audio both ways once a call is
//! answered, and video when a source is on, started and stopped by the
//! client itself.
//!
//! Turn it on once, before calls, with [`Client::enable_media`]:
//!
//! ```no_run
//! # async fn demo(client: softphone_client::Client) {
//! use softphone_client::media::{MediaConfig, MediaDevices};
//! let media = client.enable_media(MediaConfig::new(|_call| Ok(MediaDevices::null())));
//! // … place or answer calls as usual: media starts when the call is
//! // answered, `media_connected` / `media_stats` / `media_failed` arrive as
//! // `CallEvent`s, and it stops when the call ends on either side.
//! media.shutdown().await; // before exiting: stops sessions, finishes WAV files
//! # }
//! ```
//!
//! # How a session runs
//! - **Start.** Right after an accept the server sends both parties
//!   `ice_servers` (STUN/TURN with fresh credentials); that event starts the
//!   session, so the callee, whose accept is a reply and not an event, needs
//!   no separate hook. Negotiation that arrives before (the caller is quick)
//!   is buffered.
//! - **Roles.** The caller (the call's initiator) offers, the callee answers;
//!   SDP and trickled candidates travel as [`SignalMessage`] JSON through
//!   [`Client::send_signal`](crate::Client::send_signal).
//! - **Media.** Opus `opus/48000/2`, fmtp `minptime=10;useinbandfec=1`;
//!   DTLS-SRTP always (webrtc's default, never turned off). One track out,
//!   fed by a `SendPipeline` over the [`AudioSource`]; every remote track in,
//!   each stream (SSRC) with its own jitter buffer in one `ReceivePipeline`
//!   mixed into the [`AudioSink`], so a forwarder sending several works.
//! - **Loss.** RED over Opus (`red/48000/2`, RFC 2198) is offered too.
//!   The other side's RTCP receiver reports (read by our own interceptor,
//!   `rtcp.rs`) drive the plan in `adapt.rs`: 0–2 redundant copies of
//!   earlier frames per packet, the Opus bitrate and its FEC.
//! - **Stop.** On `call_ended`, when this device's call is no longer active
//!   (its own `end_call`, logout), or on [`MediaHandle::shutdown`].
//! - **Failure.** No answer to the offer within [`MediaConfig::answer_timeout`],
//!   not connected within [`MediaConfig::connect_timeout`], ICE/DTLS failed,
//!   a device failed: the client ends the call and sends
//!   [`CallEvent::MediaFailed`](crate::CallEvent::MediaFailed) with a sentence.
//!
//! Events rather than a separate stream: the application already reads one
//! [`CallEvent`](crate::CallEvent) stream (or listener), and media figures
//! belong to the call they describe.
//!
//! - **Reconnect.** When this device's signaling connection comes back
//!   inside the grace period the server sends `ice_servers` again; the
//!   session then restarts ICE (a new offer with fresh credentials), in
//!   case the network under it changed. The new TURN credentials are not
//!   applied to the running connection (webrtc 0.21 has no
//!   `setConfiguration`); the old ones last their TTL (a day by default).
//!
//! - **Group calls** go through the server's forwarder: one connection to
//!   it, which offers (a receive section for our audio, a send section per
//!   other participant, whose stream id names them) and offers again as
//!   people come and go or after a reconnect; we only answer. Each
//!   participant's audio has its own jitter buffer; the mix is played and is
//!   the echo canceller's far-end reference. Their levels give
//!   [`CallEvent::ActiveSpeakers`](crate::CallEvent::ActiveSpeakers)
//!   (`speakers.rs`).
//!
//! - **Video.** One VP8 transceiver next to the audio in every session,
//!   audio calls too, sending nothing until a source is on: the device
//!   factory's [`MediaDevices::video`] (a factory opens one for
//!   [`CallType::Video`](crate::CallType::Video) calls unless the user
//!   starts with the camera off), or [`MediaHandle::set_video_source`] at any
//!   time — an audio call becomes a video call without a new offer. Our
//!   video track has the audio track's stream id ([`LOCAL_STREAM_ID`]).
//!   Every remote video track (the other party's; a group forwarder's, one
//!   per participant, named `user/device`) gets a thread with its own
//!   decoder; frames are shown, through [`MediaConfig::video_sink`], when
//!   the audio of the same stream captured with them plays (lip sync).
//!   Undecodable video (loss NACK did not repair, garbage, no key frame
//!   yet) is dropped and a PLI asks for a key frame; a PLI or FIR for our
//!   video forces one. Bitrate and size follow the receiver reports on our
//!   video. Figures in [`MediaStats::video`];
//!   [`CallEvent::VideoStarted`](crate::CallEvent::VideoStarted),
//!   [`CallEvent::VideoStopped`](crate::CallEvent::VideoStopped) and
//!   [`CallEvent::VideoSourceChanged`](crate::CallEvent::VideoSourceChanged)
//!   say what changed. See `video/mod.rs` and `docs/video.md`.
//!
//! # What lives where
//!
//! - `mod.rs`: [`MediaConfig`], [`MediaDevices`], [`MediaHandle`], the
//!   manager task that starts a session per call.
//! - `session/`: one call's session task (`negotiation.rs`, `devices.rs`,
//!   `video.rs`).
//! - `peer.rs`: the peer connection, tracks and interceptors.
//! - `audio.rs`, `rtp.rs`, `adapt.rs`, `speakers.rs`: the audio threads,
//!   RED, audio adaptation, active speakers.
//! - `rtcp.rs`: what the other side's RTCP says (reports per SSRC, PLI/FIR).
//! - `video/`: capture/encode, RTP, reassembly, decode threads, lip sync,
//!   video adaptation and figures.
//! - `stats.rs`, `mos.rs`: [`MediaStats`].

mod adapt;
mod audio;
mod mos;
mod peer;
mod rtcp;
mod rtp;
mod session;
mod speakers;
mod stats;
mod video;

pub use softphone_media::{AudioSink, AudioSource, EncoderConfig, MediaError};
pub use softphone_proto::SignalMessage;
pub use softphone_video::{
    list_sources as list_video_sources, Frame, SourceId, SourceInfo, VideoError, VideoSource,
};
pub use stats::MediaStats;
pub use video::{
    VideoFrame, VideoSettings, VideoSink, VideoStats, VideoStreamStats, LOCAL_STREAM_ID,
};

use crate::client::{Client, WeakClient};
use crate::events::CallListener;
use session::{Inbound, Params};
use softphone_media::device::{MuteHandle, NullSink, NullSource};
use softphone_media::Pacing;
use softphone_proto::{Call, CallStatus, DeviceAddr, IceServer, ReceiverType};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The devices of one call.
pub struct MediaDevices {
    /// Where the outgoing audio comes from (48 kHz mono 20 ms frames, paced).
    pub source: Box<dyn AudioSource>,
    /// Where the mix of the incoming audio goes.
    pub sink: Box<dyn AudioSink>,
    /// Run the echo canceller (for a real microphone and speaker; files and
    /// null devices have no acoustic echo).
    pub echo_cancellation: bool,
    /// The video source to send from the start (camera, screen or test
    /// pattern, e.g. opened with [`VideoSettings::open`]); `None`: no video
    /// until [`MediaHandle::set_video_source`]. A factory typically opens
    /// one for [`CallType::Video`](crate::CallType::Video) calls unless the
    /// user asked to start with the camera off.
    pub video: Option<Box<dyn VideoSource>>,
}

impl MediaDevices {
    /// Silence in (paced in real time), nothing out, no video.
    pub fn null() -> Self {
        Self {
            source: Box::new(NullSource::new(Pacing::RealTime)),
            sink: Box::new(NullSink::default()),
            echo_cancellation: false,
            video: None,
        }
    }
}

impl std::fmt::Debug for MediaDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaDevices")
            .field("echo_cancellation", &self.echo_cancellation)
            .field("video", &self.video.as_ref().map(|v| v.id().to_string()))
            .finish_non_exhaustive()
    }
}

/// Opens a call's devices when its media starts.
pub type DeviceFactory = Arc<dyn Fn(&Call) -> Result<MediaDevices, MediaError> + Send + Sync>;

/// How the client runs media sessions.
#[derive(Clone)]
pub struct MediaConfig {
    /// Opens the devices for each call (an error ends that call with `media_failed`).
    pub devices: DeviceFactory,
    /// Local UDP addresses to bind. A wildcard means every non-loopback
    /// interface; loopback must be named (the default has both).
    pub udp_addrs: Vec<String>,
    /// Only relayed (TURN) candidates: ICE transport policy `relay`.
    pub relay_only: bool,
    /// How long the caller waits for the answer to its offer.
    pub answer_timeout: Duration,
    /// How long from the accept until media must be connected.
    pub connect_timeout: Duration,
    /// How often `media_stats` is sent.
    pub stats_interval: Duration,
    /// Opus settings (bitrate, expected loss for FEC, complexity).
    pub encoder: EncoderConfig,
    /// Video size, frame rate and bitrate cap (sources opened mid-call by
    /// [`MediaHandle::set_video_source`] use them too).
    pub video: VideoSettings,
    /// Where video frames go: each remote stream's decoded frames when they
    /// are due (and our own with [`VideoSettings::preview`]). `None`: remote
    /// video is still decoded (figures, key-frame requests) but not shown.
    pub video_sink: Option<VideoSink>,
}

impl MediaConfig {
    /// Defaults (10 s answer, 15 s connect, stats every 2 s, 48 kb/s Opus,
    /// 720p30 video, no video sink) with `devices` opening each call's
    /// devices.
    pub fn new(
        devices: impl Fn(&Call) -> Result<MediaDevices, MediaError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            devices: Arc::new(devices),
            udp_addrs: vec!["0.0.0.0:0".to_owned(), "127.0.0.1:0".to_owned()],
            relay_only: false,
            answer_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            stats_interval: Duration::from_secs(2),
            encoder: EncoderConfig::default(),
            video: VideoSettings::default(),
            video_sink: None,
        }
    }
}

impl std::fmt::Debug for MediaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConfig")
            .field("udp_addrs", &self.udp_addrs)
            .field("relay_only", &self.relay_only)
            .field("answer_timeout", &self.answer_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("stats_interval", &self.stats_interval)
            .field("video", &self.video)
            .field("video_sink", &self.video_sink.is_some())
            .finish_non_exhaustive()
    }
}

/// The settings a session needs (the config without the factory).
pub(crate) struct Settings {
    /// The microphone switch of every session (see [`MediaHandle::set_muted`]).
    pub mute: MuteHandle,
    pub udp_addrs: Vec<String>,
    pub relay_only: bool,
    pub answer_timeout: Duration,
    pub connect_timeout: Duration,
    pub stats_interval: Duration,
    pub encoder: EncoderConfig,
    pub video: VideoSettings,
    pub video_sink: Option<VideoSink>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("video", &self.video)
            .finish_non_exhaustive()
    }
}

/// Controls the media sessions of a client (see [`Client::enable_media`]).
#[derive(Debug, Clone)]
pub struct MediaHandle {
    manager: mpsc::UnboundedSender<ToManager>,
    mute: MuteHandle,
}

impl MediaHandle {
    /// Mutes (`true`) or unmutes the microphone of the call in progress and
    /// of the calls after it, whatever device it is: a microphone that
    /// replaces a failed one, or one switched to, stays as muted. The other
    /// participants of the call in progress are told
    /// ([`CallEvent::ParticipantMuted`](crate::CallEvent::ParticipantMuted)).
    pub fn set_muted(&self, muted: bool) {
        if self.mute.is_muted() != muted {
            self.mute.set_muted(muted);
            let _ = self.manager.send(ToManager::Muted(muted));
        }
    }

    /// Whether the microphone is muted.
    pub fn is_muted(&self) -> bool {
        self.mute.is_muted()
    }

    /// Switches the running call's microphone (`input`) or speaker to the
    /// device `device_id` (as listed by `softphone_media::device::list_devices`;
    /// `None`: the system default). The call carries on; a
    /// [`CallEvent::MediaDeviceChanged`](crate::CallEvent::MediaDeviceChanged)
    /// follows. Errors (no call with media, the device cannot be opened)
    /// are sentences; the current device then stays. Devices for the next
    /// calls come from [`MediaConfig::devices`] as before.
    pub async fn switch_device(
        &self,
        input: bool,
        device_id: Option<String>,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.manager
            .send(ToManager::SwitchDevice {
                input,
                device_id,
                reply,
            })
            .map_err(|_| "media is not running".to_owned())?;
        answer
            .await
            .map_err(|_| "the call ended before the device was switched".to_owned())?
    }

    /// Turns the running call's video on with `source` (a camera, the
    /// screen or the test pattern, opened with [`MediaConfig::video`]'s
    /// settings), switches it to another source, or turns it off (`None`).
    /// No renegotiation: the call's video transceiver is always there, so an
    /// audio call becomes a video call this way. A
    /// [`CallEvent::VideoSourceChanged`](crate::CallEvent::VideoSourceChanged)
    /// follows. Errors (no call with media, the other side did not take
    /// video, the source cannot be opened) are sentences; the current
    /// source then stays.
    pub async fn set_video_source(&self, source: Option<SourceId>) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.manager
            .send(ToManager::SetVideoSource { source, reply })
            .map_err(|_| "media is not running".to_owned())?;
        answer
            .await
            .map_err(|_| "the call ended before its video source was set".to_owned())?
    }

    /// Stops every media session and waits (up to 5 s) until their devices
    /// are closed and files finished. Call it before the process exits.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.manager.send(ToManager::Shutdown(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
    }
}

impl Client {
    /// Starts a media session for every 1:1 call this device takes part in
    /// from now on (see the [module docs](crate::media)). Call it before
    /// placing or answering calls; calling it again replaces the config.
    pub fn enable_media(&self, config: MediaConfig) -> MediaHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let mute = MuteHandle::default();
        self.add_call_listener(LISTENER_ID, Arc::new(Forward(tx.clone())));
        let manager = Manager {
            client: self.downgrade(),
            devices: config.devices.clone(),
            settings: Arc::new(Settings {
                mute: mute.clone(),
                udp_addrs: config.udp_addrs,
                relay_only: config.relay_only,
                answer_timeout: config.answer_timeout,
                connect_timeout: config.connect_timeout,
                stats_interval: config.stats_interval,
                encoder: config.encoder,
                video: config.video,
                video_sink: config.video_sink,
            }),
            me: tx.downgrade(),
            sessions: HashMap::new(),
            early: HashMap::new(),
        };
        tokio::spawn(manager.run(rx));
        MediaHandle { manager: tx, mute }
    }
}

const LISTENER_ID: &str = "softphone-client/media";

/// What the manager hears.
enum ToManager {
    IceServers {
        sid: String,
        servers: Vec<IceServer>,
    },
    Signal {
        sid: String,
        from: DeviceAddr,
        data: serde_json::Value,
    },
    Ended {
        sid: String,
    },
    Done {
        sid: String,
    },
    Shutdown(oneshot::Sender<()>),
    /// The microphone was muted or unmuted: tell the call.
    Muted(bool),
    SwitchDevice {
        input: bool,
        device_id: Option<String>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    SetVideoSource {
        source: Option<SourceId>,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The listener: hands the events media cares about to the manager task
/// (listeners must not block).
struct Forward(mpsc::UnboundedSender<ToManager>);

impl CallListener for Forward {
    fn on_ice_servers(&self, session_id: &str, servers: &[IceServer]) {
        let _ = self.0.send(ToManager::IceServers {
            sid: session_id.to_owned(),
            servers: servers.to_vec(),
        });
    }
    fn on_signal_received(&self, session_id: &str, from: &DeviceAddr, data: &serde_json::Value) {
        let _ = self.0.send(ToManager::Signal {
            sid: session_id.to_owned(),
            from: from.clone(),
            data: data.clone(),
        });
    }
    fn on_call_ended_message_received(&self, call: &Call) {
        let _ = self.0.send(ToManager::Ended {
            sid: call.session_id.clone(),
        });
    }
}

/// Negotiation held for a session that has not started yet, at most this many.
const EARLY_LIMIT: usize = 64;

struct Manager {
    client: WeakClient,
    devices: DeviceFactory,
    settings: Arc<Settings>,
    /// Weak, so that the manager stops once the listener (the client) and
    /// every [`MediaHandle`] are gone.
    me: mpsc::WeakUnboundedSender<ToManager>,
    sessions: HashMap<String, (mpsc::UnboundedSender<Inbound>, tokio::task::JoinHandle<()>)>,
    early: HashMap<String, Vec<(DeviceAddr, serde_json::Value)>>,
}

impl Manager {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<ToManager>) {
        while let Some(message) = rx.recv().await {
            match message {
                ToManager::IceServers { sid, servers } => self.start(sid, servers),
                ToManager::Signal { sid, from, data } => match self.sessions.get(&sid) {
                    Some((tx, _)) => {
                        let _ = tx.send(Inbound::Signal { from, data });
                    }
                    None => {
                        if self.early.len() > EARLY_LIMIT {
                            self.early.clear();
                        }
                        let held = self.early.entry(sid).or_default();
                        if held.len() < EARLY_LIMIT {
                            held.push((from, data));
                        }
                    }
                },
                ToManager::Ended { sid } => {
                    if let Some((tx, _)) = self.sessions.get(&sid) {
                        let _ = tx.send(Inbound::Stop);
                    }
                    self.early.remove(&sid);
                }
                ToManager::Muted(muted) => {
                    let client = self.client.upgrade();
                    let call = client.as_ref().and_then(|c| c.active_call());
                    if let (Some(client), Some(call)) = (client, call) {
                        if self.sessions.contains_key(&call.session_id) {
                            tell_mute(&client, &call.session_id, muted);
                        }
                    }
                }
                ToManager::Done { sid } => {
                    self.sessions.remove(&sid);
                    self.early.remove(&sid);
                }
                ToManager::SwitchDevice {
                    input,
                    device_id,
                    reply,
                } => match self.sessions.values().next() {
                    Some((tx, _)) => {
                        let message = Inbound::SwitchDevice {
                            input,
                            device_id,
                            reply,
                        };
                        if let Err(mpsc::error::SendError(Inbound::SwitchDevice {
                            reply, ..
                        })) = tx.send(message)
                        {
                            let _ = reply.send(Err("the call's media has stopped".to_owned()));
                        }
                    }
                    None => {
                        let _ = reply.send(Err("there is no call with audio to switch".to_owned()));
                    }
                },
                ToManager::SetVideoSource { source, reply } => {
                    match self.sessions.values().next() {
                        Some((tx, _)) => {
                            if let Err(mpsc::error::SendError(Inbound::SetVideoSource {
                                reply,
                                ..
                            })) = tx.send(Inbound::SetVideoSource { source, reply })
                            {
                                let _ = reply.send(Err("the call's media has stopped".to_owned()));
                            }
                        }
                        None => {
                            let _ = reply.send(Err(
                                "there is no call with media to send video in".to_owned()
                            ));
                        }
                    }
                }
                ToManager::Shutdown(done) => {
                    let sessions: Vec<_> = self.sessions.drain().collect();
                    for (_, (tx, _)) in &sessions {
                        let _ = tx.send(Inbound::Stop);
                    }
                    for (_, (_, join)) in sessions {
                        let _ = join.await;
                    }
                    let _ = done.send(());
                }
            }
        }
    }

    /// Starts the session of call `sid` if this device is in it and none
    /// runs yet.
    fn start(&mut self, sid: String, servers: Vec<IceServer>) {
        if let Some((tx, _)) = self.sessions.get(&sid) {
            // Sent again after this device reconnected inside the grace period.
            let _ = tx.send(Inbound::Restart);
            return;
        }
        let Some(client) = self.client.upgrade() else {
            return;
        };
        let Some(call) = client.active_call().filter(|c| c.session_id == sid) else {
            return;
        };
        if call.status != CallStatus::Ongoing {
            return;
        }
        // 1:1: the caller offers. Group: the server's forwarder offers to
        // every participant.
        let group = call.receiver_type == ReceiverType::Group;
        let offerer = !group
            && client
                .session()
                .is_some_and(|s| s.user_id == call.initiator);
        let accepted = Instant::now();
        let (tx, inbound) = mpsc::unbounded_channel();
        for (from, data) in self.early.remove(&sid).unwrap_or_default() {
            let _ = tx.send(Inbound::Signal { from, data });
        }
        let weak = self.client.clone();
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let done_sid = sid.clone();
        let join = match (self.devices)(&call) {
            Ok(devices) => {
                if self.settings.mute.is_muted() {
                    tell_mute(&client, &sid, true);
                }
                let params = Params {
                    session_id: sid.clone(),
                    offerer,
                    group,
                    ice_servers: servers,
                    devices,
                    settings: self.settings.clone(),
                    accepted,
                };
                tokio::spawn(async move {
                    session::run(weak, params, inbound).await;
                    let _ = me.send(ToManager::Done { sid: done_sid });
                })
            }
            Err(e) => {
                let reason = format!("cannot open the call's devices: {e}");
                tokio::spawn(async move {
                    session::fail_call(&weak, &done_sid, reason).await;
                    let _ = me.send(ToManager::Done { sid: done_sid });
                })
            }
        };
        self.sessions.insert(sid, (tx, join));
    }
}

/// Tells the call's other participants about a mute, in the background.
fn tell_mute(client: &Client, sid: &str, muted: bool) {
    let (client, sid) = (client.clone(), sid.to_owned());
    tokio::spawn(async move {
        if let Err(e) = client.set_muted(&sid, muted).await {
            tracing::debug!("could not tell call {sid} about the mute: {e}");
        }
    });
}

//! A simulated group-call member, light enough that one process can play
//! twenty: the real client library for signaling (login, accept, `signal`
//! to the forwarder, events) but no media session of its own. Instead, a
//! webrtc peer connection with the settings every softphone peer shares
//! (`softphone-rtc`: codecs, 10 ms ICE ticks, mDNS off; RTCP sender and
//! receiver reports, as the forwarder has) that
//!
//! - answers every offer of the forwarder (`to` omitted: the forwarder),
//!   trickles its candidates and takes the forwarder's;
//! - sends one audio track of Opus frames encoded once at the start
//!   ([`Frames`]), written by the one [`send_loop`] of the process every
//!   20 ms, as RED with no copies when RED was negotiated (what a real
//!   client sends on a clean network), plain Opus otherwise;
//! - counts the packets and bytes of every remote track by its stream id
//!   (the source member's `user/device`), without decoding anything;
//! - with video (`--video-sections`, `--video-fps`), also registers VP8
//!   and adds a video track, which takes the forwarder's receive-only
//!   video section as a video-capable client's does; with `--video-fps`
//!   it sends the test pattern encoded once at the start
//!   ([`VideoFrames`], looped, written by [`video_send_loop`]), and counts
//!   received video apart from audio.
//!
//! A member's own audio is never decoded, mixed or played: the 20 × 19
//! streams a real 20-member call would decode would swamp two cores, and
//! the server's work does not depend on it.

use anyhow::{Context as _, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rtc::interceptor::Registry;
use rtc::media::Sample;
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use softphone_client::{Call, CallEvent, CallType, Client, ClientConfig, ReceiverType};
use softphone_e2e::video_member::sample_track;
use softphone_media::red::RedEncoder;
use softphone_media::{EncoderConfig, OpusEncoder, FRAME_SAMPLES};
use softphone_proto::SignalMessage;
use softphone_rtc::{
    candidate_init, candidate_message, register_audio_codecs, register_video_codecs,
    setting_engine, EventSink, PcEvent, OPUS_PT, RED_MIME, VP8_PT,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

/// The frames every member sends, in a loop: each Opus frame as it is
/// and as a RED payload with no copies.
#[derive(Debug)]
pub struct Frames {
    opus: Vec<Bytes>,
    red: Vec<Bytes>,
}

impl Frames {
    /// Encodes `samples` (48 kHz mono) once, 20 ms frames, with the
    /// client's encoder settings (48 kb/s, complexity 9, FEC for 10 %).
    pub fn encode(samples: &[f32]) -> Result<Frames> {
        let mut encoder =
            OpusEncoder::new(EncoderConfig::default()).context("cannot create an Opus encoder")?;
        let mut red = RedEncoder::new(OPUS_PT);
        let mut frames = Frames {
            opus: Vec::new(),
            red: Vec::new(),
        };
        for frame in samples.chunks_exact(FRAME_SAMPLES) {
            let payload = encoder.encode(frame).context("Opus encoding failed")?;
            frames.red.push(Bytes::from(red.encode(&payload, 0)));
            frames.opus.push(Bytes::from(payload));
        }
        anyhow::ensure!(!frames.opus.is_empty(), "no whole 20 ms frame to send");
        Ok(frames)
    }

    /// Frames in the loop.
    pub fn len(&self) -> usize {
        self.opus.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.opus.is_empty()
    }

    /// Mean Opus payload size, bytes.
    pub fn mean_bytes(&self) -> f64 {
        self.opus.iter().map(Bytes::len).sum::<usize>() as f64 / self.opus.len().max(1) as f64
    }
}

/// Video frames every member sends, in a loop: the test pattern, VP8.
#[derive(Debug)]
pub struct VideoFrames {
    frames: Vec<Bytes>,
    /// Frames per second.
    pub fps: u32,
}

impl VideoFrames {
    /// Size of the frames.
    pub const WIDTH: u32 = 640;
    /// Their height.
    pub const HEIGHT: u32 = 360;

    /// Encodes `seconds` of the test pattern at 640×360 and `fps` once
    /// (the encoder's real-time settings and its default 500 kb/s at this
    /// size; the first frame is a key frame, the rest follow it).
    pub fn encode(fps: u32, seconds: u32) -> Result<VideoFrames> {
        use softphone_video::{pattern, EncoderConfig, Frame, Vp8Encoder};
        let mut config = EncoderConfig::new(Self::WIDTH, Self::HEIGHT);
        config.fps = fps;
        let mut encoder = Vp8Encoder::new(config).context("cannot create a VP8 encoder")?;
        let mut frame = Frame::new(Self::WIDTH, Self::HEIGHT).context("frame")?;
        let mut frames = Vec::new();
        for counter in 0..fps * seconds {
            pattern::draw(&mut frame, counter);
            frame.timestamp_us = u64::from(counter) * 1_000_000 / u64::from(fps);
            if let Some(out) = encoder.encode(&frame).context("VP8 encoding failed")? {
                frames.push(Bytes::copy_from_slice(out.data));
            }
        }
        anyhow::ensure!(!frames.is_empty(), "no video frame encoded");
        Ok(VideoFrames { frames, fps })
    }

    /// Mean frame size, bytes.
    pub fn mean_bytes(&self) -> f64 {
        self.frames.iter().map(Bytes::len).sum::<usize>() as f64 / self.frames.len().max(1) as f64
    }
}

/// Packets and bytes of one received stream.
#[derive(Debug, Default)]
pub struct Counts {
    /// RTP packets.
    pub packets: AtomicU64,
    /// RTP payload bytes.
    pub bytes: AtomicU64,
}

/// The payload types agreed with the forwarder: Opus, and RED if taken.
#[derive(Debug, Clone, Copy)]
struct Codecs {
    opus: u8,
    red: Option<u8>,
}

/// What one member did, shared with the bench.
#[derive(Debug, Default)]
pub struct MemberState {
    /// `user/device`.
    pub name: String,
    /// ICE and DTLS are up.
    pub connected: AtomicBool,
    /// Packets and bytes written to its track.
    pub sent: Counts,
    /// Offers answered.
    pub answers: AtomicU64,
    /// Video frames written to its video track.
    pub video_sent: Counts,
    /// Received, by source (the track's stream id, `user/device`).
    heard: Mutex<HashMap<String, Arc<Counts>>>,
    /// Received video, by source.
    seen: Mutex<HashMap<String, Arc<Counts>>>,
    codecs: Mutex<Option<Codecs>>,
    /// The first thing that went wrong, if anything did.
    error: Mutex<Option<String>>,
}

impl MemberState {
    /// Packets received so far, by source.
    pub fn heard(&self) -> HashMap<String, u64> {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, c)| (k.clone(), c.packets.load(Ordering::Relaxed)))
            .collect()
    }

    /// Video packets received so far, by source.
    pub fn seen(&self) -> HashMap<String, u64> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, c)| (k.clone(), c.packets.load(Ordering::Relaxed)))
            .collect()
    }

    /// Video payload bytes received so far, from every source.
    pub fn seen_bytes(&self) -> u64 {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|c| c.bytes.load(Ordering::Relaxed))
            .sum()
    }

    /// Payload bytes received so far, from every source.
    pub fn heard_bytes(&self) -> u64 {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|c| c.bytes.load(Ordering::Relaxed))
            .sum()
    }

    /// The first error, if any.
    pub fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fail(&self, what: String) {
        let mut error = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        error.get_or_insert(what);
    }

    fn counts_for(&self, source: String, video: bool) -> Arc<Counts> {
        let map = if video { &self.seen } else { &self.heard };
        map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(source)
            .or_default()
            .clone()
    }
}

/// One simulated member: logged in, with its peer connection and track.
pub struct Member {
    /// What it did.
    pub state: Arc<MemberState>,
    /// Its client (signaling only).
    pub client: Client,
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    /// Its video track and SSRC, with `--video-sections`/`--video-fps`.
    video: Option<(Arc<TrackLocalStaticSample>, u32)>,
    /// Until [`Member::run`] takes them.
    inputs: Mutex<Option<Inputs>>,
    /// The session id of the call it is in.
    sid: Mutex<Option<String>>,
}

type EventStream = std::pin::Pin<Box<dyn Stream<Item = CallEvent> + Send>>;

struct Inputs {
    events: EventStream,
    pc_events: mpsc::UnboundedReceiver<PcEvent>,
}

impl Member {
    /// Logs `user` in (password `password`, device `device`) at `url` and
    /// builds its peer connection on 127.0.0.1 (with a video track if
    /// `video`).
    pub async fn login(
        url: &str,
        user: &str,
        password: &str,
        device: &str,
        video: bool,
    ) -> Result<Member> {
        let client = Client::new(ClientConfig::new(url, device)).context("client config")?;
        let events: EventStream = Box::pin(client.events());
        client
            .login(user, password)
            .await
            .with_context(|| format!("{user} cannot log in"))?;
        let (tx, pc_events) = mpsc::unbounded_channel();
        let mut media = MediaEngine::default();
        register_audio_codecs(&mut media).map_err(anyhow::Error::msg)?;
        if video {
            register_video_codecs(&mut media).map_err(anyhow::Error::msg)?;
        }
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(setting_engine(false))
            .with_media_engine(media)
            .with_interceptor_registry(configure_rtcp_reports(Registry::new()))
            .with_handler(Arc::new(EventSink(move |event| {
                let _ = tx.send(event);
            })))
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("cannot build a peer connection: {e}"))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let stream_id = format!("{user}/{device}");
        let (track, ssrc) = sample_track(&stream_id, RtpCodecKind::Audio)?;
        let sender = pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| anyhow::anyhow!("cannot add the track: {e}"))?;
        let video = if video {
            let (track, ssrc) = sample_track(&stream_id, RtpCodecKind::Video)?;
            pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| anyhow::anyhow!("cannot add the video track: {e}"))?;
            Some((track, ssrc))
        } else {
            None
        };
        Ok(Member {
            state: Arc::new(MemberState {
                name: stream_id,
                ..MemberState::default()
            }),
            client,
            pc,
            track,
            sender,
            ssrc,
            video,
            inputs: Mutex::new(Some(Inputs { events, pc_events })),
            sid: Mutex::new(None),
        })
    }

    /// Places the group call to `group`; its session id.
    pub async fn call_group(&self, group: &str) -> Result<String> {
        let call = self
            .client
            .initiate_call(Call::new(group, CallType::Audio, ReceiverType::Group))
            .await
            .context("cannot place the group call")?;
        self.set_sid(&call.session_id);
        Ok(call.session_id)
    }

    fn set_sid(&self, sid: &str) {
        *self.sid.lock().unwrap_or_else(PoisonError::into_inner) = Some(sid.to_owned());
    }

    fn sid(&self) -> Option<String> {
        self.sid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Follows the call until `stop`: accepts the ring (`accept`: this
    /// member did not place the call), answers the forwarder, trickles
    /// candidates, counts remote tracks. Errors are kept in the state.
    pub async fn run(self: Arc<Self>, accept: bool, mut stop: watch::Receiver<bool>) {
        let Some(Inputs {
            mut events,
            mut pc_events,
        }) = self
            .inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let mut remote_set = false;
        let mut early: Vec<RTCIceCandidateInit> = Vec::new();
        loop {
            tokio::select! {
                event = events.next() => match event {
                    None => return,
                    Some(CallEvent::IncomingCallReceived { call }) if accept && self.sid().is_none() => {
                        self.set_sid(&call.session_id);
                        if let Err(e) = self.client.accept_call(&call.session_id).await {
                            self.state.fail(format!("cannot accept: {e}"));
                        }
                    }
                    Some(CallEvent::Signal { session_id, from, data }) if from.is_forwarder() => {
                        if let Err(e) = self.on_signal(&session_id, &data, &mut remote_set, &mut early).await {
                            self.state.fail(e);
                        }
                    }
                    Some(CallEvent::CallEnded { .. }) => return,
                    Some(_) => {}
                },
                Some(event) = pc_events.recv() => match event {
                    PcEvent::Candidate(init) => {
                        if let Some(sid) = self.sid() {
                            let message = candidate_message(init).to_value();
                            if let Err(e) = self.client.send_signal(&sid, None, message).await {
                                self.state.fail(format!("cannot send a candidate: {e}"));
                            }
                        }
                    }
                    PcEvent::State(state) => self.on_state(state).await,
                    PcEvent::Track(track) => {
                        let state = self.state.clone();
                        tokio::spawn(count(track, state));
                    }
                },
                _ = stop.changed() => return,
            }
        }
    }

    async fn on_signal(
        &self,
        sid: &str,
        data: &serde_json::Value,
        remote_set: &mut bool,
        early: &mut Vec<RTCIceCandidateInit>,
    ) -> Result<(), String> {
        if self.sid().is_none() {
            self.set_sid(sid);
        }
        match SignalMessage::from_value(data) {
            Some(SignalMessage::Offer { sdp }) => {
                let offer = RTCSessionDescription::offer(sdp).map_err(|e| format!("offer: {e}"))?;
                self.pc
                    .set_remote_description(offer)
                    .await
                    .map_err(|e| format!("cannot take the forwarder's offer: {e}"))?;
                if !*remote_set {
                    *remote_set = true;
                    for init in std::mem::take(early) {
                        let _ = self.pc.add_ice_candidate(init).await;
                    }
                }
                let answer = self
                    .pc
                    .create_answer(None)
                    .await
                    .map_err(|e| format!("cannot answer: {e}"))?;
                self.pc
                    .set_local_description(answer.clone())
                    .await
                    .map_err(|e| format!("cannot use the answer: {e}"))?;
                self.client
                    .send_signal(
                        sid,
                        None,
                        SignalMessage::Answer { sdp: answer.sdp }.to_value(),
                    )
                    .await
                    .map_err(|e| format!("cannot send the answer: {e}"))?;
                self.state.answers.fetch_add(1, Ordering::Relaxed);
            }
            Some(candidate @ SignalMessage::Candidate { .. }) => {
                let Some(init) = candidate_init(candidate) else {
                    return Ok(());
                };
                if *remote_set {
                    let _ = self.pc.add_ice_candidate(init).await;
                } else {
                    early.push(init);
                }
            }
            Some(SignalMessage::Answer { .. }) | None => {}
        }
        Ok(())
    }

    async fn on_state(&self, state: RTCPeerConnectionState) {
        match state {
            RTCPeerConnectionState::Connected => {
                let codecs = self
                    .sender
                    .get_parameters()
                    .await
                    .map(|p| p.rtp_parameters.codecs)
                    .unwrap_or_default();
                let find = |mime: &str| {
                    codecs
                        .iter()
                        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
                        .map(|c| c.payload_type)
                };
                let agreed = Codecs {
                    opus: find(MIME_TYPE_OPUS).unwrap_or(OPUS_PT),
                    red: find(RED_MIME),
                };
                *self
                    .state
                    .codecs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(agreed);
                self.state.connected.store(true, Ordering::Relaxed);
            }
            RTCPeerConnectionState::Failed => {
                self.state.connected.store(false, Ordering::Relaxed);
                self.state.fail("the media connection failed".to_owned());
            }
            RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Closed => {
                self.state.connected.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Writes frame `index` of `frames` (as RED or Opus, as agreed), if
    /// connected.
    async fn send(&self, frames: &Frames, index: usize) {
        if !self.state.connected.load(Ordering::Relaxed) {
            return;
        }
        let Some(codecs) = *self
            .state
            .codecs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        else {
            return;
        };
        let i = index % frames.len();
        let (data, pt) = match codecs.red {
            Some(red) => (frames.red[i].clone(), red),
            None => (frames.opus[i].clone(), codecs.opus),
        };
        let bytes = data.len() as u64;
        let sample = Sample {
            data,
            duration: Duration::from_millis(20),
            ..Sample::new(Instant::now())
        };
        if self
            .track
            .sample_writer(self.ssrc, pt)
            .write_sample(&sample)
            .await
            .is_ok()
        {
            self.state.sent.packets.fetch_add(1, Ordering::Relaxed);
            self.state.sent.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Writes video frame `index` of `frames`, if connected.
    async fn send_video(&self, frames: &VideoFrames, index: usize) {
        let Some((track, ssrc)) = &self.video else {
            return;
        };
        if !self.state.connected.load(Ordering::Relaxed) {
            return;
        }
        let data = frames.frames[index % frames.frames.len()].clone();
        let bytes = data.len() as u64;
        let sample = Sample {
            data,
            duration: Duration::from_secs(1) / frames.fps,
            ..Sample::new(Instant::now())
        };
        if track
            .sample_writer(*ssrc, VP8_PT)
            .write_sample(&sample)
            .await
            .is_ok()
        {
            self.state
                .video_sent
                .packets
                .fetch_add(1, Ordering::Relaxed);
            self.state
                .video_sent
                .bytes
                .fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Leaves the call and closes the connection and the client.
    pub async fn leave(&self) {
        if let Some(sid) = self.sid() {
            let _ = self.client.end_call(&sid).await;
        }
        let _ = self.pc.close().await;
        let _ = self.client.logout().await;
    }
}

/// Counts a remote track's packets under its stream id (audio and video
/// apart) until it ends.
async fn count(track: Arc<dyn TrackRemote>, state: Arc<MemberState>) {
    let source = track.stream_id().await;
    let video = track.kind().await == RtpCodecKind::Video;
    let counts = state.counts_for(source, video);
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                counts.packets.fetch_add(1, Ordering::Relaxed);
                counts
                    .bytes
                    .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}

/// Every 20 ms, each connected member sends its next frame (members start
/// at different places in the loop), until `stop`. A late tick is made up
/// at once (tokio's `Burst`), so the rate stays 50 packets/s per member.
pub async fn send_loop(
    members: Vec<Arc<Member>>,
    frames: Arc<Frames>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let spread = frames.len() / members.len().max(1);
    let mut index = 0usize;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        for (k, member) in members.iter().enumerate() {
            member.send(&frames, index + k * spread).await;
        }
        index += 1;
    }
}

/// Every frame interval, each connected member with a video track sends
/// its next video frame (members start at different places in the loop),
/// until `stop`.
pub async fn video_send_loop(
    members: Vec<Arc<Member>>,
    frames: Arc<VideoFrames>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / frames.fps);
    let spread = frames.frames.len() / members.len().max(1);
    let mut index = 0usize;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        for (k, member) in members.iter().enumerate() {
            member.send_video(&frames, index + k * spread).await;
        }
        index += 1;
    }
}

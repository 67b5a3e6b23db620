//! A simulated group-call member that sends and checks video, for the
//! forwarder's video tests: the real client library for signaling (login,
//! the call, `signal` to the forwarder) and a webrtc peer connection of
//! its own, built like the bench's simulated member
//! (`crates/bench/src/group/sim.rs`) and like a client that sends video:
//!
//! - `softphone-rtc`'s codecs (Opus, RED, VP8) and timers; RTCP reports,
//!   NACK generator and responder (video only, as negotiated), and
//!   [`KeyframeWatch`], which notes every PLI/FIR that arrives and makes
//!   the encoder's next frame a key frame, as a real sender does;
//! - one audio and one video track added with `add_track`, so they take
//!   the forwarder's receive-only audio and video sections;
//! - the video is the `softphone-video` test pattern, counter starting at
//!   a number of the member's own (so a receiver can tell whose frames it
//!   decoded), 320×180 at 15 fps, VP8 from [`Vp8Encoder`] on a thread of
//!   its own; the audio is a 440 Hz tone encoded once and looped;
//! - every video track it receives is reassembled (`rtc`'s
//!   `SampleBuilder` with the VP8 depacketizer), decoded on a thread per
//!   track and its counter read ([`read_counter`]); every audio track's
//!   packets are counted. Both are filed under the track's stream id,
//!   which the forwarder sets to the source's `user/device`.
//!
//! It asks for a key frame only when a test tells it to
//! ([`VideoMember::send_pli`]), so that a test sees what the forwarder
//! asked for by itself.

use anyhow::{anyhow, Context as _, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rtc::interceptor::{
    Interceptor, NackGeneratorBuilder, NackResponderBuilder, Packet, Registry, Slot, StreamInfo,
    TaggedPacket,
};
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::media::Sample;
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use softphone_client::{Call, CallEvent, CallType, Client, ClientConfig, ReceiverType};
use softphone_media::{EncoderConfig as OpusConfig, OpusEncoder, FRAME_SAMPLES};
use softphone_proto::SignalMessage;
use softphone_rtc::{
    candidate_init, candidate_message, register_audio_codecs, register_video_codecs,
    setting_engine, EventSink, PcEvent, OPUS_PT, VP8_PT,
};
use softphone_video::vp8::is_keyframe;
use softphone_video::{pattern, read_counter, EncoderConfig, Frame, Vp8Decoder, Vp8Encoder};
use std::collections::{HashMap, VecDeque};
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

/// The video the members send.
pub const WIDTH: u32 = 320;
/// Its height.
pub const HEIGHT: u32 = 180;
/// Its frame rate.
pub const FPS: u32 = 15;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One decoded frame of a remote video track.
#[derive(Debug, Clone, Copy)]
pub struct Decoded {
    /// The pattern's counter, `None` if it could not be read.
    pub counter: Option<u32>,
    /// When it was decoded.
    pub at: Instant,
}

/// What arrived from one source (one stream id).
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// Audio RTP packets.
    pub audio_packets: u64,
    /// Video RTP packets.
    pub video_packets: u64,
    /// Decoded video frames, in order.
    pub frames: Vec<Decoded>,
    /// When each reassembled key frame arrived.
    pub keyframes: Vec<Instant>,
    /// Frames the decoder refused (garbage, or inter frames before a key
    /// frame).
    pub decode_errors: u64,
}

impl Received {
    /// The counters read, in order.
    pub fn counters(&self) -> Vec<u32> {
        self.frames.iter().filter_map(|f| f.counter).collect()
    }
}

#[derive(Default)]
struct State {
    name: String,
    connected_at: Mutex<Option<Instant>>,
    /// PLI/FIR received, by media SSRC, with when.
    keyframe_requests: Mutex<Vec<(Instant, u32)>>,
    /// The next frame is a key frame.
    force_keyframe: AtomicBool,
    /// Send random bytes instead of VP8 frames.
    garbage: AtomicBool,
    sent_frames: AtomicU64,
    received: Mutex<HashMap<String, Received>>,
    /// Remote video tracks, by stream id (to send PLI on).
    video_tracks: Mutex<HashMap<String, Arc<dyn TrackRemote>>>,
    error: Mutex<Option<String>>,
    sid: Mutex<Option<String>>,
}

impl State {
    fn fail(&self, what: String) {
        lock(&self.error).get_or_insert(what);
    }
    fn with_source(&self, source: &str, f: impl FnOnce(&mut Received)) {
        f(lock(&self.received).entry(source.to_owned()).or_default());
    }
}

/// Notes PLI/FIR about our video and asks the encoder for a key frame.
struct KeyframeWatch {
    state: Arc<State>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeWatch {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                let any = packet.as_any();
                let mut ssrcs = Vec::new();
                if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                    ssrcs.push(pli.media_ssrc);
                } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                    ssrcs.extend(fir.fir.iter().map(|e| e.ssrc));
                }
                for ssrc in ssrcs {
                    lock(&self.state.keyframe_requests).push((Instant::now(), ssrc));
                    self.state.force_keyframe.store(true, Ordering::Relaxed);
                }
            }
        }
        self.read.push_back(msg);
        Ok(())
    }
    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }
    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }
    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeWatch {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

type EventStream = std::pin::Pin<Box<dyn Stream<Item = CallEvent> + Send>>;

/// A simulated member (see the module docs). Dropping it stops its tasks
/// and threads.
pub struct VideoMember {
    /// Its client (signaling only).
    pub client: Client,
    pc: Arc<dyn PeerConnection>,
    state: Arc<State>,
    video_ssrc: u32,
    stop: watch::Sender<bool>,
    /// The call's ring arrived and waits for [`VideoMember::accept`].
    ringing: watch::Receiver<Option<String>>,
}

impl VideoMember {
    /// Logs `user` (password = user name, device `sim`) in at `url`,
    /// builds its connection and starts following its calls: it answers
    /// the forwarder, and sends the pattern from `first_counter` once
    /// connected.
    pub async fn login(url: &str, user: &str, first_counter: u32) -> Result<VideoMember> {
        let client = Client::new(ClientConfig::new(url, "sim")).context("client config")?;
        let events: EventStream = Box::pin(client.events());
        client
            .login(user, user)
            .await
            .with_context(|| format!("{user} cannot log in"))?;
        let state = Arc::new(State {
            name: format!("{user}/sim"),
            ..State::default()
        });
        let (tx, pc_events) = mpsc::unbounded_channel();
        let mut media = MediaEngine::default();
        register_audio_codecs(&mut media).map_err(anyhow::Error::msg)?;
        register_video_codecs(&mut media).map_err(anyhow::Error::msg)?;
        let registry = configure_rtcp_reports(Registry::new())
            .with(Slot::NackResponder, NackResponderBuilder::new().build())
            .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
            .with(
                Slot::Custom(9_500),
                KeyframeWatch {
                    state: state.clone(),
                    read: VecDeque::new(),
                    write: VecDeque::new(),
                },
            );
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(setting_engine(false))
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(EventSink(move |event| {
                let _ = tx.send(event);
            })))
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .map_err(|e| anyhow!("cannot build a peer connection: {e}"))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let (audio, audio_ssrc) = sample_track(&state.name, RtpCodecKind::Audio)?;
        let (video, video_ssrc) = sample_track(&state.name, RtpCodecKind::Video)?;
        for track in [&audio, &video] {
            pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| anyhow!("cannot add a track: {e}"))?;
        }
        let (stop, stopped) = watch::channel(false);
        let (ring, ringing) = watch::channel(None);
        let (frames_tx, frames_rx) = mpsc::channel(8);
        let (connected_tx, connected) = watch::channel(false);
        std::thread::spawn({
            let state = state.clone();
            let stopped = stopped.clone();
            move || encode_pattern(state, first_counter, frames_tx, stopped)
        });
        tokio::spawn(send(
            state.clone(),
            Outgoing {
                audio,
                audio_ssrc,
                video,
                video_ssrc,
            },
            frames_rx,
            connected,
            stopped.clone(),
        ));
        tokio::spawn(follow(
            client.clone(),
            pc.clone(),
            state.clone(),
            events,
            pc_events,
            ring,
            connected_tx,
            stopped,
        ));
        Ok(VideoMember {
            client,
            pc,
            state,
            video_ssrc,
            stop,
            ringing,
        })
    }

    /// `user/device`, the stream id the others see its tracks under.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Places a video call to `group`.
    pub async fn call_group(&self, group: &str) -> Result<()> {
        let call = self
            .client
            .initiate_call(Call::new(group, CallType::Video, ReceiverType::Group))
            .await
            .context("cannot place the group call")?;
        *lock(&self.state.sid) = Some(call.session_id);
        Ok(())
    }

    /// Waits for the group call's ring and accepts it.
    pub async fn accept(&mut self) -> Result<()> {
        let name = self.state.name.clone();
        let sid = tokio::time::timeout(crate::PATIENCE, self.ringing.wait_for(|sid| sid.is_some()))
            .await
            .map_err(|_| anyhow!("{name}: no call rang"))?
            .map_err(|_| anyhow!("{name}: stopped"))?
            .clone()
            .unwrap_or_default();
        *lock(&self.state.sid) = Some(sid.clone());
        self.client
            .accept_call(&sid)
            .await
            .with_context(|| format!("{} cannot accept", self.name()))?;
        Ok(())
    }

    /// When its media connection came up.
    pub fn connected_at(&self) -> Option<Instant> {
        *lock(&self.state.connected_at)
    }

    /// The SSRC its video goes out with.
    pub fn video_ssrc(&self) -> u32 {
        self.video_ssrc
    }

    /// Key frame requests (PLI, FIR) that reached it: when, for which SSRC.
    pub fn keyframe_requests(&self) -> Vec<(Instant, u32)> {
        lock(&self.state.keyframe_requests).clone()
    }

    /// Video frames it sent.
    pub fn sent_frames(&self) -> u64 {
        self.state.sent_frames.load(Ordering::Relaxed)
    }

    /// What it received, by stream id.
    pub fn received(&self) -> HashMap<String, Received> {
        lock(&self.state.received).clone()
    }

    /// One line on what it sent and got, for failure messages.
    pub fn summary(&self) -> String {
        let received: Vec<String> = self
            .received()
            .iter()
            .map(|(source, r)| {
                format!(
                    "{source}: {} audio, {} video packets, {} frames decoded ({} readable), {} key frames, {} decode errors",
                    r.audio_packets,
                    r.video_packets,
                    r.frames.len(),
                    r.counters().len(),
                    r.keyframes.len(),
                    r.decode_errors
                )
            })
            .collect();
        format!(
            "{}: connected {}, sent {} frames, {} key frame requests, error {:?}; received [{}]",
            self.name(),
            self.connected_at().is_some(),
            self.sent_frames(),
            self.keyframe_requests().len(),
            self.error(),
            received.join("; ")
        )
    }

    /// The first thing that went wrong, if anything did.
    pub fn error(&self) -> Option<String> {
        lock(&self.state.error).clone()
    }

    /// Sends random bytes instead of VP8 frames (`true`) or the pattern
    /// again (`false`, starting with a key frame).
    pub fn send_garbage(&self, garbage: bool) {
        self.state.garbage.store(garbage, Ordering::Relaxed);
        if !garbage {
            self.state.force_keyframe.store(true, Ordering::Relaxed);
        }
    }

    /// Sends a PLI about the video track it receives from `source` (a
    /// stream id); false if it has none.
    pub async fn send_pli(&self, source: &str) -> bool {
        let Some(track) = lock(&self.state.video_tracks).get(source).cloned() else {
            return false;
        };
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            return false;
        };
        let pli = PictureLossIndication {
            sender_ssrc: self.video_ssrc,
            media_ssrc: ssrc,
        };
        track.write_rtcp(vec![Box::new(pli)]).await.is_ok()
    }

    /// Leaves the call and closes the connection and the client.
    pub async fn leave(&self) {
        let _ = self.stop.send(true);
        let sid = lock(&self.state.sid).clone();
        if let Some(sid) = sid {
            let _ = self.client.end_call(&sid).await;
        }
        let _ = self.pc.close().await;
        let _ = self.client.logout().await;
    }
}

impl Drop for VideoMember {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A local audio or video track (samples in, webrtc packetizes) with a
/// random SSRC, stream id `name`; the bench's simulated members use it too.
pub fn sample_track(name: &str, kind: RtpCodecKind) -> Result<(Arc<TrackLocalStaticSample>, u32)> {
    let ssrc = rand::random::<u32>();
    let label = match kind {
        RtpCodecKind::Video => "video",
        _ => "audio",
    };
    let track = softphone_rtc::local_track(name, &format!("{name}-{label}"), label, kind, ssrc);
    let track = TrackLocalStaticSample::new(Instant::now(), track)
        .map_err(|e| anyhow!("cannot create a track: {e}"))?;
    Ok((Arc::new(track), ssrc))
}

/// Draws and encodes the pattern at [`FPS`] (counter from `first`) until
/// stopped; garbage instead when asked.
fn encode_pattern(
    state: Arc<State>,
    first: u32,
    frames: mpsc::Sender<Bytes>,
    stopped: watch::Receiver<bool>,
) {
    let mut config = EncoderConfig::new(WIDTH, HEIGHT);
    config.fps = FPS;
    let (mut encoder, mut frame) = match (Vp8Encoder::new(config), Frame::new(WIDTH, HEIGHT)) {
        (Ok(e), Ok(f)) => (e, f),
        (Err(e), _) | (_, Err(e)) => return state.fail(format!("video encoder: {e}")),
    };
    let interval = Duration::from_secs(1) / FPS;
    let start = Instant::now();
    let mut counter = first;
    let mut next = start;
    while !*stopped.borrow() {
        next += interval;
        let data = if state.garbage.load(Ordering::Relaxed) {
            Bytes::from((0..800).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
        } else {
            pattern::draw(&mut frame, counter);
            frame.timestamp_us = start.elapsed().as_micros() as u64;
            if state.force_keyframe.swap(false, Ordering::Relaxed) {
                encoder.force_keyframe();
            }
            match encoder.encode(&frame) {
                Ok(Some(out)) => Bytes::copy_from_slice(out.data),
                Ok(None) => Bytes::new(),
                Err(e) => return state.fail(format!("encoding: {e}")),
            }
        };
        counter += 1;
        if !data.is_empty() && frames.blocking_send(data).is_err() {
            return;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

struct Outgoing {
    audio: Arc<TrackLocalStaticSample>,
    audio_ssrc: u32,
    video: Arc<TrackLocalStaticSample>,
    video_ssrc: u32,
}

/// Writes the encoded frames, and a 440 Hz tone every 20 ms, while
/// connected (frames made before that are dropped).
async fn send(
    state: Arc<State>,
    out: Outgoing,
    mut frames: mpsc::Receiver<Bytes>,
    connected: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let tone: Vec<Bytes> = match OpusEncoder::new(OpusConfig::default()) {
        Ok(mut encoder) => (0..50)
            .filter_map(|k| {
                let frame: Vec<f32> = (0..FRAME_SAMPLES)
                    .map(|i| {
                        let t = (k * FRAME_SAMPLES + i) as f32 / 48_000.0;
                        0.2 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                    })
                    .collect();
                encoder.encode(&frame).ok().map(Bytes::from)
            })
            .collect(),
        Err(e) => return state.fail(format!("audio encoder: {e}")),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut k = 0usize;
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tick.tick() => {
                if *connected.borrow() && !tone.is_empty() {
                    let sample = Sample {
                        data: tone[k % tone.len()].clone(),
                        duration: Duration::from_millis(20),
                        ..Sample::new(Instant::now())
                    };
                    k += 1;
                    let _ = out.audio.sample_writer(out.audio_ssrc, OPUS_PT).write_sample(&sample).await;
                }
            }
            frame = frames.recv() => {
                let Some(data) = frame else { return };
                if !*connected.borrow() {
                    continue;
                }
                let sample = Sample {
                    data,
                    duration: Duration::from_secs(1) / FPS,
                    ..Sample::new(Instant::now())
                };
                if out.video.sample_writer(out.video_ssrc, VP8_PT).write_sample(&sample).await.is_ok() {
                    state.sent_frames.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Follows the calls: rings, the forwarder's offers and candidates, our
/// candidates, the connection's state and remote tracks.
#[allow(clippy::too_many_arguments)]
async fn follow(
    client: Client,
    pc: Arc<dyn PeerConnection>,
    state: Arc<State>,
    mut events: EventStream,
    mut pc_events: mpsc::UnboundedReceiver<PcEvent>,
    ring: watch::Sender<Option<String>>,
    connected: watch::Sender<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut remote_set = false;
    let mut early: Vec<RTCIceCandidateInit> = Vec::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            event = events.next() => match event {
                None => return,
                Some(CallEvent::IncomingCallReceived { call }) => {
                    let _ = ring.send(Some(call.session_id));
                }
                Some(CallEvent::Signal { session_id, from, data }) if from.is_forwarder() => {
                    let done = on_signal(&client, pc.as_ref(), &session_id, &data, &mut remote_set, &mut early).await;
                    if let Err(e) = done {
                        state.fail(format!("{}: {e}", state.name));
                    }
                }
                Some(_) => {}
            },
            Some(event) = pc_events.recv() => match event {
                PcEvent::Candidate(init) => {
                    let sid = lock(&state.sid).clone();
                    if let Some(sid) = sid {
                        let message = candidate_message(init).to_value();
                        let _ = client.send_signal(&sid, None, message).await;
                    }
                }
                PcEvent::State(RTCPeerConnectionState::Connected) => {
                    lock(&state.connected_at).get_or_insert_with(Instant::now);
                    let _ = connected.send(true);
                }
                PcEvent::State(RTCPeerConnectionState::Failed) => {
                    state.fail(format!("{}: the media connection failed", state.name));
                }
                PcEvent::State(_) => {}
                PcEvent::Track(track) => {
                    tokio::spawn(receive(track, state.clone()));
                }
            },
        }
    }
}

async fn on_signal(
    client: &Client,
    pc: &dyn PeerConnection,
    sid: &str,
    data: &serde_json::Value,
    remote_set: &mut bool,
    early: &mut Vec<RTCIceCandidateInit>,
) -> Result<(), String> {
    match SignalMessage::from_value(data) {
        Some(SignalMessage::Offer { sdp }) => {
            let offer = RTCSessionDescription::offer(sdp).map_err(|e| format!("offer: {e}"))?;
            pc.set_remote_description(offer)
                .await
                .map_err(|e| format!("cannot take the forwarder's offer: {e}"))?;
            if !*remote_set {
                *remote_set = true;
                for init in std::mem::take(early) {
                    let _ = pc.add_ice_candidate(init).await;
                }
            }
            let answer = pc
                .create_answer(None)
                .await
                .map_err(|e| format!("cannot answer: {e}"))?;
            pc.set_local_description(answer.clone())
                .await
                .map_err(|e| format!("cannot use the answer: {e}"))?;
            client
                .send_signal(
                    sid,
                    None,
                    SignalMessage::Answer { sdp: answer.sdp }.to_value(),
                )
                .await
                .map_err(|e| format!("cannot send the answer: {e}"))?;
        }
        Some(candidate @ SignalMessage::Candidate { .. }) => {
            if let Some(init) = candidate_init(candidate) {
                if *remote_set {
                    let _ = pc.add_ice_candidate(init).await;
                } else {
                    early.push(init);
                }
            }
        }
        Some(SignalMessage::Answer { .. }) | None => {}
    }
    Ok(())
}

/// Counts a remote track's packets under its stream id; a video track's
/// frames are reassembled and decoded.
async fn receive(track: Arc<dyn TrackRemote>, state: Arc<State>) {
    let source = track.stream_id().await;
    if track.kind().await != RtpCodecKind::Video {
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(_) => {
                    state.with_source(&source, |r| r.audio_packets += 1);
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        return;
    }
    lock(&state.video_tracks).insert(source.clone(), track.clone());
    let (frames, decode) = std::sync::mpsc::channel::<Sample>();
    std::thread::spawn({
        let state = state.clone();
        let source = source.clone();
        move || decode_frames(state, source, decode)
    });
    let mut builder = SampleBuilder::new(128, Vp8Packet::default(), 90_000)
        .with_max_time_delay(Duration::from_millis(500));
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                state.with_source(&source, |r| r.video_packets += 1);
                builder.push(Instant::now(), packet);
                while let Some(sample) = builder.pop(Instant::now()) {
                    if frames.send(sample).is_err() {
                        return;
                    }
                }
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}

/// Decodes one source's frames and reads their counters.
fn decode_frames(state: Arc<State>, source: String, samples: std::sync::mpsc::Receiver<Sample>) {
    let mut decoder = match Vp8Decoder::new() {
        Ok(d) => d,
        Err(e) => return state.fail(format!("video decoder: {e}")),
    };
    for sample in samples {
        if sample.prev_dropped_packets > 0 {
            decoder.mark_lost();
        }
        let keyframe = is_keyframe(&sample.data);
        let at = Instant::now();
        let decoded = match decoder.decode(&sample.data, 0) {
            Ok(Some(frame)) => Some(read_counter(frame)),
            Ok(None) => None,
            Err(_) => {
                state.with_source(&source, |r| r.decode_errors += 1);
                None
            }
        };
        state.with_source(&source, |r| {
            if keyframe {
                r.keyframes.push(at);
            }
            if let Some(counter) = decoded {
                r.frames.push(Decoded { counter, at });
            }
        });
    }
}

//! One call's WebRTC media session: a peer connection (webrtc 0.21) with one
//! Opus track and one VP8 track out and any number of tracks in, negotiated
//! over the server with [`SignalMessage`]s — with the other party in a 1:1
//! call, with the server's forwarder in a group call.
//!
//! ```text
//!  start ─► build peer connection, add the audio and the video track
//!    caller: offer ─► (answer within answer_timeout, else failed)
//!    callee: (offer) ─► answer
//!    group:  (the forwarder's offer) ─► answer; again for every re-offer
//!    both:   trickle candidates both ways ─► Connected (ICE + DTLS-SRTP)
//!            ─► media_connected, start the audio and video send threads,
//!               stats every interval
//!  video: a source on/off/switched on request (no renegotiation); remote
//!         video tracks each get a decode thread (`video.rs`)
//!  restart: this device reconnected to the server ─► ICE-restart offer
//!           (either side may send one; the other answers it)
//!  stop: Stop from the manager (call_ended), this device's call is no longer
//!        active (end_call, logout), or the client is gone ─► close, finish sink
//!  device: one failed ─► the default (or silence) takes over,
//!          media_device_changed; switch on request likewise
//!  fail: no answer (group: no offer from the forwarder), not connected
//!        within connect_timeout, ICE/DTLS failed ─► end the call, media_failed
//! ```

mod devices;
mod negotiation;
mod video;

use super::adapt::Adaptation;
use super::audio::{Payload, PlayoutThread, SendControl, SendThread};
use super::peer::{audio_track, build_peer_connection, rtt_ms, video_track};
use super::rtcp::{RemoteFeedback, RemoteReports};
use super::rtp::{spawn_in, spawn_out, AudioStreams, Codecs, StreamOwners};
use super::speakers::Speakers;
use super::stats::{Counters, Inputs, StatsBuilder};
use super::{MediaDevices, Settings};
use crate::client::WeakClient;
use crate::events::CallEvent;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use softphone_media::processing::shared;
use softphone_media::{EchoCanceller, MediaClock, PassThrough};
use softphone_proto::SignalMessage;
use softphone_proto::{CallStatus, DeviceAddr, IceServer};
use softphone_rtc::candidate_message;
use softphone_rtc::PcEvent;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState};
use webrtc::rtp_transceiver::RtpSender;

/// What the manager tells a running session.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Negotiation from the other party.
    Signal {
        from: DeviceAddr,
        data: serde_json::Value,
    },
    /// This device's signaling connection came back (inside the grace
    /// period): restart ICE, in case the network under it changed.
    Restart,
    /// Use another microphone (`input`) or speaker; `None` is the default.
    SwitchDevice {
        input: bool,
        device_id: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    /// Send video from this source from now on (`None`: no video).
    SetVideoSource {
        source: Option<softphone_video::SourceId>,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    /// The call is over: stop.
    Stop,
}

/// Everything a session starts from.
pub(crate) struct Params {
    pub session_id: String,
    /// The caller offers; the callee answers.
    pub offerer: bool,
    /// A group call: the forwarder offers, we answer; several remote tracks.
    pub group: bool,
    pub ice_servers: Vec<IceServer>,
    pub devices: MediaDevices,
    pub settings: Arc<Settings>,
    /// When the call was accepted (the `ice_servers` event that follows it).
    pub accepted: Instant,
}

/// Runs a session to its end. Never panics on what the network sends; a
/// failure ends the call and is reported as [`CallEvent::MediaFailed`].
pub(crate) async fn run(
    client: WeakClient,
    params: Params,
    inbound: mpsc::UnboundedReceiver<Inbound>,
) {
    let sid = params.session_id.clone();
    let mut session = match Session::start(client.clone(), params).await {
        Ok(s) => s,
        Err(reason) => return fail_call(&client, &sid, reason).await,
    };
    let result = session.drive(inbound).await;
    session.finish().await;
    if let Err(reason) = result {
        fail_call(&client, &sid, reason).await;
    }
}

/// Ends the call (if it is still on) and reports why media failed.
pub(crate) async fn fail_call(client: &WeakClient, sid: &str, reason: String) {
    tracing::warn!(session = sid, "media failed: {reason}");
    let Some(client) = client.upgrade() else {
        return;
    };
    if client.active_call().is_some_and(|c| c.session_id == sid) {
        if let Err(e) = client.end_call(sid).await {
            tracing::debug!("could not end call {sid} after a media failure: {e}");
        }
    }
    client.dispatch(CallEvent::MediaFailed {
        session_id: sid.to_owned(),
        reason,
    });
}

struct Session {
    client: WeakClient,
    sid: String,
    offerer: bool,
    group: bool,
    settings: Arc<Settings>,
    accepted: Instant,
    pc: Arc<dyn PeerConnection>,
    events: mpsc::UnboundedReceiver<PcEvent>,
    track: Arc<TrackLocalStaticSample>,
    rtp_sender: Arc<dyn RtpSender>,
    ssrc: u32,
    /// Known once connected.
    codecs: Option<Codecs>,
    reports: RemoteReports,
    last_report: Option<Instant>,
    adaptation: Adaptation,
    control: Arc<SendControl>,
    /// Who negotiates with us (learned from their first message).
    remote: Option<DeviceAddr>,
    remote_set: bool,
    /// We sent an ICE-restart offer and wait for its answer.
    restarting: bool,
    early_candidates: Vec<RTCIceCandidateInit>,
    source: Option<Box<dyn softphone_media::AudioSource>>,
    processor: softphone_media::SharedProcessor,
    sender: Option<SendThread>,
    playout: Option<PlayoutThread>,
    playout_state: Arc<super::audio::PlayoutState>,
    clock: MediaClock,
    counters: Arc<Counters>,
    stats: StatsBuilder,
    connected: bool,
    /// Failed devices replaced by the default so far, per direction.
    input_fallbacks: u32,
    output_fallbacks: u32,
    /// Group calls: whose audio each remote stream (SSRC) is.
    owners: StreamOwners,
    speakers: Speakers,
    /// Each remote audio track's stream id and SSRC (pairs video with its
    /// audio for lip sync).
    audio_streams: AudioStreams,
    /// The audio plays on a sound device (its buffer delays it more).
    audio_on_device: bool,
    video_track: Arc<TrackLocalStaticRTP>,
    video_sender: Arc<dyn RtpSender>,
    video: video::VideoSide,
}

impl Session {
    async fn start(client: WeakClient, params: Params) -> Result<Self, String> {
        let Params {
            session_id: sid,
            offerer,
            group,
            ice_servers,
            devices,
            settings,
            accepted,
        } = params;
        let processor = if devices.echo_cancellation {
            shared(EchoCanceller::new(true))
        } else {
            shared(PassThrough)
        };
        let clock = MediaClock::new();
        let audio_on_device = devices.sink.is_device();
        let playout = PlayoutThread::start(devices.sink, processor.clone(), clock)
            .map_err(|e| format!("cannot start the audio output: {e}"))?;
        let (tx, events) = mpsc::unbounded_channel();
        let ssrc = rand::random::<u32>();
        let video_ssrc = loop {
            let v = rand::random::<u32>();
            if v != ssrc {
                break v;
            }
        };
        let reports = RemoteFeedback::new(ssrc, video_ssrc);
        let pc = build_peer_connection(&settings, &ice_servers, tx, reports.clone()).await?;
        let track = audio_track(ssrc)?;
        let rtp_sender = pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| format!("cannot add the audio track: {e}"))?;
        // Always negotiated, sending nothing until a source is on.
        let video_track = video_track(video_ssrc);
        let video_sender = pc
            .add_track(video_track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| format!("cannot add the video track: {e}"))?;
        let video = video::VideoSide::new(video_ssrc, devices.video, &settings.video);
        let adaptation = Adaptation::new(settings.encoder.bitrate_bps);
        let control = Arc::new(SendControl::new(adaptation.initial()));
        let mut session = Self {
            client,
            sid,
            offerer,
            group,
            settings,
            accepted,
            pc,
            events,
            track,
            rtp_sender,
            ssrc,
            codecs: None,
            reports,
            last_report: None,
            adaptation,
            control,
            remote: None,
            remote_set: false,
            restarting: false,
            early_candidates: Vec::new(),
            source: Some(devices.source),
            processor,
            sender: None,
            playout_state: playout.state.clone(),
            playout: Some(playout),
            clock,
            counters: Arc::new(Counters::default()),
            stats: StatsBuilder::default(),
            connected: false,
            input_fallbacks: 0,
            output_fallbacks: 0,
            owners: StreamOwners::default(),
            speakers: Speakers::default(),
            audio_streams: AudioStreams::default(),
            audio_on_device,
            video_track,
            video_sender,
            video,
        };
        if offerer {
            let offer = session
                .pc
                .create_offer(None)
                .await
                .map_err(|e| format!("cannot create the media offer: {e}"))?;
            session
                .pc
                .set_local_description(offer.clone())
                .await
                .map_err(|e| format!("cannot use the media offer: {e}"))?;
            session
                .send(SignalMessage::Offer { sdp: offer.sdp })
                .await?;
        }
        Ok(session)
    }

    /// The session's event loop; `Ok` when the call ended normally.
    async fn drive(&mut self, mut inbound: mpsc::UnboundedReceiver<Inbound>) -> Result<(), String> {
        let settings = self.settings.clone();
        let answer_by = tokio::time::Instant::from_std(self.accepted + settings.answer_timeout);
        let connect_by = tokio::time::Instant::from_std(self.accepted + settings.connect_timeout);
        let mut stats_every = tokio::time::interval(settings.stats_interval);
        stats_every.tick().await;
        let mut watch = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                message = inbound.recv() => match message {
                    None | Some(Inbound::Stop) => return Ok(()),
                    Some(Inbound::Signal { from, data }) => self.on_signal(from, &data).await?,
                    Some(Inbound::Restart) => self.restart_ice().await?,
                    Some(Inbound::SwitchDevice { input, device_id, reply }) => {
                        let _ = reply.send(self.switch_device(input, device_id).await);
                    }
                    Some(Inbound::SetVideoSource { source, reply }) => {
                        let _ = reply.send(self.set_video_source(source).await);
                    }
                },
                Some(event) = self.events.recv() => match event {
                    PcEvent::Candidate(init) => self.send(candidate_message(init)).await?,
                    PcEvent::State(state) => self.on_state(state).await?,
                    PcEvent::Track(track) => self.on_track(track).await,
                },
                () = tokio::time::sleep_until(answer_by), if self.offerer && !self.remote_set => {
                    return Err(format!(
                        "the other side did not answer the media offer within {} s (does its app support audio?)",
                        settings.answer_timeout.as_secs()
                    ));
                }
                () = tokio::time::sleep_until(answer_by), if self.group && !self.remote_set => {
                    return Err(format!(
                        "the server offered no group-call media within {} s (is its forwarder turned off?)",
                        settings.answer_timeout.as_secs()
                    ));
                }
                () = tokio::time::sleep_until(connect_by), if !self.connected => {
                    return Err(format!(
                        "the media connection did not come up within {} s (ICE found no working path; a firewall or TURN problem?)",
                        settings.connect_timeout.as_secs()
                    ));
                }
                _ = stats_every.tick(), if self.connected => {
                    let rtt = rtt_ms(self.pc.as_ref()).await;
                    let stats = self.report(rtt, false);
                    self.emit(CallEvent::MediaStats { session_id: self.sid.clone(), stats });
                }
                _ = watch.tick() => {
                    self.adapt();
                    self.adapt_video();
                    self.follow_video();
                    self.follow_speakers();
                    if !self.still_in_call() {
                        return Ok(());
                    }
                    self.replace_failed_devices().await;
                }
            }
        }
    }

    async fn on_state(&mut self, state: RTCPeerConnectionState) -> Result<(), String> {
        tracing::debug!(session = %self.sid, "peer connection {state}");
        match state {
            RTCPeerConnectionState::Connected if !self.connected => {
                self.connected = true;
                self.emit(CallEvent::MediaConnected {
                    session_id: self.sid.clone(),
                    after: self.accepted.elapsed(),
                });
                self.codecs = Some(Codecs::negotiated(self.rtp_sender.as_ref()).await);
                self.start_sending()?;
                self.start_video().await;
                Ok(())
            }
            RTCPeerConnectionState::Failed => Err(
                "the media connection failed (ICE or DTLS); no audio path to the other side"
                    .to_owned(),
            ),
            _ => Ok(()),
        }
    }

    /// Starts the send thread and the task that writes its frames to the track.
    fn start_sending(&mut self) -> Result<(), String> {
        let (Some(source), Some(codecs)) = (self.source.take(), self.codecs) else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel::<Payload>(8);
        let sender = SendThread::start(
            source,
            self.settings.mute.clone(),
            self.processor.clone(),
            self.settings.encoder,
            self.control.clone(),
            tx,
        )
        .map_err(|e| format!("cannot start the audio input: {e}"))?;
        self.sender = Some(sender);
        spawn_out(
            self.track.clone(),
            self.ssrc,
            codecs,
            self.control.clone(),
            self.counters.clone(),
            rx,
        );
        Ok(())
    }

    /// Plays a remote track (its packets go to the playout thread), or
    /// shows it if it is video. In a group call its stream id names whose
    /// it is.
    async fn on_track(&mut self, track: Arc<dyn TrackRemote>) {
        if track.kind().await == RtpCodecKind::Video {
            return self.on_video_track(track).await;
        }
        let Some(input) = self.playout.as_ref().map(|p| p.input.clone()) else {
            return;
        };
        let stream_id = track.stream_id().await;
        // A track can start before `Connected` is reported.
        let codecs = match self.codecs {
            Some(codecs) => codecs,
            None => Codecs::negotiated(self.rtp_sender.as_ref()).await,
        };
        let owner = if self.group {
            let owner = parse_addr(&stream_id);
            if owner.is_none() {
                tracing::debug!(session = %self.sid, "a remote stream names nobody: {stream_id:?}");
            }
            owner.map(|who| (who, self.owners.clone()))
        } else {
            None
        };
        spawn_in(
            track,
            codecs.red,
            input,
            self.clock,
            self.counters.clone(),
            owner,
            (stream_id, self.audio_streams.clone()),
        );
    }

    /// Group calls: reports who speaks when that changes.
    fn follow_speakers(&mut self) {
        if !self.group {
            return;
        }
        let levels = self.playout_state.take_levels();
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        let heard: Vec<(DeviceAddr, f32)> = levels
            .into_iter()
            .filter_map(|(ssrc, db)| owners.get(&ssrc).map(|who| (who.clone(), db)))
            .collect();
        drop(owners);
        if let Some(speakers) = self.speakers.update(Instant::now(), heard) {
            self.emit(CallEvent::ActiveSpeakers {
                session_id: self.sid.clone(),
                speakers,
            });
        }
    }

    /// Follows a new RTCP report from the other side on our audio, if one came.
    fn adapt(&mut self) {
        let report = self.reports.report(self.ssrc);
        let Some(report) = report.filter(|r| Some(r.at) != self.last_report) else {
            return;
        };
        self.last_report = Some(report.at);
        let plan = self.adaptation.on_report(report.loss_pct);
        tracing::debug!(session = %self.sid, ?report, ?plan, "adapting to the reported loss");
        self.control.apply(plan);
    }

    async fn send(&mut self, message: SignalMessage) -> Result<(), String> {
        // After a hang-up the other side (a forwarder re-offering as
        // people leave) may still be talking; the call is over.
        if !self.still_in_call() {
            return Ok(());
        }
        let Some(client) = self.client.upgrade() else {
            return Ok(());
        };
        client
            .send_signal(&self.sid, self.remote.clone(), message.to_value())
            .await
            .map_err(|e| format!("cannot send media negotiation: {e}"))
    }

    fn emit(&self, event: CallEvent) {
        if let Some(client) = self.client.upgrade() {
            client.dispatch(event);
        }
    }

    /// This device is still in the call (and the client still exists).
    fn still_in_call(&self) -> bool {
        self.client.upgrade().is_some_and(|c| {
            c.active_call().is_some_and(|call| {
                call.session_id == self.sid && call.status == CallStatus::Ongoing
            })
        })
    }

    /// The figures now; `rtt_ms` from the peer connection (if still open).
    fn report(&mut self, rtt_ms: Option<f64>, last: bool) -> super::MediaStats {
        let state = &self.playout_state;
        let streams = state.streams.lock().map(|s| s.clone()).unwrap_or_default();
        let first = state.first_audio.lock().ok().and_then(|f| *f);
        let first_audio_ms =
            first.map(|t| t.saturating_duration_since(self.accepted).as_millis() as u64);
        let remote = self.reports.report(self.ssrc);
        let video = self.video_stats();
        let inputs = Inputs {
            streams: &streams,
            ice_rtt_ms: rtt_ms,
            remote,
            first_audio_ms,
            redundancy: self.control.redundancy(),
            opus_bitrate_bps: self.control.bitrate_bps(),
            video,
        };
        let mut stats = self.stats.build(&self.counters, inputs);
        stats.last = last;
        stats
    }

    /// Stops everything; the sink is finished before this returns.
    async fn finish(&mut self) {
        if let Some(sender) = self.sender.take() {
            let sender_error = tokio::task::spawn_blocking(move || sender.stop())
                .await
                .ok()
                .flatten();
            if let Some(e) = sender_error {
                tracing::debug!("the audio input had stopped: {e}");
            }
        }
        self.stop_video_sending().await;
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing the peer connection: {e}");
        }
        if let Some(playout) = self.playout.take() {
            let _ = tokio::task::spawn_blocking(move || playout.stop()).await;
        }
        self.stop_video_receiving().await;
        if self.connected {
            let stats = self.report(None, true);
            self.emit(CallEvent::MediaStats {
                session_id: self.sid.clone(),
                stats,
            });
        }
    }
}

/// `user/device` as written in a forwarded stream's id.
fn parse_addr(stream_id: &str) -> Option<DeviceAddr> {
    let (user, device) = stream_id.split_once('/')?;
    (!user.is_empty() && !device.is_empty()).then(|| DeviceAddr::new(user, device))
}

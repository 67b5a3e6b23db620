//! The session's video: our source (on, off, switched, failed), the send
//! thread once connected, a receiver per remote video track, lip sync
//! (each remote stream's delay follows its audio's), adaptation from the
//! reports on our video, and the video events.

use super::{parse_addr, Session};
use crate::events::CallEvent;
use crate::media::video::{
    spawn_video_out, video_delay_us, Packetizer, Preview, SendInput, SendState, StreamIdent,
    StreamInput, VideoAdaptation, VideoReceiver, VideoSendThread, VideoSettings, VideoStats,
    VideoStatsBuilder, OUT_QUEUE,
};
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_VP8;
use softphone_video::{Clock, SourceId, VideoSource};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use webrtc::media_stream::track_remote::TrackRemote;

/// A remote stream with no frame shown for this long has stopped.
const STOPPED_AFTER: Duration = Duration::from_secs(2);

/// What the session keeps about video.
pub(super) struct VideoSide {
    ssrc: u32,
    fps: u32,
    /// Opened, not yet handed to the send thread (before `Connected`).
    pending: Option<Box<dyn VideoSource>>,
    /// The id of the source sending (or pending).
    source_id: Option<String>,
    state: Arc<SendState>,
    thread: Option<VideoSendThread>,
    /// Whether the other side took video (known once negotiated).
    negotiated: Option<bool>,
    adaptation: VideoAdaptation,
    last_report: Option<Instant>,
    receivers: Vec<Received>,
    stats: VideoStatsBuilder,
    clock: Clock,
}

/// A remote video stream and what the session has told about it.
struct Received {
    receiver: VideoReceiver,
    shown: u64,
    last_shown: Instant,
    started: bool,
}

impl VideoSide {
    pub(super) fn new(
        ssrc: u32,
        source: Option<Box<dyn VideoSource>>,
        settings: &VideoSettings,
    ) -> Self {
        let adaptation = VideoAdaptation::new(settings.max_bitrate());
        let state = Arc::new(SendState::default());
        let plan = adaptation.plan();
        state.bitrate_bps.store(plan.bitrate_bps, Ordering::Relaxed);
        Self {
            ssrc,
            fps: settings.fps,
            source_id: source.as_ref().map(|s| s.id().to_string()),
            pending: source,
            state,
            thread: None,
            negotiated: None,
            adaptation,
            last_report: None,
            receivers: Vec::new(),
            stats: VideoStatsBuilder::default(),
            clock: Clock::new(),
        }
    }
}

impl Session {
    /// Starts the video send thread and its network task once video is
    /// negotiated (they run, idle, even with no source on). Called when
    /// connected and after each negotiation, as a forwarder may add video
    /// later; does nothing once started.
    pub(super) async fn start_video(&mut self) {
        if self.video.thread.is_some() || !self.connected {
            return;
        }
        // Associated with an m= section by negotiation (else `None`).
        let associated = matches!(self.video_sender.transport().await, Ok(Some(_)));
        let pt = self
            .video_sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| {
                p.rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(MIME_TYPE_VP8))
                    .map(|c| c.payload_type)
            })
            .filter(|_| associated);
        let Some(pt) = pt else {
            self.video.negotiated = Some(false);
            tracing::debug!(session = %self.sid, "video not negotiated (yet)");
            return;
        };
        self.video.negotiated = Some(true);
        let (tx, rx) = tokio::sync::mpsc::channel(OUT_QUEUE);
        let preview = self
            .settings
            .video_sink
            .clone()
            .filter(|_| self.settings.video.preview)
            .map(|sink| Preview {
                sink,
                session_id: self.sid.clone(),
            });
        let thread = VideoSendThread::start(
            self.video.pending.take(),
            self.video.fps,
            self.video.state.clone(),
            self.reports.clone(),
            self.video.clock,
            tx,
            preview,
        );
        match thread {
            Ok(thread) => self.video.thread = Some(thread),
            Err(e) => {
                tracing::warn!(session = %self.sid, "cannot start the video send thread: {e}");
                return;
            }
        }
        let packetizer = Packetizer::new(self.video.ssrc, pt, rand::random(), rand::random());
        spawn_video_out(
            self.video_track.clone(),
            packetizer,
            self.video.state.clone(),
            rx,
        );
    }

    /// Turns our video on, switches or turns it off.
    pub(super) async fn set_video_source(&mut self, id: Option<SourceId>) -> Result<(), String> {
        if self.video.negotiated == Some(false) {
            return Err(if self.group {
                "the server's forwarder did not take video in this call".to_owned()
            } else {
                "the other side did not take video in this call (does its app support video?)"
                    .to_owned()
            });
        }
        let source = match &id {
            None => None,
            Some(id) => {
                let settings = self.settings.video;
                let open = id.clone();
                let opened = tokio::task::spawn_blocking(move || settings.open(&open))
                    .await
                    .map_err(|e| format!("cannot open the video source {id}: {e}"))?
                    .map_err(|e| format!("cannot open the video source {id}: {e}"))?;
                Some(opened)
            }
        };
        match &self.video.thread {
            Some(thread) => {
                if !thread.set_source(source) {
                    return Err("the call's video has stopped".to_owned());
                }
            }
            None => self.video.pending = source,
        }
        self.video.source_id = id.map(|i| i.to_string());
        self.emit(CallEvent::VideoSourceChanged {
            session_id: self.sid.clone(),
            source: self.video.source_id.clone(),
            failure: None,
        });
        Ok(())
    }

    /// Shows a remote video track: a receiver of its own.
    pub(super) async fn on_video_track(&mut self, track: Arc<dyn TrackRemote>) {
        let stream_id = track.stream_id().await;
        let owner = if self.group {
            parse_addr(&stream_id)
        } else {
            self.remote.clone()
        };
        let ident = StreamIdent {
            session_id: self.sid.clone(),
            owner,
            stream_id,
        };
        let sink = self.settings.video_sink.clone();
        match VideoReceiver::start(track, ident, sink, self.video.clock) {
            Ok(receiver) => self.video.receivers.push(Received {
                receiver,
                shown: 0,
                last_shown: Instant::now(),
                started: false,
            }),
            Err(e) => tracing::warn!(session = %self.sid, "cannot start a video receiver: {e}"),
        }
    }

    /// Follows a new report on our video, if one came.
    pub(super) fn adapt_video(&mut self) {
        let report = self.reports.report(self.video.ssrc);
        let Some(report) = report.filter(|r| Some(r.at) != self.video.last_report) else {
            return;
        };
        self.video.last_report = Some(report.at);
        let plan = self
            .video
            .adaptation
            .on_report(report.loss_pct, report.rtt_ms);
        tracing::debug!(session = %self.sid, ?report, ?plan, "adapting the video");
        let state = &self.video.state;
        state.bitrate_bps.store(plan.bitrate_bps, Ordering::Relaxed);
        state.step.store(plan.step, Ordering::Relaxed);
        state.half_rate.store(plan.half_rate, Ordering::Relaxed);
    }

    /// Lip sync (each remote stream waits as long as its audio), video
    /// started/stopped events, and a failed source.
    pub(super) fn follow_video(&mut self) {
        let failure = self
            .video
            .state
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(failure) = failure {
            self.video.source_id = None;
            self.emit(CallEvent::VideoSourceChanged {
                session_id: self.sid.clone(),
                source: None,
                failure: Some(failure),
            });
        }
        if self.video.receivers.is_empty() {
            return;
        }
        let jitter = self
            .playout_state
            .streams
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let audio_streams = self
            .audio_streams
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        let now = Instant::now();
        let mut events = Vec::new();
        for r in &mut self.video.receivers {
            let ident = &r.receiver.ident;
            // The audio of the same stream id; in a 1:1 call with a peer
            // that names its streams otherwise, the one audio stream.
            let ssrc = audio_streams
                .get(&ident.stream_id)
                .copied()
                .or_else(|| (!self.group && jitter.len() == 1).then(|| jitter[0].0));
            let audio_delay = ssrc.and_then(|ssrc| {
                jitter
                    .iter()
                    .find(|(s, _)| *s == ssrc)
                    .map(|(_, j)| j.current_delay_us)
            });
            let delay = video_delay_us(audio_delay, self.audio_on_device);
            let state = &r.receiver.state;
            state.delay_us.store(delay, Ordering::Relaxed);
            let shown = state.rendered.load(Ordering::Relaxed);
            if shown > r.shown {
                r.shown = shown;
                r.last_shown = now;
                if !r.started {
                    r.started = true;
                    events.push(CallEvent::VideoStarted {
                        session_id: self.sid.clone(),
                        owner: ident.owner.clone(),
                        stream_id: ident.stream_id.clone(),
                        width: state.width.load(Ordering::Relaxed),
                        height: state.height.load(Ordering::Relaxed),
                    });
                }
            } else if r.started && now.duration_since(r.last_shown) >= STOPPED_AFTER {
                r.started = false;
                events.push(CallEvent::VideoStopped {
                    session_id: self.sid.clone(),
                    owner: ident.owner.clone(),
                    stream_id: ident.stream_id.clone(),
                });
            }
        }
        for event in events {
            self.emit(event);
        }
    }

    /// The video figures now.
    pub(super) fn video_stats(&mut self) -> VideoStats {
        let send = SendInput {
            state: &self.video.state,
            source: self.video.source_id.clone(),
            plis_and_firs: self.reports.plis_and_firs(),
            remote_loss_pct: self.reports.report(self.video.ssrc).map(|r| r.loss_pct),
        };
        let streams = self.video.receivers.iter().map(|r| StreamInput {
            stream_id: &r.receiver.ident.stream_id,
            owner: r.receiver.ident.owner.as_ref(),
            state: &r.receiver.state,
        });
        self.video.stats.build(send, streams)
    }

    /// Stops the send thread (before the connection closes).
    pub(super) async fn stop_video_sending(&mut self) {
        if let Some(thread) = self.video.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.stop()).await;
        }
        self.video.pending = None;
    }

    /// Stops the receivers' threads (their figures stay for the last report).
    pub(super) async fn stop_video_receiving(&mut self) {
        let mut receivers: Vec<VideoReceiver> = Vec::new();
        let mut kept = Vec::new();
        for r in self.video.receivers.drain(..) {
            kept.push((r.shown, r.last_shown, r.started));
            receivers.push(r.receiver);
        }
        let receivers = tokio::task::spawn_blocking(move || {
            for r in &mut receivers {
                r.stop();
            }
            receivers
        })
        .await
        .unwrap_or_default();
        self.video.receivers = receivers
            .into_iter()
            .zip(kept)
            .map(|(receiver, (shown, last_shown, started))| Received {
                receiver,
                shown,
                last_shown,
                started,
            })
            .collect();
    }
}

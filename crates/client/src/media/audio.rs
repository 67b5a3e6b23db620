//! The two audio threads of a media session, around `softphone-media`'s
//! pipelines (see `docs/media.md`):
//!
//! - **send**: a thread runs the [`SendPipeline`] (source → echo canceller →
//!   Opus), paced by its source, and hands 20 ms payloads to an async task
//!   over a small bounded channel (a full channel drops the frame rather
//!   than block the capture);
//! - **playout**: a thread owns the [`ReceivePipeline`] (one jitter buffer
//!   per remote stream → mix → sink); the remote tracks' tasks hand it
//!   packets over a channel, and it ticks every 20 ms on its own clock.
//!
//! Neither thread touches the network or the async runtime beyond a
//! non-blocking channel send, and both stop on a flag, finishing the sink
//! (a WAV file gets its header) before they exit.

use super::adapt::Plan;
use softphone_media::device::{MuteHandle, Muted, NullSink, NullSource};
use softphone_media::Pacing;
use softphone_media::{
    AudioSink, AudioSource, EncoderConfig, JitterConfig, JitterStats, MediaClock, MediaError,
    Packet, ReceivePipeline, SendPipeline, SharedProcessor,
};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One encoded frame for the network.
pub(crate) type Payload = Vec<u8>;

/// How the session wants the audio sent right now ([`Plan`]), read by the
/// send thread (bitrate, FEC) and the network task (copies per packet).
#[derive(Debug, Default)]
pub(crate) struct SendControl {
    bitrate_bps: AtomicU32,
    fec_loss_pct: AtomicU8,
    redundancy: AtomicU8,
}

impl SendControl {
    pub(crate) fn new(plan: Plan) -> Self {
        let control = Self::default();
        control.apply(plan);
        control
    }

    pub(crate) fn apply(&self, plan: Plan) {
        self.bitrate_bps.store(plan.bitrate_bps, Ordering::Relaxed);
        self.fec_loss_pct
            .store(plan.fec_loss_pct, Ordering::Relaxed);
        self.redundancy.store(plan.redundancy, Ordering::Relaxed);
    }

    pub(crate) fn redundancy(&self) -> u8 {
        self.redundancy.load(Ordering::Relaxed)
    }

    pub(crate) fn bitrate_bps(&self) -> u32 {
        self.bitrate_bps.load(Ordering::Relaxed)
    }

    fn encoder(&self) -> (u32, u8) {
        (
            self.bitrate_bps.load(Ordering::Relaxed),
            self.fec_loss_pct.load(Ordering::Relaxed),
        )
    }
}

/// A device that failed in an audio thread, for the session to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceFailure {
    /// What happened, as a sentence.
    pub reason: String,
    /// It was a sound device (worth replacing by the default one), not a
    /// file.
    pub was_device: bool,
}

/// Where an audio thread leaves the failure of its device.
pub(crate) type FailureSlot = Arc<Mutex<Option<DeviceFailure>>>;

fn report(slot: &FailureSlot, reason: String, was_device: bool) {
    tracing::warn!("{reason}");
    *slot.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(DeviceFailure { reason, was_device });
}

/// The send thread.
pub(crate) struct SendThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<Option<MediaError>>>,
    /// A new source for the running thread (switch or fallback).
    pub swap: mpsc::Sender<Box<dyn AudioSource>>,
    /// The source failed; silence is sent until `swap` brings another.
    pub failure: FailureSlot,
}

impl SendThread {
    /// Starts encoding from `source`; frames go to `out` (dropped when full).
    /// Bitrate and FEC follow `control`. The thread ends when the source
    /// ends (a file), `out` closes, or on stop. A source that fails is
    /// replaced by silence and reported in `failure`; the call goes on.
    pub(crate) fn start(
        source: Box<dyn AudioSource>,
        mute: MuteHandle,
        processor: SharedProcessor,
        encoder: EncoderConfig,
        control: Arc<SendControl>,
        out: tokio::sync::mpsc::Sender<Payload>,
    ) -> Result<Self, MediaError> {
        // Every source, the first and any replacement, behind one switch.
        let muted = move |source: Box<dyn AudioSource>| -> Box<dyn AudioSource> {
            Box::new(Muted::with_handle(source, mute.clone()))
        };
        let mut pipeline = SendPipeline::new(muted(source), processor, encoder)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (swap, swaps) = mpsc::channel::<Box<dyn AudioSource>>();
        let failure = FailureSlot::default();
        let failed = failure.clone();
        let join = std::thread::Builder::new()
            .name("media-send".into())
            .spawn(move || {
                let mut applied = (encoder.bitrate_bps, encoder.expected_loss_pct);
                while !flag.load(Ordering::Relaxed) {
                    if let Ok(source) = swaps.try_recv() {
                        drop(pipeline.replace_source(muted(source)));
                    }
                    let wanted = control.encoder();
                    if wanted != applied {
                        applied = wanted;
                        let opus = pipeline.encoder_mut();
                        if let Err(e) = opus
                            .set_bitrate(wanted.0)
                            .and_then(|()| opus.set_expected_loss(wanted.1))
                        {
                            tracing::debug!("encoder settings {wanted:?} refused: {e}");
                        }
                    }
                    match pipeline.next_frame() {
                        Ok(Some(frame)) => match out.try_send(frame.payload) {
                            Ok(()) => {}
                            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                                tracing::debug!("network side behind; a frame was dropped");
                            }
                            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return None,
                        },
                        Ok(None) => return None,
                        Err(e) => {
                            let was_device = pipeline.source_mut().is_device();
                            let silence = Box::new(NullSource::new(Pacing::RealTime));
                            drop(pipeline.replace_source(muted(silence)));
                            report(&failed, format!("the microphone failed: {e}"), was_device);
                        }
                    }
                }
                None
            })
            .map_err(|e| MediaError::Device(format!("cannot start the send thread: {e}")))?;
        Ok(Self {
            stop,
            join: Some(join),
            swap,
            failure,
        })
    }

    /// Stops the thread and waits for it; the error that stopped it, if any.
    pub(crate) fn stop(mut self) -> Option<MediaError> {
        self.stop.store(true, Ordering::Relaxed);
        self.join.take().and_then(|j| j.join().ok().flatten())
    }
}

impl Drop for SendThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the remote tracks hand the playout thread.
pub(crate) enum ToPlayout {
    /// One RTP packet of stream `stream`, received at `arrival_us` on the
    /// session's clock, with the redundant copies of earlier frames it
    /// carried (RED; `None` for a plain Opus packet).
    Packet {
        stream: u32,
        packet: Packet,
        arrival_us: u64,
        copies: Option<Vec<Packet>>,
    },
    /// A remote stream ended.
    Remove(u32),
    /// Play into this sink from now on (switch or fallback).
    Sink(Box<dyn AudioSink>),
}

/// What the playout thread shares with the session.
#[derive(Debug, Default)]
pub(crate) struct PlayoutState {
    /// Jitter-buffer figures per stream, refreshed every half second.
    pub streams: Mutex<Vec<(u32, JitterStats)>>,
    /// When the first frame decoded from a packet was played.
    pub first_audio: Mutex<Option<Instant>>,
    /// The sink failed; nothing is played until a `Sink` brings another.
    pub failure: FailureSlot,
    /// Per stream, its loudest frame (dBFS) since the session last took
    /// them; refreshed every [`LEVELS_EVERY`] frames.
    pub levels: Mutex<Vec<(u32, f32)>>,
}

impl PlayoutState {
    /// The levels since the last call (each stream's loudest frame, dBFS).
    pub(crate) fn take_levels(&self) -> Vec<(u32, f32)> {
        std::mem::take(&mut *self.levels.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The playout thread.
pub(crate) struct PlayoutThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
    /// Packets in.
    pub input: mpsc::Sender<ToPlayout>,
    /// Figures out.
    pub state: Arc<PlayoutState>,
}

/// Frames between two refreshes of [`PlayoutState::streams`].
const STATS_EVERY: u32 = 25;
/// Frames between two refreshes of [`PlayoutState::levels`] (100 ms).
const LEVELS_EVERY: u32 = 5;
/// 20 ms.
const TICK: Duration = Duration::from_millis(20);

impl PlayoutThread {
    /// Starts playing into `sink`, ticking every 20 ms on `clock`.
    pub(crate) fn start(
        sink: Box<dyn AudioSink>,
        processor: SharedProcessor,
        clock: MediaClock,
    ) -> Result<Self, MediaError> {
        let (input, packets) = mpsc::channel();
        let state = Arc::new(PlayoutState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, shared) = (stop.clone(), state.clone());
        let mut pipeline = ReceivePipeline::new(sink, processor, JitterConfig::default());
        let join = std::thread::Builder::new()
            .name("media-playout".into())
            .spawn(move || {
                run_playout(&mut pipeline, &packets, clock, &shared, &flag);
                if let Err(e) = pipeline.sink_mut().finish() {
                    let was_device = pipeline.sink_mut().is_device();
                    report(
                        &shared.failure,
                        format!("could not finish the audio output: {e}"),
                        was_device,
                    );
                }
            })
            .map_err(|e| MediaError::Device(format!("cannot start the playout thread: {e}")))?;
        Ok(Self {
            stop,
            join: Some(join),
            input,
            state,
        })
    }

    /// Stops the thread and waits until the sink is finished.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for PlayoutThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn run_playout(
    pipeline: &mut ReceivePipeline<Box<dyn AudioSink>>,
    packets: &mpsc::Receiver<ToPlayout>,
    clock: MediaClock,
    state: &PlayoutState,
    stop: &AtomicBool,
) {
    let mut next = Instant::now();
    let mut ticks: u32 = 0;
    let mut heard = false;
    let mut levels = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(input) = packets.try_recv() {
            match input {
                ToPlayout::Packet {
                    stream,
                    packet,
                    arrival_us,
                    copies,
                } => {
                    if let Err(e) = pipeline.push(stream, packet, arrival_us) {
                        tracing::debug!("packet refused by the jitter buffer: {e}");
                    }
                    if let Some(copies) = copies {
                        pipeline.push_redundant(stream, copies);
                    }
                }
                ToPlayout::Remove(stream) => pipeline.remove_stream(stream),
                ToPlayout::Sink(sink) => {
                    let mut old = pipeline.replace_sink(sink);
                    if let Err(e) = old.finish() {
                        tracing::debug!("the previous audio output did not finish cleanly: {e}");
                    }
                }
            }
        }
        if let Err(e) = pipeline.tick(clock.now_us()) {
            let was_device = pipeline.sink_mut().is_device();
            drop(pipeline.replace_sink(Box::new(NullSink::default())));
            report(
                &state.failure,
                format!("the speaker failed: {e}"),
                was_device,
            );
        }
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(LEVELS_EVERY) {
            pipeline.take_levels(&mut levels);
            merge_levels(
                &mut state.levels.lock().unwrap_or_else(|p| p.into_inner()),
                &levels,
            );
        }
        if !heard || ticks.is_multiple_of(STATS_EVERY) {
            let streams = pipeline.stats();
            // A packet has left a jitter buffer: a frame was decoded and played.
            if !heard && streams.iter().any(|(_, s)| s.received > s.buffered as u64) {
                heard = true;
                *state.first_audio.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            }
            if ticks.is_multiple_of(STATS_EVERY) {
                *state.streams.lock().unwrap_or_else(|p| p.into_inner()) = streams;
            }
        }
        next += TICK;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(200) {
            // Far behind (the machine stalled): start the schedule afresh.
            next = now;
        }
    }
    *state.streams.lock().unwrap_or_else(|p| p.into_inner()) = pipeline.stats();
}

/// Keeps, per stream, the louder of what was kept and what is new.
fn merge_levels(kept: &mut Vec<(u32, f32)>, new: &[(u32, f32)]) {
    for &(stream, db) in new {
        match kept.iter_mut().find(|(s, _)| *s == stream) {
            Some(entry) => entry.1 = entry.1.max(db),
            None => kept.push((stream, db)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merge_levels;

    #[test]
    fn merged_levels_keep_the_loudest() {
        let mut kept = vec![(1, -30.0)];
        merge_levels(&mut kept, &[(1, -50.0), (2, -20.0)]);
        merge_levels(&mut kept, &[(1, -10.0)]);
        assert_eq!(kept, vec![(1, -10.0), (2, -20.0)]);
    }
}

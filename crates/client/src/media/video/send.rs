//! Our video out: a thread of its own captures and encodes, an async task
//! packetizes and writes to the track.
//!
//! - **The send thread** owns the source (pattern, camera or screen; or
//!   none: it then sleeps on its channel), the frames it reuses and the
//!   VP8 encoder. Per frame: read (the source paces itself), follow the
//!   plan in [`SendState`] (bitrate; a resolution step scales the frame
//!   down first; at half rate every other frame is skipped), force a key frame when the other side asked for one
//!   (the PLI/FIR counter of `rtcp.rs` moved) or the source changed, encode,
//!   and hand the frame to the task over a small bounded channel. A full
//!   channel drops the frame and makes the next one a key frame (the
//!   dropped one was a reference).
//! - **The out task** stamps RTP packets with the capture time (`rtp.rs`)
//!   and writes them to the track; NACK retransmissions and sender reports
//!   are webrtc's interceptors'.
//!
//! A source that fails (a camera unplugged) stops the video, not the
//! call: the failure is left in [`SendState::failure`] for the session.

use super::adapt::scaled_size;
use super::rtp::Packetizer;
use super::{VideoFrame, VideoSink, LOCAL_STREAM_ID};
use crate::media::rtcp::RemoteReports;
use bytes::Bytes;
use softphone_video::vp8::{Content, EncoderConfig, Vp8Encoder};
use softphone_video::{Clock, Frame, SourceId, VideoSource};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;

/// Encoded frames waiting for the out task, at most.
pub(crate) const OUT_QUEUE: usize = 4;

/// What the session and the send thread share: the plan in, the figures out.
#[derive(Debug, Default)]
pub(crate) struct SendState {
    /// Encoder target (b/s), from the adaptation.
    pub bitrate_bps: AtomicU32,
    /// Resolution step (0: the source's size).
    pub step: AtomicU8,
    /// Send every other captured frame (the adaptation's answer to a
    /// starved link).
    pub half_rate: AtomicBool,
    /// A source is on.
    pub sending: AtomicBool,
    pub frames: AtomicU64,
    pub keyframes: AtomicU64,
    /// Key frames forced because the other side asked (PLI/FIR).
    pub keyframes_on_request: AtomicU64,
    /// Frames dropped because the network side was behind.
    pub dropped: AtomicU64,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    /// CPU-free time measure: encode wall time summed (µs).
    pub encode_us: AtomicU64,
    /// The source failed; video is off until another is set.
    pub failure: Mutex<Option<String>>,
}

/// One encoded frame for the out task.
#[derive(Debug)]
pub(crate) struct EncodedVideo {
    pub data: Bytes,
    /// Capture time on the session's video clock (µs).
    pub capture_us: u64,
}

/// Local preview: our captured frames to the application's sink.
pub(crate) struct Preview {
    pub sink: VideoSink,
    pub session_id: String,
}

/// The send thread.
pub(crate) struct VideoSendThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
    swap: mpsc::Sender<Option<Box<dyn VideoSource>>>,
}

impl VideoSendThread {
    /// Starts sending from `source` (or nothing until [`set_source`](Self::set_source)).
    pub(crate) fn start(
        source: Option<Box<dyn VideoSource>>,
        fps: u32,
        state: Arc<SendState>,
        feedback: RemoteReports,
        clock: Clock,
        out: tokio::sync::mpsc::Sender<EncodedVideo>,
        preview: Option<Preview>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (swap, swaps) = mpsc::channel();
        let mut worker = Worker {
            source,
            fps,
            state,
            feedback,
            clock,
            out,
            preview,
            encoder: None,
            restamp: Restamp::default(),
            force_keyframe: true,
        };
        let flag = stop.clone();
        let join = std::thread::Builder::new()
            .name("video-send".into())
            .spawn(move || worker.run(&swaps, &flag))?;
        Ok(Self {
            stop,
            join: Some(join),
            swap,
        })
    }

    /// Sends from `source` from now on (`None`: nothing). False if the
    /// thread is gone.
    pub(crate) fn set_source(&self, source: Option<Box<dyn VideoSource>>) -> bool {
        self.swap.send(source).is_ok()
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for VideoSendThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    source: Option<Box<dyn VideoSource>>,
    fps: u32,
    state: Arc<SendState>,
    feedback: RemoteReports,
    clock: Clock,
    out: tokio::sync::mpsc::Sender<EncodedVideo>,
    preview: Option<Preview>,
    encoder: Option<Vp8Encoder>,
    restamp: Restamp,
    force_keyframe: bool,
}

impl Worker {
    fn run(&mut self, swaps: &mpsc::Receiver<Option<Box<dyn VideoSource>>>, stop: &AtomicBool) {
        let mut frame = Frame::new(2, 2).expect("a 2x2 frame is valid");
        let mut scaled = Frame::new(2, 2).expect("a 2x2 frame is valid");
        let mut requests = self.feedback.keyframe_requests();
        let mut captured = 0u64;
        self.state
            .sending
            .store(self.source.is_some(), Ordering::Relaxed);
        while !stop.load(Ordering::Relaxed) {
            let swapped = if self.source.is_some() {
                swaps.try_recv().ok()
            } else {
                // Nothing to send: wait for a source (or the stop flag).
                match swaps.recv_timeout(Duration::from_millis(100)) {
                    Ok(source) => Some(source),
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            if let Some(source) = swapped {
                // A screen is coded in libvpx's screen-content mode, a
                // camera or the pattern not: a new kind, a new encoder.
                if source.as_ref().map(|s| content_of(s.id()))
                    != self.encoder.as_ref().map(|e| e.config().content)
                {
                    self.encoder = None;
                }
                self.source = source;
                self.restamp.restart();
                self.force_keyframe = true;
                self.state
                    .sending
                    .store(self.source.is_some(), Ordering::Relaxed);
                continue;
            }
            let Some(source) = self.source.as_mut() else {
                continue;
            };
            if let Err(e) = source.read_frame(&mut frame) {
                let reason = format!("the video source {} failed: {e}", source.id());
                tracing::warn!("{reason}");
                *self
                    .state
                    .failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(reason);
                self.source = None;
                self.state.sending.store(false, Ordering::Relaxed);
                continue;
            }
            frame.timestamp_us = self.restamp.stamp(frame.timestamp_us, self.clock.now_us());
            if let Some(preview) = &self.preview {
                (preview.sink)(&VideoFrame {
                    session_id: &preview.session_id,
                    owner: None,
                    stream_id: LOCAL_STREAM_ID,
                    local: true,
                    frame: &frame,
                    vp8: &[],
                    keyframe: false,
                });
            }
            captured = captured.wrapping_add(1);
            let half_rate = self.state.half_rate.load(Ordering::Relaxed);
            if half_rate && captured.is_multiple_of(2) {
                continue;
            }
            let now_requests = self.feedback.keyframe_requests();
            let requested = now_requests != requests;
            requests = now_requests;
            let fps = if half_rate {
                (self.fps / 2).max(1)
            } else {
                self.fps
            };
            if let Some(encoder) = self.encoder.as_mut().filter(|e| e.config().fps != fps) {
                if let Err(e) = encoder.set_fps(fps) {
                    tracing::debug!("video frame rate {fps} refused: {e}");
                }
            }
            let step = self.state.step.load(Ordering::Relaxed);
            let (w, h) = scaled_size(frame.width(), frame.height(), step);
            let input = if (w, h) == (frame.width(), frame.height()) {
                &frame
            } else {
                if scaled.resize(w, h).is_err() {
                    continue;
                }
                frame.scale_into(&mut scaled);
                &scaled
            };
            self.encode(input, requested);
        }
    }

    fn encode(&mut self, input: &Frame, requested: bool) {
        let bitrate = self.state.bitrate_bps.load(Ordering::Relaxed).max(10_000);
        let content = self
            .source
            .as_ref()
            .map_or(Content::Camera, |s| content_of(s.id()));
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => {
                let config = EncoderConfig {
                    fps: self.fps,
                    bitrate_bps: bitrate,
                    content,
                    ..EncoderConfig::new(input.width(), input.height())
                };
                match Vp8Encoder::new(config) {
                    Ok(e) => self.encoder.insert(e),
                    Err(e) => {
                        tracing::warn!("cannot create the VP8 encoder: {e}");
                        return;
                    }
                }
            }
        };
        if encoder.config().bitrate_bps != bitrate {
            if let Err(e) = encoder.set_bitrate(bitrate) {
                tracing::debug!("video bitrate {bitrate} refused: {e}");
            }
        }
        if self.force_keyframe || requested {
            encoder.force_keyframe();
        }
        let started = std::time::Instant::now();
        let encoded = match encoder.encode(input) {
            Ok(Some(encoded)) => encoded,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("a video frame was not encoded: {e}");
                return;
            }
        };
        let state = &self.state;
        state
            .encode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        state.width.store(input.width(), Ordering::Relaxed);
        state.height.store(input.height(), Ordering::Relaxed);
        let video = EncodedVideo {
            data: Bytes::copy_from_slice(encoded.data),
            capture_us: encoded.timestamp_us,
        };
        let keyframe = encoded.keyframe;
        match self.out.try_send(video) {
            Ok(()) => {
                self.force_keyframe = false;
                state.frames.fetch_add(1, Ordering::Relaxed);
                if keyframe {
                    state.keyframes.fetch_add(1, Ordering::Relaxed);
                    if requested {
                        state.keyframes_on_request.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(_) => {
                // The receiver never sees this frame, which the next ones
                // refer to: start afresh with a key frame.
                state.dropped.fetch_add(1, Ordering::Relaxed);
                self.force_keyframe = true;
            }
        }
    }
}

/// How libvpx is tuned for a source.
fn content_of(id: &SourceId) -> Content {
    match id {
        SourceId::Screen(_) => Content::Screen,
        _ => Content::Camera,
    }
}

/// Capture times on the session's clock, whatever clock a source stamps
/// with: each source's own timing between its frames, shifted to start at
/// the session clock's "now", and never going backwards (RTP timestamps
/// must not, across a switch of source either).
#[derive(Debug, Default)]
pub(crate) struct Restamp {
    offset: Option<i64>,
    last: Option<u64>,
}

impl Restamp {
    /// A new source: its clock is its own (the stamps still never go back).
    pub(crate) fn restart(&mut self) {
        self.offset = None;
    }

    /// The capture time for a frame stamped `source_us` by its source, read
    /// at `now_us` on the session clock.
    pub(crate) fn stamp(&mut self, source_us: u64, now_us: u64) -> u64 {
        let offset = *self.offset.get_or_insert(now_us as i64 - source_us as i64);
        let mut at = (source_us as i64 + offset).max(0) as u64;
        if let Some(last) = self.last {
            at = at.max(last + 1);
        }
        self.last = Some(at);
        at
    }
}

/// Writes the send thread's frames to `track` as RTP until the thread stops.
pub(crate) fn spawn_video_out(
    track: Arc<TrackLocalStaticRTP>,
    mut packetizer: Packetizer,
    state: Arc<SendState>,
    mut frames: tokio::sync::mpsc::Receiver<EncodedVideo>,
) {
    tokio::spawn(async move {
        let mut packets = Vec::new();
        while let Some(frame) = frames.recv().await {
            packetizer.packetize(&frame.data, frame.capture_us, &mut packets);
            for packet in packets.drain(..) {
                let bytes = packet.payload.len() as u64;
                match track.write_rtp(packet).await {
                    Ok(()) => {
                        state.packets.fetch_add(1, Ordering::Relaxed);
                        state.bytes.fetch_add(bytes, Ordering::Relaxed);
                    }
                    Err(e) => tracing::debug!("a video packet was not sent: {e}"),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restamped_times_keep_the_source_spacing_and_never_go_back() {
        let mut r = Restamp::default();
        assert_eq!(r.stamp(5_000_000, 100), 100);
        assert_eq!(r.stamp(5_033_000, 999_999), 33_100, "the source's spacing");
        assert_eq!(r.stamp(5_033_000, 0), 33_101, "a repeated stamp moves on");
        // Another source, another clock: continues after the last stamp.
        r.restart();
        assert_eq!(r.stamp(7, 20_000), 33_102);
        assert_eq!(r.stamp(40_007, 0), 60_000);
    }
}

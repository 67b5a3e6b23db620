//! Remote video in: one per remote video stream (a 1:1 call has one; a
//! group call one per other participant, as the forwarder sends them).
//!
//! - **An async task** reads the track's RTP packets and hands them to the
//!   stream's thread over a channel; a second one writes the thread's PLIs
//!   to the track (`TrackRemote::write_rtcp`).
//! - **The stream's thread** reassembles frames (`assemble.rs`), decodes
//!   them with its own VP8 decoder, holds each decoded frame until it is
//!   due (`playout.rs`: lip sync with the stream's audio) and then hands it
//!   to the application's [`VideoSink`]. Frames it cannot decode (a loss
//!   NACK did not repair, a decoder error, a stream that starts without a
//!   key frame, garbage) are dropped and it asks the sender for a key frame,
//!   at most once per 500 ms. Decoded frames are copied into buffers that
//!   are reused; nothing here touches the audio threads or the runtime.

use super::assemble::Assembler;
use super::playout::{PliLimiter, Schedule};
use super::{VideoFrame, VideoSink};
use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use softphone_proto::DeviceAddr;
use softphone_video::{Clock, Frame, Vp8Decoder};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// How long a missing packet is waited for (NACK asks again every 100 ms).
pub(crate) const NACK_WAIT_US: u64 = 250_000;
/// Decoded frames held for lip sync at most (more: shown at once).
const MAX_HELD: usize = 60;

/// Whose stream this is.
#[derive(Debug, Clone)]
pub(crate) struct StreamIdent {
    pub session_id: String,
    pub owner: Option<DeviceAddr>,
    pub stream_id: String,
}

/// The figures of one remote stream, and the lip-sync delay the session
/// sets for it.
#[derive(Debug, Default)]
pub(crate) struct ReceiveState {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Frames reassembled.
    pub frames: AtomicU64,
    pub keyframes: AtomicU64,
    pub decoded: AtomicU64,
    pub rendered: AtomicU64,
    /// Frames that could not be decoded (waiting for a key frame).
    pub dropped: AtomicU64,
    pub decode_errors: AtomicU64,
    pub plis: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    /// Show frames this long after their earliest possible arrival (µs).
    pub delay_us: AtomicU64,
    /// How long the last frame was held before it was shown (µs).
    pub held_us: AtomicU64,
}

/// One remote video stream's thread and tasks.
pub(crate) struct VideoReceiver {
    pub ident: StreamIdent,
    pub state: Arc<ReceiveState>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl VideoReceiver {
    /// Starts receiving `track`; decoded frames go to `sink`.
    pub(crate) fn start(
        track: Arc<dyn TrackRemote>,
        ident: StreamIdent,
        sink: Option<VideoSink>,
        clock: Clock,
    ) -> std::io::Result<Self> {
        let state = Arc::new(ReceiveState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (to_thread, packets) = mpsc::channel::<Inbound>();
        let (pli_tx, mut pli_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let mut worker = Worker {
            ident: ident.clone(),
            state: state.clone(),
            sink,
            clock,
            pli: pli_tx,
            assembler: Assembler::new(NACK_WAIT_US),
            limiter: PliLimiter::default(),
            schedule: Schedule::default(),
            held: VecDeque::new(),
            free: Vec::new(),
            encoded: Vec::with_capacity(64 * 1024),
            ssrc: None,
        };
        let flag = stop.clone();
        let join = std::thread::Builder::new()
            .name("video-receive".into())
            .spawn(move || worker.run(&packets, &flag))?;
        let writer = track.clone();
        tokio::spawn(async move {
            while let Some(media_ssrc) = pli_rx.recv().await {
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc,
                };
                if let Err(e) = writer.write_rtcp(vec![Box::new(pli)]).await {
                    tracing::debug!("a key-frame request was not sent: {e}");
                }
            }
        });
        let counters = state.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(rtp) => {
                        counters.packets.fetch_add(1, Ordering::Relaxed);
                        counters
                            .bytes
                            .fetch_add(rtp.payload.len() as u64, Ordering::Relaxed);
                        let packet = Inbound {
                            ssrc: rtp.header.ssrc,
                            seq: rtp.header.sequence_number,
                            ts: rtp.header.timestamp,
                            marker: rtp.header.marker,
                            payload: rtp.payload,
                        };
                        if to_thread.send(packet).is_err() {
                            return;
                        }
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
        Ok(Self {
            ident,
            state,
            stop,
            join: Some(join),
        })
    }

    /// Stops the thread and waits for it (the figures stay readable).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for VideoReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One RTP packet for the thread.
struct Inbound {
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Bytes,
}

/// A decoded frame waiting to be shown (buffers reused).
struct Shown {
    frame: Frame,
    vp8: Vec<u8>,
    keyframe: bool,
    at_us: u64,
}

struct Worker {
    ident: StreamIdent,
    state: Arc<ReceiveState>,
    sink: Option<VideoSink>,
    clock: Clock,
    pli: tokio::sync::mpsc::UnboundedSender<u32>,
    assembler: Assembler,
    limiter: PliLimiter,
    schedule: Schedule,
    held: VecDeque<Shown>,
    free: Vec<Shown>,
    encoded: Vec<u8>,
    ssrc: Option<u32>,
}

impl Worker {
    fn run(&mut self, packets: &mpsc::Receiver<Inbound>, stop: &AtomicBool) {
        let mut decoder = match Vp8Decoder::new() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(
                    "cannot create a VP8 decoder; this stream's video is not shown: {e}"
                );
                return;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            let now = self.clock.now_us();
            let mut due = now + 100_000;
            if let Some(front) = self.held.front() {
                due = due.min(front.at_us);
            }
            if let Some(deadline) = self.assembler.deadline() {
                due = due.min(deadline);
            }
            match packets.recv_timeout(Duration::from_micros(due.saturating_sub(now))) {
                Ok(packet) => {
                    self.push(packet);
                    while let Ok(packet) = packets.try_recv() {
                        self.push(packet);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let now = self.clock.now_us();
            self.step(&mut decoder, now);
        }
    }

    /// Decodes what is complete and shows what is due.
    fn step(&mut self, decoder: &mut Vp8Decoder, now: u64) {
        while let Some(frame) = self.assembler.pop(now, &mut self.encoded) {
            self.decode(decoder, frame, now);
        }
        self.show_due(now);
    }

    fn push(&mut self, packet: Inbound) {
        self.ssrc = Some(packet.ssrc);
        self.assembler
            .push(packet.seq, packet.ts, packet.marker, &packet.payload);
    }

    fn decode(&mut self, decoder: &mut Vp8Decoder, frame: super::assemble::Assembled, now: u64) {
        let state = &self.state;
        state.frames.fetch_add(1, Ordering::Relaxed);
        if frame.keyframe {
            state.keyframes.fetch_add(1, Ordering::Relaxed);
        }
        if frame.after_loss && !frame.keyframe {
            decoder.mark_lost();
        }
        if decoder.needs_keyframe() && !frame.keyframe {
            state.dropped.fetch_add(1, Ordering::Relaxed);
            self.ask_for_keyframe(now);
            return;
        }
        let decoded = match decoder.decode(&self.encoded, now) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(stream = %self.ident.stream_id, "{e}");
                state.decode_errors.fetch_add(1, Ordering::Relaxed);
                self.ask_for_keyframe(now);
                return;
            }
        };
        state.decoded.fetch_add(1, Ordering::Relaxed);
        state.width.store(decoded.width(), Ordering::Relaxed);
        state.height.store(decoded.height(), Ordering::Relaxed);
        let delay = state.delay_us.load(Ordering::Relaxed);
        let at_us = self.schedule.render_at(frame.timestamp, now, delay);
        state
            .held_us
            .store(at_us.saturating_sub(now), Ordering::Relaxed);
        if self.sink.is_none() {
            state.rendered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut shown = self.free.pop().unwrap_or_else(|| Shown {
            frame: decoded.clone(),
            vp8: Vec::new(),
            keyframe: false,
            at_us: 0,
        });
        shown.frame.copy_from(decoded);
        shown.vp8.clear();
        shown.vp8.extend_from_slice(&self.encoded);
        shown.keyframe = frame.keyframe;
        shown.at_us = at_us;
        self.held.push_back(shown);
        if self.held.len() > MAX_HELD {
            self.show_one();
        }
    }

    fn ask_for_keyframe(&mut self, now: u64) {
        let Some(ssrc) = self.ssrc else {
            return;
        };
        if self.limiter.allow(now) && self.pli.send(ssrc).is_ok() {
            self.state.plis.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn show_due(&mut self, now: u64) {
        while self.held.front().is_some_and(|f| f.at_us <= now) {
            self.show_one();
        }
    }

    fn show_one(&mut self) {
        let Some(shown) = self.held.pop_front() else {
            return;
        };
        if let Some(sink) = &self.sink {
            sink(&VideoFrame {
                session_id: &self.ident.session_id,
                owner: self.ident.owner.as_ref(),
                stream_id: &self.ident.stream_id,
                local: false,
                frame: &shown.frame,
                vp8: &shown.vp8,
                keyframe: shown.keyframe,
            });
        }
        self.state.rendered.fetch_add(1, Ordering::Relaxed);
        self.free.push(shown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::video::rtp::Packetizer;
    use softphone_video::{EncoderConfig, Vp8Encoder};
    use std::sync::Mutex;

    /// The counters read off the frames shown.
    type ShownCounters = Arc<Mutex<Vec<Option<u32>>>>;

    /// A worker whose sink keeps the counters of the frames shown, and
    /// where its PLIs go.
    fn worker() -> (
        Worker,
        tokio::sync::mpsc::UnboundedReceiver<u32>,
        ShownCounters,
    ) {
        let (pli, plis) = tokio::sync::mpsc::unbounded_channel();
        let shown = Arc::new(Mutex::new(Vec::new()));
        let seen = shown.clone();
        let sink: VideoSink = Arc::new(move |f: &VideoFrame<'_>| {
            seen.lock()
                .unwrap()
                .push(softphone_video::read_counter(f.frame));
        });
        let worker = Worker {
            ident: StreamIdent {
                session_id: "s".into(),
                owner: None,
                stream_id: "softphone".into(),
            },
            state: Arc::default(),
            sink: Some(sink),
            clock: Clock::new(),
            pli,
            assembler: Assembler::new(NACK_WAIT_US),
            limiter: PliLimiter::default(),
            schedule: Schedule::default(),
            held: VecDeque::new(),
            free: Vec::new(),
            encoded: Vec::new(),
            ssrc: None,
        };
        (worker, plis, shown)
    }

    fn send(w: &mut Worker, packets: &[rtc::rtp::packet::Packet]) {
        for p in packets {
            w.push(Inbound {
                ssrc: p.header.ssrc,
                seq: p.header.sequence_number,
                ts: p.header.timestamp,
                marker: p.header.marker,
                payload: p.payload.clone(),
            });
        }
    }

    #[test]
    fn no_key_frame_first_or_garbage_asks_for_one_and_a_key_frame_recovers() {
        let (mut w, mut plis, shown) = worker();
        let mut decoder = Vp8Decoder::new().unwrap();
        let mut encoder = Vp8Encoder::new(EncoderConfig::new(320, 180)).unwrap();
        let mut packetizer = Packetizer::new(0x5151, 96, 100, 0);
        let mut picture = Frame::new(320, 180).unwrap();
        let mut frames = Vec::new();
        for n in 0..3u32 {
            softphone_video::pattern::draw(&mut picture, n);
            picture.timestamp_us = u64::from(n) * 33_333;
            let encoded = encoder.encode(&picture).unwrap().unwrap();
            let mut packets = Vec::new();
            packetizer.packetize(
                &Bytes::copy_from_slice(encoded.data),
                picture.timestamp_us,
                &mut packets,
            );
            frames.push((encoded.keyframe, packets));
        }
        assert!(frames[0].0 && !frames[1].0);

        // The stream starts with an inter frame (its key frame was lost).
        send(&mut w, &frames[1].1);
        w.step(&mut decoder, 1_000_000);
        assert_eq!(w.state.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(plis.try_recv(), Ok(0x5151), "a PLI for the stream's SSRC");
        // Garbage that claims to be a frame: refused, and no second PLI
        // within 500 ms.
        let garbage = rtc::rtp::packet::Packet {
            header: rtc::rtp::header::Header {
                ssrc: 0x5151,
                sequence_number: 200,
                timestamp: 9_000_000,
                marker: true,
                ..Default::default()
            },
            payload: Bytes::from_static(&[0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4, 5, 6, 7]),
        };
        send(&mut w, std::slice::from_ref(&garbage));
        w.step(&mut decoder, 1_100_000);
        assert!(plis.try_recv().is_err(), "rate-limited");
        assert_eq!(shown.lock().unwrap().len(), 0);

        // The key frame comes (after a sender restart of sorts: new
        // sequence numbers), then an inter frame: both shown, in order.
        let mut packetizer = Packetizer::new(0x5151, 96, 5000, 0);
        let mut again = Vec::new();
        for n in 0..2u32 {
            softphone_video::pattern::draw(&mut picture, 10 + n);
            picture.timestamp_us = 1_000_000 + u64::from(n) * 33_333;
            if n == 0 {
                encoder.force_keyframe();
            }
            let encoded = encoder.encode(&picture).unwrap().unwrap();
            packetizer.packetize(
                &Bytes::copy_from_slice(encoded.data),
                picture.timestamp_us,
                &mut again,
            );
        }
        send(&mut w, &again);
        w.step(&mut decoder, 1_200_000);
        assert_eq!(*shown.lock().unwrap(), vec![Some(10), Some(11)]);
        assert_eq!(w.state.decoded.load(Ordering::Relaxed), 2);

        // Garbage mid-stream: a decode error, a PLI (the limit has passed).
        let mut bad = garbage;
        bad.header.sequence_number = 5000 + again.len() as u16;
        bad.header.timestamp = 2_000_000;
        send(&mut w, &[bad]);
        w.step(&mut decoder, 1_800_000);
        assert_eq!(plis.try_recv(), Ok(0x5151));
        assert!(
            w.state.decode_errors.load(Ordering::Relaxed) + w.state.dropped.load(Ordering::Relaxed)
                >= 2
        );
    }
}

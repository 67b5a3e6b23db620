//! Adaptive jitter buffer for one remote audio stream.
//!
//! Driven by a virtual clock: the caller passes the arrival time of every
//! packet to [`JitterBuffer::push`] and calls [`JitterBuffer::pop`] every
//! 20 ms with the current time (both in microseconds of any monotonic
//! clock). Nothing here reads a clock, sleeps or locks.
//!
//! How playout is decided:
//!
//! - Every packet's *transit* (arrival − sender timestamp) is measured. A
//!   minimum of it that slowly rises when no packet has come near it for a
//!   second ("leaky") is the clock offset; a packet's
//!   *relative delay* is its transit above that minimum.
//! - The *target delay* is half a frame above the 97th percentile of
//!   relative delays (a histogram that forgets over ~7 s) or three times
//!   the RFC 3550 jitter, whichever is larger; it rises at once and falls
//!   over a few seconds. While packets are being lost (a gap in the last
//!   500) it is one frame more, so the packet after a loss is usually here
//!   in time to rebuild the lost frame from its FEC. Clamped to
//!   `min_delay ..= max_delay`.
//! - The *current delay* is how long after its earliest possible arrival
//!   the next frame is played. When it drifts above the target by a frame the
//!   buffer skips one frame (decoding and dropping it, to keep the decoder's
//!   state continuous); below the target by half a frame it stretches (one
//!   concealed frame without advancing). A sender clock that runs 0.5 % fast
//!   or slow therefore costs one skip or stretch every 4 s.
//! - A frame missing at its playout time is rebuilt from the next packet's
//!   in-band FEC when that packet is already here, else concealed (PLC).
//!   After a few concealed frames with nothing buffered the output is
//!   silence (the sender paused). A packet arriving after its playout time is
//!   late and dropped, unless the buffer ran dry meanwhile: then playout
//!   resumes from it (a delay spike becomes extra delay, not lost audio).
//! - Sequence numbers and timestamps are unwrapped to 64 bits; a jump larger
//!   than 3000 packets confirmed by the next packet is a sender restart
//!   (RFC 3550 A.1): the buffer and decoder start over.

mod estimate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::codec::FrameDecoder;
use crate::{FRAME_SAMPLES, FRAME_US};
use estimate::{extend_seq, extend_ts, ts_to_us, DelayHistogram, LeakyMin, Rfc3550Jitter};

const FRAME_TS: i64 = FRAME_SAMPLES as i64;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
/// Concealed frames in a row (with nothing buffered) before output turns to silence.
const MAX_PLC_RUN: u32 = 5;
/// A packet this much slower than the window minimum means the path changed.
const MAX_REL_US: i64 = 1_000_000;
/// Pops between two drift/target skips (limits the speed-up to 10 %).
const SKIP_INTERVAL: u32 = 10;

/// One received RTP packet's audio payload and the header fields that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (48 kHz units).
    pub timestamp: u32,
    /// The Opus payload (20 ms).
    pub payload: Vec<u8>,
}

/// Where a played frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameKind {
    /// Still filling up before the first frame: silence.
    Buffering,
    /// Decoded from its own packet.
    Normal,
    /// Rebuilt from the next packet's in-band FEC.
    Fec,
    /// Made up by packet loss concealment (loss, stretch or underrun).
    Concealed,
    /// Nothing to play for a while: silence.
    Silence,
}

/// One 20 ms frame of output.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// 960 mono samples at 48 kHz.
    pub samples: Vec<f32>,
    /// Where it came from.
    pub kind: FrameKind,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Already had it.
    Duplicate,
    /// Its playout time has passed; dropped.
    Late,
    /// Playout had run dry; it resumes from this packet.
    Resynced,
    /// A big sequence jump; held until the next packet confirms a restart.
    Suspicious,
    /// The jump was confirmed: the buffer restarted on the new sequence.
    Restarted,
}

/// Settings of a jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest target delay (µs).
    pub min_delay_us: u64,
    /// Largest target delay (µs); the current delay never stays above it.
    pub max_delay_us: u64,
    /// Most packets held at once.
    pub capacity: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            min_delay_us: 20_000,
            max_delay_us: 200_000,
            capacity: 64,
        }
    }
}

/// Counters and current figures of one jitter buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets stored (not counting duplicates).
    pub received: u64,
    /// Packets never received (RFC 3550: expected − received, never negative).
    pub lost: u64,
    /// Packets that arrived after their playout time and were dropped.
    pub late: u64,
    /// Duplicated packets ignored.
    pub duplicates: u64,
    /// Frames made up by concealment.
    pub concealed: u64,
    /// Frames rebuilt from FEC.
    pub recovered_fec: u64,
    /// Lost packets whose frame came in a later packet's redundant copy (RED).
    pub recovered_red: u64,
    /// Frames skipped to shrink the delay (drift, target change, overrun).
    pub skipped: u64,
    /// Concealed frames inserted to grow the delay.
    pub stretched: u64,
    /// Sender restarts detected.
    pub restarts: u64,
    /// Payloads the decoder rejected (concealed instead).
    pub decode_errors: u64,
    /// RFC 3550 interarrival jitter (µs).
    pub jitter_us: u64,
    /// Target delay (µs).
    pub target_delay_us: u64,
    /// Current playout delay above the fastest packets (µs), at the last pop.
    pub current_delay_us: u64,
    /// Packets waiting in the buffer.
    pub buffered: usize,
}

#[derive(Debug, Clone, Copy)]
struct Cursor {
    seq: u64,
    ts: i64,
}

#[derive(Debug)]
struct Slot {
    ts: i64,
    payload: Vec<u8>,
}

/// Adaptive jitter buffer for one stream; owns that stream's decoder.
#[derive(Debug)]
pub struct JitterBuffer<D> {
    decoder: D,
    config: JitterConfig,
    packets: BTreeMap<u64, Slot>,
    /// Highest extended sequence number and its extended timestamp.
    highest: Option<(u64, i64)>,
    /// Lowest extended sequence number of this sender epoch.
    first_seq: u64,
    received_epoch: u64,
    lost_before: u64,
    /// A packet after a big jump, waiting for the next one to confirm it.
    suspect: Option<(Packet, u64)>,
    cursor: Option<Cursor>,
    started: bool,
    jitter: Rfc3550Jitter,
    offset: LeakyMin,
    /// Sequence numbers that left the buffer (played or skipped), by `seq % len`.
    played: [u64; 128],
    /// Highest sequence number after which a gap (loss) was seen.
    last_gap: Option<u64>,
    /// How many frames back the sender's redundant copies reach (RED).
    red_depth: u64,
    histogram: DelayHistogram,
    /// Smoothed target from the estimators (µs): rises at once, falls slowly.
    smoothed_target: f64,
    plc_run: u32,
    since_skip: u32,
    stats: JitterStats,
}

impl<D: FrameDecoder> JitterBuffer<D> {
    /// A jitter buffer that decodes with `decoder`.
    pub fn new(decoder: D, config: JitterConfig) -> Self {
        let mut config = config;
        config.max_delay_us = config.max_delay_us.max(FRAME_US);
        config.min_delay_us = config.min_delay_us.min(config.max_delay_us);
        config.capacity = config.capacity.max(4);
        Self {
            decoder,
            config,
            packets: BTreeMap::new(),
            highest: None,
            first_seq: 0,
            received_epoch: 0,
            lost_before: 0,
            suspect: None,
            cursor: None,
            started: false,
            jitter: Rfc3550Jitter::default(),
            offset: LeakyMin::new(0.01, 5_000, 1_000_000),
            played: [u64::MAX; 128],
            last_gap: None,
            red_depth: 0,
            histogram: DelayHistogram::new(5_000, 400_000, 0.997),
            smoothed_target: 0.0,
            plc_run: 0,
            since_skip: SKIP_INTERVAL,
            stats: JitterStats::default(),
        }
    }

    /// Current counters and delays.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        s.lost = self.expected_lost();
        s.jitter_us = self.jitter.jitter_us() as u64;
        s.target_delay_us = self.target_delay_us();
        s.buffered = self.packets.len();
        s
    }

    /// The decoder (for example to inspect it in tests).
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// Target delay from the delay histogram and RFC 3550 jitter (µs).
    pub fn target_delay_us(&self) -> u64 {
        let lossy = match (self.last_gap, self.highest) {
            (Some(gap), Some((high, _))) => high.saturating_sub(gap) < 500,
            _ => false,
        };
        // While the sender adds redundant copies (it does when loss is
        // reported), hold as many frames more as they reach back; else while
        // packets are being lost, one frame more for the FEC. Either way the
        // packet after a loss is usually here in time to rebuild it.
        let fec_headroom = if self.red_depth > 0 {
            FRAME_US * self.red_depth
        } else if lossy {
            FRAME_US
        } else {
            0
        };
        ((self.smoothed_target as u64).max(self.config.min_delay_us) + fec_headroom)
            .clamp(self.config.min_delay_us, self.config.max_delay_us)
    }

    fn expected_lost(&self) -> u64 {
        let expected = match self.highest {
            Some((high, _)) => high.saturating_sub(self.first_seq) + 1,
            None => 0,
        };
        self.lost_before + expected.saturating_sub(self.received_epoch)
    }

    /// Hand in a received packet with its arrival time (µs).
    pub fn push(&mut self, packet: Packet, arrival_us: u64) -> PushOutcome {
        let Some((high_seq, _)) = self.highest else {
            self.start_stream(&packet);
            return self.store(packet, arrival_us);
        };
        let forward = packet.seq.wrapping_sub(high_seq as u16);
        if (MAX_DROPOUT..=u16::MAX - MAX_MISORDER).contains(&forward) {
            // A jump too big to be loss or reordering.
            return match self.suspect.take() {
                Some((prev, prev_arrival)) if prev.seq.wrapping_add(1) == packet.seq => {
                    self.restart(&prev);
                    self.store(prev, prev_arrival);
                    self.store(packet, arrival_us);
                    PushOutcome::Restarted
                }
                _ => {
                    self.suspect = Some((packet, arrival_us));
                    PushOutcome::Suspicious
                }
            };
        }
        self.suspect = None;
        self.store(packet, arrival_us)
    }

    /// How many frames back the redundant copies in the sender's packets now
    /// reach (0 to 2; RED). The target delay grows by as many frames.
    pub fn set_redundancy(&mut self, frames: u8) {
        self.red_depth = u64::from(frames.min(2));
    }

    /// Hand in a redundant copy of an earlier frame (RFC 2198), taken from
    /// a packet already given to [`push`](Self::push). It only fills a gap:
    /// a frame already here or played, or one whose playout time has
    /// passed, is ignored. It does not count as received and is not used to
    /// measure delay (it travelled with a later packet).
    pub fn push_redundant(&mut self, packet: Packet) -> PushOutcome {
        let (Some((high_seq, high_ts)), Some(cursor)) = (self.highest, self.cursor) else {
            return PushOutcome::Duplicate;
        };
        let seq = extend_seq(high_seq, packet.seq);
        if seq >= high_seq
            || self.packets.contains_key(&seq)
            || self.played[(seq % 128) as usize] == seq
        {
            return PushOutcome::Duplicate;
        }
        if seq < cursor.seq {
            return PushOutcome::Late;
        }
        let ts = extend_ts(high_ts, packet.timestamp);
        self.packets.insert(
            seq,
            Slot {
                ts,
                payload: packet.payload,
            },
        );
        self.stats.recovered_red += 1;
        PushOutcome::Accepted
    }

    fn start_stream(&mut self, packet: &Packet) {
        let seq = (1u64 << 32) + u64::from(packet.seq);
        let ts = (1i64 << 33) + i64::from(packet.timestamp);
        self.highest = Some((seq, ts));
        self.first_seq = seq;
        self.received_epoch = 0;
        self.cursor = Some(Cursor { seq, ts });
        self.started = false;
        self.plc_run = 0;
    }

    fn restart(&mut self, packet: &Packet) {
        self.stats.restarts += 1;
        self.lost_before = self.expected_lost();
        self.packets.clear();
        self.offset.clear();
        self.histogram.clear();
        self.jitter = Rfc3550Jitter::default();
        self.smoothed_target = 0.0;
        self.played = [u64::MAX; 128];
        self.last_gap = None;
        // A failed reset only leaves old history in the decoder: harmless.
        let _ = self.decoder.reset();
        self.start_stream(packet);
    }

    fn store(&mut self, packet: Packet, arrival_us: u64) -> PushOutcome {
        let Some((high_seq, high_ts)) = self.highest else {
            return PushOutcome::Duplicate;
        };
        let seq = extend_seq(high_seq, packet.seq);
        let ts = extend_ts(high_ts, packet.timestamp);
        if self.packets.contains_key(&seq) || self.played[(seq % 128) as usize] == seq {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        if seq > high_seq {
            if seq > high_seq + 1 {
                self.last_gap = Some(high_seq);
            }
            self.highest = Some((seq, ts));
        }
        if seq < self.first_seq {
            self.first_seq = seq;
        }
        self.received_epoch += 1;
        self.stats.received += 1;
        self.measure(arrival_us, ts);

        let Some(cursor) = self.cursor else {
            return PushOutcome::Duplicate;
        };
        let mut outcome = PushOutcome::Accepted;
        if seq < cursor.seq {
            if !self.started {
                // Reordered before playout began: start from the earlier one.
                self.cursor = Some(Cursor { seq, ts });
            } else if self.plc_run > 0
                && self.packets.is_empty()
                && self.delay_at(arrival_us, ts) <= self.config.max_delay_us as i64
            {
                // Playout ran dry waiting for this: resume from it.
                self.cursor = Some(Cursor { seq, ts });
                // The frames concealed while waiting were, in effect, a stretch.
                self.stats.stretched += u64::from(self.plc_run);
                // Play what was held up before shrinking the delay again.
                self.since_skip = 0;
                outcome = PushOutcome::Resynced;
            } else {
                self.stats.late += 1;
                self.retire(seq);
                return PushOutcome::Late;
            }
        }
        self.packets.insert(
            seq,
            Slot {
                ts,
                payload: packet.payload,
            },
        );
        // Overrun: drop the oldest packets beyond capacity.
        while self.packets.len() > self.config.capacity {
            if let Some((old_seq, old)) = self.packets.pop_first() {
                self.retire(old_seq);
                self.stats.skipped += 1;
                self.cursor = Some(Cursor {
                    seq: old_seq + 1,
                    ts: old.ts + FRAME_TS,
                });
            }
        }
        outcome
    }

    /// Follow the estimators: up at once (a spike must be absorbed now), down
    /// slowly (over ~4 s of packets), so noise in them does not make the
    /// buffer skip and stretch back and forth.
    fn update_target(&mut self) {
        let from_hist = self.histogram.quantile_us(0.97);
        let from_jitter = (3.0 * self.jitter.jitter_us()) as u64;
        let raw = (from_hist.max(from_jitter) + FRAME_US / 2) as f64;
        if raw > self.smoothed_target {
            self.smoothed_target = raw;
        } else {
            self.smoothed_target += (raw - self.smoothed_target) / 200.0;
        }
    }

    fn measure(&mut self, arrival_us: u64, ts: i64) {
        let transit = i64::try_from(arrival_us)
            .unwrap_or(i64::MAX)
            .saturating_sub(ts_to_us(ts));
        self.jitter.update(transit);
        match self.offset.min() {
            Some(min) if transit.saturating_sub(min) > MAX_REL_US => {
                // The path or the sender's clock jumped: measure afresh.
                self.offset.clear();
                self.histogram.clear();
                self.offset.update(arrival_us, transit);
            }
            Some(min) => {
                self.offset.update(arrival_us, transit);
                let base = self.offset.min().unwrap_or(min);
                self.histogram
                    .add(transit.saturating_sub(base).max(0) as u64);
            }
            None => {
                self.offset.update(arrival_us, transit);
                self.histogram.add(0);
            }
        }
        self.update_target();
    }

    /// How long after its earliest possible arrival a frame with extended
    /// timestamp `ts` is played at `now_us`.
    fn delay_at(&self, now_us: u64, ts: i64) -> i64 {
        let offset = self.offset.min().unwrap_or(0);
        i64::try_from(now_us)
            .unwrap_or(i64::MAX)
            .saturating_sub(offset)
            .saturating_sub(ts_to_us(ts))
    }

    /// The next 20 ms frame, allocating it. See [`JitterBuffer::pop_into`].
    pub fn pop(&mut self, now_us: u64) -> Frame {
        let mut samples = vec![0.0; FRAME_SAMPLES];
        let kind = self.pop_into(now_us, &mut samples);
        Frame { samples, kind }
    }

    /// Play the next 20 ms frame into `out` (960 samples; a wrong length
    /// gets silence). Call every 20 ms.
    pub fn pop_into(&mut self, now_us: u64, out: &mut [f32]) -> FrameKind {
        out.iter_mut().for_each(|s| *s = 0.0);
        if out.len() != FRAME_SAMPLES {
            return FrameKind::Silence;
        }
        let Some(mut cursor) = self.cursor else {
            return FrameKind::Buffering;
        };
        self.since_skip = self.since_skip.saturating_add(1);
        let target = self.target_delay_us() as i64;
        let frame = FRAME_US as i64;
        let max = self.config.max_delay_us as i64;
        let mut delay = self.delay_at(now_us, self.cursor_ts(cursor));

        if !self.started {
            if delay < target - frame / 2 {
                return FrameKind::Buffering;
            }
            self.started = true;
        }

        if delay > max + frame / 2 {
            // Far too late (a spike resumed, or the sender's clock jumped):
            // jump ahead to the target at once.
            let k = delay.saturating_sub(target) / frame;
            self.skip(&mut cursor, k.max(1) as u64);
            delay = self.delay_at(now_us, self.cursor_ts(cursor));
        } else if delay > target + frame
            && self.since_skip >= SKIP_INTERVAL
            && self.packets.contains_key(&cursor.seq)
            && self.packets.contains_key(&(cursor.seq + 1))
        {
            // Gently shrink towards the target: decode and drop one frame.
            if let Some(slot) = self.packets.remove(&cursor.seq) {
                self.retire(cursor.seq);
                if self.decoder.decode(&slot.payload, out).is_err() {
                    self.stats.decode_errors += 1;
                }
                cursor = Cursor {
                    seq: cursor.seq + 1,
                    ts: slot.ts + FRAME_TS,
                };
            }
            self.stats.skipped += 1;
            self.since_skip = 0;
            delay -= frame;
        } else if delay < target - frame / 2 && self.plc_run == 0 {
            // Grow towards the target: one concealed frame, no advance.
            self.stats.current_delay_us = delay.max(0) as u64;
            self.stats.stretched += 1;
            self.cursor = Some(cursor);
            return self.conceal(out);
        }
        self.stats.current_delay_us = delay.max(0) as u64;

        let kind = self.play(&cursor, out);
        let played_ts = self.cursor_ts(cursor);
        if self.packets.remove(&cursor.seq).is_some() {
            self.retire(cursor.seq);
        }
        self.cursor = Some(Cursor {
            seq: cursor.seq + 1,
            ts: played_ts + FRAME_TS,
        });
        kind
    }

    /// Remember that `seq` left the buffer, so a copy arriving later is a duplicate.
    fn retire(&mut self, seq: u64) {
        self.played[(seq % 128) as usize] = seq;
    }

    fn cursor_ts(&self, cursor: Cursor) -> i64 {
        self.packets.get(&cursor.seq).map_or(cursor.ts, |s| s.ts)
    }

    fn skip(&mut self, cursor: &mut Cursor, frames: u64) {
        let frames = frames.min(u64::from(u32::MAX));
        let until = cursor.seq.saturating_add(frames);
        let ts = self
            .cursor_ts(*cursor)
            .saturating_add((frames as i64).saturating_mul(FRAME_TS));
        while let Some(entry) = self.packets.first_entry() {
            let seq = *entry.key();
            if seq >= until {
                break;
            }
            entry.remove();
            self.retire(seq);
        }
        self.stats.skipped += frames;
        *cursor = Cursor { seq: until, ts };
    }

    fn play(&mut self, cursor: &Cursor, out: &mut [f32]) -> FrameKind {
        if let Some(slot) = self.packets.get(&cursor.seq) {
            self.plc_run = 0;
            return match self.decoder.decode(&slot.payload, out) {
                Ok(()) => FrameKind::Normal,
                Err(_) => {
                    self.stats.decode_errors += 1;
                    self.conceal(out)
                }
            };
        }
        if let Some(next) = self.packets.get(&(cursor.seq + 1)) {
            self.plc_run = 0;
            if self.decoder.decode_fec(&next.payload, out).is_ok() {
                self.stats.recovered_fec += 1;
                return FrameKind::Fec;
            }
            self.stats.decode_errors += 1;
            return self.conceal(out);
        }
        if self.packets.is_empty() {
            self.plc_run = self.plc_run.saturating_add(1);
            if self.plc_run > MAX_PLC_RUN {
                out.iter_mut().for_each(|s| *s = 0.0);
                return FrameKind::Silence;
            }
        }
        self.conceal(out)
    }

    fn conceal(&mut self, out: &mut [f32]) -> FrameKind {
        self.stats.concealed += 1;
        if self.decoder.conceal(out).is_err() {
            out.iter_mut().for_each(|s| *s = 0.0);
        }
        FrameKind::Concealed
    }
}

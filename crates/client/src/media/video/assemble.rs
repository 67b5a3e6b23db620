//! Whole VP8 frames from RTP packets, as soon as each is complete, and the
//! losses that break the chain of references (so the decoder waits for a
//! key frame and the receiver asks for one). Pure: packets and the time in,
//! frames out.
//!
//! - A frame is the packets from one that starts a frame (S = 1,
//!   partition 0) up to the one with the marker bit, consecutive sequence
//!   numbers, one timestamp. It is handed out the moment its last packet is
//!   in (`rtc`'s `SampleBuilder` waits for the first packet of the *next*
//!   frame, a frame interval of latency, and never hands out the last
//!   frame before a pause).
//! - A missing packet is waited for up to [`Assembler::new`]'s `max_wait`
//!   (webrtc's NACK generator asks for it every 100 ms and the sender's
//!   NACK responder resends it), then given up: the frames up to the next
//!   frame start are dropped and the next frame out says `after_loss`.
//! - Not waited for at all: a hole when a complete key frame is already
//!   buffered after it (it replaces everything before), and a hole older
//!   than [`STALE_GAP_MS`] compared with what came after it (an outage:
//!   what NACK would bring back is too old to show; a key frame is better).
//! - Sequence numbers are unwrapped to 64 bits; a jump of more than
//!   [`MAX_JUMP`] packets is a sender restart and starts over.

use super::rtp::parse_descriptor;
use bytes::Bytes;
use softphone_video::vp8::is_keyframe;
use std::collections::BTreeMap;

/// A hole in the sequence numbers this much older (in RTP time) than the
/// newest packet is not waited for.
pub(crate) const STALE_GAP_MS: u32 = 400;
/// A sequence-number jump this large is a new sender, not loss.
pub(crate) const MAX_JUMP: u64 = 3000;
/// Packets held at most (a frame that never completes cannot grow this).
const MAX_HELD: usize = 2000;

#[derive(Debug)]
struct Held {
    ts: u32,
    marker: bool,
    start: bool,
    /// The payload without its descriptor.
    data: Bytes,
}

/// One frame handed out by [`Assembler::pop`] (its bytes went to `out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assembled {
    /// The frame's RTP timestamp.
    pub timestamp: u32,
    /// A key frame (decodable on its own).
    pub keyframe: bool,
    /// Frames were lost since the previous one handed out (or this is the
    /// first and its stream's start was missed): unless this is a key
    /// frame, the decoder lacks its references.
    pub after_loss: bool,
}

/// Reassembles one stream's frames.
#[derive(Debug)]
pub(crate) struct Assembler {
    packets: BTreeMap<u64, Held>,
    /// The highest extended sequence number seen.
    highest: Option<u64>,
    /// Where the next frame starts (right after the last one handed out).
    next: Option<u64>,
    /// Packets below this were handed out or given up (while `next` is
    /// not known yet).
    floor: u64,
    /// The timestamp of the last frame handed out.
    last_ts: Option<u32>,
    /// When the hole at `next` was first seen (µs).
    waiting_since: Option<u64>,
    lost: bool,
    max_wait_us: u64,
    /// Payloads refused (no valid descriptor), for the figures.
    pub malformed: u64,
}

impl Assembler {
    /// Waits up to `max_wait_us` for a missing packet.
    pub(crate) fn new(max_wait_us: u64) -> Self {
        Self {
            packets: BTreeMap::new(),
            highest: None,
            next: None,
            floor: 0,
            last_ts: None,
            waiting_since: None,
            lost: false,
            max_wait_us,
            malformed: 0,
        }
    }

    /// Takes one packet. Duplicates and packets of frames already handed
    /// out or given up are ignored.
    pub(crate) fn push(&mut self, seq: u16, ts: u32, marker: bool, payload: &Bytes) {
        let Some(descriptor) = parse_descriptor(payload) else {
            self.malformed += 1;
            return;
        };
        let ext = match self.highest {
            None => u64::from(seq) + (1 << 32),
            Some(h) => unwrap_seq(h, seq),
        };
        if let Some(h) = self.highest {
            if ext.abs_diff(h) > MAX_JUMP {
                // A new sender (or the old one restarted): start over.
                self.packets.clear();
                self.next = None;
                self.floor = 0;
                self.waiting_since = None;
                self.lost = true;
                self.highest = None;
                return self.push(seq, ts, marker, payload);
            }
        }
        if ext < self.next.unwrap_or(self.floor) {
            return;
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.packets.entry(ext).or_insert(Held {
            ts,
            marker,
            start: descriptor.start,
            data: payload.slice(descriptor.len..),
        });
        if self.packets.len() > MAX_HELD {
            self.give_up();
        }
    }

    /// The next complete frame, written into `out` (cleared first), if
    /// there is one now; gives up on holes that waited long enough.
    pub(crate) fn pop(&mut self, now_us: u64, out: &mut Vec<u8>) -> Option<Assembled> {
        loop {
            let next = match self.next {
                Some(n) => n,
                None => {
                    // Start at the first frame start we have.
                    let (&first, _) = self.packets.iter().find(|(_, p)| p.start)?;
                    if self.packets.range(..first).next().is_some() {
                        // The tail of a frame whose start we never saw:
                        // its references may be missing too.
                        self.lost = true;
                        self.packets = self.packets.split_off(&first);
                    }
                    self.next = Some(first);
                    first
                }
            };
            match self.frame_at(next) {
                Some(last) => return Some(self.take(next, last, out)),
                None => {
                    if let Some(key) = self.buffered_keyframe_after(next) {
                        self.skip_to(key);
                        continue;
                    }
                    let since = *self.waiting_since.get_or_insert(now_us);
                    let head_broken = self.packets.get(&next).is_some_and(|p| !p.start);
                    if head_broken
                        || now_us.saturating_sub(since) >= self.max_wait_us
                        || self.hole_is_stale()
                    {
                        self.give_up();
                        continue;
                    }
                    return None;
                }
            }
        }
    }

    /// When [`pop`](Self::pop) should be called again to give up on a
    /// hole even if no packet comes (µs), if a hole is being waited for.
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.waiting_since.map(|s| s + self.max_wait_us)
    }

    /// The last sequence number of the complete frame starting at `first`.
    fn frame_at(&self, first: u64) -> Option<u64> {
        let head = self.packets.get(&first)?;
        if !head.start {
            return None;
        }
        let mut seq = first;
        loop {
            let p = self.packets.get(&seq)?;
            if p.ts != head.ts {
                // The frame ended without a marker: the packet before was its last.
                return (p.start && seq > first).then(|| seq - 1);
            }
            if p.marker {
                return Some(seq);
            }
            seq += 1;
        }
    }

    fn take(&mut self, first: u64, last: u64, out: &mut Vec<u8>) -> Assembled {
        out.clear();
        let mut timestamp = 0;
        for seq in first..=last {
            if let Some(p) = self.packets.remove(&seq) {
                timestamp = p.ts;
                out.extend_from_slice(&p.data);
            }
        }
        self.next = Some(last + 1);
        self.last_ts = Some(timestamp);
        self.waiting_since = None;
        Assembled {
            timestamp,
            keyframe: is_keyframe(out),
            after_loss: std::mem::take(&mut self.lost),
        }
    }

    /// A complete key frame buffered after `next`, if any.
    fn buffered_keyframe_after(&self, next: u64) -> Option<u64> {
        self.packets
            .range(next + 1..)
            .filter(|(_, p)| p.start && is_keyframe_start(&p.data))
            .map(|(&seq, _)| seq)
            .find(|&seq| self.frame_at(seq).is_some())
    }

    /// The newest packet is more than [`STALE_GAP_MS`] ahead of the last
    /// frame handed out: the hole is from an outage.
    fn hole_is_stale(&self) -> bool {
        let (Some(last), Some(newest)) = (
            self.last_ts,
            self.highest.and_then(|h| self.packets.get(&h)),
        ) else {
            return false;
        };
        let ahead = newest.ts.wrapping_sub(last);
        ahead < u32::MAX / 2 && ahead > STALE_GAP_MS * 90
    }

    /// Drops everything before `seq` (a frame start) and goes on from there.
    fn skip_to(&mut self, seq: u64) {
        self.packets = self.packets.split_off(&seq);
        self.next = Some(seq);
        self.waiting_since = None;
        self.lost = true;
    }

    /// Gives up the frame at `next`: on from the next frame start after it,
    /// or, with none buffered yet, from whatever frame start comes next.
    fn give_up(&mut self) {
        let after = self.next.map_or(0, |n| n + 1);
        let head_ts = self.next.and_then(|n| self.packets.get(&n)).map(|p| p.ts);
        let restart = self
            .packets
            .range(after..)
            .find(|(_, p)| p.start && Some(p.ts) != head_ts)
            .map(|(&seq, _)| seq);
        match restart {
            Some(seq) => self.skip_to(seq),
            None => {
                // Nothing buffered is worth keeping: wait for the next
                // frame start, ignoring late packets of what was given up.
                self.packets.clear();
                self.floor = self.highest.map_or(0, |h| h + 1);
                self.next = None;
                self.waiting_since = None;
                self.lost = true;
            }
        }
    }
}

/// Whether VP8 data starting with `data` is a key frame (the frame tag's
/// first bit is 0; the start code follows, checked on the whole frame).
fn is_keyframe_start(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

/// The 64-bit sequence number closest to `highest` whose low 16 bits are `seq`.
fn unwrap_seq(highest: u64, seq: u16) -> u64 {
    let base = highest & !0xffff;
    let candidates = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000];
    candidates
        .into_iter()
        .map(|b| b | u64::from(seq))
        .min_by_key(|c| c.abs_diff(highest))
        .unwrap_or(u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload: descriptor (S bit as asked) + VP8 data, a key frame's
    /// first packet when `key`.
    fn payload(start: bool, key: bool, fill: u8) -> Bytes {
        let mut p = vec![if start { 0x10 } else { 0x00 }];
        if key {
            p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00]);
        } else {
            p.extend_from_slice(&[0x01, fill, fill]);
        }
        p.into()
    }

    /// Pushes frame `n` (timestamp n × 3000) as `parts` packets from `seq`.
    fn frame(a: &mut Assembler, seq: u16, n: u32, parts: u16, key: bool) {
        for i in 0..parts {
            a.push(
                seq.wrapping_add(i),
                n * 3000,
                i + 1 == parts,
                &payload(i == 0, key && i == 0, n as u8),
            );
        }
    }

    #[test]
    fn frames_come_out_as_soon_as_complete_in_order() {
        let mut a = Assembler::new(100_000);
        let mut out = Vec::new();
        frame(&mut a, 10, 0, 3, true);
        let f = a.pop(0, &mut out).expect("complete at once");
        assert!(f.keyframe && !f.after_loss);
        assert_eq!(f.timestamp, 0);
        assert_eq!(out.len(), 10 + 3 + 3, "descriptors stripped");
        assert_eq!(a.pop(0, &mut out), None);
        // Reordered packets of the next frame.
        a.push(14, 3000, true, &payload(false, false, 1));
        assert_eq!(a.pop(1, &mut out), None);
        a.push(13, 3000, false, &payload(true, false, 1));
        let f = a.pop(2, &mut out).unwrap();
        assert_eq!(
            (f.timestamp, f.keyframe, f.after_loss),
            (3000, false, false)
        );
        // Duplicates and late copies are ignored.
        a.push(13, 3000, false, &payload(true, false, 1));
        assert_eq!(a.pop(3, &mut out), None);
    }

    #[test]
    fn a_hole_is_waited_for_then_given_up() {
        let mut a = Assembler::new(100_000);
        let mut out = Vec::new();
        frame(&mut a, 0, 0, 1, true);
        a.pop(0, &mut out).unwrap();
        // Frame 1 lost its second packet; frame 2 is whole.
        a.push(1, 3000, false, &payload(true, false, 1));
        frame(&mut a, 3, 2, 1, false);
        assert_eq!(a.pop(1_000, &mut out), None, "waiting for a NACK");
        assert_eq!(a.deadline(), Some(101_000));
        // The retransmission comes in time.
        a.push(2, 3000, true, &payload(false, false, 1));
        let f = a.pop(50_000, &mut out).unwrap();
        assert_eq!((f.timestamp, f.after_loss), (3000, false));
        assert_eq!(a.pop(50_000, &mut out).unwrap().timestamp, 6000);
        // Frame 3 loses a packet for good.
        a.push(4, 9000, false, &payload(true, false, 3));
        frame(&mut a, 6, 4, 1, false);
        assert_eq!(a.pop(60_000, &mut out), None);
        let f = a.pop(160_000, &mut out).expect("given up");
        assert_eq!((f.timestamp, f.after_loss), (12_000, true));
        // Its missing packet arriving late changes nothing.
        a.push(5, 9000, true, &payload(false, false, 3));
        assert_eq!(a.pop(170_000, &mut out), None);
    }

    #[test]
    fn a_buffered_key_frame_ends_the_wait_at_once() {
        let mut a = Assembler::new(1_000_000);
        let mut out = Vec::new();
        frame(&mut a, 0, 0, 1, true);
        a.pop(0, &mut out).unwrap();
        // seq 1 lost; a key frame at 2..=3.
        frame(&mut a, 2, 2, 2, true);
        let f = a.pop(1, &mut out).unwrap();
        assert_eq!((f.timestamp, f.keyframe, f.after_loss), (6000, true, true));
    }

    #[test]
    fn an_outage_is_not_waited_for() {
        let mut a = Assembler::new(1_000_000);
        let mut out = Vec::new();
        frame(&mut a, 0, 0, 1, true);
        a.pop(0, &mut out).unwrap();
        // 30 frames (1 s) lost, then inter frames again.
        frame(&mut a, 40, 31, 1, false);
        let f = a.pop(1, &mut out).expect("no wait after an outage");
        assert_eq!((f.timestamp, f.after_loss), (93_000, true));
    }

    #[test]
    fn joining_mid_stream_and_garbage() {
        let mut a = Assembler::new(100_000);
        let mut out = Vec::new();
        // The first packets seen are the tail of a frame.
        a.push(7, 0, true, &payload(false, false, 0));
        frame(&mut a, 8, 1, 2, false);
        let f = a.pop(0, &mut out).unwrap();
        assert_eq!((f.timestamp, f.after_loss, f.keyframe), (3000, true, false));
        a.push(10, 6000, true, &Bytes::from_static(&[0x80]));
        a.push(11, 6000, true, &Bytes::new());
        assert_eq!(a.malformed, 2);
        // Random bytes never panic and never make a frame out of nothing.
        let mut x = 12345u32;
        for i in 0..2000u16 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let bytes: Vec<u8> = (0..(x % 40)).map(|k| (x >> (k % 24)) as u8).collect();
            a.push(x as u16, x, x & 1 == 0, &Bytes::from(bytes));
            let _ = a.pop(u64::from(i) * 1000, &mut out);
        }
    }

    #[test]
    fn sequence_numbers_wrap_and_restarts_start_over() {
        let mut a = Assembler::new(100_000);
        let mut out = Vec::new();
        frame(&mut a, 65_535, 0, 2, true);
        assert_eq!(a.pop(0, &mut out).unwrap().timestamp, 0);
        frame(&mut a, 1, 1, 1, false);
        assert_eq!(a.pop(0, &mut out).unwrap().timestamp, 3000);
        // A new sender far away in sequence space.
        frame(&mut a, 30_000, 9, 1, true);
        let f = a.pop(0, &mut out).unwrap();
        assert_eq!(
            (f.timestamp, f.after_loss, f.keyframe),
            (27_000, true, true)
        );
        assert_eq!(unwrap_seq(0x1_0005, 0xfffe), 0xfffe);
        assert_eq!(unwrap_seq(0x1_fffe, 3), 0x2_0003);
    }
}

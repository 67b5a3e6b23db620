//! Jitter buffer scenarios on a virtual clock, with a fake decoder that
//! writes the sequence number it decoded into the first sample.

use super::*;
use crate::error::{MediaError, Result};
use proptest::prelude::*;

/// out[0] = sequence number played (FEC: the lost one), out[1] = how.
#[derive(Debug, Default)]
struct FakeDecoder {
    resets: u32,
}

fn seq_of(payload: &[u8]) -> Result<f32> {
    match payload {
        [a, b] => Ok(f32::from(u16::from_be_bytes([*a, *b]))),
        _ => Err(MediaError::InvalidArgument("bad fake payload".into())),
    }
}

impl FrameDecoder for FakeDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<()> {
        out[0] = seq_of(payload)?;
        out[1] = 1.0;
        Ok(())
    }
    fn decode_fec(&mut self, next: &[u8], out: &mut [f32]) -> Result<()> {
        out[0] = (seq_of(next)? as u16).wrapping_sub(1) as f32;
        out[1] = 2.0;
        Ok(())
    }
    fn conceal(&mut self, out: &mut [f32]) -> Result<()> {
        out[1] = 3.0;
        Ok(())
    }
    fn reset(&mut self) -> Result<()> {
        self.resets += 1;
        Ok(())
    }
}

fn packet(seq: u16, ts: u32) -> Packet {
    Packet {
        seq,
        timestamp: ts,
        payload: seq.to_be_bytes().to_vec(),
    }
}

/// A stream of `n` packets: seq from `seq0`, timestamp from `ts0`, sent every
/// `interval_us`, arriving 10 ms later plus `extra(i)` µs (None = lost).
fn stream(
    n: usize,
    seq0: u16,
    ts0: u32,
    interval_us: f64,
    extra: impl Fn(usize) -> Option<u64>,
) -> Vec<(Packet, u64)> {
    let mut v: Vec<_> = (0..n)
        .filter_map(|i| {
            let arrival = (i as f64 * interval_us) as u64 + 10_000 + extra(i)?;
            let p = packet(
                seq0.wrapping_add(i as u16),
                ts0.wrapping_add(960 * i as u32),
            );
            Some((p, arrival))
        })
        .collect();
    v.sort_by_key(|&(_, a)| a);
    v
}

#[derive(Debug, Clone, Copy)]
struct Played {
    kind: FrameKind,
    seq: u16,
    delay_us: u64,
}

/// Pops every 20 ms (phase 7 ms) until `end_us`, pushing each packet when
/// its arrival time has come.
fn run(
    jb: &mut JitterBuffer<FakeDecoder>,
    packets: Vec<(Packet, u64)>,
    end_us: u64,
) -> Vec<Played> {
    let mut out = vec![0.0; FRAME_SAMPLES];
    let mut played = Vec::new();
    let trace = std::env::var_os("JB_TRACE").is_some();
    let mut pending = packets.into_iter().peekable();
    let mut now = 7_000;
    while now < end_us {
        while let Some((_, a)) = pending.peek() {
            if *a > now {
                break;
            }
            let (p, a) = pending.next().unwrap();
            let seq = p.seq;
            let outcome = jb.push(p, a);
            if trace {
                eprintln!("push {seq} at {a}: {outcome:?}");
            }
        }
        let kind = jb.pop_into(now, &mut out);
        let s = jb.stats();
        if trace {
            eprintln!("{now} {kind:?} {} {s:?}", out[0]);
        }
        assert!(s.current_delay_us <= 200_000 + FRAME_US, "{s:?}");
        played.push(Played {
            kind,
            seq: out[0] as u16,
            delay_us: s.current_delay_us,
        });
        now += FRAME_US;
        if pending.peek().is_none() && jb.stats().buffered == 0 {
            break;
        }
    }
    played
}

fn new_jb() -> JitterBuffer<FakeDecoder> {
    JitterBuffer::new(FakeDecoder::default(), JitterConfig::default())
}

fn normal_seqs(played: &[Played]) -> Vec<u16> {
    played
        .iter()
        .filter(|p| p.kind == FrameKind::Normal)
        .map(|p| p.seq)
        .collect()
}

#[test]
fn clean_stream_plays_every_frame_in_order() {
    let mut jb = new_jb();
    let played = run(&mut jb, stream(100, 0, 0, 20_000.0, |_| Some(0)), 2_200_000);
    assert_eq!(normal_seqs(&played), (0..100).collect::<Vec<u16>>());
    let s = jb.stats();
    assert_eq!((s.lost, s.late, s.recovered_fec, s.skipped), (0, 0, 0, 0));
    assert!(
        s.current_delay_us >= 10_000 && s.current_delay_us <= 40_000,
        "{s:?}"
    );
}

#[test]
fn reorder_is_undone() {
    // Every 7th packet is overtaken by the next one (arrives 30 ms late).
    let mut jb = new_jb();
    let pk = stream(200, 100, 5, 20_000.0, |i| {
        Some(if i % 7 == 3 { 30_000 } else { 0 })
    });
    let played = run(&mut jb, pk, 4_500_000);
    let seqs = normal_seqs(&played);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "out of order: {seqs:?}"
    );
    let s = jb.stats();
    assert!(seqs.len() >= 197, "played {} of 200: {s:?}", seqs.len());
    assert_eq!(s.lost, 0);
    assert!(
        s.target_delay_us >= 30_000,
        "target adapts to reordering: {s:?}"
    );
}

#[test]
fn single_loss_is_recovered_by_fec() {
    // The first loss (10) finds the buffer at its minimum and is concealed;
    // the buffer then keeps a frame more, so the next loss (40) gets FEC.
    let mut jb = new_jb();
    let pk = stream(60, 0, 0, 20_000.0, |i| (i != 10 && i != 40).then_some(0));
    let played = run(&mut jb, pk, 1_400_000);
    let fec: Vec<_> = played.iter().filter(|p| p.kind == FrameKind::Fec).collect();
    assert_eq!(fec.len(), 1, "{:?}", jb.stats());
    assert_eq!(fec[0].seq, 40);
    let s = jb.stats();
    assert_eq!((s.lost, s.recovered_fec, s.stretched), (2, 1, 1), "{s:?}");
    assert_eq!(s.concealed, 2, "frame 10 and the stretch: {s:?}");
}

#[test]
fn burst_loss_is_concealed_then_fec_without_growing_delay() {
    let mut jb = new_jb();
    let pk = stream(80, 0, 0, 20_000.0, |i| {
        (i != 5 && !(20..25).contains(&i)).then_some(0)
    });
    let played = run(&mut jb, pk, 1_800_000);
    let s = jb.stats();
    assert_eq!(s.lost, 6);
    assert_eq!(s.recovered_fec, 1, "frame 24 from packet 25's FEC: {s:?}");
    // Frame 5, one stretch after it, frames 20..=23.
    assert_eq!(s.concealed, 6, "{s:?}");
    let seqs = normal_seqs(&played);
    assert_eq!(seqs.len(), 74);
    assert!(seqs.contains(&25) && seqs.contains(&79));
    let last = played.last().unwrap();
    assert!(last.delay_us <= 60_000, "delay did not grow: {last:?}");
}

/// Every packet carries copies of the two before it (RED depth 2): a burst
/// of two lost packets plays at full quality, from the copies in the packet
/// after it, with no concealment and no FEC.
#[test]
fn burst_loss_is_rebuilt_from_redundant_copies() {
    let mut jb = new_jb();
    let mut out = vec![0.0; FRAME_SAMPLES];
    let mut kinds = Vec::new();
    let lost = [30u16, 31, 60, 61, 90];
    let mut now = 7_000;
    for i in 0..120u16 {
        let arrival = u64::from(i) * FRAME_US + 10_000;
        while now < arrival {
            kinds.push((jb.pop_into(now, &mut out), out[0] as u16));
            now += FRAME_US;
        }
        if lost.contains(&i) {
            continue;
        }
        jb.push(packet(i, 960 * u32::from(i)), arrival);
        jb.set_redundancy(2);
        for back in 1..=2u16.min(i) {
            let _ = jb.push_redundant(packet(i - back, 960 * u32::from(i - back)));
        }
    }
    for _ in 0..10 {
        kinds.push((jb.pop_into(now, &mut out), out[0] as u16));
        now += FRAME_US;
    }
    let normal: Vec<u16> = kinds
        .iter()
        .filter(|(k, _)| *k == FrameKind::Normal)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(normal, (0..120).collect::<Vec<u16>>(), "{kinds:?}");
    let s = jb.stats();
    assert_eq!(s.lost, 5, "the network loss is still counted: {s:?}");
    assert_eq!(s.recovered_red, 5, "{s:?}");
    assert_eq!(s.recovered_fec, 0, "{s:?}");
    let last_normal = kinds.iter().rposition(|(k, _)| *k == FrameKind::Normal);
    assert!(
        !kinds[..last_normal.unwrap_or(0)]
            .iter()
            .any(|(k, _)| *k == FrameKind::Concealed),
        "nothing concealed while the stream ran: {kinds:?}"
    );
}

#[test]
fn jitter_spike_raises_delay_then_settles() {
    // Packets 100..=107 are held up and arrive together 160 ms after packet 100 was due.
    let mut jb = new_jb();
    let spike_end = 100 * 20_000 + 160_000;
    let pk = stream(1000, 0, 0, 20_000.0, |i| {
        let due = i as u64 * 20_000;
        Some(if (100..108).contains(&i) {
            spike_end - due
        } else {
            0
        })
    });
    let played = run(&mut jb, pk, 20_500_000);
    let s = jb.stats();
    let seqs = normal_seqs(&played);
    // The held-up audio is played late (resync), not thrown away.
    for seq in 100..108 {
        assert!(seqs.contains(&seq), "frame {seq} was dropped: {s:?}");
    }
    let peak = played.iter().map(|p| p.delay_us).max().unwrap();
    assert!(peak >= 100_000, "delay rose to absorb the spike: {peak}");
    assert!(s.skipped > 0, "then shrank: {s:?}");
    let tail = &played[played.len() - 50..];
    assert!(
        tail.iter().all(|p| p.delay_us <= 60_000),
        "settled: {:?}",
        tail[0]
    );
    assert!(tail.iter().all(|p| p.kind == FrameKind::Normal));
}

fn drift(rate: f64) -> JitterStats {
    // 60 s of audio from a sender whose clock runs `rate` fast (+) or slow (−).
    let n = 3000;
    let mut jb = new_jb();
    let interval = 20_000.0 / (1.0 + rate);
    let jitter = |i: usize| Some(((i * 7919) % 13) as u64 * 1_000);
    let played = run(&mut jb, stream(n, 9, 99, interval, jitter), 61_000_000);
    let after_warmup = &played[50..played.len() - 60];
    for p in after_warmup {
        assert!(p.delay_us <= 80_000, "delay stays bounded: {p:?}");
    }
    let s = jb.stats();
    assert!(s.buffered <= 6, "{s:?}");
    assert_eq!(s.lost, 0);
    s
}

#[test]
fn fast_sender_clock_is_corrected_by_skipping() {
    let s = drift(0.005);
    // 0.5 % of 60 s is 300 ms: about 15 frames too many.
    assert!((10..=25).contains(&s.skipped), "{s:?}");
    assert!(s.concealed <= 10, "{s:?}");
}

#[test]
fn slow_sender_clock_is_corrected_by_stretching() {
    let s = drift(-0.005);
    assert!((10..=25).contains(&s.stretched), "{s:?}");
    assert_eq!(s.skipped, 0, "{s:?}");
}

#[test]
fn sequence_and_timestamp_wrap() {
    let mut jb = new_jb();
    let pk = stream(200, 65_500, u32::MAX - 960 * 50, 20_000.0, |_| Some(0));
    let played = run(&mut jb, pk, 4_300_000);
    let seqs = normal_seqs(&played);
    let want: Vec<u16> = (0..200).map(|i| 65_500u16.wrapping_add(i)).collect();
    assert_eq!(seqs, want);
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn sender_restart_starts_over() {
    let mut jb = new_jb();
    let mut pk = stream(50, 10, 1000, 20_000.0, |_| Some(0));
    // The sender restarts at 1.0 s with new sequence numbers and timestamps.
    pk.extend(
        stream(50, 40_000, 7_777_777, 20_000.0, |_| Some(0))
            .into_iter()
            .map(|(p, a)| (p, a + 1_000_000)),
    );
    let played = run(&mut jb, pk, 2_200_000);
    let s = jb.stats();
    assert_eq!(s.restarts, 1, "{s:?}");
    assert_eq!(jb.decoder().resets, 1);
    let seqs = normal_seqs(&played);
    assert!(seqs.contains(&40_000) && seqs.contains(&40_049), "{seqs:?}");
    assert_eq!(s.late, 0);
}

#[test]
fn late_and_duplicate_packets_are_dropped() {
    let mut jb = new_jb();
    let mut pk = stream(60, 0, 0, 20_000.0, |i| (i != 30).then_some(0));
    pk.push((packet(30, 30 * 960), 30 * 20_000 + 300_000));
    pk.push((packet(31, 31 * 960), 31 * 20_000 + 10_001));
    pk.sort_by_key(|&(_, a)| a);
    run(&mut jb, pk, 1_400_000);
    let s = jb.stats();
    assert_eq!((s.late, s.duplicates, s.lost), (1, 1, 0), "{s:?}");
}

#[test]
fn pop_before_any_packet_and_wrong_buffer_length() {
    let mut jb = new_jb();
    assert_eq!(jb.pop(0).kind, FrameKind::Buffering);
    let mut short = [1.0; 10];
    assert_eq!(jb.pop_into(0, &mut short), FrameKind::Silence);
    assert!(short.iter().all(|&s| s == 0.0));
}

#[test]
fn sender_pause_then_resume() {
    // 1 s of audio, 3 s of nothing (sequence continues, timestamp jumps), 1 s more.
    let mut jb = new_jb();
    let mut pk = stream(50, 0, 0, 20_000.0, |_| Some(0));
    pk.extend((0..50).map(|i| {
        let p = packet(50 + i as u16, (200 + i as u32) * 960);
        (p, 4_000_000 + i as u64 * 20_000 + 10_000)
    }));
    let played = run(&mut jb, pk, 5_200_000);
    let seqs = normal_seqs(&played);
    assert_eq!(seqs.len(), 100, "{:?}", jb.stats());
    assert!(played.iter().any(|p| p.kind == FrameKind::Silence));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_arrivals_never_panic_and_delay_stays_bounded(
        seq0 in any::<u16>(),
        ts0 in any::<u32>(),
        net in proptest::collection::vec((0u8..10, 0u64..300_000, any::<bool>()), 1..400),
    ) {
        let mut jb = new_jb();
        let mut pk = Vec::new();
        for (i, &(loss, extra, dup)) in net.iter().enumerate() {
            if loss == 0 {
                continue;
            }
            let p = packet(seq0.wrapping_add(i as u16), ts0.wrapping_add(960 * i as u32));
            let arrival = i as u64 * 20_000 + extra;
            if dup {
                pk.push((p.clone(), arrival + extra / 3));
            }
            pk.push((p, arrival));
        }
        pk.sort_by_key(|&(_, a)| a);
        let end = net.len() as u64 * 20_000 + 600_000;
        // `run` asserts the delay bound after every pop.
        run(&mut jb, pk, end);
        let s = jb.stats();
        prop_assert!(s.buffered <= 64);
        prop_assert!(s.received <= net.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Hostile input: any sequence numbers, timestamps, payloads and times.
    #[test]
    fn arbitrary_input_never_panics(
        ops in proptest::collection::vec(
            (any::<bool>(), any::<u16>(), any::<u32>(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..4)),
            1..200,
        ),
    ) {
        let mut jb = new_jb();
        let mut out = vec![0.0; FRAME_SAMPLES];
        for (pop, seq, ts, time, payload) in ops {
            if pop {
                jb.pop_into(time, &mut out);
            } else {
                jb.push(Packet { seq, timestamp: ts, payload }, time);
            }
            let s = jb.stats();
            prop_assert!(s.buffered <= 64);
        }
    }
}

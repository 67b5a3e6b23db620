//! The two async tasks between the audio threads and the peer connection:
//!
//! - **out**: takes the send thread's Opus frames, wraps each with the
//!   redundant copies the current plan asks for (RED, RFC 2198, when the
//!   other side negotiated it) and writes it to our track;
//! - **in**: one per remote track: reads its RTP packets, unwraps RED, and
//!   hands the frames to the playout thread under the packet's SSRC.

use super::audio::{Payload, SendControl, ToPlayout};
use super::stats::Counters;
use bytes::Bytes;
use rtc::media::Sample;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp::packet::Packet as RtpPacket;
use softphone_media::red::{parse_red, RedEncoder};
use softphone_media::{MediaClock, Packet, FRAME_SAMPLES};
use softphone_proto::DeviceAddr;
use softphone_rtc::{OPUS_PT, RED_MIME};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

/// The payload types both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Codecs {
    pub opus: u8,
    /// RED over Opus, when the other side supports it.
    pub red: Option<u8>,
}

impl Codecs {
    /// Reads them off our sender once negotiation is done.
    pub(crate) async fn negotiated(sender: &dyn RtpSender) -> Self {
        let codecs = sender
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
        Self {
            opus: find(MIME_TYPE_OPUS).unwrap_or(OPUS_PT),
            red: find(RED_MIME),
        }
    }
}

/// Writes the send thread's frames (from `frames`) to `track` until the
/// thread stops.
pub(crate) fn spawn_out(
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    codecs: Codecs,
    control: Arc<SendControl>,
    counters: Arc<Counters>,
    mut frames: mpsc::Receiver<Payload>,
) {
    tokio::spawn(async move {
        let mut red = RedEncoder::new(codecs.opus);
        while let Some(frame) = frames.recv().await {
            let (data, pt) = match codecs.red {
                Some(red_pt) => (
                    red.encode(&frame, usize::from(control.redundancy())),
                    red_pt,
                ),
                None => (frame, codecs.opus),
            };
            let bytes = data.len();
            let sample = Sample {
                data: Bytes::from(data),
                duration: Duration::from_millis(20),
                ..Sample::new(Instant::now())
            };
            match track.sample_writer(ssrc, pt).write_sample(&sample).await {
                Ok(()) => counters.sent(bytes),
                Err(e) => tracing::debug!("an audio frame was not sent: {e}"),
            }
        }
    });
}

/// Whose audio each remote stream (SSRC) is, in a group call.
pub(crate) type StreamOwners = Arc<Mutex<HashMap<u32, DeviceAddr>>>;

/// Each remote audio track's stream id and the SSRC it plays under (video
/// of the same stream id is lip-synced with it).
pub(crate) type AudioStreams = Arc<Mutex<HashMap<String, u32>>>;

/// Reads a remote track's packets into the playout thread (`input`), under
/// the packets' SSRC: one jitter buffer per remote stream. With an `owner`
/// (group calls), its streams are listed as that participant's; every
/// track's SSRC is noted under its stream id in `stream`.
pub(crate) fn spawn_in(
    track: Arc<dyn TrackRemote>,
    red_pt: Option<u8>,
    input: std::sync::mpsc::Sender<ToPlayout>,
    clock: MediaClock,
    counters: Arc<Counters>,
    owner: Option<(DeviceAddr, StreamOwners)>,
    stream: (String, AudioStreams),
) {
    let (stream_id, audio_streams) = stream;
    tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(rtp) => {
                    counters.received(rtp.payload.len());
                    let stream = rtp.header.ssrc;
                    if !streams.contains(&stream) {
                        streams.push(stream);
                        if let Some((who, owners)) = &owner {
                            lock(owners).insert(stream, who.clone());
                        }
                        lock(&audio_streams).insert(stream_id.clone(), stream);
                    }
                    let Some((packet, copies)) = unpack(&rtp, red_pt) else {
                        tracing::debug!("dropping a malformed RED packet from {stream:#x}");
                        continue;
                    };
                    let arrival_us = clock.now_us();
                    let message = ToPlayout::Packet {
                        stream,
                        packet,
                        arrival_us,
                        copies,
                    };
                    if input.send(message).is_err() {
                        return;
                    }
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        for stream in streams {
            let _ = input.send(ToPlayout::Remove(stream));
            if let Some((_, owners)) = &owner {
                lock(owners).remove(&stream);
            }
            let mut by_id = lock(&audio_streams);
            if by_id.get(&stream_id) == Some(&stream) {
                by_id.remove(&stream_id);
            }
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The packet's own frame and, for RED, the copies of earlier frames it
/// carried (each under the sequence number and timestamp it was first sent
/// with). `None` for a RED payload that does not parse.
fn unpack(rtp: &RtpPacket, red_pt: Option<u8>) -> Option<(Packet, Option<Vec<Packet>>)> {
    let (seq, ts) = (rtp.header.sequence_number, rtp.header.timestamp);
    if red_pt != Some(rtp.header.payload_type) {
        let packet = Packet {
            seq,
            timestamp: ts,
            payload: rtp.payload.to_vec(),
        };
        return Some((packet, None));
    }
    let (blocks, primary) = parse_red(&rtp.payload).ok()?;
    let copies = blocks
        .iter()
        .filter_map(|block| {
            let offset = block.timestamp_offset;
            let frames = offset / FRAME_SAMPLES as u32;
            // One frame per packet, so a copy `n` frames back was packet seq − n.
            (offset % FRAME_SAMPLES as u32 == 0 && (1..=3).contains(&frames)).then(|| Packet {
                seq: seq.wrapping_sub(frames as u16),
                timestamp: ts.wrapping_sub(offset),
                payload: block.payload.to_vec(),
            })
        })
        .collect();
    let packet = Packet {
        seq,
        timestamp: ts,
        payload: primary.payload.to_vec(),
    };
    Some((packet, Some(copies)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8, seq: u16, ts: u32, payload: Vec<u8>) -> RtpPacket {
        let mut p = RtpPacket::default();
        p.header.payload_type = pt;
        p.header.sequence_number = seq;
        p.header.timestamp = ts;
        p.payload = Bytes::from(payload);
        p
    }

    #[test]
    fn red_packets_give_the_frame_and_its_copies() {
        let mut enc = RedEncoder::new(111);
        enc.encode(&[1], 2);
        enc.encode(&[2], 2);
        let red = enc.encode(&[3], 2);
        let (packet, copies) = unpack(&rtp(63, 10, 9600, red), Some(63)).unwrap();
        assert_eq!(
            (packet.seq, packet.timestamp, packet.payload),
            (10, 9600, vec![3])
        );
        let copies = copies.unwrap();
        let got: Vec<(u16, u32, Vec<u8>)> = copies
            .into_iter()
            .map(|c| (c.seq, c.timestamp, c.payload))
            .collect();
        assert_eq!(got, vec![(8, 7680, vec![1]), (9, 8640, vec![2])]);
    }

    #[test]
    fn plain_opus_and_broken_red() {
        let (packet, copies) = unpack(&rtp(111, 5, 0, vec![9]), Some(63)).unwrap();
        assert_eq!(packet.payload, vec![9]);
        assert!(copies.is_none());
        assert!(unpack(&rtp(63, 5, 0, vec![0x80 | 111, 1]), Some(63)).is_none());
    }
}

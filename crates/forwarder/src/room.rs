//! One group call's media: a task that owns its members' connections and
//! carries out joins, leaves, ICE restarts and negotiation, one input at a
//! time. Packets do not pass through it (see `fanout.rs`).
//!
//! ```text
//!  join(m)      new connection for m: receive-only sections for m's audio
//!               and m's video (first, so that a client's own audio and
//!               video transceivers take them), then a send-only audio and
//!               a send-only video track per other member; offer to m. Each
//!               other member gets m's two tracks and a new offer.
//!  leave(m)     m's queues leave the fan-out table, its connection closes;
//!               the others' tracks for m are removed (their sections go
//!               inactive) and they get a new offer.
//!  restart(m)   m reconnected: an offer with fresh ICE credentials.
//!  connected(m) m's connection is up: every other member that sends video
//!               is asked for a key frame (m starts mid-stream).
//!  answer(m)    (`member.rs`) sources whose tracks that answer took are
//!               asked for a key frame if m was already connected.
//!  close        every connection closes; the task ends.
//! ```
//!
//! Every member gets video sections, in audio calls too: a member can turn
//! its camera on at any time without a new negotiation, and a video
//! section that carries nothing costs the forwarder nothing per packet.

use crate::fanout::{
    read_uplink, write_downlink, FanoutTable, Media, MemberId, Queues, WriterControl,
};
use crate::feedback::LossBoard;
use crate::keyframes::{request_keyframes, KeyframeBoard};
use crate::member::{Downtracks, Member};
use crate::peer;
use crate::stats::Counters;
use crate::{ForwarderConfig, Outgoing};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use softphone_proto::{DeviceAddr, SessionId, SignalMessage};
use softphone_rtc::PcEvent;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCPeerConnectionState;
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

/// What a room task hears.
pub(crate) enum RoomInput {
    Join(DeviceAddr),
    Leave(DeviceAddr),
    Restart(DeviceAddr),
    Signal(DeviceAddr, serde_json::Value),
    /// An event of a member's peer connection.
    Pc(MemberId, PcEvent),
    Close,
}

pub(crate) struct Room {
    sid: SessionId,
    config: Arc<ForwarderConfig>,
    /// The room's own inbox, for its members' peer connections.
    inbox: mpsc::UnboundedSender<RoomInput>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    counters: Arc<Counters>,
    pub(crate) members: BTreeMap<MemberId, Member>,
    pub(crate) by_addr: HashMap<DeviceAddr, MemberId>,
    next_id: MemberId,
    pub(crate) table: FanoutTable,
    losses: LossBoard,
    pub(crate) keyframes: KeyframeBoard,
}

impl Room {
    pub(crate) fn new(
        sid: SessionId,
        config: Arc<ForwarderConfig>,
        inbox: mpsc::UnboundedSender<RoomInput>,
        outbox: mpsc::UnboundedSender<Outgoing>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            sid,
            config,
            inbox,
            outbox,
            counters,
            members: BTreeMap::new(),
            by_addr: HashMap::new(),
            next_id: 0,
            table: FanoutTable::default(),
            losses: LossBoard::default(),
            keyframes: KeyframeBoard::default(),
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RoomInput>) {
        tracing::info!(session = %self.sid, "forwarding a group call");
        while let Some(input) = rx.recv().await {
            match input {
                RoomInput::Join(addr) => self.join(addr).await,
                RoomInput::Leave(addr) => self.leave(&addr).await,
                RoomInput::Restart(addr) => {
                    if let Some(&id) = self.by_addr.get(&addr) {
                        tracing::info!(session = %self.sid, member = %addr, "member back: restarting ICE");
                        self.negotiate(id, true).await;
                    }
                }
                RoomInput::Signal(from, data) => self.on_signal(&from, &data).await,
                RoomInput::Pc(id, event) => self.on_pc_event(id, event),
                RoomInput::Close => break,
            }
        }
        let addrs: Vec<DeviceAddr> = self.by_addr.keys().cloned().collect();
        for addr in addrs {
            self.leave(&addr).await;
        }
        tracing::info!(session = %self.sid, "group call forwarding stopped");
    }

    /// Tells a member something.
    pub(crate) fn say(&self, to: DeviceAddr, message: SignalMessage) {
        let _ = self.outbox.send(Outgoing {
            to,
            session_id: self.sid.clone(),
            data: message.to_value(),
        });
    }

    async fn join(&mut self, addr: DeviceAddr) {
        if self.by_addr.contains_key(&addr) {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let pc = match peer::build(
            &self.config,
            id,
            self.inbox.clone(),
            self.losses.clone(),
            self.keyframes.clone(),
        )
        .await
        {
            Ok(pc) => pc,
            Err(e) => return tracing::warn!(member = %addr, "{e}"),
        };
        // The member's own audio, then its own video: the first sections.
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            let receive_only = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                streams: vec![],
                send_encodings: vec![],
            };
            if let Err(e) = pc.add_transceiver_from_kind(kind, Some(receive_only)).await {
                return tracing::warn!(member = %addr, "cannot receive {kind}: {e}");
            }
        }
        let (audio, audio_packets) = mpsc::channel(self.config.queue_len);
        let (video, video_packets) = mpsc::channel(self.config.video_queue_len);
        let (writer, control) = mpsc::unbounded_channel();
        tokio::spawn(write_downlink(
            control,
            audio_packets,
            video_packets,
            self.counters.clone(),
        ));
        let mut member = Member::new(id, addr.clone(), pc, writer);
        let others: Vec<(MemberId, DeviceAddr)> = self
            .members
            .values()
            .map(|m| (m.id, m.addr.clone()))
            .collect();
        for (source, source_addr) in &others {
            self.add_tracks(&mut member, *source, source_addr).await;
        }
        self.members.insert(id, member);
        self.by_addr.insert(addr.clone(), id);
        self.table.add(
            id,
            Queues {
                audio,
                video: Some(video),
            },
        );
        self.counters.member_joined();
        tracing::info!(session = %self.sid, member = %addr, members = self.members.len(), "member joined");
        for (other, _) in &others {
            if let Some(mut m) = self.members.remove(other) {
                self.add_tracks(&mut m, id, &addr).await;
                self.members.insert(*other, m);
            }
            self.negotiate(*other, false).await;
        }
        self.negotiate(id, false).await;
    }

    async fn leave(&mut self, addr: &DeviceAddr) {
        let Some(id) = self.by_addr.remove(addr) else {
            return;
        };
        self.table.remove(id);
        self.losses.forget(id);
        self.keyframes.forget(id);
        if let Some(member) = self.members.remove(&id) {
            if let Err(e) = member.pc.close().await {
                tracing::debug!(member = %addr, "closing its connection: {e}");
            }
            self.counters.member_left();
        }
        tracing::info!(session = %self.sid, member = %addr, members = self.members.len(), "member left");
        let others: Vec<MemberId> = self.members.keys().copied().collect();
        for other in others {
            let Some(m) = self.members.get_mut(&other) else {
                continue;
            };
            let Some(downtracks) = m.downtracks.remove(&id) else {
                continue;
            };
            m.fresh_sources.retain(|s| *s != id);
            let _ = m.writer.send(WriterControl::Remove(id));
            for sender in [downtracks.audio, downtracks.video].into_iter().flatten() {
                if let Err(e) = m.pc.remove_track(&sender).await {
                    tracing::debug!(member = %m.addr, "removing a track: {e}");
                }
            }
            self.negotiate(other, false).await;
        }
    }

    fn on_pc_event(&mut self, id: MemberId, event: PcEvent) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        match event {
            PcEvent::Candidate(init) => {
                let to = m.addr.clone();
                self.say(to, softphone_rtc::candidate_message(init));
            }
            PcEvent::State(state) => {
                use RTCPeerConnectionState as S;
                let up = match state {
                    S::Connected => Some(true),
                    S::Disconnected | S::Failed | S::Closed => Some(false),
                    _ => None,
                };
                if let Some(up) = up {
                    let _ = m.writer.send(WriterControl::Connected(up));
                    m.connected = up;
                }
                if state == RTCPeerConnectionState::Failed {
                    tracing::warn!(session = %self.sid, member = %m.addr, "media connection failed")
                } else {
                    tracing::debug!(session = %self.sid, member = %m.addr, "connection {state}")
                }
                if up == Some(true) && m.video {
                    // Its downtracks start now, in the middle of every
                    // other member's video: each is asked for a key frame.
                    m.fresh_sources.clear();
                    let sources: Vec<MemberId> = m.downtracks.keys().copied().collect();
                    for source in sources {
                        self.keyframes.request(source);
                    }
                }
            }
            PcEvent::Track(track) => {
                tracing::debug!(session = %self.sid, member = %m.addr, "media from member");
                tokio::spawn(read_member(
                    track,
                    id,
                    self.table.clone(),
                    self.keyframes.clone(),
                    self.counters.clone(),
                ));
            }
        }
    }

    /// Gives `member` a send-only audio track and a send-only video track
    /// (unless it takes no video) for `source` (stream id: the source's
    /// address, the same for both so that clients can pair them for lip
    /// sync), and tells its writer, the loss board and the key frame board.
    async fn add_tracks(&self, member: &mut Member, source: MemberId, source_addr: &DeviceAddr) {
        let mut downtracks = Downtracks::default();
        let kinds: &[Media] = if member.video {
            &[Media::Audio, Media::Video]
        } else {
            &[Media::Audio]
        };
        for &media in kinds {
            let ssrc = rand::random::<u32>();
            let (kind, name) = match media {
                Media::Audio => (RtpCodecKind::Audio, "audio"),
                Media::Video => (RtpCodecKind::Video, "video"),
            };
            let stream_id = source_addr.to_string();
            let track = softphone_rtc::local_track(
                &stream_id,
                &format!("{name}-{source}"),
                &stream_id,
                kind,
                ssrc,
            );
            let track = Arc::new(TrackLocalStaticRTP::new(track));
            let send_only = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                streams: vec![],
                send_encodings: vec![],
            };
            let transceiver = match member
                .pc
                .add_transceiver_from_track(track.clone(), Some(send_only))
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(member = %member.addr, "cannot add a {name} track: {e}");
                    continue;
                }
            };
            let Ok(Some(sender)) = transceiver.sender().await else {
                tracing::warn!(member = %member.addr, "a new {name} track has no sender");
                continue;
            };
            match media {
                Media::Audio => {
                    self.losses.track(ssrc, source);
                    downtracks.audio = Some(sender);
                }
                Media::Video => {
                    self.keyframes.downtrack(ssrc, source);
                    downtracks.video = Some(sender);
                }
            }
            let _ = member.writer.send(WriterControl::Add {
                source,
                media,
                track,
                ssrc,
            });
        }
        member.downtracks.insert(source, downtracks);
        if member.video {
            member.fresh_sources.push(source);
        }
    }
}

/// Forwards one of `source`'s incoming tracks until it ends. A video
/// uplink also gets a key frame requester (`keyframes.rs`), which needs the
/// SSRC its packets come with.
async fn read_member(
    track: Arc<dyn TrackRemote>,
    source: MemberId,
    table: FanoutTable,
    keyframes: KeyframeBoard,
    counters: Arc<Counters>,
) {
    if track.kind().await != RtpCodecKind::Video {
        return read_uplink(track, source, Media::Audio, None, table, counters).await;
    }
    let first = track.ssrcs().await.first().copied().unwrap_or_default();
    let ssrc = Arc::new(AtomicU32::new(first));
    let requester = tokio::spawn(request_keyframes(
        track.clone(),
        ssrc.clone(),
        keyframes.uplink(source),
        counters.clone(),
    ));
    read_uplink(track, source, Media::Video, Some(ssrc), table, counters).await;
    requester.abort();
}

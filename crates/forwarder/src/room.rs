//! One group call's media: a task that owns its members' connections and
//! carries out joins, leaves, ICE restarts and negotiation, one input at a
//! time. Packets do not pass through it (see `fanout.rs`).
//!
//! ```text
//!  join(m)    new connection for m: a receive-only section for m's audio,
//!             a send-only track per other member; offer to m. Each other
//!             member gets a track for m and a new offer.
//!  leave(m)   m's queue leaves the fan-out table, its connection closes;
//!             the others' tracks for m are removed (their sections go
//!             inactive) and they get a new offer.
//!  restart(m) m reconnected: an offer with fresh ICE credentials.
//!  close      every connection closes; the task ends.
//! ```

use crate::fanout::{read_uplink, write_downlink, FanoutTable, MemberId, WriterControl};
use crate::feedback::LossBoard;
use crate::member::Member;
use crate::peer::{self, PcEvent};
use crate::stats::Counters;
use crate::{ForwarderConfig, Outgoing};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use softphone_proto::{DeviceAddr, SessionId, SignalMessage};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
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
    table: FanoutTable,
    losses: LossBoard,
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
        let pc = match peer::build(&self.config, id, self.inbox.clone(), self.losses.clone()).await
        {
            Ok(pc) => pc,
            Err(e) => return tracing::warn!(member = %addr, "{e}"),
        };
        let receive_only = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            streams: vec![],
            send_encodings: vec![],
        };
        if let Err(e) = pc
            .add_transceiver_from_kind(RtpCodecKind::Audio, Some(receive_only))
            .await
        {
            return tracing::warn!(member = %addr, "cannot receive audio: {e}");
        }
        let (queue, packets) = mpsc::channel(self.config.queue_len);
        let (writer, control) = mpsc::unbounded_channel();
        tokio::spawn(write_downlink(control, packets, self.counters.clone()));
        let mut member = Member::new(id, addr.clone(), pc, writer);
        let others: Vec<(MemberId, DeviceAddr)> = self
            .members
            .values()
            .map(|m| (m.id, m.addr.clone()))
            .collect();
        for (source, source_addr) in &others {
            add_track(&mut member, *source, source_addr, &self.losses).await;
        }
        self.members.insert(id, member);
        self.by_addr.insert(addr.clone(), id);
        self.table.add(id, queue);
        self.counters.member_joined();
        tracing::info!(session = %self.sid, member = %addr, members = self.members.len(), "member joined");
        for (other, _) in &others {
            if let Some(m) = self.members.get_mut(other) {
                add_track(m, id, &addr, &self.losses).await;
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
            let Some(sender) = m.downtracks.remove(&id) else {
                continue;
            };
            let _ = m.writer.send(WriterControl::Remove(id));
            if let Err(e) = m.pc.remove_track(&sender).await {
                tracing::debug!(member = %m.addr, "removing a track: {e}");
            }
            self.negotiate(other, false).await;
        }
    }

    fn on_pc_event(&mut self, id: MemberId, event: PcEvent) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        match event {
            PcEvent::Candidate(init) => {
                self.say(m.addr.clone(), softphone_rtc::candidate_message(init));
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
                }
                if state == RTCPeerConnectionState::Failed {
                    tracing::warn!(session = %self.sid, member = %m.addr, "media connection failed")
                } else {
                    tracing::debug!(session = %self.sid, member = %m.addr, "connection {state}")
                }
            }
            PcEvent::Track(track) => {
                tracing::debug!(session = %self.sid, member = %m.addr, "audio from member");
                tokio::spawn(read_uplink(
                    track,
                    id,
                    self.table.clone(),
                    self.counters.clone(),
                ));
            }
        }
    }
}

/// Gives `member` a send-only track for `source`'s audio (stream id: the
/// source's address) and tells its writer and the loss board.
async fn add_track(
    member: &mut Member,
    source: MemberId,
    source_addr: &DeviceAddr,
    losses: &LossBoard,
) {
    let ssrc = rand::random::<u32>();
    losses.track(ssrc, source);
    let track = MediaStreamTrack::new(
        source_addr.to_string(),
        format!("audio-{source}"),
        source_addr.to_string(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: softphone_rtc::opus_codec(),
            ..Default::default()
        }],
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
        Err(e) => return tracing::warn!(member = %member.addr, "cannot add a track: {e}"),
    };
    match transceiver.sender().await {
        Ok(Some(sender)) => {
            member.downtracks.insert(source, sender);
            let _ = member.writer.send(WriterControl::Add {
                source,
                track,
                ssrc,
            });
        }
        _ => tracing::warn!(member = %member.addr, "a new track has no sender"),
    }
}

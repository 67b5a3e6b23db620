//! One member's connection to the forwarder: its peer connection, the
//! offers to it, the candidates from it, and the tracks it is sent.
//!
//! The forwarder always offers ([`Negotiation`]): the first offer when the
//! member joins, another whenever its tracks change or it reconnected (an
//! ICE restart). Only one offer is out at a time; a change while one is
//! out is folded into the next offer, sent when the answer comes.

use crate::fanout::{MemberId, WriterControl};
use crate::room::Room;
use rtc::peer_connection::configuration::RTCOfferOptions;
use softphone_proto::{DeviceAddr, SignalMessage};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

/// Candidates held until the member's answer arrives, at most this many.
const EARLY_CANDIDATES: usize = 64;

/// Whether an offer is out, and what the next one must do.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Negotiation {
    awaiting_answer: bool,
    again: bool,
    restart: bool,
}

impl Negotiation {
    /// Something changed (`restart`: ICE must restart too). `Some(restart)`:
    /// send an offer now; `None`: one is out, the next will carry it.
    pub(crate) fn want(&mut self, restart: bool) -> Option<bool> {
        self.restart |= restart;
        if self.awaiting_answer {
            self.again = true;
            return None;
        }
        self.awaiting_answer = true;
        Some(std::mem::take(&mut self.restart))
    }

    /// The answer came. `Some(restart)`: changes are waiting, offer again.
    pub(crate) fn answered(&mut self) -> Option<bool> {
        self.awaiting_answer = false;
        if std::mem::take(&mut self.again) {
            self.want(false)
        } else {
            None
        }
    }

    /// Whether an answer is expected.
    pub(crate) fn awaiting_answer(&self) -> bool {
        self.awaiting_answer
    }
}

/// The senders of the two tracks a member is sent for one source.
#[derive(Default)]
pub(crate) struct Downtracks {
    pub audio: Option<Arc<dyn RtpSender>>,
    pub video: Option<Arc<dyn RtpSender>>,
}

pub(crate) struct Member {
    pub id: MemberId,
    pub addr: DeviceAddr,
    pub pc: Arc<dyn PeerConnection>,
    pub negotiation: Negotiation,
    /// The member has answered at least once.
    pub answered: bool,
    /// Its connection is up (ICE and DTLS).
    pub connected: bool,
    early_candidates: Vec<RTCIceCandidateInit>,
    /// The senders of the tracks this member is sent, by source.
    pub downtracks: HashMap<MemberId, Downtracks>,
    /// It takes video: true until its first answer shows otherwise (a
    /// client without VP8 rejects the video sections, and from then on
    /// gets none).
    pub video: bool,
    /// Sources whose tracks were added since the member's last answer:
    /// once it takes them, each is asked for a key frame.
    pub fresh_sources: Vec<MemberId>,
    /// Its writer's controls (its queue is in the room's fan-out table).
    pub writer: mpsc::UnboundedSender<WriterControl>,
}

impl Member {
    pub(crate) fn new(
        id: MemberId,
        addr: DeviceAddr,
        pc: Arc<dyn PeerConnection>,
        writer: mpsc::UnboundedSender<WriterControl>,
    ) -> Self {
        Self {
            id,
            addr,
            pc,
            negotiation: Negotiation::default(),
            answered: false,
            connected: false,
            early_candidates: Vec::new(),
            downtracks: HashMap::new(),
            video: true,
            fresh_sources: Vec::new(),
            writer,
        }
    }
}

impl Room {
    /// Offers to `member` now, or after the answer to the offer already out.
    pub(crate) async fn negotiate(&mut self, member: MemberId, restart: bool) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        if let Some(restart) = m.negotiation.want(restart) {
            self.send_offer(member, restart).await;
        }
    }

    async fn send_offer(&mut self, member: MemberId, restart: bool) {
        let Some(m) = self.members.get(&member) else {
            return;
        };
        let options = restart.then_some(RTCOfferOptions { ice_restart: true });
        let offer = match m.pc.create_offer(options).await {
            Ok(offer) => offer,
            Err(e) => return tracing::warn!(member = %m.addr, "cannot create an offer: {e}"),
        };
        if let Err(e) = m.pc.set_local_description(offer.clone()).await {
            return tracing::warn!(member = %m.addr, "cannot use our offer: {e}");
        }
        let to = m.addr.clone();
        self.say(to, SignalMessage::Offer { sdp: offer.sdp });
    }

    /// Negotiation from a member: its answer or a candidate.
    pub(crate) async fn on_signal(&mut self, from: &DeviceAddr, data: &serde_json::Value) {
        let Some(&id) = self.by_addr.get(from) else {
            return;
        };
        let Some(message) = SignalMessage::from_value(data) else {
            return tracing::debug!(member = %from, "ignoring a signal that is not negotiation: {data}");
        };
        match message {
            SignalMessage::Answer { sdp } => self.on_answer(id, sdp).await,
            SignalMessage::Offer { .. } => {
                // The forwarder offers; members answer. An ICE restart is
                // the forwarder's to start, after a reconnect.
                tracing::debug!(member = %from, "ignoring an offer from a member");
            }
            candidate @ SignalMessage::Candidate { .. } => {
                let (Some(init), Some(m)) = (
                    softphone_rtc::candidate_init(candidate),
                    self.members.get_mut(&id),
                ) else {
                    return;
                };
                if m.answered {
                    if let Err(e) = m.pc.add_ice_candidate(init).await {
                        tracing::debug!(member = %from, "ignoring a candidate: {e}");
                    }
                } else if m.early_candidates.len() < EARLY_CANDIDATES {
                    m.early_candidates.push(init);
                }
            }
        }
    }

    async fn on_answer(&mut self, id: MemberId, sdp: String) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if !m.negotiation.awaiting_answer() {
            return tracing::debug!(member = %m.addr, "ignoring an answer nobody asked for");
        }
        let mut took = None;
        let applied = match RTCSessionDescription::answer(sdp) {
            Ok(answer) => {
                took = answer
                    .unmarshal()
                    .ok()
                    .map(|d| crate::peer::Took::from_answer(&d));
                m.pc.set_remote_description(answer).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            tracing::warn!(member = %m.addr, "cannot use the member's answer: {e}");
            took = None;
        }
        let took = took.unwrap_or_default();
        if !m.answered {
            m.answered = true;
            for init in std::mem::take(&mut m.early_candidates) {
                if let Err(e) = m.pc.add_ice_candidate(init).await {
                    tracing::debug!(member = %m.addr, "ignoring a candidate: {e}");
                }
            }
            if !took.video {
                // An audio-only client: its video sections are rejected,
                // and a sender left on one would fail every later offer.
                tracing::info!(member = %m.addr, "the member takes no video");
                m.video = false;
                m.fresh_sources.clear();
                let _ = m.writer.send(WriterControl::NoVideo);
                self.table.no_video(id);
                for downtracks in m.downtracks.values_mut() {
                    if let Some(sender) = downtracks.video.take() {
                        if let Err(e) = m.pc.remove_track(&sender).await {
                            tracing::debug!(member = %m.addr, "removing a track: {e}");
                        }
                    }
                }
            }
        }
        let _ = m.writer.send(WriterControl::Red(took.red));
        if m.connected {
            // New downtracks start mid-stream; before the connection is up
            // its `Connected` asks every source (`room.rs`).
            for source in std::mem::take(&mut m.fresh_sources) {
                self.keyframes.request(source);
            }
        }
        if let Some(restart) = m.negotiation.answered() {
            self.send_offer(id, restart).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Negotiation;

    #[test]
    fn one_offer_at_a_time_and_nothing_is_lost() {
        let mut n = Negotiation::default();
        assert_eq!(n.want(false), Some(false), "the first offer goes at once");
        assert_eq!(n.want(false), None, "a change while it is out waits");
        assert_eq!(n.want(true), None, "so does a restart");
        assert_eq!(n.answered(), Some(true), "one offer carries both");
        assert_eq!(n.answered(), None, "nothing more was waiting");
        assert!(!n.awaiting_answer());
        assert_eq!(n.want(true), Some(true));
        assert_eq!(n.answered(), None);
    }
}

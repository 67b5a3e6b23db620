//! Offer/answer and trickle ICE with the other party (or, in a group call,
//! the forwarder, whose offers we only answer), and ICE restart.
//!
//! The caller offers and the callee answers. After that either side may
//! send a new offer with fresh ICE credentials (an ICE restart): the device
//! whose signaling connection came back does, since its network may have
//! changed under it, and the other answers. If both restart at the same
//! moment each ignores the other's offer (neither is answered); the media
//! keeps the path it had.

use super::Session;
use rtc::peer_connection::configuration::RTCOfferOptions;
use softphone_proto::DeviceAddr;
use softphone_proto::SignalMessage;
use softphone_rtc::candidate_init;
use webrtc::peer_connection::RTCSessionDescription;

impl Session {
    pub(super) async fn on_signal(
        &mut self,
        from: DeviceAddr,
        data: &serde_json::Value,
    ) -> Result<(), String> {
        let Some(message) = SignalMessage::from_value(data) else {
            tracing::debug!(session = %self.sid, "ignoring a signal that is not media negotiation: {data}");
            return Ok(());
        };
        if self.group && !from.is_forwarder() {
            tracing::debug!(session = %self.sid, "ignoring negotiation from {from}: group media goes through the forwarder");
            return Ok(());
        }
        self.remote.get_or_insert(from);
        match message {
            // The first offer (we are the callee), or an ICE restart from
            // the other side once negotiated.
            SignalMessage::Offer { sdp }
                if (!self.offerer && !self.remote_set) || (self.remote_set && !self.restarting) =>
            {
                let offer = RTCSessionDescription::offer(sdp)
                    .map_err(|e| format!("the other side's media offer is not valid SDP: {e}"))?;
                self.pc
                    .set_remote_description(offer)
                    .await
                    .map_err(|e| format!("cannot use the other side's media offer: {e}"))?;
                self.remote_set = true;
                self.add_early_candidates().await;
                let answer = self
                    .pc
                    .create_answer(None)
                    .await
                    .map_err(|e| format!("cannot answer the media offer: {e}"))?;
                self.pc
                    .set_local_description(answer.clone())
                    .await
                    .map_err(|e| format!("cannot use the media answer: {e}"))?;
                self.send(SignalMessage::Answer { sdp: answer.sdp }).await?;
                // A re-offer (a forwarder's) may bring video only now.
                self.start_video().await;
            }
            SignalMessage::Answer { sdp }
                if (self.offerer && !self.remote_set) || self.restarting =>
            {
                self.restarting = false;
                let answer = RTCSessionDescription::answer(sdp)
                    .map_err(|e| format!("the other side's media answer is not valid SDP: {e}"))?;
                self.pc
                    .set_remote_description(answer)
                    .await
                    .map_err(|e| format!("cannot use the other side's media answer: {e}"))?;
                self.remote_set = true;
                self.add_early_candidates().await;
            }
            candidate @ SignalMessage::Candidate { .. } => {
                let Some(init) = candidate_init(candidate) else {
                    return Ok(());
                };
                if self.remote_set {
                    if let Err(e) = self.pc.add_ice_candidate(init).await {
                        tracing::debug!("ignoring a remote candidate: {e}");
                    }
                } else if self.early_candidates.len() < 64 {
                    self.early_candidates.push(init);
                }
            }
            other => tracing::debug!(session = %self.sid, "ignoring an out-of-turn {other:?}"),
        }
        Ok(())
    }

    async fn add_early_candidates(&mut self) {
        for init in std::mem::take(&mut self.early_candidates) {
            if let Err(e) = self.pc.add_ice_candidate(init).await {
                tracing::debug!("ignoring a remote candidate: {e}");
            }
        }
    }

    /// Sends an ICE-restart offer, once the first negotiation is done.
    pub(super) async fn restart_ice(&mut self) -> Result<(), String> {
        // In a group call the forwarder restarts (it always offers).
        if self.group || !self.remote_set || self.restarting {
            return Ok(());
        }
        tracing::info!(session = %self.sid, "signaling came back: restarting ICE");
        let options = RTCOfferOptions { ice_restart: true };
        let offer = self
            .pc
            .create_offer(Some(options))
            .await
            .map_err(|e| format!("cannot create the ICE-restart offer: {e}"))?;
        self.pc
            .set_local_description(offer.clone())
            .await
            .map_err(|e| format!("cannot use the ICE-restart offer: {e}"))?;
        self.restarting = true;
        self.send(SignalMessage::Offer { sdp: offer.sdp }).await
    }
}

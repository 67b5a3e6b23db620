//! Building one member's peer connection, and reading what was negotiated.
//!
//! The codecs and setup timers are `softphone-rtc`'s, as the clients use
//! (Opus, RED, VP8). Interceptors: RTCP sender and receiver reports, NACK
//! for video (`nack.rs`: a generator for what the forwarder missed of a
//! sender, a responder for what a receiver missed of a downtrack; audio
//! does not negotiate NACK), and our feedback relay (`feedback.rs`: loss to
//! senders, key frame requests). No transport-wide congestion feedback:
//! every interceptor costs per packet, and nothing here would act on it.

use crate::fanout::MemberId;
use crate::feedback::{FeedbackRelay, LossBoard, RELAY_SLOT};
use crate::keyframes::KeyframeBoard;
use crate::nack::{self, LazyNackResponder};
use crate::room::RoomInput;
use crate::ForwarderConfig;
use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_VP8;
use softphone_rtc::{register_audio_codecs, register_video_codecs, setting_engine, RED_MIME};
use std::sync::Arc;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

/// What a member's peer connection reports to its room.
pub(crate) enum PcEvent {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
}

struct Handler {
    member: MemberId,
    room: mpsc::UnboundedSender<RoomInput>,
}

impl Handler {
    fn tell(&self, event: PcEvent) {
        let _ = self.room.send(RoomInput::Pc(self.member, event));
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.tell(PcEvent::Candidate(init)),
            Err(e) => tracing::debug!("unusable local candidate: {e}"),
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.tell(PcEvent::State(state));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.tell(PcEvent::Track(track));
    }
}

/// A peer connection for `member` whose events go to `room`.
pub(crate) async fn build(
    config: &ForwarderConfig,
    member: MemberId,
    room: mpsc::UnboundedSender<RoomInput>,
    losses: LossBoard,
    keyframes: KeyframeBoard,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut media = MediaEngine::default();
    register_audio_codecs(&mut media)?;
    register_video_codecs(&mut media)?;
    let registry = configure_rtcp_reports(Registry::new())
        .with(Slot::NackResponder, LazyNackResponder::new())
        .with(Slot::NackGenerator, nack::generator())
        .with(
            Slot::Custom(RELAY_SLOT),
            FeedbackRelay::new(member, losses, keyframes),
        );
    // DTLS-SRTP is the default and is never turned off.
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(setting_engine(false))
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler { member, room }))
        .with_udp_addrs(config.udp_addrs.clone())
        .build()
        .await
        .map_err(|e| format!("cannot create a media connection: {e}"))?;
    Ok(Arc::new(pc))
}

/// RED's payload type on this connection, if the member took it (read off
/// the first transceiver, the member's own audio, once answered).
pub(crate) async fn negotiated_red(pc: &dyn PeerConnection) -> Option<u8> {
    negotiated(pc, 0, RED_MIME).await
}

/// Whether the member takes video: its answer kept VP8 on the second
/// transceiver, its own video (a client without VP8 rejects the section).
pub(crate) async fn takes_video(pc: &dyn PeerConnection) -> bool {
    negotiated(pc, 1, MIME_TYPE_VP8).await.is_some()
}

/// The payload type of `mime` on transceiver `index`, once answered.
async fn negotiated(pc: &dyn PeerConnection, index: usize, mime: &str) -> Option<u8> {
    let transceiver = pc.get_transceivers().await.into_iter().nth(index)?;
    let receiver = transceiver.receiver().await.ok().flatten()?;
    let parameters = receiver.get_parameters().await.ok()?;
    parameters
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}

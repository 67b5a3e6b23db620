//! A peer connection's events as values: [`PcEvent`], and [`EventSink`],
//! the webrtc event handler that hands each one to a closure (a channel
//! send, in practice), so every peer — the clients' sessions, the
//! forwarder's member connections, the test and bench peers — reads its
//! events from its own task instead of inside webrtc's callbacks.

use std::sync::Arc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

/// What a peer connection reports.
pub enum PcEvent {
    /// A local ICE candidate to signal to the other side.
    Candidate(RTCIceCandidateInit),
    /// The connection state changed.
    State(RTCPeerConnectionState),
    /// A remote track started.
    Track(Arc<dyn TrackRemote>),
}

/// Hands every event to `F`. A local candidate that cannot be serialised
/// is logged and skipped.
pub struct EventSink<F>(pub F);

#[async_trait::async_trait]
impl<F: Fn(PcEvent) + Send + Sync + 'static> PeerConnectionEventHandler for EventSink<F> {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => (self.0)(PcEvent::Candidate(init)),
            Err(e) => tracing::debug!("unusable local candidate: {e}"),
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        (self.0)(PcEvent::State(state));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        (self.0)(PcEvent::Track(track));
    }
}

//! Building the peer connection (webrtc 0.21): the codecs (Opus, RED over
//! Opus), the one outgoing audio track, the event handler, our RTCP report
//! observer, the setup timers, and the few helpers that read from it
//! (candidates, round-trip time).

use super::rtcp::{RemoteReports, ReportObserver};
use softphone_proto::SignalMessage;
use super::Settings;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use softphone_proto::IceServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry,
    SettingEngine, SettingEngineBuilder, StatsSelector,
};

/// The Opus codec as registered and offered: `opus/48000/2`, FEC on.
pub(crate) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Opus's conventional dynamic payload type.
pub(crate) const OPUS_PT: u8 = 111;

/// Audio redundancy (RFC 2198) over Opus, as browsers offer it.
pub(crate) const RED_MIME: &str = "audio/red";
const RED_PT: u8 = 63;

fn red_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: RED_MIME.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: format!("{OPUS_PT}/{OPUS_PT}"),
        rtcp_feedback: vec![],
    }
}

/// Where our [`ReportObserver`] sits in the interceptor chain: above the
/// report generators, so it sees inbound RTCP before it is dropped.
const REPORT_OBSERVER_SLOT: usize = 10_500;

/// What the peer connection's handler reports.
pub(crate) enum PcEvent {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
}

pub(crate) struct Handler(mpsc::UnboundedSender<PcEvent>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = self.0.send(PcEvent::Candidate(init));
            }
            Err(e) => tracing::debug!("unusable local candidate: {e}"),
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.0.send(PcEvent::State(state));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.0.send(PcEvent::Track(track));
    }
}

pub(crate) fn candidate_message(init: RTCIceCandidateInit) -> SignalMessage {
    SignalMessage::Candidate {
        candidate: init.candidate,
        sdp_mid: init.sdp_mid.filter(|m| !m.is_empty()),
        sdp_mline_index: init.sdp_mline_index,
        username_fragment: init.username_fragment,
    }
}

/// The round-trip time of the nominated candidate pair, if measured.
pub(crate) async fn rtt_ms(pc: &dyn PeerConnection) -> Option<f64> {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let rtt = report.iter().find_map(|entry| match entry {
        webrtc::peer_connection::RTCStatsReportEntry::IceCandidatePair(pair)
            if pair.nominated && pair.current_round_trip_time > 0.0 =>
        {
            Some(pair.current_round_trip_time * 1000.0)
        }
        _ => None,
    });
    rtt
}

pub(crate) fn audio_track(ssrc: u32) -> Result<Arc<TrackLocalStaticSample>, String> {
    let track = MediaStreamTrack::new(
        "softphone".to_owned(),
        "softphone-audio".to_owned(),
        "audio".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: opus_codec(),
            ..Default::default()
        }],
    );
    TrackLocalStaticSample::new(Instant::now(), track)
        .map(Arc::new)
        .map_err(|e| format!("cannot create the audio track: {e}"))
}

/// Timers tuned for call setup. webrtc 0.21's driver advances ICE and
/// starts DTLS only on its timer tick (the ICE check interval, 200 ms by
/// default), so each setup step waited up to a tick; 10 ms ticks make setup
/// follow the network. A relayed-only session has nothing better to wait for,
/// so relay candidates are accepted at once instead of after 2 s.
///
/// mDNS is off: our candidates carry addresses, not `.local` names, and its
/// multicast socket cannot be opened on a host with only loopback (webrtc
/// then fails the whole connection with "no such device").
fn setting_engine(relay_only: bool) -> SettingEngine {
    let builder = SettingEngineBuilder::default()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
        .with_multicast_dns_mode(MulticastDnsMode::Disabled);
    let builder = if relay_only {
        builder.with_relay_acceptance_min_wait(Some(Duration::ZERO))
    } else {
        builder
    };
    builder.build()
}

/// The ICE check interval while connecting (see [`setting_engine`]).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// Checks per candidate pair: 10 ms × 300 gives a pair 3 s, as the default
/// 200 ms × 7 gave it 1.4 s, plus headroom for a lossy first second.
const ICE_MAX_BINDING_REQUESTS: u16 = 300;

/// A peer connection that offers Opus and RED over Opus, reports its
/// events to `events` and the other side's RTCP reports to `reports`.
pub(crate) async fn build_peer_connection(
    settings: &Settings,
    servers: &[IceServer],
    events: mpsc::UnboundedSender<PcEvent>,
    reports: RemoteReports,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut media = MediaEngine::default();
    for (rtp_codec, payload_type) in [(opus_codec(), OPUS_PT), (red_codec(), RED_PT)] {
        media
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec,
                    payload_type,
                },
                RtpCodecKind::Audio,
            )
            .map_err(|e| format!("cannot register the audio codecs: {e}"))?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| format!("cannot set up RTCP interceptors: {e}"))?
        .with(
            Slot::Custom(REPORT_OBSERVER_SLOT),
            ReportObserver::new(reports),
        );
    let ice_servers = servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let policy = if settings.relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(policy)
        .build();
    // DTLS-SRTP is the default and is never turned off.
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_setting_engine(setting_engine(settings.relay_only))
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler(events)))
        .with_udp_addrs(settings.udp_addrs.clone())
        .build()
        .await
        .map_err(|e| format!("cannot create the media connection: {e}"))?;
    Ok(Arc::new(pc))
}

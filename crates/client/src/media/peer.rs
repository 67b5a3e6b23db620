//! Building the peer connection (webrtc 0.21): the codecs and setup timers
//! every peer shares (`softphone-rtc`), the outgoing audio and video
//! tracks (one stream id, so receivers pair them for lip sync), the event
//! handler, our RTCP report observer, and the round-trip time.

use super::rtcp::{RemoteReports, ReportObserver};
use super::video::LOCAL_STREAM_ID;
use super::Settings;
use rtc::interceptor::Slot;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use softphone_proto::IceServer;
use softphone_rtc::{
    register_audio_codecs, register_video_codecs, setting_engine, EventSink, PcEvent,
};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, Registry, StatsSelector,
};

/// Where our [`ReportObserver`] sits in the interceptor chain: above the
/// report generators, so it sees inbound RTCP before it is dropped.
const REPORT_OBSERVER_SLOT: usize = 10_500;

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
    let track = softphone_rtc::local_track(
        LOCAL_STREAM_ID,
        "softphone-audio",
        "audio",
        RtpCodecKind::Audio,
        ssrc,
    );
    TrackLocalStaticSample::new(Instant::now(), track)
        .map(Arc::new)
        .map_err(|e| format!("cannot create the audio track: {e}"))
}

/// The outgoing video track: VP8, RTP packets of our own making
/// (`video/rtp.rs`), the audio track's stream id.
pub(crate) fn video_track(ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    let track = softphone_rtc::local_track(
        LOCAL_STREAM_ID,
        "softphone-video",
        "video",
        RtpCodecKind::Video,
        ssrc,
    );
    Arc::new(TrackLocalStaticRTP::new(track))
}

/// A peer connection that offers Opus, RED over Opus and VP8, reports its
/// events to `events` and the other side's RTCP to `reports`.
pub(crate) async fn build_peer_connection(
    settings: &Settings,
    servers: &[IceServer],
    events: mpsc::UnboundedSender<PcEvent>,
    reports: RemoteReports,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut media = MediaEngine::default();
    register_audio_codecs(&mut media)?;
    register_video_codecs(&mut media)?;
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
        .with_handler(Arc::new(EventSink(move |event| {
            let _ = events.send(event);
        })))
        .with_udp_addrs(settings.udp_addrs.clone())
        .build()
        .await
        .map_err(|e| format!("cannot create the media connection: {e}"))?;
    Ok(Arc::new(pc))
}

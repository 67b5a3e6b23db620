//! The WebRTC settings every peer of the softphone shares: the clients'
//! media sessions (`softphone-client`) and the server's group-call
//! forwarder (`softphone-forwarder`) both build their peer connections
//! from here, so the two ends always offer and expect the same thing.
//!
//! - [`register_audio_codecs`]: Opus `opus/48000/2` (fmtp
//!   `minptime=10;useinbandfec=1`) at payload type [`OPUS_PT`], and RED
//!   over Opus (RFC 2198, `red/48000/2`) at [`RED_PT`].
//! - [`register_video_codecs`]: VP8 (`video/VP8`, 90 kHz) at [`VP8_PT`]
//!   with NACK, PLI and FIR feedback.
//! - [`local_track`]: an outgoing track's description (stream id, one
//!   encoding with its SSRC and codec).
//! - [`setting_engine`]: the setup timers (10 ms ICE ticks) and mDNS off.
//! - [`candidate_message`] / [`candidate_init`]: ICE candidates to and from
//!   the [`SignalMessage`] that carries them through the server.
//! - [`reception_reports`]: the report blocks of an RTCP packet, for the
//!   interceptors on both ends that read the other side's loss.
//! - [`events`]: a peer connection's events as [`PcEvent`] values, handed
//!   to a closure by [`EventSink`] (every peer's event handler).
//!
//! DTLS-SRTP is webrtc's default and nothing here can turn it off.
#![warn(missing_docs)]

pub mod events;
pub use events::{EventSink, PcEvent};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use softphone_proto::SignalMessage;
use std::time::Duration;
use webrtc::peer_connection::{
    MediaEngine, RTCIceCandidateInit, SettingEngine, SettingEngineBuilder,
};

/// Opus's conventional dynamic payload type.
pub const OPUS_PT: u8 = 111;
/// RED over Opus's payload type (as browsers offer it).
pub const RED_PT: u8 = 63;
/// RED's MIME type.
pub const RED_MIME: &str = "audio/red";

/// An outgoing track's description: in stream `stream_id` (its msid, by
/// which the other side pairs a sender's audio and video), with
/// `track_id` and `label`, one encoding with `ssrc`, Opus for audio and
/// VP8 for video.
pub fn local_track(
    stream_id: &str,
    track_id: &str,
    label: &str,
    kind: RtpCodecKind,
    ssrc: u32,
) -> MediaStreamTrack {
    let codec = match kind {
        RtpCodecKind::Video => vp8_codec(),
        _ => opus_codec(),
    };
    MediaStreamTrack::new(
        stream_id.to_owned(),
        track_id.to_owned(),
        label.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )
}

/// The Opus codec as registered and offered: `opus/48000/2`, FEC on.
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Audio redundancy (RFC 2198) over Opus.
pub fn red_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: RED_MIME.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: format!("{OPUS_PT}/{OPUS_PT}"),
        rtcp_feedback: vec![],
    }
}

/// Registers Opus and RED over Opus, in that order of preference.
pub fn register_audio_codecs(media: &mut MediaEngine) -> Result<(), String> {
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
    Ok(())
}

/// VP8's payload type (as browsers number it).
pub const VP8_PT: u8 = 96;

/// VP8 as registered and offered: 90 kHz, with the feedback a video
/// stream needs: `nack` (retransmission), `nack pli` and `ccm fir`
/// (key-frame requests).
pub fn vp8_codec() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![
            feedback("nack", ""),
            feedback("nack", "pli"),
            feedback("ccm", "fir"),
        ],
    }
}

/// Registers VP8.
pub fn register_video_codecs(media: &mut MediaEngine) -> Result<(), String> {
    media
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: vp8_codec(),
                payload_type: VP8_PT,
            },
            RtpCodecKind::Video,
        )
        .map_err(|e| format!("cannot register the video codec: {e}"))
}

/// The ICE check interval while connecting (see [`setting_engine`]).
pub const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// Checks per candidate pair: 10 ms × 300 gives a pair 3 s, as the default
/// 200 ms × 7 gave it 1.4 s, plus headroom for a lossy first second.
pub const ICE_MAX_BINDING_REQUESTS: u16 = 300;

/// Timers tuned for call setup. webrtc 0.21's driver advances ICE and
/// starts DTLS only on its timer tick (the ICE check interval, 200 ms by
/// default), so each setup step waited up to a tick; 10 ms ticks make setup
/// follow the network. A relayed-only session has nothing better to wait for,
/// so relay candidates are accepted at once instead of after 2 s.
///
/// A peer-reflexive pair (the other side's check arrived before its
/// candidate did, as happens when the forwarder is busy re-offering) is
/// used at once, not after webrtc's default 1 s (measured: a third of group
/// members took 1 s longer to connect).
///
/// mDNS is off: our candidates carry addresses, not `.local` names, and its
/// multicast socket cannot be opened on a host with only loopback (webrtc
/// then fails the whole connection with "no such device").
pub fn setting_engine(relay_only: bool) -> SettingEngine {
    let builder = SettingEngineBuilder::default()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .with_multicast_dns_mode(MulticastDnsMode::Disabled);
    let builder = if relay_only {
        builder.with_relay_acceptance_min_wait(Some(Duration::ZERO))
    } else {
        builder
    };
    builder.build()
}

/// A local candidate as the message that carries it.
pub fn candidate_message(init: RTCIceCandidateInit) -> SignalMessage {
    SignalMessage::Candidate {
        candidate: init.candidate,
        sdp_mid: init.sdp_mid.filter(|m| !m.is_empty()),
        sdp_mline_index: init.sdp_mline_index,
        username_fragment: init.username_fragment,
    }
}

/// A received candidate message as webrtc takes it (`None` for the other
/// kinds of message).
pub fn candidate_init(message: SignalMessage) -> Option<RTCIceCandidateInit> {
    match message {
        SignalMessage::Candidate {
            candidate,
            sdp_mid,
            sdp_mline_index,
            username_fragment,
        } => Some(RTCIceCandidateInit {
            candidate,
            sdp_mid,
            sdp_mline_index,
            username_fragment,
            ..Default::default()
        }),
        _ => None,
    }
}

/// The reception report blocks an RTCP packet carries (receiver and sender
/// reports; none for other packets).
pub fn reception_reports(packet: &dyn rtc::rtcp::Packet) -> &[ReceptionReport] {
    let any = packet.as_any();
    if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
        &rr.reports
    } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
        &sr.reports
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_survive_the_trip_through_a_message() {
        let init = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some(String::new()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
            ..Default::default()
        };
        let back = candidate_init(candidate_message(init.clone())).expect("a candidate");
        assert_eq!(back.candidate, init.candidate);
        assert_eq!(back.sdp_mid, None, "an empty mid is left out");
        assert_eq!(back.sdp_mline_index, Some(0));
        assert_eq!(back.username_fragment.as_deref(), Some("abcd"));
        assert!(candidate_init(SignalMessage::Offer { sdp: "v=0".into() }).is_none());
    }

    #[test]
    fn the_codecs_register() {
        let mut media = MediaEngine::default();
        register_audio_codecs(&mut media).expect("audio registers");
        register_video_codecs(&mut media).expect("video registers");
    }
}

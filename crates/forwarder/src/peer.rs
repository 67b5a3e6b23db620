//! Building one member's peer connection, and reading what was negotiated.
//!
//! The codecs and setup timers are `softphone-rtc`'s, as the clients use
//! (Opus, RED, VP8). Interceptors: RTCP sender and receiver reports, and
//! our feedback relay (`feedback.rs`: loss to senders, key frame requests,
//! and inside it NACK for video, `nack.rs`: a generator for what the
//! forwarder missed of a sender, a responder for what a receiver missed of
//! a downtrack; audio does not negotiate NACK). No transport-wide
//! congestion feedback: every interceptor costs per packet, and nothing
//! here would act on it.

use crate::fanout::MemberId;
use crate::feedback::{FeedbackRelay, LossBoard, RELAY_SLOT};
use crate::keyframes::KeyframeBoard;
use crate::room::RoomInput;
use crate::ForwarderConfig;
use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::sdp::description::media::MediaDescription;
use rtc::sdp::description::session::SessionDescription;
use softphone_rtc::EventSink;
use softphone_rtc::{register_audio_codecs, register_video_codecs, setting_engine};
use std::sync::Arc;
use tokio::sync::mpsc;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder,
};

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
    let registry = configure_rtcp_reports(Registry::new()).with(
        Slot::Custom(RELAY_SLOT),
        FeedbackRelay::new(member, losses, keyframes),
    );
    // DTLS-SRTP is the default and is never turned off.
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(setting_engine(false))
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(EventSink(move |event| {
            let _ = room.send(RoomInput::Pc(member, event));
        })))
        .with_udp_addrs(config.udp_addrs.clone())
        .build()
        .await
        .map_err(|e| format!("cannot create a media connection: {e}"))?;
    Ok(Arc::new(pc))
}

/// What a member's answer took, read off its first two sections: the
/// member's own audio and own video, first in every offer (`room.rs`).
/// (Not from webrtc's transceivers: `get_transceivers` comes in no
/// particular order, and a transceiver has no receiver before its first
/// packet.)
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Took {
    /// RED's payload type, if the member took RED.
    pub red: Option<u8>,
    /// It took VP8 (a client without it rejects the video section).
    pub video: bool,
}

impl Took {
    pub(crate) fn from_answer(answer: &SessionDescription) -> Self {
        let codec = |section: Option<&MediaDescription>, name: &str| {
            let section = section.filter(|m| m.media_name.port.value != 0)?;
            section
                .codecs()
                .into_values()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .map(|c| c.payload_type)
        };
        let sections = &answer.media_descriptions;
        let video = sections.get(1).filter(|m| m.media_name.media == "video");
        Took {
            red: codec(sections.first(), RED_NAME),
            video: codec(video, VP8_NAME).is_some(),
        }
    }
}

/// RED's and VP8's encoding names in `a=rtpmap`.
const RED_NAME: &str = "red";
const VP8_NAME: &str = "VP8";

#[cfg(test)]
mod tests {
    use super::*;

    fn took(sdp: &str) -> Took {
        let sdp = sdp.replace('\n', "\r\n");
        let answer = SessionDescription::unmarshal(&mut std::io::Cursor::new(sdp)).expect("sdp");
        Took::from_answer(&answer)
    }

    const HEAD: &str = "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n";

    #[test]
    fn an_answer_says_whether_red_and_video_were_taken() {
        let audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111 63\nc=IN IP4 0.0.0.0\na=mid:0\n\
                     a=rtpmap:111 opus/48000/2\na=rtpmap:63 red/48000/2\na=sendonly\n";
        let video = "m=video 9 UDP/TLS/RTP/SAVPF 96\nc=IN IP4 0.0.0.0\na=mid:1\n\
                     a=rtpmap:96 VP8/90000\na=sendonly\n";
        let rejected = "m=video 0 UDP/TLS/RTP/SAVPF 0\nc=IN IP4 0.0.0.0\na=mid:1\n";
        assert_eq!(
            took(&format!("{HEAD}{audio}{video}")),
            Took {
                red: Some(63),
                video: true
            }
        );
        assert_eq!(
            took(&format!("{HEAD}{audio}{rejected}")),
            Took {
                red: Some(63),
                video: false
            }
        );
        let opus_only = "m=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=mid:0\n\
                         a=rtpmap:111 opus/48000/2\n";
        assert_eq!(took(&format!("{HEAD}{opus_only}")), Took::default());
    }
}

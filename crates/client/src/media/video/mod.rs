//! Video in a call's media session: VP8 (`softphone-video`) both ways on
//! the same peer connection as the audio.
//!
//! Every session negotiates one video transceiver next to the audio, in
//! audio calls too, sending nothing until a source is turned on
//! ([`MediaDevices::video`](crate::media::MediaDevices::video) at the start,
//! [`MediaHandle::set_video_source`](crate::media::MediaHandle::set_video_source)
//! at any time): an audio call becomes a video call without a new offer.
//! Our video track's stream id is the audio track's, so receivers pair the
//! two for lip sync.
//!
//! # Layout
//!
//! - `send.rs`: the send thread (source → scale → VP8, key frames on
//!   request) and the task that writes RTP to the track.
//! - `rtp.rs`: VP8 RTP packets stamped with the capture time, and the
//!   payload descriptor read defensively.
//! - `assemble.rs`: packets → whole frames, losses that need a key frame.
//! - `receive.rs`: per remote video stream, a thread with its own decoder
//!   that hands due frames to the [`VideoSink`], and asks for key frames.
//! - `playout.rs`: when a frame is shown (lip sync with the stream's
//!   audio) and how often a key frame may be asked for.
//! - `adapt.rs`: bitrate and resolution step from the receiver reports.
//! - `stats.rs`: [`VideoStats`].
//!
//! Encoding and decoding run on threads of their own, never on the async
//! runtime, and never wait on the audio threads; buffers are reused.

mod adapt;
mod assemble;
mod playout;
mod receive;
mod rtp;
mod send;
mod stats;

pub(crate) use adapt::VideoAdaptation;
pub(crate) use playout::video_delay_us;
pub(crate) use receive::{StreamIdent, VideoReceiver};
pub(crate) use rtp::Packetizer;
pub(crate) use send::{spawn_video_out, Preview, SendState, VideoSendThread, OUT_QUEUE};
pub(crate) use stats::{SendInput, StreamInput, VideoStatsBuilder};
pub use stats::{VideoStats, VideoStreamStats};

use softphone_proto::DeviceAddr;
use softphone_video::source::{open_source, Pacing, SourceConfig};
use softphone_video::vp8::default_bitrate;
use softphone_video::{Clock, Frame, SourceId, VideoError, VideoSource};
use std::sync::Arc;

/// The stream id of our own audio and video tracks (receivers pair tracks
/// of one stream id for lip sync); also the `stream_id` of local preview
/// frames.
pub const LOCAL_STREAM_ID: &str = "softphone";

/// How video is captured and sent, for every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSettings {
    /// Width asked of the source (a camera picks its nearest mode; a screen
    /// is scaled to fit). Default 1280.
    pub width: u32,
    /// Height asked of the source. Default 720.
    pub height: u32,
    /// Frames per second (1–120). Default 30.
    pub fps: u32,
    /// The most the encoder may use (b/s); `None`: what the size wants
    /// (`softphone_video::vp8::default_bitrate`: 1.5 Mb/s at 720p, 500 kb/s
    /// at 360p). The adaptation goes below it under loss.
    pub max_bitrate_bps: Option<u32>,
    /// Hand our own captured frames to the [`VideoSink`] too (`local:
    /// true`), for a preview.
    pub preview: bool,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
            max_bitrate_bps: None,
            preview: false,
        }
    }
}

impl VideoSettings {
    /// What a source is opened with.
    pub fn source_config(&self) -> SourceConfig {
        SourceConfig {
            width: self.width,
            height: self.height,
            fps: self.fps,
            pacing: Pacing::RealTime,
            clock: Clock::new(),
        }
    }

    /// Opens the source `id` with these settings (a camera can take a
    /// moment: call it off the async runtime's threads when it matters).
    pub fn open(&self, id: &SourceId) -> Result<Box<dyn VideoSource>, VideoError> {
        open_source(id, self.source_config())
    }

    /// The encoder's maximum bitrate.
    pub(crate) fn max_bitrate(&self) -> u32 {
        self.max_bitrate_bps
            .unwrap_or_else(|| default_bitrate(self.width, self.height))
    }
}

/// A video frame for the application: a remote frame when it is due to be
/// shown (lip-synced with its stream's audio), or, with
/// [`VideoSettings::preview`], one of our own as it is captured.
#[derive(Debug)]
#[non_exhaustive]
pub struct VideoFrame<'a> {
    /// The call.
    pub session_id: &'a str,
    /// Whose video: the other party of a 1:1 call, the participant a group
    /// call's stream id names; `None` for our own and when unknown.
    pub owner: Option<&'a DeviceAddr>,
    /// The stream id of the track it came on ([`LOCAL_STREAM_ID`] for ours).
    pub stream_id: &'a str,
    /// Our own captured frame (preview), not a remote one.
    pub local: bool,
    /// The picture (I420; `softphone_video::Frame::write_rgba` converts).
    pub frame: &'a Frame,
    /// The VP8 frame it was decoded from (empty for our own), for
    /// recording without re-encoding.
    pub vp8: &'a [u8],
    /// `vp8` is a key frame.
    pub keyframe: bool,
}

impl<'a> VideoFrame<'a> {
    /// A remote frame as the session hands it out (for testing a sink).
    pub fn remote(
        session_id: &'a str,
        owner: Option<&'a DeviceAddr>,
        stream_id: &'a str,
        frame: &'a Frame,
        vp8: &'a [u8],
        keyframe: bool,
    ) -> Self {
        Self {
            session_id,
            owner,
            stream_id,
            local: false,
            frame,
            vp8,
            keyframe,
        }
    }
}

/// Where video frames go. Called on the stream's own video thread (one per
/// remote stream, and the send thread for the preview): it must return
/// quickly (convert or copy, then hand off), and must not call back into
/// the client synchronously.
pub type VideoSink = Arc<dyn Fn(&VideoFrame<'_>) + Send + Sync>;

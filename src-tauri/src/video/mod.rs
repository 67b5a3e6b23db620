//! Video in the app: the camera of a call and the frames the window draws.
//!
//! - [`wire`]: one frame as one binary message (header + I420), pure and
//!   tested; the UI's parser is its twin.
//! - [`VideoRelay`]: the client's video sink. Called on each stream's video
//!   thread, it copies the frame into a message and sends it down the window's
//!   `ipc::Channel` as a raw body, unless the window is behind: at most
//!   [`MAX_IN_FLIGHT`] frames may be unacknowledged (the window tells how
//!   many it drew, `video_frames_drawn`); past that frames are dropped, so
//!   a slow webview never holds up a video thread or piles up memory.
//! - [`CameraControl`]: whether this call's camera is on, and the choice
//!   made when placing or answering a call (camera on or off) that the
//!   device factory reads when the call's media starts.
//! - [`UiVideoSource`]: a picker entry.

pub mod wire;

use crate::settings::VideoPrefs;
use crate::state::lock;
use serde::Serialize;
use softphone_client::media::{SourceId, VideoFrame, VideoSettings, VideoSink, VideoSource};
use softphone_client::{Call, CallType};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tauri::ipc::{Channel, InvokeResponseBody};
use ts_rs::TS;

/// Frames sent and not yet drawn, beyond which new ones are dropped (the
/// page acknowledges in threes, `ACK_EVERY` in ui/src/lib/video.ts).
pub const MAX_IN_FLIGHT: u32 = 6;
/// A window that acknowledged nothing for this long is assumed to have
/// lost count (reloaded): the count starts again.
const STALL_MS: u64 = 1000;
/// The preview is sent at most at this share of the camera's rate (every
/// third frame): it is small on screen and the remote video matters more.
const PREVIEW_EVERY: u32 = 3;

/// The size and rate the app captures at: 360p keeps a call under a
/// quarter of a core on a small machine (docs/video.md).
pub fn capture_settings() -> VideoSettings {
    VideoSettings {
        width: 640,
        height: 360,
        fps: 30,
        max_bitrate_bps: None,
        preview: true,
    }
}

/// Sends frames to the window (see the module docs).
pub struct VideoRelay {
    channel: Mutex<Option<Channel<InvokeResponseBody>>>,
    in_flight: AtomicU32,
    seq: AtomicU32,
    preview_seen: AtomicU32,
    /// Milliseconds since `epoch` of the last send or acknowledgement.
    last_progress_ms: AtomicU64,
    epoch: Instant,
    sent: AtomicU64,
    dropped: AtomicU64,
}

impl Default for VideoRelay {
    fn default() -> Self {
        Self {
            channel: Mutex::new(None),
            in_flight: AtomicU32::new(0),
            seq: AtomicU32::new(0),
            preview_seen: AtomicU32::new(0),
            last_progress_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }
}

impl VideoRelay {
    /// Frames go to `channel` from now on (a reloaded window replaces it).
    pub fn watch(&self, channel: Channel<InvokeResponseBody>) {
        *lock(&self.channel) = Some(channel);
        self.in_flight.store(0, Ordering::Relaxed);
    }

    /// The window drew (or skipped) `count` frames.
    pub fn drawn(&self, count: u32) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(count))
            });
        self.progress();
    }

    /// (sent, dropped) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn progress(&self) {
        self.last_progress_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// Takes a slot for one more frame, or says to drop it.
    fn admit(&self) -> bool {
        let stalled = self
            .now_ms()
            .saturating_sub(self.last_progress_ms.load(Ordering::Relaxed))
            > STALL_MS;
        if stalled {
            self.in_flight.store(0, Ordering::Relaxed);
        }
        let took = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .is_ok();
        if !took {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        took
    }

    /// Copies and sends one frame, or drops it (no window, window behind,
    /// a preview frame skipped). Never waits.
    pub fn offer(&self, f: &VideoFrame<'_>) {
        if lock(&self.channel).is_none() {
            return;
        }
        if f.local && self.preview_seen.fetch_add(1, Ordering::Relaxed) % PREVIEW_EVERY != 0 {
            return;
        }
        if !self.admit() {
            return;
        }
        let meta = wire::FrameMeta {
            local: f.local,
            key: if f.local {
                wire::LOCAL_KEY
            } else {
                f.stream_id
            },
            owner: f.owner.map(|o| o.user_id.as_str()).unwrap_or(""),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        };
        let mut message = Vec::new();
        wire::encode(&meta, f.frame, &mut message);
        let mut slot = lock(&self.channel);
        let Some(ch) = slot.as_ref() else { return };
        // Webview channels queue the body and ask the page to fetch it:
        // no waiting on the page here.
        match ch.send(InvokeResponseBody::Raw(message)) {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
                self.progress();
            }
            Err(e) => {
                tracing::debug!("the video channel is closed: {e}");
                *slot = None;
            }
        }
    }

    /// The client's video sink over this relay.
    pub fn sink(self: &Arc<Self>) -> VideoSink {
        let relay = self.clone();
        Arc::new(move |f: &VideoFrame<'_>| relay.offer(f))
    }
}

/// Whether the call's camera is on, and the choice for the next call.
#[derive(Debug, Default)]
pub struct CameraControl {
    on: AtomicBool,
    /// Camera on or off for the call placed or answered next
    /// (`None`: from the settings).
    next: Mutex<Option<bool>>,
}

impl CameraControl {
    /// The next call starts with the camera `on` (placing or answering
    /// chose so); `None` leaves it to the settings.
    pub fn choose_for_next_call(&self, on: Option<bool>) {
        *lock(&self.next) = on;
    }

    /// Whether the camera is on now.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Records that the camera went on or off.
    pub fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Whether `call` starts with the camera on: the choice made when it
    /// was placed or answered, else video calls do unless the settings
    /// say to start with the camera off. Consumes the choice.
    pub fn wanted_at_start(&self, call: &Call, prefs: &VideoPrefs) -> bool {
        let chosen = lock(&self.next).take();
        let on =
            chosen.unwrap_or(call.call_type == CallType::Video && !prefs.start_with_camera_off);
        self.set_on(false);
        on
    }
}

/// The source the camera button turns on: the chosen one, else the first
/// camera, else the test pattern.
pub fn source_to_use(prefs: &VideoPrefs, listed: &[UiVideoSource]) -> SourceId {
    let chosen = prefs
        .source
        .as_deref()
        .and_then(|id| id.parse::<SourceId>().ok());
    chosen
        .or_else(|| {
            listed
                .iter()
                .find(|s| s.id.starts_with("camera:"))
                .and_then(|s| s.id.parse().ok())
        })
        .unwrap_or(SourceId::Pattern)
}

/// Opens the source for a call's start (`Err`: a sentence for the UI).
pub fn open_for_call(prefs: &VideoPrefs) -> Result<(SourceId, Box<dyn VideoSource>), String> {
    let id = source_to_use(prefs, &list_sources());
    capture_settings()
        .open(&id)
        .map(|s| (id.clone(), s))
        .map_err(|e| {
            format!("Camera unavailable: cannot open {id}: {e}. The call goes on without video.")
        })
}

/// A video source for the picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiVideoSource {
    /// Stable id (`pattern`, `camera:v4l:…`, `screen::0`).
    pub id: String,
    /// What to show.
    pub name: String,
}

/// The video sources there are now: the test pattern, cameras, the screen.
pub fn list_sources() -> Vec<UiVideoSource> {
    softphone_client::media::list_video_sources()
        .into_iter()
        .map(|s| UiVideoSource {
            id: s.id.to_string(),
            name: s.name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_client::ReceiverType;

    fn call(t: CallType) -> Call {
        Call::new("bob", t, ReceiverType::User)
    }

    #[test]
    fn video_calls_start_with_the_camera_unless_told_otherwise() {
        let cam = CameraControl::default();
        let prefs = VideoPrefs::default();
        assert!(cam.wanted_at_start(&call(CallType::Video), &prefs));
        assert!(!cam.wanted_at_start(&call(CallType::Audio), &prefs));
        let off = VideoPrefs {
            start_with_camera_off: true,
            ..prefs.clone()
        };
        assert!(!cam.wanted_at_start(&call(CallType::Video), &off));
        // Answering "with video" beats the setting, once.
        cam.choose_for_next_call(Some(true));
        assert!(cam.wanted_at_start(&call(CallType::Video), &off));
        assert!(!cam.wanted_at_start(&call(CallType::Video), &off));
        cam.choose_for_next_call(Some(false));
        assert!(!cam.wanted_at_start(&call(CallType::Video), &prefs));
    }

    #[test]
    fn the_camera_is_the_chosen_source_else_a_camera_else_the_pattern() {
        let listed = vec![
            UiVideoSource {
                id: "pattern".into(),
                name: "Test pattern".into(),
            },
            UiVideoSource {
                id: "camera:v4l:usb-cam".into(),
                name: "USB".into(),
            },
        ];
        let mut prefs = VideoPrefs::default();
        assert_eq!(
            source_to_use(&prefs, &listed),
            SourceId::Camera("v4l:usb-cam".into())
        );
        assert_eq!(source_to_use(&prefs, &listed[..1]), SourceId::Pattern);
        prefs.source = Some("pattern".into());
        assert_eq!(source_to_use(&prefs, &listed), SourceId::Pattern);
    }

    #[test]
    fn a_window_that_falls_behind_gets_frames_dropped_not_queued() {
        let relay = VideoRelay::default();
        relay.progress();
        for _ in 0..MAX_IN_FLIGHT {
            assert!(relay.admit());
        }
        assert!(!relay.admit(), "the window is behind: drop");
        assert_eq!(relay.counts().1, 1);
        relay.drawn(2);
        assert!(relay.admit() && relay.admit());
        assert!(!relay.admit());
        // A window that stops acknowledging (reloaded) is not waited for forever.
        relay.last_progress_ms.store(0, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(STALL_MS + 20));
        assert!(relay.admit());
    }
}

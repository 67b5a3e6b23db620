//! Where frames come from: the test pattern, V4L2 cameras, the X11 screen.
//!
//! Every source has a stable id that survives restarts and can be saved in
//! settings or typed on a command line ([`SourceId`]):
//!
//! - `pattern`: the synthetic test pattern ([`PatternSource`]);
//! - `camera:<id>`: a V4L2 camera; `<id>` is `v4l:` and the device's
//!   `/dev/v4l/by-id/…` link when udev made one (the same camera keeps it on
//!   any USB port), else its `/dev/v4l/by-path/…` link, else `/dev/videoN`
//!   ([`CameraSource`]);
//! - `screen:<display>`: an X11 screen, e.g. `screen::0` ([`ScreenSource`]).
//!
//! [`list_sources`] lists what is there now and [`open_source`] opens one
//! by id. A source writes each frame into a [`Frame`] the caller keeps, so
//! a capture loop reuses one buffer.

mod camera;
mod mjpeg;
mod pattern;
mod screen;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

pub use camera::{list_cameras, CameraInfo, CameraSource};
pub use mjpeg::MjpegDecoder;
pub use pattern::PatternSource;
pub use screen::ScreenSource;

use crate::error::{Result, VideoError};
use crate::frame::{Clock, Frame};

/// A source of video frames.
pub trait VideoSource: Send {
    /// The source's id.
    fn id(&self) -> &SourceId;

    /// Wait for the next frame and write it into `frame` (resized as
    /// needed), stamped with its capture time. The pattern and the screen
    /// pace themselves to the configured frame rate (unless
    /// [`Pacing::Unpaced`]); a camera delivers at its own rate.
    fn read_frame(&mut self, frame: &mut Frame) -> Result<()>;
}

/// How a synthetic or polled source is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// One frame per frame interval of wall-clock time.
    RealTime,
    /// As fast as the caller asks (tests, benchmarks). The pattern then
    /// stamps frames with virtual time: frame `n` at `n` frame intervals.
    Unpaced,
}

/// What the caller wants from a source.
#[derive(Debug, Clone, Copy)]
pub struct SourceConfig {
    /// Wanted width: the pattern's exact size, the size a camera is asked
    /// for (it picks the nearest it has), the box a screen is scaled down
    /// to fit (aspect kept, never scaled up).
    pub width: u32,
    /// Wanted height, as for the width.
    pub height: u32,
    /// Frames per second (1 ..= 120).
    pub fps: u32,
    /// Pacing of the pattern and the screen.
    pub pacing: Pacing,
    /// The clock that stamps frames (share it with the audio for lip sync).
    pub clock: Clock,
}

impl Default for SourceConfig {
    /// 1280 × 720 at 30 fps, real time.
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
            pacing: Pacing::RealTime,
            clock: Clock::new(),
        }
    }
}

impl SourceConfig {
    fn validate(&self) -> Result<()> {
        crate::frame::check_size(self.width, self.height)?;
        if !(1..=120).contains(&self.fps) {
            return Err(VideoError::invalid(format!(
                "fps is 1..=120, got {}",
                self.fps
            )));
        }
        Ok(())
    }

    fn interval(&self) -> Duration {
        Duration::from_micros(1_000_000 / u64::from(self.fps))
    }
}

/// The stable id of a video source: `pattern`, `camera:<id>` or
/// `screen:<display>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceId {
    /// The synthetic test pattern.
    Pattern,
    /// A camera, by its id (see [`CameraInfo::id`]).
    Camera(String),
    /// An X11 screen, by its display name (e.g. `:0`).
    Screen(String),
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::Pattern => f.write_str("pattern"),
            SourceId::Camera(id) => write!(f, "camera:{id}"),
            SourceId::Screen(display) => write!(f, "screen:{display}"),
        }
    }
}

impl FromStr for SourceId {
    type Err = VideoError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        match s.split_once(':') {
            None if s == "pattern" => Ok(SourceId::Pattern),
            Some(("camera", id)) if !id.is_empty() => Ok(SourceId::Camera(id.to_owned())),
            Some(("screen", display)) if !display.is_empty() => {
                Ok(SourceId::Screen(display.to_owned()))
            }
            _ => Err(VideoError::invalid(format!(
                "{s:?} is not a video source id; use pattern, camera:<id> or screen:<display> \
                 (list the sources for the ids)"
            ))),
        }
    }
}

/// One source that is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Its stable id.
    pub id: SourceId,
    /// A name for people ("Integrated Camera", "Test pattern", …).
    pub name: String,
}

/// The sources available now: the pattern always, each V4L2 camera, and
/// the X11 screen named by `$DISPLAY` when it accepts a connection.
/// Nothing missing is an error: no camera means no camera entries.
pub fn list_sources() -> Vec<SourceInfo> {
    let mut sources = vec![SourceInfo {
        id: SourceId::Pattern,
        name: "Test pattern".into(),
    }];
    match list_cameras() {
        Ok(cameras) => sources.extend(cameras.into_iter().map(|c| SourceInfo {
            id: SourceId::Camera(c.id),
            name: c.name,
        })),
        Err(e) => tracing::warn!("listing cameras failed: {e}"),
    }
    if let Some(display) = std::env::var_os("DISPLAY") {
        let display = display.to_string_lossy().into_owned();
        match screen::describe(&display) {
            Ok(name) => sources.push(SourceInfo {
                id: SourceId::Screen(display),
                name,
            }),
            Err(e) => tracing::debug!("no screen source: {e}"),
        }
    }
    sources
}

/// Open the source `id`.
pub fn open_source(id: &SourceId, config: SourceConfig) -> Result<Box<dyn VideoSource>> {
    Ok(match id {
        SourceId::Pattern => Box::new(PatternSource::new(config)?),
        SourceId::Camera(camera) => Box::new(CameraSource::open(camera, config)?),
        SourceId::Screen(display) => Box::new(ScreenSource::open(display, config)?),
    })
}

/// Sleeps until each next frame is due. A caller that falls more than a
/// frame behind is not made to catch up with a burst: the schedule restarts.
#[derive(Debug)]
pub(crate) struct Pacer {
    pacing: Pacing,
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(pacing: Pacing, interval: Duration) -> Self {
        Self {
            pacing,
            interval,
            next: None,
        }
    }

    pub(crate) fn wait(&mut self) {
        if self.pacing == Pacing::Unpaced {
            return;
        }
        let now = Instant::now();
        let due = *self.next.get_or_insert(now);
        if due > now {
            std::thread::sleep(due - now);
            self.next = Some(due + self.interval);
        } else if now - due > self.interval {
            self.next = Some(now + self.interval);
        } else {
            self.next = Some(due + self.interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        for (text, id) in [
            ("pattern", SourceId::Pattern),
            (
                "camera:v4l:/dev/v4l/by-id/usb-Cam-video-index0",
                SourceId::Camera("v4l:/dev/v4l/by-id/usb-Cam-video-index0".into()),
            ),
            ("screen::0", SourceId::Screen(":0".into())),
        ] {
            assert_eq!(text.parse::<SourceId>().unwrap(), id);
            assert_eq!(id.to_string(), text);
        }
        for bad in ["", "camera", "camera:", "screen:", "webcam:0", "patterns"] {
            let err = bad.parse::<SourceId>().unwrap_err().to_string();
            assert!(
                err.contains("pattern, camera:<id> or screen:<display>"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_pattern_is_always_listed_and_missing_sources_are_not_errors() {
        let sources = list_sources();
        assert_eq!(sources[0].id, SourceId::Pattern);
        // This machine has no camera; listing says so with an empty list.
        if !std::path::Path::new("/dev/video0").exists() {
            assert!(sources.iter().all(|s| !matches!(s.id, SourceId::Camera(_))));
        }
    }

    #[test]
    fn real_time_pacing_keeps_the_frame_rate_and_does_not_burst() {
        let mut pacer = Pacer::new(Pacing::RealTime, Duration::from_millis(10));
        let start = Instant::now();
        for _ in 0..11 {
            pacer.wait();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_millis(400), "{took:?}");
        // After a stall, the next frames come at the normal interval again.
        std::thread::sleep(Duration::from_millis(50));
        pacer.wait();
        let t = Instant::now();
        pacer.wait();
        assert!(t.elapsed() >= Duration::from_millis(8), "{:?}", t.elapsed());

        let mut unpaced = Pacer::new(Pacing::Unpaced, Duration::from_secs(1));
        let t = Instant::now();
        for _ in 0..100 {
            unpaced.wait();
        }
        assert!(t.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = [
            SourceConfig {
                fps: 0,
                ..SourceConfig::default()
            },
            SourceConfig {
                width: 0,
                ..SourceConfig::default()
            },
        ];
        for config in bad {
            assert!(open_source(&SourceId::Pattern, config).is_err());
        }
    }
}

//! Video for calls: `--video-source`, `--video-size`, `--fps`,
//! `--no-camera`, `--video-after` and `--record-video` (shared by `call`,
//! `answer` and `join`), and the video lines of `devices`.
//!
//! - A video call (`call --video`, or answering one) starts with video on,
//!   from `--video-source`, unless `--no-camera`. An audio call has no video
//!   until `--video-after SECS`, which turns it on that long after the
//!   answer (the same call, no new offer).
//! - Without `--video-source` the first camera is used, and on a machine
//!   without one the test pattern (a sentence on stderr says so): a bot or
//!   a test gets a picture either way.
//! - `--record-video DIR` writes each received stream, as received (VP8,
//!   the frames that decoded), to `DIR/<stream>-<call>.ivf`, and prints a
//!   `video_received` line per stream and second: frames shown so far and
//!   in the last second, the size, the last frame counter of the test
//!   pattern read off the decoded picture (`null` for a camera) and the
//!   longest wait between two frames, so scripts can check video without
//!   looking at it. A frame after a wait of 500 ms or more gets a line at
//!   once (a frozen picture came back).

use super::{output, parse_secs};
use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::Args;
use rtc::media::io::ivf_reader::IVFFileHeader;
use rtc::media::io::ivf_writer::IVFWriter;
use rtc::media::io::Writer as _;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use serde_json::json;
use softphone_client::media::{
    list_video_sources, SourceId, VideoFrame, VideoSettings, VideoSink, VideoSource,
};
use softphone_client::DeviceAddr;
use softphone_video::read_counter;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a call's video is sent and what is done with what comes in.
#[derive(Debug, Clone, Args)]
pub struct VideoArgs {
    /// Video source: `pattern` (a moving test pattern with its frame
    /// counter burned in), `camera:<id>` or `screen:<display>`
    /// (`softphone-cli devices` lists them). Default: the first camera,
    /// else the pattern.
    #[arg(long, value_name = "ID", value_parser = parse_source)]
    pub video_source: Option<SourceId>,
    /// Size asked of the video source.
    #[arg(long, value_name = "WxH", default_value = "640x360", value_parser = parse_size)]
    pub video_size: (u32, u32),
    /// Video frames per second.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,
    /// Start video calls with the camera off (video from the other side
    /// still shows; --video-after turns ours on).
    #[arg(long)]
    pub no_camera: bool,
    /// Turn video on this long after the call is answered (an audio call
    /// becomes a video call).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub video_after: Option<Duration>,
    /// Record each received video stream into DIR (one IVF file each) and
    /// print a `video_received` line per stream each second.
    #[arg(long, value_name = "DIR")]
    pub record_video: Option<PathBuf>,
}

impl Default for VideoArgs {
    fn default() -> Self {
        Self {
            video_source: None,
            video_size: (640, 360),
            fps: 30,
            no_camera: false,
            video_after: None,
            record_video: None,
        }
    }
}

impl VideoArgs {
    /// The settings sources are opened with.
    pub fn settings(&self) -> VideoSettings {
        VideoSettings {
            width: self.video_size.0,
            height: self.video_size.1,
            fps: self.fps,
            ..VideoSettings::default()
        }
    }

    /// Checks `--video-source` (a camera must be listed).
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(SourceId::Camera(_)) = &self.video_source {
            let id = self.video_source.as_ref().map(ToString::to_string);
            let sources = list_video_sources();
            if !sources.iter().any(|s| Some(s.id.to_string()) == id) {
                let cameras: Vec<String> = sources
                    .iter()
                    .filter(|s| matches!(s.id, SourceId::Camera(_)))
                    .map(|s| s.id.to_string())
                    .collect();
                if cameras.is_empty() {
                    bail!(
                        "there is no camera {} (this machine lists none); use --video-source pattern",
                        id.unwrap_or_default()
                    );
                }
                bail!(
                    "there is no camera {}; `softphone-cli devices` lists them (the cameras are: {})",
                    id.unwrap_or_default(),
                    cameras.join(", ")
                );
            }
        }
        Ok(())
    }

    /// The source to send from: `--video-source`, else the first camera,
    /// else the pattern.
    pub fn source(&self) -> SourceId {
        if let Some(id) = &self.video_source {
            return id.clone();
        }
        let camera = list_video_sources()
            .into_iter()
            .map(|s| s.id)
            .find(|id| matches!(id, SourceId::Camera(_)));
        camera.unwrap_or_else(|| {
            output::sentence("no camera found; sending the test pattern");
            SourceId::Pattern
        })
    }

    /// Opens the source for a call that starts with video; a source that
    /// cannot be opened is a sentence and no video, not a failed call.
    pub fn open(&self, settings: &VideoSettings) -> Option<Box<dyn VideoSource>> {
        let id = self.source();
        match settings.open(&id) {
            Ok(source) => Some(source),
            Err(e) => {
                output::sentence(&format!("cannot open the video source {id}: {e}; no video"));
                None
            }
        }
    }

    /// The recorder, if `--record-video` asks for one.
    pub fn recorder(&self) -> anyhow::Result<Option<Arc<VideoRecorder>>> {
        self.record_video
            .as_deref()
            .map(|dir| VideoRecorder::create(dir, self.fps))
            .transpose()
    }
}

fn parse_source(text: &str) -> Result<SourceId, String> {
    text.parse()
        .map_err(|e: softphone_client::media::VideoError| e.to_string())
}

/// `WxH`, each 16 ..= 3840, even.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a video size like 640x360");
    let (w, h) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.parse().map_err(|_| bad())?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    if !(16..=3840).contains(&w) || !(16..=2160).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(format!(
            "{text:?}: width and height must be even, 16-3840 by 16-2160"
        ));
    }
    Ok((w, h))
}

/// Records received video: one IVF file per stream, a line per second.
pub struct VideoRecorder {
    dir: PathBuf,
    fps: u32,
    /// By call and stream id; each stream's thread locks only its own.
    streams: Mutex<HashMap<StreamKey, Arc<Mutex<Recording>>>>,
}

/// A call's session id and a stream id.
type StreamKey = (String, String);

struct Recording {
    writer: Option<IVFWriter<BufWriter<File>>>,
    path: PathBuf,
    session_id: String,
    stream_id: String,
    owner: Option<DeviceAddr>,
    frames: u64,
    counters_read: u64,
    counter: Option<u32>,
    width: u32,
    height: u32,
    last_line: Instant,
    frames_at_line: u64,
    last_frame: Option<Instant>,
    /// The longest wait between two frames since the last line.
    max_gap: Duration,
}

/// A frame after a wait this long gets a line at once (the picture froze
/// and came back: a test can time the recovery).
const RESUMED_AFTER: Duration = Duration::from_millis(500);

impl VideoRecorder {
    /// Records into `dir` (created if missing).
    pub fn create(dir: &Path, fps: u32) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot record video into {}", dir.display()))?;
        let probe = dir.join(".softphone-write-test");
        std::fs::write(&probe, b"")
            .with_context(|| format!("cannot record video into {}", dir.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            fps,
            streams: Mutex::default(),
        }))
    }

    /// The sink to give the client.
    pub fn sink(self: &Arc<Self>) -> VideoSink {
        let me = self.clone();
        Arc::new(move |frame: &VideoFrame<'_>| me.on_frame(frame))
    }

    fn on_frame(&self, frame: &VideoFrame<'_>) {
        if frame.local {
            return;
        }
        let key = (frame.session_id.to_owned(), frame.stream_id.to_owned());
        let recording = {
            let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            streams
                .entry(key)
                .or_insert_with(|| Arc::new(Mutex::new(self.start(frame))))
                .clone()
        };
        let mut r = recording.lock().unwrap_or_else(PoisonError::into_inner);
        r.add(frame);
    }

    fn start(&self, frame: &VideoFrame<'_>) -> Recording {
        let name = format!(
            "{}-{}.ivf",
            file_safe(frame.stream_id),
            file_safe(&frame.session_id.chars().take(8).collect::<String>())
        );
        let path = self.dir.join(name);
        let header = IVFFileHeader {
            signature: *b"DKIF",
            version: 0,
            header_size: 32,
            four_cc: *b"VP80",
            width: frame.frame.width() as u16,
            height: frame.frame.height() as u16,
            timebase_denominator: self.fps,
            timebase_numerator: 1,
            num_frames: 0,
            unused: 0,
        };
        let writer = File::create(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| IVFWriter::new(BufWriter::new(f), &header).map_err(|e| e.to_string()));
        let writer = match writer {
            Ok(w) => Some(w),
            Err(e) => {
                output::sentence(&format!("cannot record video into {}: {e}", path.display()));
                None
            }
        };
        Recording {
            writer,
            path,
            session_id: frame.session_id.to_owned(),
            stream_id: frame.stream_id.to_owned(),
            owner: frame.owner.cloned(),
            frames: 0,
            counters_read: 0,
            counter: None,
            width: 0,
            height: 0,
            last_line: Instant::now(),
            frames_at_line: 0,
            last_frame: None,
            max_gap: Duration::ZERO,
        }
    }

    /// Closes the files (their headers get the frame count) and prints a
    /// last line per stream.
    pub fn finish(&self) {
        let streams: Vec<_> = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, r)| r)
            .collect();
        for recording in streams {
            let mut r = recording.lock().unwrap_or_else(PoisonError::into_inner);
            r.line();
            if let Some(mut writer) = r.writer.take() {
                if let Err(e) = writer.close() {
                    output::sentence(&format!(
                        "the video recording {} may be incomplete: {e}",
                        r.path.display()
                    ));
                }
            }
        }
    }
}

impl Recording {
    fn add(&mut self, frame: &VideoFrame<'_>) {
        let now = Instant::now();
        let gap = self.last_frame.map_or(Duration::ZERO, |t| now - t);
        self.last_frame = Some(now);
        self.max_gap = self.max_gap.max(gap);
        self.frames += 1;
        self.width = frame.frame.width();
        self.height = frame.frame.height();
        if let Some(counter) = read_counter(frame.frame) {
            self.counter = Some(counter);
            self.counters_read += 1;
        }
        if let Some(writer) = &mut self.writer {
            // The IVF writer takes RTP packets: one whole frame, marker set.
            let mut payload = Vec::with_capacity(frame.vp8.len() + 1);
            payload.push(0x10);
            payload.extend_from_slice(frame.vp8);
            let packet = Packet {
                header: Header {
                    marker: true,
                    ..Header::default()
                },
                payload: Bytes::from(payload),
            };
            if let Err(e) = writer.write_rtp(&packet) {
                output::sentence(&format!("stopped recording {}: {e}", self.path.display()));
                self.writer = None;
            }
        }
        if self.last_line.elapsed() >= Duration::from_secs(1) || gap >= RESUMED_AFTER {
            self.line();
        }
    }

    fn line(&mut self) {
        let secs = self.last_line.elapsed().as_secs_f64();
        let fps = if secs > 0.0 {
            (self.frames - self.frames_at_line) as f64 / secs
        } else {
            0.0
        };
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        output::line(&json!({
            "event": "video_received",
            "session_id": self.session_id,
            "stream_id": self.stream_id,
            "owner": self.owner,
            "frames": self.frames,
            "fps": (fps * 10.0).round() / 10.0,
            "width": self.width,
            "height": self.height,
            "counter": self.counter,
            "counters_read": self.counters_read,
            "max_gap_ms": self.max_gap.as_millis() as u64,
            "file": self.path,
            "unix_ms": unix_ms,
        }));
        self.last_line = Instant::now();
        self.frames_at_line = self.frames;
        self.max_gap = Duration::ZERO;
    }
}

/// Letters, digits, `-` and `_`; anything else becomes `_`.
fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The video lines of `devices`: every source, one JSON object each.
pub fn list_lines() {
    for source in list_video_sources() {
        output::line(&json!({
            "id": source.id.to_string(),
            "name": source.name,
            "kind": "video",
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_video::Frame;

    #[test]
    fn sizes_and_sources_parse_or_say_why_not() {
        assert_eq!(parse_size("640x360"), Ok((640, 360)));
        assert_eq!(parse_size("1280X720"), Ok((1280, 720)));
        for bad in ["640", "x", "641x360", "0x0", "99999x2", "axb"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_source("pattern"), Ok(SourceId::Pattern));
        let err = parse_source("webcam").unwrap_err();
        assert!(
            err.contains("pattern, camera:<id> or screen:<display>"),
            "{err}"
        );
        let args = VideoArgs {
            video_source: Some(SourceId::Camera("v4l:/dev/nothing".into())),
            ..VideoArgs::default()
        };
        let err = args.check().unwrap_err().to_string();
        assert!(
            err.contains("there is no camera camera:v4l:/dev/nothing"),
            "{err}"
        );
        assert!(VideoArgs::default().check().is_ok());
    }

    #[test]
    fn a_recording_is_an_ivf_file_of_the_frames_given() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = VideoRecorder::create(dir.path(), 30).unwrap();
        let sink = recorder.sink();
        let mut picture = Frame::new(320, 180).unwrap();
        softphone_video::pattern::draw(&mut picture, 7);
        let mut encoder =
            softphone_video::Vp8Encoder::new(softphone_video::EncoderConfig::new(320, 180))
                .unwrap();
        let vp8 = encoder.encode(&picture).unwrap().unwrap().data.to_vec();
        let who = DeviceAddr::new("bob", "desk");
        for _ in 0..3 {
            sink(&VideoFrame::remote(
                "s1234567890",
                Some(&who),
                "bob/desk",
                &picture,
                &vp8,
                true,
            ));
        }
        recorder.finish();
        let path = dir.path().join("bob_desk-s1234567.ivf");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"DKIF");
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 3);
        assert_eq!(bytes.len(), 32 + 3 * (12 + vp8.len()));
    }
}

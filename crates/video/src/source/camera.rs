//! V4L2 cameras through the `v4l` crate: listing with stable ids, opening
//! by id, YUYV and MJPEG frames converted to I420.
//!
//! Format choice: MJPEG when the camera has it and the wanted size is above
//! 640×480 (USB 2 cameras send uncompressed 720p at 5–10 fps only), YUYV
//! otherwise (no decoding cost). Frames are stamped when they are dequeued.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use v4l::buffer::Type;
use v4l::capability::Flags;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::mjpeg::MjpegDecoder;
use super::{SourceConfig, SourceId, VideoSource};
use crate::error::{Result, VideoError};
use crate::frame::{Clock, Frame};

/// Prefix of the ids of V4L2 cameras.
const V4L_PREFIX: &str = "v4l:";
const YUYV: FourCC = FourCC { repr: *b"YUYV" };
const MJPG: FourCC = FourCC { repr: *b"MJPG" };
/// How long a read waits for the camera before calling it dead.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// A camera that is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// Its stable id, e.g. `v4l:/dev/v4l/by-id/usb-Logitech_C920-video-index0`
    /// (the source id is `camera:` and this).
    pub id: String,
    /// The driver's name for it ("HD Pro Webcam C920").
    pub name: String,
    /// The device node it is now (`/dev/video0`); may change across reboots.
    pub path: PathBuf,
}

/// The V4L2 video-capture devices there are now. No camera (or no `/dev`
/// video nodes at all) is an empty list, not an error; a device that
/// cannot be opened (permissions, busy) is left out with a warning.
pub fn list_cameras() -> Result<Vec<CameraInfo>> {
    list_cameras_in(Path::new("/dev"))
}

fn list_cameras_in(dev: &Path) -> Result<Vec<CameraInfo>> {
    let mut nodes: Vec<PathBuf> = match fs::read_dir(dev) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("video"))
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(VideoError::camera(
                "*",
                format!("cannot read {}: {e}", dev.display()),
            ))
        }
    };
    nodes.sort();
    let mut cameras = Vec::new();
    for path in nodes {
        match capture_name(&path) {
            Ok(Some(name)) => cameras.push(CameraInfo {
                id: format!("{V4L_PREFIX}{}", stable_path(dev, &path).display()),
                name,
                path,
            }),
            Ok(None) => {} // metadata node, output device, …
            Err(e) => tracing::warn!("camera {} left out: {e}", path.display()),
        }
    }
    Ok(cameras)
}

/// The card name of `path` if it is a streaming video-capture device.
fn capture_name(path: &Path) -> std::io::Result<Option<String>> {
    let device = Device::with_path(path)?;
    let caps = query_caps(&device)?;
    let wanted = Flags::VIDEO_CAPTURE | Flags::STREAMING;
    Ok(caps.capabilities.contains(wanted).then_some(caps.card))
}

/// `Device::query_caps`, which panics on a name that is not UTF-8.
fn query_caps(device: &Device) -> std::io::Result<v4l::Capabilities> {
    no_panic(|| device.query_caps())
}

/// Run a `v4l` call that converts driver strings with
/// `str::from_utf8(..).unwrap()` (names and format descriptions; a driver
/// can cut a multi-byte name at its 32 bytes): a panic becomes an error.
fn no_panic<T>(call: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the driver reported a string that is not UTF-8",
        ))
    })
}

/// The `/dev/v4l/by-id` link to `node`, else the `by-path` one, else `node`.
fn stable_path(dev: &Path, node: &Path) -> PathBuf {
    let target = fs::canonicalize(node).unwrap_or_else(|_| node.to_path_buf());
    for dir in ["v4l/by-id", "v4l/by-path"] {
        let Ok(entries) = fs::read_dir(dev.join(dir)) else {
            continue;
        };
        let mut links: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        links.sort();
        if let Some(link) = links
            .into_iter()
            .find(|l| fs::canonicalize(l).ok().as_ref() == Some(&target))
        {
            return link;
        }
    }
    node.to_path_buf()
}

/// Turn a camera id back into its device path.
fn device_path(id: &str) -> Result<PathBuf> {
    let path = id
        .strip_prefix(V4L_PREFIX)
        .filter(|p| p.starts_with('/') && !p.contains('\0'))
        .ok_or_else(|| VideoError::SourceNotFound(format!("camera:{id}")))?;
    let path = PathBuf::from(path);
    if !path.exists() {
        return Err(VideoError::SourceNotFound(format!("camera:{id}")));
    }
    Ok(path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Yuyv,
    Mjpeg,
}

/// An open V4L2 camera, streaming through four mmap buffers.
pub struct CameraSource {
    id: SourceId,
    // Declared before `device`: the stream (its buffers) goes first.
    stream: Stream<'static>,
    _device: Device,
    encoding: Encoding,
    width: u32,
    height: u32,
    stride: usize,
    clock: Clock,
    /// MJPEG decoding, buffers reused from frame to frame.
    mjpeg: MjpegDecoder,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSource")
            .field("id", &self.id)
            .field("encoding", &self.encoding)
            .field("size", &(self.width, self.height))
            .finish_non_exhaustive()
    }
}

impl CameraSource {
    /// Open the camera `id` (a [`CameraInfo::id`]) at the size and frame
    /// rate nearest to `config`'s.
    pub fn open(id: &str, config: SourceConfig) -> Result<Self> {
        config.validate()?;
        let path = device_path(id)?;
        let err = |what: &str, e: std::io::Error| VideoError::camera(id, format!("{what}: {e}"));
        let device = Device::with_path(&path).map_err(|e| err("cannot open it", e))?;
        let caps = query_caps(&device).map_err(|e| err("cannot query it", e))?;
        if !caps
            .capabilities
            .contains(Flags::VIDEO_CAPTURE | Flags::STREAMING)
        {
            return Err(VideoError::camera(
                id,
                "it is not a streaming video-capture device",
            ));
        }
        let offered: Vec<FourCC> = no_panic(|| device.enum_formats())
            .map_err(|e| err("cannot list its formats", e))?
            .into_iter()
            .map(|d| d.fourcc)
            .collect();
        let big = u64::from(config.width) * u64::from(config.height) > 640 * 480;
        let fourcc = match (offered.contains(&YUYV), offered.contains(&MJPG)) {
            (_, true) if big => MJPG,
            (true, _) => YUYV,
            (false, true) => MJPG,
            (false, false) => {
                return Err(VideoError::camera(
                    id,
                    format!("it offers neither YUYV nor MJPEG (offers {offered:?})"),
                ))
            }
        };
        let mut format = device
            .format()
            .map_err(|e| err("cannot read its format", e))?;
        format.width = config.width;
        format.height = config.height;
        format.fourcc = fourcc;
        let format = device
            .set_format(&format)
            .map_err(|e| err("cannot set its format", e))?;
        let encoding = match format.fourcc {
            f if f == YUYV => Encoding::Yuyv,
            f if f == MJPG => Encoding::Mjpeg,
            other => {
                return Err(VideoError::camera(
                    id,
                    format!("it switched to format {other}"),
                ))
            }
        };
        if let Err(e) = device.set_params(&v4l::video::capture::Parameters::with_fps(config.fps)) {
            tracing::debug!("camera {id}: frame rate not set: {e}");
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4)
            .map_err(|e| err("cannot start streaming", e))?;
        stream.set_timeout(READ_TIMEOUT);
        let stride = if format.stride > 0 {
            format.stride as usize
        } else {
            2 * format.width as usize
        };
        Ok(Self {
            id: SourceId::Camera(id.to_owned()),
            stream,
            _device: device,
            encoding,
            width: format.width,
            height: format.height,
            stride,
            clock: config.clock,
            mjpeg: MjpegDecoder::default(),
        })
    }
}

impl VideoSource for CameraSource {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn read_frame(&mut self, frame: &mut Frame) -> Result<()> {
        let (data, meta) = self
            .stream
            .next()
            .map_err(|e| VideoError::camera(self.id.to_string(), format!("read failed: {e}")))?;
        let used = (meta.bytesused as usize).min(data.len());
        let data = &data[..used];
        match self.encoding {
            Encoding::Yuyv => frame.fill_from_yuyv(data, self.width, self.height, self.stride)?,
            Encoding::Mjpeg => self.mjpeg.decode(data, frame)?,
        }
        frame.timestamp_us = self.clock.now_us();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cameras_is_an_empty_list_and_a_missing_id_a_clear_error() {
        let empty = std::env::temp_dir().join(format!("no-cams-{}", std::process::id()));
        fs::create_dir_all(&empty).unwrap();
        assert_eq!(list_cameras_in(&empty).unwrap(), vec![]);
        assert_eq!(list_cameras_in(&empty.join("absent")).unwrap(), vec![]);
        fs::remove_dir_all(&empty).unwrap();
        // This machine has no camera: the real listing is empty and fine.
        if !Path::new("/dev/video0").exists() {
            assert_eq!(list_cameras().unwrap(), vec![]);
        }

        for id in [
            "v4l:/dev/v4l/by-id/usb-Nothing-video-index0",
            "v4l:relative",
            "webcam",
        ] {
            let err = CameraSource::open(id, SourceConfig::default()).unwrap_err();
            assert!(
                matches!(err, VideoError::SourceNotFound(_)),
                "{id}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains(id) && text.contains("list the sources"),
                "{text}"
            );
        }
        // A NUL byte would make v4l's path conversion panic: refused first.
        let err = CameraSource::open("v4l:/dev/video0\0x", SourceConfig::default()).unwrap_err();
        assert!(matches!(err, VideoError::SourceNotFound(_)), "{err:?}");
        // Something that exists but is no camera.
        let err = CameraSource::open("v4l:/dev/null", SourceConfig::default()).unwrap_err();
        assert!(matches!(err, VideoError::Camera { .. }), "{err:?}");
    }

    #[test]
    fn stable_ids_prefer_by_id_links() {
        let dev = std::env::temp_dir().join(format!("fake-dev-{}", std::process::id()));
        fs::create_dir_all(dev.join("v4l/by-id")).unwrap();
        fs::create_dir_all(dev.join("v4l/by-path")).unwrap();
        fs::write(dev.join("video0"), b"").unwrap();
        fs::write(dev.join("video2"), b"").unwrap();
        std::os::unix::fs::symlink("../../video0", dev.join("v4l/by-id/usb-Cam-video-index0"))
            .unwrap();
        std::os::unix::fs::symlink(
            "../../video0",
            dev.join("v4l/by-path/pci-usb-0:1-video-index0"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../../video2",
            dev.join("v4l/by-path/pci-usb-0:2-video-index0"),
        )
        .unwrap();
        assert_eq!(
            stable_path(&dev, &dev.join("video0")),
            dev.join("v4l/by-id/usb-Cam-video-index0")
        );
        assert_eq!(
            stable_path(&dev, &dev.join("video2")),
            dev.join("v4l/by-path/pci-usb-0:2-video-index0")
        );
        fs::write(dev.join("video4"), b"").unwrap();
        assert_eq!(stable_path(&dev, &dev.join("video4")), dev.join("video4"));
        // Plain files are not V4L2 devices: listed nowhere, and no error.
        assert_eq!(list_cameras_in(&dev).unwrap(), vec![]);
        fs::remove_dir_all(&dev).unwrap();
    }
}

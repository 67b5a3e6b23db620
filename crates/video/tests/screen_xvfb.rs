//! Screen capture against a real X server: a private Xvfb, painted with
//! known colours (`xsetroot`) and with a pattern frame (ImageMagick's
//! `display -window root`), captured through `ScreenSource`.
//!
//! Needs `xvfb`, `x11-xserver-utils` and `imagemagick`
//! (`scripts/install-deps.sh`); fails, rather than skips, without them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use softphone_video::pattern::{self, count_bar_colours};
use softphone_video::source::ScreenSource;
use softphone_video::{read_counter, Frame, Pacing, SourceConfig, SourceId, VideoSource};

const W: u32 = 1280;
const H: u32 = 800;

/// An Xvfb of our own on a display it picks itself (`-displayfd`, so
/// parallel tests never collide); stopped with SIGTERM on drop, so it
/// removes its socket and lock file.
struct Xvfb {
    child: Child,
    display: String,
    scratch: PathBuf,
}

impl Xvfb {
    fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &format!("{W}x{H}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb ({e}): run scripts/install-deps.sh"));
        // Xvfb writes its display number once it accepts connections.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("Xvfb's display number");
        let n: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        let display = format!(":{n}");
        let scratch = std::env::temp_dir().join(format!("video-xvfb-{n}"));
        std::fs::create_dir_all(&scratch).unwrap();
        Self {
            child,
            display,
            scratch,
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let status = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run scripts/install-deps.sh"));
        // ImageMagick's `display -window root` exits 1 after painting; the
        // capture below is the real check.
        assert!(
            program == "display" || status.success(),
            "{program} {args:?}: {status}"
        );
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn config(width: u32, height: u32) -> SourceConfig {
    SourceConfig {
        width,
        height,
        fps: 30,
        pacing: Pacing::Unpaced,
        ..SourceConfig::default()
    }
}

/// Every 7th pixel of the capture is `want` within `tolerance`.
fn assert_solid(frame: &Frame, want: [u8; 3], tolerance: u8) {
    let mut rgba = Vec::new();
    frame.write_rgba(&mut rgba);
    for (i, px) in rgba.chunks_exact(4).enumerate().step_by(7) {
        let close = px[..3]
            .iter()
            .zip(want)
            .all(|(a, b)| a.abs_diff(b) <= tolerance);
        assert!(close, "pixel {i} is {px:?}, want {want:?}");
    }
}

#[test]
fn captures_what_the_x_server_shows() {
    let x = Xvfb::start();
    let mut source = ScreenSource::open(&x.display, config(W, H)).unwrap();
    assert_eq!(source.id(), &SourceId::Screen(x.display.clone()));
    let mut frame = Frame::new(2, 2).unwrap();

    for (name, rgb) in [
        ("#ff0000", [255, 0, 0]),
        ("#0000ff", [0, 0, 255]),
        ("#30c060", [0x30, 0xc0, 0x60]),
    ] {
        x.run("xsetroot", &["-solid", name]);
        source.read_frame(&mut frame).unwrap();
        assert_eq!((frame.width(), frame.height()), (W, H));
        assert_solid(&frame, rgb, 4);
    }

    // Scaled down to fit 640x360: 576x360 keeps the 16:10 screen's aspect.
    let mut small = ScreenSource::open(&x.display, config(640, 360)).unwrap();
    small.read_frame(&mut frame).unwrap();
    assert_eq!((frame.width(), frame.height()), (576, 360));
    assert_solid(&frame, [0x30, 0xc0, 0x60], 4);
}

#[test]
fn a_pattern_on_the_screen_reads_back_through_capture() {
    let x = Xvfb::start();
    // Paint pattern frame 4321 as the root window's picture.
    let mut shown = Frame::new(W, H).unwrap();
    pattern::draw(&mut shown, 4321);
    let mut rgba = Vec::new();
    shown.write_rgba(&mut rgba);
    let mut ppm = format!("P6\n{W} {H}\n255\n").into_bytes();
    ppm.extend(rgba.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]));
    let file = x.scratch.join("pattern.ppm");
    std::fs::write(&file, ppm).unwrap();
    x.run("display", &["-window", "root", file.to_str().unwrap()]);

    let mut source =
        softphone_video::open_source(&SourceId::Screen(x.display.clone()), config(W, H)).unwrap();
    let mut frame = Frame::new(2, 2).unwrap();
    source.read_frame(&mut frame).unwrap();
    assert_eq!(read_counter(&frame), Some(4321));
    frame.write_rgba(&mut rgba);
    assert_eq!(count_bar_colours(&rgba, 8), 7);

    // Downscaled captures still carry a readable pattern.
    let mut small = ScreenSource::open(&x.display, config(640, 400)).unwrap();
    small.read_frame(&mut frame).unwrap();
    assert_eq!((frame.width(), frame.height()), (640, 400));
    assert_eq!(read_counter(&frame), Some(4321));
}

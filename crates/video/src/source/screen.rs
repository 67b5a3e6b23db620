//! X11 screen capture: GetImage of the root window, converted to I420 and
//! scaled down to fit the wanted size.
//!
//! Plain core-protocol GetImage over x11rb's pure-Rust connection: no C
//! library and no `unsafe`. Each grab copies the screen through the socket
//! (about 4 MB at 1280×800, a few ms) and x11rb allocates each reply; that
//! is fine at screen-sharing frame rates (5–15 fps). MIT-SHM would save the
//! copy, at the price of shared-memory `unsafe` outside the `vp8` module:
//! left for when it is measured to matter.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use super::{Pacer, SourceConfig, SourceId, VideoSource};
use crate::convert::PixelFormat;
use crate::error::{Result, VideoError};
use crate::frame::{Clock, Frame};

/// A short description of the screen on `display` ("X11 screen :0, 1920x1080").
pub(super) fn describe(display: &str) -> Result<String> {
    let (conn, screen) =
        RustConnection::connect(Some(display)).map_err(|e| VideoError::screen(display, e))?;
    let root = conn
        .setup()
        .roots
        .get(screen)
        .ok_or_else(|| VideoError::screen(display, "no such screen"))?;
    Ok(format!(
        "X11 screen {display}, {}x{}",
        root.width_in_pixels, root.height_in_pixels
    ))
}

/// The X11 root window as a video source.
pub struct ScreenSource {
    id: SourceId,
    display: String,
    conn: RustConnection,
    root: Window,
    format: PixelFormat,
    /// The wanted box; frames are scaled down to fit inside it.
    max: (u32, u32),
    /// The full-size grab, when it has to be scaled.
    full: Frame,
    pacer: Pacer,
    clock: Clock,
}

impl std::fmt::Debug for ScreenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenSource")
            .field("display", &self.display)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl ScreenSource {
    /// Capture the screen of `display` (e.g. `:0`), at `config.fps`, scaled
    /// down to fit `config.width` × `config.height`.
    pub fn open(display: &str, config: SourceConfig) -> Result<Self> {
        config.validate()?;
        let fail = |reason: String| VideoError::screen(display, reason);
        let (conn, screen) = RustConnection::connect(Some(display)).map_err(|e| {
            fail(format!(
                "cannot connect: {e}; is an X server running there?"
            ))
        })?;
        let setup = conn.setup();
        let root = setup
            .roots
            .get(screen)
            .ok_or_else(|| fail(format!("the server has no screen {screen}")))?;
        let bits = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == root.root_depth)
            .map(|f| f.bits_per_pixel);
        let visual = root
            .allowed_depths
            .iter()
            .flat_map(|d| &d.visuals)
            .find(|v| v.visual_id == root.root_visual);
        let masks = visual.map(|v| (v.red_mask, v.green_mask, v.blue_mask));
        let format = match (bits, masks, setup.image_byte_order) {
            (Some(32), Some((0xff_0000, 0xff00, 0xff)), ImageOrder::LSB_FIRST) => PixelFormat::Bgrx32,
            (Some(32), Some((0xff, 0xff00, 0xff_0000)), ImageOrder::LSB_FIRST) => PixelFormat::Rgba32,
            _ => {
                return Err(fail(format!(
                    "unsupported pixel format (depth {}, {bits:?} bits per pixel, masks {masks:x?}, {:?}); \
                     use a 24-bit TrueColor display",
                    root.root_depth, setup.image_byte_order
                )))
            }
        };
        let root = root.root;
        Ok(Self {
            id: SourceId::Screen(display.to_owned()),
            display: display.to_owned(),
            conn,
            root,
            format,
            max: (config.width, config.height),
            full: Frame::new(2, 2)?,
            pacer: Pacer::new(config.pacing, config.interval()),
            clock: config.clock,
        })
    }

    fn grab(&mut self, frame: &mut Frame) -> Result<()> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            VideoError::screen(&self.display, format!("{what}: {e}"))
        };
        // Asked every frame: the screen may have been resized (xrandr).
        let geometry = self
            .conn
            .get_geometry(self.root)
            .map_err(|e| fail("get geometry", &e))?
            .reply()
            .map_err(|e| fail("get geometry", &e))?;
        let (w, h) = (geometry.width, geometry.height);
        let image = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, 0, 0, w, h, !0)
            .map_err(|e| fail("get image", &e))?
            .reply()
            .map_err(|e| fail("get image", &e))?;
        let (w, h) = (u32::from(w), u32::from(h));
        let (ow, oh) = fit(w, h, self.max);
        let stride = w as usize * 4;
        if (ow, oh) == (w, h) {
            frame.fill_from_packed(&image.data, w, h, stride, self.format)
        } else {
            self.full
                .fill_from_packed(&image.data, w, h, stride, self.format)?;
            frame.resize(ow, oh)?;
            self.full.scale_into(frame);
            Ok(())
        }
    }
}

/// The largest size with `w`:`h`'s aspect inside `max`, even, never bigger
/// than `w` × `h`.
fn fit(w: u32, h: u32, (mw, mh): (u32, u32)) -> (u32, u32) {
    if w <= mw && h <= mh {
        return (w, h);
    }
    let (w64, h64) = (u64::from(w), u64::from(h));
    // Scale by the tighter of the two ratios.
    let (ow, oh) = if w64 * u64::from(mh) >= h64 * u64::from(mw) {
        (u64::from(mw), h64 * u64::from(mw) / w64)
    } else {
        (w64 * u64::from(mh) / h64, u64::from(mh))
    };
    ((ow as u32 & !1).max(2), (oh as u32 & !1).max(2))
}

impl VideoSource for ScreenSource {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn read_frame(&mut self, frame: &mut Frame) -> Result<()> {
        self.pacer.wait();
        let captured_us = self.clock.now_us();
        self.grab(frame)?;
        frame.timestamp_us = captured_us;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_the_box_keeping_the_aspect() {
        assert_eq!(fit(1280, 800, (1280, 720)), (1152, 720));
        assert_eq!(fit(1920, 1080, (1280, 720)), (1280, 720));
        assert_eq!(fit(3840, 1080, (1280, 720)), (1280, 360));
        assert_eq!(fit(800, 600, (1280, 720)), (800, 600), "never scaled up");
        assert_eq!(fit(1001, 1001, (640, 360)), (360, 360));
        assert_eq!(fit(10_000, 2, (640, 360)), (640, 2));
    }

    #[test]
    fn a_display_that_is_not_there_is_a_clear_error() {
        let err = ScreenSource::open(":4321", SourceConfig::default()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, VideoError::Screen { .. }), "{err:?}");
        assert!(
            text.contains(":4321") && text.contains("cannot connect"),
            "{text}"
        );
    }
}

//! The crate's one error type.

/// Everything that can go wrong in the video crate.
///
/// Each message says what failed and, where the user can act, how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// A caller passed a value outside the documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// libvpx refused an operation (bad argument, out of memory, …).
    #[error("libvpx {operation} failed: {message}")]
    Codec {
        /// What we asked libvpx to do.
        operation: &'static str,
        /// libvpx's own description of the error (and its detail, if any).
        message: String,
    },
    /// A VP8 frame could not be decoded: corrupt, truncated, or it refers to
    /// a frame the decoder never saw. Ask the sender for a key frame.
    #[error("undecodable VP8 frame: {0}; request a key frame (PLI) from the sender")]
    Decode(String),
    /// No source or camera matches the requested id.
    #[error("no video source with id {0:?}; list the sources and pick one of their ids")]
    SourceNotFound(String),
    /// A camera could not be opened, configured or read.
    #[error("camera {id}: {reason}")]
    Camera {
        /// The camera's id.
        id: String,
        /// Why it failed.
        reason: String,
    },
    /// An MJPEG camera frame could not be decoded.
    #[error("bad MJPEG frame: {0}")]
    Jpeg(String),
    /// The X11 screen could not be opened or captured.
    #[error("screen {display}: {reason}")]
    Screen {
        /// The X display, e.g. `:0`.
        display: String,
        /// Why it failed.
        reason: String,
    },
}

impl VideoError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    pub(crate) fn camera(id: impl Into<String>, reason: impl ToString) -> Self {
        Self::Camera {
            id: id.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn screen(display: impl Into<String>, reason: impl ToString) -> Self {
        Self::Screen {
            display: display.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias of the crate.
pub type Result<T, E = VideoError> = std::result::Result<T, E>;

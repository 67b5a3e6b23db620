//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the media crate.
///
/// Each message says what failed and, where the user can act, how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// libopus refused an operation (bad argument, corrupt packet, …).
    #[error("opus {operation} failed: {source}")]
    Codec {
        /// What we asked libopus to do.
        operation: &'static str,
        /// The libopus error.
        #[source]
        source: opus::Error,
    },
    /// A caller passed a value outside the documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A WAV file could not be opened, read or written.
    #[error("audio file {path}: {reason}. Use a readable PCM or float WAV file")]
    File {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// Sample-rate conversion failed.
    #[error("resampling failed: {0}")]
    Resample(String),
    /// No audio device matches the requested id.
    #[error("no audio device with id {0:?}; list the devices and pick one of their ids")]
    DeviceNotFound(String),
    /// The audio backend (PulseAudio/ALSA through cpal) failed.
    #[error("audio device error: {0}")]
    Device(String),
    /// A device or stream thread stopped unexpectedly.
    #[error("the audio stream has stopped: {0}")]
    StreamClosed(String),
}

impl MediaError {
    pub(crate) fn codec(operation: &'static str, source: opus::Error) -> Self {
        Self::Codec { operation, source }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias of the crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

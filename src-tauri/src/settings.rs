//! [`Settings`]: what the app remembers between runs, in `settings.json` in
//! the app config dir: the server URL, this device's id (generated once and
//! then stable, so the server can resume calls and tell devices apart), the
//! last username, "remember me" and the audio choices (microphone, speaker,
//! ring volume) and the video choices (camera, start with it off). Never the password or the token (those
//! live in the OS keyring, see `token_store`).

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The server URL the login screen offers before one was used.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8480";
/// Overrides the remembered server URL (scripts/run.sh points the app at its server).
pub const SERVER_URL_ENV: &str = "SOFTPHONE_SERVER_URL";
const FILE: &str = "settings.json";

/// The persisted settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The server to sign in to.
    pub server_url: String,
    /// This device's id.
    pub device_id: String,
    /// The last username signed in with.
    #[serde(default)]
    pub username: String,
    /// Keep the session in the keyring and sign in by itself next time.
    #[serde(default)]
    pub remember: bool,
    /// Microphone, speaker and ring volume.
    #[serde(default)]
    pub audio: AudioSettings,
    /// Camera choice and whether video calls start with it off.
    #[serde(default)]
    pub video: VideoPrefs,
}

/// The video choices: which source the camera button turns on (a stable
/// id from the video crate's list: `pattern`, `camera:v4l:…`,
/// `screen::0`; `None`: the first camera, else the test pattern) and
/// whether video calls start with the camera off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
pub struct VideoPrefs {
    /// The chosen source's id, or the first camera (else the test pattern).
    #[serde(default)]
    pub source: Option<String>,
    /// Video calls (placed or answered) start with the camera off; it can
    /// be turned on in the call.
    #[serde(default)]
    pub start_with_camera_off: bool,
}

/// The audio devices and the ring volume. A device is a stable id from the
/// media crate's device list (`pulseaudio:…`, `alsa:…`); `None` is the
/// system default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct AudioSettings {
    /// The microphone's id, or the system default.
    #[serde(default)]
    pub input_device: Option<String>,
    /// The speaker's id (calls, ringtone and ringback), or the system default.
    #[serde(default)]
    pub output_device: Option<String>,
    /// Ringtone and ringback volume, 0 (silent) to 100.
    #[serde(default = "default_ring_volume")]
    pub ring_volume: u8,
    /// Run the echo canceller when both devices are real (speakers; a
    /// headset needs none).
    #[serde(default = "yes")]
    pub echo_cancellation: bool,
}

fn yes() -> bool {
    true
}

/// The ring volume before one was chosen.
pub const DEFAULT_RING_VOLUME: u8 = 70;

fn default_ring_volume() -> u8 {
    DEFAULT_RING_VOLUME
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            input_device: None,
            output_device: None,
            ring_volume: DEFAULT_RING_VOLUME,
            echo_cancellation: true,
        }
    }
}

/// The settings file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot save the settings in {path}: {source}")]
pub struct SettingsError {
    path: PathBuf,
    source: std::io::Error,
}

impl Settings {
    /// Fresh settings with a new device id.
    pub fn fresh() -> Self {
        Self {
            server_url: DEFAULT_SERVER_URL.to_owned(),
            device_id: new_device_id(),
            username: String::new(),
            remember: true,
            audio: AudioSettings::default(),
            video: VideoPrefs::default(),
        }
    }

    /// The settings in `dir`, or fresh ones (saved at once, so the device id
    /// is stable from the first run). An unreadable file is replaced, keeping
    /// nothing: a broken file must not stop the app from starting.
    pub fn load_or_create(dir: &Path) -> Result<Self, SettingsError> {
        let path = dir.join(FILE);
        let loaded = std::fs::read(&path).ok().and_then(|bytes| {
            match serde_json::from_slice::<Settings>(&bytes) {
                Ok(s) if !s.device_id.trim().is_empty() => Some(s),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("ignoring unreadable {}: {e}", path.display());
                    None
                }
            }
        });
        match loaded {
            Some(s) => Ok(s),
            None => {
                let s = Self::fresh();
                s.save(dir)?;
                Ok(s)
            }
        }
    }

    /// Writes the settings to `dir` (atomically: a temp file, then rename).
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        let path = dir.join(FILE);
        let err = |source| SettingsError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let tmp = dir.join(format!("{FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(e.into()))?;
        std::fs::write(&tmp, json).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    /// Applies [`SERVER_URL_ENV`] if set.
    pub fn with_env_override(mut self) -> Self {
        if let Ok(url) = std::env::var(SERVER_URL_ENV) {
            if !url.trim().is_empty() {
                self.server_url = url.trim().to_owned();
            }
        }
        self
    }
}

fn new_device_id() -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("desktop-{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Settings::load_or_create(dir.path()).unwrap();
        assert!(first.device_id.starts_with("desktop-"));
        let again = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(first.device_id, again.device_id);

        let mut changed = again.clone();
        changed.server_url = "http://example.test:1".into();
        changed.username = "bob".into();
        changed.save(dir.path()).unwrap();
        let reread = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(reread, changed);
    }

    #[test]
    fn audio_choices_persist_and_old_files_get_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            br#"{"server_url":"http://h:1","device_id":"desktop-1","username":"bob","remember":true}"#,
        )
        .unwrap();
        let mut s = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(s.audio, AudioSettings::default());
        s.audio.output_device = Some("pulseaudio:spk".into());
        s.audio.ring_volume = 30;
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load_or_create(dir.path()).unwrap().audio, s.audio);
        assert_eq!(s.video, VideoPrefs::default());
        s.video.source = Some("pattern".into());
        s.video.start_with_camera_off = true;
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load_or_create(dir.path()).unwrap().video, s.video);
    }

    #[test]
    fn a_broken_file_does_not_stop_the_app() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let s = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(s.server_url, DEFAULT_SERVER_URL);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains(&s.device_id));
        assert!(!text.contains("token"));
    }
}

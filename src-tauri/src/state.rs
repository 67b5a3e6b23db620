//! [`AppState`]: what the shell holds between commands: the settings, the
//! token store, the signed-in client (with the task forwarding its events
//! and its media), the display names seen so far (for notifications), and
//! the audio and video parts that outlive a call (ring tone, mute, quality
//! channel, the video relay and the camera).

use crate::audio::level::UiAudioLevels;
use crate::audio::{CallMute, QualityChannel, Ringer, WindowChannel};
use crate::error::AppError;
use crate::settings::Settings;
use crate::token_store::TokenStore;
use crate::video::{CameraControl, VideoRelay};
use softphone_client::media::MediaHandle;
use softphone_client::Client;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

/// A signed-in client and the task forwarding its events to the UI.
pub struct Signed {
    /// The client.
    pub client: Client,
    /// Who.
    pub user_id: String,
    /// Forwards `client.events()` to the window (aborted on sign-out).
    pub forwarder: tauri::async_runtime::JoinHandle<()>,
    /// The client's media sessions (shut down on sign-out).
    pub media: MediaHandle,
}

/// The shell's state, managed by Tauri.
pub struct AppState {
    /// Where `settings.json` lives.
    pub config_dir: PathBuf,
    /// The persisted settings.
    pub settings: Mutex<Settings>,
    /// Where the session token is kept.
    pub tokens: Arc<dyn TokenStore>,
    /// The signed-in client, if any. An async mutex: sign-in and sign-out
    /// await while holding it, so they never interleave.
    pub signed: tokio::sync::Mutex<Option<Signed>>,
    /// Display names by user id (filled by `list_users`).
    pub names: Arc<Mutex<HashMap<String, String>>>,
    /// Do not disturb (tray): incoming calls are declined as busy.
    pub do_not_disturb: Arc<AtomicBool>,
    /// The ringtone or ringback playing.
    pub ringer: Ringer,
    /// Mute for the call in progress.
    pub mute: CallMute,
    /// Where call-quality figures go.
    pub quality: QualityChannel,
    /// Where microphone and speaker levels go.
    pub levels: WindowChannel<UiAudioLevels>,
    /// Where video frames go (the client's video sink).
    pub video: Arc<VideoRelay>,
    /// The call's camera, and the choice for the next call.
    pub camera: CameraControl,
}

impl AppState {
    /// The state for settings in `config_dir`, tokens in `tokens`.
    pub fn new(config_dir: PathBuf, settings: Settings, tokens: Arc<dyn TokenStore>) -> Self {
        Self {
            config_dir,
            settings: Mutex::new(settings),
            tokens,
            signed: tokio::sync::Mutex::new(None),
            names: Arc::default(),
            do_not_disturb: Arc::default(),
            ringer: Ringer::default(),
            mute: CallMute::default(),
            quality: QualityChannel::default(),
            levels: WindowChannel::default(),
            video: Arc::default(),
            camera: CameraControl::default(),
        }
    }

    /// The settings (poison-tolerant: a panicked holder cannot wedge the app).
    pub fn settings(&self) -> MutexGuard<'_, Settings> {
        lock(&self.settings)
    }

    /// The signed-in client, or the "log in first" error.
    pub async fn client(&self) -> Result<(Client, String), AppError> {
        self.signed
            .lock()
            .await
            .as_ref()
            .map(|s| (s.client.clone(), s.user_id.clone()))
            .ok_or_else(AppError::not_logged_in)
    }
}

/// Locks `m`, recovering from poisoning.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A display-name lookup over `names` (falls back to the id).
pub fn namer(names: &Mutex<HashMap<String, String>>) -> impl Fn(&str) -> String + '_ {
    move |id| {
        lock(names)
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }
}

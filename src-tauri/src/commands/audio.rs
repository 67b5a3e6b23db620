//! The audio commands: the device pickers (list, read and save the choice),
//! mute for the call in progress, and the channels that the call-quality
//! figures and the microphone/speaker levels come through.

use super::blocking;
use crate::audio::device_list::UiAudioDevices;
use crate::audio::level::UiAudioLevels;
use crate::audio::stats::UiMediaStats;
use crate::error::{AppError, ErrorKind};
use crate::settings::AudioSettings;
use crate::state::AppState;
use tauri::ipc::Channel;
use tauri::State;

/// Microphones and speakers as the sound system lists them now.
#[tauri::command]
pub async fn list_audio_devices() -> Result<UiAudioDevices, AppError> {
    blocking(|| {
        softphone_media::device::list_devices()
            .map(|list| UiAudioDevices::new(&list))
            .map_err(|e| {
                AppError::new(
                    ErrorKind::Other,
                    format!("cannot list the audio devices: {e}"),
                )
            })
    })
    .await
}

/// The chosen microphone, speaker and ring volume.
#[tauri::command]
pub fn get_audio_settings(state: State<'_, AppState>) -> AudioSettings {
    state.settings().audio.clone()
}

/// Keeps the choice (for the next calls) and, in a call, switches its
/// microphone or speaker now; answers the choice as saved.
#[tauri::command]
pub async fn set_audio_settings(
    state: State<'_, AppState>,
    audio: AudioSettings,
) -> Result<AudioSettings, AppError> {
    let before = state.settings().audio.clone();
    let audio = AudioSettings {
        input_device: audio.input_device.filter(|id| !id.trim().is_empty()),
        output_device: audio.output_device.filter(|id| !id.trim().is_empty()),
        ring_volume: audio.ring_volume.min(100),
        echo_cancellation: audio.echo_cancellation,
    };
    {
        let mut s = state.settings();
        s.audio = audio.clone();
        s.save(&state.config_dir)
            .map_err(|e| AppError::new(ErrorKind::Settings, e.to_string()))?;
    }
    let media = state.signed.lock().await.as_ref().map(|s| s.media.clone());
    if let Some(media) = media {
        let changes = [
            (true, &before.input_device, &audio.input_device),
            (false, &before.output_device, &audio.output_device),
        ];
        for (input, old, new) in changes {
            if old != new {
                // Outside a call there is nothing to switch: not an error.
                if let Err(e) = media.switch_device(input, new.clone()).await {
                    tracing::debug!("no device switched now: {e}");
                }
            }
        }
    }
    Ok(audio)
}

/// Mutes or unmutes the microphone of the call in progress; answers the state.
#[tauri::command]
pub fn set_muted(state: State<'_, AppState>, muted: bool) -> bool {
    state.mute.set(muted)
}

/// Sends the call-quality figures of every call to `on_stats` from now on.
#[tauri::command]
pub fn watch_call_quality(state: State<'_, AppState>, on_stats: Channel<UiMediaStats>) {
    state.quality.watch(on_stats);
}

/// Sends the microphone and speaker levels of every call to `on_levels`
/// from now on (five times a second in a call).
#[tauri::command]
pub fn watch_audio_levels(state: State<'_, AppState>, on_levels: Channel<UiAudioLevels>) {
    state.levels.watch(on_levels);
}

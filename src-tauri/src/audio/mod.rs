//! Audio in the app: the media session's devices, mute, ring tones, the
//! device pickers' list and the call-quality figures.
//!
//! - [`media_config`]: what the shell hands to `Client::enable_media` at
//!   sign-in. Each call's devices are opened from the settings *when its
//!   media starts*; a device chosen in the pickers during a call is switched
//!   in at once through `MediaHandle::switch_device` (that one has no level
//!   meter: the meters then stay still for the rest of the call).
//! - [`call_devices`]: microphone and speaker with fallbacks and sentences,
//!   the microphone behind the media crate's mute switch ([`CallMute`]).
//! - [`tones`] + [`ringer`]: ringtone and ringback, generated here, played
//!   on the chosen speaker from a thread of their own.
//! - [`device_list`], [`stats`], [`level`]: the shapes the UI gets; figures
//!   and levels go over `ipc::Channel`s the window opens.

pub mod call_devices;
pub mod device_list;
pub mod level;
pub mod ringer;
pub mod stats;
pub mod tones;

pub use call_devices::CallMute;
pub use ringer::Ringer;
pub use stats::{QualityChannel, WindowChannel};

use crate::state::AppState;
use crate::ui_event::{UiEvent, EVENT};
use level::{LevelMeter, UiAudioLevels};
use softphone_client::media::MediaConfig;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tones::Tone;

/// The media config of a signed-in client: real devices from the settings,
/// the camera when the call starts with it on, frames to the window.
pub fn media_config<R: Runtime>(app: AppHandle<R>) -> MediaConfig {
    let sink = app.state::<AppState>().video.sink();
    let mut config = MediaConfig::new(move |call| {
        let state = app.state::<AppState>();
        // The ring is over once media starts; free the speaker first.
        state.ringer.stop(&call.session_id);
        let audio = state.settings().audio.clone();
        let mut opened = call_devices::open_call_devices(&audio, &state.mute, &call_devices::Cpal);
        let prefs = state.settings().video.clone();
        if state.camera.wanted_at_start(call, &prefs) {
            let (source, failure) = match crate::video::open_for_call(&prefs) {
                Ok((id, source)) => {
                    opened.devices.video = Some(source);
                    state.camera.set_on(true);
                    (Some(id.to_string()), None)
                }
                Err(message) => {
                    tracing::warn!("{message}");
                    (None, Some(message))
                }
            };
            let ev = UiEvent::Camera {
                session_id: call.session_id.clone(),
                source,
                failure,
            };
            if let Err(e) = app.emit(EVENT, ev) {
                tracing::warn!("cannot send an event to the window: {e}");
            }
        }
        for message in opened.warnings {
            tracing::warn!("{message}");
            let ev = UiEvent::AudioWarning {
                session_id: call.session_id.clone(),
                message,
            };
            if let Err(e) = app.emit(EVENT, ev) {
                tracing::warn!("cannot send an event to the window: {e}");
            }
        }
        let (mic, speaker) = opened.levels;
        tauri::async_runtime::spawn(send_levels(
            app.clone(),
            call.session_id.clone(),
            mic,
            speaker,
        ));
        Ok(opened.devices)
    });
    config.video = crate::video::capture_settings();
    config.video_sink = Some(sink);
    config
}

/// How often the level meters move.
const LEVEL_INTERVAL: Duration = Duration::from_millis(200);

/// Sends the call's levels to the window until its devices are closed.
async fn send_levels<R: Runtime>(
    app: AppHandle<R>,
    session_id: String,
    mic: LevelMeter,
    speaker: LevelMeter,
) {
    let mut tick = tokio::time::interval(LEVEL_INTERVAL);
    while mic.in_use() || speaker.in_use() {
        tick.tick().await;
        app.state::<AppState>().levels.send(UiAudioLevels {
            session_id: session_id.clone(),
            mic: mic.peak(),
            speaker: speaker.peak(),
        });
    }
}

/// Starts `tone` for call `session_id` on the chosen speaker, at the chosen volume.
pub fn ring<R: Runtime>(app: &AppHandle<R>, session_id: &str, tone: Tone) {
    let state = app.state::<AppState>();
    let audio = state.settings().audio.clone();
    let handle = app.clone();
    let sid = session_id.to_owned();
    state.ringer.start(
        session_id,
        tone,
        audio.output_device,
        audio.ring_volume,
        move |message| {
            tracing::warn!("{message}");
            let _ = handle.emit(
                EVENT,
                UiEvent::AudioWarning {
                    session_id: sid,
                    message,
                },
            );
        },
    );
}

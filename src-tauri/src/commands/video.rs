//! The video commands: the camera picker (list, read and save the choice),
//! the camera of the call in progress on or off, and the channel the
//! frames come through (with the window's "drawn" acknowledgements that
//! keep it from falling behind, see `video::VideoRelay`).

use super::blocking;
use crate::error::{AppError, ErrorKind};
use crate::settings::VideoPrefs;
use crate::state::AppState;
use crate::video::{self, UiVideoSource};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::State;

/// The video sources there are now (the test pattern first, cameras, the
/// screen).
#[tauri::command]
pub async fn list_video_sources() -> Result<Vec<UiVideoSource>, AppError> {
    blocking(|| Ok(video::list_sources())).await
}

/// The chosen source and whether video calls start with the camera off.
#[tauri::command]
pub fn get_video_settings(state: State<'_, AppState>) -> VideoPrefs {
    state.settings().video.clone()
}

/// Keeps the choice and, when the call's camera is on, switches to the
/// new source now; answers the choice as saved.
#[tauri::command]
pub async fn set_video_settings(
    state: State<'_, AppState>,
    video: VideoPrefs,
) -> Result<VideoPrefs, AppError> {
    let video = VideoPrefs {
        source: video.source.filter(|id| !id.trim().is_empty()),
        ..video
    };
    if let Some(id) = &video.source {
        id.parse::<softphone_client::media::SourceId>()
            .map_err(|e| AppError::new(ErrorKind::InvalidInput, e.to_string()))?;
    }
    let before = {
        let mut s = state.settings();
        let before = std::mem::replace(&mut s.video, video.clone());
        s.save(&state.config_dir)
            .map_err(|e| AppError::new(ErrorKind::Settings, e.to_string()))?;
        before
    };
    if before.source != video.source && state.camera.is_on() {
        if let Err(e) = set_source(&state, true).await {
            tracing::debug!("no video source switched now: {}", e.message);
        }
    }
    Ok(video)
}

/// Turns the camera of the call in progress on (the chosen source) or off;
/// answers whether it is on. An audio call becomes a video call this way.
#[tauri::command]
pub async fn set_camera(state: State<'_, AppState>, on: bool) -> Result<bool, AppError> {
    set_source(&state, on).await?;
    Ok(on)
}

async fn set_source(state: &AppState, on: bool) -> Result<(), AppError> {
    let media = state
        .signed
        .lock()
        .await
        .as_ref()
        .map(|s| s.media.clone())
        .ok_or_else(AppError::not_logged_in)?;
    let source = match on {
        true => {
            let prefs = state.settings().video.clone();
            Some(blocking(move || Ok(video::source_to_use(&prefs, &video::list_sources()))).await?)
        }
        false => None,
    };
    media
        .set_video_source(source)
        .await
        .map_err(|e| AppError::new(ErrorKind::Other, e))?;
    state.camera.set_on(on);
    Ok(())
}

/// Sends the video frames of every call to `on_frame` from now on, as raw
/// binary messages (`video::wire`).
#[tauri::command]
pub fn watch_video(state: State<'_, AppState>, on_frame: Channel<InvokeResponseBody>) {
    state.video.watch(on_frame);
}

/// The window drew (or skipped) `count` frames since it last said so.
#[tauri::command]
pub fn video_frames_drawn(state: State<'_, AppState>, count: u32) {
    state.video.drawn(count);
}

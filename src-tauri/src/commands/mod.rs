//! The commands the UI invokes, grouped by feature. Each is a thin
//! translation to `softphone_client::Client` and answers an [`AppError`]
//! (never a bare string) whose message is the client's sentence.
//!
//! Every name here is also listed in src-tauri/build.rs (so it gets an
//! `allow-…` permission) and granted per window in src-tauri/capabilities.

pub mod audio;
pub mod calls;
pub mod directory;
pub mod session;
pub mod video;

#[cfg(test)]
use crate::error::AppError;

/// The invoke handler with every command.
pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        session::get_settings,
        session::login,
        session::restore_session,
        session::logout,
        calls::initiate_call,
        calls::accept_call,
        calls::reject_call,
        calls::end_call,
        directory::list_users,
        directory::list_groups,
        directory::call_history,
        audio::list_audio_devices,
        audio::get_audio_settings,
        audio::set_audio_settings,
        audio::set_muted,
        audio::watch_call_quality,
        audio::watch_audio_levels,
        video::list_video_sources,
        video::get_video_settings,
        video::set_video_settings,
        video::set_camera,
        video::watch_video,
        video::video_frames_drawn,
    ]
}

/// Runs a blocking keyring call off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::error::AppError> + Send + 'static,
) -> Result<T, crate::error::AppError> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| {
        crate::error::AppError::new(
            crate::error::ErrorKind::Other,
            format!("internal error: {e}"),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_permission() {
        let build = include_str!("../../build.rs");
        let caps = include_str!("../../capabilities/main.json");
        for name in [
            "get_settings",
            "login",
            "restore_session",
            "logout",
            "initiate_call",
            "accept_call",
            "reject_call",
            "end_call",
            "list_users",
            "list_groups",
            "call_history",
            "list_audio_devices",
            "get_audio_settings",
            "set_audio_settings",
            "set_muted",
            "watch_call_quality",
            "watch_audio_levels",
            "list_video_sources",
            "get_video_settings",
            "set_video_settings",
            "set_camera",
            "watch_video",
            "video_frames_drawn",
        ] {
            assert!(
                build.contains(&format!("\"{name}\"")),
                "{name} missing in build.rs"
            );
            let perm = format!("\"allow-{}\"", name.replace('_', "-"));
            assert!(
                caps.contains(&perm),
                "{perm} missing in capabilities/main.json"
            );
        }
        let _ = AppError::not_logged_in();
    }
}

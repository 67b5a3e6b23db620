//! Tauri's build step: embeds tauri.conf.json (top level), declares the app's
//! own commands (so each gets an `allow-…` permission that a window must be
//! granted) and reads the per-window capabilities in src-tauri/capabilities.

/// Every command the shell registers; keep in step with `commands::handler`.
const COMMANDS: &[&str] = &[
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
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script");
}

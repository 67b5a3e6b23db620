//! The softphone desktop app: a thin Tauri 2 shell between the web UI (ui/)
//! and the calling API (`softphone_client::Client`).
//!
//! # Layout
//! - `commands`: what the UI invokes, by feature: `session` (sign in/out,
//!   signed in from the keyring), `calls` (initiate/accept/reject/end),
//!   `directory` (users, groups, history), `audio` (device pickers, mute,
//!   the call-quality channel), `video` (camera, frames). Each only
//!   translates.
//! - [`audio`]: the media session's devices (from the settings, opened per
//!   call, with fallbacks), mute, ringtone and ringback, quality figures.
//! - [`video`]: the call's camera (on, off, which source, start with it
//!   off) and the frames to the window: I420 with a small header
//!   (`video::wire`) and sent as raw binary over an `ipc::Channel`,
//!   dropped when the window is behind.
//! - [`ui_event`]: client events → [`ui_event::UiEvent`], the one typed
//!   event the window listens to; `forward` is the task that emits them
//!   and makes an incoming call reach the person (`notify`: freedesktop
//!   notification whose click raises the window).
//! - [`dto`]: the shapes the UI sees; `bindings` generates their TypeScript
//!   twins (ts-rs) into ui/src/lib/bindings.ts.
//! - [`error`]: [`error::AppError`], what a failed command answers.
//! - [`settings`]: server URL, stable device id, last user, audio choices
//!   (settings.json).
//! - [`token_store`]: the session token in the OS keyring, behind a trait.
//! - `tray`: show, do not disturb, quit.
//!
//! # Design decisions
//! - **No call logic here.** The server and `softphone-client` decide; the
//!   shell translates and forwards. The UI never talks to the server.
//! - **Secrets only in the keyring.** The settings file holds no token.
//! - **One instance.** A second launch brings the running window forward.
//! - **The window hides on close**, so calls still ring; Quit is in the tray.

pub mod audio;
mod bindings;
mod commands;
pub mod dto;
pub mod error;
mod forward;
mod notify;
pub mod settings;
mod state;
pub mod token_store;
mod tray;
pub mod ui_event;
pub mod video;

use settings::Settings;
use state::AppState;
use std::sync::Arc;
use tauri::Manager;
use token_store::KeyringStore;

/// Starts the app; returns when it quits.
pub fn run() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            notify::show_main_window(app);
        }))
        .setup(|app| {
            let dir = app.path().app_config_dir()?;
            let settings = Settings::load_or_create(&dir)?.with_env_override();
            app.manage(AppState::new(dir, settings, Arc::new(KeyringStore)));
            tray::create(app.handle())?;
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if std::env::var_os("SOFTPHONE_QUIT_ON_CLOSE").is_none() {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .invoke_handler(commands::handler())
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            eprintln!("softphone: cannot start: {e}");
            std::process::exit(1);
        }
    }
}

//! The system notification for an incoming call (freedesktop, through
//! `notify-rust`), and raising the window while it rings.
//!
//! Why not tauri-plugin-notification: on Linux it has no click events, and
//! "clicking the notification brings the app forward" needs the freedesktop
//! `default` action, which `notify-rust` waits for on a thread of its own.
//! When the ring stops (answered here or elsewhere, declined, cancelled,
//! timed out) the notification is replaced, under the same id, by a short
//! one that says what happened.

use softphone_client::CallType;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tauri::{AppHandle, Manager, Runtime};

const APP_NAME: &str = "Softphone";

/// Notification ids of calls still ringing, by session id.
fn ringing() -> &'static Mutex<HashMap<String, u32>> {
    static RINGING: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    RINGING.get_or_init(Mutex::default)
}

/// The notification's text for a call from `caller`: (summary, body).
pub fn incoming_text(caller: &str, call_type: CallType, group: Option<&str>) -> (String, String) {
    let kind = match call_type {
        CallType::Audio => "audio",
        CallType::Video => "video",
    };
    let summary = format!("{caller} is calling");
    let body = match group {
        Some(g) => format!("Incoming {kind} call to {g}"),
        None => format!("Incoming {kind} call"),
    };
    (summary, body)
}

/// Shows the ringing notification for `session_id`; a click on it brings
/// the main window forward.
pub fn show_incoming<R: Runtime>(
    app: &AppHandle<R>,
    session_id: &str,
    summary: String,
    body: String,
) {
    let app = app.clone();
    let session_id = session_id.to_owned();
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname(APP_NAME)
            .summary(&summary)
            .body(&body)
            .icon("call-start")
            .hint(notify_rust::Hint::Category("call.incoming".into()))
            .urgency(notify_rust::Urgency::Critical)
            .action("default", "Show")
            .timeout(notify_rust::Timeout::Never)
            .show();
        match shown {
            Ok(handle) => {
                crate::state::lock(ringing()).insert(session_id, handle.id());
                handle.wait_for_action(|action| {
                    if action == "default" {
                        show_main_window(&app);
                    }
                });
            }
            Err(e) => tracing::warn!("cannot show the incoming-call notification: {e}"),
        }
    });
}

/// The ring for `session_id` stopped: replaces its notification with `text`
/// (shown briefly), if one is up.
pub fn stop_ringing(session_id: &str, text: &str) {
    let Some(id) = crate::state::lock(ringing()).remove(session_id) else {
        return;
    };
    let text = text.to_owned();
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .id(id)
            .appname(APP_NAME)
            .summary(&text)
            .icon("call-stop")
            .timeout(notify_rust::Timeout::Milliseconds(4000))
            .show();
        if let Err(e) = shown {
            tracing::warn!("cannot update the call notification: {e}");
        }
    });
}

/// Shows, unminimizes and focuses the main window.
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Raises the window for a ringing call and asks the desktop for attention.
pub fn raise_for_call<R: Runtime>(app: &AppHandle<R>) {
    show_main_window(app);
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.request_user_attention(Some(tauri::UserAttentionType::Critical));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notification_names_the_caller_and_the_call_type() {
        let (summary, body) = incoming_text("Alice", CallType::Audio, None);
        assert_eq!(summary, "Alice is calling");
        assert_eq!(body, "Incoming audio call");
        let (_, body) = incoming_text("Alice", CallType::Video, Some("team"));
        assert_eq!(body, "Incoming video call to team");
    }
}

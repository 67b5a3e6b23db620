//! The task that forwards a signed-in client's events to the window as
//! [`UiEvent`]s, and makes an incoming call reach the person: notification,
//! raised window and ringtone, all stopped when the call is answered
//! elsewhere, cancelled or times out (ringback likewise when this device's
//! call is answered or turned down). Media figures go to the quality
//! channel. Do-not-disturb declines incoming calls as busy.

use crate::audio::{self, stats::UiMediaStats, tones::Tone};
use crate::notify;
use crate::state::{namer, AppState};
use crate::ui_event::{UiEvent, EVENT};
use futures_util::StreamExt;
use softphone_client::{CallEvent, CallStatus, Client, ReceiverType};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Emitter, Manager, Runtime};

/// Starts forwarding `client`'s events (for user `me`) to `app`'s windows.
pub fn spawn<R: Runtime>(
    app: AppHandle<R>,
    client: &Client,
    me: String,
    names: Arc<Mutex<HashMap<String, String>>>,
    dnd: Arc<AtomicBool>,
) -> tauri::async_runtime::JoinHandle<()> {
    let mut events = client.events();
    let client = client.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.next().await {
            if let CallEvent::IncomingCallReceived { call } = &event {
                if dnd.load(Ordering::Relaxed) {
                    let id = call.session_id.clone();
                    if let Err(e) = client.reject_call(&id, CallStatus::Busy).await {
                        tracing::warn!("do not disturb: cannot decline {id}: {e}");
                    }
                    continue;
                }
            }
            if let CallEvent::MediaStats { session_id, stats } = &event {
                let state = app.state::<AppState>();
                state.quality.send(UiMediaStats::new(session_id, stats));
                continue;
            }
            if let CallEvent::VideoSourceChanged { source, .. } = &event {
                app.state::<AppState>().camera.set_on(source.is_some());
            }
            ring_tones(&app, &client, &event);
            let name = namer(&names);
            let Some(ui) = UiEvent::from_client(&event, &me, &name) else {
                continue;
            };
            side_effects(&app, &event, &ui, &name);
            if let Err(e) = app.emit(EVENT, &ui) {
                tracing::warn!("cannot send an event to the window: {e}");
            }
        }
    })
}

/// Starts the ringtone for an incoming call (unless this device is busy in
/// another call) and stops any tone once its call stops ringing.
fn ring_tones<R: Runtime>(app: &AppHandle<R>, client: &Client, event: &CallEvent) {
    match event {
        CallEvent::IncomingCallReceived { call } => {
            let busy = client.active_call().is_some_and(|c| {
                c.session_id != call.session_id && c.status == CallStatus::Ongoing
            });
            if !busy {
                audio::ring(app, &call.session_id, Tone::Ringtone);
            }
        }
        CallEvent::IncomingCallCancelled { call, .. }
        | CallEvent::OutgoingCallAccepted { call, .. }
        | CallEvent::OutgoingCallRejected { call, .. }
        | CallEvent::CallEnded { call, .. } => {
            app.state::<AppState>().ringer.stop(&call.session_id);
        }
        CallEvent::MediaConnected { session_id, .. }
        | CallEvent::MediaFailed { session_id, .. } => {
            app.state::<AppState>().ringer.stop(session_id);
        }
        _ => {}
    }
}

/// What an event does outside the window: notifications and raising it.
fn side_effects<R: Runtime>(
    app: &AppHandle<R>,
    event: &CallEvent,
    ui: &UiEvent,
    name: &dyn Fn(&str) -> String,
) {
    match (event, ui) {
        (CallEvent::IncomingCallReceived { call }, UiEvent::IncomingCall { caller_name, .. }) => {
            let group = (call.receiver_type == ReceiverType::Group).then(|| name(&call.receiver));
            let (summary, body) =
                notify::incoming_text(caller_name, call.call_type, group.as_deref());
            notify::show_incoming(app, &call.session_id, summary, body);
            notify::raise_for_call(app);
        }
        (
            CallEvent::IncomingCallCancelled { call, .. },
            UiEvent::IncomingStopped { message, .. },
        ) => {
            notify::stop_ringing(&call.session_id, message);
        }
        _ => {}
    }
}

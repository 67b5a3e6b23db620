//! Call quality for the in-call screen: the client's `MediaStats` reduced to
//! what the UI shows, sent over a Tauri `ipc::Channel` the window opened
//! with `watch_call_quality` (a steady stream of figures, not app events).

use crate::state::lock;
use serde::Serialize;
use softphone_client::media::MediaStats;
use std::sync::Mutex;
use tauri::ipc::Channel;
use ts_rs::TS;

/// Media figures of the call in progress (every ~2 s while it runs).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct UiMediaStats {
    /// The call.
    pub session_id: String,
    /// Round-trip time (ms), once measured.
    pub rtt_ms: Option<f64>,
    /// Incoming packets lost, in percent.
    pub loss_pct: f64,
    /// Interarrival jitter of the incoming audio (ms).
    pub jitter_ms: f64,
    /// Outgoing bitrate (kb/s).
    pub send_kbps: f64,
    /// Incoming bitrate (kb/s).
    pub recv_kbps: f64,
    /// Jitter-buffer delay (ms).
    pub playout_delay_ms: f64,
    /// Incoming packets so far.
    #[ts(type = "number")]
    pub packets_received: u64,
    /// Frames concealed so far.
    #[ts(type = "number")]
    pub concealed: u64,
    /// The session's last report (the call's media stopped).
    pub last: bool,
}

impl UiMediaStats {
    /// The figures of call `session_id`.
    pub fn new(session_id: &str, s: &MediaStats) -> Self {
        Self {
            session_id: session_id.to_owned(),
            rtt_ms: s.rtt_ms,
            loss_pct: s.loss_pct,
            jitter_ms: s.jitter_ms,
            send_kbps: s.send_kbps,
            recv_kbps: s.recv_kbps,
            playout_delay_ms: s.playout_delay_ms,
            packets_received: s.packets_received,
            concealed: s.concealed,
            last: s.last,
        }
    }
}

/// A channel the window opened for a stream of `T`, once it asked.
pub struct WindowChannel<T>(Mutex<Option<Channel<T>>>);

/// Where call-quality figures go.
pub type QualityChannel = WindowChannel<UiMediaStats>;

impl<T> Default for WindowChannel<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: tauri::ipc::IpcResponse> WindowChannel<T> {
    /// Messages go to `channel` from now on (a reloaded window replaces it).
    pub fn watch(&self, channel: Channel<T>) {
        *lock(&self.0) = Some(channel);
    }

    /// Sends `stats` if a window listens; a closed channel is forgotten.
    pub fn send(&self, stats: T) {
        let mut slot = lock(&self.0);
        if let Some(ch) = slot.as_ref() {
            if let Err(e) = ch.send(stats) {
                tracing::debug!("the quality channel is closed: {e}");
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_figures_the_screen_shows() {
        let mut s = MediaStats::default();
        s.rtt_ms = Some(12.5);
        s.loss_pct = 1.5;
        s.jitter_ms = 3.0;
        s.packets_received = 250;
        let ui = UiMediaStats::new("s1", &s);
        assert_eq!(ui.session_id, "s1");
        assert_eq!(ui.rtt_ms, Some(12.5));
        assert_eq!(
            (ui.loss_pct, ui.jitter_ms, ui.packets_received),
            (1.5, 3.0, 250)
        );
        let json = serde_json::to_value(&ui).unwrap();
        assert_eq!(json["rtt_ms"], 12.5);
        assert!(!json["last"].as_bool().unwrap());
    }
}

//! Placing, answering, declining and ending calls: one command per
//! operation of the calling API, each answering the call as this user sees
//! it. A placed call plays ringback until it stops ringing; every answer,
//! decline or hang-up stops the ring tone; a new call starts unmuted, with
//! the camera on for video calls unless asked otherwise.

use crate::audio::{self, tones::Tone};
use crate::dto::{UiCall, UiCallType, UiReceiverType};
use crate::error::AppError;
use crate::notify;
use crate::state::AppState;
use serde::Deserialize;
use softphone_client::{Call, CallStatus};
use tauri::{AppHandle, State};
use ts_rs::TS;

/// Why a ringing call is turned down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The callee declines.
    Rejected,
    /// The callee declines as busy.
    Busy,
    /// The caller gives up before an answer.
    Cancelled,
}

impl From<RejectReason> for CallStatus {
    fn from(r: RejectReason) -> Self {
        match r {
            RejectReason::Rejected => CallStatus::Rejected,
            RejectReason::Busy => CallStatus::Busy,
            RejectReason::Cancelled => CallStatus::Cancelled,
        }
    }
}

/// Calls `receiver` (a user or a group). `camera`: start with the camera
/// on or off (`None`: on for video calls unless the settings say off).
#[tauri::command]
pub async fn initiate_call(
    app: AppHandle,
    state: State<'_, AppState>,
    receiver: String,
    call_type: UiCallType,
    receiver_type: UiReceiverType,
    camera: Option<bool>,
) -> Result<UiCall, AppError> {
    let (client, me) = state.client().await?;
    state.camera.choose_for_next_call(camera);
    let call = Call::new(receiver, call_type.into(), receiver_type.into());
    let placed = client.initiate_call(call).await?;
    state.mute.reset();
    if placed.status == CallStatus::Initiated {
        audio::ring(&app, &placed.session_id, Tone::Ringback);
    }
    Ok(UiCall::new(&placed, &me))
}

/// Answers a ringing call; `camera` as for [`initiate_call`] (answering a
/// video call with or without the camera).
#[tauri::command]
pub async fn accept_call(
    state: State<'_, AppState>,
    session_id: String,
    camera: Option<bool>,
) -> Result<UiCall, AppError> {
    let (client, me) = state.client().await?;
    state.camera.choose_for_next_call(camera);
    state.ringer.stop(&session_id);
    state.mute.reset();
    let result = client.accept_call(&session_id).await;
    notify::stop_ringing(&session_id, "Call answered");
    Ok(UiCall::new(&result?, &me))
}

/// Declines a ringing call (`rejected` or `busy`) or cancels this user's own
/// call before an answer (`cancelled`).
#[tauri::command]
pub async fn reject_call(
    state: State<'_, AppState>,
    session_id: String,
    reason: RejectReason,
) -> Result<UiCall, AppError> {
    let (client, me) = state.client().await?;
    state.ringer.stop(&session_id);
    let result = client.reject_call(&session_id, reason.into()).await;
    notify::stop_ringing(&session_id, "Call declined");
    Ok(UiCall::new(&result?, &me))
}

/// Hangs up an ongoing call.
#[tauri::command]
pub async fn end_call(state: State<'_, AppState>, session_id: String) -> Result<UiCall, AppError> {
    let (client, me) = state.client().await?;
    state.ringer.stop(&session_id);
    Ok(UiCall::new(&client.end_call(&session_id).await?, &me))
}

//! Who can be called (users with presence, groups) and the call history.

use crate::dto::{UiCall, UiGroup, UiUser};
use crate::error::AppError;
use crate::state::{lock, AppState};
use softphone_client::{CallDirection, CallLogQuery};
use tauri::State;

/// Every user but this one, with presence; remembers their names for
/// notifications.
#[tauri::command]
pub async fn list_users(state: State<'_, AppState>) -> Result<Vec<UiUser>, AppError> {
    let (client, me) = state.client().await?;
    let users = client.users().await?;
    {
        let mut names = lock(&state.names);
        for u in &users {
            names.insert(u.user_id.clone(), u.display_name.clone());
        }
    }
    Ok(users
        .into_iter()
        .filter(|u| u.user_id != me)
        .map(UiUser::from)
        .collect())
}

/// The groups this user can call.
#[tauri::command]
pub async fn list_groups(state: State<'_, AppState>) -> Result<Vec<UiGroup>, AppError> {
    let (client, _) = state.client().await?;
    let groups = client.groups().await?;
    {
        let mut names = lock(&state.names);
        for g in &groups {
            names.insert(g.group_id.clone(), g.display_name.clone());
        }
    }
    Ok(groups.into_iter().map(UiGroup::from).collect())
}

/// This user's recent calls, newest first; only the missed ones with `missed_only`.
#[tauri::command]
pub async fn call_history(
    state: State<'_, AppState>,
    missed_only: bool,
) -> Result<Vec<UiCall>, AppError> {
    let (client, me) = state.client().await?;
    let query = CallLogQuery {
        direction: missed_only.then_some(CallDirection::Missed),
        limit: Some(100),
        ..CallLogQuery::default()
    };
    let calls = client.call_log(query).await?;
    Ok(calls.iter().map(|c| UiCall::new(c, &me)).collect())
}

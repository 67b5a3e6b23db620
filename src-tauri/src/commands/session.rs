//! Sign-in, sign-out and "signed in from the keyring" (`restore_session`).
//! The token goes to the OS keyring only when "remember me" is on; the
//! settings file keeps the server URL and username, never a secret.

use super::blocking;
use crate::audio;
use crate::dto::{LoginDefaults, SessionInfo};
use crate::error::{AppError, ErrorKind};
use crate::forward;
use crate::state::{AppState, Signed};
use softphone_client::{Client, ClientConfig, Error as ClientError};
use tauri::{AppHandle, State};

/// What the login screen starts from.
#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> LoginDefaults {
    let s = state.settings();
    LoginDefaults {
        server_url: s.server_url.clone(),
        username: s.username.clone(),
        remember: s.remember,
    }
}

/// Signs in with a password; with `remember`, keeps the token in the keyring.
#[tauri::command]
pub async fn login(
    app: AppHandle,
    state: State<'_, AppState>,
    server_url: String,
    username: String,
    password: String,
    remember: bool,
) -> Result<SessionInfo, AppError> {
    let server_url = server_url.trim().to_owned();
    let username = username.trim().to_owned();
    let mut signed = state.signed.lock().await;
    sign_out(&state, &mut signed).await;
    let client = new_client(&state, &server_url)?;
    let session = client.login(&username, &password).await?;
    let tokens = state.tokens.clone();
    let (url, token) = (server_url.clone(), session.token.clone());
    let kept = blocking(move || match remember {
        true => tokens.save(&url, &token),
        false => tokens.delete(&url),
    })
    .await;
    {
        let mut s = state.settings();
        s.server_url = server_url.clone();
        s.username = username;
        s.remember = remember;
        s.save(&state.config_dir)
            .map_err(|e| AppError::new(ErrorKind::Settings, e.to_string()))?;
    }
    let mut info = start(app, &state, &mut signed, client.clone(), session.user_id);
    subscribe_presence(&client).await;
    // A keyring that refuses is not a reason to fail the sign-in itself.
    if let Err(e) = kept {
        tracing::warn!("{}", e.message);
        info.notice = Some(format!(
            "Signed in, but {}; you will have to sign in again next time.",
            e.message
        ));
    }
    Ok(info)
}

/// Signs in with the token saved in the keyring for the last server, if
/// any. `None`: nothing saved, or the server no longer accepts it (then the
/// token is forgotten).
#[tauri::command]
pub async fn restore_session(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<Option<SessionInfo>, AppError> {
    let mut signed = state.signed.lock().await;
    if let Some(s) = signed.as_ref() {
        let server_url = s.client.config().server_url.clone();
        return Ok(Some(SessionInfo {
            user_id: s.user_id.clone(),
            server_url,
            notice: None,
        }));
    }
    let (server_url, remember) = {
        let s = state.settings();
        (s.server_url.clone(), s.remember)
    };
    if !remember {
        return Ok(None);
    }
    let tokens = state.tokens.clone();
    let url = server_url.clone();
    // A keyring that cannot be read means nothing to restore, not an error
    // to greet the person with; signing in says it if "remember me" fails.
    let token = match blocking(move || tokens.load(&url)).await {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!("not restoring the session: {}", e.message);
            None
        }
    };
    let Some(token) = token else {
        return Ok(None);
    };
    let client = new_client(&state, &server_url)?;
    match client.login_with_token(&token).await {
        Ok(session) => {
            let info = start(app, &state, &mut signed, client.clone(), session.user_id);
            subscribe_presence(&client).await;
            Ok(Some(info))
        }
        Err(ClientError::SessionExpired) => {
            forget_token(&state, server_url).await;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs out: ends any call, revokes the token and forgets it.
#[tauri::command]
pub async fn logout(state: State<'_, AppState>) -> Result<(), AppError> {
    let mut signed = state.signed.lock().await;
    let server_url = state.settings().server_url.clone();
    let result = match signed.as_ref() {
        Some(s) => s.client.logout().await,
        None => Ok(()),
    };
    sign_out(&state, &mut signed).await;
    forget_token(&state, server_url).await;
    result.map_err(AppError::from)
}

/// Deletes the saved token; a keyring that refuses only gets a log line
/// (there is nothing the person could do about it at this point).
async fn forget_token(state: &AppState, server_url: String) {
    let tokens = state.tokens.clone();
    if let Err(e) = blocking(move || tokens.delete(&server_url)).await {
        tracing::warn!("cannot forget the saved session: {}", e.message);
    }
}

fn new_client(state: &AppState, server_url: &str) -> Result<Client, AppError> {
    let device_id = state.settings().device_id.clone();
    Ok(Client::new(ClientConfig::new(server_url, device_id))?)
}

/// Keeps `client` as the signed-in one, turns its media on (devices from
/// the settings at each call) and starts forwarding its events.
fn start(
    app: AppHandle,
    state: &AppState,
    signed: &mut Option<Signed>,
    client: Client,
    user_id: String,
) -> SessionInfo {
    let media = client.enable_media(audio::media_config(app.clone()));
    state.mute.attach_client(&media);
    let forwarder = forward::spawn(
        app,
        &client,
        user_id.clone(),
        state.names.clone(),
        state.do_not_disturb.clone(),
    );
    let server_url = client.config().server_url.clone();
    *signed = Some(Signed {
        client,
        user_id: user_id.clone(),
        forwarder,
        media,
    });
    SessionInfo {
        user_id,
        server_url,
        notice: None,
    }
}

/// Asks for presence changes (they arrive as events once forwarding runs).
async fn subscribe_presence(client: &Client) {
    if let Err(e) = client.subscribe_presence().await {
        tracing::warn!("no presence updates: {e}");
    }
}

async fn sign_out(state: &AppState, signed: &mut Option<Signed>) {
    state.ringer.stop_all();
    if let Some(old) = signed.take() {
        old.forwarder.abort();
        old.media.shutdown().await;
        old.client.disconnect().await;
    }
}

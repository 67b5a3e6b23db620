//! The HTTP API under `/v1`: login, directory, call log, ICE servers, health,
//! and the WebSocket upgrade ([`crate::ws`]). Every failure is a JSON
//! [`HttpError`](softphone_proto::HttpError) via [`AppError`].

use crate::auth::{new_token, AuthUser, WRONG_CREDENTIALS};
use crate::error::AppError;
use crate::server::ClientAddr;
use crate::store::{now_ms, validate_id};
use crate::{ws, AppState};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use softphone_proto::{
    Call, CallLogQuery, ErrorCode, GroupInfo, IceServersResponse, LoginRequest, LoginResponse,
    UserInfo, PROTOCOL_VERSION,
};
use std::sync::Arc;
use std::time::Instant;

/// The router of the whole API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/me", get(me))
        .route("/v1/users", get(users))
        .route("/v1/groups", get(groups))
        .route("/v1/calls", get(calls))
        .route("/v1/calls/{session_id}", get(call))
        .route("/v1/ice-servers", get(ice_servers))
        .route("/v1/ws", get(ws::upgrade))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::not_found(
        ErrorCode::BadRequest,
        "no such endpoint; the API lives under /v1",
    )
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::BadRequest,
        "this endpoint does not take that HTTP method",
    )
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "protocol": PROTOCOL_VERSION }))
}

/// `POST /v1/login`.
async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(req) = body.map_err(|e| {
        AppError::bad_request(format!(
            "the body must be JSON like {{\"username\": \"alice\", \"password\": \"...\"}}: {}",
            e.body_text()
        ))
    })?;
    let username = req.username.trim().to_lowercase();
    let started = Instant::now();
    if let Err(wait) = state.throttle.check(started, &username, peer.ip()) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("too many failed sign-ins; try again in {secs} seconds"),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let record = if validate_id(&username).is_ok() {
        state.store.user(&username).await?
    } else {
        None
    };
    let ok = state
        .passwords
        .verify(
            record.as_ref().map(|r| r.password_hash.clone()),
            req.password,
        )
        .await?;
    let Some(user) = record.filter(|_| ok) else {
        state.throttle.failed(started, &username, peer.ip());
        tracing::info!(username, ip = %peer.ip(), "failed sign-in");
        return Err(AppError::unauthorized(WRONG_CREDENTIALS));
    };
    state.throttle.succeeded(&username);
    let (token, hash) = new_token();
    let ttl = crate::config::millis(state.config.token_ttl);
    let expires_at = now_ms().saturating_add(ttl);
    state
        .store
        .insert_token(&hash, &user.id, expires_at)
        .await?;
    tracing::info!(user = %user.id, "signed in");
    Ok(Json(LoginResponse {
        token,
        user_id: user.id,
        expires_at,
    })
    .into_response())
}

/// `POST /v1/logout`: the token stops working. Open WebSockets stay up.
async fn logout(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<StatusCode, AppError> {
    state.store.delete_token(&user.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`.
async fn me(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<UserInfo>, AppError> {
    let record = state
        .store
        .user(&user.user_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("this account no longer exists"))?;
    let presence = state.hub.presence(std::slice::from_ref(&record.id));
    Ok(Json(UserInfo {
        presence: presence
            .first()
            .copied()
            .unwrap_or(softphone_proto::PresenceStatus::Offline),
        user_id: record.id,
        display_name: record.display_name,
    }))
}

/// `GET /v1/users`: everyone, with presence.
async fn users(
    State(state): State<Arc<AppState>>,
    _user: AuthUser,
) -> Result<Json<Vec<UserInfo>>, AppError> {
    let users = state.store.list_users().await?;
    let ids: Vec<String> = users.iter().map(|(id, _)| id.clone()).collect();
    let presence = state.hub.presence(&ids);
    Ok(Json(
        users
            .into_iter()
            .zip(presence)
            .map(|((user_id, display_name), presence)| UserInfo {
                user_id,
                display_name,
                presence,
            })
            .collect(),
    ))
}

/// `GET /v1/groups`: the groups the caller belongs to.
async fn groups(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<Vec<GroupInfo>>, AppError> {
    Ok(Json(state.store.list_groups(Some(&user.user_id)).await?))
}

/// `GET /v1/calls?direction=&with_user=&group=&limit=`: the caller's call log.
async fn calls(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<CallLogQuery>, QueryRejection>,
) -> Result<Json<Vec<Call>>, AppError> {
    let Query(query) = query.map_err(|e| {
        AppError::bad_request(format!(
            "bad call-log filter ({}); use direction=missed|incoming|outgoing, with_user=ID, group=ID, limit=N",
            e.body_text()
        ))
    })?;
    // Read-your-writes: rows the hub queued before now are on disk first.
    state.writer.flush().await;
    Ok(Json(state.store.call_log(&user.user_id, &query).await?))
}

/// `GET /v1/calls/{session_id}`: one call, if the caller took part in it.
async fn call(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
    Path(session_id): Path<String>,
) -> Result<Json<Call>, AppError> {
    state.writer.flush().await;
    match state.store.call(&session_id).await? {
        Some(call) if call.involves(&user.user_id) => Ok(Json(call)),
        // Same answer whether it exists or not: session ids stay secret.
        _ => Err(AppError::not_found(
            ErrorCode::UnknownCall,
            format!("there is no call with session id {session_id}"),
        )),
    }
}

/// `GET /v1/ice-servers`: STUN/TURN with fresh credentials for the caller.
async fn ice_servers(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Json<IceServersResponse> {
    Json(IceServersResponse {
        servers: state
            .config
            .turn
            .ice_servers(&user.user_id, now_ms() / 1000),
    })
}

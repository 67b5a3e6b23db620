//! `GET /v1/ws`: one WebSocket per signed-in device.
//!
//! Before the upgrade: the bearer token (401), `device_id` (400), and a
//! connection permit (503 `server_full`), all answered as JSON. After it, the
//! socket is split as in axum's chat example: a send task writes the
//! connection's outbound queue (filled by the [hub](crate::hub)) and pings
//! every `ping_interval`; a receive task decodes frames and turns them into
//! hub calls. A frame that cannot be understood is answered with an `error`
//! and changes nothing else. A connection silent for `idle_timeout` (not
//! even a pong) is dead.
//!
//! The loops are generic over `Sink`/`Stream` (axum's testing-websockets
//! example), so the tests below drive a connection with plain channels.

use crate::auth::{authenticate, new_session_id};
use crate::error::AppError;
use crate::hub::{error_frame, Hub, Outbound, Registration, CLOSE_GOING_AWAY};
use crate::store::Store;
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use softphone_proto::{
    decode_client, salvage_request_id, CallRequest, ClientMessage, DeviceAddr, ErrorCode, Receiver,
    ReceiverType, ServerMessage,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Largest text frame understood; bigger ones get an `error`.
pub const MAX_FRAME: usize = 64 * 1024;
/// Larger messages than this end the connection (the WebSocket layer refuses them).
pub const HARD_MAX_MESSAGE: usize = 1024 * 1024;
/// Longest `device_id`, in characters.
pub const MAX_DEVICE_ID: usize = 64;

/// Query parameters of `GET /v1/ws`.
#[derive(Debug, Deserialize)]
pub struct WsParams {
    /// The client's stable device id.
    pub device_id: Option<String>,
    /// `true` to keep ringing this device while it is in a call.
    pub call_waiting: Option<String>,
}

/// The upgrade handler.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<WsParams>, QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let user = authenticate(&state, &headers).await?;
    let Query(params) = params
        .map_err(|e| AppError::bad_request(format!("bad query string: {}", e.body_text())))?;
    let device_id = validate_device_id(params.device_id.as_deref())?;
    let call_waiting = match params.call_waiting.as_deref() {
        None | Some("false" | "0" | "") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "call_waiting must be true or false, not {other:?}"
            )))
        }
    };
    let ws = ws.map_err(|e| {
        AppError::new(
            e.status(),
            ErrorCode::BadRequest,
            format!(
                "this endpoint needs a WebSocket upgrade request: {}",
                e.body_text()
            ),
        )
    })?;
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServerFull,
            "the server is at its connection limit; try again in a moment",
        ));
    };
    let addr = DeviceAddr::new(user.user_id, device_id);
    // Signaling frames are small; tungstenite's default 128 KiB buffers per
    // connection would dominate an idle server's memory.
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(HARD_MAX_MESSAGE)
        .max_frame_size(HARD_MAX_MESSAGE)
        .on_upgrade(move |socket| serve_socket(socket, state, addr, call_waiting, permit)))
}

/// Initial read buffer per connection; it grows for larger frames.
const READ_BUFFER: usize = 4 * 1024;

fn validate_device_id(id: Option<&str>) -> Result<String, AppError> {
    let id = id.unwrap_or("");
    let count = id.chars().count();
    if count == 0 {
        return Err(AppError::bad_request(
            "the device_id query parameter is required, e.g. /v1/ws?device_id=laptop",
        ));
    }
    if count > MAX_DEVICE_ID {
        return Err(AppError::bad_request(format!(
            "device_id is {count} characters long; at most {MAX_DEVICE_ID} are allowed"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "device_id must not contain control characters",
        ));
    }
    Ok(id.to_owned())
}

async fn serve_socket(
    socket: WebSocket,
    state: Arc<AppState>,
    addr: DeviceAddr,
    call_waiting: bool,
    permit: OwnedSemaphorePermit,
) {
    let (sink, stream) = socket.split();
    let settings = Settings {
        ping_interval: state.config.ping_interval,
        idle_timeout: state.config.idle_timeout,
    };
    run_connection(
        sink,
        stream,
        state.hub.clone(),
        state.store.clone(),
        addr,
        call_waiting,
        settings,
    )
    .await;
    drop(permit);
}

/// Timers of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Ping period.
    pub ping_interval: Duration,
    /// Silence after which the peer is dead.
    pub idle_timeout: Duration,
}

/// Serves one registered device over any WebSocket-like sink and stream,
/// until either side ends; then tells the hub.
pub async fn run_connection<Si, St>(
    sink: Si,
    stream: St,
    hub: Arc<Hub>,
    store: Store,
    addr: DeviceAddr,
    call_waiting: bool,
    settings: Settings,
) where
    Si: Sink<Message> + Unpin + Send + 'static,
    St: Stream<Item = Result<Message, axum::Error>> + Unpin + Send + 'static,
{
    let Some(reg) = hub.connect(addr.clone(), call_waiting) else {
        let mut sink = sink;
        let _ = sink
            .send(close_message(
                CLOSE_GOING_AWAY,
                "the server is shutting down",
            ))
            .await;
        return;
    };
    tracing::info!(device = %addr, generation = reg.generation, "connected");
    let Registration {
        generation,
        outbound,
        kill,
        ..
    } = reg;
    let mut send_task = tokio::spawn(send_loop(sink, outbound, settings.ping_interval));
    let ctx = Ctx {
        hub: hub.clone(),
        store,
        addr: addr.clone(),
        generation,
    };
    let mut recv_task = tokio::spawn(recv_loop(stream, ctx, settings.idle_timeout));
    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        // The peer closed, failed or went silent: nothing more to tell it.
        _ = &mut recv_task => send_task.abort(),
        () = kill.notified() => {
            send_task.abort();
            recv_task.abort();
        }
    }
    hub.disconnect(&addr, generation);
    tracing::info!(device = %addr, generation, "disconnected");
}

fn close_message(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn send_loop<Si>(
    mut sink: Si,
    mut outbound: tokio::sync::mpsc::Receiver<Outbound>,
    ping_every: Duration,
) where
    Si: Sink<Message> + Unpin,
{
    let period = ping_every.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            out = outbound.recv() => match out {
                Some(Outbound::Text(text)) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close { code, reason }) => {
                    let _ = sink.send(close_message(code, reason)).await;
                    break;
                }
                None => break,
            },
            _ = ticker.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
}

/// What the receive task needs to act for its connection.
struct Ctx {
    hub: Arc<Hub>,
    store: Store,
    addr: DeviceAddr,
    generation: u64,
}

impl Ctx {
    fn reply(&self, message: &ServerMessage) {
        self.hub.reply(&self.addr, self.generation, message);
    }

    fn error(&self, id: Option<u64>, code: ErrorCode, message: impl Into<String>) {
        self.reply(&error_frame(id, code, message));
    }
}

async fn recv_loop<St>(mut stream: St, ctx: Ctx, idle_timeout: Duration)
where
    St: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        let message = match tokio::time::timeout(idle_timeout, stream.next()).await {
            Err(_) => {
                tracing::info!(device = %ctx.addr, "no frame for {idle_timeout:?}; the connection is dead");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                tracing::debug!(device = %ctx.addr, %err, "websocket read failed");
                break;
            }
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => handle_text(&ctx, text.as_str()).await,
            Message::Binary(_) => ctx.error(
                None,
                ErrorCode::BadRequest,
                "binary frames are not understood; send JSON text frames",
            ),
            Message::Ping(_) | Message::Pong(_) => {}
            Message::Close(_) => break,
        }
    }
}

async fn handle_text(ctx: &Ctx, text: &str) {
    if text.len() > MAX_FRAME {
        ctx.error(
            salvage_request_id(text),
            ErrorCode::BadRequest,
            format!(
                "the frame is {} bytes; at most {MAX_FRAME} are allowed",
                text.len()
            ),
        );
        return;
    }
    let message = match decode_client(text) {
        Ok(message) => message,
        Err(why) => {
            ctx.error(salvage_request_id(text), ErrorCode::BadRequest, why);
            return;
        }
    };
    let (hub, addr, generation) = (&ctx.hub, &ctx.addr, ctx.generation);
    match message {
        ClientMessage::InitiateCall {
            id,
            receiver_id,
            receiver_type,
            call_type,
            timeout_secs,
        } => {
            let receiver = match resolve_receiver(&ctx.store, receiver_type, &receiver_id).await {
                Ok(Some(receiver)) => receiver,
                Ok(None) => {
                    let kind = match receiver_type {
                        ReceiverType::User => "user",
                        ReceiverType::Group => "group",
                    };
                    ctx.error(
                        Some(id),
                        ErrorCode::UnknownReceiver,
                        format!("no {kind} named {receiver_id:?}"),
                    );
                    return;
                }
                Err(err) => {
                    tracing::error!(%err, "receiver lookup failed");
                    ctx.error(
                        Some(id),
                        ErrorCode::Internal,
                        "the server could not look up the receiver; try again",
                    );
                    return;
                }
            };
            let request = CallRequest {
                receiver,
                call_type,
                ring_timeout_ms: timeout_secs.map(|s| u64::from(s) * 1000),
            };
            let session_id = new_session_id();
            hub.call_request(addr, generation, id, |sb, now| {
                sb.initiate(now, addr, session_id, request)
            });
        }
        ClientMessage::AcceptCall { id, session_id } => {
            hub.call_request(addr, generation, id, |sb, now| {
                sb.accept(now, addr, &session_id)
            });
        }
        ClientMessage::RejectCall {
            id,
            session_id,
            status,
        } => {
            hub.call_request(addr, generation, id, |sb, now| {
                sb.reject(now, addr, &session_id, status)
            });
        }
        ClientMessage::EndCall { id, session_id } => {
            hub.call_request(addr, generation, id, |sb, now| {
                sb.end(now, addr, &session_id)
            });
        }
        ClientMessage::JoinCall { id, session_id } => {
            hub.call_request(addr, generation, id, |sb, now| {
                sb.join(now, addr, &session_id)
            });
        }
        ClientMessage::SetMuted {
            id,
            session_id,
            muted,
        } => {
            hub.call_request(addr, generation, id, |sb, now| {
                sb.set_muted(now, addr, &session_id, muted)
            });
        }
        ClientMessage::Signal {
            id,
            session_id,
            to,
            data,
        } => hub.signal(addr, generation, id, &session_id, to, data),
        ClientMessage::SubscribePresence { id } => match ctx.store.list_users().await {
            Ok(users) => hub.subscribe_presence(
                addr,
                generation,
                id,
                users.into_iter().map(|(u, _)| u).collect(),
            ),
            Err(err) => {
                tracing::error!(%err, "listing users failed");
                ctx.error(
                    Some(id),
                    ErrorCode::Internal,
                    "the server could not list users; try again",
                );
            }
        },
        ClientMessage::Ping { id } => ctx.reply(&ServerMessage::Pong { id }),
    }
}

/// Looks the receiver up in the directory: a user, or a group with its
/// members. `None` if there is no such user (or group).
async fn resolve_receiver(
    store: &Store,
    kind: ReceiverType,
    id: &str,
) -> crate::error::Result<Option<Receiver>> {
    match kind {
        ReceiverType::User => Ok(store
            .user_exists(id)
            .await?
            .then(|| Receiver::User(id.to_owned()))),
        ReceiverType::Group => Ok(store.group(id).await?.map(|g| Receiver::Group {
            group_id: g.group_id,
            members: g.members,
        })),
    }
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;

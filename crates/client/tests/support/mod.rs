//! A scriptable fake server on 127.0.0.1:0 for the client's tests: canned
//! HTTP answers, and WebSocket connections handed to the test, which plays
//! the server's side frame by frame.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use softphone_proto::{ClientMessage, ServerMessage};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    /// When set, WebSocket upgrades are refused with this status.
    ws_refusal: Option<u16>,
    /// Canned HTTP answers by "METHOD /path" (no query).
    http: HashMap<String, (u16, String)>,
    /// Every HTTP request seen: "METHOD /path?query" and its Authorization header.
    log: Vec<(String, String)>,
}

/// The fake server.
pub struct FakeServer {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    conns: mpsc::UnboundedReceiver<WsConn>,
    state: Arc<Mutex<State>>,
}

/// One accepted WebSocket, after the server's `hello`.
pub struct WsConn {
    ws: WebSocketStream<Prefixed>,
    /// The `device_id` query parameter.
    pub device_id: String,
    /// The `Authorization` header.
    pub auth: String,
}

impl FakeServer {
    /// Starts the server; every WebSocket gets `hello` for `user`.
    pub async fn start(user: &str) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, conns) = mpsc::unbounded_channel();
        let state = Arc::new(Mutex::new(State::default()));
        let user = user.to_owned();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (st, tx, user) = (st.clone(), tx.clone(), user.clone());
                tokio::spawn(async move {
                    let _ = serve(tcp, st, tx, user).await;
                });
            }
        });
        FakeServer { url, conns, state }
    }

    /// Refuse (Some(status)) or accept (None) WebSocket upgrades from now on.
    pub fn refuse_ws(&self, status: Option<u16>) {
        self.state.lock().unwrap().ws_refusal = status;
    }

    /// Answer `route` ("GET /v1/users") with this status and JSON body.
    pub fn http(&self, route: &str, status: u16, body: impl Into<String>) {
        self.state
            .lock()
            .unwrap()
            .http
            .insert(route.to_owned(), (status, body.into()));
    }

    /// HTTP requests seen so far: ("GET /v1/calls?limit=3", "Bearer t").
    pub fn http_log(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// The next WebSocket connection.
    pub async fn next_conn(&mut self) -> WsConn {
        tokio::time::timeout(PATIENCE, self.conns.recv())
            .await
            .expect("no WebSocket connection in time")
            .expect("server stopped")
    }

    /// True if no connection arrives within `d`.
    pub async fn no_conn_within(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.conns.recv()).await.is_err()
    }
}

impl WsConn {
    /// The next request from the client (pings and pongs skipped).
    pub async fn recv(&mut self) -> ClientMessage {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("no frame from the client in time")
                .expect("the client closed")
                .expect("WebSocket error");
            if let Message::Text(text) = frame {
                return serde_json::from_str(&text).expect("a client message");
            }
        }
    }

    /// Whether the client closed the connection within `d`.
    pub async fn closed_within(&mut self, d: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Sends one server message.
    pub async fn send(&mut self, message: ServerMessage) {
        let text = serde_json::to_string(&message).unwrap();
        self.ws
            .send(Message::text(text))
            .await
            .expect("send to the client");
    }

    /// Sends a raw text frame.
    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send to the client");
    }
}

async fn serve(
    mut tcp: TcpStream,
    state: Arc<Mutex<State>>,
    conns: mpsc::UnboundedSender<WsConn>,
    user: String,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path == "/v1/ws" {
        let refusal = state.lock().unwrap().ws_refusal;
        if let Some(status) = refusal {
            let body = r#"{"code":"unauthorized","message":"token not accepted"}"#;
            return respond(&mut tcp, status, body).await;
        }
        let device_id = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("device_id="))
            .unwrap_or_default()
            .to_owned();
        let io = Prefixed {
            prefix: head,
            pos: 0,
            inner: tcp,
        };
        let mut ws = tokio_tungstenite::accept_async(io)
            .await
            .map_err(std::io::Error::other)?;
        let hello = ServerMessage::Hello {
            protocol: softphone_proto::PROTOCOL_VERSION,
            user_id: user,
            device_id: device_id.clone(),
            server_time: 1_000,
        };
        ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await
            .map_err(std::io::Error::other)?;
        let _ = conns.send(WsConn {
            ws,
            device_id,
            auth,
        });
        return Ok(());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    tcp.read_exact(&mut body).await?;
    let canned = {
        let mut st = state.lock().unwrap();
        st.log.push((format!("{method} {target}"), auth));
        st.http.get(&format!("{method} {path}")).cloned()
    };
    let (status, body) = canned.unwrap_or((
        404,
        r#"{"code":"unknown_call","message":"no such thing"}"#.to_owned(),
    ));
    respond(&mut tcp, status, &body).await
}

async fn respond(tcp: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await
}

/// A TCP stream that first replays the bytes already read from it.
pub struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

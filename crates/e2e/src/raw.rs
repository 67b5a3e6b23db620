//! A bare WebSocket that speaks the protocol by hand: for malformed frames,
//! and for requests that the client library would never send.

use crate::PATIENCE;
use futures_util::{SinkExt, StreamExt};
use softphone_proto::ServerMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One raw HTTP/1.1 request; returns the status code and the body.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Logs in over HTTP and returns the token.
pub async fn login(addr: &str, user: &str, password: &str) -> String {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    let (status, body) = http(addr, "POST", "/v1/login", None, &body).await;
    assert_eq!(status, 200, "login as {user}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("login body");
    v["token"].as_str().expect("token").to_owned()
}

/// A WebSocket connection of one device, spoken to in raw JSON.
pub struct RawSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawSocket {
    /// Logs in as `user` (password = name) and connects as `device`;
    /// consumes the `hello`.
    pub async fn connect(addr: &str, user: &str, device: &str) -> Self {
        let token = login(addr, user, user).await;
        Self::connect_with_token(addr, &token, device).await
    }

    /// Connects as `device` with a token from [`login`]; consumes the `hello`.
    pub async fn connect_with_token(addr: &str, token: &str, device: &str) -> Self {
        let mut request = format!("ws://{addr}/v1/ws?device_id={device}")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        let mut socket = Self { ws };
        match socket.recv().await {
            ServerMessage::Hello { .. } => socket,
            other => panic!("expected hello, got {other:?}"),
        }
    }

    /// Sends a text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send");
    }

    /// Sends a JSON value.
    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next protocol message (skipping pings), within [`PATIENCE`].
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("connection open")
                .expect("frame");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("server sent undecodable {text}: {e}"))
                }
                Message::Close(c) => panic!("server closed the connection: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Receives until a message matches, returning it.
    pub async fn recv_until(
        &mut self,
        mut pred: impl FnMut(&ServerMessage) -> bool,
    ) -> ServerMessage {
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
        }
    }
}

impl RawSocket {
    /// Keeps the connection open in the background, answering the server's
    /// pings, until the server closes it or the task is aborted.
    pub fn keep_alive(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { while let Some(Ok(_)) = self.ws.next().await {} })
    }
}

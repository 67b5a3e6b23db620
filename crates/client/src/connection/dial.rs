//! Opening the WebSocket: TCP, TLS for `wss` (rustls, ring), the upgrade
//! with the bearer token, the server's `hello`; and the reconnect backoff.

use super::{local_now_ms, Shared};
use crate::error::{certificate_problem, chain, Error, Result};
use crate::http::status_error;
use futures_util::StreamExt;
use softphone_proto::{Millis, ServerMessage, UserId, PROTOCOL_VERSION};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// A byte stream a WebSocket can run over: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(crate) type Ws = WebSocketStream<Box<dyn Io>>;

/// What the server said in its first frame.
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    pub(crate) user_id: UserId,
}

/// Why opening the WebSocket failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The server refused the token (HTTP 401): do not retry.
    Unauthorized,
    /// Anything else: worth retrying.
    Other(Error),
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Unauthorized => Error::SessionExpired,
            ConnectError::Other(e) => e,
        }
    }
}

/// Opens the WebSocket (TCP, TLS for `wss`, upgrade with the bearer token)
/// and waits for the server's `hello`, all within the request timeout.
pub(crate) async fn connect(shared: &Shared, token: &str) -> Result<(Ws, Hello), ConnectError> {
    let timeout = shared.config.request_timeout;
    match tokio::time::timeout(timeout, open(shared, token)).await {
        Ok(result) => {
            let (ws, hello, server_time) = result?;
            let offset = server_time as i64 - local_now_ms() as i64;
            shared.set_clock_offset(offset);
            Ok((ws, hello))
        }
        Err(_) => Err(ConnectError::Other(Error::Timeout {
            what: "connecting to the server",
            timeout,
        })),
    }
}

async fn open(shared: &Shared, token: &str) -> Result<(Ws, Hello, Millis), ConnectError> {
    let url = &shared.ws_url;
    let unreachable = |reason: String| {
        ConnectError::Other(Error::Unreachable {
            url: shared.http.base().to_string(),
            reason,
        })
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(unreachable("the URL has no host".to_owned())),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if url.scheme() == "wss" {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| unreachable(format!("bad host name: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(shared.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| match certificate_problem(&e) {
                Some(reason) => ConnectError::Other(Error::UntrustedCertificate {
                    url: shared.http.base().to_string(),
                    reason,
                }),
                None => unreachable(format!("TLS handshake failed: {}", chain(&e))),
            })?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| unreachable(e.to_string()))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ConnectError::Unauthorized)?;
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    let (mut ws, _) = tokio_tungstenite::client_async(request, io)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(resp) if resp.status().as_u16() == 401 => {
                ConnectError::Unauthorized
            }
            tungstenite::Error::Http(resp) => {
                let body = resp
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                ConnectError::Other(status_error(resp.status().as_u16(), &body))
            }
            e => unreachable(format!("WebSocket handshake failed: {}", chain(&e))),
        })?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Hello {
                        protocol,
                        user_id,
                        server_time,
                        ..
                    }) => {
                        if protocol != PROTOCOL_VERSION {
                            tracing::warn!(
                                protocol,
                                ours = PROTOCOL_VERSION,
                                "the server speaks another protocol version"
                            );
                        }
                        Ok((ws, Hello { user_id }, server_time))
                    }
                    _ => Err(ConnectError::Other(Error::Protocol(format!(
                        "expected hello as the first frame, got {}",
                        text.chars().take(200).collect::<String>()
                    )))),
                };
            }
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or_else(|| "no reason".to_owned(), |f| f.reason.to_string());
                return Err(unreachable(format!(
                    "the server closed the connection ({why})"
                )));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(unreachable(chain(&e))),
            None => return Err(unreachable("the server closed the connection".to_owned())),
        }
    }
}

/// Reconnect delays: `initial`, doubling up to `max`, each with jitter (a
/// random point in the upper half), so that many clients dropped at once do
/// not come back at once.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            current: initial.min(max),
            max,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        base.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        let bases = [250u64, 500, 1000, 2000, 4000, 5000, 5000, 5000];
        for base in bases {
            let d = b.next_delay();
            let base = Duration::from_millis(base);
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
    }
}

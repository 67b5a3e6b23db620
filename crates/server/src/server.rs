//! Serving: the listener axum accepts from (plain TCP or TLS), and
//! [`run`], which serves until a shutdown future resolves and then stops
//! cleanly (mini-redis's `server::run(listener, shutdown)` shape, so tests
//! run a server in-process on `127.0.0.1:0`).

use crate::AppState;
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A byte stream of either kind.
pub trait Io: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

/// What [`ServerListener`] yields: a plain or TLS stream.
pub type BoxedIo = Pin<Box<dyn Io>>;

/// Where the server accepts connections: plain TCP, or TLS streams whose
/// handshakes a background task completes (see [`crate::tls`]).
pub struct ServerListener {
    kind: Kind,
    local_addr: SocketAddr,
}

enum Kind {
    Plain(TcpListener),
    Channel(mpsc::Receiver<(BoxedIo, SocketAddr)>),
}

impl std::fmt::Debug for ServerListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Plain(_) => "plain",
            Kind::Channel(_) => "tls",
        };
        f.debug_struct("ServerListener")
            .field("kind", &kind)
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl ServerListener {
    /// Plain HTTP on a bound TCP listener.
    pub fn plain(tcp: TcpListener) -> std::io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        Ok(Self {
            kind: Kind::Plain(tcp),
            local_addr,
        })
    }

    /// Streams handed over by another task (TLS).
    pub(crate) fn from_channel(
        rx: mpsc::Receiver<(BoxedIo, SocketAddr)>,
        local_addr: SocketAddr,
    ) -> Self {
        Self {
            kind: Kind::Channel(rx),
            local_addr,
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl axum::serve::Listener for ServerListener {
    type Io = BoxedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match &mut self.kind {
            Kind::Plain(tcp) => loop {
                match TcpListener::accept(tcp).await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        return (Box::pin(stream), peer);
                    }
                    Err(err) => accept_error_pause(&err).await,
                }
            },
            Kind::Channel(rx) => match rx.recv().await {
                Some(pair) => pair,
                // The accepting task is gone; nothing more will come.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// After a failed `accept`: per-connection errors are skipped, others (out
/// of file descriptors) wait a second, as axum's own listener does.
pub(crate) async fn accept_error_pause(err: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%err, "accept failed; pausing one second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The peer address of a request (`ConnectInfo<ClientAddr>`), used by the
/// login throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, ServerListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, ServerListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops:
/// no new connections; every live call ends (devices get `call_ended`);
/// sockets get a close frame; the call log is flushed; the database closed.
pub async fn run<F>(
    listener: ServerListener,
    shutdown: F,
    state: Arc<AppState>,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let timer = tokio::spawn(state.hub.clone().run_timer());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let app =
        crate::http::router(state.clone()).into_make_service_with_connect_info::<ClientAddr>();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let mut serving = tokio::spawn(async move { serve.await });
    let early = tokio::select! {
        () = shutdown => None,
        result = &mut serving => Some(result),
    };
    if let Some(result) = early {
        // axum's serve only returns on shutdown; treat anything else as fatal.
        tracing::error!(?result, "the HTTP server stopped by itself");
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    state.hub.shutdown();
    let limit = state.config.shutdown_timeout;
    let all = u32::try_from(state.config.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limit, state.connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = state.hub.connection_count(),
            "some connections did not close in time"
        );
    }
    if !serving.is_finished() && tokio::time::timeout(limit, &mut serving).await.is_err() {
        tracing::warn!("some HTTP requests did not finish in time");
        serving.abort();
    }
    timer.abort();
    state.hub.stop_forwarder().await;
    state.writer.close().await;
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use crate::ServerConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn http(addr: SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn serves_until_shutdown_then_stops() {
        let (store, _dir) = temp_store().await;
        let hash = crate::auth::hash_password("pw").expect("hash");
        store
            .create_user("alice", "Alice", &hash)
            .await
            .expect("user");
        let state = AppState::new(store, ServerConfig::default())
            .await
            .expect("state");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listener = ServerListener::plain(tcp).expect("listener");
        let addr = listener.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run(
            listener,
            async move {
                let _ = stopped.await;
            },
            state,
        ));

        let health = http(
            addr,
            "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let body = r#"{"username":"alice","password":"pw"}"#;
        let login = http(
            addr,
            &format!(
                "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(login.starts_with("HTTP/1.1 200"), "{login}");
        assert!(login.contains("\"user_id\":\"alice\""), "{login}");
        let denied = http(
            addr,
            "GET /v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
        assert!(denied.contains("\"code\":\"unauthorized\""), "{denied}");

        stop.send(()).expect("server running");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("stops in time")
            .expect("task")
            .expect("clean stop");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}

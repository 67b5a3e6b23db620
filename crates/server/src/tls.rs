//! Optional TLS (https/wss) with rustls and its `ring` provider.
//!
//! A task accepts TCP connections and spawns one handshake per connection
//! (with a time limit); finished handshakes go into a channel that the
//! [`ServerListener`](crate::server::ServerListener) hands to axum, so plain
//! and TLS serving share one `axum::serve` path. A failed handshake is only
//! logged.

use crate::error::{Error, Result};
use crate::server::{BoxedIo, ServerListener};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A handshake that takes longer than this is abandoned.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads a PEM certificate chain and private key into a server config
/// (HTTP/1.1 over TLS 1.2/1.3). Errors name the file and what is wrong.
pub fn load_config(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| {
        Error::Tls(format!(
            "cannot read certificate file {}: {e}",
            cert_path.display()
        ))
    })?;
    let key_pem = std::fs::read(key_path)
        .map_err(|e| Error::Tls(format!("cannot read key file {}: {e}", key_path.display())))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::Tls(format!(
                "{} is not a PEM certificate chain: {e}",
                cert_path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
            cert_path.display()
        )));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| {
            Error::Tls(format!(
                "{} is not a PEM private key: {e}",
                key_path.display()
            ))
        })?
        .ok_or_else(|| Error::Tls(format!("{} holds no PEM private key", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("the certificate and key do not work together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Wraps a bound TCP listener so that it yields TLS streams.
pub fn listener(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Result<ServerListener> {
    let local_addr = tcp
        .local_addr()
        .map_err(|e| Error::Io(format!("cannot read the listening address: {e}")))?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
    Ok(ServerListener::from_channel(rx, local_addr))
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(BoxedIo, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            // axum dropped the listener: the server is stopping.
            () = tx.closed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                crate::server::accept_error_pause(&err).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let io: BoxedIo = Box::pin(tls);
                    let _ = tx.send((io, peer)).await;
                }
                Ok(Err(err)) => tracing::info!(%peer, %err, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

//! What a [`Client`](crate::Client) needs to know before it talks to a server:
//! where the server is, which device this is, and how patient to be.

use crate::error::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use softphone_proto::DeviceId;
use std::sync::Arc;
use std::time::Duration;

/// Default time a request may take before it fails with [`Error::Timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as what a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base URL of the server, `http://host:port` or `https://host`. The
    /// WebSocket URL is derived from it (`ws://…/v1/ws` or `wss://…/v1/ws`).
    pub server_url: String,
    /// This device's id: stable across restarts, so that a call survives a
    /// reconnect (the server resumes the call of a device that comes back).
    pub device_id: DeviceId,
    /// Whether this device may ring while it is already in a call.
    pub call_waiting: bool,
    /// PEM certificates to trust in addition to the built-in web roots (a
    /// self-signed or private-CA server).
    pub extra_root_ca_pem: Option<Vec<u8>>,
    /// How long a request (HTTP or over the WebSocket) may take.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with the defaults: no call waiting, web roots only,
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(server_url: impl Into<String>, device_id: impl Into<DeviceId>) -> Self {
        Self {
            server_url: server_url.into(),
            device_id: device_id.into(),
            call_waiting: false,
            extra_root_ca_pem: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The connection's clock: reconnect backoff and keep-alive. The defaults are
/// what the application wants; tests shorten them
/// ([`Client::with_timing`](crate::Client::with_timing)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// First reconnect delay; it doubles after every failed attempt.
    pub backoff_initial: Duration,
    /// The reconnect delay never grows past this.
    pub backoff_max: Duration,
    /// A connection that brings no frame at all for this long is dead (the
    /// server pings every 10 s), and the client reconnects.
    pub keepalive_timeout: Duration,
    /// After a reconnect while in a call, how long to wait for the server's
    /// `call_resumed` before asking over HTTP what became of the call.
    pub resume_check_delay: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(30),
            resume_check_delay: Duration::from_secs(2),
        }
    }
}

/// Parses and checks the server URL: `http` or `https`, with a host.
pub(crate) fn parse_server_url(raw: &str) -> Result<reqwest::Url> {
    let invalid = |reason: &str| Error::InvalidServerUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment"));
    }
    Ok(url)
}

/// The WebSocket URL for a base URL: same host, `ws`/`wss`, `/v1/ws` under
/// the base path, with the device id and call-waiting flag as query.
pub(crate) fn websocket_url(
    base: &reqwest::Url,
    device_id: &str,
    call_waiting: bool,
) -> reqwest::Url {
    let mut url = endpoint(base, &["v1", "ws"]);
    let scheme = if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    // http→ws and https→wss are both "special" schemes: the change is allowed.
    let _ = url.set_scheme(scheme);
    url.query_pairs_mut()
        .append_pair("device_id", device_id)
        .append_pair("call_waiting", if call_waiting { "true" } else { "false" });
    url
}

/// `base` with path segments appended (each percent-encoded as needed).
pub(crate) fn endpoint(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// One rustls configuration for HTTP and WebSocket: the `ring` provider, the
/// webpki roots, plus any extra CA certificates.
pub(crate) fn tls_config(extra_root_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_root_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::InvalidCaCert(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| Error::InvalidCaCert(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::InvalidCaCert(
                "it contains no PEM certificate".to_owned(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidCaCert(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_follows_the_base_url() {
        let base = parse_server_url("http://127.0.0.1:8480").unwrap();
        assert_eq!(
            websocket_url(&base, "cli-1 2", false).as_str(),
            "ws://127.0.0.1:8480/v1/ws?device_id=cli-1+2&call_waiting=false"
        );
        let base = parse_server_url("https://example.org/phone/").unwrap();
        assert_eq!(
            websocket_url(&base, "d", true).as_str(),
            "wss://example.org/phone/v1/ws?device_id=d&call_waiting=true"
        );
    }

    #[test]
    fn endpoints_encode_segments() {
        let base = parse_server_url("http://h:1/").unwrap();
        assert_eq!(
            endpoint(&base, &["v1", "calls", "a/b c"]).as_str(),
            "http://h:1/v1/calls/a%2Fb%20c"
        );
    }

    #[test]
    fn bad_server_urls_are_explained() {
        for raw in ["127.0.0.1:8480", "ftp://h", "not a url", "http://h/?x=1"] {
            let err = parse_server_url(raw).unwrap_err();
            assert!(
                matches!(err, Error::InvalidServerUrl { .. }),
                "{raw}: {err}"
            );
            assert!(err.to_string().contains("http://host:port"), "{err}");
        }
    }

    #[test]
    fn extra_ca_must_hold_a_certificate() {
        assert!(tls_config(None).is_ok());
        let err = tls_config(Some(b"hello")).unwrap_err();
        assert!(matches!(err, Error::InvalidCaCert(_)), "{err}");
    }
}

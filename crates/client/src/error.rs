//! The one error type of the client. Its `Display` is a sentence a person can
//! act on; the variants let a program tell the cases apart.

use softphone_proto::ErrorCode;
use std::time::Duration;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server did not accept the username and password.
    #[error("wrong username or password")]
    WrongCredentials,
    /// The server no longer accepts the session's token.
    #[error(
        "the server no longer accepts this session (the login expired or was revoked); log in again"
    )]
    SessionExpired,
    /// The operation needs a session; log in first.
    #[error("not logged in; log in first")]
    NotLoggedIn,
    /// The operation needs the signaling connection, which is down.
    #[error("not connected to the server ({state}); try again once the connection is back")]
    NotConnected {
        /// What the connection is doing, in words.
        state: String,
    },
    /// The server could not be reached at all.
    #[error("cannot reach the server at {url} ({reason}); check the address and that the server is running")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What went wrong, from the network stack.
        reason: String,
    },
    /// The server's TLS certificate is not trusted (or not valid for its name).
    #[error("the server at {url} presented a certificate this client does not trust ({reason}); if it uses a private or self-signed CA, add that CA's certificate (--ca-cert, or extra_root_ca_pem)")]
    UntrustedCertificate {
        /// The URL tried.
        url: String,
        /// What rustls found wrong with the certificate.
        reason: String,
    },
    /// The server URL in the configuration is not usable.
    #[error(
        "the server URL {url:?} is not valid ({reason}); use http://host:port or https://host"
    )]
    InvalidServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The extra CA certificate could not be loaded.
    #[error(
        "the CA certificate cannot be used ({0}); pass a PEM file with at least one certificate"
    )]
    InvalidCaCert(String),
    /// The server refused a call request; nothing changed.
    #[error("{what} failed: {message} ({})", code_name(*code))]
    Call {
        /// The operation, e.g. "placing the call".
        what: &'static str,
        /// The server's machine-readable code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The server did not answer in time.
    #[error("{what} failed: the server did not answer within {}; check the connection and try again", secs(*timeout))]
    Timeout {
        /// The operation.
        what: &'static str,
        /// How long the client waited.
        timeout: Duration,
    },
    /// The connection dropped while a request waited for its answer. Whether
    /// the server carried it out is unknown; the client reconnects by itself.
    #[error("{what} failed: the connection to the server was lost before it answered; try again once reconnected")]
    ConnectionLost {
        /// The operation.
        what: &'static str,
    },
    /// The server is rate limiting this client.
    #[error("the server refused: too many attempts ({message}); wait a moment and try again")]
    RateLimited {
        /// The server's sentence.
        message: String,
    },
    /// The thing asked for does not exist (HTTP 404).
    #[error("not found: {message}")]
    NotFound {
        /// The server's sentence.
        message: String,
    },
    /// The server is up but cannot serve now (HTTP 503).
    #[error("the server is unavailable ({message}); try again later")]
    Unavailable {
        /// The server's sentence.
        message: String,
    },
    /// Any other refusal over HTTP.
    #[error("the server answered HTTP {status}: {message}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The server's code, when its body had one.
        code: Option<ErrorCode>,
        /// The server's sentence (or the body).
        message: String,
    },
    /// The server sent something this client cannot read.
    #[error("the server sent something this client does not understand ({0}); the client and server versions may not match")]
    Protocol(String),
    /// An argument the caller passed makes no sense; the text says which.
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    /// The server's error code, for refusals that carry one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Call { code, .. } => Some(*code),
            Error::Http { code, .. } => *code,
            Error::WrongCredentials | Error::SessionExpired => Some(ErrorCode::Unauthorized),
            Error::RateLimited { .. } => Some(ErrorCode::RateLimited),
            _ => None,
        }
    }
}

/// The wire name of an error code (`unknown_call`), for messages.
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s} s")
    } else {
        format!("{s:.1} s")
    }
}

/// The chain of an error and its sources, joined with ": ".
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// The certificate problem behind a transport error, if that is what it is.
/// (An `io::Error` hides its inner error from `source()`, so look inside.)
pub(crate) fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    Some(tls.to_string())
                }
                _ => None,
            };
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sentences() {
        let e = Error::Call {
            what: "placing the call",
            code: ErrorCode::UnknownReceiver,
            message: "there is no user or group zed".into(),
        };
        assert_eq!(
            e.to_string(),
            "placing the call failed: there is no user or group zed (unknown_receiver)"
        );
        let e = Error::Timeout {
            what: "accepting the call",
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "accepting the call failed: the server did not answer within 1.5 s; check the connection and try again"
        );
        assert_eq!(
            Error::WrongCredentials.to_string(),
            "wrong username or password"
        );
        assert_eq!(
            Error::WrongCredentials.code(),
            Some(ErrorCode::Unauthorized)
        );
    }

    #[test]
    fn certificate_problems_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As hyper-rustls reports it: an io::Error inside an io::Error.
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let io = std::io::Error::other(inner);
        let wrapped = std::io::Error::other(Wrapper(io));
        assert!(certificate_problem(&wrapped).is_some_and(|r| r.contains("UnknownIssuer")));
        let other = std::io::Error::other(rustls::Error::HandshakeNotComplete);
        assert_eq!(certificate_problem(&other), None);
        assert_eq!(certificate_problem(&std::io::Error::other("refused")), None);
    }

    /// An error whose source is the given io::Error, like hyper's.
    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}

//! [`AppError`]: what a command answers when it fails. It serializes to
//! `{ kind, message }`; `message` is the client's sentence (or the shell's
//! own, for keyring and settings trouble), `kind` lets the UI pick a screen.

use serde::Serialize;
use softphone_client::{Error as ClientError, ErrorCode};
use ts_rs::TS;

/// What kind of failure, for the UI to tell the cases apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Wrong username or password.
    WrongCredentials,
    /// The server cannot be reached (address, network, server down).
    Unreachable,
    /// The saved session is no longer accepted; log in again.
    SessionExpired,
    /// No session: log in first.
    NotLoggedIn,
    /// The signaling connection is down (reconnecting).
    NotConnected,
    /// This device is already in a call.
    AlreadyInCall,
    /// No such user, group or call.
    NotFound,
    /// Something typed in is not usable (server URL, empty username, …).
    InvalidInput,
    /// The OS keyring refused (locked, no Secret Service).
    Keyring,
    /// The settings file could not be read or written.
    Settings,
    /// Anything else; the message says what.
    Other,
}

/// A failed command: a kind and a sentence to show as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The sentence to show.
    pub message: String,
}

impl AppError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The error for a command that needs a session when there is none.
    pub fn not_logged_in() -> Self {
        Self::from(ClientError::NotLoggedIn)
    }
}

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::WrongCredentials => ErrorKind::WrongCredentials,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. } => ErrorKind::Unreachable,
            ClientError::SessionExpired => ErrorKind::SessionExpired,
            ClientError::NotLoggedIn => ErrorKind::NotLoggedIn,
            ClientError::NotConnected { .. } | ClientError::ConnectionLost { .. } => {
                ErrorKind::NotConnected
            }
            ClientError::InvalidServerUrl { .. }
            | ClientError::InvalidCaCert(_)
            | ClientError::InvalidArgument(_) => ErrorKind::InvalidInput,
            ClientError::NotFound { .. } => ErrorKind::NotFound,
            other => match other.code() {
                Some(ErrorCode::AlreadyInCall) => ErrorKind::AlreadyInCall,
                Some(ErrorCode::UnknownReceiver | ErrorCode::UnknownCall) => ErrorKind::NotFound,
                _ => ErrorKind::Other,
            },
        };
        Self::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_clients_sentence() {
        let e = AppError::from(ClientError::WrongCredentials);
        assert_eq!(e.kind, ErrorKind::WrongCredentials);
        assert_eq!(e.message, "wrong username or password");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "wrong_credentials", "message": "wrong username or password"})
        );
    }

    #[test]
    fn sorts_client_errors_into_kinds() {
        let unreachable = ClientError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(AppError::from(unreachable).kind, ErrorKind::Unreachable);
        let busy = ClientError::Call {
            what: "placing the call",
            code: ErrorCode::AlreadyInCall,
            message: "you are already in a call".into(),
        };
        let e = AppError::from(busy);
        assert_eq!(e.kind, ErrorKind::AlreadyInCall);
        assert!(e.message.starts_with("placing the call failed"));
        let url = ClientError::InvalidServerUrl {
            url: "nope".into(),
            reason: "relative URL".into(),
        };
        assert_eq!(AppError::from(url).kind, ErrorKind::InvalidInput);
    }
}

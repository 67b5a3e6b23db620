//! Errors: [`Error`] for everything the library does (store, startup, input
//! checks), and [`AppError`], the one type every HTTP handler fails with. It
//! renders as the JSON [`HttpError`] body with the matching status code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use softphone_proto::{ErrorCode, HttpError};

/// What went wrong in the library. `Display` is a sentence for people: the
/// CLI prints it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// A schema migration failed.
    #[error("could not migrate the database: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// A user or group id broke the naming rule.
    #[error("{0:?} is not a valid id: use 1 to 32 characters from a-z, 0-9, '.', '_' and '-'")]
    InvalidId(String),
    /// Creating a user whose id is taken.
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    /// Creating a group whose id is taken.
    #[error("a group named {0:?} already exists")]
    GroupExists(String),
    /// Creating a group (or user) whose id is taken by the other kind.
    #[error("{0:?} is already the id of a user; pick another name for the group")]
    NameTakenByUser(String),
    /// Creating a user whose id is a group's.
    #[error("{0:?} is already the id of a group; pick another name for the user")]
    NameTakenByGroup(String),
    /// A user that does not exist.
    #[error("there is no user named {0:?}")]
    UnknownUser(String),
    /// A group that does not exist.
    #[error("there is no group named {0:?}")]
    UnknownGroup(String),
    /// Some other input was not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// Reading a file or binding a socket failed; the text says which.
    #[error("{0}")]
    Io(String),
    /// TLS set-up failed; the text says why.
    #[error("TLS: {0}")]
    Tls(String),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

// No `#[source]` on the two above: their Display already includes the
// cause, and a chained print (`{:#}`) would repeat it.
impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Db(err)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(err)
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP failure: status, stable code and a sentence. Handlers return
/// `Result<_, AppError>`; `?` on an [`Error`] gives a 500 (logged) or, for
/// input errors, a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: ErrorCode,
    /// Sentence for people.
    pub message: String,
}

impl AppError {
    /// Any status, code and sentence.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 bad request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 401 unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 404 not found (code `unknown_call` for calls, `bad_request` otherwise).
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500, with a sentence that reveals nothing internal.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "something went wrong on the server; the request was not carried out",
        )
    }
}

impl From<Error> for AppError {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidId(_) | Error::Invalid(_) => AppError::bad_request(err.to_string()),
            Error::UnknownUser(_) | Error::UnknownGroup(_) => {
                AppError::not_found(ErrorCode::UnknownReceiver, err.to_string())
            }
            other => {
                tracing::error!(error = %other, "request failed");
                AppError::internal()
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = HttpError {
            code: self.code,
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

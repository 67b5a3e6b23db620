//! The HTTP half of the protocol: login, logout and the queries. Every
//! failure becomes an [`Error`] with a sentence: a 401 on login is "wrong
//! username or password", elsewhere "log in again"; a refused connection is
//! "cannot reach the server at URL".

use crate::config::endpoint;
use crate::error::{certificate_problem, chain, Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use softphone_proto::{HttpError, LoginRequest, LoginResponse};
use std::sync::Arc;
use std::time::Duration;

/// A small typed wrapper over `reqwest` for the server's `/v1` routes.
#[derive(Debug, Clone)]
pub(crate) struct HttpApi {
    client: reqwest::Client,
    base: reqwest::Url,
    timeout: Duration,
}

impl HttpApi {
    pub(crate) fn new(
        base: reqwest::Url,
        tls: &Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<Self> {
        let mut tls = (**tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("softphone-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::Protocol(format!("cannot set up the HTTP client: {}", chain(&e)))
            })?;
        Ok(Self {
            client,
            base,
            timeout,
        })
    }

    /// The base URL, as configured.
    pub(crate) fn base(&self) -> &reqwest::Url {
        &self.base
    }

    /// `POST /v1/login`. A 401 means wrong credentials.
    pub(crate) async fn login(&self, request: &LoginRequest) -> Result<LoginResponse> {
        let req = self
            .client
            .post(endpoint(&self.base, &["v1", "login"]))
            .json(request);
        match self.send("logging in", req).await {
            Err(Error::SessionExpired) => Err(Error::WrongCredentials),
            Err(e) => Err(e),
            Ok(resp) => decode(resp).await,
        }
    }

    /// `POST /v1/logout`: the token stops working.
    pub(crate) async fn logout(&self, token: &str) -> Result<()> {
        let req = self
            .client
            .post(endpoint(&self.base, &["v1", "logout"]))
            .bearer_auth(token);
        self.send("logging out", req).await.map(drop)
    }

    /// `GET` a JSON body from `segments` under the base URL.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        what: &'static str,
        token: &str,
        segments: &[&str],
        query: &(impl Serialize + ?Sized),
    ) -> Result<T> {
        let req = self
            .client
            .get(endpoint(&self.base, segments))
            .bearer_auth(token)
            .query(query);
        decode(self.send(what, req).await?).await
    }

    async fn send(
        &self,
        what: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(what, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(status_error(status.as_u16(), &body))
    }

    fn transport_error(&self, what: &'static str, e: &reqwest::Error) -> Error {
        tracing::debug!("{what}: {e:?}");
        if e.is_timeout() {
            Error::Timeout {
                what,
                timeout: self.timeout,
            }
        } else if let Some(reason) = certificate_problem(e) {
            Error::UntrustedCertificate {
                url: self.base.to_string(),
                reason,
            }
        } else {
            Error::Unreachable {
                url: self.base.to_string(),
                reason: root_cause(e),
            }
        }
    }
}

/// The innermost error: "Connection refused (os error 111)" rather than
/// reqwest's "error sending request for url (…)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Protocol(format!("the response body was cut short: {}", chain(&e))))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Protocol(format!("bad JSON body: {e}")))
}

/// The error for a failed HTTP status, from the server's `HttpError` body
/// when there is one.
pub(crate) fn status_error(status: u16, body: &str) -> Error {
    let (code, message) = match serde_json::from_str::<HttpError>(body) {
        Ok(e) => (Some(e.code), e.message),
        Err(_) => {
            let text = body.trim();
            let message = if text.is_empty() {
                format!("HTTP status {status}")
            } else {
                text.chars().take(300).collect()
            };
            (None, message)
        }
    };
    match status {
        401 => Error::SessionExpired,
        404 => Error::NotFound { message },
        429 => Error::RateLimited { message },
        503 => Error::Unavailable { message },
        _ => Error::Http {
            status,
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_proto::ErrorCode;

    #[test]
    fn statuses_map_to_errors() {
        let body = r#"{"code":"rate_limited","message":"too many logins"}"#;
        assert!(
            matches!(status_error(429, body), Error::RateLimited { message } if message == "too many logins")
        );
        assert!(matches!(status_error(401, ""), Error::SessionExpired));
        assert!(matches!(
            status_error(404, r#"{"code":"unknown_call","message":"no such call"}"#),
            Error::NotFound { .. }
        ));
        assert!(
            matches!(status_error(503, "busy"), Error::Unavailable { message } if message == "busy")
        );
        let e = status_error(
            400,
            r#"{"code":"bad_request","message":"limit must be at most 500"}"#,
        );
        assert!(matches!(
            e,
            Error::Http {
                status: 400,
                code: Some(ErrorCode::BadRequest),
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "the server answered HTTP 400: limit must be at most 500"
        );
        assert_eq!(
            status_error(500, "").to_string(),
            "the server answered HTTP 500: HTTP status 500"
        );
    }
}

//! STUN/TURN servers for clients, with TURN credentials in coturn's REST
//! shared-secret scheme (`use-auth-secret` / `static-auth-secret`):
//!
//! - username   = `"<expiry unix seconds>:<user id>"`
//! - credential = `base64(HMAC-SHA1(secret, username))`
//!
//! coturn recomputes the HMAC with the same secret and refuses the username
//! once its expiry has passed, so the server never talks to coturn.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use softphone_proto::IceServer;
use std::time::Duration;

/// Where clients find STUN/TURN, and the secret shared with coturn.
#[derive(Clone, Default)]
pub struct TurnConfig {
    /// `stun:host:port` URLs, handed out as is.
    pub stun_urls: Vec<String>,
    /// `turn:host:port` (or `turns:`) URLs; they need [`TurnConfig::secret`].
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: Option<String>,
    /// How long a credential works.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Default credential lifetime.
pub const DEFAULT_TURN_TTL: Duration = Duration::from_secs(12 * 3600);

impl TurnConfig {
    /// Checks the URLs and that TURN URLs come with a secret; the error is a
    /// sentence for the operator.
    pub fn validate(&self) -> Result<(), String> {
        for url in &self.stun_urls {
            if !(url.starts_with("stun:") || url.starts_with("stuns:")) {
                return Err(format!(
                    "--stun-url {url:?} must start with stun: or stuns:"
                ));
            }
        }
        for url in &self.turn_urls {
            if !(url.starts_with("turn:") || url.starts_with("turns:")) {
                return Err(format!(
                    "--turn-url {url:?} must start with turn: or turns:"
                ));
            }
        }
        if !self.turn_urls.is_empty() && self.secret.as_deref().unwrap_or("").is_empty() {
            return Err(
                "--turn-url needs --turn-secret (or SOFTPHONE_TURN_SECRET): the shared secret \
                 configured in coturn as static-auth-secret"
                    .into(),
            );
        }
        if self.ttl.is_zero() && !self.turn_urls.is_empty() {
            return Err("--turn-ttl must be longer than zero".into());
        }
        Ok(())
    }

    /// The servers for `user_id` at `now_unix_secs`: one STUN entry (if any)
    /// and one TURN entry with fresh credentials (if configured).
    pub fn ice_servers(&self, user_id: &str, now_unix_secs: u64) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if let (false, Some(secret)) = (self.turn_urls.is_empty(), &self.secret) {
            let expiry = now_unix_secs.saturating_add(self.ttl.as_secs());
            let (username, credential) = credentials(secret, user_id, expiry);
            servers.push(IceServer {
                urls: self.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        servers
    }
}

/// coturn REST credentials for `user_id`, valid until `expiry_unix_secs`.
pub fn credentials(secret: &str, user_id: &str, expiry_unix_secs: u64) -> (String, String) {
    let username = format!("{expiry_unix_secs}:{user_id}");
    // HMAC accepts keys of any length; the error branch cannot happen.
    let credential = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    (username, credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vector computed independently with openssl:
    /// `printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac 'north-wind' -binary | base64`
    /// → `Oko4dt8u/EbTRjRUJWQDFm/zTCc=`
    #[test]
    fn credentials_match_openssl_vector() {
        let (username, credential) = credentials("north-wind", "alice", 1_700_000_000);
        assert_eq!(username, "1700000000:alice");
        assert_eq!(credential, "Oko4dt8u/EbTRjRUJWQDFm/zTCc=");
    }

    #[test]
    fn ice_servers_carry_expiry_and_stun() {
        let cfg = TurnConfig {
            stun_urls: vec!["stun:stun.example.org:3478".into()],
            turn_urls: vec!["turn:turn.example.org:3478".into()],
            secret: Some("north-wind".into()),
            ttl: Duration::from_secs(100),
        };
        cfg.validate().expect("valid");
        let servers = cfg.ice_servers("alice", 1_699_999_900);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].username.as_deref(), Some("1700000000:alice"));
        assert_eq!(
            servers[1].credential.as_deref(),
            Some("Oko4dt8u/EbTRjRUJWQDFm/zTCc=")
        );
    }

    #[test]
    fn turn_without_secret_is_refused() {
        let cfg = TurnConfig {
            turn_urls: vec!["turn:x:3478".into()],
            ttl: DEFAULT_TURN_TTL,
            ..TurnConfig::default()
        };
        assert!(cfg.validate().is_err());
        let bad = TurnConfig {
            stun_urls: vec!["http://x".into()],
            ..TurnConfig::default()
        };
        assert!(bad.validate().is_err());
        assert!(TurnConfig::default().ice_servers("a", 0).is_empty());
    }
}

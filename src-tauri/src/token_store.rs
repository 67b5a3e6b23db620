//! Where the session token is kept: the OS keyring (Secret Service on Linux,
//! through the `keyring` crate), never a plain file. Behind the small
//! [`TokenStore`] trait so the shell's logic is tested with [`MemoryStore`]
//! and the real keyring is tested on its own (under a session bus with an
//! unlocked gnome-keyring; see scripts/test.sh).
//!
//! One token per server URL (the keyring "user" is the URL).

use crate::error::{AppError, ErrorKind};
use std::collections::HashMap;
use std::sync::Mutex;

/// The keyring "service" the tokens are filed under.
pub const SERVICE: &str = "org.softphone.desktop";

/// Keeps session tokens. Calls may block (D-Bus): call them off the async
/// runtime's worker threads (`spawn_blocking`).
pub trait TokenStore: Send + Sync {
    /// The token saved for `server_url`, if any.
    fn load(&self, server_url: &str) -> Result<Option<String>, AppError>;
    /// Saves `token` for `server_url`, replacing any.
    fn save(&self, server_url: &str, token: &str) -> Result<(), AppError>;
    /// Forgets the token for `server_url` (no error if there was none).
    fn delete(&self, server_url: &str) -> Result<(), AppError>;
}

/// The OS keyring.
#[derive(Debug, Default)]
pub struct KeyringStore;

fn keyring_error(e: keyring::Error) -> AppError {
    AppError::new(
        ErrorKind::Keyring,
        format!(
            "the system keyring cannot be used ({e}); unlock it or sign in without \"remember me\""
        ),
    )
}

impl TokenStore for KeyringStore {
    fn load(&self, server_url: &str) -> Result<Option<String>, AppError> {
        let entry = keyring::Entry::new(SERVICE, server_url).map_err(keyring_error)?;
        match entry.get_password() {
            Ok(token) => Ok(Some(token)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn save(&self, server_url: &str, token: &str) -> Result<(), AppError> {
        keyring::Entry::new(SERVICE, server_url)
            .and_then(|entry| entry.set_password(token))
            .map_err(keyring_error)
    }

    fn delete(&self, server_url: &str) -> Result<(), AppError> {
        let entry = keyring::Entry::new(SERVICE, server_url).map_err(keyring_error)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }
}

/// Tokens in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<HashMap<String, String>>);

impl MemoryStore {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, server_url: &str) -> Result<Option<String>, AppError> {
        Ok(self.map().get(server_url).cloned())
    }
    fn save(&self, server_url: &str, token: &str) -> Result<(), AppError> {
        self.map().insert(server_url.to_owned(), token.to_owned());
        Ok(())
    }
    fn delete(&self, server_url: &str) -> Result<(), AppError> {
        self.map().remove(server_url);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(store: &dyn TokenStore, url: &str) {
        store.delete(url).unwrap();
        assert_eq!(store.load(url).unwrap(), None);
        store.save(url, "tok-1").unwrap();
        store.save(url, "tok-2").unwrap();
        assert_eq!(store.load(url).unwrap().as_deref(), Some("tok-2"));
        store.delete(url).unwrap();
        store.delete(url).unwrap();
        assert_eq!(store.load(url).unwrap(), None);
    }

    #[test]
    fn memory_store_round_trip() {
        round_trip(&MemoryStore::default(), "http://127.0.0.1:8480");
    }

    /// The real Secret Service. Runs where a session bus and an unlocked
    /// keyring daemon exist (scripts/test.sh starts them and sets
    /// SOFTPHONE_REQUIRE_KEYRING=1, which turns a skip into a failure).
    #[test]
    fn secret_service_round_trip() {
        let required = std::env::var_os("SOFTPHONE_REQUIRE_KEYRING").is_some();
        let url = format!("http://keyring-test.invalid:{}", std::process::id());
        let store = KeyringStore;
        match store.load(&url) {
            Ok(_) => round_trip(&store, &url),
            Err(e) if !required => {
                println!("skipped: no usable Secret Service here ({})", e.message);
            }
            Err(e) => panic!("Secret Service required but unusable: {}", e.message),
        }
    }
}

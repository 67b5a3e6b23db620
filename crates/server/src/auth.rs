//! Passwords, login tokens, bearer authentication and login throttling.
//!
//! - Passwords: argon2id with the argon2 crate's defaults, as PHC strings.
//!   Hashing and verifying run on a few dedicated threads ([`PasswordPool`]),
//!   so a burst of logins cannot starve the runtime or eat all memory.
//! - Tokens: 32 bytes from the OS RNG, base64url; only their SHA-256 is stored.
//! - Throttle: after [`MAX_FAILURES`] failed logins for one username or from
//!   one IP within [`WINDOW`], further attempts get 429 until the oldest of
//!   those failures is older than the window.

use crate::error::{AppError, Error, Result};
use crate::AppState;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Failed logins allowed per username or IP within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The throttle's sliding window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The one sentence for an unknown user and a wrong password alike.
pub const WRONG_CREDENTIALS: &str = "wrong username or password";

thread_local! {
    /// argon2's working memory (19 MiB with the default parameters), kept per
    /// thread and reused: allocating it per hash left every allocator arena
    /// holding a copy.
    static ARGON2_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's reusable memory; false if it refused the inputs.
fn argon2_into(
    params: &Params,
    algorithm: Algorithm,
    version: Version,
    pwd: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let ctx = Argon2::new(algorithm, version, params.clone());
    ARGON2_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        memory.resize(params.block_count(), Block::default());
        ctx.hash_password_into_with_memory(pwd, salt, out, &mut memory[..])
            .is_ok()
    })
}

/// Hashes a password (argon2id with the crate's default parameters, random
/// salt) into a PHC string. CPU-heavy: call from a password worker.
pub fn hash_password(password: &str) -> Result<String> {
    let hash_err = |e: &dyn std::fmt::Display| Error::Hash(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| hash_err(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    if !argon2_into(
        &params,
        algorithm,
        version,
        password.as_bytes(),
        salt_bytes,
        &mut out,
    ) {
        return Err(Error::Hash("argon2 refused the password".into()));
    }
    let phc = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params).map_err(|e| hash_err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| hash_err(&e))?),
    };
    Ok(phc.to_string())
}

/// True if `password` matches the PHC string `hash`. CPU-heavy.
pub fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2_into(&params, algorithm, version, password.as_bytes(), salt_bytes, &mut out)
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|actual| actual == expected)
}

/// A hash of a random password, verified against when the user does not
/// exist, so that answering takes as long either way.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        hash_password(&hex::encode(bytes)).unwrap_or_default()
    })
}

/// A job for the password workers.
type PasswordJob = Box<dyn FnOnce() + Send>;

/// Runs password work on a few dedicated threads (one per core).
///
/// Not on tokio's blocking pool: argon2 allocates 19 MiB per hash, and every
/// new blocking-pool thread got its own malloc arena that kept that memory
/// (about 250 MB after twenty logins). A fixed set of threads keeps it to a
/// few arenas, and also caps the CPU a burst of logins can take.
#[derive(Debug)]
pub struct PasswordPool {
    jobs: Mutex<std::sync::mpsc::Sender<PasswordJob>>,
}

impl Default for PasswordPool {
    fn default() -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        let (tx, rx) = std::sync::mpsc::channel::<PasswordJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the pool is gone
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(%err, "cannot start a password worker thread");
            }
        }
        Self {
            jobs: Mutex::new(tx),
        }
    }
}

impl PasswordPool {
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: PasswordJob = Box::new(move || {
            let _ = done.send(work());
        });
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send(job),
            Err(poisoned) => poisoned.into_inner().send(job),
        };
        sent.map_err(|_| Error::Hash("the password workers stopped".into()))?;
        result
            .await
            .map_err(|_| Error::Hash("a password worker stopped mid-job".into()))
    }

    /// Verifies `password` against `hash`, or against a dummy hash when the
    /// user is unknown (`None`), taking the same time either way.
    pub async fn verify(&self, hash: Option<String>, password: String) -> Result<bool> {
        self.run(move || match hash {
            Some(hash) => verify_password(&hash, &password),
            None => {
                let _ = verify_password(dummy_hash(), &password);
                false
            }
        })
        .await
    }

    /// Hashes a password off the runtime.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || hash_password(&password)).await?
    }
}

/// A fresh login token and the SHA-256 (hex) to store for it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh, unguessable call session id: 128 bits from the OS RNG, 32 hex digits.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The signed-in user of a request (HTTP or WebSocket upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// Their id.
    pub user_id: String,
    /// Their token's hash (for logout).
    pub token_hash: String,
}

/// Checks the bearer token of a request against the store.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AuthUser, AppError> {
    let Some(token) = bearer_token(headers) else {
        return Err(AppError::unauthorized(
            "sign in first: this request needs an \"Authorization: Bearer <token>\" header with a token from POST /v1/login",
        ));
    };
    let hash = token_hash(token);
    match state
        .store
        .token_user(&hash, crate::store::now_ms())
        .await?
    {
        Some((user_id, _)) => Ok(AuthUser {
            user_id,
            token_hash: hash,
        }),
        None => Err(AppError::unauthorized(
            "your sign-in token is not valid or has expired; sign in again",
        )),
    }
}

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, AppError> {
        authenticate(state, &parts.headers).await
    }
}

/// Failed-login bookkeeping per username and per IP (see the module docs).
#[derive(Debug, Default)]
pub struct Throttle {
    inner: Mutex<ThrottleInner>,
}

#[derive(Debug, Default)]
struct ThrottleInner {
    by_user: HashMap<String, VecDeque<Instant>>,
    by_ip: HashMap<IpAddr, VecDeque<Instant>>,
}

/// Past this many keys, stale ones are swept on the next failure.
const SWEEP_AT: usize = 10_000;

impl Throttle {
    /// `Err(wait)` if `user` or `ip` must wait before trying again.
    pub fn check(&self, now: Instant, user: &str, ip: IpAddr) -> Result<(), Duration> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let wait = |q: Option<&VecDeque<Instant>>| -> Option<Duration> {
            let q = q?;
            if q.len() < MAX_FAILURES {
                return None;
            }
            let oldest = *q.front()?;
            let until = oldest + WINDOW;
            (until > now).then(|| until - now)
        };
        let key = user_key(user);
        match (wait(inner.by_user.get(&key)), wait(inner.by_ip.get(&ip))) {
            (None, None) => Ok(()),
            (a, b) => Err(a.max(b).unwrap_or(WINDOW)),
        }
    }

    /// Notes a failed login.
    pub fn failed(&self, now: Instant, user: &str, ip: IpAddr) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.by_user.len() + inner.by_ip.len() > SWEEP_AT {
            let fresh = |q: &mut VecDeque<Instant>| {
                q.back().is_some_and(|t| now.duration_since(*t) < WINDOW)
            };
            inner.by_user.retain(|_, q| fresh(q));
            inner.by_ip.retain(|_, q| fresh(q));
        }
        push(inner.by_user.entry(user_key(user)).or_default(), now);
        push(inner.by_ip.entry(ip).or_default(), now);
    }

    /// Notes a successful login: the username's failures are forgotten (the
    /// IP's are not, so one good account does not unlock guessing others).
    pub fn succeeded(&self, user: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_user.remove(&user_key(user));
    }
}

/// Usernames are capped so a flood of huge names cannot grow the map's keys.
fn user_key(user: &str) -> String {
    user.chars().take(64).collect()
}

fn push(q: &mut VecDeque<Instant>, at: Instant) {
    q.push_back(at);
    while q.len() > MAX_FAILURES {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP1: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn hashes_are_standard_phc_argon2id_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password("correct horse").expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("parses");
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password(&theirs, "battery staple"));
        assert!(!verify_password(&theirs, "battery stapler"));
        assert!(!verify_password(&ours, "Correct horse"));
        assert!(!verify_password("not a phc string", "x"));
    }

    #[test]
    fn five_failures_for_a_user_block_it_for_the_rest_of_the_window() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(t.check(t0, "alice", IP1).is_ok(), "attempt {i}");
            // Each from another IP: only the username counts here.
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
            t.failed(t0 + Duration::from_secs(u64::from(i)), "alice", ip);
        }
        let wait = t
            .check(t0 + Duration::from_secs(10), "alice", IP2)
            .expect_err("blocked");
        assert_eq!(wait, Duration::from_secs(50));
        assert!(t.check(t0 + Duration::from_secs(10), "bob", IP2).is_ok());
        assert!(t.check(t0 + Duration::from_secs(60), "alice", IP2).is_ok());
    }

    #[test]
    fn five_failures_from_an_ip_block_it_for_every_user() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            t.failed(t0, &format!("user{i}"), IP1);
        }
        assert!(t.check(t0, "someone", IP1).is_err());
        assert!(t.check(t0, "someone", IP2).is_ok());
        t.succeeded("someone");
        assert!(
            t.check(t0, "someone", IP1).is_err(),
            "a success does not clear the IP"
        );
    }

    #[test]
    fn success_clears_the_username() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..4 {
            t.failed(t0, "alice", IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)));
        }
        t.succeeded("alice");
        t.failed(t0, "alice", IP2);
        assert!(t.check(t0, "alice", IP1).is_ok());
    }

    #[test]
    fn passwords_and_tokens() {
        let hash = hash_password("s3cret").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "s3cret"));
        assert!(!verify_password(&hash, "wrong"));
        assert!(!verify_password("not a hash", "s3cret"));
        let (token, stored) = new_token();
        assert_eq!(token.len(), 43);
        assert_eq!(stored, token_hash(&token));
        assert_ne!(new_token().0, token);
        assert_eq!(new_session_id().len(), 32);
    }

    #[test]
    fn bearer_header_is_parsed() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("header"));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            "bearer  xyz ".parse().expect("header"),
        );
        assert_eq!(bearer_token(&h), Some("xyz"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer_token(&h), None);
    }
}

//! Who may ask: sessions (a login form's cookie, with a per-session CSRF token), the API
//! token, and the login rate limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// How long a session lasts after its login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per peer address in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The window of the login rate limit.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The session cookie's name.
pub const COOKIE: &str = "sauvegarde_session";

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every POST of this session must carry.
    pub csrf: String,
    expires: Instant,
}

/// Sessions and login failures, in memory (a restart logs everybody out).
#[derive(Debug, Default)]
pub struct Guard {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl Guard {
    /// A new session: its id (the cookie's value) and the session.
    pub fn open_session(&self) -> Result<(String, Session), getrandom::Error> {
        let id = random_token()?;
        let session = Session {
            csrf: random_token()?,
            expires: Instant::now() + SESSION_LIFETIME,
        };
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session of a `Cookie` header, if any.
    pub fn session(&self, cookie_header: Option<&str>) -> Option<(String, Session)> {
        let id = cookie_header?
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, v)| v.to_string())?;
        let sessions = lock(&self.sessions);
        let session = sessions.get(&id)?;
        (session.expires > Instant::now()).then(|| (id.clone(), session.clone()))
    }

    /// Ends a session.
    pub fn close_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Whether `peer` failed to log in too often lately.
    pub fn rate_limited(&self, peer: IpAddr) -> bool {
        let mut failures = lock(&self.failures);
        let now = Instant::now();
        failures.retain(|_, times| {
            times.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
            !times.is_empty()
        });
        failures.get(&peer).is_some_and(|t| t.len() >= MAX_FAILURES)
    }

    /// Records a failed login of `peer`.
    pub fn failed_login(&self, peer: IpAddr) {
        lock(&self.failures)
            .entry(peer)
            .or_default()
            .push(Instant::now());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data: still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// 32 random bytes, hex.
fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Whether `given` is `expected`, in time independent of where they differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Whether `password` matches the PHC `hash` (argon2). Slow by design: call it off the
/// async threads.
pub fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!("web.password_hash cannot be read: {e}");
            false
        }
    }
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No randomness for the salt.
    #[error("no randomness for the salt: {0}")]
    Random(getrandom::Error),
    /// The hasher refused (the message never holds the password).
    #[error("cannot hash the password: {0}")]
    Hash(argon2::password_hash::Error),
}

/// `password` hashed with argon2id (default parameters) and a random salt, as a PHC
/// string for `web.password_hash`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(HashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(HashError::Hash)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Hash)
}

/// The `Authorization: Bearer <token>` of a request, when it is `expected`.
pub fn bearer_matches(header: Option<&str>, expected: Option<&str>) -> bool {
    match (header.and_then(|h| h.strip_prefix("Bearer ")), expected) {
        (Some(given), Some(expected)) => same_secret(given.trim(), expected),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_a_minute_limit_the_peer() {
        let guard = Guard::default();
        let peer: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..MAX_FAILURES {
            assert!(!guard.rate_limited(peer));
            guard.failed_login(peer);
        }
        assert!(guard.rate_limited(peer));
        assert!(!guard.rate_limited([127, 0, 0, 2].into()));
    }

    #[test]
    fn a_session_is_found_by_its_cookie_only() {
        let guard = Guard::default();
        let (id, session) = guard.open_session().expect("random");
        let found = guard.session(Some(&format!("a=b; {COOKIE}={id}")));
        assert_eq!(found.map(|(_, s)| s.csrf), Some(session.csrf));
        assert!(guard.session(Some(&format!("{COOKIE}=nope"))).is_none());
        guard.close_session(&id);
        assert!(guard.session(Some(&format!("{COOKIE}={id}"))).is_none());
    }

    #[test]
    fn a_hashed_password_matches_itself_only() {
        let hash = hash_password("s3cret pass").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches("s3cret pass", &hash));
        assert!(!password_matches("s3cret pasS", &hash));
        assert_ne!(hash_password("s3cret pass").expect("hash"), hash, "salted");
    }

    #[test]
    fn bearer_tokens_are_compared_whole() {
        let token = Some("0123456789abcdef");
        assert!(bearer_matches(Some("Bearer 0123456789abcdef"), token));
        assert!(!bearer_matches(Some("Bearer 0123456789abcde"), token));
        assert!(!bearer_matches(Some("0123456789abcdef"), token));
        assert!(!bearer_matches(Some("Bearer x"), None));
    }
}

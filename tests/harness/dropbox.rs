//! A local, protocol-strict stand-in for Dropbox's HTTP API v2 (see
//! `shared/reference/dropbox-api.md`): the RPC host (with `/oauth2/token`) and the content
//! host listen on two loopback ports; a route called on the wrong host fails. It checks
//! `Authorization` against tokens it issued (which expire), `Content-Type` per style,
//! `Dropbox-API-Arg` (ASCII JSON, unknown fields rejected), session offsets, the 150 MiB
//! per-request limit, computes `content_hash`, and stores files in a temporary directory.
//! Faults can be injected: expired tokens, 429, 500, dropped connections, corruption.

mod http;
mod oauth;
mod routes;
mod store;

use std::collections::{HashMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use store::content_hash_of;

/// The app key the server knows.
pub const APP_KEY: &str = "test-app-key";
/// The app secret the server knows.
pub const APP_SECRET: &str = "test-app-secret-5ecret";
/// Dropbox's per-request body limit.
pub const MAX_REQUEST_BYTES: u64 = 150 << 20;

/// A failure to inject into matching requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Expire the presented access token and answer 401 `expired_access_token`.
    ExpiredToken,
    /// Answer 429 with `Retry-After: <secs>`.
    RateLimit {
        /// Seconds announced in `Retry-After`.
        retry_after: u64,
    },
    /// Answer 500.
    ServerError,
    /// Read half the body, then close the connection without an answer.
    DropConnection,
    /// Process the request fully, then close the connection without an answer.
    DropAnswer,
    /// Flip one byte of the file stored by this commit (`files/upload` or `finish`).
    CorruptStored,
    /// Answer the token endpoint with 400 `invalid_grant`.
    InvalidGrant,
}

/// A scheduled fault: on requests to routes starting with `route`, let `skip` pass, then
/// apply `fault` to the next `times`.
#[derive(Debug, Clone)]
struct Injection {
    route: String,
    skip: usize,
    times: usize,
    fault: Fault,
}

/// Counters the tests read.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Successful `grant_type=refresh_token` exchanges.
    pub refreshes: u64,
    /// Successful `grant_type=authorization_code` exchanges.
    pub code_exchanges: u64,
    /// 401 answers sent.
    pub unauthorized: u64,
    /// Requests per route (`files/upload`, `oauth2/token`, …), whatever their answer.
    pub calls: HashMap<String, u64>,
    /// Faults applied.
    pub faults: u64,
    /// The largest request body received.
    pub largest_body: u64,
}

/// Everything the server knows; behind one mutex, held briefly.
pub(crate) struct State {
    pub dir: PathBuf,
    pub next_id: u64,
    pub token_lifetime: Duration,
    pub refresh_tokens: HashMap<String, oauth::Grant>,
    pub codes: HashMap<String, oauth::Code>,
    pub access_tokens: HashMap<String, std::time::Instant>,
    pub scopes: HashSet<String>,
    pub files: store::Files,
    pub sessions: HashMap<String, store::Session>,
    pub cursors: HashMap<String, Vec<serde_json::Value>>,
    pub page_size: usize,
    pub allocated: u64,
    pub email: String,
    injections: Vec<Injection>,
    pub stats: Stats,
}

impl State {
    /// A fresh id for tokens, sessions, files.
    pub fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:08}", self.next_id)
    }

    /// The fault to apply to this request to `route`, if one is due.
    pub fn take_fault(&mut self, route: &str, applies: impl Fn(Fault) -> bool) -> Option<Fault> {
        for injection in &mut self.injections {
            if injection.times == 0
                || !route.starts_with(&injection.route)
                || !applies(injection.fault)
            {
                continue;
            }
            if injection.skip > 0 {
                injection.skip -= 1;
                continue;
            }
            injection.times -= 1;
            self.stats.faults += 1;
            return Some(injection.fault);
        }
        None
    }
}

/// Which of the two hosts a listener plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKind {
    Api,
    Content,
}

/// The running server. Stops its listeners and removes its files on drop.
pub struct DropboxServer {
    api_port: u16,
    content_port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl DropboxServer {
    /// Starts both hosts on free loopback ports.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the Dropbox server");
        let state = State {
            dir: dir.path().to_path_buf(),
            next_id: 0,
            token_lifetime: Duration::from_secs(14_400),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            scopes: oauth::ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            files: store::Files::default(),
            sessions: HashMap::new(),
            cursors: HashMap::new(),
            page_size: 100,
            allocated: 1 << 40,
            email: "backup@example.com".into(),
            injections: Vec::new(),
            stats: Stats::default(),
        };
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut ports = Vec::new();
        for kind in [HostKind::Api, HostKind::Content] {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            ports.push(listener.local_addr().expect("local address").port());
            let state = state.clone();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                serve(listener, kind, state, stop)
            }));
        }
        DropboxServer {
            api_port: ports[0],
            content_port: ports[1],
            state,
            stop,
            threads,
            _dir: dir,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The RPC base URL (`api_url` in the plugin's config).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/2", self.api_port)
    }

    /// The content base URL (`content_url`).
    pub fn content_url(&self) -> String {
        format!("http://127.0.0.1:{}/2", self.content_port)
    }

    /// The token endpoint (`oauth_url`).
    pub fn oauth_url(&self) -> String {
        format!("http://127.0.0.1:{}/oauth2/token", self.api_port)
    }

    /// A refresh token, as if the user had gone through the authorization flow with the
    /// app secret.
    pub fn issue_refresh_token(&self) -> String {
        let mut state = self.lock();
        let token = state.id("refresh-");
        state.refresh_tokens.insert(
            token.clone(),
            oauth::Grant {
                pkce: false,
                revoked: false,
            },
        );
        token
    }

    /// Plays the user approving the app at `authorize_url` (as printed by the auth helper):
    /// checks its parameters and returns the authorization code Dropbox would show.
    pub fn approve(&self, authorize_url: &str) -> Result<String, String> {
        oauth::approve(&mut self.lock(), authorize_url)
    }

    /// Revokes a refresh token: refreshing with it gets `invalid_grant`.
    pub fn revoke(&self, refresh_token: &str) {
        if let Some(grant) = self.lock().refresh_tokens.get_mut(refresh_token) {
            grant.revoked = true;
        }
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// Expires every access token issued so far.
    pub fn expire_access_tokens(&self) {
        let now = std::time::Instant::now();
        for expiry in self.lock().access_tokens.values_mut() {
            *expiry = now;
        }
    }

    /// Takes a permission scope away from the app (calls needing it get `missing_scope`).
    pub fn remove_scope(&self, scope: &str) {
        self.lock().scopes.remove(scope);
    }

    /// Entries per `list_folder` page.
    pub fn set_page_size(&self, entries: usize) {
        self.lock().page_size = entries.max(1);
    }

    /// The account's space allocation in bytes.
    pub fn set_allocated(&self, bytes: u64) {
        self.lock().allocated = bytes;
    }

    /// Applies `fault` to `times` requests whose route starts with `route` (`""` for all;
    /// `oauth2/token` for the token endpoint), after letting `skip` of them pass.
    pub fn inject(&self, route: &str, fault: Fault, skip: usize, times: usize) {
        self.lock().injections.push(Injection {
            route: route.into(),
            skip,
            times,
            fault,
        });
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Requests made to `route` so far.
    pub fn calls(&self, route: &str) -> u64 {
        self.lock().stats.calls.get(route).copied().unwrap_or(0)
    }

    /// Stores a file directly (as if uploaded by another client).
    pub fn put_file(&self, path: &str, content: &[u8]) {
        store::put(&mut self.lock(), path, content).expect("store a file");
    }

    /// The stored file at `path` (any case): its display path and the file holding its bytes.
    pub fn stored(&self, path: &str) -> Option<(String, PathBuf)> {
        let state = self.lock();
        state
            .files
            .get(&path.to_lowercase())
            .map(|f| (f.path_display.clone(), f.disk.clone()))
    }

    /// Display paths of all stored files.
    pub fn paths(&self) -> Vec<String> {
        self.lock()
            .files
            .values()
            .map(|f| f.path_display.clone())
            .collect()
    }

    /// Number of upload sessions started and not finished.
    pub fn open_sessions(&self) -> usize {
        self.lock().sessions.len()
    }
}

impl Drop for DropboxServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for port in [self.api_port, self.content_port] {
            let _ = TcpStream::connect(("127.0.0.1", port));
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until stopped; one thread per connection.
fn serve(listener: TcpListener, kind: HostKind, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let state = state.clone();
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
            if let Ok(Some(request)) = http::Request::read(stream) {
                routes::handle(kind, &state, request);
            }
        });
    }
}

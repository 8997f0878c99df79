//! The status page and its JSON API, served by the daemon when `[web]` is set: HTTP/1.1
//! on tokio (hyper), over TLS with `cert_file` and `key_file` (rustls), pages rendered on the server ([`pages`]), `/api/v1/…`
//! ([`api`]), and everything behind a login or the API token ([`auth`]). It reads the
//! configuration and the history through the engine ([`crate::status`]) and starts
//! backups only by asking the daemon's scheduler ([`Trigger`]).

pub mod api;
pub mod auth;
pub mod html;
pub mod pages;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{Config, WebConfig};

/// The largest request body read (a login form, a CSRF token).
const MAX_BODY: usize = 16 * 1024;

/// Why the status page could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The `web.listen` address could not be bound.
    #[error("`web.listen`: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("`{key}`: {file}: {message}")]
    Tls {
        /// `web.cert_file` or `web.key_file`.
        key: &'static str,
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// A request of the page to back up a job now, answered by the daemon's loop.
#[derive(Debug)]
pub struct Trigger {
    /// The job.
    pub job: String,
    /// Where the daemon answers.
    pub reply: oneshot::Sender<TriggerOutcome>,
}

/// What the daemon did with a [`Trigger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerOutcome {
    /// The backup started: an id for this daemon's run, and when (RFC 3339).
    Started {
        /// This daemon's count of triggered runs.
        id: u64,
        /// When it started.
        started: String,
    },
    /// The job is backing up or drilling already.
    Running,
    /// `max_parallel` backups run already.
    Busy,
    /// No such job, or an inactive one.
    UnknownJob,
}

/// What the handlers share.
pub struct State {
    /// `[web]` as the daemon started with it.
    pub web: WebConfig,
    /// Whether the page is served over TLS (or behind a proxy that terminates it): the
    /// session cookie is then `Secure`.
    pub secure: bool,
    /// The daemon's current configuration (it changes on reload).
    pub config: watch::Receiver<Arc<Config>>,
    /// Sessions and the login rate limit.
    pub guard: auth::Guard,
    /// The way to the daemon's scheduler.
    pub triggers: mpsc::Sender<Trigger>,
}

impl State {
    /// The configuration now.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }

    /// Asks the daemon to back up `job` now.
    pub async fn trigger(&self, job: &str) -> Option<TriggerOutcome> {
        let (reply, answer) = oneshot::channel();
        let request = Trigger {
            job: job.to_string(),
            reply,
        };
        self.triggers.send(request).await.ok()?;
        answer.await.ok()
    }
}

/// A bound listener, with TLS when `web.cert_file` and `web.key_file` are set.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Reads the TLS files and binds `web.listen`; the server runs in [`serve`].
pub async fn bind(web: &WebConfig) -> Result<Listener, WebError> {
    let tls = match (&web.cert_file, &web.key_file) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let tcp = TcpListener::bind(web.listen)
        .await
        .map_err(|source| WebError::Bind {
            addr: web.listen,
            source,
        })?;
    Ok(Listener { tcp, tls })
}

/// Serves the status page on `listener` until the runtime stops.
pub async fn serve(listener: Listener, state: Arc<State>) {
    let Listener { tcp: listener, tls } = listener;
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, "status page listening"),
        Err(e) => tracing::warn!("status page listening (address unknown: {e})"),
    }
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("status page: cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => connection(stream, peer, state).await,
                    Err(e) => tracing::debug!(%peer, "status page: TLS handshake failed: {e}"),
                },
                None => connection(stream, peer, state).await,
            }
        });
    }
}

/// Serves one connection's requests.
async fn connection<S>(stream: S, peer: SocketAddr, state: Arc<State>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, peer, req).await) }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(%peer, "status page connection ended: {e}");
    }
}

/// A response body.
pub type Body = Full<Bytes>;

/// The request, read whole (its body bounded).
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path, without the query.
    pub path: String,
    /// The query string's pairs.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: hyper::HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Who asks.
    pub peer: SocketAddr,
}

impl Req {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter, when set and not empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The form fields of an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

async fn handle(state: &State, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let req = Req {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
        peer,
    };
    let mut response = route(state, &req).await;
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

async fn route(state: &State, req: &Req) -> Response<Body> {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (&req.method, segments.as_slice()) {
        (&Method::GET, ["login"]) => pages::login_form(None),
        (&Method::POST, ["login"]) => pages::login(state, req).await,
        (&Method::POST, ["logout"]) => pages::logout(state, req),
        (&Method::GET, [""]) => pages::overview(state, req).await,
        (&Method::GET, ["history"]) => pages::history(state, req).await,
        (&Method::POST, ["jobs", job, "backup"]) => pages::backup_now(state, req, job).await,
        (&Method::GET, ["api", "v1", "jobs"]) => api::jobs(state, req).await,
        (&Method::GET, ["api", "v1", "history"]) => api::history(state, req).await,
        (&Method::POST, ["api", "v1", "jobs", job, "backup"]) => api::backup(state, req, job).await,
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A plain text response.
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body.to_string())
}

/// A response of `content_type`.
pub fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `303 See Other` to `to` (a path of this server).
pub fn see_other(to: &str) -> Response<Body> {
    let mut r = text(StatusCode::SEE_OTHER, "");
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

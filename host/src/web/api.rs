//! `/api/v1/…`: the JSON of `jobs --json` and `history --json`, and the backup trigger.
//! Each call needs the API token (`Authorization: Bearer …`) or a session; a POST with a
//! session also needs its CSRF token in `X-CSRF-Token`.

use hyper::{Method, Response, StatusCode};
use serde::Serialize;

use super::{auth, respond, Body, Req, State, TriggerOutcome};
use crate::history::History;

/// The most rows `/api/v1/history` returns at once.
const MAX_LIMIT: usize = 10_000;

/// Whether `req` may call the API: the token, or a session (with its CSRF token for a
/// POST). `Err` is the response to send.
fn allowed(state: &State, req: &Req) -> Result<(), Box<Response<Body>>> {
    if auth::bearer_matches(req.header("authorization"), state.web.token.as_deref()) {
        return Ok(());
    }
    let Some((_, session)) = state.guard.session(req.header("cookie")) else {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "authentication required",
        )));
    };
    if req.method == Method::POST {
        let given = req.header("x-csrf-token").unwrap_or_default();
        if !auth::same_secret(given, &session.csrf) {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token",
            )));
        }
    }
    Ok(())
}

/// `GET /api/v1/jobs`: what `jobs --json` prints.
pub async fn jobs(state: &State, req: &Req) -> Response<Body> {
    if let Err(r) = allowed(state, req) {
        return *r;
    }
    let config = state.config();
    let lines = tokio::task::spawn_blocking(move || crate::status::job_lines(&config)).await;
    match lines {
        Ok(Ok(lines)) => json(StatusCode::OK, &lines),
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&e),
    }
}

/// `GET /api/v1/history[?job=J&limit=N]`: what `history --json` prints.
pub async fn history(state: &State, req: &Req) -> Response<Body> {
    if let Err(r) = allowed(state, req) {
        return *r;
    }
    let limit = match req.param("limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if n <= MAX_LIMIT => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("limit: a number of rows up to {MAX_LIMIT}"),
            )
        }
    };
    let job = req.param("job").map(str::to_string);
    let state_dir = state.config().state_dir.clone();
    let rows = tokio::task::spawn_blocking(move || match History::open_read_only(&state_dir)? {
        Some(h) => crate::status::history_lines(&h, job.as_deref(), limit),
        None => Ok(Vec::new()),
    })
    .await;
    match rows {
        Ok(Ok(rows)) => json(StatusCode::OK, &rows),
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&e),
    }
}

/// The answer of a backup trigger.
#[derive(Serialize)]
struct Started<'a> {
    id: u64,
    job: &'a str,
    started: &'a str,
}

/// `POST /api/v1/jobs/{job}/backup`: starts a backup through the daemon's scheduler; 202
/// with its id, 409 when the job runs already or `max_parallel` backups run.
pub async fn backup(state: &State, req: &Req, job: &str) -> Response<Body> {
    if let Err(r) = allowed(state, req) {
        return *r;
    }
    match state.trigger(job).await {
        Some(TriggerOutcome::Started { id, started }) => json(
            StatusCode::ACCEPTED,
            &Started {
                id,
                job,
                started: &started,
            },
        ),
        Some(TriggerOutcome::Running) => error(StatusCode::CONFLICT, "this job is running already"),
        Some(TriggerOutcome::Busy) => error(
            StatusCode::CONFLICT,
            "max_parallel backups are running: try again later",
        ),
        Some(TriggerOutcome::UnknownJob) => error(StatusCode::NOT_FOUND, "no such active job"),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "the scheduler is stopping"),
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => respond(status, "application/json", text),
        Err(e) => failed(&e),
    }
}

/// `{"error": message}`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    respond(status, "application/json", body)
}

fn failed(e: &dyn std::fmt::Display) -> Response<Body> {
    let message = crate::redact::scrub(&e.to_string()).into_owned();
    tracing::error!("status page: {message}");
    error(StatusCode::INTERNAL_SERVER_ERROR, &message)
}

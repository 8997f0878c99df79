//! The pages: login, overview, history, and the "Backup now" form. Server-rendered,
//! readable without JavaScript; every value escaped, every message masked.

use std::fmt::Write as _;

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Response, StatusCode};

use super::html::{escape, page};
use super::{auth, respond, see_other, text, Body, Req, State, TriggerOutcome};
use crate::history::{BackupRow, BackupState, History};
use crate::status::{HistoryLine, JobLine};
use crate::table::human_size;

/// History rows per page.
const PAGE_SIZE: usize = 50;
/// The most history rows a filtered view looks through.
const SCAN_LIMIT: usize = 10_000;

fn html(status: StatusCode, body: String) -> Response<Body> {
    respond(status, "text/html; charset=utf-8", body)
}

/// The session of a page request, or the redirection to the login form.
fn session(state: &State, req: &Req) -> Result<auth::Session, Box<Response<Body>>> {
    state
        .guard
        .session(req.header("cookie"))
        .map(|(_, s)| s)
        .ok_or_else(|| Box::new(see_other("/login")))
}

/// The session of a form POST whose `csrf` field is the session's token.
fn posted(state: &State, req: &Req) -> Result<(String, auth::Session), Box<Response<Body>>> {
    let Some((id, session)) = state.guard.session(req.header("cookie")) else {
        return Err(Box::new(see_other("/login")));
    };
    let form = req.form();
    let given = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .or_else(|| req.header("x-csrf-token"))
        .unwrap_or_default();
    if !auth::same_secret(given, &session.csrf) {
        return Err(Box::new(text(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token",
        )));
    }
    Ok((id, session))
}

/// `GET /login`.
pub fn login_form(problem: Option<&str>) -> Response<Body> {
    let mut body = String::from("<h1>sauvegarde</h1>");
    if let Some(p) = problem {
        let _ = write!(body, "<p class=\"failing\">{}</p>", escape(p));
    }
    body.push_str(
        "<form method=\"post\" action=\"/login\"><label>Password \
         <input type=\"password\" name=\"password\" autofocus required></label> \
         <button type=\"submit\">Log in</button></form>",
    );
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    html(status, page("Log in — sauvegarde", &body, None))
}

/// `POST /login`: the password against `web.password_hash`; at most
/// [`auth::MAX_FAILURES`] failures a minute from one address.
pub async fn login(state: &State, req: &Req) -> Response<Body> {
    let peer = req.peer.ip();
    if state.guard.rate_limited(peer) {
        tracing::warn!(%peer, "status page: too many failed logins");
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins: wait a minute",
        );
    }
    let password = req
        .form()
        .into_iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let ok = match state.web.password_hash.clone() {
        Some(hash) => tokio::task::spawn_blocking(move || auth::password_matches(&password, &hash))
            .await
            .unwrap_or(false),
        None => false,
    };
    if !ok {
        state.guard.failed_login(peer);
        tracing::warn!(%peer, "status page: failed login");
        return login_form(Some("wrong password"));
    }
    let (id, _) = match state.guard.open_session() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("status page: no randomness for a session: {e}");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session");
        }
    };
    tracing::info!(%peer, "status page: logged in");
    let secure = if state.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        auth::COOKIE,
        auth::SESSION_LIFETIME.as_secs()
    );
    let mut r = see_other("/");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// `POST /logout`.
pub fn logout(state: &State, req: &Req) -> Response<Body> {
    match posted(state, req) {
        Ok((id, _)) => {
            state.guard.close_session(&id);
            let mut r = see_other("/login");
            let gone = format!(
                "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                auth::COOKIE
            );
            if let Ok(v) = HeaderValue::from_str(&gone) {
                r.headers_mut().insert(SET_COOKIE, v);
            }
            r
        }
        Err(r) => *r,
    }
}

/// The state of a job's or database's latest backup, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Health {
    Ok,
    Never,
    Late,
    Failing,
}

impl Health {
    fn name(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Never => "never",
            Health::Late => "late",
            Health::Failing => "failing",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Never => "never ran",
            Health::Late => "late",
            Health::Failing => "failing",
        }
    }

    fn of(last: Option<&BackupRow>, next: Option<&str>) -> Health {
        match last {
            None => Health::Never,
            Some(r) if r.state == BackupState::Failed => Health::Failing,
            Some(r) if r.state != BackupState::Running && next == Some("now") => Health::Late,
            Some(_) => Health::Ok,
        }
    }
}

/// `3 h 12 min` from seconds.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    }
}

fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let from: jiff::Timestamp = from.parse().ok()?;
    let to: jiff::Timestamp = to.parse().ok()?;
    Some(to.duration_since(from).as_secs())
}

fn masked(message: &str) -> String {
    escape(&crate::redact::scrub(message))
}

/// One overview row.
fn overview_row(out: &mut String, line: &JobLine, row: Option<&BackupRow>, csrf: &str) -> Health {
    let health = Health::of(row, line.next.as_deref());
    let now = jiff::Timestamp::now().to_string();
    let database = row
        .and_then(BackupRow::database_name)
        .unwrap_or(&line.database);
    let success = row.filter(|r| r.state == BackupState::Done);
    let (last_success, age) = match success {
        Some(r) => {
            let at = r.finished.as_deref().unwrap_or(&r.started);
            let age = seconds_between(at, &now).map(span).unwrap_or_default();
            (escape(at), age)
        }
        None => ("-".into(), String::new()),
    };
    let size = row
        .and_then(|r| r.size)
        .map(human_size)
        .unwrap_or_else(|| "-".into());
    let duration = row
        .and_then(|r| seconds_between(&r.started, r.finished.as_deref()?))
        .map(span)
        .unwrap_or_else(|| "-".into());
    let error = row
        .filter(|r| r.state == BackupState::Failed)
        .and_then(|r| r.message.as_deref())
        .map(masked)
        .unwrap_or_default();
    let _ = write!(
        out,
        "<tr class=\"{cls}\"><td>{job}</td><td>{db}</td><td>{label}</td><td>{last_success}</td>\
         <td>{age}</td><td>{next}</td><td>{size}</td><td>{duration}</td><td>{error}</td>\
         <td><form method=\"post\" action=\"/jobs/{job_url}/backup\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Backup now</button></form></td></tr>",
        cls = health.name(),
        job = escape(&line.id),
        db = escape(database),
        label = health.label(),
        next = escape(line.next.as_deref().unwrap_or("-")),
        job_url = escape(&url_part(&line.id)),
        csrf = escape(csrf),
    );
    health
}

fn url_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /`: one row per job and database, the overall state at the top and in the title.
pub async fn overview(state: &State, req: &Req) -> Response<Body> {
    let session = match session(state, req) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let config = state.config();
    let lines = match tokio::task::spawn_blocking(move || crate::status::job_lines(&config)).await {
        Ok(Ok(lines)) => lines,
        Ok(Err(e)) => return failed(&e),
        Err(e) => return failed(&e),
    };
    let mut rows = String::new();
    let mut overall = Health::Ok;
    for line in &lines {
        let healths: Vec<Health> = if line.databases.is_empty() {
            vec![overview_row(
                &mut rows,
                line,
                line.last.as_ref(),
                &session.csrf,
            )]
        } else {
            line.databases
                .iter()
                .map(|r| overview_row(&mut rows, line, Some(r), &session.csrf))
                .collect()
        };
        overall = healths.into_iter().fold(overall, Health::max);
    }
    let mut body = format!(
        "<h1 class=\"{}\">sauvegarde: {}</h1>",
        overall.name(),
        overall.label()
    );
    if let Some(reason) = lines.first().and_then(|l| l.history_unavailable.as_deref()) {
        let _ = write!(
            body,
            "<p class=\"failing\">history unavailable: {}</p>",
            masked(reason)
        );
    }
    if let Some(notice) = req.param("started") {
        let _ = write!(body, "<p>{}</p>", escape(notice));
    }
    if lines.is_empty() {
        body.push_str("<p>No job configured.</p>");
    } else {
        let _ = write!(
            body,
            "<table><thead><tr><th>Job</th><th>Database</th><th>State</th>\
             <th>Last success</th><th>Age</th><th>Next run</th><th>Last size</th>\
             <th>Duration</th><th>Last error</th><th></th></tr></thead><tbody>{rows}\
             </tbody></table>"
        );
    }
    let title = format!("{} — sauvegarde", overall.label());
    html(StatusCode::OK, page(&title, &body, Some(&session.csrf)))
}

/// `POST /jobs/{job}/backup`: "Backup now", then back to the overview.
pub async fn backup_now(state: &State, req: &Req, job: &str) -> Response<Body> {
    if let Err(r) = posted(state, req) {
        return *r;
    }
    let notice = match state.trigger(job).await {
        Some(TriggerOutcome::Started { .. }) => format!("backup of {job} started"),
        Some(TriggerOutcome::Running) => format!("{job} is running already"),
        Some(TriggerOutcome::Busy) => "max_parallel backups are running: try again later".into(),
        Some(TriggerOutcome::UnknownJob) => format!("no active job {job}"),
        None => "the scheduler is stopping".into(),
    };
    see_other(&format!("/?started={}", url_part(&notice)))
}

/// `GET /history[?job=&database=&state=&page=]`.
pub async fn history(state: &State, req: &Req) -> Response<Body> {
    let session = match session(state, req) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let job = req.param("job").map(str::to_string);
    let database = req.param("database").map(str::to_string);
    let wanted_state = req.param("state").map(str::to_string);
    let page_no = req
        .param("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let state_dir = state.config().state_dir.clone();
    let (job_q, database_q, state_q) = (job.clone(), database.clone(), wanted_state.clone());
    let start = (page_no - 1) * PAGE_SIZE;
    // Filtered on the backups' rows; exports and drills read for the shown page only.
    let read = tokio::task::spawn_blocking(move || {
        let Some(h) = History::open_read_only(&state_dir)? else {
            return Ok((Vec::new(), 0));
        };
        let rows: Vec<BackupRow> = h
            .list(job_q.as_deref(), SCAN_LIMIT)?
            .into_iter()
            .filter(|b| {
                database_q
                    .as_deref()
                    .is_none_or(|d| b.database_name() == Some(d))
            })
            .filter(|b| state_q.as_deref().is_none_or(|s| b.state.as_str() == s))
            .collect();
        let total = rows.len();
        let page = rows
            .into_iter()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|b| crate::status::history_line(&h, b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, crate::history::HistoryError>((page, total))
    })
    .await;
    let (rows, total) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return failed(&e),
        Err(e) => return failed(&e),
    };
    let mut body = String::from("<h1>History</h1>");
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/history\">\
         <label>Job <input name=\"job\" value=\"{}\"></label> \
         <label>Database <input name=\"database\" value=\"{}\"></label> \
         <label>State <select name=\"state\">",
        escape(job.as_deref().unwrap_or_default()),
        escape(database.as_deref().unwrap_or_default()),
    );
    for s in ["", "running", "done", "failed", "deleted"] {
        let selected = if wanted_state.as_deref().unwrap_or_default() == s {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, "<option value=\"{s}\"{selected}>{s}</option>");
    }
    body.push_str("</select></label> <button type=\"submit\">Filter</button></form>");
    body.push_str(
        "<table><thead><tr><th>File</th><th>Date</th><th>Job</th><th>Database</th>\
         <th>Local state</th><th>Size</th><th>Remote state</th><th>Messages</th></tr>\
         </thead><tbody>",
    );
    for line in &rows {
        history_row(&mut body, line);
    }
    body.push_str("</tbody></table>");
    if total == 0 {
        body.push_str("<p>No backup recorded.</p>");
    }
    let link = |page: usize| {
        let mut q: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("job", &job),
            ("database", &database),
            ("state", &wanted_state),
        ] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        q.push(("page", page.to_string()));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("/history?{}", escape(&query))
    };
    body.push_str("<p>");
    if page_no > 1 {
        let _ = write!(body, "<a href=\"{}\">Newer</a> ", link(page_no - 1));
    }
    if total > start + PAGE_SIZE {
        let _ = write!(body, "<a href=\"{}\">Older</a>", link(page_no + 1));
    }
    body.push_str("</p>");
    html(
        StatusCode::OK,
        page("History — sauvegarde", &body, Some(&session.csrf)),
    )
}

fn history_row(out: &mut String, line: &HistoryLine) {
    let b = &line.backup;
    let mut remote = String::new();
    let mut messages = String::new();
    if let Some(m) = &b.message {
        let _ = write!(messages, "{}<br>", masked(m));
    }
    for e in &line.exports {
        let _ = write!(
            remote,
            "{}: {}<br>",
            escape(&e.destination),
            escape(e.state.as_str())
        );
        if let Some(m) = &e.message {
            let _ = write!(messages, "{}: {}<br>", escape(&e.destination), masked(m));
        }
    }
    let cls = match b.state {
        BackupState::Done => "ok",
        BackupState::Failed => "failing",
        BackupState::Running | BackupState::Deleted => "never",
    };
    let _ = write!(
        out,
        "<tr class=\"{cls}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(&b.file_name),
        escape(&b.started),
        escape(&b.job),
        escape(b.database_name().unwrap_or("-")),
        escape(b.state.as_str()),
        b.size.map(human_size).unwrap_or_else(|| "-".into()),
        if remote.is_empty() {
            "-".into()
        } else {
            remote
        },
        messages,
    );
}

fn failed(e: &dyn std::fmt::Display) -> Response<Body> {
    let message = crate::redact::scrub(&e.to_string()).into_owned();
    tracing::error!("status page: {message}");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "Error — sauvegarde",
            &format!("<p>{}</p>", escape(&message)),
            None,
        ),
    )
}

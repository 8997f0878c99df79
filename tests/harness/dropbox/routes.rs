//! Request dispatch: route table (host, style, scope, allowed argument fields), the strict
//! checks every call goes through, fault injection, and the route handlers.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Map, Value};

use super::http::Request;
use super::oauth::{self, Refusal};
use super::store::{self, CommitError, WriteMode};
use super::{Fault, HostKind, State, MAX_REQUEST_BYTES};

/// How a route takes its argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Rpc,
    Upload,
    Download,
}

/// One route of the API.
struct Route {
    name: &'static str,
    style: Style,
    scope: &'static str,
    /// Allowed top-level argument fields; `None` for routes whose argument is `null`.
    fields: Option<&'static [&'static str]>,
}

const COMMIT_FIELDS: &[&str] = &[
    "path",
    "mode",
    "autorename",
    "mute",
    "strict_conflict",
    "client_modified",
    "property_groups",
];

const ROUTES: &[Route] = &[
    Route {
        name: "users/get_current_account",
        style: Style::Rpc,
        scope: "account_info.read",
        fields: None,
    },
    Route {
        name: "users/get_space_usage",
        style: Style::Rpc,
        scope: "account_info.read",
        fields: None,
    },
    Route {
        name: "files/list_folder",
        style: Style::Rpc,
        scope: "files.metadata.read",
        fields: Some(&[
            "path",
            "recursive",
            "limit",
            "include_deleted",
            "include_media_info",
            "include_has_explicit_shared_members",
            "include_mounted_folders",
            "include_non_downloadable_files",
        ]),
    },
    Route {
        name: "files/list_folder/continue",
        style: Style::Rpc,
        scope: "files.metadata.read",
        fields: Some(&["cursor"]),
    },
    Route {
        name: "files/get_metadata",
        style: Style::Rpc,
        scope: "files.metadata.read",
        fields: Some(&[
            "path",
            "include_media_info",
            "include_deleted",
            "include_has_explicit_shared_members",
        ]),
    },
    Route {
        name: "files/delete_v2",
        style: Style::Rpc,
        scope: "files.content.write",
        fields: Some(&["path", "parent_rev"]),
    },
    Route {
        name: "files/upload",
        style: Style::Upload,
        scope: "files.content.write",
        fields: Some(&[
            "path",
            "mode",
            "autorename",
            "mute",
            "strict_conflict",
            "client_modified",
            "property_groups",
            "content_hash",
        ]),
    },
    Route {
        name: "files/upload_session/start",
        style: Style::Upload,
        scope: "files.content.write",
        fields: Some(&["close", "session_type", "content_hash"]),
    },
    Route {
        name: "files/upload_session/append_v2",
        style: Style::Upload,
        scope: "files.content.write",
        fields: Some(&["cursor", "close", "content_hash"]),
    },
    Route {
        name: "files/upload_session/finish",
        style: Style::Upload,
        scope: "files.content.write",
        fields: Some(&["cursor", "commit", "content_hash"]),
    },
    Route {
        name: "files/download",
        style: Style::Download,
        scope: "files.content.read",
        fields: Some(&["path", "rev"]),
    },
];

/// What a handler answers.
enum Reply {
    Json(u16, Value),
    Text(u16, String),
    Download {
        metadata: Value,
        file: std::path::PathBuf,
        size: u64,
    },
    /// The body could not be read (the client went away): no answer.
    Gone,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Dropbox-API-Result`/`-Arg` JSON with non-ASCII and 0x7F escaped.
fn ascii_json(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() && c != '\x7f' {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn route_error(summary_tags: &str, error: Value) -> Reply {
    Reply::Json(
        409,
        json!({"error_summary": format!("{summary_tags}/.."), "error": error}),
    )
}

fn bad_request(route: &str, detail: &str) -> Reply {
    Reply::Text(
        400,
        format!("Error in call to API function \"{route}\": {detail}"),
    )
}

/// Serves one request.
pub fn handle(kind: HostKind, state: &Arc<Mutex<State>>, mut request: Request) {
    let path = request.path.clone();
    let route_name = path
        .strip_prefix("/2/")
        .unwrap_or(path.trim_start_matches('/'))
        .to_string();
    {
        let mut st = lock(state);
        *st.stats.calls.entry(route_name.clone()).or_default() += 1;
        st.stats.largest_body = st.stats.largest_body.max(request.content_length);
    }
    if path == "/oauth2/token" {
        if kind != HostKind::Api {
            return request.respond(404, &[], b"Not Found");
        }
        return oauth::token(state, request);
    }
    let Some(route) = path
        .strip_prefix("/2/")
        .and_then(|r| ROUTES.iter().find(|x| x.name == r))
    else {
        return request.respond(404, &[], format!("Unknown API function: {path}").as_bytes());
    };
    let reply = dispatch(kind, state, route, &mut request);
    send(request, reply);
}

fn send(request: Request, reply: Reply) {
    match reply {
        Reply::Json(status, body) => {
            let mut headers = vec![("Content-Type", "application/json".to_string())];
            if status == 429 {
                let secs = body["error"]["retry_after"].as_u64().unwrap_or(1);
                headers.push(("Retry-After", secs.to_string()));
            }
            request.respond(status, &headers, body.to_string().as_bytes())
        }
        Reply::Text(status, text) => request.respond(
            status,
            &[("Content-Type", "text/plain; charset=utf-8".into())],
            text.as_bytes(),
        ),
        Reply::Download {
            metadata,
            file,
            size,
        } => match File::open(&file) {
            Ok(mut f) => request.respond_stream(
                200,
                &[
                    ("Content-Type", "application/octet-stream".into()),
                    ("Dropbox-API-Result", ascii_json(&metadata)),
                ],
                size,
                &mut f,
            ),
            Err(e) => request.respond(500, &[], e.to_string().as_bytes()),
        },
        Reply::Gone => request.drop_connection(0),
    }
}

/// The strict checks, then faults, then the handler.
fn dispatch(
    kind: HostKind,
    state: &Arc<Mutex<State>>,
    route: &Route,
    request: &mut Request,
) -> Reply {
    let name = route.name;
    let wanted = if route.style == Style::Rpc {
        HostKind::Api
    } else {
        HostKind::Content
    };
    if kind != wanted {
        let host = if wanted == HostKind::Api {
            "api.dropboxapi.com"
        } else {
            "content.dropboxapi.com"
        };
        return bad_request(
            name,
            &format!("this function is only served on {host}; you called it on the other host"),
        );
    }
    if request.method != "POST" {
        return Reply::Text(405, "Only POST is allowed".into());
    }
    if request.chunked {
        return Reply::Text(411, "Content-Length is required".into());
    }
    {
        let mut st = lock(state);
        match oauth::check_bearer(&mut st, request, name, route.scope) {
            Ok(()) => {}
            Err(Refusal::BadRequest(text)) => return Reply::Text(400, text),
            Err(Refusal::Unauthorized(body)) => {
                st.stats.unauthorized += 1;
                return Reply::Json(401, body);
            }
        }
    }
    let content_type = request.header("content-type").unwrap_or_default();
    let type_ok = match route.style {
        Style::Rpc => content_type.starts_with("application/json"),
        Style::Upload => content_type == "application/octet-stream",
        Style::Download => content_type.is_empty() || content_type == "application/octet-stream",
    };
    if !type_ok {
        return bad_request(
            name,
            &format!("Bad HTTP \"Content-Type\" header: {content_type:?}."),
        );
    }
    let arg = match read_arg(route, request) {
        Ok(arg) => arg,
        Err(reply) => return reply,
    };
    let commits = matches!(name, "files/upload" | "files/upload_session/finish");
    let fault = lock(state).take_fault(name, |f| match f {
        Fault::CorruptStored => commits,
        Fault::RateLimit { .. }
        | Fault::ServerError
        | Fault::DropConnection
        | Fault::DropAnswer => true,
        Fault::ExpiredToken | Fault::InvalidGrant => false,
    });
    match fault {
        Some(Fault::RateLimit { retry_after }) => {
            return Reply::Json(
                429,
                json!({
                    "error_summary": "too_many_requests/..",
                    "error": {"reason": {".tag": "too_many_requests"}, "retry_after": retry_after}
                }),
            );
        }
        Some(Fault::ServerError) => return Reply::Text(500, "Internal Server Error".into()),
        Some(Fault::DropConnection) => {
            let half = request.content_length / 2;
            let _ = io::copy(&mut io::Read::take(request.body(), half), &mut io::sink());
            return Reply::Gone;
        }
        _ => {}
    }
    let corrupt = fault == Some(Fault::CorruptStored);
    if route.style == Style::Upload && request.content_length > MAX_REQUEST_BYTES {
        return route_error("payload_too_large", json!({".tag": "payload_too_large"}));
    }
    let reply = match name {
        "users/get_current_account" => account(state),
        "users/get_space_usage" => space(state),
        "files/list_folder" => list_folder(state, &arg),
        "files/list_folder/continue" => list_continue(state, &arg),
        "files/get_metadata" => get_metadata(state, &arg),
        "files/delete_v2" => delete(state, &arg),
        "files/upload" => upload(state, request, &arg, corrupt),
        "files/upload_session/start" => session_start(state, request, &arg),
        "files/upload_session/append_v2" => session_append(state, request, &arg),
        "files/upload_session/finish" => session_finish(state, request, &arg, corrupt),
        "files/download" => download(state, &arg),
        _ => Reply::Text(404, "Unknown API function".into()),
    };
    if fault == Some(Fault::DropAnswer) {
        return Reply::Gone;
    }
    reply
}

/// Reads and checks the argument: body JSON for RPC, ASCII `Dropbox-API-Arg` otherwise;
/// unknown fields are refused like Dropbox's 400.
fn read_arg(route: &Route, request: &mut Request) -> Result<Value, Reply> {
    let name = route.name;
    let (text, origin) = if route.style == Style::Rpc {
        let body = request.body_bytes(1 << 20).map_err(|_| Reply::Gone)?;
        let text =
            String::from_utf8(body).map_err(|_| bad_request(name, "request body: not UTF-8"))?;
        (text, "request body")
    } else {
        let raw = request.header_bytes("dropbox-api-arg").ok_or_else(|| {
            bad_request(
                name,
                "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\".",
            )
        })?;
        if !raw.is_ascii() {
            return Err(bad_request(name, "HTTP header \"Dropbox-API-Arg\": could not decode input as JSON (non-ASCII characters must be escaped as \\uXXXX)"));
        }
        (
            String::from_utf8_lossy(raw).into_owned(),
            "HTTP header \"Dropbox-API-Arg\"",
        )
    };
    let text = text.trim();
    let value: Value = if text.is_empty() && route.fields.is_none() {
        Value::Null
    } else {
        serde_json::from_str(text)
            .map_err(|_| bad_request(name, &format!("{origin}: could not decode input as JSON")))?
    };
    match route.fields {
        None if value.is_null() => Ok(value),
        None => Err(bad_request(
            name,
            &format!("{origin}: expected null, got value"),
        )),
        Some(fields) => {
            let Some(map) = value.as_object() else {
                return Err(bad_request(
                    name,
                    &format!("{origin}: expected object, got {}", kind_of(&value)),
                ));
            };
            check_fields(name, origin, map, fields)?;
            if let Some(cursor) = map
                .get("cursor")
                .filter(|_| name.starts_with("files/upload_session"))
            {
                let cursor = cursor.as_object().ok_or_else(|| {
                    bad_request(name, &format!("{origin}: cursor: expected object"))
                })?;
                check_fields(name, origin, cursor, &["session_id", "offset"])?;
            }
            if let Some(commit) = map.get("commit") {
                let commit = commit.as_object().ok_or_else(|| {
                    bad_request(name, &format!("{origin}: commit: expected object"))
                })?;
                check_fields(name, origin, commit, COMMIT_FIELDS)?;
            }
            Ok(value)
        }
    }
}

fn check_fields(
    name: &str,
    origin: &str,
    map: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), Reply> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(bad_request(
            name,
            &format!("{origin}: unknown field '{unknown}'"),
        )),
        None => Ok(()),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// A path argument: `/…` without a trailing slash (or `""` where the root is allowed).
fn path_arg(arg: &Value, key: &str, root_ok: bool) -> Result<String, Reply> {
    let path = arg.get(key).and_then(Value::as_str).unwrap_or_default();
    let ok = (root_ok && path.is_empty())
        || (path.starts_with('/') && !path.ends_with('/') && !path.contains("//"));
    if ok {
        Ok(path.to_string())
    } else {
        Err(Reply::Text(400, format!("Error in call to API function: {key}: '{path}' did not match pattern '(/(.|[\\r\\n])*)?'")))
    }
}

fn account(state: &Mutex<State>) -> Reply {
    let st = lock(state);
    Reply::Json(
        200,
        json!({
            "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            "name": {"given_name": "Backup", "surname": "Robot", "familiar_name": "Backup", "display_name": "Backup Robot", "abbreviated_name": "BR"},
            "email": st.email, "email_verified": true, "disabled": false, "country": "FR", "locale": "en",
            "account_type": {".tag": "basic"}, "root_info": {".tag": "user", "root_namespace_id": "3235641", "home_namespace_id": "3235641"},
        }),
    )
}

fn space(state: &Mutex<State>) -> Reply {
    let st = lock(state);
    let used: u64 = st.files.values().map(|f| f.size).sum();
    Reply::Json(
        200,
        json!({"used": used, "allocation": {".tag": "individual", "allocated": st.allocated}}),
    )
}

/// The entries directly in (or, recursively, under) `folder`; `None` if it does not exist.
fn entries(st: &mut State, folder: &str, recursive: bool) -> Option<Vec<Value>> {
    let prefix = format!("{}/", folder.to_lowercase());
    let mut out = Vec::new();
    let mut folders = std::collections::BTreeSet::new();
    let mut found = folder.is_empty();
    for (key, file) in st.files.iter() {
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        found = true;
        match rest.split_once('/') {
            Some((sub, _)) if !recursive => {
                let display = &file.path_display[..prefix.len() + sub.len()];
                folders.insert(display.to_string());
            }
            _ => out.push(store::file_metadata(file)),
        }
    }
    if !found {
        return None;
    }
    let mut result: Vec<Value> = folders
        .iter()
        .map(|f| store::folder_metadata(st, f))
        .collect();
    result.append(&mut out);
    Some(result)
}

fn page(st: &mut State, mut remaining: Vec<Value>, limit: usize) -> Reply {
    let rest = remaining.split_off(limit.min(remaining.len()));
    let has_more = !rest.is_empty();
    let cursor = st.id("cursor-AAE");
    st.cursors.insert(cursor.clone(), rest);
    Reply::Json(
        200,
        json!({"entries": remaining, "cursor": cursor, "has_more": has_more}),
    )
}

fn list_folder(state: &Mutex<State>, arg: &Value) -> Reply {
    let path = match path_arg(arg, "path", true) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let recursive = arg
        .get("recursive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut st = lock(state);
    let limit = arg
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(st.page_size, |l| (l as usize).min(st.page_size))
        .max(1);
    if st.files.contains_key(&path.to_lowercase()) {
        return route_error(
            "path/not_folder",
            json!({".tag": "path", "path": {".tag": "not_folder"}}),
        );
    }
    match entries(&mut st, &path, recursive) {
        Some(all) => page(&mut st, all, limit),
        None => route_error(
            "path/not_found",
            json!({".tag": "path", "path": {".tag": "not_found"}}),
        ),
    }
}

fn list_continue(state: &Mutex<State>, arg: &Value) -> Reply {
    let cursor = arg
        .get("cursor")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut st = lock(state);
    let limit = st.page_size;
    match st.cursors.remove(cursor) {
        Some(rest) => page(&mut st, rest, limit),
        None => route_error("reset", json!({".tag": "reset"})),
    }
}

fn get_metadata(state: &Mutex<State>, arg: &Value) -> Reply {
    let path = match path_arg(arg, "path", false) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = lock(state);
    if let Some(file) = st.files.get(&path.to_lowercase()) {
        return Reply::Json(200, store::file_metadata(file));
    }
    if entries(&mut st, &path, false).is_some() {
        return Reply::Json(200, store::folder_metadata(&mut st, &path));
    }
    route_error(
        "path/not_found",
        json!({".tag": "path", "path": {".tag": "not_found"}}),
    )
}

fn delete(state: &Mutex<State>, arg: &Value) -> Reply {
    let path = match path_arg(arg, "path", false) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = lock(state);
    let key = path.to_lowercase();
    if let Some(file) = st.files.remove(&key) {
        let _ = fs::remove_file(&file.disk);
        return Reply::Json(200, json!({"metadata": store::file_metadata(&file)}));
    }
    let prefix = format!("{key}/");
    let under: Vec<String> = st
        .files
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .cloned()
        .collect();
    if under.is_empty() {
        return route_error(
            "path_lookup/not_found",
            json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}),
        );
    }
    for k in under {
        if let Some(file) = st.files.remove(&k) {
            let _ = fs::remove_file(&file.disk);
        }
    }
    Reply::Json(
        200,
        json!({"metadata": store::folder_metadata(&mut st, &path)}),
    )
}

fn download(state: &Mutex<State>, arg: &Value) -> Reply {
    let path = match path_arg(arg, "path", false) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let st = lock(state);
    match st.files.get(&path.to_lowercase()) {
        Some(file) => Reply::Download {
            metadata: store::file_metadata(file),
            file: file.disk.clone(),
            size: file.size,
        },
        None => route_error(
            "path/not_found",
            json!({".tag": "path", "path": {".tag": "not_found"}}),
        ),
    }
}

/// Appends the request body to `file`; on a broken body, cuts the file back.
fn receive(request: &mut Request, file: &std::path::Path, keep: u64) -> Result<u64, Reply> {
    let result = OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| io::copy(&mut request.body(), &mut f));
    result.map_err(|_| {
        let _ = OpenOptions::new()
            .write(true)
            .open(file)
            .and_then(|f| f.set_len(keep));
        Reply::Gone
    })
}

/// The commit's `mode` (`add` refuses to replace; `overwrite` and `update` replace),
/// `autorename` and `strict_conflict`.
fn write_mode(commit: &Value) -> Result<WriteMode, Reply> {
    let flag = |key: &str| commit.get(key).and_then(Value::as_bool).unwrap_or(false);
    let add = match commit.get("mode") {
        None => true,
        Some(Value::String(m)) if m == "add" => true,
        Some(Value::String(m)) if m == "overwrite" => false,
        Some(m) if m.get(".tag").and_then(Value::as_str) == Some("update") => false,
        Some(m) => {
            return Err(Reply::Text(
                400,
                format!("Error in call to API function: mode: unknown tag {m}"),
            ))
        }
    };
    Ok(WriteMode {
        add,
        autorename: flag("autorename"),
        strict_conflict: flag("strict_conflict"),
    })
}

fn commit_error(e: CommitError, wrap_session: Option<&str>) -> Reply {
    let (summary, reason) = match e {
        CommitError::Conflict => (
            "path/conflict/file",
            json!({".tag": "conflict", "conflict": {".tag": "file"}}),
        ),
        CommitError::InsufficientSpace => (
            "path/insufficient_space",
            json!({".tag": "insufficient_space"}),
        ),
        CommitError::Io(e) => return Reply::Text(500, e.to_string()),
    };
    match wrap_session {
        None => route_error(summary, json!({".tag": "path", "path": reason})),
        Some(id) => route_error(
            summary,
            json!({".tag": "path", "reason": reason, "upload_session_id": id}),
        ),
    }
}

fn upload(state: &Mutex<State>, request: &mut Request, arg: &Value, corrupt: bool) -> Reply {
    let path = match path_arg(arg, "path", false) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mode = match write_mode(arg) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let temp = store::new_temp(&mut lock(state));
    if let Err(reply) = receive(request, &temp, 0) {
        let _ = fs::remove_file(&temp);
        return reply;
    }
    if let Some(expected) = arg.get("content_hash").and_then(Value::as_str) {
        if store::content_hash_of(&temp).ok().as_deref() != Some(expected) {
            let _ = fs::remove_file(&temp);
            return route_error(
                "content_hash_mismatch",
                json!({".tag": "content_hash_mismatch"}),
            );
        }
    }
    let mut st = lock(state);
    let session_id = st.id("pid_upload_session:");
    match store::commit(&mut st, &temp, &path, mode, corrupt) {
        Ok(metadata) => Reply::Json(200, metadata),
        Err(e) => commit_error(e, Some(&session_id)),
    }
}

fn session_start(state: &Mutex<State>, request: &mut Request, arg: &Value) -> Reply {
    let close = arg.get("close").and_then(Value::as_bool).unwrap_or(false);
    let (id, disk) = {
        let mut st = lock(state);
        (st.id("pid_upload_session:"), store::new_temp(&mut st))
    };
    let Ok(size) = receive(request, &disk, 0) else {
        let _ = fs::remove_file(&disk);
        return Reply::Gone;
    };
    lock(state).sessions.insert(
        id.clone(),
        store::Session {
            disk,
            offset: size,
            closed: close,
        },
    );
    Reply::Json(200, json!({"session_id": id}))
}

/// Checks the cursor against the session; the error union is wrapped in `lookup_failed`
/// for `finish`.
fn check_cursor(
    st: &State,
    arg: &Value,
    wrap: bool,
) -> Result<(String, std::path::PathBuf, u64), Reply> {
    let id = arg["cursor"]["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let offset = arg["cursor"]["offset"].as_u64();
    let fail = |summary: &str, error: Value| {
        if wrap {
            route_error(
                &format!("lookup_failed/{summary}"),
                json!({".tag": "lookup_failed", "lookup_failed": error}),
            )
        } else {
            route_error(summary, error)
        }
    };
    let Some(offset) = offset else {
        return Err(Reply::Text(
            400,
            "Error in call to API function: cursor.offset: missing".into(),
        ));
    };
    let Some(session) = st.sessions.get(&id) else {
        return Err(fail("not_found", json!({".tag": "not_found"})));
    };
    if offset != session.offset {
        return Err(fail(
            "incorrect_offset",
            json!({".tag": "incorrect_offset", "correct_offset": session.offset}),
        ));
    }
    if session.closed && !wrap {
        return Err(fail("closed", json!({".tag": "closed"})));
    }
    Ok((id, session.disk.clone(), session.offset))
}

fn session_append(state: &Mutex<State>, request: &mut Request, arg: &Value) -> Reply {
    let checked = check_cursor(&lock(state), arg, false);
    let (id, disk, offset) = match checked {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let size = match receive(request, &disk, offset) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let mut st = lock(state);
    if let Some(session) = st.sessions.get_mut(&id) {
        session.offset += size;
        session.closed = arg.get("close").and_then(Value::as_bool).unwrap_or(false);
    }
    Reply::Json(200, Value::Null)
}

fn session_finish(
    state: &Mutex<State>,
    request: &mut Request,
    arg: &Value,
    corrupt: bool,
) -> Reply {
    let commit = &arg["commit"];
    let path = match path_arg(commit, "path", false) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mode = match write_mode(commit) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let checked = check_cursor(&lock(state), arg, true);
    let (id, disk, offset) = match checked {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    if let Err(reply) = receive(request, &disk, offset) {
        return reply;
    }
    let mut st = lock(state);
    st.sessions.remove(&id);
    match store::commit(&mut st, &disk, &path, mode, corrupt) {
        Ok(metadata) => Reply::Json(200, metadata),
        Err(e) => commit_error(e, None),
    }
}

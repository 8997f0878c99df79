//! A local, strict stand-in for Odoo's external JSON-RPC API (`POST /jsonrpc`), enough to
//! post into a Discuss channel: `common.version`, `common.authenticate`, and
//! `object.execute_kw` with `search_read`, `search` and `message_post` on the channel
//! model of the configured version (`discuss.channel` from 17 on, `mail.channel` before;
//! the other one does not exist). It follows Odoo 16.0/17.0's source:
//! - `odoo/addons/base/controllers/rpc.py`: the `/jsonrpc` route (`type='json'`) takes
//!   exactly `service`, `method`, `args` from `params`; `odoo/http.py`'s
//!   `JsonRPCDispatcher` wants `Content-Type: application/json`, answers
//!   `{"jsonrpc": "2.0", "id", "result"}`, and turns every exception into HTTP 200 with
//!   `"error": {"code": 200, "message": "Odoo Server Error", "data": {"name", "message",
//!   "arguments", "context", "debug"}}` (`serialize_exception`).
//! - `odoo/service/common.py`: `exp_version` (`RPC_VERSION_1`), `exp_authenticate(db,
//!   login, password, user_agent_env)` → uid, or `False` on `AccessDenied`; an unknown
//!   method is `Exception("Method not found: …")`.
//! - `odoo/service/model.py`: `dispatch` reads `db, int(uid), passwd` and calls
//!   `security.check` first (`AccessDenied`, "Access Denied"), then `execute_kw(db, uid,
//!   obj, method, args, kw)`; an unknown model is `UserError("Object %s doesn't exist")`.
//! - `addons/mail/models/discuss/discuss_channel.py` / `mail_channel.py`: `message_post`
//!   on one record (`ensure_one`: `ValueError("Expected singleton: …")`), keyword
//!   arguments only; a missing record is `MissingError`; a user who is not a member of a
//!   private channel gets `AccessError`.
//!
//! It is stricter than Odoo where Odoo is lenient by accident: the envelope must say
//! `"jsonrpc": "2.0"`, `"method": "call"` and carry an `id`, a domain must be a list of
//! `[field, "=", value]` triples on `id` or `name`. Every request is recorded, every
//! posted message too, for the test to read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

/// The Odoo version the server claims, which decides its channel model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OdooVersion {
    /// 16.0: `mail.channel`.
    V16,
    /// 17.0: `discuss.channel`.
    V17,
}

impl OdooVersion {
    /// The channel model of this version.
    pub fn channel_model(self) -> &'static str {
        match self {
            OdooVersion::V16 => "mail.channel",
            OdooVersion::V17 => "discuss.channel",
        }
    }

    fn major(self) -> u64 {
        match self {
            OdooVersion::V16 => 16,
            OdooVersion::V17 => 17,
        }
    }
}

/// The database the server holds.
pub const DATABASE: &str = "prod";
/// The user who may post, its uid and its API key.
pub const LOGIN: &str = "backup-bot";
/// `LOGIN`'s uid.
pub const UID: u64 = 7;
/// `LOGIN`'s API key.
pub const API_KEY: &str = "0d1e5a7c9b2f4e6a8c0b1d3f5e7a9c1b3d5f7e9a";
/// A public channel `LOGIN` may post in.
pub const CHANNEL: &str = "backups";
/// A private channel `LOGIN` is not a member of.
pub const PRIVATE_CHANNEL: &str = "management";

/// A message posted through `message_post`.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The model it was posted on.
    pub model: String,
    /// The channel's id and name.
    pub channel_id: u64,
    /// The channel's name.
    pub channel: String,
    /// The author's uid.
    pub author: u64,
    /// The `body` keyword argument.
    pub body: String,
    /// The `message_type` keyword argument (Odoo's default: `notification`).
    pub message_type: String,
    /// The `subtype_xmlid` keyword argument, if any.
    pub subtype_xmlid: Option<String>,
}

struct Channel {
    id: u64,
    name: &'static str,
    public: bool,
    members: Vec<u64>,
}

struct State {
    version: OdooVersion,
    channels: Vec<Channel>,
    posted: Vec<Posted>,
    requests: Vec<String>,
    next_message: u64,
}

/// A running stand-in on 127.0.0.1; stopped on drop.
pub struct OdooServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OdooServer {
    /// Starts a server claiming `version`, with database [`DATABASE`], user [`LOGIN`]
    /// ([`API_KEY`]), the public channel [`CHANNEL`] and the private [`PRIVATE_CHANNEL`].
    pub fn start(version: OdooVersion) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Odoo stand-in");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            version,
            channels: vec![
                Channel {
                    id: 1,
                    name: "general",
                    public: true,
                    members: vec![2],
                },
                Channel {
                    id: 4,
                    name: CHANNEL,
                    public: true,
                    members: vec![2, UID],
                },
                Channel {
                    id: 5,
                    name: PRIVATE_CHANNEL,
                    public: false,
                    members: vec![2],
                },
            ],
            posted: Vec::new(),
            requests: Vec::new(),
            next_message: 100,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, s) = (Arc::clone(&state), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve(stream, &st);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        OdooServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`: Odoo's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The messages posted so far.
    pub fn posted(&self) -> Vec<Posted> {
        self.lock().posted.clone()
    }

    /// The bodies of every request received so far.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// Answers one JSON-RPC request body as the server would (without HTTP), for tests of
    /// the stand-in itself.
    pub fn answer(&self, request: &Value) -> Value {
        let mut state = self.lock();
        rpc(&mut state, request)
    }
}

impl Drop for OdooServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP request, answers it, closes the connection.
fn serve(stream: TcpStream, state: &Mutex<State>) -> Option<()> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let (status, reply) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.requests.push(body.clone());
        http_answer(&mut state, &method, &path, header("content-type"), &body)
    };
    let kind = if status == 200 {
        "application/json"
    } else {
        "text/plain"
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(reply.as_bytes()).ok()
}

/// The HTTP status and body for one request.
fn http_answer(
    state: &mut State,
    method: &str,
    path: &str,
    content_type: Option<String>,
    body: &str,
) -> (u16, String) {
    if path != "/jsonrpc" {
        return (404, "404: Not Found".into());
    }
    if method != "POST" {
        return (405, "405: Method Not Allowed".into());
    }
    let mime = content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    if !matches!(mime, Some("application/json" | "application/json-rpc")) {
        return (
            400,
            "400: Bad Request: /jsonrpc is a type='json' route: Content-Type must be application/json".into(),
        );
    }
    let Ok(request) = serde_json::from_str::<Value>(body) else {
        return (400, format!("400: Bad Request: Invalid JSON data:\n{body}"));
    };
    (200, rpc(state, &request).to_string())
}

/// An Odoo exception: the dotted class name and its message.
struct Raise(&'static str, String);

fn type_error(text: impl Into<String>) -> Raise {
    Raise("builtins.TypeError", text.into())
}

/// The JSON-RPC answer to `request`.
fn rpc(state: &mut State, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let result = envelope(request).and_then(|(service, method, args)| match service {
        "common" => common(state, method, args),
        "object" => object(state, method, args),
        "db" => Err(Raise(
            "odoo.exceptions.AccessDenied",
            "Access Denied".into(),
        )),
        other => Err(Raise("builtins.KeyError", format!("'{other}'"))),
    });
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(Raise(name, message)) => json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": 200,
                "message": "Odoo Server Error",
                "data": {
                    "name": name,
                    "message": message,
                    "arguments": [message],
                    "context": {},
                    "debug": format!("Traceback (most recent call last):\n  File \"odoo/http.py\" …\n{name}: {message}\n"),
                },
            },
        }),
    }
}

/// `params.service`, `params.method`, `params.args` of a well-formed envelope.
fn envelope(request: &Value) -> Result<(&str, &str, &[Value]), Raise> {
    if request.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(Raise(
            "werkzeug.exceptions.BadRequest",
            "400 Bad Request: `jsonrpc` must be \"2.0\"".into(),
        ));
    }
    if request.get("method") != Some(&json!("call")) {
        return Err(Raise(
            "werkzeug.exceptions.BadRequest",
            "400 Bad Request: `method` must be \"call\"".into(),
        ));
    }
    if !request
        .get("id")
        .is_some_and(|i| i.is_number() || i.is_string())
    {
        return Err(Raise(
            "werkzeug.exceptions.BadRequest",
            "400 Bad Request: a call needs an `id`".into(),
        ));
    }
    let Some(params) = request.get("params").and_then(Value::as_object) else {
        return Err(type_error(
            "jsonrpc() missing 3 required positional arguments: 'service', 'method', and 'args'",
        ));
    };
    if let Some(extra) = params
        .keys()
        .find(|k| !matches!(k.as_str(), "service" | "method" | "args"))
    {
        return Err(type_error(format!(
            "jsonrpc() got an unexpected keyword argument '{extra}'"
        )));
    }
    let (Some(service), Some(method), Some(args)) = (
        params.get("service").and_then(Value::as_str),
        params.get("method").and_then(Value::as_str),
        params.get("args").and_then(Value::as_array),
    ) else {
        return Err(type_error(
            "jsonrpc() needs `service` and `method` (strings) and `args` (a list)",
        ));
    };
    Ok((service, method, args.as_slice()))
}

fn common(state: &mut State, method: &str, args: &[Value]) -> Result<Value, Raise> {
    match method {
        "version" => {
            if !args.is_empty() {
                return Err(type_error(format!(
                    "exp_version() takes 0 positional arguments but {} were given",
                    args.len()
                )));
            }
            let major = state.version.major();
            Ok(json!({
                "server_version": format!("{major}.0"),
                "server_version_info": [major, 0, 0, "final", 0, ""],
                "server_serie": format!("{major}.0"),
                "protocol_version": 1,
            }))
        }
        "authenticate" => {
            if args.len() != 4 {
                return Err(type_error(format!(
                    "exp_authenticate() takes 4 positional arguments but {} were given",
                    args.len()
                )));
            }
            let (Some(db), Some(login), Some(password)) =
                (args[0].as_str(), args[1].as_str(), args[2].as_str())
            else {
                return Err(type_error(
                    "exp_authenticate(db, login, password, user_agent_env): db, login and password are strings",
                ));
            };
            if !args[3].is_object() {
                return Err(type_error(
                    "exp_authenticate(): user_agent_env must be a dict ({})",
                ));
            }
            check_database(db)?;
            Ok(if login == LOGIN && password == API_KEY {
                json!(UID)
            } else {
                json!(false)
            })
        }
        other => Err(Raise(
            "builtins.Exception",
            format!("Method not found: {other}"),
        )),
    }
}

fn check_database(db: &str) -> Result<(), Raise> {
    if db == DATABASE {
        Ok(())
    } else {
        Err(Raise(
            "psycopg2.OperationalError",
            format!("connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database \"{db}\" does not exist\n"),
        ))
    }
}

fn object(state: &mut State, method: &str, args: &[Value]) -> Result<Value, Raise> {
    if args.len() < 3 {
        return Err(Raise(
            "builtins.IndexError",
            "tuple index out of range".into(),
        ));
    }
    let db = args[0]
        .as_str()
        .ok_or_else(|| type_error("db must be a string"))?;
    // `int(params[1])`: an integer (Odoo also accepts a numeric string; we are strict).
    let uid = args[1].as_u64().ok_or_else(|| {
        Raise(
            "builtins.TypeError",
            format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                py_type(&args[1])
            ),
        )
    })?;
    check_database(db)?;
    // security.check(db, uid, passwd): the key of that very user.
    if !(uid == UID && args[2].as_str() == Some(API_KEY)) {
        return Err(Raise(
            "odoo.exceptions.AccessDenied",
            "Access Denied".into(),
        ));
    }
    let rest = &args[3..];
    match method {
        "execute_kw" => {}
        "execute" => {
            return Err(Raise(
                "builtins.NotImplementedError",
                "the stand-in speaks execute_kw only".into(),
            ))
        }
        other => {
            return Err(Raise(
                "builtins.NameError",
                format!("Method not available {other}"),
            ))
        }
    }
    if !(3..=4).contains(&rest.len()) {
        return Err(type_error(format!(
            "execute_kw() takes from 6 to 7 positional arguments but {} were given",
            rest.len() + 3
        )));
    }
    let (Some(model), Some(method), Some(pos)) =
        (rest[0].as_str(), rest[1].as_str(), rest[2].as_array())
    else {
        return Err(type_error(
            "execute_kw(db, uid, password, model, method, args, kw): model and method are strings, args a list",
        ));
    };
    let kw = match rest.get(3) {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(kw)) => kw.clone(),
        Some(other) => {
            return Err(type_error(format!(
                "execute_kw(): kw must be a dict, not {}",
                py_type(other)
            )))
        }
    };
    let channel_model = state.version.channel_model();
    if model != channel_model {
        return Err(Raise(
            "odoo.exceptions.UserError",
            format!("Object {model} doesn't exist"),
        ));
    }
    match method {
        "search_read" | "search" => search(state, model, method, pos, &kw),
        "message_post" => message_post(state, model, pos, &kw),
        other if other.starts_with('_') => Err(Raise(
            "odoo.exceptions.AccessError",
            format!("Private methods (such as '{model}.{other}') cannot be called remotely."),
        )),
        other => Err(Raise(
            "builtins.AttributeError",
            format!("The method '{model}.{other}' does not exist"),
        )),
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Channels `UID` can read: public ones and those it is a member of.
fn visible(state: &State) -> impl Iterator<Item = &Channel> {
    state
        .channels
        .iter()
        .filter(|c| c.public || c.members.contains(&UID))
}

fn search(
    state: &State,
    model: &str,
    method: &str,
    pos: &[Value],
    kw: &serde_json::Map<String, Value>,
) -> Result<Value, Raise> {
    let allowed: &[&str] = if method == "search_read" {
        &["domain", "fields", "offset", "limit", "order"]
    } else {
        &["domain", "offset", "limit", "order", "count"]
    };
    if let Some(extra) = kw.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(type_error(format!(
            "{method}() got an unexpected keyword argument '{extra}'"
        )));
    }
    let domain = match (pos, kw.get("domain")) {
        ([d], None) => d,
        ([], Some(d)) => d,
        ([_], Some(_)) => {
            return Err(type_error(format!(
                "{method}() got multiple values for argument 'domain'"
            )))
        }
        _ => {
            return Err(type_error(format!(
                "{method}() takes a domain as its only positional argument, got {} arguments",
                pos.len()
            )))
        }
    };
    let Some(leaves) = domain.as_array() else {
        return Err(Raise(
            "builtins.ValueError",
            format!("Invalid domain {domain}: a domain is a list"),
        ));
    };
    let mut conditions = Vec::new();
    for leaf in leaves {
        let triple = leaf.as_array().filter(|t| t.len() == 3);
        let Some(t) = triple else {
            return Err(Raise("builtins.ValueError", format!("Invalid leaf {leaf}")));
        };
        let (Some(field), Some(op)) = (t[0].as_str(), t[1].as_str()) else {
            return Err(Raise("builtins.ValueError", format!("Invalid leaf {leaf}")));
        };
        if !matches!(field, "id" | "name") {
            return Err(Raise(
                "builtins.ValueError",
                format!("Invalid field {model}.{field} in leaf {leaf}"),
            ));
        }
        if op != "=" {
            return Err(Raise(
                "builtins.ValueError",
                format!("the stand-in knows the operator '=' only, not {op:?}"),
            ));
        }
        conditions.push((field, t[2].clone()));
    }
    let fields: Vec<String> = match kw.get("fields") {
        None => vec!["name".into()],
        Some(Value::Array(f)) if f.iter().all(Value::is_string) => f
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(other) => {
            return Err(type_error(format!(
                "fields must be a list of field names, not {other}"
            )))
        }
    };
    if let Some(bad) = fields.iter().find(|f| !matches!(f.as_str(), "id" | "name")) {
        return Err(Raise(
            "builtins.ValueError",
            format!("Invalid field '{bad}' on model '{model}'"),
        ));
    }
    let limit = match kw.get("limit") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => usize::MAX,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| type_error("limit must be an integer"))? as usize,
    };
    let rows: Vec<&Channel> = visible(state)
        .filter(|c| {
            conditions.iter().all(|(field, value)| match *field {
                "id" => value.as_u64() == Some(c.id),
                _ => value.as_str() == Some(c.name),
            })
        })
        .take(limit)
        .collect();
    Ok(if method == "search" {
        json!(rows.iter().map(|c| c.id).collect::<Vec<_>>())
    } else {
        json!(rows
            .iter()
            .map(|c| {
                let mut row = serde_json::Map::new();
                row.insert("id".into(), json!(c.id));
                if fields.iter().any(|f| f == "name") {
                    row.insert("name".into(), json!(c.name));
                }
                Value::Object(row)
            })
            .collect::<Vec<_>>())
    })
}

fn message_post(
    state: &mut State,
    model: &str,
    pos: &[Value],
    kw: &serde_json::Map<String, Value>,
) -> Result<Value, Raise> {
    // `call_kw` takes the ids as the first positional argument; `message_post` has no
    // other positional one (`def message_post(self, *, …)`).
    let ids: Vec<u64> = match pos {
        [Value::Array(ids)] => ids.iter().filter_map(Value::as_u64).collect(),
        [Value::Number(n)] => n.as_u64().into_iter().collect(),
        [] => {
            return Err(type_error(format!(
                "{model}.message_post() needs the record ids as its first argument"
            )))
        }
        _ => {
            return Err(type_error(format!(
                "message_post() takes 1 positional argument but {} were given",
                pos.len()
            )))
        }
    };
    if ids.len() != 1 {
        return Err(Raise(
            "builtins.ValueError",
            format!(
                "Expected singleton: {model}({})",
                ids.iter().map(|i| format!("{i},")).collect::<String>()
            ),
        ));
    }
    let allowed = [
        "body",
        "subject",
        "message_type",
        "subtype_xmlid",
        "subtype_id",
        "partner_ids",
        "attachment_ids",
        "body_is_html",
    ];
    if let Some(extra) = kw.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(type_error(format!(
            "message_post() got an unexpected keyword argument '{extra}'"
        )));
    }
    let text = |key: &str| kw.get(key).and_then(Value::as_str).map(String::from);
    if kw.get("body").is_some_and(|b| !b.is_string()) {
        return Err(type_error("message_post(): body must be a string"));
    }
    let message_type = text("message_type").unwrap_or_else(|| "notification".into());
    if !matches!(
        message_type.as_str(),
        "comment" | "notification" | "email" | "user_notification" | "auto_comment"
    ) {
        return Err(Raise(
            "builtins.ValueError",
            format!("Wrong value for mail.message.message_type: '{message_type}'"),
        ));
    }
    let subtype_xmlid = text("subtype_xmlid");
    if let Some(x) = &subtype_xmlid {
        if !matches!(x.as_str(), "mail.mt_comment" | "mail.mt_note") {
            return Err(Raise(
                "builtins.ValueError",
                format!("External ID not found in the system: {x}"),
            ));
        }
    }
    let id = ids[0];
    let Some(channel) = state.channels.iter().find(|c| c.id == id) else {
        return Err(Raise(
            "odoo.exceptions.MissingError",
            format!(
                "Record does not exist or has been deleted.\n(Record: {model}({id},), User: {UID})"
            ),
        ));
    };
    if !channel.public && !channel.members.contains(&UID) {
        return Err(Raise(
            "odoo.exceptions.AccessError",
            format!(
                "The requested operation can not be completed due to security restrictions.\n\n\
                 Document type: Discussion Channel ({model})\nOperation: read\nUser: {UID}\n\
                 Records: {}, … ({model}: {id}, …)",
                channel.name
            ),
        ));
    }
    let posted = Posted {
        model: model.to_string(),
        channel_id: id,
        channel: channel.name.to_string(),
        author: UID,
        body: text("body").unwrap_or_default(),
        message_type,
        subtype_xmlid,
    };
    state.posted.push(posted);
    state.next_message += 1;
    Ok(json!(state.next_message))
}

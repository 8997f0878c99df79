//! Odoo channel: each event as a message in an Odoo Discuss channel, as the Odoo add-on
//! this program replaces posted them, through Odoo's external JSON-RPC API at
//! `<url>/jsonrpc`.
//!
//! One notification is four calls, each a JSON-RPC 2.0 `call` with `params` =
//! `{service, method, args}`:
//! 1. `common.version` → `server_version_info`: the channel model is `discuss.channel`
//!    from Odoo 17 on, `mail.channel` before ([`channel_model`]). When the version cannot
//!    be read (a `saas~` or patched build we do not recognise) `discuss.channel` is tried
//!    first; whichever model the server says does not exist (`Object … doesn't exist`),
//!    the other one is tried once.
//! 2. `common.authenticate` `[db, login, api_key, {}]` → the user id, or `false` when the
//!    login or the key is wrong (Odoo turns `AccessDenied` into `false` there).
//! 3. `object.execute_kw` `[db, uid, api_key, model, "search_read",
//!    [[["name", "=", channel]]], {"fields": ["name"], "limit": 2}]` → the channel's id.
//! 4. `object.execute_kw` `[db, uid, api_key, model, "message_post", [[id]],
//!    {"body", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"}]`.
//!
//! Followed in Odoo's source (odoo/odoo, 16.0–17.0): `odoo/service/common.py`
//! (`exp_version`, `exp_authenticate` returning `False` on `AccessDenied`),
//! `odoo/service/model.py` (`dispatch`: `security.check(db, uid, passwd)` first, then
//! `execute_kw(db, uid, obj, method, args, kw)`; `UserError("Object %s doesn't exist")`
//! for an unknown model), `odoo/http.py` (`JsonRPCDispatcher.handle_error` and
//! `serialize_exception`: an error is HTTP 200 with `{"jsonrpc": "2.0", "id", "error":
//! {"code": 200, "message": "Odoo Server Error", "data": {"name", "message", "arguments",
//! "context", "debug"}}}`), `odoo/addons/base/controllers/rpc.py` (the `/jsonrpc` route,
//! `dispatch_rpc(service, method, args)`), and `addons/mail/models/discuss/
//! discuss_channel.py` / `addons/mail/models/mail_channel.py` (`message_post(self, *,
//! message_type='notification', **kwargs)` on one channel record).
//!
//! The body is HTML (Odoo stores message bodies as sanitised HTML): the event's subject
//! in bold, then its text, escaped, one `<br>` a line. Every text is masked before it is
//! escaped; the API key is sent to Odoo only, never logged, and an error never quotes
//! Odoo's `debug` traceback. Each call has a 30 s timeout; a connection error, a timeout,
//! a 5xx or a 429 is retried 3 times (after 0.5, 1 and 2 s), except that a
//! `message_post` whose request may have reached Odoo is not sent twice.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Event, NotifyError};
use crate::config::OdooNotifyConfig;
use crate::web::html::escape;

const CHANNEL: &str = "odoo";

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Pauses before the retries of a call that failed transiently.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// The Discuss channel model of Odoo 17 and later.
pub const DISCUSS_CHANNEL: &str = "discuss.channel";
/// The channel model before Odoo 17.
pub const MAIL_CHANNEL: &str = "mail.channel";

/// The channel model of a server whose `common.version` said `server_version_info`:
/// `Some("discuss.channel")` from 17 on, `Some("mail.channel")` before, `None` when the
/// major version cannot be read. Odoo's `version_info` starts with the major version, a
/// number (`[17, 0, 0, "final", 0, ""]`) or, on Odoo Online builds, `"saas~17"`.
pub fn channel_model(version_info: &Value) -> Option<&'static str> {
    let major = match version_info.get(0)? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.strip_prefix("saas~").unwrap_or(s).parse().ok()?,
        _ => return None,
    };
    Some(if major >= 17 {
        DISCUSS_CHANNEL
    } else {
        MAIL_CHANNEL
    })
}

/// The message body for `event`: its subject in bold and its text, HTML-escaped, secrets
/// masked.
pub fn body(event: &Event) -> String {
    let subject = escape(&crate::redact::scrub(&event.subject()));
    let text = event.text();
    let lines: Vec<String> = text.trim_end().lines().map(escape).collect();
    format!("<p><b>{subject}</b></p><p>{}</p>", lines.join("<br>"))
}

/// An error object of Odoo's JSON-RPC answer: `data.name` (the exception's class, e.g.
/// `odoo.exceptions.AccessDenied`) and `data.message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooFault {
    /// The exception's dotted class name.
    pub name: String,
    /// Its message.
    pub message: String,
}

impl OdooFault {
    /// Reads the `error` member of an answer (never its `debug` traceback).
    pub fn from_error(error: &Value) -> OdooFault {
        let data = error.get("data");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        OdooFault {
            name: text(data.and_then(|d| d.get("name"))).unwrap_or_else(|| "?".into()),
            message: text(data.and_then(|d| d.get("message")))
                .or_else(|| text(error.get("message")))
                .unwrap_or_default(),
        }
    }

    /// The class name without its module: `AccessDenied`.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    /// Whether Odoo said the model does not exist (`UserError("Object %s doesn't exist")`).
    fn unknown_model(&self) -> bool {
        self.message.starts_with("Object ") && self.message.ends_with("doesn't exist")
    }
}

/// Why one call failed.
enum CallError {
    /// Odoo answered with a JSON-RPC error.
    Fault(OdooFault),
    /// No usable answer (HTTP, connection, not JSON-RPC); the text says what.
    Transport(String),
}

/// A JSON-RPC client of one Odoo server.
struct Client {
    http: reqwest::blocking::Client,
    endpoint: reqwest::Url,
    /// `scheme://host[:port]`, for messages.
    shown: String,
    next_id: u64,
}

impl Client {
    fn new(config: &OdooNotifyConfig) -> Result<Client, NotifyError> {
        let base = reqwest::Url::parse(&config.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                NotifyError::new(
                    CHANNEL,
                    "`notify.odoo.url` is not an http:// or https:// URL",
                )
            })?;
        let shown = format!(
            "{}://{}{}",
            base.scheme(),
            base.host_str().unwrap_or("?"),
            base.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let endpoint = base
            .join(&format!("{}/jsonrpc", base.path().trim_end_matches('/')))
            .map_err(|e| NotifyError::new(CHANNEL, format!("`notify.odoo.url`: {e}")))?;
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("sauvegarde/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                NotifyError::new(CHANNEL, format!("cannot create the HTTP client: {e}"))
            })?;
        Ok(Client {
            http,
            endpoint,
            shown,
            next_id: 0,
        })
    }

    /// Calls `service.method(args)`; `repeatable` says whether a call that may have
    /// reached the server may be sent again.
    fn call(
        &mut self,
        service: &str,
        method: &str,
        args: Value,
        repeatable: bool,
    ) -> Result<Value, CallError> {
        self.next_id += 1;
        let request = json!({
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": self.next_id,
        });
        let shown = &self.shown;
        let mut attempt = 0;
        loop {
            let result = self.http.post(self.endpoint.clone()).json(&request).send();
            let (problem, transient) = match result {
                Ok(r) if r.status().is_success() => {
                    let answer: Value = r.json().map_err(|e| {
                        CallError::Transport(format!(
                            "{shown}/jsonrpc did not answer JSON ({}); is `notify.odoo.url` Odoo's address?",
                            e.without_url()
                        ))
                    })?;
                    return read_answer(&answer, self.next_id, shown);
                }
                Ok(r) => {
                    let s = r.status();
                    (
                        format!("{shown}/jsonrpc answered {s}"),
                        s.is_server_error() || s == reqwest::StatusCode::TOO_MANY_REQUESTS,
                    )
                }
                Err(e) => {
                    let transient = repeatable || e.is_connect();
                    (
                        format!("{service}.{method} to {shown} failed: {}", e.without_url()),
                        transient,
                    )
                }
            };
            match BACKOFF.get(attempt) {
                Some(pause) if transient => {
                    tracing::debug!(url = shown, "{problem}; retrying in {pause:?}");
                    std::thread::sleep(*pause);
                    attempt += 1;
                }
                _ => {
                    return Err(CallError::Transport(format!(
                        "{problem} (after {} attempt(s))",
                        attempt + 1
                    )))
                }
            }
        }
    }
}

/// The `result` of a JSON-RPC answer, or its error.
fn read_answer(answer: &Value, id: u64, shown: &str) -> Result<Value, CallError> {
    if answer.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
        || answer.get("id").and_then(Value::as_u64) != Some(id)
    {
        return Err(CallError::Transport(format!(
            "{shown}/jsonrpc did not answer as Odoo's JSON-RPC does (no `jsonrpc: 2.0` or not our id)"
        )));
    }
    if let Some(error) = answer.get("error") {
        return Err(CallError::Fault(OdooFault::from_error(error)));
    }
    answer.get("result").cloned().ok_or_else(|| {
        CallError::Transport(format!(
            "{shown}/jsonrpc answered neither a result nor an error"
        ))
    })
}

/// Posts `event` into the configured channel. Blocking.
pub fn send(config: &OdooNotifyConfig, event: &Event) -> Result<(), NotifyError> {
    let mut client = Client::new(config)?;
    let shown = client.shown.clone();
    let at = |what: &str, e: CallError| -> NotifyError {
        NotifyError::new(
            CHANNEL,
            match e {
                CallError::Transport(text) => format!("{what}: {text}"),
                CallError::Fault(f) => format!(
                    "{what}: Odoo at {shown} answered {}: {}",
                    f.short_name(),
                    f.message
                ),
            },
        )
    };
    let db = config.database.as_str();
    let key = config.api_key.as_str();

    let version = client
        .call("common", "version", json!([]), true)
        .map_err(|e| at("reading the server version", e))?;
    let known = channel_model(&version["server_version_info"]);
    if known.is_none() {
        tracing::debug!(
            url = shown,
            "Odoo version not recognised: trying both channel models"
        );
    }

    let uid = match client.call(
        "common",
        "authenticate",
        json!([db, config.login, key, {}]),
        true,
    ) {
        Ok(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => n,
        Ok(_) => {
            return Err(NotifyError::new(
                CHANNEL,
                format!(
                    "authentication failed: Odoo at {shown} refused login `{}` on database `{db}` \
                     with the configured API key; check `notify.odoo.login`, `database` and the key in \
                     `api_key_file` (Preferences → Account Security → New API Key)",
                    config.login
                ),
            ))
        }
        Err(CallError::Fault(f)) if f.short_name() == "AccessDenied" => {
            return Err(NotifyError::new(
                CHANNEL,
                format!(
                    "authentication failed: Odoo at {shown} answered AccessDenied for login `{}` on database `{db}`: {}",
                    config.login, f.message
                ),
            ))
        }
        Err(e) => return Err(at("authentication", e)),
    };

    let first = known.unwrap_or(DISCUSS_CHANNEL);
    let other = if first == DISCUSS_CHANNEL {
        MAIL_CHANNEL
    } else {
        DISCUSS_CHANNEL
    };
    let mut search = |model: &str| {
        client.call(
            "object",
            "execute_kw",
            json!([db, uid, key, model, "search_read",
                   [[["name", "=", config.channel]]],
                   {"fields": ["name"], "limit": 2}]),
            true,
        )
    };
    let finding = format!("finding channel `{}`", config.channel);
    let (model, rows) = match search(first) {
        Ok(rows) => (first, rows),
        Err(CallError::Fault(f)) if f.unknown_model() => {
            tracing::debug!(url = shown, "{}: trying {other}", f.message);
            match search(other) {
                Ok(rows) => (other, rows),
                Err(CallError::Fault(g)) if g.unknown_model() => {
                    return Err(NotifyError::new(
                        CHANNEL,
                        format!(
                            "Odoo at {shown} has neither `{DISCUSS_CHANNEL}` nor `{MAIL_CHANNEL}`: \
                             is the Discuss app installed on database `{db}`?"
                        ),
                    ))
                }
                Err(e) => return Err(at(&finding, e)),
            }
        }
        Err(e) => return Err(at(&finding, e)),
    };
    let ids: Vec<u64> = rows
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["id"].as_u64()).collect())
        .unwrap_or_default();
    let Some(&channel_id) = ids.first() else {
        return Err(NotifyError::new(
            CHANNEL,
            format!(
                "no Discuss channel named `{}` that login `{}` can see on database `{db}` at {shown} ({model}); \
                 check `notify.odoo.channel` and that the user is a member of the channel",
                config.channel, config.login
            ),
        ));
    };
    if ids.len() > 1 {
        tracing::warn!(
            channel = config.channel,
            "several Odoo channels have this name: posting in the first (id {channel_id})"
        );
    }

    let posted = client
        .call(
            "object",
            "execute_kw",
            json!([db, uid, key, model, "message_post", [[channel_id]],
                   {"body": body(event), "message_type": "comment", "subtype_xmlid": "mail.mt_comment"}]),
            false,
        )
        .map_err(|e| at(&format!("posting in channel `{}`", config.channel), e))?;
    tracing::info!(
        job = event.job,
        url = shown,
        channel = config.channel,
        message = %posted,
        "notification posted in Odoo"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::tests::event;

    #[test]
    fn the_channel_model_follows_the_major_version() {
        let table = [
            (json!([17, 0, 0, "final", 0, ""]), Some(DISCUSS_CHANNEL)),
            (json!([18, 0, 0, "final", 0, ""]), Some(DISCUSS_CHANNEL)),
            (
                json!(["saas~17", 4, 0, "final", 0, ""]),
                Some(DISCUSS_CHANNEL),
            ),
            (json!([16, 0, 0, "final", 0, ""]), Some(MAIL_CHANNEL)),
            (json!(["saas~16", 3, 0, "final", 0, ""]), Some(MAIL_CHANNEL)),
            (json!([14, 0]), Some(MAIL_CHANNEL)),
            (json!(["master"]), None),
            (json!([]), None),
            (json!(null), None),
        ];
        for (info, model) in table {
            assert_eq!(channel_model(&info), model, "{info}");
        }
    }

    #[test]
    fn the_body_is_escaped_html_with_masked_secrets() {
        crate::redact::register("odoo-unit-secret-41b");
        let e = event("pg_dump: <fatal> password odoo-unit-secret-41b & more");
        let b = body(&e);
        assert!(
            b.starts_with("<p><b>[sauvegarde] Production: backup FAILED on h</b></p><p>"),
            "{b}"
        );
        assert!(
            b.contains("pg_dump: &lt;fatal&gt; password *** &amp; more"),
            "{b}"
        );
        assert!(
            b.contains("Job:       Production (prod)<br>Database:  prod<br>"),
            "{b}"
        );
        assert!(!b.contains("odoo-unit-secret-41b"), "{b}");
        assert!(!b.contains('\n'), "{b}");
    }

    #[test]
    fn odoo_errors_are_read_without_their_traceback() {
        let error = json!({
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": "odoo.exceptions.UserError",
                "message": "Object discuss.channel doesn't exist",
                "arguments": ["Object discuss.channel doesn't exist"],
                "context": {},
                "debug": "Traceback (most recent call last): …",
            }
        });
        let f = OdooFault::from_error(&error);
        assert_eq!(f.short_name(), "UserError");
        assert!(f.unknown_model());
        let f = OdooFault::from_error(&json!({"code": 404, "message": "404: Not Found"}));
        assert_eq!(f.message, "404: Not Found");
        assert!(!f.unknown_model());
    }

    #[test]
    fn a_bad_url_is_an_error_naming_the_key() {
        let config = OdooNotifyConfig {
            url: "ftp://odoo.example.org".into(),
            database: "prod".into(),
            login: "bot".into(),
            api_key: "k".into(),
            channel: "backups".into(),
        };
        let e = send(&config, &event("x")).unwrap_err().to_string();
        assert!(e.starts_with("odoo notification failed"), "{e}");
        assert!(e.contains("notify.odoo.url"), "{e}");
    }
}

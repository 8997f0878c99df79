//! Turns Dropbox's answers and transport failures into [`PluginError`]s of the right kind.

use sauvegarde_plugin_api::PluginError;
use serde_json::Value;

/// A route error (HTTP 409) or auth error (401) body: `{"error_summary", "error": {".tag"…}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The `error_summary` text, e.g. `path/not_found/..`.
    pub summary: String,
    /// The `error` union.
    pub error: Value,
}

impl ApiError {
    /// Parses an error body; `None` if it is not Dropbox's JSON error shape.
    pub fn parse(body: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(body).ok()?;
        let error = value.get("error")?.clone();
        let summary = value
            .get("error_summary")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| tags(&error).join("/"));
        Some(ApiError { summary, error })
    }

    /// The chain of union tags, outermost first: `["path", "not_found"]`.
    pub fn tags(&self) -> Vec<String> {
        tags(&self.error)
    }

    /// Whether any union inside the error carries `tag` (Dropbox nests them under the
    /// variant's name or under fields such as `reason`).
    pub fn has(&self, tag: &str) -> bool {
        has_tag(&self.error, tag)
    }

    /// The `correct_offset` of an `incorrect_offset` error, at any depth.
    pub fn correct_offset(&self) -> Option<u64> {
        find_key(&self.error, "correct_offset").and_then(Value::as_u64)
    }
}

/// Follows `{".tag": t, t: {…}}` nesting and collects the tags.
fn tags(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = value;
    loop {
        match current {
            Value::String(tag) => {
                out.push(tag.clone());
                break;
            }
            Value::Object(map) => match map.get(".tag").and_then(Value::as_str) {
                Some(tag) => {
                    out.push(tag.to_string());
                    match map.get(tag) {
                        Some(inner) => current = inner,
                        None => break,
                    }
                }
                None => break,
            },
            _ => break,
        }
    }
    out
}

fn has_tag(value: &Value, tag: &str) -> bool {
    match value {
        Value::String(t) => t == tag,
        Value::Object(map) => map.iter().any(|(k, v)| {
            (k == ".tag" && v.as_str() == Some(tag)) || (k != ".tag" && has_tag(v, tag))
        }),
        _ => false,
    }
}

fn find_key<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        _ => None,
    }
}

/// Maps a 409 route error of an operation (`what`, e.g. "upload of /a/b.zip") to an error.
pub fn route_error(what: &str, err: &ApiError) -> PluginError {
    let message = format!("Dropbox refused the {what}: {}", err.summary);
    if err.has("not_found") {
        PluginError::not_found(message)
    } else if err.has("insufficient_space") {
        PluginError::quota(format!(
            "{message}; the Dropbox account is full: free space or upgrade the plan"
        ))
    } else if err.has("no_write_permission")
        || err.has("restricted_content")
        || err.has("disallowed_name")
        || err.has("team_folder")
    {
        PluginError::permission(format!("{message}; check the folder and the app's access"))
    } else if err.has("too_many_write_operations") || err.has("internal_error") {
        PluginError::transient(message)
    } else {
        PluginError::other(message)
    }
}

/// Maps a 401 body (other than an expired token, which is refreshed) to an auth error.
pub fn auth_error(what: &str, body: &str) -> PluginError {
    match ApiError::parse(body) {
        Some(err) if err.has("missing_scope") => {
            let scope = find_key(&err.error, "required_scope")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)");
            PluginError::auth(format!(
                "Dropbox refused the {what}: the app lacks the permission scope `{scope}`; \
                 enable it in the app console (Permissions tab), then run \
                 `sauvegarde-dropbox-auth` again to get a refresh token that carries it"
            ))
        }
        Some(err) => PluginError::auth(format!(
            "Dropbox refused the {what}: {} (the access was rejected; check the app key and \
             refresh token)",
            err.summary
        )),
        None => PluginError::auth(format!("Dropbox refused the {what}: HTTP 401")),
    }
}

/// Maps a transport failure (no HTTP answer) to `connect` or `transient`.
pub fn transport_error(what: &str, host: &str, err: &reqwest::Error) -> PluginError {
    let mut detail = err.without_url_ref();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    if err.is_connect() {
        PluginError::connect(format!(
            "could not connect to {host} for the {what}: {detail}; check the network and the \
             configured URL"
        ))
    } else if err.is_timeout() {
        PluginError::transient(format!("the {what} timed out talking to {host}: {detail}"))
    } else {
        PluginError::transient(format!(
            "the connection to {host} failed during the {what}: {detail}"
        ))
    }
}

/// `reqwest::Error`'s own message without its URL.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_connect() {
            "connection failed".into()
        } else if self.is_timeout() {
            "timed out".into()
        } else if self.is_body() {
            "request or response body error".into()
        } else if self.is_decode() {
            "could not decode the answer".into()
        } else {
            "request failed".into()
        }
    }
}

/// The host part of a URL, for messages.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauvegarde_plugin_api::ErrorKind;

    #[test]
    fn nested_tags_and_offsets_are_found() {
        let err = ApiError::parse(
            r#"{"error_summary":"lookup_failed/incorrect_offset/..","error":{".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":8388608}}}"#,
        )
        .unwrap();
        assert_eq!(err.tags(), ["lookup_failed", "incorrect_offset"]);
        assert_eq!(err.correct_offset(), Some(8388608));
    }

    #[test]
    fn kinds_follow_the_error_tags() {
        let nf = ApiError::parse(
            r#"{"error_summary":"path/not_found/.","error":{".tag":"path","path":{".tag":"not_found"}}}"#,
        )
        .unwrap();
        assert_eq!(route_error("x", &nf).kind(), ErrorKind::NotFound);
        let full = ApiError::parse(
            r#"{"error_summary":"path/insufficient_space/","error":{".tag":"path","reason":{".tag":"insufficient_space"},"path":{".tag":"insufficient_space"}}}"#,
        )
        .unwrap();
        assert_eq!(route_error("x", &full).kind(), ErrorKind::Quota);
        let scope = auth_error(
            "x",
            r#"{"error_summary":"missing_scope/","error":{".tag":"missing_scope","required_scope":"files.content.write"}}"#,
        );
        assert_eq!(scope.kind(), ErrorKind::Auth);
        assert!(scope.message().contains("files.content.write"), "{scope}");
    }

    #[test]
    fn host_is_extracted() {
        assert_eq!(
            host_of("https://api.dropboxapi.com/2"),
            "api.dropboxapi.com"
        );
        assert_eq!(host_of("http://127.0.0.1:80/oauth2/token"), "127.0.0.1:80");
    }
}

//! OAuth2: the authorization step (played by the test), the token endpoint, and checking
//! bearer tokens on API calls.

use std::sync::Mutex;
use std::time::Instant;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::http::Request;
use super::{Fault, State, APP_KEY, APP_SECRET};

/// The scopes the test app has unless one is removed.
pub const ALL_SCOPES: &[&str] = &[
    "account_info.read",
    "files.metadata.read",
    "files.content.read",
    "files.content.write",
];

/// A refresh token's record.
pub struct Grant {
    /// Issued through PKCE: refreshing needs no client secret.
    pub pkce: bool,
    /// Revoked by the user.
    pub revoked: bool,
}

/// An authorization code's record.
pub struct Code {
    /// The S256 challenge, for PKCE.
    pub challenge: Option<String>,
    /// Codes are single-use.
    pub used: bool,
}

/// Checks an authorize URL like Dropbox's consent page would, and issues a code.
pub fn approve(state: &mut State, url: &str) -> Result<String, String> {
    let url = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if url.path() != "/oauth2/authorize" {
        return Err(format!("wrong authorize path {}", url.path()));
    }
    let params: std::collections::HashMap<String, String> =
        url.query_pairs().into_owned().collect();
    let get = |k: &str| params.get(k).map(String::as_str);
    if get("client_id") != Some(APP_KEY) {
        return Err("unknown client_id".into());
    }
    if get("response_type") != Some("code") {
        return Err("response_type must be code".into());
    }
    if get("token_access_type") != Some("offline") {
        return Err("token_access_type=offline is needed for a refresh token".into());
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) if c.len() >= 43 => Some(c.to_string()),
        (Some(_), _) => return Err("code_challenge needs code_challenge_method=S256".into()),
        (None, None) => None,
        (None, Some(_)) => return Err("code_challenge_method without code_challenge".into()),
    };
    let code = state.id("code-");
    state.codes.insert(
        code.clone(),
        Code {
            challenge,
            used: false,
        },
    );
    Ok(code)
}

fn oauth_error(request: Request, error: &str, description: &str) {
    let body = json!({"error": error, "error_description": description}).to_string();
    request.respond(
        400,
        &[("Content-Type", "application/json".into())],
        body.as_bytes(),
    );
}

/// `POST /oauth2/token`.
pub fn token(state: &Mutex<State>, mut request: Request) {
    if request.method != "POST" {
        return request.respond(405, &[], b"use POST");
    }
    let content_type = request.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return request.respond(
            400,
            &[],
            b"Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let Ok(body) = request.body_bytes(1 << 16) else {
        return;
    };
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let mut client_id = form.get("client_id").cloned();
    let mut secret = form.get("client_secret").cloned();
    if let Some(basic) = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic ").map(str::to_string))
    {
        let decoded = STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((id, s)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            client_id = Some(id.to_string());
            secret = Some(s.to_string());
        }
    }
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    if st
        .take_fault("oauth2/token", |f| f == Fault::InvalidGrant)
        .is_some()
    {
        drop(st);
        return oauth_error(
            request,
            "invalid_grant",
            "refresh token is invalid or revoked",
        );
    }
    if client_id.as_deref() != Some(APP_KEY) || secret.as_deref().is_some_and(|s| s != APP_SECRET) {
        drop(st);
        return oauth_error(
            request,
            "invalid_client",
            "Invalid client_id or client_secret",
        );
    }
    let lifetime = st.token_lifetime;
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {
            let grant = form
                .get("refresh_token")
                .and_then(|t| st.refresh_tokens.get(t));
            let ok = match grant {
                Some(g) if !g.revoked => g.pkce || secret.is_some(),
                _ => false,
            };
            if !ok {
                drop(st);
                return oauth_error(
                    request,
                    "invalid_grant",
                    "refresh token is invalid or revoked",
                );
            }
            let access = st.id("sl.access-");
            st.access_tokens
                .insert(access.clone(), Instant::now() + lifetime);
            st.stats.refreshes += 1;
            drop(st);
            let body = json!({"access_token": access, "token_type": "bearer", "expires_in": lifetime.as_secs()});
            request.respond(
                200,
                &[("Content-Type", "application/json".into())],
                body.to_string().as_bytes(),
            );
        }
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let verifier = form.get("code_verifier").cloned();
            let valid = match st.codes.get_mut(&code) {
                Some(c) if !c.used => {
                    c.used = true;
                    match (&c.challenge, &verifier) {
                        (Some(ch), Some(v)) => {
                            URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == *ch
                        }
                        (None, None) => secret.is_some(),
                        _ => false,
                    }
                }
                _ => false,
            };
            if !valid {
                drop(st);
                return oauth_error(
                    request,
                    "invalid_grant",
                    "code doesn't exist or has expired",
                );
            }
            let refresh = st.id("refresh-");
            st.refresh_tokens.insert(
                refresh.clone(),
                Grant {
                    pkce: verifier.is_some(),
                    revoked: false,
                },
            );
            let access = st.id("sl.access-");
            st.access_tokens
                .insert(access.clone(), Instant::now() + lifetime);
            st.stats.code_exchanges += 1;
            drop(st);
            let body = json!({
                "access_token": access, "token_type": "bearer", "expires_in": lifetime.as_secs(),
                "refresh_token": refresh, "scope": ALL_SCOPES.join(" "),
                "uid": "12345", "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            });
            request.respond(
                200,
                &[("Content-Type", "application/json".into())],
                body.to_string().as_bytes(),
            );
        }
        _ => {
            drop(st);
            oauth_error(
                request,
                "unsupported_grant_type",
                "grant_type is not supported",
            )
        }
    }
}

/// Why a bearer token is refused.
pub enum Refusal {
    /// 400 plain text (header missing or malformed).
    BadRequest(String),
    /// 401 with this JSON body.
    Unauthorized(Value),
}

/// Checks `Authorization: Bearer <token>` and the route's scope.
pub fn check_bearer(
    state: &mut State,
    request: &Request,
    route: &str,
    scope: &str,
) -> Result<(), Refusal> {
    let Some(header) = request.header("authorization") else {
        return Err(Refusal::BadRequest(format!(
            "Error in call to API function \"{route}\": Must provide HTTP header \"Authorization\" or URL parameter \"authorization\"."
        )));
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return Err(Refusal::BadRequest(format!(
            "Error in call to API function \"{route}\": Invalid authorization value in HTTP header \"Authorization\". Expecting \"Bearer <oauth2-access-token>\"."
        )));
    };
    let unauthorized = |tag: &str| {
        Refusal::Unauthorized(json!({"error_summary": format!("{tag}/"), "error": {".tag": tag}}))
    };
    match state.access_tokens.get(token) {
        None => return Err(unauthorized("invalid_access_token")),
        Some(expiry) if *expiry <= Instant::now() => {
            return Err(unauthorized("expired_access_token"))
        }
        Some(_) => {}
    }
    if state
        .take_fault(route, |f| f == Fault::ExpiredToken)
        .is_some()
    {
        state
            .access_tokens
            .insert(token.to_string(), Instant::now());
        return Err(unauthorized("expired_access_token"));
    }
    if !state.scopes.contains(scope) {
        return Err(Refusal::Unauthorized(json!({
            "error_summary": "missing_scope/..",
            "error": {".tag": "missing_scope", "required_scope": scope}
        })));
    }
    Ok(())
}

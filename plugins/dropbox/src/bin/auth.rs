//! `sauvegarde-dropbox-auth`: obtains a Dropbox refresh token for sauvegarde.
//!
//! ```text
//! sauvegarde-dropbox-auth --app-key KEY (--app-secret SECRET | --pkce) [--job ID]
//!                         [--oauth-url URL] [--authorize-url URL]
//! ```
//! Prints the authorize URL (offline access, PKCE S256 if asked), reads the code the user
//! pastes on stdin, exchanges it, and prints the refresh token and a configuration snippet.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sauvegarde_dropbox::config::DEFAULT_OAUTH_URL;
use serde_json::Value;
use sha2::{Digest, Sha256};

const DEFAULT_AUTHORIZE_URL: &str = "https://www.dropbox.com/oauth2/authorize";
const USAGE: &str = "usage: sauvegarde-dropbox-auth --app-key KEY (--app-secret SECRET | --pkce) \
[--job ID] [--oauth-url URL] [--authorize-url URL]";

/// The command line.
struct Args {
    app_key: String,
    app_secret: Option<String>,
    pkce: bool,
    job: String,
    oauth_url: String,
    authorize_url: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        app_key: String::new(),
        app_secret: None,
        pkce: false,
        job: "<id>".into(),
        oauth_url: DEFAULT_OAUTH_URL.into(),
        authorize_url: DEFAULT_AUTHORIZE_URL.into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--app-key" => args.app_key = value()?,
            "--app-secret" => args.app_secret = Some(value()?),
            "--pkce" => args.pkce = true,
            "--job" => args.job = value()?,
            "--oauth-url" => args.oauth_url = value()?,
            "--authorize-url" => args.authorize_url = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.app_key.is_empty() {
        return Err(format!("--app-key is required\n{USAGE}"));
    }
    if args.pkce == args.app_secret.is_some() {
        return Err(format!(
            "give exactly one of --app-secret and --pkce\n{USAGE}"
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sauvegarde-dropbox-auth: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A PKCE verifier: 64 random URL-safe characters from the kernel's generator.
fn pkce_verifier() -> Result<String, String> {
    let mut bytes = [0u8; 48];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("cannot read random bytes: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn run(args: &Args) -> Result<(), String> {
    let verifier = if args.pkce {
        Some(pkce_verifier()?)
    } else {
        None
    };
    let mut url =
        reqwest::Url::parse(&args.authorize_url).map_err(|e| format!("--authorize-url: {e}"))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", &args.app_key)
            .append_pair("response_type", "code")
            .append_pair("token_access_type", "offline");
        if let Some(verifier) = &verifier {
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            query
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "1. Open this URL in a browser, sign in to Dropbox and allow access:\n"
    );
    let _ = writeln!(out, "   {url}\n");
    let _ = write!(
        out,
        "2. Paste the authorization code here and press Enter: "
    );
    let _ = out.flush();
    let mut code = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut code)
        .map_err(|e| format!("cannot read the code: {e}"))?;
    let code = code.trim();
    if code.is_empty() {
        return Err("no authorization code was entered".into());
    }
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", args.app_key.as_str()),
    ];
    if let Some(secret) = &args.app_secret {
        form.push(("client_secret", secret.as_str()));
    }
    if let Some(verifier) = &verifier {
        form.push(("code_verifier", verifier.as_str()));
    }
    let response = reqwest::blocking::Client::new()
        .post(&args.oauth_url)
        .form(&form)
        .send()
        .map_err(|e| format!("cannot reach {}: {e}", args.oauth_url))?;
    let status = response.status();
    let body: Value = response.json().map_err(|e| {
        format!(
            "unexpected answer from {} (HTTP {status}): {e}",
            args.oauth_url
        )
    })?;
    if !status.is_success() {
        let error = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        let hint = match error {
            "invalid_grant" => " (the code is wrong, expired or already used: start again)",
            "invalid_client" => " (check the app key and secret)",
            _ => "",
        };
        return Err(format!("Dropbox refused the code: {error}{hint}"));
    }
    let refresh = body.get("refresh_token").and_then(Value::as_str).ok_or(
        "Dropbox's answer has no refresh_token: was token_access_type=offline kept in the URL?",
    )?;
    let _ = writeln!(out, "\n\nRefresh token: {refresh}\n");
    let _ = writeln!(out, "Configuration for sauvegarde:\n");
    let _ = writeln!(out, "[jobs.{}.destinations.dropbox]", args.job);
    let _ = writeln!(out, "type = \"dropbox\"");
    let _ = writeln!(out, "app_key = {}", toml_string(&args.app_key));
    if let Some(secret) = &args.app_secret {
        let _ = writeln!(out, "app_secret = {}", toml_string(secret));
    }
    let _ = writeln!(out, "refresh_token = {}", toml_string(refresh));
    let _ = writeln!(out, "folder = \"/OdooBackups\"");
    Ok(())
}

/// A TOML basic string (JSON string escaping is valid TOML for these characters).
fn toml_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

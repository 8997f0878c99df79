//! `sauvegarde-dropbox-auth`: obtains a Dropbox refresh token for sauvegarde.
//!
//! ```text
//! sauvegarde-dropbox-auth --app-key KEY (--app-secret-file FILE | --app-secret-stdin | --pkce)
//!                         [--job ID] [--oauth-url URL] [--authorize-url URL]
//! ```
//! The app secret never goes on the command line (where every user sees it in the process
//! list): it is read from a file, or as the first line of standard input. Prints the
//! authorize URL (offline access, PKCE S256 if asked), reads the code the user pastes on
//! stdin, exchanges it, and prints the refresh token and a configuration snippet.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sauvegarde_dropbox::config::DEFAULT_OAUTH_URL;
use serde_json::Value;
use sha2::{Digest, Sha256};

const DEFAULT_AUTHORIZE_URL: &str = "https://www.dropbox.com/oauth2/authorize";
const USAGE: &str = "usage: sauvegarde-dropbox-auth --app-key KEY \
(--app-secret-file FILE | --app-secret-stdin | --pkce) [--job ID] [--oauth-url URL] \
[--authorize-url URL]";

/// Where the app secret comes from.
enum SecretSource {
    /// A file (one trailing newline ignored).
    File(std::path::PathBuf),
    /// The first line of standard input.
    Stdin,
}

/// The command line.
struct Args {
    app_key: String,
    app_secret: Option<SecretSource>,
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
            "--app-secret" => {
                return Err(format!(
                    "--app-secret would show the secret to every user in the process list: \
                     use --app-secret-file FILE, or --app-secret-stdin and type it first\n{USAGE}"
                ))
            }
            "--app-secret-file" => {
                args.app_secret = Some(SecretSource::File(value()?.into()));
            }
            "--app-secret-stdin" => args.app_secret = Some(SecretSource::Stdin),
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
            "give exactly one of --app-secret-file, --app-secret-stdin and --pkce\n{USAGE}"
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

/// A line of standard input without its line end; `what` names it in errors.
fn read_line(input: &mut impl BufRead, what: &str) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read {what}: {e}"))?;
    Ok(line.trim().to_string())
}

/// The app secret, from its file or the first line of standard input.
fn app_secret(source: &SecretSource, input: &mut impl BufRead) -> Result<String, String> {
    let secret = match source {
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("--app-secret-file: cannot read {}: {e}", path.display()))?
            .trim()
            .to_string(),
        SecretSource::Stdin => {
            if std::io::stdin().is_terminal() {
                eprint!("App secret (from the app's settings page): ");
            }
            read_line(input, "the app secret")?
        }
    };
    if secret.is_empty() {
        return Err("the app secret is empty".into());
    }
    Ok(secret)
}

fn run(args: &Args) -> Result<(), String> {
    let mut input = std::io::stdin().lock();
    let app_secret = match &args.app_secret {
        Some(source) => Some(app_secret(source, &mut input)?),
        None => None,
    };
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
    let code = read_line(&mut input, "the code")?;
    let code = code.as_str();
    if code.is_empty() {
        return Err("no authorization code was entered".into());
    }
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", args.app_key.as_str()),
    ];
    if let Some(secret) = &app_secret {
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
    match (&args.app_secret, &app_secret) {
        (Some(SecretSource::File(path)), _) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let _ = writeln!(
                out,
                "app_secret_file = {}",
                toml_string(&path.display().to_string())
            );
        }
        (_, Some(secret)) => {
            let _ = writeln!(out, "app_secret = {}", toml_string(secret));
        }
        _ => {}
    }
    let _ = writeln!(out, "refresh_token = {}", toml_string(refresh));
    let _ = writeln!(out, "folder = \"/OdooBackups\"");
    Ok(())
}

/// A TOML basic string (JSON string escaping is valid TOML for these characters).
fn toml_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

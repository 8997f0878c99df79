//! The dropbox plugin, loaded through the real plugin ABI, against the local Dropbox
//! stand-in (`sauvegarde_tests::dropbox`).
//! The promises every exporter shares are checked by the conformance kit
//! (`conformance.rs`); this file keeps what is specific to Dropbox.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use abi_stable::std_types::RStr;
use sauvegarde_plugin_api::ffi::{HostLogger, LogLevel};
use sauvegarde_plugin_api::host::{HostDestination, LoadedPlugin};
use sauvegarde_plugin_api::ErrorKind;
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::dropbox::{content_hash_of, DropboxServer, Fault, APP_KEY, APP_SECRET};
use sauvegarde_tests::process::KillOnDrop;
use serde_json::{json, Value};

/// Every log line the plugin sent, to check that no secret is logged.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn collect(_: RStr<'static>, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    LOG.lock()
        .unwrap()
        .push(format!("{level:?} {target} {message}"));
}

fn plugin() -> LoadedPlugin {
    let plugin =
        LoadedPlugin::load(&artifacts().plugin("dropbox")).expect("load the dropbox plugin");
    assert_eq!(plugin.kind(), "dropbox");
    plugin.set_logger(HostLogger {
        plugin: RStr::from("dropbox"),
        max_level: LogLevel::Trace,
        log: collect,
    });
    plugin
}

fn config(server: &DropboxServer, refresh_token: &str, extra: Value) -> String {
    let mut config = json!({
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "refresh_token": refresh_token,
        "folder": "OdooBackups/",
        "api_url": server.api_url(),
        "content_url": server.content_url(),
        "oauth_url": server.oauth_url(),
        "timeout_secs": 120,
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

/// A destination with a fresh refresh token; returns the token too.
fn destination(server: &DropboxServer, extra: Value) -> (HostDestination, String) {
    let token = server.issue_refresh_token();
    let dest = plugin()
        .new_destination(&config(server, &token, extra))
        .expect("valid config");
    (dest, token)
}

/// A file of `size` bytes from a fast PRNG (xorshift), written in 1 MiB pieces.
fn local_file(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ size;
    let mut buffer = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in buffer.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(buffer.len() as u64) as usize;
        file.write_all(&buffer[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    path
}

fn go() -> impl FnMut(u64, u64) -> bool {
    |_, _| true
}

/// Asserts that the stored file at `remote` has the same bytes as `local`.
fn assert_stored(server: &DropboxServer, remote: &str, local: &Path) {
    let (_, disk) = server
        .stored(remote)
        .unwrap_or_else(|| panic!("{remote} not stored; have {:?}", server.paths()));
    assert_eq!(
        std::fs::metadata(&disk).unwrap().len(),
        std::fs::metadata(local).unwrap().len()
    );
    assert_eq!(
        content_hash_of(&disk).unwrap(),
        content_hash_of(local).unwrap()
    );
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "secret {secret:?} leaked into: {text}"
        );
    }
}

#[test]
fn test_connection_describes_the_account_and_caches_the_token() {
    let server = DropboxServer::start();
    let (dest, token) = destination(&server, json!({}));
    let message = dest.test_connection().unwrap();
    assert!(
        message.starts_with("account backup@example.com, 0 B/1.0 TiB used, folder /OdooBackups"),
        "{message}"
    );
    dest.list().unwrap();
    dest.test_connection().unwrap();
    assert_eq!(server.stats().refreshes, 1, "the access token is cached");
    assert_eq!(server.stats().unauthorized, 0);
    let logs = LOG.lock().unwrap().join("\n");
    assert!(
        logs.contains("refreshed the Dropbox access token"),
        "{logs}"
    );
    assert_no_secret(&logs, &[&token, APP_SECRET, "sl.access-"]);
}

#[test]
fn token_is_refreshed_shortly_before_it_expires() {
    let server = DropboxServer::start();
    server.set_token_lifetime(Duration::from_secs(2));
    let (dest, _) = destination(&server, json!({}));
    dest.list().unwrap();
    assert_eq!(server.stats().refreshes, 1);
    // The plugin replaces a 2 s token after 1 s (half its life at most).
    std::thread::sleep(Duration::from_millis(2100));
    dest.list().unwrap();
    assert_eq!(server.stats().refreshes, 2);
    assert_eq!(
        server.stats().unauthorized,
        0,
        "refreshed before the server refused it"
    );
}

#[test]
fn expired_token_mid_upload_is_refreshed_once_and_the_chunk_retried() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "a.dump", 18 << 20);
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    server.inject("files/upload_session/append_v2", Fault::ExpiredToken, 1, 1);
    dest.upload(&file, "a.dump", &mut go()).unwrap();
    assert_stored(&server, "/OdooBackups/a.dump", &file);
    let stats = server.stats();
    assert_eq!(
        (stats.refreshes, stats.unauthorized, stats.faults),
        (2, 1, 1)
    );
    // 18 MiB in 4 MiB chunks: start + 3 appends (+1 refused) + finish.
    assert_eq!(server.calls("files/upload_session/append_v2"), 4);
}

#[test]
fn a_second_expiry_in_a_row_is_an_auth_error() {
    let server = DropboxServer::start();
    let (dest, _) = destination(&server, json!({}));
    server.inject("files/list_folder", Fault::ExpiredToken, 0, 2);
    let err = dest.list().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert_eq!(
        server.stats().refreshes,
        2,
        "refreshed exactly once after the first 401"
    );
}

#[test]
fn rate_limits_server_errors_and_dropped_connections_during_a_session_are_retried() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "b.dump", 21 << 20);
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    server.inject(
        "files/upload_session/append_v2",
        Fault::RateLimit { retry_after: 1 },
        1,
        1,
    );
    server.inject("files/upload_session/append_v2", Fault::ServerError, 1, 2);
    server.inject(
        "files/upload_session/append_v2",
        Fault::DropConnection,
        2,
        1,
    );
    server.inject("files/upload_session/finish", Fault::ServerError, 0, 1);
    let mut reports = Vec::new();
    dest.upload(&file, "b.dump", &mut |done, total| {
        reports.push((done, total));
        true
    })
    .unwrap();
    assert_stored(&server, "/OdooBackups/b.dump", &file);
    assert_eq!(server.stats().faults, 5);
    // 21 MiB in 4 MiB chunks: start + 4 appends + finish, plus one retry per fault.
    assert_eq!(server.calls("files/upload_session/append_v2"), 4 + 4);
    assert_eq!(server.calls("files/upload_session/finish"), 2);
    assert_eq!(reports.last(), Some(&(21 << 20, 21 << 20)));
    assert!(
        reports.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress never goes back: {reports:?}"
    );
}

#[test]
fn lost_answer_resumes_from_the_servers_correct_offset() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "c.dump", 13 << 20);
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    // The server stores the chunk but the answer is lost: the retry gets incorrect_offset.
    server.inject("files/upload_session/append_v2", Fault::DropAnswer, 0, 1);
    dest.upload(&file, "c.dump", &mut go()).unwrap();
    assert_stored(&server, "/OdooBackups/c.dump", &file);
    let logs = LOG.lock().unwrap().join("\n");
    assert!(logs.contains("correct_offset=8388608"), "{logs}");
}

#[test]
fn lost_answer_to_finish_accepts_the_committed_file() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "h.dump", 9 << 20);
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    server.inject("files/upload_session/finish", Fault::DropAnswer, 0, 1);
    dest.upload(&file, "h.dump", &mut go()).unwrap();
    assert_stored(&server, "/OdooBackups/h.dump", &file);
    assert_eq!(server.calls("files/upload_session/finish"), 2);
    assert_eq!(server.calls("files/get_metadata"), 1);
}

#[test]
fn persistent_server_errors_give_up_as_transient_without_a_file() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "d.dump", 1 << 20);
    let (dest, _) = destination(&server, json!({}));
    server.inject("files/upload", Fault::ServerError, 0, 100);
    let err = dest.upload(&file, "d.dump", &mut go()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.message().contains("after 6 attempts"), "{err}");
    assert!(server.paths().is_empty());
}

#[test]
fn large_upload_streams_in_chunks_with_bounded_memory() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 400 << 20;
    let file = local_file(dir.path(), "big.dump", size);
    let token = server.issue_refresh_token();
    // The real host uploads it (`export`), under `/usr/bin/time -v` for its peak memory.
    let settings: Value =
        serde_json::from_str(&config(&server, &token, json!({"chunk_size_mib": 8}))).unwrap();
    let mut toml = format!(
        "state_dir = {:?}\nbackup_dir = {:?}\nplugin_dirs = []\n\n[jobs.big]\ndatabase = \"big\"\n\n\
         [jobs.big.destinations.cloud]\ntype = \"dropbox\"\n",
        dir.path().join("state"),
        dir.path()
    );
    for (k, v) in settings.as_object().unwrap() {
        toml.push_str(&format!("{k} = {v}\n"));
    }
    let config_path = dir.path().join("sauvegarde.toml");
    std::fs::write(&config_path, toml).unwrap();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(artifacts().host_bin())
        .arg("--config")
        .arg(&config_path)
        .arg("export")
        .arg("big")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    println!("{stdout}");
    let kb = |label: &str| -> u64 {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in {stderr}"))
    };
    let peak_mib = kb("Maximum resident set size (kbytes):") / 1024;
    println!("peak RSS of `sauvegarde export` for a 400 MiB file: {peak_mib} MiB");
    // One 8 MiB chunk in flight (plus HTTP buffers) — nowhere near the 400 MiB file.
    assert!(
        peak_mib < 100,
        "peak RSS {peak_mib} MiB for a 400 MiB upload"
    );
    assert_stored(&server, "/OdooBackups/big.dump", &file);
    let stats = server.stats();
    assert!(
        stats.largest_body <= 8 << 20,
        "a request carried {} bytes",
        stats.largest_body
    );
    assert_eq!(server.calls("files/upload_session/append_v2"), 48);
    assert_eq!(server.open_sessions(), 0);
}

#[test]
fn revoked_refresh_token_is_an_auth_error_that_says_so() {
    let server = DropboxServer::start();
    let (dest, token) = destination(&server, json!({}));
    server.revoke(&token);
    let err = dest.test_connection().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.message().contains("revoked or is wrong"), "{err}");
    assert!(err.message().contains("sauvegarde-dropbox-auth"), "{err}");
    assert_no_secret(&err.to_string(), &[&token, APP_SECRET]);
    // The same answer injected mid-way (a valid token the server suddenly refuses).
    let (dest, token) = destination(&server, json!({}));
    server.inject("oauth2/token", Fault::InvalidGrant, 0, 1);
    let err = dest.list().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert_no_secret(&err.to_string(), &[&token, APP_SECRET]);
}

#[test]
fn missing_scope_names_the_scope_to_enable() {
    let server = DropboxServer::start();
    server.remove_scope("account_info.read");
    let (dest, _) = destination(&server, json!({}));
    let err = dest.test_connection().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.message().contains("`account_info.read`"), "{err}");
}

#[test]
fn list_pages_through_continue_and_a_missing_folder_is_empty() {
    let server = DropboxServer::start();
    let (dest, _) = destination(&server, json!({}));
    assert!(dest.list().unwrap().is_empty(), "missing folder");
    server.set_page_size(3);
    for i in 0..10 {
        server.put_file(&format!("/OdooBackups/db-{i:02}.zip"), &vec![7u8; i * 10]);
    }
    server.put_file("/OdooBackups/old/elsewhere.zip", b"x");
    server.put_file("/Other/file.zip", b"x");
    let mut listed = dest.list().unwrap();
    listed.sort_by(|a, b| a.name().cmp(b.name()));
    let names: Vec<&str> = listed.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        (0..10)
            .map(|i| format!("db-{i:02}.zip"))
            .collect::<Vec<_>>()
    );
    assert_eq!(listed[4].size(), 40);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        listed
            .iter()
            .all(|f| f.modified().is_some_and(|m| (now - m).abs() < 3600)),
        "{listed:?}"
    );
    assert!(server.calls("files/list_folder/continue") >= 3);
}

#[test]
fn delete_and_download_round_trip() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "e.dump", 5 << 20);
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    dest.upload(&file, "e.dump", &mut go()).unwrap();
    // Uploading again replaces the file.
    dest.upload(&file, "e.dump", &mut go()).unwrap();
    assert_eq!(server.paths(), ["/OdooBackups/e.dump"]);
    let back = dir.path().join("restore").join("e.dump");
    std::fs::create_dir(back.parent().unwrap()).unwrap();
    let mut last = (0, 0);
    dest.download("e.dump", &back, &mut |d, t| {
        last = (d, t);
        true
    })
    .unwrap();
    assert_eq!(last, (5 << 20, 5 << 20));
    assert_eq!(
        content_hash_of(&back).unwrap(),
        content_hash_of(&file).unwrap()
    );
    assert_eq!(
        std::fs::read_dir(back.parent().unwrap()).unwrap().count(),
        1,
        "no temporary file left"
    );
    dest.delete("e.dump").unwrap();
    assert!(dest.list().unwrap().is_empty());
    assert_eq!(
        dest.delete("e.dump").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let missing = dir.path().join("restore").join("missing");
    assert_eq!(
        dest.download("e.dump", &missing, &mut go())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        std::fs::read_dir(back.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn content_hash_mismatch_is_detected_and_the_copy_removed() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    for (name, size, route) in [
        ("small.dump", 3 << 20, "files/upload"),
        ("large.dump", 9 << 20, "files/upload_session/finish"),
    ] {
        let file = local_file(dir.path(), name, size);
        server.inject(route, Fault::CorruptStored, 0, 1);
        let err = dest.upload(&file, name, &mut go()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
        assert!(err.message().contains("content_hash"), "{err}");
        assert!(err.message().contains("removed"), "{err}");
        assert!(server.paths().is_empty(), "{:?}", server.paths());
    }
}

#[test]
fn full_account_is_a_quota_error() {
    let server = DropboxServer::start();
    server.set_allocated(1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let (dest, _) = destination(&server, json!({"chunk_size_mib": 4}));
    for size in [2 << 20, 6 << 20] {
        let file = local_file(dir.path(), "g.dump", size);
        let err = dest.upload(&file, "g.dump", &mut go()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Quota, "{err}");
        assert!(err.message().contains("insufficient_space"), "{err}");
    }
}

#[test]
fn config_errors_name_the_key() {
    let server = DropboxServer::start();
    let plugin = plugin();
    for (extra, key) in [
        (json!({"chunk_size": 8}), "chunk_size"),
        (json!({"chunk_size_mib": 10}), "chunk_size_mib"),
        (json!({"chunk_size_mib": 152}), "chunk_size_mib"),
        (json!({"api_url": "ftp://x"}), "api_url"),
    ] {
        let err = plugin
            .new_destination(&config(&server, "r-secret-token", extra))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.message().contains(key), "{err}");
        assert_no_secret(&err.to_string(), &["r-secret-token", APP_SECRET]);
    }
    let err = plugin.new_destination(r#"{"app_key":"k"}"#).err().unwrap();
    assert!(err.message().contains("refresh_token"), "{err}");
}

/// Runs the auth helper; plays the user: types `typed_first` (the app secret, when asked
/// for on stdin), reads the URL, approves it on the server, pastes the code. Returns the
/// helper's whole output.
fn run_auth_helper(
    server: &DropboxServer,
    secret_or_pkce: &[&str],
    typed_first: Option<&str>,
) -> String {
    let authorize = server
        .oauth_url()
        .replace("/oauth2/token", "/oauth2/authorize");
    let mut child = KillOnDrop::spawn(
        Command::new(artifacts().bin("sauvegarde-dropbox-auth"))
            .args([
                "--app-key",
                APP_KEY,
                "--job",
                "nightly",
                "--oauth-url",
                &server.oauth_url(),
                "--authorize-url",
                &authorize,
            ])
            .args(secret_or_pkce)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    if let Some(line) = typed_first {
        writeln!(stdin, "{line}").unwrap();
    }
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut output = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "helper ended before printing a URL: {output}"
        );
        output.push_str(&line);
        if let Some(url) = line
            .split_whitespace()
            .find(|w| w.contains("/oauth2/authorize?"))
        {
            break url.to_string();
        }
    };
    let code = server
        .approve(&url)
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    std::io::Read::read_to_string(&mut stdout, &mut output).unwrap();
    assert!(child.0.wait().unwrap().success(), "{output}");
    output
}

fn refresh_token_in(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Refresh token: "))
        .unwrap_or_else(|| panic!("no refresh token in {output}"))
        .trim()
        .to_string()
}

#[test]
fn auth_helper_exchanges_a_code_for_a_working_refresh_token() {
    let server = DropboxServer::start();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("app_secret");
    std::fs::write(&secret_file, format!("{APP_SECRET}\n")).unwrap();
    let output = run_auth_helper(
        &server,
        &["--app-secret-file", secret_file.to_str().unwrap()],
        None,
    );
    let refresh = refresh_token_in(&output);
    assert!(output.contains("token_access_type=offline"), "{output}");
    assert!(
        output.contains("[jobs.nightly.destinations.dropbox]"),
        "{output}"
    );
    assert!(
        output.contains(&format!("refresh_token = \"{refresh}\"")),
        "{output}"
    );
    // The snippet points at the file rather than copying the secret.
    assert!(
        output.contains(&format!(
            "app_secret_file = {:?}",
            secret_file.display().to_string()
        )),
        "{output}"
    );
    assert!(!output.contains(APP_SECRET), "{output}");
    assert_eq!(server.stats().code_exchanges, 1);
    let dest = plugin()
        .new_destination(&config(&server, &refresh, json!({})))
        .unwrap();
    dest.test_connection().unwrap();
}

#[test]
fn auth_helper_reads_the_app_secret_from_standard_input() {
    let server = DropboxServer::start();
    let output = run_auth_helper(&server, &["--app-secret-stdin"], Some(APP_SECRET));
    let refresh = refresh_token_in(&output);
    assert!(
        output.contains(&format!("app_secret = \"{APP_SECRET}\"")),
        "{output}"
    );
    assert_eq!(server.stats().code_exchanges, 1);
    let dest = plugin()
        .new_destination(&config(&server, &refresh, json!({})))
        .unwrap();
    dest.test_connection().unwrap();
}

#[test]
fn auth_helper_refuses_an_app_secret_on_the_command_line() {
    let server = DropboxServer::start();
    let out = Command::new(artifacts().bin("sauvegarde-dropbox-auth"))
        .args(["--app-key", APP_KEY, "--app-secret", APP_SECRET])
        .args(["--oauth-url", &server.oauth_url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("process list") && stderr.contains("--app-secret-file"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    assert_eq!(server.stats().code_exchanges, 0);
}

#[test]
fn auth_helper_with_pkce_needs_no_secret() {
    let server = DropboxServer::start();
    let output = run_auth_helper(&server, &["--pkce"], None);
    assert!(output.contains("code_challenge_method=S256"), "{output}");
    assert!(!output.contains("app_secret"), "{output}");
    let refresh = refresh_token_in(&output);
    let mut config: Value = serde_json::from_str(&config(&server, &refresh, json!({}))).unwrap();
    config.as_object_mut().unwrap().remove("app_secret");
    let dest = plugin().new_destination(&config.to_string()).unwrap();
    dest.test_connection().unwrap();
}

#[test]
fn auth_helper_reports_a_wrong_code() {
    let server = DropboxServer::start();
    let mut child = KillOnDrop::spawn(
        Command::new(artifacts().bin("sauvegarde-dropbox-auth"))
            .args([
                "--app-key",
                APP_KEY,
                "--app-secret-stdin",
                "--oauth-url",
                &server.oauth_url(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    writeln!(child.0.stdin.take().unwrap(), "{APP_SECRET}\nmade-up-code").unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!child.0.wait().unwrap().success());
    assert!(stderr.contains("invalid_grant"), "{stderr}");
}

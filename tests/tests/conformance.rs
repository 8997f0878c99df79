//! The plugin conformance kit (`sauvegarde plugins check`): every shipped plugin passes
//! it against its real server, and a plugin that breaks one promise fails exactly the
//! matching point.

use std::path::Path;

use sauvegarde_tests::build::{artifacts, build_out_of_tree, workspace_root};
use sauvegarde_tests::conformance::{check, settings};
use sauvegarde_tests::dropbox::{DropboxServer, APP_KEY, APP_SECRET};
use sauvegarde_tests::ftp::FtpServer;
use sauvegarde_tests::net::free_port;
use sauvegarde_tests::s3::S3Server;
use sauvegarde_tests::sshd::{Sshd, PASSWORD, PASSWORD_USER};
use sauvegarde_tests::webdav::WebdavServer;
use serde_json::{json, Value};

/// The test plugin as a server with a login, exporting into `dir`; `extra` merged over.
fn probe_settings(dir: &Path, extra: Value) -> Value {
    let mut s = json!({
        "dir": dir.join("remote"),
        "password": "correct-horse-battery",
        "accept_password": "correct-horse-battery",
    });
    sauvegarde_tests::merge(&mut s, extra);
    s
}

fn probe_conformance(dir: &Path) -> Value {
    json!({
        "absent_directory": { "dir": dir.join("absent/x") },
        "wrong_credentials": { "password": "wrong-password-1" },
        "unreachable": { "offline": true },
    })
}

#[test]
fn a_plugin_that_keeps_every_promise_passes_with_exit_0_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = artifacts().plugin("test_plugin");
    let run = check(
        &plugin,
        probe_settings(dir.path(), json!({})),
        probe_conformance(dir.path()),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("remote"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn each_broken_promise_fails_exactly_its_point_and_no_other() {
    let plugin = artifacts().plugin("test_plugin");
    for (wrong, point) in [
        ("non_atomic", "atomic-upload"),
        ("not_found_as_other", "delete-missing"),
        ("ignores_cancel", "cancel"),
        ("leaks_password", "no-secrets"),
        ("replaces", "no-replace"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = check(
            &plugin,
            probe_settings(dir.path(), json!({ "wrong": wrong })),
            probe_conformance(dir.path()),
        );
        assert_eq!(
            run.with_mark("✗"),
            [point],
            "wrong = {wrong}\n{}",
            run.text()
        );
        assert_eq!(
            run.with_mark("✓").len(),
            15,
            "wrong = {wrong}\n{}",
            run.text()
        );
        assert_eq!(run.output.status.code(), Some(1), "{}", run.text());
    }
}

#[test]
fn a_leaked_password_is_reported_masked() {
    let dir = tempfile::tempdir().unwrap();
    let run = check(
        &artifacts().plugin("test_plugin"),
        probe_settings(dir.path(), json!({ "wrong": "leaks_password" })),
        probe_conformance(dir.path()),
    );
    let all = run.text();
    assert!(
        all.contains("the value of `password` appears in the error of"),
        "{all}"
    );
    assert!(!all.contains("wrong-password-1"), "{all}");
    assert!(!all.contains("correct-horse-battery"), "{all}");
}

#[test]
fn points_without_their_conformance_setting_are_not_checked_and_fail_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let run = check(
        &artifacts().plugin("test_plugin"),
        probe_settings(dir.path(), json!({})),
        json!({ "unreachable": false }),
    );
    assert_eq!(
        run.with_mark("?"),
        ["absent-directory", "wrong-credentials"],
        "{}",
        run.text()
    );
    assert_eq!(run.with_mark("-"), ["unreachable"], "{}", run.text());
    assert!(run.with_mark("✗").is_empty(), "{}", run.text());
    assert_eq!(run.output.status.code(), Some(1), "{}", run.text());
    let out = String::from_utf8_lossy(&run.output.stdout);
    assert!(
        out.contains("add `[conformance] wrong_credentials = "),
        "{out}"
    );
}

#[test]
fn a_type_that_is_not_the_plugins_kind_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = check(
        &artifacts().plugin("test_plugin"),
        probe_settings(dir.path(), json!({ "type": "sftp" })),
        Value::Null,
    );
    assert_eq!(run.output.status.code(), Some(2), "{}", run.text());
    assert!(
        run.text().contains("`type` is `sftp` but"),
        "{}",
        run.text()
    );
}

#[test]
fn the_example_local_dir_exporter_passes() {
    let example = build_out_of_tree(
        &workspace_root().join("examples/exporter-local-dir"),
        "exporter_local_dir",
    );
    let dir = tempfile::tempdir().unwrap();
    let run = check(
        &example,
        json!({ "dir": dir.path().join("nas") }),
        json!({
            "absent_directory": { "dir": dir.path().join("absent/x") },
            "wrong_credentials": false,
            "unreachable": false,
        }),
    );
    run.assert_all_hold();
    // The example has no no-replace upload: the point does not apply, and says why.
    run.assert_mark("no-replace", "-");
    assert!(
        run.text()
            .contains("no no-replace upload (upload_new, plugin API 1.2)"),
        "{}",
        run.text()
    );
}

#[test]
fn sftp_passes_against_openssh() {
    let sshd = Sshd::start();
    let run = check(
        &artifacts().plugin("sftp"),
        json!({
            "host": "127.0.0.1",
            "port": sshd.port(),
            "user": PASSWORD_USER,
            "password": PASSWORD,
            "host_key_fingerprint": sshd.host_key_fingerprint(),
            "remote_dir": sshd.data_dir(),
            "timeout_secs": 20,
        }),
        json!({
            "absent_directory": { "remote_dir": sshd.data_dir().join("absent/x") },
            "wrong_credentials": { "password": "wrong-password-1" },
            "unreachable": { "port": free_port(), "timeout_secs": 5 },
        }),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
}

fn ftp_conformance() -> Value {
    json!({
        "absent_directory": { "remote_dir": "/absent/x" },
        "wrong_credentials": { "password": "wrong-password-1" },
        "unreachable": { "port": free_port() },
    })
}

#[test]
fn ftp_passes_against_pyftpdlib_with_tls() {
    let server = FtpServer::pyftpdlib_tls();
    let run = check(
        &artifacts().plugin("ftp"),
        settings(&server.config(json!({}))),
        ftp_conformance(),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
}

#[test]
fn ftp_passes_against_vsftpd_with_tls() {
    let server = FtpServer::vsftpd();
    let run = check(
        &artifacts().plugin("ftp"),
        settings(&server.config(json!({}))),
        ftp_conformance(),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
}

#[test]
fn dropbox_passes_against_the_strict_local_server() {
    let server = DropboxServer::start();
    let run = check(
        &artifacts().plugin("dropbox"),
        json!({
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "refresh_token": server.issue_refresh_token(),
            "folder": "OdooBackups/",
            "api_url": server.api_url(),
            "content_url": server.content_url(),
            "oauth_url": server.oauth_url(),
            "chunk_size_mib": 4,
            "timeout_secs": 120,
        }),
        json!({
            "absent_directory": { "folder": "Absent/X" },
            "wrong_credentials": { "app_secret": "wrong-app-secret-1" },
            "unreachable": {
                "oauth_url": format!("http://127.0.0.1:{}/oauth2/token", free_port()),
            },
        }),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
}

#[test]
fn s3_passes_against_s3s_fs() {
    let server = S3Server::start();
    let run = check(
        &artifacts().plugin("s3"),
        settings(&server.config(json!({ "prefix": "conformance/" }))),
        json!({
            "absent_directory": { "prefix": "absent/x/" },
            "wrong_credentials": { "secret_access_key": "wrong-secret-key-1" },
            "unreachable": { "endpoint": format!("http://127.0.0.1:{}", free_port()) },
        }),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
}

#[test]
fn webdav_passes_against_apache() {
    let server = WebdavServer::start();
    let run = check(
        &artifacts().plugin("webdav"),
        settings(&server.config("conformance", json!({}))),
        json!({
            "absent_directory": { "url": server.url("absent/x") },
            "wrong_credentials": { "password": "wrong-password-1" },
            "unreachable": { "url": format!("http://127.0.0.1:{}/dav/x", free_port()) },
        }),
    );
    run.assert_all_hold();
    run.assert_mark("no-replace", "✓");
}

//! End to end: the `odoo` notifier posts each event into an Odoo Discuss channel through
//! the external JSON-RPC API of a strict local stand-in (`sauvegarde_tests::odoo_rpc`, no
//! Odoo server can be installed here): masked, as a comment, on `discuss.channel` (17) or
//! `mail.channel` (16). A wrong key or an unknown channel fails the notifier with a clear
//! error and never the backup; the API key never shows in `config show`, the logs or the
//! history; `config check` names the key at fault.

mod daemon_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use daemon_common::World;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_rpc::{self, OdooServer, OdooVersion, API_KEY, CHANNEL, LOGIN};
use serde_json::{json, Value};

const DB_PASSWORD: &str = "db-pw-Vb61qL0m";

/// Writes `key` into `name` under the world's directory with `mode`.
fn key_file(w: &World, name: &str, key: &str, mode: u32) -> PathBuf {
    let path = w.path(name);
    std::fs::write(&path, format!("{key}\n")).expect("write key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// `odoo = { … }` posting as [`LOGIN`] into `channel` with the key in `key_file`.
fn odoo_notify(odoo: &OdooServer, channel: &str, key_file: &Path) -> String {
    format!(
        "odoo = {{ url = \"{}\", database = \"{}\", login = \"{LOGIN}\", api_key_file = {:?}, channel = \"{channel}\" }}",
        odoo.url(),
        odoo_rpc::DATABASE,
        key_file
    )
}

/// A configuration with `[notify]` on success and failure through `odoo_line`, and job
/// `nightly` backing up `alpha` with `extra` lines.
fn config(w: &World, odoo_line: &str, extra: &str) -> PathBuf {
    let text = w.header(1)
        + &format!("[notify]\non = [\"success\", \"failure\"]\n{odoo_line}\n\n")
        + &w.job(
            "nightly",
            "alpha",
            &format!("db_password = \"{DB_PASSWORD}\"\n{extra}"),
        );
    w.write_config(&text)
}

fn backup(config: &Path) -> Output {
    cli::run(config, &["backup", "nightly"], "debug")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_failed_backup_lands_in_the_discuss_channel_with_its_text_masked() {
    let w = World::new(&["alpha"]);
    let odoo = OdooServer::start(OdooVersion::V17);
    let key = key_file(&w, "odoo.key", API_KEY, 0o600);
    // A pg_dump that fails and echoes the password it was given.
    let leaky = w.pg_dump_wrapper(
        "echo \"auth failed for password $(cut -d: -f5- \"$PGPASSFILE\")\" >&2\nexit 1",
    );
    let cfg = config(
        &w,
        &odoo_notify(&odoo, CHANNEL, &key),
        &format!("pg_dump = {leaky:?}"),
    );
    let out = backup(&cfg);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let posted = odoo.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let m = &posted[0];
    assert_eq!(m.model, "discuss.channel");
    assert_eq!(m.channel, CHANNEL);
    assert_eq!(m.author, odoo_rpc::UID);
    assert_eq!(m.message_type, "comment");
    assert_eq!(m.subtype_xmlid.as_deref(), Some("mail.mt_comment"));
    assert!(
        m.body
            .starts_with("<p><b>[sauvegarde] nightly: backup FAILED on "),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("pg_dump failed") && m.body.contains("auth failed for password ***"),
        "{}",
        m.body
    );
    assert!(m.body.contains("Database:  alpha<br>"), "{}", m.body);
    for secret in [DB_PASSWORD, API_KEY] {
        assert!(!m.body.contains(secret), "the message leaks {secret}");
        assert!(!stderr(&out).contains(secret), "the log leaks {secret}");
    }
    assert!(
        stderr(&out).contains("notification posted in Odoo"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_odoo_16_server_gets_the_message_through_mail_channel() {
    let w = World::new(&["alpha"]);
    let odoo = OdooServer::start(OdooVersion::V16);
    let key = key_file(&w, "odoo.key", API_KEY, 0o600);
    let cfg = config(&w, &odoo_notify(&odoo, CHANNEL, &key), "");
    let out = backup(&cfg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let posted = odoo.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].model, "mail.channel");
    assert!(
        posted[0].body.contains("backup succeeded") && posted[0].body.contains(".dump"),
        "{}",
        posted[0].body
    );
    // The stand-in has no `discuss.channel`: the version chose the model, nothing guessed.
    assert!(
        odoo.requests()
            .iter()
            .all(|r| !r.contains("discuss.channel")),
        "{:?}",
        odoo.requests()
    );
}

#[test]
fn a_wrong_api_key_fails_the_odoo_notifier_with_an_authentication_error_and_not_the_backup() {
    let w = World::new(&["alpha"]);
    let odoo = OdooServer::start(OdooVersion::V17);
    let wrong = "ffffffffffffffffffffffffffffffffffffffff";
    let key = key_file(&w, "odoo.key", wrong, 0o600);
    let cfg = config(&w, &odoo_notify(&odoo, CHANNEL, &key), "");
    let out = backup(&cfg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = stderr(&out);
    assert!(
        log.contains("odoo notification failed: authentication failed")
            && log.contains(&format!("login `{LOGIN}`"))
            && log.contains("the backup itself is not affected"),
        "{log}"
    );
    assert!(!log.contains(wrong), "the log leaks the key: {log}");
    assert!(odoo.posted().is_empty());
    assert_eq!(w.done(&cfg, "nightly"), 1, "the backup was recorded done");
}

#[test]
fn an_unknown_channel_is_a_clear_error_naming_it() {
    let w = World::new(&["alpha"]);
    let odoo = OdooServer::start(OdooVersion::V17);
    let key = key_file(&w, "odoo.key", API_KEY, 0o600);
    // `management` exists but is private: to this user it is as unknown as `nosuch`.
    for channel in ["nosuch", odoo_rpc::PRIVATE_CHANNEL] {
        let cfg = config(&w, &odoo_notify(&odoo, channel, &key), "");
        let out = backup(&cfg);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let log = stderr(&out);
        assert!(
            log.contains(&format!(
                "odoo notification failed: no Discuss channel named `{channel}` that login `{LOGIN}` can see"
            )) && log.contains("notify.odoo.channel"),
            "{log}"
        );
    }
    assert!(odoo.posted().is_empty());
}

#[test]
fn the_api_key_never_appears_in_config_show_the_logs_or_the_history() {
    let w = World::new(&["alpha"]);
    let odoo = OdooServer::start(OdooVersion::V17);
    let key = key_file(&w, "odoo.key", API_KEY, 0o600);
    let cfg = config(&w, &odoo_notify(&odoo, CHANNEL, &key), "");
    let mut outputs = Vec::new();
    for args in [
        &["backup", "nightly"][..],
        &["config", "show"],
        &["config", "show", "--json"],
        &["config", "check"],
        &["history", "--json"],
    ] {
        let out = cli::run(&cfg, args, "trace");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains(API_KEY), "{args:?} shows the API key: {all}");
        outputs.push(all);
    }
    assert_eq!(odoo.posted().len(), 1);
    let show = &outputs[1];
    assert!(
        show.contains("api_key") && show.contains(&key.display().to_string()),
        "config show names the key and its file: {show}"
    );
    let rows: Value = serde_json::from_str(&String::from_utf8_lossy(
        &cli::run(&cfg, &["config", "show", "--json"], "warn").stdout,
    ))
    .expect("config show --json");
    let row = |key: &str| {
        rows.as_array()
            .and_then(|rows| rows.iter().find(|r| r["key"] == key))
            .cloned()
            .unwrap_or_else(|| panic!("no `{key}` in {rows}"))
    };
    assert_eq!(row("notify.odoo.channel")["value"], json!(CHANNEL));
    let api_key = row("notify.odoo.api_key");
    assert_eq!(api_key["value"], json!("***"), "{api_key}");
    assert!(
        api_key["source"]
            .as_str()
            .is_some_and(|s| s.contains(&key.display().to_string())),
        "{api_key}"
    );
}

#[test]
fn config_check_names_the_odoo_key_at_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odoo = OdooServer::start(OdooVersion::V17);
    let header = format!(
        "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n",
        dir.path().join("backups"),
        dir.path().join("state")
    );
    let private = dir.path().join("private.key");
    std::fs::write(&private, API_KEY).expect("write");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let readable = dir.path().join("readable.key");
    std::fs::write(&readable, API_KEY).expect("write");
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let missing = dir.path().join("missing.key");
    let url = odoo.url();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("odoo = {{ database = \"prod\", login = \"bot\", api_key_file = {private:?}, channel = \"backups\" }}"),
            "notify.odoo",
            "url",
        ),
        (
            format!("odoo = {{ url = \"ftp://odoo.example.org\", database = \"prod\", login = \"bot\", api_key_file = {private:?}, channel = \"backups\" }}"),
            "notify.odoo.url",
            "http:// or https://",
        ),
        (
            format!("odoo = {{ url = \"{url}\", database = \"prod\", login = \"bot\", api_key_file = {readable:?}, channel = \"backups\" }}"),
            "notify.odoo.api_key_file",
            "can be read or written by other users (mode 0644)",
        ),
        (
            format!("odoo = {{ url = \"{url}\", database = \"prod\", login = \"bot\", api_key_file = {missing:?}, channel = \"backups\" }}"),
            "notify.odoo.api_key_file",
            "cannot read secret file",
        ),
        (
            format!("odoo = {{ url = \"{url}\", database = \"prod\", login = \"\", api_key_file = {private:?}, channel = \"backups\" }}"),
            "notify.odoo.login",
            "must not be empty",
        ),
        (
            format!("odoo = {{ url = \"{url}\", database = \"prod\", login = \"bot\", api_key_file = {private:?}, channel = \"backups\", chanel = \"x\" }}"),
            "notify.odoo",
            "chanel",
        ),
    ];
    for (line, key, message) in cases {
        let cfg = dir.path().join("sauvegarde.toml");
        std::fs::write(&cfg, format!("{header}[notify]\n{line}\n")).expect("write config");
        let out = cli::run(&cfg, &["config", "check"], "warn");
        assert_eq!(out.status.code(), Some(2), "{line}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(key) && err.contains(message),
            "{line}: expected `{key}` and `{message}` in:\n{err}"
        );
        assert!(!err.contains(API_KEY), "{err}");
        // One error for an unreadable file, not a second "missing api_key" besides it.
        assert!(!err.contains("missing field `api_key`"), "{err}");
    }
}

/// One JSON-RPC call to the stand-in.
fn call(odoo: &OdooServer, service: &str, method: &str, args: Value) -> Value {
    odoo.answer(&json!({
        "jsonrpc": "2.0", "method": "call", "id": 1,
        "params": {"service": service, "method": method, "args": args},
    }))
}

fn error_name(answer: &Value) -> &str {
    answer["error"]["data"]["name"].as_str().unwrap_or("")
}

#[test]
fn the_odoo_stand_in_answers_bad_calls_as_odoo_does() {
    let odoo = OdooServer::start(OdooVersion::V16);
    let db = odoo_rpc::DATABASE;
    let uid = odoo_rpc::UID;
    // authenticate: false for a wrong key, the uid for the right one.
    let a = call(
        &odoo,
        "common",
        "authenticate",
        json!([db, LOGIN, "wrong", {}]),
    );
    assert_eq!(a["result"], json!(false), "{a}");
    let a = call(
        &odoo,
        "common",
        "authenticate",
        json!([db, LOGIN, API_KEY, {}]),
    );
    assert_eq!(a["result"], json!(uid), "{a}");
    let a = call(&odoo, "common", "authenticate", json!([db, LOGIN, API_KEY]));
    assert_eq!(error_name(&a), "builtins.TypeError", "{a}");
    // Every execute_kw checks the key of that uid.
    let a = call(
        &odoo,
        "object",
        "execute_kw",
        json!([db, uid, "wrong", "mail.channel", "search", [[]]]),
    );
    assert_eq!(error_name(&a), "odoo.exceptions.AccessDenied", "{a}");
    assert_eq!(a["error"]["code"], json!(200));
    assert_eq!(a["error"]["message"], json!("Odoo Server Error"));
    // Odoo 16 has no discuss.channel.
    let a = call(
        &odoo,
        "object",
        "execute_kw",
        json!([db, uid, API_KEY, "discuss.channel", "search", [[]]]),
    );
    assert_eq!(error_name(&a), "odoo.exceptions.UserError", "{a}");
    assert_eq!(
        a["error"]["data"]["message"],
        json!("Object discuss.channel doesn't exist")
    );
    // message_post wants one record and keyword arguments it knows.
    let post = |ids: Value, kw: Value| {
        call(
            &odoo,
            "object",
            "execute_kw",
            json!([db, uid, API_KEY, "mail.channel", "message_post", [ids], kw]),
        )
    };
    let a = post(json!([1, 4]), json!({"body": "x"}));
    assert_eq!(error_name(&a), "builtins.ValueError", "{a}");
    let a = post(json!([4]), json!({"bodyy": "x"}));
    assert_eq!(error_name(&a), "builtins.TypeError", "{a}");
    let a = post(json!([5]), json!({"body": "x"}));
    assert_eq!(error_name(&a), "odoo.exceptions.AccessError", "{a}");
    let a = post(json!([99]), json!({"body": "x"}));
    assert_eq!(error_name(&a), "odoo.exceptions.MissingError", "{a}");
    let a = post(json!([4]), json!({"body": "x", "message_type": "comment"}));
    assert!(a["result"].is_u64(), "{a}");
    assert_eq!(odoo.posted().len(), 1);
    // The envelope is JSON-RPC 2.0 `call` with exactly service, method, args.
    let a = odoo.answer(&json!({"method": "call", "id": 1, "params": {}}));
    assert!(a["error"].is_object(), "{a}");
    let a = odoo.answer(&json!({
        "jsonrpc": "2.0", "method": "call", "id": 1,
        "params": {"service": "common", "method": "version", "args": [], "kwargs": {}},
    }));
    assert_eq!(error_name(&a), "builtins.TypeError", "{a}");
    let a = call(&odoo, "common", "version", json!([]));
    assert_eq!(a["result"]["server_version_info"][0], json!(16), "{a}");
}

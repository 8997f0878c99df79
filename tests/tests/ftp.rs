//! The FTP exporter plugin, loaded through the real ABI and driven against real FTP servers
//! (pyftpdlib with and without TLS, vsftpd with `require_ssl_reuse=YES`) on loopback ports.
//! The promises every exporter shares (round trips, atomicity, cancellation, error kinds,
//! secrets) are checked by the conformance kit (`conformance.rs`); this file keeps what is
//! specific to the protocol.

use std::fs;
use std::path::Path;

use sauvegarde_plugin_api::host::{HostDestination, LoadedPlugin};
use sauvegarde_plugin_api::{ErrorKind, NewUpload};
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::files::{no_progress, patterned_file as local_file, sha256};
use sauvegarde_tests::ftp::FtpServer;
use serde_json::{json, Value};

fn plugin() -> LoadedPlugin {
    LoadedPlugin::load(&artifacts().plugin("ftp")).expect("load the ftp plugin")
}

fn destination(server: &FtpServer, extra: Value) -> HostDestination {
    plugin()
        .new_destination(&server.config(extra))
        .expect("valid config")
}

/// Names of the entries in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn tls_required_server_verifies_certificate_and_refuses_plain_login() {
    let server = FtpServer::pyftpdlib_tls();
    for tls in ["auto", "required"] {
        let message = destination(&server, json!({ "tls": tls }))
            .test_connection()
            .unwrap_or_else(|e| panic!("tls={tls}: {e}\n{}", server.log()));
        assert!(
            message.contains("TLS 1.3, certificate verified"),
            "{message}"
        );
        assert!(message.contains("writable"), "{message}");
    }
    assert!(entries(server.root()).is_empty(), "probe file left behind");

    let err = destination(&server, json!({ "tls": "off", "ca_file": null }))
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("refuses plain FTP"), "{err}");
    assert!(err.message().contains("`tls`"), "{err}");
}

#[test]
fn a_server_that_refuses_auth_tls_gets_no_login_unless_tls_is_auto() {
    let server = FtpServer::pyftpdlib_plain();
    // The default (no `tls` key) and "required": no login, hence no password, in clear.
    for extra in [json!({}), json!({ "tls": "required" })] {
        let err = destination(&server, extra.clone())
            .test_connection()
            .unwrap_err();
        assert!(
            err.message().contains("does not offer TLS"),
            "{extra}: {err}"
        );
        assert!(err.message().contains("required"), "{extra}: {err}");
    }
    assert!(
        !server.log().contains("logged in"),
        "no login reached the server: {}",
        server.log()
    );

    // Opt-in "auto": the downgrade is accepted, and `test` says the login went in clear.
    let message = destination(&server, json!({ "tls": "auto" }))
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert!(message.contains("login went IN CLEAR"), "{message}");
    assert!(message.contains("refused AUTH TLS"), "{message}");
    assert!(server.log().contains("logged in"), "{}", server.log());
}

/// Writes `name` in `dir` with `size` bytes, last modified `age_secs` ago.
fn aged_file(dir: &Path, name: &str, size: usize, age_secs: u64) {
    let path = dir.join(name);
    fs::write(&path, vec![7u8; size]).expect("write aged file");
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
    fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
}

#[test]
fn temporary_files_of_unknown_origin_are_listed_and_never_removed_by_uploads() {
    let server = FtpServer::pyftpdlib_tls();
    let dest = destination(&server, json!({}));
    let root = server.root();
    let day = 24 * 3600;
    // Another server's upload into the shared directory, two days old by the server's
    // clock (or this host's clock is two days ahead): whose it is, the age cannot say.
    let others = [
        "prod_2026-01-01_02-00-00.zip.partial",
        "prod_2026-01-01_02-00-00.zip.0badc0de-7-1.partial",
    ];
    for name in others {
        aged_file(root, name, 18_000, 2 * day);
    }
    let listed = dest
        .list()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    let stale = listed
        .iter()
        .find(|f| f.name() == others[0])
        .expect("the partial file is listed");
    assert_eq!(stale.size(), 18_000);
    assert!(stale.modified().is_some());

    let local = tempfile::tempdir().unwrap();
    let file = local_file(local.path(), "src.zip", 100_000);
    dest.upload(&file, "prod_2026-01-03_02-00-00.zip", &mut no_progress())
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    let stored = dest
        .upload_new(
            &file,
            "prod_2026-01-04_02-00-00.zip",
            "prod_2026-01-04_02-00-00.zip.1a2b3c4d-9-1.partial",
            &mut no_progress(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(stored, NewUpload::Stored);
    assert_eq!(
        entries(root),
        [
            others[1],
            others[0],
            "prod_2026-01-03_02-00-00.zip",
            "prod_2026-01-04_02-00-00.zip",
        ]
    );
}

#[test]
fn a_no_replace_upload_waits_for_the_lock_of_its_name_and_then_finds_it_taken() {
    let server = FtpServer::pyftpdlib_tls();
    let dest = destination(&server, json!({}));
    let root = server.root();
    let name = "prod_2026-01-05_02-00-00.zip";
    // Another host holds the lock of the name and is about to rename onto it.
    fs::create_dir(root.join(format!(".{name}.lock"))).unwrap();
    let local = tempfile::tempdir().unwrap();
    let file = local_file(local.path(), "src.zip", 50_000);
    let other = local_file(local.path(), "other.zip", 7_000);
    let (root_path, lock, other_file) = (
        root.to_path_buf(),
        root.join(format!(".{name}.lock")),
        other.clone(),
    );
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        fs::copy(&other_file, root_path.join(name)).unwrap();
        fs::remove_dir(lock).unwrap();
    });
    let outcome = dest
        .upload_new(
            &file,
            name,
            &format!("{name}.1a2b3c4d-1-1.partial"),
            &mut no_progress(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    holder.join().unwrap();
    assert_eq!(outcome, NewUpload::NameTaken);
    assert_eq!(sha256(&root.join(name)), sha256(&other));
    assert_eq!(entries(root), [name]);
}

#[test]
fn self_signed_certificate_is_rejected_without_ca_file() {
    let server = FtpServer::pyftpdlib_tls();
    let err = destination(&server, json!({ "ca_file": null }))
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.message().contains("ca_file"), "{err}");
    destination(&server, json!({}))
        .test_connection()
        .expect("accepted with ca_file");
}

#[test]
fn insecure_skip_verify_connects_and_says_so() {
    let server = FtpServer::pyftpdlib_tls();
    let message = destination(
        &server,
        json!({ "ca_file": null, "insecure_skip_verify": true }),
    )
    .test_connection()
    .unwrap();
    assert!(message.contains("NOT verified"), "{message}");
}

#[test]
fn upload_of_200_mib_is_byte_identical() {
    let server = FtpServer::pyftpdlib_tls();
    let local = tempfile::tempdir().unwrap();
    let size = 200u64 << 20;
    let file = local_file(local.path(), "big.zip", size);
    let mut last = (0, 0);
    let mut progress = |done, total| {
        last = (done, total);
        true
    };
    destination(&server, json!({}))
        .upload(&file, "big.zip", &mut progress)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(last, (size, size));
    assert_eq!(sha256(&server.root().join("big.zip")), sha256(&file));
    assert_eq!(entries(server.root()), vec!["big.zip"]);
}

#[test]
fn server_killed_mid_upload_fails_without_final_file() {
    let mut server = FtpServer::pyftpdlib_tls();
    let local = tempfile::tempdir().unwrap();
    let file = local_file(local.path(), "big.zip", 64 << 20);
    let dest = destination(&server, json!({ "timeout_secs": 5 }));
    let root = server.root().to_path_buf();
    let mut killed = false;
    let mut progress = |done: u64, _| {
        if done >= 8 << 20 && !killed {
            server.kill();
            killed = true;
        }
        true
    };
    let err = dest.upload(&file, "big.zip", &mut progress).unwrap_err();
    assert!(killed);
    assert!(
        matches!(err.kind(), ErrorKind::Transient | ErrorKind::Connect),
        "{err}"
    );
    assert!(!root.join("big.zip").exists());
}

#[test]
fn passive_and_active_modes_both_transfer() {
    let server = FtpServer::pyftpdlib_tls();
    let local = tempfile::tempdir().unwrap();
    let file = local_file(local.path(), "a.zip", 1 << 20);
    for (passive, name) in [(true, "passive.zip"), (false, "active.zip")] {
        destination(&server, json!({ "passive": passive }))
            .upload(&file, name, &mut no_progress())
            .unwrap_or_else(|e| panic!("passive={passive}: {e}\n{}", server.log()));
        assert_eq!(sha256(&server.root().join(name)), sha256(&file));
    }
}

#[test]
fn list_delete_download_round_trip() {
    let server = FtpServer::pyftpdlib_tls();
    let local = tempfile::tempdir().unwrap();
    let a = local_file(local.path(), "a.zip", 1000);
    let b = local_file(local.path(), "b.zip", 3 << 20);
    let dest = destination(&server, json!({ "remote_dir": "/site" }));
    assert!(
        dest.list().unwrap().is_empty(),
        "missing remote_dir lists empty"
    );
    dest.upload(&a, "a.zip", &mut no_progress()).unwrap();
    dest.upload(&b, "b.zip", &mut no_progress()).unwrap();
    dest.upload(&a, "b.zip", &mut no_progress()).unwrap();
    fs::create_dir(server.root().join("site/subdir")).unwrap();
    let mut listed: Vec<(String, u64)> = dest
        .list()
        .unwrap()
        .iter()
        .map(|f| (f.name().to_string(), f.size()))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("a.zip".to_string(), 1000), ("b.zip".to_string(), 1000)]
    );
    assert!(dest.list().unwrap().iter().all(|f| f.modified().is_some()));

    let back = local.path().join("back.zip");
    dest.download("b.zip", &back, &mut no_progress()).unwrap();
    assert_eq!(sha256(&back), sha256(&a));
    let err = dest
        .download("nope.zip", &local.path().join("n.zip"), &mut no_progress())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!local.path().join("n.zip").exists());

    dest.delete("a.zip").unwrap();
    let names: Vec<String> = dest
        .list()
        .unwrap()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(names, vec!["b.zip"]);
    let err = dest.delete("a.zip").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[test]
fn missing_remote_dir_is_created_level_by_level() {
    let server = FtpServer::pyftpdlib_tls();
    let local = tempfile::tempdir().unwrap();
    let file = local_file(local.path(), "a.zip", 5000);
    destination(&server, json!({ "remote_dir": "x/y/z" }))
        .upload(&file, "a.zip", &mut no_progress())
        .unwrap();
    assert_eq!(entries(&server.root().join("x/y/z")), vec!["a.zip"]);
}

#[test]
fn unknown_config_key_is_a_config_error_naming_it() {
    let server = FtpServer::pyftpdlib_plain();
    let err = plugin()
        .new_destination(&server.config(json!({ "pasive": false })))
        .err()
        .expect("unknown key refused");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("pasive"), "{err}");
}

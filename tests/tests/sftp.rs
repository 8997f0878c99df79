//! The SFTP exporter plugin, loaded through the real ABI and driven against a real OpenSSH
//! server (one per test) on a loopback port.
//! The promises every exporter shares (round trips, atomicity, cancellation, error kinds,
//! secrets) are checked by the conformance kit (`conformance.rs`); this file keeps what is
//! specific to the protocol.

use std::fs;
use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::host::{HostDestination, LoadedPlugin};
use sauvegarde_plugin_api::{ErrorKind, NewUpload, PluginError};
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::files::{no_progress, patterned_file as local_file, sha256};
use sauvegarde_tests::sshd::{Sshd, KEY_USER, PASSWORD, PASSWORD_USER};
use serde_json::{json, Value};

fn plugin() -> LoadedPlugin {
    LoadedPlugin::load(&artifacts().plugin("sftp")).expect("load the sftp plugin")
}

/// A password-login config for `sshd`, host key pinned, `remote_dir` its data directory;
/// `extra` keys are added or replace the defaults (a `null` value removes a key).
fn config(sshd: &Sshd, extra: Value) -> String {
    let mut config = json!({
        "host": "127.0.0.1",
        "port": sshd.port(),
        "user": PASSWORD_USER,
        "password": PASSWORD,
        "host_key_fingerprint": sshd.host_key_fingerprint(),
        "remote_dir": sshd.data_dir(),
        "timeout_secs": 20,
    });
    let map = config.as_object_mut().expect("object");
    for (key, value) in extra.as_object().expect("extra is an object") {
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
    config.to_string()
}

fn destination(sshd: &Sshd, extra: Value) -> HostDestination {
    plugin()
        .new_destination(&config(sshd, extra))
        .expect("valid config")
}

/// Uploads a fresh 100 000-byte file as `name`; returns the local copy (kept in a temporary
/// directory removed on drop) for comparison.
fn upload_small(
    dest: &HostDestination,
    name: &str,
) -> Result<(tempfile::TempDir, PathBuf), PluginError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = local_file(dir.path(), "small.bin", 100_000);
    dest.upload(&file, name, &mut no_progress())?;
    Ok((dir, file))
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn password_login_test_connection_reports_server_and_free_space() {
    let sshd = Sshd::start();
    let message = destination(&sshd, json!({}))
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert!(message.contains("OpenSSH"), "{message}");
    assert!(message.contains("free"), "{message}");
    assert!(message.contains(&sshd.host_key_fingerprint()), "{message}");
    // The probe file is gone.
    assert!(
        names_in(&sshd.data_dir()).is_empty(),
        "{:?}",
        names_in(&sshd.data_dir())
    );
}

#[test]
fn ed25519_key_from_content_logs_in() {
    let sshd = Sshd::start();
    let key = sshd.client_key("content", None);
    let dest = destination(
        &sshd,
        json!({"user": KEY_USER, "password": null, "private_key": key.private_key()}),
    );
    let (_local_dir, local) =
        upload_small(&dest, "k.bin").unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert_eq!(sha256(&sshd.data_dir().join("k.bin")), sha256(&local));
}

#[test]
fn ed25519_key_from_file_logs_in() {
    let sshd = Sshd::start();
    let key = sshd.client_key("file", None);
    let dest = destination(
        &sshd,
        json!({"user": KEY_USER, "password": null, "private_key_file": key.private_key_file}),
    );
    dest.test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
}

#[test]
fn encrypted_key_needs_its_passphrase() {
    let sshd = Sshd::start();
    let key = sshd.client_key("encrypted", Some("correct horse battery"));
    let with = destination(
        &sshd,
        json!({"user": KEY_USER, "password": null, "private_key": key.private_key(),
               "passphrase": "correct horse battery"}),
    );
    with.test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));

    let wrong = destination(
        &sshd,
        json!({"user": KEY_USER, "password": null, "private_key_file": key.private_key_file,
               "passphrase": "wrong-passphrase-31415"}),
    );
    let err = wrong.test_connection().expect_err("wrong passphrase");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("passphrase"), "{err}");
    assert!(!err.message().contains("wrong-passphrase-31415"), "{err}");
}

#[test]
fn unknown_host_key_is_refused_with_its_fingerprint() {
    let sshd = Sshd::start();
    let dest = destination(&sshd, json!({"host_key_fingerprint": null}));
    let err = dest.test_connection().expect_err("unknown host key");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let fingerprint = sshd.host_key_fingerprint();
    assert!(
        err.message()
            .contains(&format!("host_key_fingerprint = \"{fingerprint}\"")),
        "{err}"
    );
    // Nothing was written: refused before authenticating.
    assert!(names_in(&sshd.data_dir()).is_empty());
}

#[test]
fn pinned_fingerprint_is_accepted_and_a_wrong_pin_refused() {
    let sshd = Sshd::start();
    destination(&sshd, json!({}))
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let other = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    let err = destination(&sshd, json!({"host_key_fingerprint": other}))
        .test_connection()
        .expect_err("wrong pin");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(
        err.message().contains(&sshd.host_key_fingerprint()),
        "{err}"
    );
}

#[test]
fn known_hosts_file_is_accepted() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let known_hosts = dir.path().join("known_hosts");
    fs::write(&known_hosts, sshd.known_hosts_line()).expect("write known_hosts");
    destination(
        &sshd,
        json!({"host_key_fingerprint": null, "known_hosts_file": known_hosts}),
    )
    .test_connection()
    .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
}

#[test]
fn accept_new_host_key_records_the_key_then_checks_it() {
    let mut sshd = Sshd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let known_hosts = dir.path().join("known_hosts");
    fs::write(&known_hosts, "# kept\n").expect("write known_hosts");
    let extra = json!({"host_key_fingerprint": null, "known_hosts_file": known_hosts, "accept_new_host_key": true});
    destination(&sshd, extra.clone())
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let recorded = fs::read_to_string(&known_hosts).expect("read known_hosts");
    assert_eq!(recorded, format!("# kept\n{}", sshd.known_hosts_line()));

    // The recorded key is now enforced even with accept_new_host_key.
    sshd.restart(true);
    let err = destination(&sshd, extra)
        .test_connection()
        .expect_err("changed key with accept_new_host_key");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.message().contains("CHANGED"), "{err}");
}

#[test]
fn changed_host_key_is_refused() {
    let mut sshd = Sshd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let known_hosts = dir.path().join("known_hosts");
    fs::write(&known_hosts, sshd.known_hosts_line()).expect("write known_hosts");
    let old_fingerprint = sshd.host_key_fingerprint();
    let by_file = json!({"host_key_fingerprint": null, "known_hosts_file": known_hosts});
    destination(&sshd, by_file.clone())
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));

    sshd.restart(true);
    let new_fingerprint = sshd.host_key_fingerprint();
    assert_ne!(old_fingerprint, new_fingerprint);
    let err = destination(&sshd, by_file)
        .test_connection()
        .expect_err("changed key");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.message().contains("CHANGED"), "{err}");
    assert!(err.message().contains(&new_fingerprint), "{err}");

    let err = destination(&sshd, json!({"host_key_fingerprint": old_fingerprint}))
        .test_connection()
        .expect_err("old pin");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
}

#[test]
fn large_upload_is_byte_identical_on_the_server() {
    let sshd = Sshd::start();
    let local_dir = tempfile::tempdir().expect("temp dir");
    let size = 200 << 20;
    let local = local_file(local_dir.path(), "big.zip", size);
    let mut reports = Vec::new();
    let mut progress = |done: u64, total: u64| {
        reports.push((done, total));
        true
    };
    destination(&sshd, json!({}))
        .upload(&local, "big.zip", &mut progress)
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let remote = sshd.data_dir().join("big.zip");
    assert_eq!(fs::metadata(&remote).expect("remote file").len(), size);
    assert_eq!(sha256(&remote), sha256(&local));
    assert_eq!(names_in(&sshd.data_dir()), ["big.zip"]);
    assert_eq!(reports.last(), Some(&(size, size)));
    assert!(
        reports.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress goes forward"
    );
}

#[test]
fn a_server_allowing_one_session_per_connection_gets_the_fallback_writer() {
    // The fast path opens a second SFTP channel; with `MaxSessions 1` sshd refuses it and
    // the upload goes through libssh2's writer instead, with the same result.
    let sshd = Sshd::start_with("MaxSessions 1");
    let local_dir = tempfile::tempdir().expect("temp dir");
    let size = (40 << 20) + 12345;
    let local = local_file(local_dir.path(), "one.zip", size);
    let mut last = (0, 0);
    destination(&sshd, json!({}))
        .upload(&local, "one.zip", &mut |done, total| {
            last = (done, total);
            true
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let remote = sshd.data_dir().join("one.zip");
    assert_eq!(sha256(&remote), sha256(&local));
    assert_eq!(names_in(&sshd.data_dir()), ["one.zip"]);
    assert_eq!(last, (size, size));
    // sshd says so when it refuses the second channel.
    assert!(
        sshd.log().contains("no more sessions"),
        "the second channel was not refused: {}",
        sshd.log()
    );
}

#[test]
fn killing_sshd_mid_upload_fails_without_a_final_file() {
    let sshd = Sshd::start();
    let local_dir = tempfile::tempdir().expect("temp dir");
    let local = local_file(local_dir.path(), "big.zip", 64 << 20);
    let mut killed = false;
    let mut progress = |done: u64, _total: u64| {
        if !killed && done >= 8 << 20 {
            sshd.kill();
            killed = true;
        }
        true
    };
    let err = destination(&sshd, json!({"timeout_secs": 10}))
        .upload(&local, "big.zip", &mut progress)
        .expect_err("upload to a killed server");
    assert!(killed, "the progress callback never reached 8 MiB");
    assert!(
        matches!(err.kind(), ErrorKind::Transient | ErrorKind::Connect),
        "{err}"
    );
    assert!(!sshd.data_dir().join("big.zip").exists());
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
    let sshd = Sshd::start();
    let dest = destination(&sshd, json!({}));
    let data = sshd.data_dir();
    let day = 24 * 3600;
    // Another server's upload into the shared directory, two days old by the server's
    // clock (or this host's clock is two days ahead): whose it is, the age cannot say.
    let others = [
        "prod_2026-01-01_02-00-00.zip.partial",
        "prod_2026-01-01_02-00-00.zip.0badc0de-7-1.partial",
    ];
    for name in others {
        aged_file(&data, name, 18_000, 2 * day);
    }
    let listed = dest.list().expect("list");
    let stale = listed
        .iter()
        .find(|f| f.name() == others[0])
        .expect("the partial file is listed");
    assert_eq!(stale.size(), 18_000);
    assert!(stale.modified().is_some());

    let _local =
        upload_small(&dest, "prod_2026-01-03_02-00-00.zip").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(dir.path(), "new.bin", 1_000);
    let stored = dest
        .upload_new(
            &file,
            "prod_2026-01-04_02-00-00.zip",
            "prod_2026-01-04_02-00-00.zip.1a2b3c4d-9-1.partial",
            &mut no_progress(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, NewUpload::Stored);
    assert_eq!(
        names_in(&data),
        [
            others[1],
            others[0],
            "prod_2026-01-03_02-00-00.zip",
            "prod_2026-01-04_02-00-00.zip",
        ]
    );
}

#[test]
fn replacing_puts_the_new_file_in_place_and_leaves_no_copy_aside() {
    let sshd = Sshd::start();
    let dest = destination(&sshd, json!({}));
    let data = sshd.data_dir();
    let (_a, first) = upload_small(&dest, "a.zip").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let second = local_file(dir.path(), "second.bin", 4_000);
    dest.upload(&second, "a.zip", &mut no_progress())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sha256(&data.join("a.zip")), sha256(&second));
    assert_ne!(sha256(&first), sha256(&second));
    // Moved aside, then removed: nothing else is left.
    assert_eq!(names_in(&data), ["a.zip"]);
}

#[test]
fn missing_remote_dir_is_created() {
    let sshd = Sshd::start();
    let remote_dir = sshd.data_dir().join("odoo/prod/daily");
    let dest = destination(&sshd, json!({"remote_dir": remote_dir}));
    assert!(dest.list().expect("list of a missing dir").is_empty());
    let (_local_dir, local) = upload_small(&dest, "db.zip").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sha256(&remote_dir.join("db.zip")), sha256(&local));
}

#[test]
fn list_delete_download_round_trip() {
    let sshd = Sshd::start();
    let dest = destination(&sshd, json!({}));
    let (_local_dir, local) = upload_small(&dest, "a.zip").unwrap_or_else(|e| panic!("{e}"));
    let _b = upload_small(&dest, "b.zip").unwrap_or_else(|e| panic!("{e}"));
    fs::create_dir(sshd.data_dir().join("subdir")).expect("mkdir");

    let listed = dest.list().expect("list");
    let names: Vec<&str> = listed.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["a.zip", "b.zip"], "directories are not listed");
    assert!(listed
        .iter()
        .all(|f| f.size() == 100_000 && f.modified().is_some()));

    let restore = tempfile::tempdir().expect("temp dir");
    let target = restore.path().join("restored.zip");
    let mut last = (0, 0);
    let mut progress = |done: u64, total: u64| {
        last = (done, total);
        true
    };
    dest.download("a.zip", &target, &mut progress)
        .expect("download");
    assert_eq!(sha256(&target), sha256(&local));
    assert_eq!(last, (100_000, 100_000));
    assert_eq!(names_in(restore.path()), ["restored.zip"]);

    dest.delete("a.zip").expect("delete");
    let names: Vec<String> = dest
        .list()
        .expect("list")
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(names, ["b.zip"]);
    let err = dest.delete("a.zip").expect_err("delete twice");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let missing = restore.path().join("missing.zip");
    let err = dest
        .download("a.zip", &missing, &mut no_progress())
        .expect_err("download a deleted file");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(names_in(restore.path()), ["restored.zip"], "no leftovers");
}

#[test]
fn unwritable_remote_dir_is_a_permission_error() {
    let sshd = Sshd::start();
    // The data directory's parent belongs to root with mode 0755.
    let remote_dir = sshd.data_dir().parent().expect("parent").join("forbidden");
    let dest = destination(&sshd, json!({"remote_dir": remote_dir}));
    let err = dest.test_connection().expect_err("forbidden dir");
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    assert!(err.message().contains("forbidden"), "{err}");
}

#[test]
fn unknown_config_key_is_a_config_error_naming_it() {
    let err = plugin()
        .new_destination(
            &json!({"host": "h", "user": "u", "password": "p", "hots_key": 1}).to_string(),
        )
        .err()
        .expect("unknown key refused");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("hots_key"), "{err}");
}

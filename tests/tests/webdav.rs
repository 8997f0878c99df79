//! The WebDAV exporter plugin, loaded through the real ABI and driven against Apache
//! httpd with mod_dav and basic authentication on a loopback port; then one backup job
//! sending to S3 and WebDAV at once, pruning and restoring from both.
//! The promises every exporter shares (round trips, atomicity, cancellation, error kinds,
//! secrets) are checked by the conformance kit (`conformance.rs`); this file keeps what is
//! specific to the protocol.

use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::host::{HostDestination, LoadedPlugin};
use sauvegarde_plugin_api::ErrorKind;
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::files::{no_progress, patterned_file, sha256};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::s3::{self, S3Server};
use sauvegarde_tests::webdav::{WebdavServer, PASSWORD, USER};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

fn plugin() -> LoadedPlugin {
    LoadedPlugin::load(&artifacts().plugin("webdav")).expect("load the webdav plugin")
}

fn destination(server: &WebdavServer, rel: &str, extra: Value) -> HostDestination {
    plugin()
        .new_destination(&server.config(rel, extra))
        .expect("valid config")
}

/// Every entry under `dir`, relative, sorted.
fn entries(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(&p, root, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn an_archive_round_trips_byte_identical_into_created_collections() {
    let server = WebdavServer::start();
    let local = tempfile::tempdir().unwrap();
    let size = 3 * 5 * MIB + 12_345;
    let file = patterned_file(local.path(), "src.zip", size);
    let dest = destination(&server, "odoo/prod/", json!({}));
    let mut last = (0, 0);
    let mut progress = |done, total| {
        last = (done, total);
        true
    };
    dest.upload(&file, "prod.zip", &mut progress)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(last, (size, size));
    assert_eq!(
        sha256(&server.root().join("odoo/prod/prod.zip")),
        sha256(&file)
    );
    assert_eq!(
        entries(server.root()),
        vec!["odoo", "odoo/prod", "odoo/prod/prod.zip"]
    );
    let back = local.path().join("back.zip");
    dest.download("prod.zip", &back, &mut no_progress())
        .unwrap();
    assert_eq!(sha256(&back), sha256(&file));
    // A second upload of the same name replaces the file (MOVE with Overwrite: T).
    let small = patterned_file(local.path(), "small.zip", 1000);
    dest.upload(&small, "prod.zip", &mut no_progress())
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(
        sha256(&server.root().join("odoo/prod/prod.zip")),
        sha256(&small)
    );
}

#[test]
fn test_connection_names_the_url_and_tls_state_and_leaves_no_probe() {
    let server = WebdavServer::start_tls();
    let message = destination(&server, "backups/", json!({}))
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert!(message.contains(&server.url("backups/")), "{message}");
    assert!(message.contains("TLS, certificate verified"), "{message}");
    assert!(message.contains(USER), "{message}");
    assert_eq!(entries(server.root()), vec!["backups"]);

    let err = destination(&server, "backups/", json!({ "ca_file": null }))
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.message().contains("ca_file"), "{err}");
}

#[test]
fn killing_the_server_mid_upload_leaves_no_file_under_the_final_name() {
    let mut server = WebdavServer::start();
    let local = tempfile::tempdir().unwrap();
    let file = patterned_file(local.path(), "big.zip", 256 * MIB);
    let dest = destination(&server, "", json!({ "timeout_secs": 5 }));
    let root = server.root().to_path_buf();
    let mut killed = false;
    let mut progress = |done: u64, _| {
        if done >= 16 * MIB && !killed {
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
fn list_delete_and_download() {
    let server = WebdavServer::start();
    let local = tempfile::tempdir().unwrap();
    let a = patterned_file(local.path(), "a.zip", 1000);
    let b = patterned_file(local.path(), "b b.zip", 2 * MIB);
    let dest = destination(&server, "site/", json!({}));
    assert!(
        dest.list().unwrap().is_empty(),
        "missing collection lists empty"
    );
    dest.upload(&a, "a.zip", &mut no_progress()).unwrap();
    dest.upload(&b, "b b.zip", &mut no_progress()).unwrap();
    std::fs::create_dir(server.root().join("site/sub")).unwrap();
    let mut listed: Vec<(String, u64)> = dest
        .list()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f.modified().is_some(), "{f:?}");
            (f.name().to_string(), f.size())
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("a.zip".to_string(), 1000),
            ("b b.zip".to_string(), 2 * MIB)
        ]
    );
    let back = local.path().join("back.zip");
    dest.download("b b.zip", &back, &mut no_progress()).unwrap();
    assert_eq!(sha256(&back), sha256(&b));
    let missing = local.path().join("n.zip");
    let err = dest
        .download("nope.zip", &missing, &mut no_progress())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!missing.exists());
    dest.delete("a.zip").unwrap();
    let err = dest.delete("a.zip").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(entries(&server.root().join("site")), vec!["b b.zip", "sub"]);
}

#[test]
fn an_unknown_key_is_a_configuration_error_naming_it() {
    let server = WebdavServer::start();
    let err = plugin()
        .new_destination(&server.config("", json!({ "passwd": "x" })))
        .err()
        .expect("unknown key refused");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("passwd"), "{err}");
}

/// A `prod` job sending to S3 (`bucket`) and WebDAV (`cloud`), keeping one archive.
fn both_destinations(base: &OdooWorld, s3: &S3Server, dav: &WebdavServer) -> PathBuf {
    let tables = format!(
        "[jobs.prod.destinations.bucket]\ntype = \"s3\"\nbucket = {bucket:?}\nprefix = \"odoo\"\n\
         endpoint = {endpoint:?}\naccess_key_id = {key:?}\nsecret_access_key_file = {secret:?}\n\
         path_style = true\n\n\
         [jobs.prod.destinations.cloud]\ntype = \"webdav\"\nurl = {url:?}\nuser = {user:?}\n\
         password = {password:?}\n",
        bucket = s3::BUCKET,
        endpoint = s3.endpoint(),
        key = s3::ACCESS_KEY,
        secret = write_secret(base, s3::SECRET_KEY),
        url = dav.url("odoo/"),
        user = USER,
        password = PASSWORD,
    );
    base.config("keep_count = 1", &tables)
}

fn write_secret(base: &OdooWorld, secret: &str) -> PathBuf {
    let path = base.path("s3-secret");
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

#[test]
fn one_backup_job_sends_to_s3_and_webdav_prunes_both_and_restores_from_each() {
    let base = OdooWorld::new(300);
    let s3 = S3Server::start();
    let dav = WebdavServer::start();
    let config = both_destinations(&base, &s3, &dav);

    let out = cli::run(&config, &["test", "prod"], "info");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches('✓').count(), 2);

    let mut names = Vec::new();
    for _ in 0..2 {
        let out = cli::run(&config, &["backup", "prod"], "info");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let name = archive.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            sha256(&s3.object(&format!("odoo/{name}"))),
            sha256(&archive)
        );
        assert_eq!(
            sha256(&dav.root().join("odoo").join(&name)),
            sha256(&archive)
        );
        names.push(name);
        std::thread::sleep(std::time::Duration::from_millis(1100)); // a new archive name
    }
    // keep_count = 1: the first archive is gone from both destinations.
    assert_eq!(s3.objects("odoo"), vec![names[1].clone()]);
    assert_eq!(entries(&dav.root().join("odoo")), vec![names[1].clone()]);

    // `config show` masks the S3 secret and the WebDAV password.
    let out = cli::run(&config, &["config", "show"], "warn");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!shown.contains(s3::SECRET_KEY), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");

    // Restore from each destination.
    for (dest, db) in [("bucket", "from_s3"), ("cloud", "from_dav")] {
        let from = format!("prod/{dest}");
        let out = cli::run(
            &config,
            &[
                "restore",
                &names[1],
                "--database",
                db,
                "--from",
                &from,
                "--no-filestore",
            ],
            "info",
        );
        assert!(out.status.success(), "{dest}: {}", text(&out));
        base.pg.assert_same_tables("prod", db);
    }
}

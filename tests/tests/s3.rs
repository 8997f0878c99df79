//! The S3 exporter plugin, loaded through the real ABI and driven against a real S3
//! implementation (`s3s-fs`, which checks SigV4 signatures) on a loopback port; then the
//! real `sauvegarde` binary exporting, cancelling and pruning on S3.
//! The promises every exporter shares (round trips, atomicity, cancellation, error kinds,
//! secrets) are checked by the conformance kit (`conformance.rs`); this file keeps what is
//! specific to the protocol.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sauvegarde_plugin_api::host::{HostDestination, LoadedPlugin};
use sauvegarde_plugin_api::ErrorKind;
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::files::{no_progress, patterned_file, sha256};
use sauvegarde_tests::http_tap::{HttpTap, TappedRequest};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::s3::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

fn plugin() -> LoadedPlugin {
    LoadedPlugin::load(&artifacts().plugin("s3")).expect("load the s3 plugin")
}

fn destination(server: &S3Server, extra: Value) -> HostDestination {
    plugin()
        .new_destination(&server.config(extra))
        .expect("valid config")
}

#[test]
fn an_archive_of_more_than_three_parts_round_trips_byte_identical() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let size = 3 * 5 * MIB + 12_345; // four parts of 5 MiB
    let file = patterned_file(local.path(), "src.zip", size);
    let dest = destination(
        &server,
        json!({ "prefix": "odoo/prod", "part_size_mib": 5 }),
    );
    let mut reports = Vec::new();
    let mut progress = |done, total| {
        reports.push((done, total));
        true
    };
    dest.upload(&file, "prod.zip", &mut progress)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(reports.last(), Some(&(size, size)));
    assert!(reports.len() >= 4, "{reports:?}");
    assert_eq!(sha256(&server.object("odoo/prod/prod.zip")), sha256(&file));
    assert!(server.unfinished_uploads().is_empty());

    let back = local.path().join("back.zip");
    dest.download("prod.zip", &back, &mut no_progress())
        .unwrap();
    assert_eq!(sha256(&back), sha256(&file));
}

#[test]
fn a_listing_of_1200_objects_pages_past_1000_with_sizes_and_times() {
    let server = S3Server::start();
    let dir = server.root().join(BUCKET).join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..1200 {
        std::fs::write(dir.join(format!("prod_{i:04}.zip")), vec![b'x'; i % 7]).unwrap();
    }
    let dest = destination(&server, json!({ "prefix": "many/" }));
    let mut listed: Vec<(String, u64)> = dest
        .list()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
        .iter()
        .map(|f| {
            assert!(f.modified().is_some(), "{f:?}");
            (f.name().to_string(), f.size())
        })
        .collect();
    listed.sort();
    assert_eq!(listed.len(), 1200);
    assert_eq!(
        listed[1199],
        ("prod_1199.zip".to_string(), (1199 % 7) as u64)
    );
}

#[test]
fn a_missing_bucket_is_a_configuration_error_naming_it() {
    let server = S3Server::start();
    let err = destination(&server, json!({ "bucket": "no-such-bucket" }))
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("no-such-bucket"), "{err}");
    assert!(err.message().contains("does not exist"), "{err}");
}

#[test]
fn killing_the_server_mid_upload_leaves_no_object_and_no_unfinished_upload() {
    let server = Mutex::new(S3Server::start());
    let local = tempfile::tempdir().unwrap();
    let file = patterned_file(local.path(), "big.zip", 64 * MIB);
    let dest = destination(
        &server.lock().unwrap(),
        json!({ "part_size_mib": 5, "timeout_secs": 5 }),
    );
    let killed = AtomicBool::new(false);
    let err = std::thread::scope(|scope| {
        // The server comes back 2 s after the crash, while the plugin still tries to
        // abort the upload it started.
        scope.spawn(|| {
            while !killed.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_secs(2));
            server.lock().unwrap().restart();
        });
        let mut progress = |done: u64, _| {
            if done >= 16 * MIB && !killed.load(Ordering::SeqCst) {
                server.lock().unwrap().kill();
                killed.store(true, Ordering::SeqCst);
            }
            true
        };
        let result = dest.upload(&file, "big.zip", &mut progress);
        killed.store(true, Ordering::SeqCst);
        result.unwrap_err()
    });
    let server = server.into_inner().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::Transient | ErrorKind::Connect),
        "{err}"
    );
    assert!(!server.object("big.zip").exists());
    assert_eq!(
        server.unfinished_uploads(),
        Vec::<String>::new(),
        "{}",
        server.log()
    );
}

#[test]
fn cancelling_an_upload_aborts_the_multipart_upload() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let file = patterned_file(local.path(), "big.zip", 40 * MIB);
    let mut progress = |done: u64, _| done < 12 * MIB;
    let err = destination(&server, json!({ "part_size_mib": 5 }))
        .upload(&file, "big.zip", &mut progress)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(!server.object("big.zip").exists());
    assert_eq!(server.unfinished_uploads(), Vec::<String>::new());
}

/// The host's stop can arrive while the upload is being completed (a worker sees its
/// SIGTERM late): the plugin sees it once the object is stored, deletes that object and
/// says cancelled; but an object of that name that was there before is never deleted.
#[test]
fn a_stop_that_arrives_while_the_upload_completes_removes_only_what_it_made() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let file = patterned_file(local.path(), "late.zip", 6 * MIB);
    let size = 6 * MIB;
    // Goes on through every report of the transfer; says stop at the first report after
    // the last byte was sent (the one that follows the completion).
    let stop_after_completion = || {
        let mut finals = 0;
        move |done: u64, total: u64| {
            if (done, total) == (size, size) {
                finals += 1;
            }
            finals < 2
        }
    };
    let dest = destination(&server, json!({ "part_size_mib": 5 }));
    let mut progress = stop_after_completion();
    let err = dest.upload(&file, "late.zip", &mut progress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(!server.object("late.zip").exists(), "{}", server.log());
    assert_eq!(server.unfinished_uploads(), Vec::<String>::new());

    // An earlier copy of that name: a late stop leaves the object in place.
    dest.upload(&file, "late.zip", &mut no_progress())
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    let mut progress = stop_after_completion();
    let err = dest.upload(&file, "late.zip", &mut progress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(sha256(&server.object("late.zip")), sha256(&file));
}

#[test]
fn tls_with_ca_file_is_verified_and_an_unknown_certificate_refused() {
    let server = S3Server::start_tls();
    let message = destination(&server, json!({}))
        .test_connection()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert!(message.contains("TLS, certificate verified"), "{message}");
    assert!(message.contains(&server.endpoint()), "{message}");
    assert!(message.contains("bucket `backups`"), "{message}");
    assert!(
        message.contains("probe object written and removed"),
        "{message}"
    );
    // s3s-fs refuses a conditional write over an existing object (412): the plugin's
    // no-replace upload rests on that.
    assert!(
        message.contains("conditional writes honoured (If-None-Match: *)"),
        "{message}"
    );
    assert_eq!(
        server.objects(""),
        Vec::<String>::new(),
        "probe left behind"
    );

    let local = tempfile::tempdir().unwrap();
    let file = patterned_file(local.path(), "a.zip", 6 * MIB);
    destination(&server, json!({ "part_size_mib": 5 }))
        .upload(&file, "a.zip", &mut no_progress())
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(sha256(&server.object("a.zip")), sha256(&file));

    let err = destination(&server, json!({ "ca_file": null }))
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.message().contains("ca_file"), "{err}");
}

/// Sets `AWS_*` variables in this test process (nextest runs each test in its own).
fn set_aws_environment(key_id: &str, secret: &str, endpoint: &str) {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", key_id),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "eu-west-3"),
    ] {
        std::env::set_var(k, v);
    }
}

#[test]
fn ambient_aws_settings_are_ignored_unless_credentials_are_ambient() {
    let server = S3Server::start();
    // A stray bogus key and endpoint in the environment change nothing.
    set_aws_environment("AKIABOGUSBOGUSBOGUS", "bogus-secret", "http://127.0.0.1:9");
    destination(&server, json!({}))
        .test_connection()
        .unwrap_or_else(|e| panic!("the environment was used: {e}"));
    // Asked for, the environment's keys are used: bogus ones are refused…
    let ambient = json!({
        "credentials": "ambient",
        "access_key_id": null,
        "secret_access_key": null,
    });
    let err = destination(&server, ambient.clone())
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    // …and good ones accepted.
    set_aws_environment(ACCESS_KEY, SECRET_KEY, "http://127.0.0.1:9");
    destination(&server, ambient)
        .test_connection()
        .unwrap_or_else(|e| panic!("ambient keys: {e}"));
}

#[test]
fn list_delete_and_download_in_a_prefix() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let a = patterned_file(local.path(), "a.zip", 1000);
    let b = patterned_file(local.path(), "b.zip", 3 * MIB);
    let dest = destination(&server, json!({ "prefix": "site" }));
    assert!(dest.list().unwrap().is_empty(), "empty prefix lists empty");
    dest.upload(&a, "a.zip", &mut no_progress()).unwrap();
    dest.upload(&b, "b.zip", &mut no_progress()).unwrap();
    dest.upload(&a, "b.zip", &mut no_progress()).unwrap();
    std::fs::create_dir_all(server.root().join(BUCKET).join("site/sub")).unwrap();
    std::fs::write(server.root().join(BUCKET).join("site/sub/c.zip"), "c").unwrap();
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
    let back = local.path().join("back.zip");
    dest.download("b.zip", &back, &mut no_progress()).unwrap();
    assert_eq!(sha256(&back), sha256(&a));
    let missing = local.path().join("n.zip");
    let err = dest
        .download("nope.zip", &missing, &mut no_progress())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!missing.exists());
    dest.delete("a.zip").unwrap();
    assert_eq!(server.objects("site"), vec!["b.zip"]);
    let err = dest.delete("a.zip").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[test]
fn an_unknown_key_and_a_refused_connection_are_named() {
    let server = S3Server::start();
    let err = plugin()
        .new_destination(&server.config(json!({ "path_styel": true })))
        .err()
        .expect("unknown key refused");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("path_styel"), "{err}");

    let port = sauvegarde_tests::net::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let err = destination(&server, json!({ "endpoint": endpoint }))
        .test_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.message().contains(&port.to_string()), "{err}");
}

/// The `[jobs.prod.destinations.bucket]` table for `server`.
fn s3_table(server: &S3Server) -> String {
    format!(
        "[jobs.prod.destinations.bucket]\ntype = \"s3\"\nbucket = {BUCKET:?}\nprefix = \"odoo\"\n\
         endpoint = {:?}\naccess_key_id = {ACCESS_KEY:?}\nsecret_access_key = {SECRET_KEY:?}\n\
         path_style = true\npart_size_mib = 5\ntimeout_secs = 20\n",
        server.endpoint()
    )
}

#[test]
fn sigterm_cancels_an_export_and_aborts_its_multipart_upload() {
    let base = OdooWorld::new(300);
    let server = S3Server::start();
    let config = base.config("", &s3_table(&server));
    let name = "prod_2024-05-05_05-05-05.zip";
    let big = base.path(name);
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(2 << 30).unwrap(); // sparse: cheap locally, long to send
    drop(file);

    let mut child = KillOnDrop::spawn(
        cli::host(&config, &["export", "prod", big.to_str().unwrap()], "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.unfinished_uploads().len() < 3 {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.pid().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "export did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    assert!(!server.object(&format!("odoo/{name}")).exists());
    assert_eq!(server.unfinished_uploads(), Vec::<String>::new());
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .map(|mut o| std::io::Read::read_to_string(&mut o, &mut out));
    assert!(out.contains("✗ bucket (s3): cancelled"), "{out}");
}

#[test]
fn remote_retention_on_s3_deletes_the_jobs_old_archives_and_leaves_other_files() {
    let base = OdooWorld::new(300);
    let server = S3Server::start();
    let dir = server.root().join(BUCKET).join("odoo");
    std::fs::create_dir_all(&dir).unwrap();
    let config = base.config("keep_count = 1", &s3_table(&server));
    // Two archives of this job, exported and recorded in the history…
    let mut names = Vec::new();
    for _ in 0..2 {
        let out = cli::run(&config, &["backup", "prod"], "info");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let archive = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        names.push(archive.file_name().unwrap().to_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(1100)); // a new archive name
    }
    // …and a file of another database's name pattern beside them.
    std::fs::write(dir.join("other_2020-01-01_00-00-00.zip"), "someone else's").unwrap();
    let out = cli::run(&config, &["prune", "prod"], "info");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        server.objects("odoo"),
        vec![
            "other_2020-01-01_00-00-00.zip".to_string(),
            names[1].clone()
        ],
        "{}",
        text(&out)
    );
}

/// A tap between the plugin and s3s-fs, corrupting the requests `corrupt` picks.
fn tapped(
    server: &S3Server,
    corrupt: impl Fn(&TappedRequest) -> bool + Send + Sync + 'static,
) -> HttpTap {
    let upstream = server
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .expect("a plain-HTTP endpoint");
    HttpTap::start(upstream, corrupt)
}

fn crc32c_base64(bytes: &[u8]) -> String {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

#[test]
fn a_single_part_upload_corrupted_on_the_way_is_refused_by_the_server() {
    let server = S3Server::start();
    let tap = tapped(&server, |r| r.method == "PUT" && !r.body.is_empty());
    let local = tempfile::tempdir().unwrap();
    let file = patterned_file(local.path(), "small.zip", MIB + 7);
    let dest = destination(&server, json!({ "endpoint": tap.url(), "prefix": "odoo" }));

    let err = dest
        .upload(&file, "small.zip", &mut no_progress())
        .expect_err("the server must refuse a body that does not match its checksum");

    let puts: Vec<_> = tap.requests().into_iter().filter(|r| r.corrupted).collect();
    assert!(!puts.is_empty(), "the upload never went through the tap");
    for put in &puts {
        assert_eq!(
            put.header("x-amz-checksum-crc32c"),
            Some(crc32c_base64(&put.body).as_str()),
            "{} {}",
            put.method,
            put.target
        );
    }
    assert!(
        err.to_string().contains("BadDigest") || err.to_string().contains("checksum"),
        "{err}"
    );
    // s3s-fs 0.14 refuses the body only after storing it (AWS stores nothing): the refusal
    // is what this shows, not the server's leftover.
}

#[test]
fn every_part_of_a_multipart_upload_carries_the_checksum_of_its_bytes() {
    let server = S3Server::start();
    let tap = tapped(&server, |_| false);
    let local = tempfile::tempdir().unwrap();
    let size = 3 * 5 * MIB + 4321;
    let file = patterned_file(local.path(), "big.zip", size);
    let dest = destination(
        &server,
        json!({ "endpoint": tap.url(), "prefix": "odoo", "part_size_mib": 5 }),
    );

    dest.upload(&file, "big.zip", &mut no_progress())
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));

    let requests = tap.requests();
    let parts: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.target.contains("partNumber="))
        .collect();
    assert_eq!(
        parts.len(),
        4,
        "{:?}",
        requests.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
    for part in &parts {
        assert_eq!(
            part.header("x-amz-checksum-crc32c"),
            Some(crc32c_base64(&part.body).as_str()),
            "{}",
            part.target
        );
    }
    let create = requests
        .iter()
        .find(|r| r.method == "POST" && r.target.ends_with("?uploads"))
        .expect("a CreateMultipartUpload");
    assert_eq!(create.header("x-amz-checksum-algorithm"), Some("CRC32C"));
    let complete = requests
        .iter()
        .find(|r| r.method == "POST" && r.target.contains("uploadId="))
        .expect("a CompleteMultipartUpload");
    let listed = String::from_utf8_lossy(&complete.body);
    for part in &parts {
        let checksum = part.header("x-amz-checksum-crc32c").unwrap();
        assert!(listed.contains(checksum), "{checksum} not in {listed}");
    }
    assert_eq!(sha256(&server.object("odoo/big.zip")), sha256(&file));
}

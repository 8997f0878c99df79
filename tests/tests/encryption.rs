//! Encryption at rest with age, end to end with the real binary, a real PostgreSQL 15, the
//! reference `age` tool (Debian's `age`, `age-keygen`) and `ssh-keygen`: interop both ways,
//! SSH recipients and identities, no plaintext on disk while a backup runs, wrong
//! identities and damaged ciphertexts refused before anything is created, retention of
//! encrypted archives, exports to SFTP and to the Dropbox stand-in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sauvegarde_tests::age::{decrypted_copies, keygen as age_keygen};
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::dropbox::{DropboxServer, APP_KEY, APP_SECRET};
use sauvegarde_tests::files::sha256;
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::postgres::{odoo_extract, read_tree};
use sauvegarde_tests::sshd::{self, Sshd};
use serde_json::Value;

/// age's first line: every encrypted archive starts with it.
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

struct World {
    w: OdooWorld,
    /// `$TMPDIR` of every command: where decrypted copies may live, checked empty after.
    tmp: PathBuf,
}

impl std::ops::Deref for World {
    type Target = OdooWorld;
    fn deref(&self) -> &OdooWorld {
        &self.w
    }
}

impl World {
    fn new(rows: u32) -> Self {
        let w = OdooWorld::new(rows);
        let tmp = w.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        World { w, tmp }
    }

    fn cmd(&self, config: &Path, args: &[&str]) -> Command {
        let mut c = cli::host(config, args, "info");
        c.env_remove("PGPASSWORD").env("TMPDIR", &self.tmp);
        c
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        self.cmd(config, args).output().expect("run sauvegarde")
    }

    /// `backup prod --no-export` and the archive path it printed.
    fn backup(&self, config: &Path) -> PathBuf {
        let out = self.run(config, &["backup", "prod", "--no-export"]);
        assert!(out.status.success(), "{}", text(&out));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn verify(&self, config: &Path, archive: &Path, extra: &[&str]) -> (Output, Value) {
        let mut args = vec!["verify", "--json", archive.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.run(config, &args);
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("verify json: {e}\n{}", text(&out)));
        (out, report)
    }

    fn restore(&self, config: &Path, archive: &Path, db: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "restore",
            archive.to_str().unwrap(),
            "--database",
            db,
            "--job",
            "prod",
        ];
        args.extend_from_slice(extra);
        self.run(config, &args)
    }

    fn databases(&self) -> Vec<String> {
        self.pg
            .psql(
                "postgres",
                "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
            )
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Nothing decrypted was left behind, in `$TMPDIR` (never used) or in the private
    /// directory under `state_dir`.
    fn assert_no_plaintext_left(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
        let left = decrypted_copies(&self.path("state"));
        assert!(left.is_empty(), "left in state_dir/decrypt: {left:?}");
    }
}

/// An unencrypted ed25519 SSH key pair: (private key file, public key line).
fn ssh_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "restore@laptop",
            "-f",
        ])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "{}", text(&out));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

/// `age -d -i identity -o out archive`.
fn age_decrypt(identity: &Path, archive: &Path, out: &Path) {
    let o = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg("-o")
        .arg(out)
        .arg(archive)
        .output()
        .expect("run age");
    assert!(o.status.success(), "age -d: {}", text(&o));
}

fn status<'a>(report: &'a Value, check: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|c| c["check"] == check)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {check} in {report:#}"))
}

fn starts_with(path: &Path, magic: &[u8]) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.starts_with(magic)
}

#[test]
fn an_encrypted_backup_decrypts_with_age_and_restores_through_odoos_algorithm() {
    let w = World::new(2000);
    let (key, recipient) = age_keygen(w.dir.path(), "key.txt");
    let cfg = w.config(&format!("encrypt = {{ recipients = [{recipient:?}] }}"), "");
    let archive = w.backup(&cfg);
    let name = archive.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("prod_") && name.ends_with(".zip.age"),
        "{name}"
    );
    assert!(starts_with(&archive, AGE_MAGIC));
    // The history records the encrypted file's size and SHA-256.
    let history = cli::history(&cfg);
    let row = &history[0];
    assert_eq!(row["state"], "done", "{history:#}");
    assert_eq!(row["size"], std::fs::metadata(&archive).unwrap().len());
    assert_eq!(row["sha256"], sha256(&archive));

    // The reference tool decrypts it, and Odoo's restore algorithm takes the ZIP inside.
    let plain = w.path("plain.zip");
    age_decrypt(&key, &archive, &plain);
    let x = w.path("extract");
    odoo_extract(&plain, &x);
    w.pg.createdb("odoo_way");
    let load =
        w.pg.client("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", "odoo_way", "-f"])
            .arg(x.join("dump.sql"))
            .output()
            .unwrap();
    assert!(load.status.success(), "{}", text(&load));
    w.pg.assert_same_tables("prod", "odoo_way");
    assert_eq!(
        read_tree(&x.join("filestore")),
        read_tree(&w.path("filestore"))
    );

    // verify --identity runs every check on the decrypted copy, SHA-256 of the encrypted file.
    let (out, report) = w.verify(&cfg, &archive, &["--identity", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    for check in [
        "age", "decrypt", "zip", "entries", "dump", "manifest", "sha256",
    ] {
        assert_eq!(status(&report, check), "ok", "{check}: {report:#}");
    }
    assert_eq!(report["encrypted"], true);
    assert_eq!(report["history"]["job"], "prod");
    assert_eq!(report["tables"]["public.res_partner"]["dump"], 2000);
    w.assert_no_plaintext_left();

    // Without an identity: what needs no key, and a clear list of what was not checked.
    let (out, report) = w.verify(&cfg, &archive, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "age"), "ok");
    assert_eq!(status(&report, "sha256"), "ok", "{report:#}");
    assert_eq!(status(&report, "decrypt"), "skipped");
    let out = w.run(&cfg, &["verify", archive.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("no --identity") && said.contains("CRC-32") && said.contains("row counts"),
        "{said}"
    );
    assert!(said.contains("the contents need --identity"), "{said}");

    // restore --identity: the database and the filestore, nothing decrypted left behind.
    let data = w.path("odoo-data");
    let out = w.restore(
        &cfg,
        &archive,
        "restored",
        &[
            "--identity",
            key.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(backup #1 of job prod)"),
        "{}",
        text(&out)
    );
    w.pg.assert_same_tables("prod", "restored");
    assert_eq!(
        read_tree(&data.join("filestore/restored")),
        read_tree(&w.path("filestore"))
    );
    w.assert_no_plaintext_left();

    // An encrypted archive without --identity: a usage error, nothing created.
    let out = w.restore(&cfg, &archive, "no_key", &["--no-filestore"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--identity"),
        "{}",
        text(&out)
    );
    assert!(!w.databases().contains(&"no_key".to_string()));
}

#[test]
fn wrong_identity_truncated_and_tampered_archives_are_refused_before_the_database_exists() {
    let w = World::new(300);
    let (key, recipient) = age_keygen(w.dir.path(), "key.txt");
    let (other, _) = age_keygen(w.dir.path(), "other.txt");
    let cfg = w.config(&format!("encrypt = {{ recipients = [{recipient:?}] }}"), "");
    let archive = w.backup(&cfg);
    let bytes = std::fs::read(&archive).unwrap();
    let key_arg = key.to_str().unwrap();

    // Wrong identity: exit 1, the reason said, no database, no filestore, no plaintext.
    let data = w.path("odoo-data");
    let out = w.restore(
        &cfg,
        &archive,
        "wrong_key",
        &[
            "--identity",
            other.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not decrypt this archive"), "{stderr}");
    assert!(!w.databases().contains(&"wrong_key".to_string()));
    assert!(!data.exists());
    w.assert_no_plaintext_left();
    let (out, report) = w.verify(&cfg, &archive, &["--identity", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&report, "decrypt"), "failed");

    // Truncated (the last chunk gone) and tampered (one byte flipped in the middle).
    let truncated = w.path("prod_2024-01-01_00-00-00.zip.age");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();
    let tampered = w.path("prod_2024-01-02_00-00-00.zip.age");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&tampered, &flipped).unwrap();
    for (damaged, db) in [(&truncated, "from_truncated"), (&tampered, "from_tampered")] {
        let (out, report) = w.verify(&cfg, damaged, &["--identity", key_arg]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert_eq!(status(&report, "decrypt"), "failed", "{report:#}");
        assert_eq!(report["ok"], false);
        let out = w.restore(
            &cfg,
            damaged,
            db,
            &["--identity", key_arg, "--no-filestore"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("truncated or was modified"), "{stderr}");
        assert!(stderr.contains("nothing was restored"), "{stderr}");
        let exists = w.pg.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        );
        assert_eq!(exists.trim(), "0", "{db} must never be created");
        w.assert_no_plaintext_left();
    }
    // Without an identity, the SHA-256 recorded in the history still catches a change made
    // to the archive in place.
    std::fs::write(&archive, &flipped).unwrap();
    let (out, report) = w.verify(&cfg, &archive, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&report, "sha256"), "failed", "{report:#}");
}

#[test]
fn an_archive_encrypted_by_the_age_tool_and_an_ssh_recipient_round_trip() {
    let w = World::new(300);
    let (key, recipient) = age_keygen(w.dir.path(), "key.txt");
    let (ssh_key, ssh_public) = ssh_keygen(w.dir.path(), "id_ed25519");

    // A plain ZIP of sauvegarde's, encrypted by `age -r`, is verified and restored.
    let plain_cfg = w.config("", "");
    let plain = w.backup(&plain_cfg);
    let by_age = w.path("by_age.zip.age");
    let o = Command::new("age")
        .arg("-r")
        .arg(&recipient)
        .arg("-o")
        .arg(&by_age)
        .arg(&plain)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (out, report) = w.verify(&plain_cfg, &by_age, &["--identity", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "entries"), "ok", "{report:#}");
    let out = w.restore(
        &plain_cfg,
        &by_age,
        "from_age_tool",
        &["--identity", key.to_str().unwrap(), "--no-filestore"],
    );
    assert!(out.status.success(), "{}", text(&out));
    w.pg.assert_same_tables("prod", "from_age_tool");

    // An SSH public key from a recipients file (comments, blank lines), the .dump format.
    let recipients = w.path("recipients.txt");
    std::fs::write(
        &recipients,
        format!("# the restore laptop\n\n{ssh_public}\n"),
    )
    .unwrap();
    let cfg = w.config(
        &format!("format = \"dump\"\nencrypt = {{ recipients_file = {recipients:?} }}"),
        "",
    );
    let check = w.run(&cfg, &["config", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    let archive = w.backup(&cfg);
    assert!(
        archive.to_str().unwrap().ends_with(".dump.age"),
        "{archive:?}"
    );
    assert!(starts_with(&archive, AGE_MAGIC));
    let decrypted = w.path("decrypted.dump");
    age_decrypt(&ssh_key, &archive, &decrypted);
    assert!(starts_with(&decrypted, b"PGDMP"));
    let (out, report) = w.verify(&cfg, &archive, &["--identity", ssh_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "sha256"), "ok", "{report:#}");
    let out = w.restore(
        &cfg,
        &archive,
        "from_ssh_key",
        &["--identity", ssh_key.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    w.pg.assert_same_tables("prod", "from_ssh_key");
    w.assert_no_plaintext_left();
}

#[test]
fn no_file_in_the_backup_directory_ever_starts_with_the_zip_signature_during_an_encrypted_backup() {
    let w = World::new(300);
    // ~150 MiB of incompressible filestore: the backup takes a few seconds.
    std::fs::create_dir_all(w.path("filestore/ff")).unwrap();
    for i in 0..6 {
        sauvegarde_tests::files::patterned_file(
            &w.path("filestore/ff"),
            &format!("big{i}"),
            25 << 20,
        );
    }
    let (_, recipient) = age_keygen(w.dir.path(), "key.txt");
    let cfg = w.config(&format!("encrypt = {{ recipients = [{recipient:?}] }}"), "");
    let dir = w.backups();
    std::fs::create_dir_all(&dir).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, dir) = (done.clone(), dir.clone());
        std::thread::spawn(move || {
            let (mut samples, mut seen_partial, mut clear) = (0u64, 0u64, Vec::new());
            while !done.load(Ordering::Relaxed) {
                for e in std::fs::read_dir(&dir).unwrap().flatten() {
                    let mut head = [0u8; 4];
                    let n = std::fs::File::open(e.path())
                        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                        .unwrap_or(0);
                    samples += 1;
                    if e.file_name().to_string_lossy().ends_with(".partial") && n > 0 {
                        seen_partial += 1;
                    }
                    if head[..n] == *b"PK\x03\x04" {
                        clear.push(e.path());
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (samples, seen_partial, clear)
        })
    };
    let archive = w.backup(&cfg);
    done.store(true, Ordering::Relaxed);
    let (samples, seen_partial, clear) = sampler.join().unwrap();
    assert!(clear.is_empty(), "plaintext ZIP on disk: {clear:?}");
    // The sampler did watch the partial file being written.
    assert!(
        seen_partial > 0,
        "{samples} samples, none of a non-empty partial"
    );
    assert!(starts_with(&archive, AGE_MAGIC));
}

#[test]
fn retention_keeps_count_of_encrypted_archives_and_never_deletes_an_unknown_one() {
    let w = World::new(50);
    let (_, recipient) = age_keygen(w.dir.path(), "key.txt");
    let cfg = w.config(
        &format!("keep_count = 2\nencrypt = {{ recipients = [{recipient:?}] }}"),
        "",
    );
    // An encrypted archive of the job's name pattern that the history does not know.
    std::fs::create_dir_all(w.backups()).unwrap();
    let stranger = w.backups().join("prod_2001-01-01_00-00-00.zip.age");
    std::fs::write(&stranger, AGE_MAGIC).unwrap();
    let archives: Vec<PathBuf> = (0..3).map(|_| w.backup(&cfg)).collect();
    assert!(
        !archives[0].exists(),
        "the oldest of this job's archives goes"
    );
    assert!(archives[1].exists() && archives[2].exists());
    assert!(
        stranger.exists(),
        "an unknown encrypted file is never deleted"
    );
    let out = w.run(&cfg, &["prune", "prod", "--dry-run", "--adopt"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("prod_2001-01-01_00-00-00.zip.age: not this job's (encrypted, owner unknown without the identity), kept; to claim it"),
        "{said}"
    );
    assert!(!said.contains("would adopt"), "{said}");
}

#[test]
fn encrypted_archives_are_claimed_after_a_history_loss_with_adopt_and_the_identity() {
    let w = World::new(50);
    let (key, recipient) = age_keygen(w.dir.path(), "key.txt");
    let (other_key, _) = age_keygen(w.dir.path(), "other.txt");
    let encrypt = format!("encrypt = {{ recipients = [{recipient:?}] }}");
    let plain = w.config(&encrypt, "");
    let archives: Vec<PathBuf> = (0..2).map(|_| w.backup(&plain)).collect();
    // The history is lost: the encrypted archives' manifests cannot be read without the key.
    for f in ["history.sqlite", "history.sqlite-wal", "history.sqlite-shm"] {
        let _ = std::fs::remove_file(w.path("state").join(f));
    }
    let cfg = w.config(&format!("keep_count = 1\n{encrypt}"), "");
    let out = w.run(&cfg, &["prune", "prod", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let line = format!(
        "{}: not this job's (encrypted, owner unknown without the identity), kept; to claim it if it is \
         this job's (its manifest is read with the key): `sauvegarde prune prod --adopt --identity FILE`",
        archives[0].display()
    );
    assert!(said.contains(&line), "{line}\nin:\n{said}");
    // Without the key, or with another one, nothing is claimed.
    let out = w.run(&cfg, &["prune", "prod", "--adopt", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("would adopt"),
        "{}",
        text(&out)
    );
    let out = w.run(
        &cfg,
        &[
            "prune",
            "prod",
            "--adopt",
            "--identity",
            other_key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the identity does not decrypt this archive"),
        "{}",
        text(&out)
    );
    assert!(archives.iter().all(|a| a.exists()));
    // With the key: their manifests name this job; listed as adopted, then pruned as the
    // job's own (keep_count = 1). Nothing decrypted was written anywhere.
    let out = w.run(
        &cfg,
        &[
            "prune",
            "prod",
            "--adopt",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    for a in &archives {
        assert!(said.contains(&format!("adopted {}", a.display())), "{said}");
    }
    assert!(!archives[0].exists(), "{said}");
    assert!(archives[1].exists(), "{said}");
    w.assert_no_plaintext_left();
    let names: Vec<String> = std::fs::read_dir(w.backups())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".zip.age")), "{names:?}");
}

#[test]
fn invalid_recipients_are_configuration_errors_naming_the_key() {
    let w = World::new(50);
    let (_, recipient) = age_keygen(w.dir.path(), "key.txt");
    let recipients = w.path("recipients.txt");
    std::fs::write(&recipients, format!("{recipient}\nnot-a-key\n")).unwrap();
    let cfg = w.config(
        &format!(
            "encrypt = {{ recipients = [{recipient:?}, \"age1nope\"], recipients_file = {recipients:?} }}"
        ),
        "",
    );
    let out = w.run(&cfg, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("jobs.prod.encrypt.recipients[1]"), "{said}");
    assert!(said.contains("jobs.prod.encrypt.recipients_file"), "{said}");
    assert!(said.contains("line 2"), "{said}");
    // A backup with that configuration is refused before anything is written.
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!w.backups().exists() || std::fs::read_dir(w.backups()).unwrap().count() == 0);
}

#[test]
fn the_encrypted_archive_is_what_sftp_and_dropbox_receive_and_restore_from_takes_it_back() {
    let w = World::new(300);
    let sshd = Sshd::start();
    let dropbox = DropboxServer::start();
    let (key, recipient) = age_keygen(w.dir.path(), "key.txt");
    let destinations = format!(
        "[jobs.prod.destinations.offsite]\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         user = {:?}\npassword = {:?}\nhost_key_fingerprint = {:?}\nremote_dir = {:?}\ntimeout_secs = 10\n\n\
         [jobs.prod.destinations.cloud]\ntype = \"dropbox\"\napp_key = {APP_KEY:?}\napp_secret = {APP_SECRET:?}\n\
         refresh_token = {:?}\nfolder = \"OdooBackups/\"\napi_url = {:?}\ncontent_url = {:?}\n\
         oauth_url = {:?}\ntimeout_secs = 30\n",
        sshd.port(),
        sshd::PASSWORD_USER,
        sshd::PASSWORD,
        sshd.host_key_fingerprint(),
        sshd.data_dir(),
        dropbox.issue_refresh_token(),
        dropbox.api_url(),
        dropbox.content_url(),
        dropbox.oauth_url(),
    );
    let cfg = w.config(
        &format!("encrypt = {{ recipients = [{recipient:?}] }}"),
        &destinations,
    );
    let out = w.run(&cfg, &["backup", "prod"]);
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with(".zip.age"), "{name}");
    let on_sftp = sshd.data_dir().join(&name);
    let (_, on_dropbox) = dropbox
        .stored(&format!("/OdooBackups/{name}"))
        .unwrap_or_else(|| panic!("not on dropbox: {:?}", dropbox.paths()));
    for remote in [&on_sftp, &on_dropbox] {
        assert_eq!(sha256(remote), sha256(&archive), "{remote:?}");
        assert!(starts_with(remote, AGE_MAGIC));
    }

    // Downloaded from SFTP, decrypted, restored; the download and the plaintext are gone.
    Command::new("chmod")
        .arg("644")
        .arg(&on_sftp)
        .status()
        .unwrap();
    let out = w.run(
        &cfg,
        &[
            "restore",
            &name,
            "--database",
            "from_offsite",
            "--from",
            "prod/offsite",
            "--identity",
            key.to_str().unwrap(),
            "--no-filestore",
        ],
    );
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    w.pg.assert_same_tables("prod", "from_offsite");
    let left: Vec<_> = std::fs::read_dir(w.backups())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from(&name)]);
    w.assert_no_plaintext_left();
}

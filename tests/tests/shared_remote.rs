//! Two servers sharing one remote directory (issue 28): two hosts — two machine ids, each
//! `sauvegarde` run in a private mount namespace with its own `/etc/machine-id`
//! bind-mounted over the real one, two state directories — back up database `shop` in the
//! same (faked, frozen) second to one SFTP directory and one S3 bucket. Neither replaces
//! the other's archive, each history points at its own bytes, and another host's upload
//! in progress is never swept.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::text;
use sauvegarde_tests::files::sha256;
use sauvegarde_tests::postgres::PgCluster;
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::s3::{self, S3Server};
use sauvegarde_tests::sshd::{self, Sshd};
use serde_json::Value;

/// One of the two servers: its machine id, its configuration, state and backups.
struct Host {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Host {
    /// A host whose `/etc/machine-id` says `machine_id`, backing up `shop` of `pg` into
    /// `sshd`'s directory and `s3`'s bucket, with `keep_count`.
    fn new(
        machine_id: &str,
        pg: &PgCluster,
        sshd: &Sshd,
        s3: Option<&S3Server>,
        keep: u32,
    ) -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("machine-id"), format!("{machine_id}\n")).unwrap();
        let config = dir.path().join("sauvegarde.toml");
        let mut text = format!(
            "backup_dir = {backups:?}\nstate_dir = {state:?}\nplugin_dirs = []\n\n\
             [jobs.shop]\ndatabase = \"shop\"\ndb_host = \"127.0.0.1\"\ndb_port = {port}\n\
             db_user = \"postgres\"\nfilestore = \"none\"\nkeep_count = {keep}\n\n\
             [jobs.shop.destinations.offsite]\ntype = \"sftp\"\nhost = \"127.0.0.1\"\n\
             port = {ssh_port}\nuser = {user:?}\npassword = {password:?}\n\
             host_key_fingerprint = {fingerprint:?}\nremote_dir = {remote:?}\n\n",
            backups = dir.path().join("backups"),
            state = dir.path().join("state"),
            port = pg.port(),
            ssh_port = sshd.port(),
            user = sshd::PASSWORD_USER,
            password = sshd::PASSWORD,
            fingerprint = sshd.host_key_fingerprint(),
            remote = sshd.data_dir(),
        );
        if let Some(s3) = s3 {
            text.push_str(&format!(
                "[jobs.shop.destinations.bucket]\ntype = \"s3\"\nbucket = {bucket:?}\n\
                 prefix = \"shared\"\nendpoint = {endpoint:?}\naccess_key_id = {key:?}\n\
                 secret_access_key = {secret:?}\npath_style = true\n",
                bucket = s3::BUCKET,
                endpoint = s3.endpoint(),
                key = s3::ACCESS_KEY,
                secret = s3::SECRET_KEY,
            ));
        }
        std::fs::write(&config, text).unwrap();
        Host { dir, config }
    }

    /// `sauvegarde <args>` as this host at the frozen time `at` (UTC), to completion.
    fn run(&self, at: &str, args: &[&str]) -> Output {
        self.command(at, args)
            .output()
            .expect("run sauvegarde under unshare and faketime")
    }

    /// `sauvegarde <args>` as this host at the frozen time `at` (UTC): in a mount
    /// namespace of its own where `/etc/machine-id` is this host's, under `faketime`.
    fn command(&self, at: &str, args: &[&str]) -> Command {
        let script = r#"mount --bind "$1" /etc/machine-id && shift && exec "$@""#;
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(self.dir.path().join("machine-id"))
            .args(["faketime", "-m", "-f", at])
            .arg(artifacts().host_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("TZ", "UTC")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        command
    }

    /// The history's newest backup row, with its exports.
    fn last_backup(&self, at: &str) -> Value {
        let out = self.run(at, &["history", "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
        rows[0].clone()
    }
}

/// The remote name the backup row's `done` export to `destination` recorded.
fn remote_name(row: &Value, destination: &str) -> String {
    row["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["destination"] == destination && e["state"] == "done")
        .unwrap_or_else(|| panic!("no done export to {destination}: {row:#}"))["remote_name"]
        .as_str()
        .unwrap()
        .to_string()
}

fn sorted(names: &[&String]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Now plus `secs`, as `faketime -f` reads an absolute, frozen time (UTC). Near the real
/// time: the S3 server refuses requests signed more than 15 minutes away from its clock.
fn frozen(secs: i64) -> (String, String) {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    (
        at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        at.strftime("%Y-%m-%d_%H-%M-%S").to_string(),
    )
}

#[test]
fn two_hosts_in_one_second_keep_both_copies_and_never_sweep_each_others_partials() {
    let pg = PgCluster::start();
    let fixture = tempfile::tempdir().unwrap();
    pg.create_odoo_fixture("shop", "17.0.1.3", &fixture.path().join("filestore"), 40);
    let sshd = Sshd::start();
    let s3 = S3Server::start();
    let a = Host::new("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &pg, &sshd, Some(&s3), 1);
    let b = Host::new("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", &pg, &sshd, Some(&s3), 1);
    let (at, stamp) = frozen(60);
    let name = format!("shop_{stamp}.zip");

    // Other servers' uploads of that second in progress into the shared directory (an
    // older version's plain `<name>.partial`, a newer one's tagged temporary name); their
    // modification time is two days before these hosts' clocks (the SFTP server's clock
    // is behind): sweeping by age, as plugins did, takes the first.
    let theirs = [
        format!("{name}.partial"),
        format!("{name}.0badc0de-4242-1.partial"),
    ];
    let two_days_before = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400);
    for partial in &theirs {
        let path = sshd.data_dir().join(partial);
        std::fs::write(&path, vec![9u8; 5000]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(two_days_before))
            .unwrap();
    }

    for host in [&a, &b] {
        let out = host.run(&at, &["backup", "shop"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let (row_a, row_b) = (a.last_backup(&at), b.last_backup(&at));
    for row in [&row_a, &row_b] {
        assert_eq!(row["file_name"], name.as_str(), "{row:#}");
    }
    // A came first and kept the name; B's archive went under B's host tag, on both.
    for destination in ["offsite", "bucket"] {
        assert_eq!(remote_name(&row_a, destination), name);
        let tagged = remote_name(&row_b, destination);
        let tag = tagged
            .strip_prefix(&format!("shop_{stamp}."))
            .and_then(|t| t.strip_suffix(".zip"))
            .unwrap_or_else(|| panic!("{tagged}"));
        assert!(
            tag.len() == 8 && tag.bytes().all(|c| c.is_ascii_hexdigit()),
            "{tagged}"
        );
    }
    // Each history points at its own bytes, on both destinations.
    for (row, host) in [(&row_a, "a"), (&row_b, "b")] {
        let local = sha256(Path::new(row["path"].as_str().unwrap()));
        assert_eq!(row["sha256"].as_str(), Some(local.as_str()), "{host}");
        let remote = remote_name(row, "offsite");
        assert_eq!(
            sha256(&sshd.data_dir().join(&remote)),
            local,
            "{host}: sftp"
        );
        let remote = remote_name(row, "bucket");
        assert_eq!(
            sha256(&s3.object(&format!("shared/{remote}"))),
            local,
            "{host}: s3"
        );
    }
    assert_ne!(row_a["sha256"], row_b["sha256"]);
    let tagged = remote_name(&row_b, "offsite");
    assert_eq!(
        names_in(&sshd.data_dir()),
        sorted(&[&name, &theirs[0], &theirs[1], &tagged])
    );
    assert_eq!(s3.objects("shared"), sorted(&[&name, &tagged]));

    // `prune --dry-run` lists the other servers' temporary files, kept.
    let out = b.run(&at, &["prune", "shop", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    for partial in &theirs {
        assert!(
            shown.contains(&format!(
                "offsite:{partial}: a temporary upload file this host did not leave behind"
            )),
            "{shown}"
        );
    }

    // Ten seconds later B backs up again: with keep_count = 1 its retention deletes its
    // own tagged copy, never A's archive nor A's temporary file.
    let (later, _) = frozen(70);
    let out = b.run(&later, &["backup", "shop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let newest = remote_name(&b.last_backup(&later), "offsite");
    assert_eq!(
        names_in(&sshd.data_dir()),
        sorted(&[&name, &theirs[0], &theirs[1], &newest])
    );
    assert_eq!(s3.objects("shared"), sorted(&[&name, &newest]));
    for partial in &theirs {
        assert_eq!(
            std::fs::read(sshd.data_dir().join(partial)).unwrap(),
            vec![9u8; 5000]
        );
    }
}

#[test]
fn the_temporary_file_of_this_hosts_killed_upload_is_swept_and_anothers_is_kept() {
    let pg = PgCluster::start();
    let fixture = tempfile::tempdir().unwrap();
    pg.create_odoo_fixture("shop", "17.0.1.3", &fixture.path().join("filestore"), 40);
    let sshd = Sshd::start();
    let host = Host::new("cccccccccccccccccccccccccccccccc", &pg, &sshd, None, 5);
    let (at, _) = frozen(60);
    let data = sshd.data_dir();
    // Another server's temporary file of an archive of `shop`, a minute old.
    let theirs = "shop_2024-05-05_05-05-05.zip.0badc0de-4242-1.partial";
    std::fs::write(data.join(theirs), vec![9u8; 5000]).unwrap();

    // This host's export of a big archive, killed (SIGKILL, as a crash) mid-upload: its
    // temporary file stays, under the name its history recorded before the upload.
    let name = "shop_2024-05-05_05-05-05.zip";
    let big = fixture.path().join(name);
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(3 << 30)) // sparse: cheap here, slow enough over SFTP
        .unwrap();
    let mut export = host.command(&at, &["export", "shop", big.to_str().unwrap()]);
    let mut child = KillOnDrop::spawn(
        export
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let ours = loop {
        let growing = names_in(&data).into_iter().find(|n| {
            n.starts_with(name)
                && n != theirs
                && std::fs::metadata(data.join(n)).is_ok_and(|m| m.len() > (8 << 20))
        });
        if let Some(n) = growing {
            break n;
        }
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The whole group: faketime may run sauvegarde as a child of its own.
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.pid())])
        .status()
        .unwrap();
    assert!(killed.success());
    child.kill();
    // The worker ends when it sees its host gone; the file stops growing.
    let mut size = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = std::fs::metadata(data.join(&ours)).unwrap().len();
        if now == size {
            break;
        }
        size = now;
    }
    assert!(
        ours.ends_with(".partial") && ours.len() > name.len(),
        "{ours}"
    );

    // The next backup marks the dead attempt failed and sweeps its temporary file; the
    // other server's stays.
    let out = host.run(&at, &["backup", "shop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let left = names_in(&data);
    assert!(!left.contains(&ours), "{left:?}");
    assert!(left.iter().any(|n| n == theirs), "{left:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&ours),
        "the sweep is logged: {}",
        text(&out)
    );
}

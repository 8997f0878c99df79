//! The first hour with the package: the configuration it installs is valid as shipped (no
//! job, every example commented out, and every example valid once uncommented), and a
//! command checks only what it uses — a job whose secret file is missing stops that job's
//! commands, not `plugins`, `help`, `config init`, `verify` or `restore` of an archive.
//!
//! The packaged file is used as it is (`--config packaging/sauvegarde.example.toml`), its
//! directories moved into the test's own by `SAUVEGARDE_*` variables.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sauvegarde_tests::build::{artifacts, workspace_root};
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;

fn example() -> PathBuf {
    workspace_root().join("packaging/sauvegarde.example.toml")
}

/// `sauvegarde --config <config> <args>` with state, backups and plugins in `dir`.
fn sauvegarde(config: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("SAUVEGARDE_STATE_DIR", dir.join("state"))
        .env("SAUVEGARDE_BACKUP_DIR", dir.join("backups"))
        .env("SAUVEGARDE_PLUGIN_DIRS", "[]")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sauvegarde")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_packaged_configuration_is_valid_with_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let out = sauvegarde(&example(), dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("configuration OK: 0 job(s)"),
        "{}",
        text(&out)
    );
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{}", text(&out));
    assert!(warnings[0].contains("no job"), "{}", text(&out));
    for args in [
        &["plugins"][..],
        &["jobs"],
        &["history"],
        &["config", "show"],
    ] {
        let out = sauvegarde(&example(), dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(
            !stderr(&out).contains("warning"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn every_commented_example_is_valid_once_uncommented() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(example()).unwrap();
    // `# ` starts an example line, `##` an explanation.
    let uncommented: String = example
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let text_cfg = uncommented.replace("/etc/sauvegarde/", &format!("{}/", dir.path().display()));
    assert!(!text_cfg.contains("/etc/sauvegarde"), "{text_cfg}");
    let cfg = dir.path().join("uncommented.toml");
    std::fs::write(&cfg, &text_cfg).unwrap();
    for secret in ["staging.password", "smtp.password"] {
        std::fs::write(dir.path().join(secret), "not-a-real-secret\n").unwrap();
    }
    // The odoo notifier's API key file must be its owner's alone.
    let odoo_key = dir.path().join("odoo.key");
    std::fs::write(&odoo_key, "not-a-real-key\n").unwrap();
    std::fs::set_permissions(
        &odoo_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // The status page: a password hash, and an API token file its owner's alone.
    let hash = Command::new(artifacts().host_bin())
        .args(["config", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"not-a-real-password\n")?;
            child.wait_with_output()
        })
        .expect("config hash-password");
    assert!(hash.status.success(), "{}", text(&hash));
    std::fs::write(dir.path().join("web.password-hash"), &hash.stdout).unwrap();
    let web_token = dir.path().join("web.token");
    std::fs::write(&web_token, "not-a-real-token-0123456789\n").unwrap();
    std::fs::set_permissions(
        &web_token,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("chat-webhook.url"),
        "https://chat.example.org/hooks/not-a-real-token\n",
    )
    .unwrap();
    // `config check` has the sftp plugin validate its settings: the key must be a key.
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(dir.path().join("id_ed25519"))
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());

    let out = sauvegarde(&cfg, dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{text_cfg}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("configuration OK: 3 job(s)"),
        "{}",
        text(&out)
    );
    // Each kind of example is there: jobs, a destination, notifiers (global and a job's).
    let out = sauvegarde(&cfg, dir.path(), &["config", "show", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains("$argon2id$"),
        "the password hash is masked: {shown}"
    );
    assert!(
        !shown.contains("not-a-real-token"),
        "the API token is masked"
    );
    for key in [
        "jobs.prod.destinations.offsite.type",
        "jobs.staging.notify.webhook.url",
        "jobs.archive.active",
        "notify.email.smtp_host",
        "notify.webhook.url",
        "notify.command.argv",
        "notify.odoo.channel",
        "web.listen",
    ] {
        assert!(
            shown.contains(&format!("\"{key}\"")),
            "{key} missing: {shown}"
        );
    }
    let out = sauvegarde(&cfg, dir.path(), &["jobs", "--json"]);
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("jobs json");
    let ids: Vec<&str> = jobs
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(ids, ["archive", "prod", "staging"]);
}

/// Lines of `out`'s stderr that warn about job `id`.
fn warnings_about(out: &Output, id: &str) -> usize {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains(&format!("`{id}`")))
        .count()
}

#[test]
fn commands_that_use_no_job_work_when_a_jobs_secret_file_is_missing() {
    let w = OdooWorld::new(50);
    let missing = w.path("secrets/broken.password");
    let cfg = w.config(
        "",
        &format!("[jobs.broken]\ndatabase = \"prod\"\ndb_password_file = {missing:?}\n"),
    );
    let run = |args: &[&str]| cli::run(&cfg, args, "warn");
    let broken_named = |out: &Output| {
        let err = stderr(out);
        err.contains("`jobs.broken.db_password_file`")
            && err.contains(&missing.display().to_string())
    };

    // The broken job's own commands report its error, exit 2, and write nothing.
    for args in [
        &["backup", "broken"][..],
        &["prune", "broken", "--dry-run"],
        &["drill", "broken"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(broken_named(&out), "{args:?}: {}", text(&out));
    }
    assert!(!w.backups().exists(), "a refused backup wrote");
    // So do the commands that act on every job.
    for args in [&["config", "check"][..], &["jobs"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(broken_named(&out), "{args:?}: {}", text(&out));
    }

    // Another job works, saying in one line that `broken` is not.
    let out = run(&["backup", "prod", "--no-export", "--no-notify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(warnings_about(&out, "broken"), 1, "{}", text(&out));
    let archive = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(Path::new(&archive).is_file(), "{}", text(&out));

    // The commands that need no job: each works, with the one warning line.
    let port = w.pg.port().to_string();
    let odoo_conf = w.path("odoo.conf");
    std::fs::write(
        &odoo_conf,
        format!(
            "[options]\ndb_host = 127.0.0.1\ndb_port = {port}\ndb_user = postgres\n\
             db_password = False\ndata_dir = {}\n",
            w.path("odoo-data").display()
        ),
    )
    .unwrap();
    let written = w.path("written-by-init.toml");
    let cases: Vec<Vec<&str>> = vec![
        vec!["plugins"],
        vec!["history"],
        vec!["verify", &archive],
        vec![
            "restore",
            &archive,
            "--database",
            "prod_copy",
            "--no-filestore",
            "--db-host",
            "127.0.0.1",
            "--db-port",
            &port,
            "--db-user",
            "postgres",
        ],
    ];
    for args in &cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert_eq!(
            warnings_about(&out, "broken"),
            1,
            "{args:?}: {}",
            text(&out)
        );
        assert!(!broken_named(&out), "{args:?}: {}", text(&out));
    }
    w.pg.assert_same_tables("prod", "prod_copy");
    // `help` and `config init` read no configuration at all.
    let out = run(&["help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&[
        "config",
        "init",
        "--odoo-conf",
        odoo_conf.to_str().unwrap(),
        "--output",
        written.to_str().unwrap(),
        "--backup-dir",
        w.path("init-backups").to_str().unwrap(),
        "--state-dir",
        w.path("init-state").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(written.is_file());
}

//! `verify` and `restore` end to end with the real binary, a real PostgreSQL 15 and a real
//! OpenSSH server: round trips (ZIP and .dump), restore from an SFTP destination, damaged
//! and malicious archives, refusals, roll-back, and `verify_after_backup`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::postgres::{read_tree, BIN};
use sauvegarde_tests::sshd::{self, Sshd};
use serde_json::Value;

/// One test's world: a cluster with the Odoo-shaped `prod`, its filestore, a config.
struct World(OdooWorld);

impl std::ops::Deref for World {
    type Target = OdooWorld;
    fn deref(&self) -> &OdooWorld {
        &self.0
    }
}

impl World {
    fn new() -> Self {
        World(OdooWorld::new(2000))
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        cli::host(config, args, "info")
            .env_remove("PGPASSWORD")
            .output()
            .expect("run sauvegarde")
    }

    /// `backup prod` and the archive path it printed.
    fn backup(&self, config: &Path) -> PathBuf {
        let out = self.run(config, &["backup", "prod", "--no-export"]);
        assert!(out.status.success(), "{}", text(&out));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// `restore <archive> --database <db> <extra…>`.
    fn restore(&self, config: &Path, archive: &str, db: &str, extra: &[&str]) -> Output {
        let mut args = vec!["restore", archive, "--database", db];
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

    fn verify(&self, config: &Path, archive: &Path, extra: &[&str]) -> (Output, Value) {
        let mut args = vec!["verify", "--json", archive.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.run(config, &args);
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("verify json: {e}\n{}", text(&out)));
        (out, report)
    }
}

/// The status of `check` in a verify report (the last one of that name).
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

/// Every path under `root` (files, directories, links), relative.
fn listing(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&p, root, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Runs a Python script with `args` (zipfile does what no Rust dev-dependency here does:
/// writes hostile entry names and symbolic-link entries).
fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "python: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Offset in the file of the data of entry `name` of a ZIP, and its compressed size.
fn entry_data(archive: &Path, name: &str) -> (u64, u64) {
    let script = "import sys, zipfile, struct\n\
        z = zipfile.ZipFile(sys.argv[1]); i = z.getinfo(sys.argv[2])\n\
        f = open(sys.argv[1], 'rb'); f.seek(i.header_offset); h = f.read(30)\n\
        n, e = struct.unpack('<HH', h[26:30])\n\
        print(i.header_offset + 30 + n + e, i.compress_size)";
    let out = python(
        &script.replace("sys.argv[2]", &format!("{name:?}")),
        &[archive],
    );
    let mut parts = out.split_whitespace().map(|p| p.parse::<u64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

/// A copy of `archive` at `to` with the byte at `offset` flipped.
fn flipped(archive: &Path, to: &Path, offset: u64) {
    let mut bytes = std::fs::read(archive).unwrap();
    bytes[offset as usize] ^= 0x5a;
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn zip_round_trip_verify_and_restore() {
    let w = World::new();
    let cfg = w.config("", "");
    let archive = w.backup(&cfg);

    // verify: every check passes, including the SHA-256 recorded in the history.
    let (out, report) = w.verify(&cfg, &archive, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["ok"], true);
    for check in [
        "zip",
        "names",
        "entries",
        "dump",
        "manifest",
        "row_counts",
        "sha256",
    ] {
        assert_eq!(status(&report, check), "ok", "{check}: {report:#}");
    }
    assert_eq!(report["history"]["job"], "prod");
    assert_eq!(report["tables"]["public.res_partner"]["manifest"], 2000);
    assert_eq!(report["tables"]["public.res_partner"]["dump"], 2000);
    assert_eq!(report["tables"]["extra.Mixed Case"]["dump"], 2);
    assert_eq!(report["filestore_files"], 41);
    // The text report says the same.
    let out = w.run(&cfg, &["verify", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let report_text = String::from_utf8_lossy(&out.stdout);
    assert!(report_text.contains("✓ sha256"), "{report_text}");
    assert!(report_text.ends_with("result: OK\n"), "{report_text}");

    // verify --restore --strict: a scratch database, same rows, dropped afterwards.
    let before = w.databases();
    let (out, report) = w.verify(&cfg, &archive, &["--restore", "--strict", "--job", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "restore"), "ok");
    assert_eq!(status(&report, "restored_rows"), "ok", "{report:#}");
    assert_eq!(report["tables"]["public.res_partner"]["restored"], 2000);
    assert_eq!(report["tables"]["public.ir_attachment"]["restored"], 40);
    assert_eq!(w.databases(), before, "the scratch database is dropped");

    // restore with the job's connection, the filestore under a data_dir.
    // Odoo's data_dir belongs to its user (here `postgres`, an account that exists).
    let data = w.path("odoo-data");
    std::fs::create_dir_all(data.join("filestore")).unwrap();
    let chown = Command::new("chown")
        .arg("postgres:postgres")
        .arg(data.join("filestore"))
        .status()
        .unwrap();
    assert!(chown.success());
    let out = w.restore(
        &cfg,
        archive.to_str().unwrap(),
        "prod_copy",
        &["--job", "prod", "--data-dir", data.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("restored database prod_copy"), "{stdout}");
    assert!(
        stdout.contains("archive verified first (backup #1 of job prod)"),
        "{stdout}"
    );
    w.pg.assert_same_tables("prod", "prod_copy");
    let restored = data.join("filestore/prod_copy");
    assert_eq!(read_tree(&restored), read_tree(&w.path("filestore")));
    assert_eq!(
        listing(&data.join("filestore"))
            .iter()
            .filter(|p| !p.starts_with("prod_copy"))
            .count(),
        0,
        "no staging directory left: {:?}",
        listing(&data)
    );
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let some_file = restored.join("checklist/ab/ab00");
    let meta = std::fs::metadata(&some_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    // Run as root (as these tests are), the files go to the data_dir's owner.
    let owner = std::fs::metadata(data.join("filestore")).unwrap();
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        assert_eq!((meta.uid(), meta.gid()), (owner.uid(), owner.gid()));
        let dir = std::fs::metadata(restored.join("checklist")).unwrap();
        assert_eq!(dir.uid(), owner.uid());
        assert_eq!(std::fs::metadata(&restored).unwrap().uid(), owner.uid());
    }

    // An existing database is refused (exit 2), whatever its filestore: nothing changes.
    let digest = w.pg.table_digest("prod_copy", "res_partner");
    for (db, dir) in [("prod_copy", "other-fs"), ("prod", "other-fs2")] {
        let target = w.path(dir);
        let out = w.restore(
            &cfg,
            archive.to_str().unwrap(),
            db,
            &["--job", "prod", "--filestore-dir", target.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains(&format!("database `{db}` already exists")),
            "{}",
            text(&out)
        );
        assert!(!target.exists(), "nothing written for a refused restore");
    }
    assert_eq!(w.pg.table_digest("prod_copy", "res_partner"), digest);
    assert_eq!(read_tree(&restored), read_tree(&w.path("filestore")));

    // A non-empty filestore directory is refused too, before any database is created.
    let out = w.restore(
        &cfg,
        archive.to_str().unwrap(),
        "prod_copy2",
        &[
            "--job",
            "prod",
            "--filestore-dir",
            restored.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!w.databases().contains(&"prod_copy2".to_string()));

    // Ad-hoc connection flags, no job: database only; an invalid name is refused.
    let port = w.pg.port().to_string();
    let flags = [
        "--db-host",
        "127.0.0.1",
        "--db-port",
        &port,
        "--db-user",
        "postgres",
    ];
    let archive_arg = archive.to_str().unwrap();
    let adhoc = |db: &str, extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend_from_slice(&flags);
        w.restore(&cfg, archive_arg, db, &args)
    };
    let out = adhoc("adhoc", &["--no-filestore"]);
    assert!(out.status.success(), "{}", text(&out));
    w.pg.assert_same_tables("prod", "adhoc");
    let out = adhoc("../evil", &["--no-filestore"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Without any filestore destination, an archive with a filestore is refused.
    let out = adhoc("nowhere", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--filestore-dir"),
        "{}",
        text(&out)
    );
    assert!(!w.databases().contains(&"nowhere".to_string()));
}

#[test]
fn dump_format_round_trip_and_truncation() {
    let w = World::new();
    let cfg = w.config("format = \"dump\"", "");
    let archive = w.backup(&cfg);
    assert!(archive.to_str().unwrap().ends_with(".dump"));

    let (out, report) = w.verify(&cfg, &archive, &["--job", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    for check in ["toc", "data", "dump", "sha256"] {
        assert_eq!(status(&report, check), "ok", "{check}: {report:#}");
    }
    assert_eq!(report["tables"]["public.res_partner"]["dump"], 2000);
    let (out, report) = w.verify(&cfg, &archive, &["--restore", "--strict", "--job", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "restored_rows"), "ok", "{report:#}");
    assert_eq!(report["tables"]["public.res_partner"]["restored"], 2000);

    // A .dump is loaded by `pg_restore --jobs N`.
    let out = w.restore(
        &cfg,
        archive.to_str().unwrap(),
        "prod_copy",
        &["--job", "prod", "--jobs", "3"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pg_restore") && stderr.contains("jobs=3"),
        "{stderr}"
    );
    w.pg.assert_same_tables("prod", "prod_copy");

    // Truncated: pg_restore --list still reads the table of contents, the data pass fails.
    let bytes = std::fs::read(&archive).unwrap();
    let cut = w.path("cut.dump");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (out, report) = w.verify(&cfg, &cut, &["--job", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&report, "toc"), "ok");
    assert_eq!(status(&report, "data"), "failed", "{report:#}");
    let before = w.databases();
    let out = w.restore(&cfg, cut.to_str().unwrap(), "cut_copy", &["--job", "prod"]);
    assert_eq!(out.status.code(), Some(2), "refused: {}", text(&out));
    assert_eq!(w.databases(), before);
    // Without the verification first, pg_restore fails mid-way and the database is dropped.
    let out = w.restore(
        &cfg,
        cut.to_str().unwrap(),
        "cut_copy",
        &["--job", "prod", "--no-verify"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`cut_copy` was dropped"),
        "{}",
        text(&out)
    );
    assert_eq!(w.databases(), before);
}

#[test]
fn damaged_zip_archives_are_detected_by_verify_and_restore() {
    let w = World::new();
    let cfg = w.config("", "");
    let archive = w.backup(&cfg);
    let damaged = w.path("damaged");
    std::fs::create_dir(&damaged).unwrap();

    let (dump_at, dump_len) = entry_data(&archive, "dump.sql");
    let (manifest_at, _) = entry_data(&archive, "manifest.json");
    let stored = python(
        "import sys, zipfile\n\
         print(next(i.filename for i in zipfile.ZipFile(sys.argv[1]).infolist() \
           if i.filename.startswith('filestore/') and i.compress_type == 0 and i.file_size > 1000))",
        &[&archive],
    );
    let (file_at, file_len) = entry_data(&archive, &stored);
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(damaged.join("truncated.zip"), &bytes[..bytes.len() / 2]).unwrap();
    flipped(
        &archive,
        &damaged.join("flip-dump.zip"),
        dump_at + dump_len / 2,
    );
    flipped(
        &archive,
        &damaged.join("flip-file.zip"),
        file_at + file_len / 2,
    );
    flipped(
        &archive,
        &damaged.join("flip-manifest.zip"),
        manifest_at + 3,
    );

    for (name, failing) in [
        ("truncated.zip", "zip"),
        ("flip-dump.zip", "entries"),
        ("flip-file.zip", "entries"),
        ("flip-manifest.zip", "entries"),
    ] {
        let path = damaged.join(name);
        let (out, report) = w.verify(&cfg, &path, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        assert_eq!(report["ok"], false, "{name}");
        assert_eq!(status(&report, failing), "failed", "{name}: {report:#}");
        // Not in the history under this name: the structure alone caught it.
        assert_eq!(status(&report, "sha256"), "skipped", "{name}");

        let data = w.path(&format!("data-{name}"));
        // The manifest is not used by a restore: only the verification first catches it.
        let modes: &[bool] = if name == "flip-manifest.zip" {
            &[false]
        } else {
            &[false, true]
        };
        for &no_verify in modes {
            let mut extra = vec!["--job", "prod", "--data-dir", data.to_str().unwrap()];
            if no_verify {
                extra.push("--no-verify");
            }
            let out = w.restore(&cfg, path.to_str().unwrap(), "broken", &extra);
            // Refused before anything was created (2); a damaged filestore file is only
            // found by --no-verify's extraction, after the database was created (1).
            assert_eq!(
                out.status.code(),
                Some(if no_verify && name == "flip-file.zip" {
                    1
                } else {
                    2
                }),
                "{name} {no_verify}: {}",
                text(&out)
            );
            assert!(
                !w.databases().contains(&"broken".to_string()),
                "{name}: no database left"
            );
            assert_eq!(
                listing(&data.join("filestore")),
                Vec::<String>::new(),
                "{name}: no file left"
            );
        }
    }

    // A copy under the archive's own name: found in the history by name, and a change
    // the ZIP structure does not cover (an entry's time stamp) fails the SHA-256.
    let copy_dir = w.path("copy");
    std::fs::create_dir(&copy_dir).unwrap();
    let copy = copy_dir.join(archive.file_name().unwrap());
    let cd_time = python(
        "import sys\nb = open(sys.argv[1], 'rb').read()\nprint(b.rfind(b'PK\\x01\\x02') + 12)",
        &[&archive],
    );
    flipped(&archive, &copy, cd_time.parse().unwrap());
    let (out, report) = w.verify(&cfg, &copy, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&report, "sha256"), "failed", "{report:#}");
    std::fs::copy(&archive, copy_dir.join("intact.zip")).unwrap();
    std::fs::remove_file(&copy).unwrap();
    std::fs::rename(copy_dir.join("intact.zip"), &copy).unwrap();
    let (out, report) = w.verify(&cfg, &copy, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "sha256"), "ok");

    // A damaged archive is not test-restored.
    let (out, report) = w.verify(
        &cfg,
        &damaged.join("flip-dump.zip"),
        &["--restore", "--job", "prod"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&report, "restore"), "skipped");
}

/// A hostile ZIP member: name, content (the link target for a link), is a symbolic link.
type Member<'a> = (String, &'a str, bool);

/// Writes a ZIP with a valid small dump.sql and manifest plus `members`
/// (`(name, content, is_symlink)`).
fn hostile_zip(path: &Path, members: &[(&str, &str, bool)]) {
    let mut script = String::from(
        "import sys, zipfile\n\
         z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
         z.writestr('dump.sql', 'CREATE TABLE public.t (x integer);\\nCOPY public.t (x) FROM stdin;\\n1\\n\\\\.\\n--\\n-- PostgreSQL database dump complete\\n--\\n')\n\
         z.writestr('manifest.json', '{\"db_name\": \"evil\", \"sauvegarde.tables\": {\"public.t\": 1}}')\n\
         z.writestr('filestore/ab/ok', 'fine')\n",
    );
    for (name, content, link) in members {
        if *link {
            script.push_str(&format!(
                "i = zipfile.ZipInfo({name:?}); i.create_system = 3; i.external_attr = 0o120777 << 16\n\
                 z.writestr(i, {content:?})\n"
            ));
        } else {
            script.push_str(&format!("z.writestr({name:?}, {content:?})\n"));
        }
    }
    script.push_str("z.close()\n");
    python(&script, &[path]);
}

#[test]
fn malicious_archives_are_refused_and_nothing_is_written_outside() {
    let w = World::new();
    let cfg = w.config("", "");
    let outside = tempfile::tempdir().unwrap();
    let absolute = outside.path().join("absolute-x");
    let cases: Vec<(&str, Vec<Member>)> = vec![
        ("parent", vec![("../../etc/x".to_string(), "pwned", false)]),
        (
            "filestore-parent",
            vec![("filestore/../../../x".to_string(), "pwned", false)],
        ),
        (
            "absolute",
            vec![(absolute.display().to_string(), "pwned", false)],
        ),
        (
            "symlink",
            vec![
                (
                    "filestore/ab/link".to_string(),
                    outside.path().to_str().unwrap(),
                    true,
                ),
                ("filestore/ab/link/x".to_string(), "pwned", false),
            ],
        ),
    ];
    // The target is deep inside the test directory, so `..` paths would land in it.
    let data = w.path("a/b/c/data");
    let good = w.path("hostile/good.zip");
    std::fs::create_dir_all(good.parent().unwrap()).unwrap();
    hostile_zip(&good, &[]);
    let (out, _) = w.verify(&cfg, &good, &[]);
    assert!(
        out.status.success(),
        "the harmless variant is sound: {}",
        text(&out)
    );

    for (case, members) in &cases {
        let path = w.path(&format!("hostile/{case}.zip"));
        let members: Vec<(&str, &str, bool)> = members
            .iter()
            .map(|(n, c, l)| (n.as_str(), *c, *l))
            .collect();
        hostile_zip(&path, &members);
        let (out, report) = w.verify(&cfg, &path, &[]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out));
        assert_eq!(status(&report, "names"), "failed", "{case}: {report:#}");

        let before = listing(w.dir.path());
        for no_verify in [false, true] {
            let mut extra = vec!["--job", "prod", "--data-dir", data.to_str().unwrap()];
            if no_verify {
                extra.push("--no-verify");
            }
            let out = w.restore(&cfg, path.to_str().unwrap(), "evil", &extra);
            assert_eq!(out.status.code(), Some(2), "{case}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("unsafe") || stderr.contains("failed verification"),
                "{case}: {stderr}"
            );
            assert_eq!(listing(w.dir.path()), before, "{case}: nothing written");
            assert!(!w.databases().contains(&"evil".to_string()), "{case}");
        }
        assert_eq!(listing(outside.path()), Vec::<String>::new(), "{case}");
        assert!(!Path::new("/etc/x").exists());
    }

    // A target directory that is a symbolic link is refused: nothing lands where it points.
    let link = w.path("link-target");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let out = w.restore(
        &cfg,
        good.to_str().unwrap(),
        "evil",
        &["--job", "prod", "--filestore-dir", link.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(listing(outside.path()), Vec::<String>::new());

    // The harmless variant restores, its one file in place.
    let target = w.path("good-fs");
    let out = w.restore(
        &cfg,
        good.to_str().unwrap(),
        "good",
        &["--job", "prod", "--filestore-dir", target.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        read_tree(&target),
        BTreeMap::from([("ab/ok".to_string(), b"fine".to_vec())])
    );
    assert_eq!(w.pg.psql("good", "SELECT x FROM t"), "1");
}

#[test]
fn a_failing_sql_script_rolls_the_restore_back() {
    let w = World::new();
    let cfg = w.config("", "");
    let path = w.path("bad-sql.zip");
    python(
        "import sys, zipfile\n\
         z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
         z.writestr('dump.sql', 'CREATE TABLE public.t (x integer);\\nINSERT INTO public.missing_table VALUES (1);\\n--\\n-- PostgreSQL database dump complete\\n--\\n')\n\
         z.writestr('filestore/ab/file', 'data')\n\
         z.close()\n",
        &[&path],
    );
    let target = w.path("fs");
    let before = w.databases();
    let out = w.restore(
        &cfg,
        path.to_str().unwrap(),
        "half",
        &["--job", "prod", "--filestore-dir", target.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing_table"),
        "psql's error is shown: {stderr}"
    );
    assert!(stderr.contains("`half` was dropped"), "{stderr}");
    assert_eq!(w.databases(), before);
    assert!(!target.exists());
    assert_eq!(
        listing(w.dir.path())
            .iter()
            .filter(|p| p.contains(".restore-"))
            .count(),
        0
    );
}

#[test]
fn restore_from_an_sftp_destination() {
    let w = World::new();
    let sshd = Sshd::start();
    let destination = format!(
        "[jobs.prod.destinations.offsite]\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         user = {:?}\npassword = {:?}\nhost_key_fingerprint = {:?}\nremote_dir = {:?}\n",
        sshd.port(),
        sshd::PASSWORD_USER,
        sshd::PASSWORD,
        sshd.host_key_fingerprint(),
        sshd.data_dir(),
    );
    let cfg = w.config("", &destination);
    let archive = w.backup(&cfg);
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    // On the server, readable by the SFTP account.
    let remote = sshd.data_dir().join(&name);
    std::fs::copy(&archive, &remote).unwrap();
    Command::new("chmod")
        .arg("644")
        .arg(&remote)
        .status()
        .unwrap();

    let data = w.path("odoo-data");
    let from = ["--from", "prod/offsite"];
    let out = w.restore(
        &cfg,
        &name,
        "from_sftp",
        &[&from[..], &["--data-dir", data.to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The downloaded copy matched the history by name: its SHA-256 was compared.
    assert!(stdout.contains("(backup #1 of job prod)"), "{stdout}");
    w.pg.assert_same_tables("prod", "from_sftp");
    assert_eq!(
        read_tree(&data.join("filestore/from_sftp")),
        read_tree(&w.path("filestore"))
    );
    // The temporary download is gone; the backup directory holds the archive only.
    assert_eq!(listing(&w.path("backups")), vec![name.clone()]);

    // --download-dir keeps the copy; a missing remote file is a clear failure.
    let keep = w.path("downloads");
    let out = w.restore(
        &cfg,
        &name,
        "from_sftp2",
        &[
            &from[..],
            &["--no-filestore", "--download-dir", keep.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        sauvegarde_tests::files::sha256(&keep.join(&name)),
        sauvegarde_tests::files::sha256(&archive)
    );
    let out = w.restore(
        &cfg,
        "prod_2000-01-01_00-00-00.zip",
        "nothing",
        &[&from[..], &["--no-filestore"]].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offsite"),
        "{}",
        text(&out)
    );
    assert!(!w.databases().contains(&"nothing".to_string()));
}

#[test]
fn verify_after_backup_fails_an_incomplete_dump() {
    let w = World::new();
    // A good backup, verified.
    let cfg = w.config("verify_after_backup = true", "");
    let out = w.run(&cfg, &["backup", "prod", "--no-export"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("archive verified"),
        "{}",
        text(&out)
    );

    // A pg_dump that exits 0 but loses the end of its output.
    let fake = w.path("fake/pg_dump");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::write(
        &fake,
        format!("#!/bin/bash\nset -o pipefail\n{BIN}/pg_dump \"$@\" | head -n -6\n"),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cfg = w.config(
        &format!("verify_after_backup = true\npg_dump = {fake:?}"),
        "",
    );
    let out = w.run(&cfg, &["backup", "prod", "--no-export"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("verification failed"), "{stderr}");
    assert!(stderr.contains("dump.sql"), "{stderr}");
    let files = listing(&w.path("backups"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[1].ends_with(".zip.failed-verify") || files[0].ends_with(".zip.failed-verify"),
        "{files:?}"
    );
    let h = w.run(&cfg, &["history", "--json"]);
    let rows: Value = serde_json::from_slice(&h.stdout).unwrap();
    assert_eq!(rows[0]["state"], "failed", "{rows:#}");
    assert!(rows[0]["message"]
        .as_str()
        .unwrap()
        .contains("verification failed"));
    assert_eq!(rows[1]["state"], "done");
}

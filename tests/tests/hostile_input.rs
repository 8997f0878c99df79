//! Hostile and broken input, end to end with the real binary and a real PostgreSQL 15:
//! archives that carry psql meta-commands or `COPY … TO PROGRAM`, an archive that expands
//! past the free space of its target, configurations with relative paths or no job, and
//! the exit codes of refusals and failed exports.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::net::free_port;
use sauvegarde_tests::odoo_world::OdooWorld;
use serde_json::Value;

fn run(config: &Path, args: &[&str]) -> Output {
    cli::host(config, args, "info")
        .env_remove("PGPASSWORD")
        .output()
        .expect("run sauvegarde")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a ZIP at `path` holding `dump` as dump.sql, a manifest counting `rows` rows of
/// `public.t`, and a small filestore file.
fn zip_archive(path: &Path, dump: &str, rows: u32) {
    let sql = path.with_extension("sql");
    std::fs::write(&sql, dump).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
             z.write(sys.argv[2], 'dump.sql')\n\
             z.writestr('manifest.json', '{\"db_name\": \"evil\", \"sauvegarde.tables\": {\"public.t\": %s}}' % sys.argv[3])\n\
             z.writestr('filestore/ab/ok', 'fine')\n\
             z.close()\n",
        )
        .arg(path)
        .arg(&sql)
        .arg(rows.to_string())
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
}

/// A plain dump of table `public.t` with one row, with `middle` after its data.
fn dump_with(middle: &str) -> String {
    format!(
        "--\n-- PostgreSQL database dump\n--\n\nSET standard_conforming_strings = on;\n\
         CREATE TABLE public.t (x integer);\n\
         COPY public.t (x) FROM stdin;\n1\n\\.\n\n{middle}\n\
         --\n-- PostgreSQL database dump complete\n--\n\n"
    )
}

fn verify_json(config: &Path, archive: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["verify", "--json", archive.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(config, &args);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify json: {e}\n{}", text(&out)));
    (out, report)
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

fn detail<'a>(report: &'a Value, check: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|c| c["check"] == check)
        .and_then(|c| c["detail"].as_str())
        .unwrap_or_default()
}

fn databases(w: &OdooWorld) -> Vec<String> {
    w.pg.psql(
        "postgres",
        "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn scratch_roles(w: &OdooWorld) -> String {
    w.pg.psql(
        "postgres",
        "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname LIKE 'sauvegarde_verify%'",
    )
}

#[test]
fn a_shell_command_in_dump_sql_never_runs_and_the_archive_is_refused() {
    let w = OdooWorld::new(50);
    let cfg = w.config("", "");
    let marker = w.path("pwned");
    let touch = format!("touch {}", marker.display());
    let cases = [
        ("line", format!("\\! {touch}")),
        ("inline", format!("SELECT 1; \\! {touch}")),
        (
            "in-a-comment-copy",
            format!("/*\nCOPY public.t FROM stdin;\n*/\n\\! {touch}\n\\."),
        ),
        (
            "after-its-own-unrestrict",
            format!("\\restrict abc\nSELECT 1;\n\\unrestrict abc\n\\! {touch}"),
        ),
        ("output-pipe", format!("\\o |{touch}\nSELECT 1;\n\\o")),
    ];
    let before = databases(&w);
    for (case, middle) in &cases {
        let archive = w.path(&format!("{case}.zip"));
        zip_archive(&archive, &dump_with(middle), 1);

        let (out, report) = verify_json(&cfg, &archive, &[]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out));
        assert_eq!(status(&report, "psql"), "failed", "{case}: {report:#}");
        assert!(detail(&report, "psql").contains("\\"), "{case}: {report:#}");

        let (out, _) = verify_json(&cfg, &archive, &["--restore", "--job", "prod"]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out));

        for no_verify in [false, true] {
            let mut args = vec![
                "restore",
                archive.to_str().unwrap(),
                "--database",
                "evil",
                "--job",
                "prod",
                "--no-filestore",
            ];
            if no_verify {
                args.push("--no-verify");
            }
            let out = run(&cfg, &args);
            assert_eq!(out.status.code(), Some(2), "{case}: {}", text(&out));
            assert!(
                stderr(&out).contains("meta-command"),
                "{case}: {}",
                text(&out)
            );
        }
        assert!(!marker.exists(), "{case}: the shell command ran");
        assert_eq!(databases(&w), before, "{case}: no database left");
    }
}

#[test]
fn a_real_backup_with_pg_dumps_restrict_lines_restores() {
    let w = OdooWorld::new(50);
    let cfg = w.config("", "");
    let out = run(&cfg, &["backup", "prod", "--no-export"]);
    assert!(out.status.success(), "{}", text(&out));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let (out, report) = verify_json(&cfg, &archive, &["--restore", "--job", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&report, "psql"), "ok", "{report:#}");
    assert_eq!(status(&report, "restore"), "ok", "{report:#}");
    let out = run(
        &cfg,
        &[
            "restore",
            archive.to_str().unwrap(),
            "--database",
            "copy",
            "--job",
            "prod",
            "--no-filestore",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    w.pg.assert_same_tables("prod", "copy");
}

#[test]
fn copy_to_program_fails_under_verify_restore_and_the_scratch_database_and_role_go() {
    let w = OdooWorld::new(50);
    let cfg = w.config("", "");
    // A directory the server's `postgres` account may write in.
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // The server runs programs for a superuser: the check below would see this one.
    let control = open.path().join("control");
    w.pg.psql(
        "postgres",
        &format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", control.display()),
    );
    assert!(control.exists(), "the server cannot run programs here");

    let marker = open.path().join("pwned");
    let archive = w.path("program.zip");
    zip_archive(
        &archive,
        &dump_with(&format!(
            "COPY (SELECT 1) TO PROGRAM 'touch {}';",
            marker.display()
        )),
        1,
    );
    let before = databases(&w);
    let (out, report) = verify_json(&cfg, &archive, &["--restore", "--job", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&report, "restore"), "failed", "{report:#}");
    assert!(
        detail(&report, "restore").contains("superuser")
            || detail(&report, "restore").contains("pg_execute_server_program"),
        "{report:#}"
    );
    assert!(!marker.exists(), "COPY … TO PROGRAM ran");
    assert_eq!(databases(&w), before, "the scratch database is dropped");
    assert_eq!(scratch_roles(&w), "", "the throwaway role is dropped");
}

#[test]
fn restore_warns_a_superuser_about_an_archive_this_host_did_not_make() {
    let w = OdooWorld::new(50);
    let cfg = w.config("", "");
    let archive = w.path("foreign.zip");
    zip_archive(&archive, &dump_with(""), 1);
    let restore = |db: &str, extra: &[&str]| {
        let mut args = vec![
            "restore",
            archive.to_str().unwrap(),
            "--database",
            db,
            "--job",
            "prod",
            "--no-filestore",
        ];
        args.extend_from_slice(extra);
        run(&cfg, &args)
    };
    let out = restore("as_super", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("superuser") && stderr(&out).contains("did not make"),
        "{}",
        text(&out)
    );
    // A role without superuser gets no warning.
    w.pg.psql("postgres", "CREATE ROLE plain LOGIN CREATEDB");
    let out = restore("as_plain", &["--db-user", "plain"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!stderr(&out).contains("did not make"), "{}", text(&out));
}

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs (the tests run as root)");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_archive_expanding_past_the_free_space_is_refused_before_anything_is_written() {
    let w = OdooWorld::new(50);
    let cfg = w.config("", "");
    let archive = w.path("bomb.zip");
    let sql = w.path("bomb.sql");
    std::fs::write(&sql, dump_with("")).unwrap();
    // 1 GiB of zeros deflates to about 1 MiB.
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
             z.write(sys.argv[2], 'dump.sql')\n\
             z.writestr('manifest.json', '{\"db_name\": \"bomb\", \"sauvegarde.tables\": {\"public.t\": 1}}')\n\
             block = bytes(1 << 20)\n\
             with z.open('filestore/ab/big', 'w', force_zip64=True) as f:\n\
             \x20   for _ in range(1024): f.write(block)\n\
             z.close()\n",
        )
        .arg(&archive)
        .arg(&sql)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::metadata(&archive).unwrap().len() < 8 << 20);

    let small = Tmpfs::mount(w.path("small"), "16m");
    let target = small.0.join("filestore");
    let before = databases(&w);
    let out = run(
        &cfg,
        &[
            "restore",
            archive.to_str().unwrap(),
            "--database",
            "bomb",
            "--job",
            "prod",
            "--filestore-dir",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("not enough space"), "{}", text(&out));
    assert!(
        stderr(&out).contains("1.0 GiB") || stderr(&out).contains("GiB"),
        "{}",
        text(&out)
    );
    assert_eq!(databases(&w), before, "no database created");
    assert_eq!(
        std::fs::read_dir(&small.0).unwrap().count(),
        0,
        "nothing written on the small file system"
    );
}

/// Writes `text` as a configuration file in `dir` and returns its path.
fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sauvegarde.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn relative_paths_are_configuration_errors_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        dir.path(),
        "backup_dir = \"backups\"\nstate_dir = \"state\"\nplugin_dirs = []\n\n\
         [jobs.prod]\ndatabase = \"prod\"\nfilestore = \"data/filestore/prod\"\n",
    );
    let out = run(&cfg, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = stderr(&out);
    for key in ["`backup_dir`", "`state_dir`", "`jobs.prod.filestore`"] {
        let line = err
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("{key} not named: {err}"));
        assert!(line.contains("relative path"), "{line}");
        assert!(line.contains(&cfg.display().to_string()), "{line}");
    }
    // Nothing was created in the directory the command ran in.
    assert!(!Path::new("state").exists() && !Path::new("backups").exists());
}

#[test]
fn config_check_warns_about_a_configuration_without_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), "");
    let out = run(&cfg, &["config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stderr(&out).contains("no job"), "{}", text(&out));
    assert!(
        stderr(&out).contains(&cfg.display().to_string()),
        "{}",
        text(&out)
    );
}

#[test]
fn export_with_a_failed_upload_exits_3_and_help_lists_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let cfg = config_file(
        dir.path(),
        &format!(
            "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n\
             [jobs.prod]\ndatabase = \"prod\"\n\n\
             [jobs.prod.destinations.nas]\ntype = \"ftp\"\nhost = \"127.0.0.1\"\nport = {closed}\n\
             user = \"u\"\npassword = \"p\"\nretries = 0\ntimeout_secs = 5\n",
            dir.path().join("backups"),
            dir.path().join("state"),
        ),
    );
    let archive = dir.path().join("prod_2026-01-01_00-00-00.zip");
    std::fs::write(&archive, b"not really a zip").unwrap();
    let out = run(&cfg, &["export", "prod", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    let help = Command::new(artifacts().host_bin())
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit codes"), "{help}");
    assert!(
        help.contains("3  the local backup is fine but an export failed"),
        "{help}"
    );
    let page = std::fs::read_to_string(
        sauvegarde_tests::build::workspace_root().join("docs/exit-codes.md"),
    )
    .unwrap();
    let table = &help[help.find("Exit codes").unwrap()..];
    assert!(
        page.contains(table.trim_end()),
        "docs/exit-codes.md has the table of --help"
    );
}

/// Runs `dump` with plain `psql -f` (as Odoo restores: no `ON_ERROR_STOP`, no
/// `\restrict`) into a new database `db`, which is dropped after.
fn plain_psql(w: &OdooWorld, db: &str, dump: &Path) {
    w.pg.createdb(db);
    let out =
        w.pg.client("psql")
            .args(["-X", "-d", db, "-f"])
            .arg(dump)
            .output()
            .expect("psql");
    assert!(out.status.success(), "{}", text(&out));
    w.pg.psql("postgres", &format!("DROP DATABASE {db}"));
}

#[test]
fn a_command_hidden_by_a_carriage_return_or_a_variable_runs_under_psql_and_is_refused_before_anything_is_created(
) {
    let w = OdooWorld::new(50);
    let cfg = w.config("", "");
    let marker = w.path("pwned");
    let touch = format!("touch {}", marker.display());
    let cases = [
        // psql ends a `--` comment at a carriage return too.
        (
            "carriage-return",
            format!("-- Name: x; Type: TABLE; Schema: public; Owner: -\r\\! {touch}\n"),
        ),
        // `:E` is a variable (unset, kept as written), then a standard string.
        ("variable", format!("SELECT :E'\\' \\! {touch}\n;")),
    ];
    let before = databases(&w);
    for (case, middle) in &cases {
        let dump = dump_with(middle);
        let sql = w.path(&format!("{case}.sql"));
        std::fs::write(&sql, &dump).unwrap();
        plain_psql(&w, "live", &sql);
        assert!(marker.exists(), "{case}: plain psql -f does not run it");
        std::fs::remove_file(&marker).unwrap();

        let archive = w.path(&format!("{case}.zip"));
        zip_archive(&archive, &dump, 1);
        let out = run(&cfg, &["verify", archive.to_str().unwrap()]);
        assert_ne!(out.status.code(), Some(0), "{case}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("\\! {touch}")),
            "{case}: {}",
            text(&out)
        );
        let out = run(
            &cfg,
            &[
                "restore",
                archive.to_str().unwrap(),
                "--database",
                "evil",
                "--job",
                "prod",
                "--no-filestore",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{case}: {}", text(&out));
        assert!(
            stderr(&out).contains("meta-command"),
            "{case}: {}",
            text(&out)
        );
        assert!(!marker.exists(), "{case}: the shell command ran");
        assert_eq!(databases(&w), before, "{case}: no database left");
    }
}

#[test]
fn pg_dump_15_and_16_output_of_a_database_with_hostile_names_and_data_passes_the_guard() {
    let w = OdooWorld::new(50);
    w.pg.createdb("hostile");
    w.pg.psql(
        "hostile",
        r#"
        CREATE TABLE "it's ""quoted"" \ `tick` é€" ("col	one" text, "c'2" text, "new
line" text);
        DO $$BEGIN EXECUTE format('CREATE TABLE %I (a text, "b\." text)', 'cr' || chr(13) || 'name'); END$$;
        CREATE TABLE "\.dot" (x text);
        COMMENT ON TABLE "it's ""quoted"" \ `tick` é€" IS 'C:\';
        COMMENT ON COLUMN "\.dot".x IS 'it''s a \ back\slash `tick` and \d+ and C:\temp\';
        INSERT INTO "it's ""quoted"" \ `tick` é€" VALUES
            (E'O\'Brien\tthere\\ and `uname`\r\nsecond\\.\n\\.\nend', E'\\! touch /tmp/never', E'l''été \u20ac'),
            (E'\\.', NULL, E'a\\b\\N'),
            (E'tab\there `tick` \\t `x`', E'cr\ronly', E'-- Name: x\r\\! touch /tmp/never');
        INSERT INTO "\.dot" SELECT E'line ' || i || E'\n\\.' FROM generate_series(1, 20) i;
        CREATE FUNCTION "f'n"() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN RETURN 'C:\ ' || E'\\n' || $$it's$$; END $f$;
        CREATE FUNCTION atomic_f() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;
        CREATE VIEW "v\x" AS SELECT '^\d+$'::text AS re, (ARRAY[1,2,3])[1:2] AS sl, 'C:\'::text AS win;
        "#,
    );
    let pg_dump_16 = sauvegarde_tests::psql_fuzz::psql_16().with_file_name("pg_dump");
    for pg_dump in [
        PathBuf::from(format!("{}/pg_dump", sauvegarde_tests::postgres::BIN)),
        pg_dump_16,
    ] {
        let out = Command::new(&pg_dump)
            .args([
                "--no-owner",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "hostile",
            ])
            .env("PGPORT", w.pg.port().to_string())
            .output()
            .expect("pg_dump");
        assert!(
            out.status.success(),
            "{}: {}",
            pg_dump.display(),
            text(&out)
        );
        assert!(
            out.stdout.windows(6).any(|w| w == b"\\\\! to"),
            "the data is in the dump"
        );
        let (refused, _) = sauvegarde::verify::psql::scan(&out.stdout);
        assert_eq!(refused, [], "{}", pg_dump.display());
    }
}

//! A throwaway PostgreSQL 15 cluster per test (run as the `postgres` user through
//! `runuser` when the tests run as root), and an Odoo-shaped fixture database with a
//! filestore tree on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::net::free_port;

/// Directory of the PostgreSQL 15 programs.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

fn is_root() -> bool {
    // SAFETY-free: read from /proc instead of calling geteuid.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A running cluster on 127.0.0.1 with trust authentication for `postgres`; stopped and
/// deleted on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(program: &str) -> Command {
    let path = format!("{BIN}/{program}");
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(path)
    }
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgCluster {
    /// initdb + start on a free port.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sauvegarde-pg")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            check(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path())
                    .output()
                    .expect("chown"),
                "chown",
            );
        }
        let data = dir.path().join("data");
        check(
            as_postgres("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ])
                .output()
                .expect("run initdb"),
            "initdb",
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        check(
            as_postgres("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("server.log"))
                .args(["-w", "-t", "30", "-o", &opts, "start"])
                .stdout(Stdio::null())
                .output()
                .expect("run pg_ctl"),
            "pg_ctl start",
        );
        PgCluster { dir, port }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq-style command for a client program (`psql`, `createdb` …) connected to
    /// this cluster as `postgres`.
    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new(format!("{BIN}/{program}"));
        c.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres")
            .env_remove("PGPASSWORD")
            .env_remove("PGDATABASE");
        c
    }

    /// Runs SQL in `db` with ON_ERROR_STOP and returns unaligned tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = check(
            self.client("psql")
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    db,
                    "-c",
                    sql,
                ])
                .output()
                .expect("run psql"),
            &format!("psql {sql}"),
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// From now on `postgres` needs `password` over TCP (scram-sha-256): a client that
    /// connects without it fails, so a backup that succeeds proves the password reached
    /// libpq. Only the Unix socket stays trusted; the harness's own helpers (which use
    /// TCP) need the password in their environment afterwards.
    pub fn require_password(&self, password: &str) {
        self.psql(
            "postgres",
            &format!(
                "ALTER ROLE postgres PASSWORD '{}'",
                password.replace('\'', "''")
            ),
        );
        std::fs::write(
            self.dir.path().join("data/pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
        self.psql("postgres", "SELECT pg_reload_conf()");
        // The reload is asynchronous: wait until a password-less connection is refused.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = self
                .client("psql")
                .args(["-X", "-w", "-d", "postgres", "-c", "SELECT 1"])
                .env_remove("PGPASSFILE")
                .output()
                .expect("run psql");
            if !out.status.success() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server still accepts connections without a password"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Creates an empty database.
    pub fn createdb(&self, db: &str) {
        check(
            self.client("createdb")
                .arg(db)
                .output()
                .expect("run createdb"),
            "createdb",
        );
    }

    /// Names of the user tables of `db` (`schema.table`), sorted.
    pub fn tables(&self, db: &str) -> Vec<String> {
        self.psql(
            db,
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// A digest of a table's whole content (rows as text, sorted) and its row count.
    pub fn table_digest(&self, db: &str, table: &str) -> String {
        self.psql(
            db,
            &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t"),
        )
    }

    /// Creates the Odoo-shaped database `db` and its filestore under `filestore`:
    /// `ir_module_module` (installed modules, `base` at `latest_version`), an
    /// `ir_attachment`-like table whose rows point at files, partners with unicode text
    /// and bytea, `rows` partner rows.
    pub fn create_odoo_fixture(&self, db: &str, base_version: &str, filestore: &Path, rows: u32) {
        self.createdb(db);
        self.psql(
            db,
            &format!(
                "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, \
                   state varchar, latest_version varchar);
                 INSERT INTO ir_module_module (name, state, latest_version) VALUES
                   ('base', 'installed', '{base_version}'), ('web', 'installed', '17.0.1.0'),
                   ('mail', 'installed', '17.0.1.15'), ('sale', 'uninstalled', NULL),
                   ('account', 'to upgrade', '17.0.1.2');
                 CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar NOT NULL, comment text,
                   active boolean DEFAULT true, credit numeric(12,2), image bytea, create_date timestamp);
                 INSERT INTO res_partner (name, comment, credit, image, create_date)
                   SELECT 'Partner ' || i || ' — Société Générale «ü» 日本語 ' || chr(10) || 'tab' || chr(9) || 'x',
                          CASE WHEN i % 7 = 0 THEN NULL ELSE repeat('Ünïcødé ☃ ', i % 13) END,
                          i * 1.25,
                          decode(md5(i::text) || md5((i * 31)::text), 'hex') || '\\x00ff00'::bytea,
                          timestamp '2024-01-01' + i * interval '1 minute'
                   FROM generate_series(1, {rows}) i;
                 CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, res_model varchar,
                   res_id int REFERENCES res_partner(id), store_fname varchar, checksum varchar, file_size int,
                   mimetype varchar);
                 CREATE SCHEMA extra;
                 CREATE TABLE extra.\"Mixed Case\" (k text PRIMARY KEY, v jsonb);
                 INSERT INTO extra.\"Mixed Case\" VALUES ('a', '{{\"x\": [1, 2, \"é\"]}}'), ('b''quote', 'null');"
            ),
        );
        let files = write_filestore(filestore, 40);
        let mut sql = String::from(
            "INSERT INTO ir_attachment (name, res_model, res_id, store_fname, checksum, file_size, mimetype) VALUES ",
        );
        let values: Vec<String> = files
            .iter()
            .enumerate()
            .map(|(i, (rel, size))| {
                let sha = rel.rsplit('/').next().unwrap_or_default();
                format!("('file {i}', 'res.partner', {}, '{rel}', '{sha}', {size}, 'application/octet-stream')", i + 1)
            })
            .collect();
        sql.push_str(&values.join(", "));
        self.psql(db, &sql);
    }

    /// Asserts that databases `a` and `b` hold the same tables (at least 4) with the same
    /// content, table by table.
    pub fn assert_same_tables(&self, a: &str, b: &str) {
        let tables = self.tables(a);
        assert!(tables.len() >= 4, "{tables:?}");
        assert_eq!(tables, self.tables(b));
        for t in &tables {
            let quoted = t
                .split('.')
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(".");
            assert_eq!(
                self.table_digest(a, &quoted),
                self.table_digest(b, &quoted),
                "table {t}"
            );
        }
    }

    /// Server log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A fast xorshift byte stream (incompressible test data).
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes an Odoo-like filestore (`ab/ab12…` files named by SHA-1-like hex, a
/// `checklist/` folder, compressible and incompressible files, an empty one) and
/// returns (relative path, size) of the data files.
pub fn write_filestore(root: &Path, count: usize) -> Vec<(String, usize)> {
    use sha2::Digest;
    let mut files = Vec::new();
    for i in 0..count {
        let data = match i % 4 {
            0 => pseudo_random(i as u64 + 1, 20_000 + i * 997),
            1 => format!("<html><body>Document {i} — Ünïcødé</body></html>\n")
                .repeat(200 + i)
                .into_bytes(),
            2 => Vec::new(),
            _ => pseudo_random(i as u64 + 7, 100 + i),
        };
        let mut name = hex_of(&sha2::Sha256::digest(&data))[..40].to_string();
        name.push_str(&format!("{i:02}"));
        let rel = format!("{}/{}", &name[..2], name);
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir filestore");
        std::fs::write(&path, &data).expect("write filestore file");
        files.push((rel, data.len()));
    }
    std::fs::create_dir_all(root.join("checklist/ab")).expect("mkdir checklist");
    std::fs::write(root.join("checklist/ab/ab00"), b"").expect("write checklist");
    files
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file under `root` (relative path → content), for byte-for-byte comparison.
pub fn read_tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if e.path().is_dir() {
                walk(&e.path(), &rel, out);
            } else {
                out.insert(rel, std::fs::read(e.path()).expect("read file"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, "", &mut out);
    out
}

/// Extracts an archive the way Odoo's restore does (Python's zipfile: only `dump.sql`
/// and `filestore/…`) into `dest`.
pub fn odoo_extract(archive: &Path, dest: &Path) {
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert zipfile.is_zipfile(sys.argv[1])\n\
                  names = [m for m in z.namelist() if m.startswith('filestore/')]\n\
                  z.extractall(sys.argv[2], ['dump.sql'] + names)\n";
    check(
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(archive)
            .arg(dest)
            .output()
            .expect("run python3"),
        "python zipfile extract",
    );
}

/// `path` as a PathBuf (helper for tests).
pub fn p(path: impl AsRef<Path>) -> PathBuf {
    path.as_ref().to_path_buf()
}

//! Differential fuzzing of the meta-command guard (`sauvegarde::verify::psql`) against the
//! real psql: a generator of dump-like inputs (pg_dump comments, SET lines, strings of
//! every kind, quoted identifiers, dollar quotes, nested comments, variables, errors that
//! set variables, COPY blocks into tables that exist or not, `\;`, parentheses, `BEGIN
//! ATOMIC` bodies, numbers, CR/LF mixes, NUL and non-ASCII bytes) with a payload that
//! touches a marker file somewhere in it, run with plain `psql -f` (no `ON_ERROR_STOP`)
//! by each psql given, each run in a schema of its own. An input on which psql created the
//! marker and that the guard passed is a disagreement; an input the guard flags and no
//! psql ran anything from is a false alarm (counted, not a failure: the guard flags what
//! psql could run with other server answers too).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::postgres::PgCluster;

mod generate;

pub use generate::{generate, Rng};

/// Debian's psql 15.
pub const PSQL_15: &str = "/usr/lib/postgresql/15/bin/psql";

/// psql 16.2 as `scripts/install-test-deps` installs it.
pub fn psql_16() -> PathBuf {
    let tools = std::env::var_os("SAUVEGARDE_TEST_TOOLS").map_or_else(
        || PathBuf::from("/opt/sauvegarde-test-tools"),
        PathBuf::from,
    );
    tools.join("pgserver-16.2/pgserver/pginstall/bin/psql")
}

/// What a fuzzing run found.
#[derive(Debug, Default)]
pub struct Report {
    pub inputs: usize,
    /// Inputs on which each psql created the marker.
    pub ran: Vec<usize>,
    /// Inputs the guard flagged.
    pub flagged: usize,
    /// Flagged inputs no psql ran anything from.
    pub false_alarms: usize,
    /// psql ran the payload and the guard passed the input: (seed, input).
    pub disagreements: Vec<(u64, Vec<u8>)>,
    /// psql runs stopped after the time limit.
    pub timeouts: usize,
    pub seconds: f64,
}

/// Runs `count` inputs from `seed` through every psql in `psqls` (connected to `pg`,
/// database `db`) and through the guard, `jobs` at a time. The first `without_x` inputs
/// are also run without `-X` (psql then reads its startup file; HOME is an empty
/// directory).
pub fn run(
    pg: &PgCluster,
    db: &str,
    psqls: &[PathBuf],
    seed: u64,
    count: usize,
    jobs: usize,
    without_x: usize,
) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let report = Mutex::new(Report {
        inputs: count,
        ran: vec![0; psqls.len()],
        ..Report::default()
    });
    const BLOCK: usize = 25;
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let first = next.fetch_add(BLOCK, Ordering::SeqCst);
                if first >= count {
                    break;
                }
                let block: Vec<usize> = (first..count.min(first + BLOCK)).collect();
                let schemas: Vec<String> = block
                    .iter()
                    .flat_map(|i| (0..=psqls.len()).map(move |v| format!("fz_{seed}_{i}_{v}")))
                    .collect();
                let ddl = |verb: &str, tail: &str| {
                    schemas
                        .iter()
                        .map(|s| format!("{verb} SCHEMA {s}{tail};"))
                        .collect::<String>()
                };
                pg.psql(db, &ddl("CREATE", ""));
                for &i in &block {
                    let input_seed = Rng::new(seed).next_u64() ^ i as u64;
                    let marker = dir.path().join(format!("m{i}"));
                    let input = generate(input_seed, &marker);
                    let file = dir.path().join(format!("in{i}.sql"));
                    std::fs::write(&file, &input).expect("write input");
                    let mut ran = vec![false; psqls.len()];
                    let mut timeouts = 0;
                    for (v, psql) in psqls.iter().enumerate() {
                        let schema = format!("fz_{seed}_{i}_{v}");
                        timeouts +=
                            usize::from(!run_psql(pg, db, psql, &file, &schema, true, dir.path()));
                        ran[v] = marker.exists();
                        let _ = std::fs::remove_file(&marker);
                        if i < without_x && v == 0 {
                            let schema = format!("fz_{seed}_{i}_{}", psqls.len());
                            timeouts += usize::from(!run_psql(
                                pg,
                                db,
                                psql,
                                &file,
                                &schema,
                                false,
                                dir.path(),
                            ));
                            ran[v] |= marker.exists();
                            let _ = std::fs::remove_file(&marker);
                        }
                    }
                    let _ = std::fs::remove_file(&file);
                    let flagged = !sauvegarde::verify::psql::scan(&input).0.is_empty();
                    let mut r = report.lock().unwrap();
                    r.timeouts += timeouts;
                    for (v, &x) in ran.iter().enumerate() {
                        r.ran[v] += usize::from(x);
                    }
                    let any = ran.iter().any(|&x| x);
                    r.flagged += usize::from(flagged);
                    if flagged && !any {
                        r.false_alarms += 1;
                    }
                    if any && !flagged {
                        r.disagreements.push((input_seed, input));
                    }
                }
                pg.psql(db, &ddl("DROP", " CASCADE"));
            });
        }
    });
    let mut report = report.into_inner().unwrap();
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// One plain `psql -f FILE` (with `-X` when `no_rc`) in its own schema, in the run's
/// directory (files an input makes psql write stay there); false when it had to be
/// stopped.
fn run_psql(
    pg: &PgCluster,
    db: &str,
    psql: &Path,
    file: &Path,
    schema: &str,
    no_rc: bool,
    home: &Path,
) -> bool {
    let mut cmd = Command::new(psql);
    if no_rc {
        cmd.arg("-X");
    }
    cmd.args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-f"])
        .arg(file)
        .env("PGPORT", pg.port().to_string())
        .env("PGOPTIONS", format!("-c search_path={schema}"))
        .current_dir(home)
        .env("HOME", home)
        .env("EDITOR", "/bin/true")
        .env("PSQL_EDITOR", "/bin/true")
        .env("PAGER", "cat")
        .env_remove("PSQLRC")
        .env_remove("PGPASSWORD")
        .env_remove("PGDATABASE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("run psql");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// An input for a message: printable ASCII as is, the rest escaped.
pub fn escaped(input: &[u8]) -> String {
    input.escape_ascii().to_string()
}

//! The meta-command guard against the real psql 15 and 16: generated dump-like inputs with
//! a payload that touches a marker file, each run with plain `psql -f` on a throwaway
//! schema of a real PostgreSQL 15 server; every input on which a psql created the marker
//! must be one the guard flags. A short run here; `bench/psql-guard-fuzz.sh` runs 100 000.
//! `SAUVEGARDE_FUZZ_INPUTS` and `SAUVEGARDE_FUZZ_SEED` change the run.

use sauvegarde_tests::postgres::PgCluster;
use sauvegarde_tests::psql_fuzz::{escaped, psql_16, run, PSQL_15};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_guard_flags_every_input_on_which_psql_15_or_16_runs_a_command() {
    let psqls = [std::path::PathBuf::from(PSQL_15), psql_16()];
    for p in &psqls {
        assert!(
            p.exists(),
            "{} is missing: run scripts/install-test-deps",
            p.display()
        );
    }
    let count = env_or("SAUVEGARDE_FUZZ_INPUTS", 300) as usize;
    let seed = env_or("SAUVEGARDE_FUZZ_SEED", 20_250_827);
    let jobs = env_or("SAUVEGARDE_FUZZ_JOBS", 2) as usize;
    let pg = PgCluster::start();
    pg.createdb("fuzz");
    let report = run(&pg, "fuzz", &psqls, seed, count, jobs, count.min(20));
    println!(
        "psql guard fuzz: seed {seed}, {} inputs in {:.1} s ({:.1} inputs/s); psql 15 ran the payload on {}, psql 16 on {}; flagged {}; disagreements {}; false alarms {} ({:.1}% of inputs); psql timeouts {}",
        report.inputs,
        report.seconds,
        report.inputs as f64 / report.seconds,
        report.ran[0],
        report.ran[1],
        report.flagged,
        report.disagreements.len(),
        report.false_alarms,
        100.0 * report.false_alarms as f64 / report.inputs as f64,
        report.timeouts,
    );
    // The inputs reach psql: a fuzzer whose payload never runs proves nothing.
    assert!(
        report.ran.iter().all(|&n| n * 5 >= count),
        "too few inputs ran their payload: {:?} of {count}",
        report.ran
    );
    let shown: Vec<String> = report
        .disagreements
        .iter()
        .take(10)
        .map(|(seed, input)| format!("seed {seed}: {}", escaped(input)))
        .collect();
    assert!(
        report.disagreements.is_empty(),
        "psql ran a command on {} inputs the guard passed:\n{}",
        report.disagreements.len(),
        shown.join("\n")
    );
}

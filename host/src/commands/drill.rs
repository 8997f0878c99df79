//! `drill <JOB> [--database DB] [--json] [--no-notify]`: a restore drill now.

use serde::Serialize;

use super::{exit, load_config, print_json, print_text, CliError};
use sauvegarde::cancel::{cancel_on_signals, CancelFlag};
use sauvegarde::config::Uses;
use sauvegarde::drill::{self, DrillError, DrillRun};

/// One drilled archive, as `drill --json` prints it.
#[derive(Debug, Serialize)]
struct DrillLine {
    database: String,
    archive: String,
    backup_id: i64,
    ok: bool,
    tables: Option<u64>,
    rows: Option<u64>,
    started: String,
    duration_secs: f64,
    message: String,
}

/// Drills `job` now; exit 0 when every archive was restored whole, 1 otherwise.
pub fn run(
    files: &[std::path::PathBuf],
    job: &str,
    database: Option<&str>,
    json: bool,
    no_notify: bool,
    jobs: Option<usize>,
) -> Result<i32, CliError> {
    let config = load_config(files, Uses::Job(job))?.config;
    let cancel = CancelFlag::new();
    cancel_on_signals(&cancel)
        .map_err(|e| CliError::failed(format!("cannot install signal handlers: {e}")))?;
    let run = match drill::run(&config, job, database, jobs, &cancel) {
        Ok(run) => run,
        Err(e @ (DrillError::NoJob(_) | DrillError::NoDatabase { .. })) => {
            return Err(CliError::usage(e))
        }
        Err(e) => return Err(CliError::failed(e)),
    };
    if !no_notify {
        drill::report(&config, job, &run);
    } else {
        sauvegarde::metrics::refresh(&config);
    }
    if json {
        print_json(&lines(&run))?;
    } else {
        print_text(&render(&run))?;
    }
    if run.interrupted {
        return Err(CliError::failed(format!("job `{job}`: drill interrupted")));
    }
    if run.outcomes.is_empty() {
        return Err(CliError::failed(format!(
            "job `{job}` has no archive to drill yet: back it up first"
        )));
    }
    Ok(if run.all_ok() { exit::OK } else { exit::FAILED })
}

fn lines(run: &DrillRun) -> Vec<DrillLine> {
    run.outcomes
        .iter()
        .map(|o| DrillLine {
            database: o.database.clone(),
            archive: o.archive.display().to_string(),
            backup_id: o.backup.id,
            ok: o.result.is_ok(),
            tables: o.result.as_ref().ok().map(|r| r.tables),
            rows: o.result.as_ref().ok().map(|r| r.rows),
            started: o
                .started
                .round(jiff::Unit::Second)
                .unwrap_or(o.started)
                .to_string(),
            duration_secs: o.duration_secs,
            message: o.message(),
        })
        .collect()
}

fn render(run: &DrillRun) -> String {
    let mut text = String::new();
    for o in &run.outcomes {
        text.push_str(&format!(
            "{} {}: {} ({:.1} s)\n",
            if o.result.is_ok() { "✓" } else { "✗" },
            o.database,
            o.message(),
            o.duration_secs
        ));
    }
    for db in &run.without_archive {
        text.push_str(&format!("- {db}: no archive yet\n"));
    }
    text
}

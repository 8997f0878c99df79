//! `history [--job J] [--limit N] [--json]`: backups, with their exports, restore drills
//! and restores (each with its time to recover) under them.

use super::{exit, load_config, print_json, print_text, CliError};
use sauvegarde::config::Uses;
use sauvegarde::history::History;
use sauvegarde::restore::recovery::duration_text;
use sauvegarde::status::{history_lines, HistoryLine};

/// Lists the latest backups.
pub fn run(
    files: &[std::path::PathBuf],
    job: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32, CliError> {
    // The history is read whatever the state of the jobs' configuration.
    let config = load_config(files, Uses::NoJob)?.config;
    // Read-only: no lock, nothing written (works on a full or read-only state_dir).
    let history = History::open_read_only(&config.state_dir).map_err(CliError::failed)?;
    let rows = match history {
        Some(history) => history_lines(&history, job, limit).map_err(CliError::failed)?,
        None => Vec::new(),
    };
    if json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    print_text(&render(&rows))?;
    Ok(exit::OK)
}

/// The human table of `history`: one row per backup, its export attempts under it.
fn render(rows: &[HistoryLine]) -> String {
    use sauvegarde::table::{human_size, Column, Table};
    if rows.is_empty() {
        return "no backups recorded\n".into();
    }
    let mut table = Table::new(&[
        Column::right("ID"),
        Column::left("JOB"),
        Column::left("STATE"),
        Column::left("STARTED"),
        Column::right("SIZE"),
        Column::left("ARCHIVE"),
    ]);
    for HistoryLine {
        backup: r,
        exports,
        drills,
        restores,
    } in rows
    {
        table.row(vec![
            r.id.to_string(),
            r.job.clone(),
            r.state.as_str().to_string(),
            r.started.clone(),
            r.size.map(human_size).unwrap_or_else(|| "-".into()),
            format!(
                "{}{}",
                r.file_name,
                r.message
                    .as_deref()
                    .map(|m| format!("  ({m})"))
                    .unwrap_or_default()
            ),
        ]);
        for e in exports {
            table.note(format!(
                "-> {} attempt {} {} {}{}",
                e.destination,
                e.attempt,
                e.state.as_str(),
                e.updated.as_deref().unwrap_or(&e.started),
                e.message
                    .as_deref()
                    .map(|m| format!("  ({m})"))
                    .unwrap_or_default()
            ));
        }
        for d in drills {
            table.note(format!("drill {} {}", d.finished, d.summary()));
        }
        for r in restores {
            let what = if r.kind == "verify" {
                "test restore (verify --restore)"
            } else {
                "restore"
            };
            table.note(format!(
                "{what} {} into {}: {} in {}",
                r.finished,
                r.database,
                if r.ok {
                    "ok".to_string()
                } else {
                    format!("FAILED: {}", r.message)
                },
                duration_text(r.seconds)
            ));
        }
    }
    table.render()
}

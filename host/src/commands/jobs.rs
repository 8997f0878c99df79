//! `jobs [--json]`: jobs with schedule, last result and next backup time.

use super::{exit, load_config, print_json, print_text, CliError};
use sauvegarde::config::Uses;
use sauvegarde::status::{job_lines, JobLine};

/// Lists the configured jobs.
pub fn run(files: &[std::path::PathBuf], json: bool) -> Result<i32, CliError> {
    let config = load_config(files, Uses::EveryJob)?.config;
    let lines = job_lines(&config).map_err(CliError::failed)?;
    let unavailable = lines.first().and_then(|l| l.history_unavailable.clone());
    if json {
        print_json(&lines)?;
        return Ok(exit::OK);
    }
    let mut text = String::new();
    if let Some(reason) = &unavailable {
        text.push_str(&format!(
            "history unavailable: {reason} (backups go on; retention waits)\n"
        ));
    }
    text.push_str(&render(&lines));
    print_text(&text)?;
    Ok(exit::OK)
}

/// The human table of `jobs`: one row per job, its connection tests under it.
fn render(lines: &[JobLine]) -> String {
    use sauvegarde::table::{human_size, Column, Table};
    if lines.is_empty() {
        return "no jobs configured\n".into();
    }
    let mut table = Table::new(&[
        Column::left("JOB"),
        Column::left("NAME"),
        Column::left("DATABASE"),
        Column::left("SCHEDULE"),
        Column::left("LAST"),
        Column::left("LAST STARTED"),
        Column::right("LAST SIZE"),
        Column::left("NEXT"),
    ]);
    for l in lines {
        let (state, started, size) = match &l.last {
            Some(r) => (
                r.state.as_str().to_string(),
                r.started.clone(),
                r.size.map(human_size).unwrap_or_else(|| "-".into()),
            ),
            None => ("never".into(), "-".into(), "-".into()),
        };
        table.row(vec![
            l.id.clone(),
            l.name.clone(),
            l.database.clone(),
            format!(
                "{}{}",
                l.schedule,
                if l.active { "" } else { " (inactive)" }
            ),
            state,
            started,
            size,
            l.next.clone().unwrap_or_else(|| "-".into()),
        ]);
        for r in &l.databases {
            table.note(format!(
                "db {}: {} {} {}",
                r.database.as_deref().unwrap_or("?"),
                r.state.as_str(),
                r.started,
                r.file_name
            ));
        }
        for d in &l.drills {
            table.note(format!(
                "drill {} {} {}{}",
                d.database,
                d.started,
                d.summary(),
                l.next_drill
                    .as_deref()
                    .map(|n| format!("; next drill {n}"))
                    .unwrap_or_default()
            ));
        }
        if l.drills.is_empty() {
            if let Some(n) = &l.next_drill {
                table.note(format!("no restore drill yet; next drill {n}"));
            }
        }
        for t in &l.tests {
            table.note(format!(
                "{} {} tested {}: {}",
                if t.ok { "✓" } else { "✗" },
                t.destination,
                t.time,
                t.message.as_deref().unwrap_or("")
            ));
        }
    }
    table.render()
}

//! `jobs [--json]`: jobs with schedule, last result and next backup time.

use serde::Serialize;

use super::{exit, load_config, print_json, print_text, CliError};
use sauvegarde::config::Uses;
use sauvegarde::history::{BackupRow, ConnectionTestRow, DrillRow, History};
use sauvegarde::schedule::Next;

/// One line of `jobs`.
#[derive(Debug, Serialize)]
pub struct JobLine {
    /// Job id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Database.
    pub database: String,
    /// Active flag.
    pub active: bool,
    /// `every N unit`, or `manual`.
    pub schedule: String,
    /// The latest backup, if any.
    pub last: Option<BackupRow>,
    /// Next backup (RFC 3339), `now` when due, `null` when manual or inactive.
    pub next: Option<String>,
    /// For a job of many databases (a list or `"*"`), the latest backup of each database
    /// the history knows; empty for a job of one database.
    pub databases: Vec<BackupRow>,
    /// The latest connection test of each destination (`test <job>`).
    pub tests: Vec<ConnectionTestRow>,
    /// The latest restore drill of each database (`drill`).
    pub drills: Vec<DrillRow>,
    /// Next restore drill (RFC 3339), `now` when due, `null` without `drill`, for an
    /// inactive job or before the first archive.
    pub next_drill: Option<String>,
    /// Why the history could not be read, when it could not (then `last` and `tests` are
    /// empty and `next` is computed without it).
    pub history_unavailable: Option<String>,
}

/// Lists the configured jobs.
pub fn run(files: &[std::path::PathBuf], json: bool) -> Result<i32, CliError> {
    let config = load_config(files, Uses::EveryJob)?.config;
    // Read-only: no lock, nothing written, and a broken history is reported, not fatal.
    let (history, mut unavailable) = match History::open_read_only(&config.state_dir) {
        Ok(h) => {
            let problem = h.as_ref().and_then(History::write_problem);
            (h, problem)
        }
        Err(e) => (
            None,
            Some(sauvegarde::redact::scrub(&e.to_string()).into_owned()),
        ),
    };
    let mut lines = Vec::new();
    for (id, job) in &config.jobs {
        let read = history.as_ref().map(|h| {
            h.last_of(id).and_then(|(last, _)| {
                Ok((last, h.last_connection_tests(id)?, h.last_drills(Some(id))?))
            })
        });
        let (last, tests, drills) = match read {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                unavailable = Some(sauvegarde::redact::scrub(&e.to_string()).into_owned());
                (None, Vec::new(), Vec::new())
            }
            None => (None, Vec::new(), Vec::new()),
        };
        let databases = match (&history, job.database.fixed()) {
            (_, Some(d)) if d.len() == 1 => Vec::new(),
            (Some(h), _) => h.last_per_database(id).unwrap_or_default(),
            (None, _) => Vec::new(),
        };
        // The same function the daemon schedules with.
        let now = jiff::Timestamp::now();
        let usable = history.as_ref();
        let next = sauvegarde::daemon::records::next_for(
            &config,
            usable,
            None,
            id,
            &sauvegarde::schedule::Rules::system(),
        )
        .map_err(CliError::failed)?
        .next;
        let when = |next: Next| match next {
            Next::Now => Some("now".to_string()),
            Next::At(t) if t <= now => Some("now".to_string()),
            Next::At(t) => Some(t.to_string()),
            Next::Manual | Next::Inactive => None,
        };
        let next = when(next);
        let next_drill = sauvegarde::daemon::records::next_drill(
            &config,
            usable,
            None,
            id,
            &sauvegarde::schedule::Rules::system(),
        )
        .unwrap_or_default()
        .and_then(when);
        let schedule = match &job.schedule {
            Some(s) => format!(
                "every {} {:?}{}",
                s.every,
                s.unit,
                s.at.as_deref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default()
            )
            .to_lowercase(),
            None => "manual".into(),
        };
        lines.push(JobLine {
            id: id.clone(),
            name: job.display_name(id).to_string(),
            database: job.database.to_string(),
            active: job.active,
            schedule,
            last,
            next,
            databases,
            tests,
            drills,
            next_drill,
            history_unavailable: None,
        });
    }
    if json {
        for l in &mut lines {
            l.history_unavailable.clone_from(&unavailable);
        }
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

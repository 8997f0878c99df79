//! `jobs [--json]`: jobs with schedule, last result and next backup time.

use serde::Serialize;

use super::{exit, load_config, print_json, print_text, CliError};
use crate::history::{BackupRow, ConnectionTestRow, History};
use crate::schedule::Next;

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
    /// The latest connection test of each destination (`test <job>`).
    pub tests: Vec<ConnectionTestRow>,
}

/// Lists the configured jobs.
pub fn run(files: &[std::path::PathBuf], json: bool) -> Result<i32, CliError> {
    let config = load_config(files)?.config;
    let history = if config.state_dir.join(crate::history::FILE_NAME).exists() {
        Some(History::open(&config.state_dir).map_err(CliError::failed)?)
    } else {
        None
    };
    let mut lines = Vec::new();
    for (id, job) in &config.jobs {
        let (last, _last_good) = match &history {
            Some(h) => h.last_of(id).map_err(CliError::failed)?,
            None => (None, None),
        };
        let tests = match &history {
            Some(h) => h.last_connection_tests(id).map_err(CliError::failed)?,
            None => Vec::new(),
        };
        // The same function the daemon schedules with.
        let now = jiff::Timestamp::now();
        let next = crate::daemon::records::next_for(
            &config,
            history.as_ref(),
            id,
            &crate::schedule::Rules::system(),
        )
        .map_err(CliError::failed)?;
        let next = match next {
            Next::Now => Some("now".to_string()),
            Next::At(t) if t <= now => Some("now".to_string()),
            Next::At(t) => Some(t.to_string()),
            Next::Manual | Next::Inactive => None,
        };
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
            database: job.database.clone(),
            active: job.active,
            schedule,
            last,
            next,
            tests,
        });
    }
    if json {
        print_json(&lines)?;
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for l in &lines {
        let last = l
            .last
            .as_ref()
            .map(|r| format!("{} {} {}", r.state.as_str(), r.started, r.file_name))
            .unwrap_or_else(|| "never".into());
        text.push_str(&format!(
            "{:<12} {:<20} db={:<12} {}{}  last: {}  next: {}\n",
            l.id,
            l.name,
            l.database,
            l.schedule,
            if l.active { "" } else { " (inactive)" },
            last,
            l.next.as_deref().unwrap_or("-")
        ));
        for t in &l.tests {
            text.push_str(&format!(
                "    {} {} tested {}: {}\n",
                if t.ok { "✓" } else { "✗" },
                t.destination,
                t.time,
                t.message.as_deref().unwrap_or("")
            ));
        }
    }
    if lines.is_empty() {
        text.push_str("no jobs configured\n");
    }
    print_text(&text)?;
    Ok(exit::OK)
}

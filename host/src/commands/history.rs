//! `history [--job J] [--limit N] [--json]`.

use super::{exit, load_config, print_json, print_text, CliError};
use crate::history::History;

/// Lists the latest backups.
pub fn run(
    files: &[std::path::PathBuf],
    job: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32, CliError> {
    let config = load_config(files)?.config;
    let rows = if config.state_dir.join(crate::history::FILE_NAME).exists() {
        let history = History::open(&config.state_dir).map_err(CliError::failed)?;
        crate::job::recover_stale(&history, &config.state_dir, None);
        history.list(job, limit).map_err(CliError::failed)?
    } else {
        Vec::new()
    };
    if json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for r in &rows {
        text.push_str(&format!(
            "{:<5} {:<12} {:<8} {:<22} {:>12}  {}{}\n",
            r.id,
            r.job,
            r.state.as_str(),
            r.started,
            r.size.map(|s| s.to_string()).unwrap_or_default(),
            r.file_name,
            r.message
                .as_deref()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default()
        ));
    }
    if rows.is_empty() {
        text.push_str("no backups recorded\n");
    }
    print_text(&text)?;
    Ok(exit::OK)
}

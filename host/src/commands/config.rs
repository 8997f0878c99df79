//! `config show` and `config check`.

use super::{exit, load_config, print_json, print_text, CliError};
use sauvegarde::config::{show, Uses};

/// `config show [--json]`.
pub fn show(files: &[std::path::PathBuf], json: bool) -> Result<i32, CliError> {
    let loaded = load_config(files, Uses::EveryJob)?;
    // Which destination keys are secrets is the plugins' say.
    let registry = super::plugins::discover(&loaded.config);
    let declared =
        show::DeclaredSecrets::of(&loaded.config, |kind| registry.declared_secrets(kind));
    let rows = show::rows(&loaded, &declared);
    if json {
        print_json(&rows)?;
    } else {
        print_text(&show::render_text(&rows))?;
    }
    Ok(exit::OK)
}

/// `config hash-password`: the first line of stdin (the status page's password), hashed
/// with argon2id and a random salt, printed for `web.password_hash`.
pub fn hash_password() -> Result<i32, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::failed(format!("cannot read the password on stdin: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(CliError::usage("no password on stdin"));
    }
    let hash = sauvegarde::web::auth::hash_password(password).map_err(CliError::failed)?;
    print_text(&format!("{hash}\n"))?;
    Ok(exit::OK)
}

/// `config check`: exit 0 when valid; otherwise every error, exit 2.
pub fn check(files: &[std::path::PathBuf]) -> Result<i32, CliError> {
    let loaded = load_config(files, Uses::EveryJob)?;
    // Destinations need their plugins: an unknown type or settings a plugin refuses are
    // configuration errors too.
    let registry = super::plugins::discover(&loaded.config);
    let errors = sauvegarde::export::check_destinations(&loaded.config, &registry, None);
    if !errors.is_empty() {
        return Err(CliError::usage(sauvegarde::export::join_errors(&errors)));
    }
    let jobs = loaded.config.jobs.len();
    let files: Vec<String> = loaded
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    if jobs == 0 {
        super::print_stderr(&format!(
            "warning: the configuration has no job: nothing will be backed up. Add a [jobs.<id>] table{}\n",
            if files.is_empty() {
                " (no configuration file was found: /etc/sauvegarde/sauvegarde.toml, or --config FILE)".to_string()
            } else {
                format!(" to {}", files.join(" or "))
            }
        ));
    }
    print_text(&format!(
        "configuration OK: {jobs} job(s); files read: {}\n",
        if files.is_empty() {
            "none".into()
        } else {
            files.join(", ")
        }
    ))?;
    Ok(exit::OK)
}

//! `config init`: writes a commented starting configuration for this server, one job per
//! Odoo database the odoo.conf's role can see, then runs `config check` on it.
//!
//! It never overwrites a configuration, with one exception: the packaged example, untouched
//! (the same bytes as [`PACKAGED_EXAMPLE`], the example this binary was built with, so the
//! one its package installed as `/etc/sauvegarde/sauvegarde.toml`; the comparison needs
//! no dpkg database and works the same in a `dpkg --root` tree or a hand install). A file
//! that differs by one byte is somebody's configuration and is left alone.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{print_stderr, print_text, CliError};
use sauvegarde::dump::{query, Connection, PgTools};
use sauvegarde::odoo_conf::OdooConf;

/// Where `config init` writes by default: the system configuration file.
pub const SYSTEM_CONFIG: &str = "/etc/sauvegarde/sauvegarde.toml";
/// Odoo's configuration file read by default.
pub const ODOO_CONF: &str = "/etc/odoo/odoo.conf";
/// The example configuration the package installs as [`SYSTEM_CONFIG`] (every job,
/// destination and notifier commented out): the only file `config init` writes over.
pub const PACKAGED_EXAMPLE: &str = include_str!("../../../packaging/sauvegarde.example.toml");

/// What `config init` was asked.
#[derive(Debug)]
pub struct InitArgs<'a> {
    /// The odoo.conf to read.
    pub odoo_conf: &'a Path,
    /// The file to write (never overwritten, unless it is the untouched packaged example).
    pub output: &'a Path,
    /// `backup_dir` of the new file.
    pub backup_dir: &'a Path,
    /// `state_dir` of the new file.
    pub state_dir: &'a Path,
}

/// An Odoo database found on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooDatabase {
    /// Its name.
    pub name: String,
    /// `latest_version` of the `base` module, when installed.
    pub version: Option<String>,
    /// `pg_database_size`, bytes.
    pub size: u64,
}

/// Runs `config init`.
pub fn run(args: &InitArgs<'_>) -> Result<i32, CliError> {
    // Refuse early (the write below checks again).
    let replaces_example = args.output.exists();
    if replaces_example && !is_packaged_example(args.output) {
        return Err(exists(args.output));
    }
    let odoo = OdooConf::read(args.odoo_conf).map_err(|e| {
        CliError::usage(format!(
            "{e}\n(config init reads Odoo's configuration for the database server and data_dir: give it with --odoo-conf FILE)"
        ))
    })?;
    let databases = list_odoo_databases(&odoo)?;
    let text = render(args, &databases);
    write_config(args.output, &text, replaces_example)?;
    print_text(&format!(
        "wrote {} with {} job(s){}{}\n",
        args.output.display(),
        databases.len(),
        if databases.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                databases
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        if replaces_example {
            " (in place of the untouched packaged example; a copy is in /usr/share/doc/sauvegarde/examples/)"
        } else {
            ""
        }
    ))?;
    if databases.is_empty() {
        print_stderr(&format!(
            "warning: no Odoo database found on the server of {} (databases with Odoo's \
             ir_module_module table); the file has a commented job to fill in\n",
            args.odoo_conf.display()
        ));
    }
    super::config::check(&[args.output.to_path_buf()])
}

fn exists(path: &Path) -> CliError {
    CliError::usage(format!(
        "{} already exists and is not the untouched packaged example: config init never overwrites a configuration (remove it, or write elsewhere with --output FILE)",
        path.display()
    ))
}

/// Whether `path` holds exactly the packaged example (an unreadable file is not).
fn is_packaged_example(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes == PACKAGED_EXAMPLE.as_bytes())
}

/// The databases Odoo's database manager would list on the odoo.conf's server: not a
/// template, accepting connections, not `postgres`, and holding `ir_module_module`.
pub fn list_odoo_databases(odoo: &OdooConf) -> Result<Vec<OdooDatabase>, CliError> {
    let psql = PgTools::discover(None)
        .map(|t| t.psql)
        .unwrap_or_else(|| PathBuf::from("psql"));
    let names = query::run(
        &psql,
        &Connection::for_odoo(odoo, "postgres"),
        "listing the databases",
        "SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate AND datallowconn \
         AND datname <> 'postgres' ORDER BY datname",
    )
    .map_err(CliError::failed)?;
    let mut found = Vec::new();
    for name in names.lines().filter(|l| !l.is_empty()) {
        let conn = Connection::for_odoo(odoo, name);
        let what = format!("inspecting database {name}");
        let facts = query::run(
            &psql,
            &conn,
            &what,
            "SELECT to_regclass('public.ir_module_module') IS NOT NULL, \
             pg_database_size(current_database())",
        )
        .map_err(CliError::failed)?;
        let mut parts = facts.trim().split('|');
        let is_odoo = parts.next() == Some("t");
        let size = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if !is_odoo {
            continue;
        }
        let version = query::run(
            &psql,
            &conn,
            &what,
            "SELECT latest_version FROM public.ir_module_module WHERE name = 'base' AND state = 'installed'",
        )
        .map_err(CliError::failed)?;
        let version = version.trim();
        found.push(OdooDatabase {
            name: name.to_string(),
            version: (!version.is_empty()).then(|| version.to_string()),
            size,
        });
    }
    Ok(found)
}

/// A job id for database `name`: letters, digits, `_` and `-` (others become `_`).
fn job_id(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// The text of the new configuration: the top-level keys, then one job per database
/// (or an example job when there is none).
pub fn render(args: &InitArgs<'_>, databases: &[OdooDatabase]) -> String {
    let odoo_conf = quoted(&args.odoo_conf.display().to_string());
    let mut t = header(args);
    if databases.is_empty() {
        let _ = writeln!(
            t,
            "# No Odoo database was found on the server of {}. A job looks like:\n\
             # [jobs.prod]\n\
             # database   = \"prod\"\n\
             # odoo_conf  = {odoo_conf}\n\
             # keep_days  = 7\n\
             # schedule   = {{ every = 1, unit = \"days\", at = \"02:30\" }}",
            args.odoo_conf.display()
        );
        return t;
    }
    let mut used = std::collections::BTreeSet::new();
    for db in databases {
        let mut id = job_id(&db.name);
        while !used.insert(id.clone()) {
            id.push('_');
        }
        t.push_str(&job(&id, db, &odoo_conf));
    }
    t
}

/// Where the file comes from, and the top-level keys.
fn header(args: &InitArgs<'_>) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# sauvegarde configuration, written by `sauvegarde config init` from {}.\n\
         # Check it with `sauvegarde config check`; see the effective values with\n\
         # `sauvegarde config show`. Every key is described in the guide, docs/configuration.md\n\
         # (/usr/share/doc/sauvegarde/docs/), and in the packaged example,\n\
         # /usr/share/doc/sauvegarde/examples/sauvegarde.toml.\n",
        args.odoo_conf.display()
    );
    let _ = writeln!(
        t,
        "# Where archives are written (each job may set its own backup_dir). The daemon's\n\
         # unit may write only there and in state_dir (its ReadWritePaths).\n\
         backup_dir = {}\n\
         # The history database and the locks.\n\
         state_dir = {}\n\
         # Exporter plugins (sftp, ftp, dropbox, s3, webdav) are looked for here.\n\
         plugin_dirs = [\"/usr/lib/sauvegarde/plugins\"]\n",
        quoted(&args.backup_dir.display().to_string()),
        quoted(&args.state_dir.display().to_string()),
    );
    t
}

/// The job `id` of the database `db`, connecting with `odoo_conf` (a TOML string).
fn job(id: &str, db: &OdooDatabase, odoo_conf: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Database {} ({}{}).\n\
         [jobs.{id}]\n\
         database  = {}\n\
         # Connection settings and data_dir (for the filestore) are read from Odoo's file.\n\
         odoo_conf = {odoo_conf}\n\
         # ZIP: SQL dump + filestore, restorable by Odoo's database manager.\n\
         format    = \"zip\"\n\
         # Archives older than 7 days are deleted (only this job's, proven by the history).\n\
         keep_days = 7\n\
         # Every night at 02:30 server time.\n\
         schedule  = {{ every = 1, unit = \"days\", at = \"02:30\" }}\n\
         # Off-site copies: add [jobs.{id}.destinations.<name>] tables (type = \"sftp\", ...).\n",
        db.name,
        sauvegarde::table::human_size(db.size),
        db.version
            .as_deref()
            .map(|v| format!(", base module {v}"))
            .unwrap_or_default(),
        quoted(&db.name),
    );
    t
}

/// Writes `text` to `path` (mode 0640) through a temporary name in the same directory.
/// A new file: refused when `path` exists, even if it appeared meanwhile. With
/// `replace_example`: renamed over `path` only if it still is the packaged example.
fn write_config(path: &Path, text: &str, replace_example: bool) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let failed =
        |e: std::io::Error| CliError::failed(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let mut file = tempfile::Builder::new()
        .prefix(".sauvegarde-init")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .tempfile_in(&dir)
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    if replace_example {
        // Checked again just before the rename: an edit made meanwhile is kept.
        if !is_packaged_example(path) {
            return Err(exists(path));
        }
        file.persist(path).map_err(|e| failed(e.error))?;
        return Ok(());
    }
    file.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            exists(path)
        } else {
            failed(e.error)
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_keep_only_letters_digits_underscores_and_dashes() {
        assert_eq!(job_id("prod-2024.copy"), "prod-2024_copy");
    }

    #[test]
    fn the_starting_configuration_has_one_daily_seven_day_job_per_database() {
        let args = InitArgs {
            odoo_conf: Path::new("/etc/odoo/odoo.conf"),
            output: Path::new("/x.toml"),
            backup_dir: Path::new("/b"),
            state_dir: Path::new("/s"),
        };
        let dbs = [
            OdooDatabase {
                name: "prod".into(),
                version: Some("17.0.1.3".into()),
                size: 10 << 20,
            },
            OdooDatabase {
                name: "prod.old".into(),
                version: None,
                size: 1,
            },
        ];
        let text = render(&args, &dbs);
        let value: toml::Table = toml::from_str(&text).unwrap();
        let jobs = value["jobs"].as_table().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs["prod_old"]["database"].as_str(), Some("prod.old"));
        assert_eq!(jobs["prod"]["keep_days"].as_integer(), Some(7));
        assert_eq!(jobs["prod"]["schedule"]["unit"].as_str(), Some("days"));
        assert!(text.contains("# Database prod (10.0 MiB, base module 17.0.1.3)."));
    }
}

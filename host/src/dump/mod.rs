//! PostgreSQL client programs: finding `pg_dump`/`psql`, the connection settings of a job
//! (passed through libpq's environment, the password in a private password file, never on
//! a command line nor in the environment), running
//! `pg_dump` as a streaming child process, and the catalogue queries of the manifest.

pub mod client;
mod passfile;
pub mod query;
mod tools;
pub mod watch;

use std::process::{Command, Stdio};

pub use client::{ClientExit, ClientProcess};
pub use passfile::PassFile;
pub use tools::{find_pg_dump, pg_restore_for, PgTools};

use crate::config::JobConfig;
use crate::odoo_conf::OdooConf;

/// Connection settings for libpq, from the job and, below it, the job's odoo.conf.
#[derive(Clone, Default)]
pub struct Connection {
    /// Database name.
    pub database: String,
    /// `PGHOST`.
    pub host: Option<String>,
    /// `PGPORT`.
    pub port: Option<u16>,
    /// `PGUSER`.
    pub user: Option<String>,
    /// The password, written to a private `PGPASSFILE` for each program run.
    password: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("database", &self.database)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::redact::MASK),
            )
            .finish()
    }
}

impl Connection {
    /// The job's settings, falling back to `odoo` (its odoo.conf) for unset ones.
    pub fn for_job(job: &JobConfig, odoo: Option<&OdooConf>) -> Self {
        let odoo = odoo.cloned().unwrap_or_default();
        Connection {
            database: job.database.name(),
            host: job.db_host.clone().or(odoo.db_host),
            port: job.db_port.or(odoo.db_port),
            user: job.db_user.clone().or(odoo.db_user),
            password: job.db_password.clone().or(odoo.db_password),
        }
    }

    /// The server of an odoo.conf (its `db_*` settings, libpq defaults for unset ones),
    /// connected to `database`.
    pub fn for_odoo(odoo: &OdooConf, database: &str) -> Self {
        Connection {
            database: database.to_string(),
            host: odoo.db_host.clone(),
            port: odoo.db_port,
            user: odoo.db_user.clone(),
            password: odoo.db_password.clone(),
        }
    }

    /// The same server and database, logged in as `user` with `password`.
    pub fn as_login(&self, user: &str, password: &str) -> Connection {
        Connection {
            user: Some(user.to_string()),
            password: Some(password.to_string()),
            ..self.clone()
        }
    }

    /// Sets libpq's environment on `command`. The password goes into a new private
    /// password file named by `PGPASSFILE` (an inherited `PGPASSWORD` would win over it,
    /// so it is removed): keep the returned file until the program has exited; dropping
    /// it removes the file.
    #[must_use = "the password file is removed when dropped: keep it until the program exits"]
    pub fn apply(&self, command: &mut Command) -> std::io::Result<Option<PassFile>> {
        command.env("PGDATABASE", &self.database);
        command.env("PGAPPNAME", "sauvegarde");
        if let Some(h) = &self.host {
            command.env("PGHOST", h);
        }
        if let Some(p) = self.port {
            command.env("PGPORT", p.to_string());
        }
        if let Some(u) = &self.user {
            command.env("PGUSER", u);
        }
        let Some(password) = &self.password else {
            return Ok(None);
        };
        let file = PassFile::create(password)?;
        command.env_remove("PGPASSWORD");
        command.env("PGPASSFILE", file.path());
        Ok(Some(file))
    }
}

/// Output format of pg_dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// Plain SQL (`dump.sql` of a ZIP archive).
    Plain,
    /// Custom format (`--format=c`).
    Custom,
}

/// Starts `pg_dump --no-owner` for `conn` in `format`, its stdout piped to the caller.
pub fn spawn_pg_dump(
    program: &std::path::Path,
    conn: &Connection,
    format: DumpFormat,
) -> std::io::Result<ClientProcess> {
    let mut command = client::command(program);
    command.arg("--no-owner");
    if format == DumpFormat::Custom {
        command.arg("--format=c");
    }
    let passfile = conn.apply(&mut command)?;
    command.stdout(Stdio::piped());
    Ok(ClientProcess::spawn(&mut command)?.keeping(passfile))
}

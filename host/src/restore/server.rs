//! The PostgreSQL server a restore goes to: its connection (libpq settings, password only
//! in the children's environment), the client programs, and the database-level operations
//! run through the maintenance database: exists, create, drop.

use std::path::PathBuf;
use std::time::Duration;

use super::RestoreError;
use crate::dump::query;
use crate::dump::Connection;

/// The longest database name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// A PostgreSQL server and the client programs to reach it.
#[derive(Debug, Clone)]
pub struct Server {
    /// Connection settings; `database` is the maintenance database (`postgres`).
    pub conn: Connection,
    /// psql.
    pub psql: PathBuf,
    /// pg_restore of the same installation.
    pub pg_restore: PathBuf,
}

/// Checks a new database's name the way Odoo's database manager does: letters, digits,
/// `_`, `.` and `-`, starting with a letter or digit, at most 63 bytes. The name is also
/// the filestore's directory name, so nothing else is allowed (a stricter rule than
/// [`crate::naming::check_database_name`], which it includes).
pub fn check_name(name: &str) -> Result<(), RestoreError> {
    let ok = crate::naming::check_database_name(name).is_ok()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RestoreError::InvalidName { name: name.into() })
    }
}

/// `"name"` with inner quotes doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled (standard_conforming_strings is on by default).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether a psql that prints `version` (`psql (PostgreSQL) 15.18 (Debian …)`) knows
/// `\restrict`: PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6, 18 and later.
pub fn restrict_supported(version: &str) -> bool {
    let Some(number) = version
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
    else {
        return false;
    };
    let mut parts = number.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    match major {
        18.. => true,
        17 => minor >= 6,
        16 => minor >= 10,
        15 => minor >= 14,
        14 => minor >= 19,
        13 => minor >= 22,
        _ => false,
    }
}

impl Server {
    /// The server of a job's connection settings (`odoo`: its odoo.conf, read), reached
    /// through `maintenance_db`, with the client programs of the job's `pg_dump`
    /// installation (else `psql` and `pg_restore` from the PATH).
    pub fn for_job(
        settings: &crate::config::JobConfig,
        odoo: Option<&crate::odoo_conf::OdooConf>,
        maintenance_db: &str,
    ) -> Server {
        let mut conn = Connection::for_job(settings, odoo);
        conn.database = maintenance_db.to_string();
        let (psql, pg_restore) = match crate::dump::PgTools::discover(settings.pg_dump.as_deref()) {
            Some(tools) => {
                let pg_restore = crate::dump::pg_restore_for(&tools.pg_dump);
                (tools.psql, pg_restore)
            }
            None => (PathBuf::from("psql"), PathBuf::from("pg_restore")),
        };
        Server {
            conn,
            psql,
            pg_restore,
        }
    }

    /// Whether this psql knows `\restrict` (asked with `psql --version`).
    pub fn psql_restricts(&self) -> bool {
        match std::process::Command::new(&self.psql)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {
                restrict_supported(&String::from_utf8_lossy(&out.stdout))
            }
            _ => false,
        }
    }

    /// The same settings, connected to `database`.
    pub fn connection_to(&self, database: &str) -> Connection {
        let mut c = self.conn.clone();
        c.database = database.to_string();
        c
    }

    /// "host H port P user U" (the values that are set), for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = &self.conn.host {
            parts.push(format!("host {h}"));
        }
        if let Some(p) = self.conn.port {
            parts.push(format!("port {p}"));
        }
        if let Some(u) = &self.conn.user {
            parts.push(format!("user {u}"));
        }
        if parts.is_empty() {
            "the libpq defaults".to_string()
        } else {
            parts.join(" ")
        }
    }

    fn run(&self, what: &str, sql: &str) -> Result<String, RestoreError> {
        query::run(&self.psql, &self.conn, what, sql).map_err(|source| RestoreError::Server {
            server: self.describe(),
            source,
        })
    }

    /// Whether database `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool, RestoreError> {
        let n = self.run(
            &format!("checking whether database {name} exists"),
            &format!(
                "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = {}",
                literal(name)
            ),
        )?;
        Ok(n != "0")
    }

    /// Creates the empty database `name` as Odoo's database manager does (UTF-8, `C`
    /// collation, from template0); it belongs to the connecting role.
    pub fn create(&self, name: &str) -> Result<(), RestoreError> {
        self.create_owned(name, None)
    }

    /// [`create`](Self::create), the database owned by `owner` when given.
    pub fn create_owned(&self, name: &str, owner: Option<&str>) -> Result<(), RestoreError> {
        let owner = owner.map_or(String::new(), |o| format!(" OWNER {}", ident(o)));
        self.run(
            &format!("creating database {name}"),
            &format!(
                "CREATE DATABASE {}{owner} ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0",
                ident(name)
            ),
        )?;
        tracing::info!(database = name, "database created");
        Ok(())
    }

    /// Whether the connecting role is a superuser (it may then run `COPY … TO PROGRAM`).
    pub fn is_superuser(&self) -> Result<bool, RestoreError> {
        let s = self.run(
            "checking whether the role is a superuser",
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
        )?;
        Ok(s == "t")
    }

    /// Creates the login role `name` (no superuser, no CREATEDB/CREATEROLE, no
    /// rights but those of the database it will own) with `password`.
    pub fn create_throwaway_role(&self, name: &str, password: &str) -> Result<(), RestoreError> {
        self.run(
            &format!("creating role {name}"),
            &format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}",
                ident(name),
                literal(password)
            ),
        )?;
        tracing::info!(role = name, "throwaway role created");
        Ok(())
    }

    /// Drops role `name` (its database is gone already).
    pub fn drop_role(&self, name: &str) -> Result<(), RestoreError> {
        self.run(
            &format!("dropping role {name}"),
            &format!("DROP ROLE IF EXISTS {}", ident(name)),
        )?;
        tracing::info!(role = name, "throwaway role dropped");
        Ok(())
    }

    /// The same server and programs, logged in as `user` with `password`.
    pub fn as_login(&self, user: &str, password: &str) -> Server {
        Server {
            conn: self.conn.as_login(user, password),
            ..self.clone()
        }
    }

    /// Drops database `name`, ending its sessions first; retried for a few seconds while
    /// a just-killed client's session goes away.
    pub fn drop_database(&self, name: &str) -> Result<(), RestoreError> {
        let terminate = format!(
            "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity \
             WHERE datname = {} AND pid <> pg_catalog.pg_backend_pid()",
            literal(name)
        );
        let drop = format!("DROP DATABASE IF EXISTS {}", ident(name));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .run(&format!("ending the sessions of {name}"), &terminate)
                .and_then(|_| self.run(&format!("dropping database {name}"), &drop));
            match result {
                Ok(_) => {
                    tracing::info!(database = name, "database dropped");
                    return Ok(());
                }
                Err(e) if attempt < 10 => {
                    tracing::debug!(database = name, "drop failed, retrying: {e}");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_odoo() {
        for ok in ["prod", "prod_copy", "Prod-2024.05", "1db", &"a".repeat(63)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".hidden",
            "-x",
            "a/b",
            "../etc",
            "a b",
            "a\"b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn restrict_arrived_in_the_august_2025_minor_releases() {
        for (version, yes) in [
            ("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", true),
            ("psql (PostgreSQL) 15.13", false),
            ("psql (PostgreSQL) 16.10", true),
            ("psql (PostgreSQL) 16.9", false),
            ("psql (PostgreSQL) 17.6", true),
            ("psql (PostgreSQL) 18beta1", true),
            ("psql (PostgreSQL) 12.22", false),
            ("psql (PostgreSQL) 13.22", true),
            ("nonsense", false),
        ] {
            assert_eq!(restrict_supported(version), yes, "{version}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("o'k"), "'o''k'");
    }
}

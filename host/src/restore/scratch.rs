//! `verify --restore`: the database of an archive restored into a scratch database, its
//! row counts read, and the scratch database dropped whatever happened.
//!
//! When the connecting role is a superuser, the load runs as a throwaway login role of the
//! scratch database's name (no superuser, no CREATEDB/CREATEROLE, a random password,
//! owner of the scratch database): `COPY … TO PROGRAM` and the like fail in an archive
//! under test. The role is dropped with the database.

use std::collections::BTreeMap;
use std::path::Path;

use super::server::Server;
use super::{load, RestoreError};
use crate::cancel::CancelFlag;
use crate::dump::query::DatabaseInfo;
use crate::verify::psql::split::Unit;
use crate::verify::Format;

/// The scratch database's name: `sauvegarde_verify_<pid>_<unix seconds>`.
pub fn scratch_name() -> String {
    format!(
        "sauvegarde_verify_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_second()
    )
}

/// Restores the database of the archive at `path` into a scratch database on `server`
/// over `jobs` connections (`units`: its `dump.sql` cut by the verification, for a
/// parallel load) and returns its rows per table (`schema.table`). The scratch database
/// is dropped before returning.
pub fn test_restore(
    server: &Server,
    path: &Path,
    format: Format,
    units: Option<Vec<Unit>>,
    jobs: usize,
    cancel: &CancelFlag,
) -> Result<BTreeMap<String, u64>, RestoreError> {
    let name = scratch_name();
    if server.exists(&name)? {
        return Err(RestoreError::DatabaseExists {
            database: name,
            server: server.describe(),
        });
    }
    let login = if server.is_superuser()? {
        let password = load::random_key().map_err(|source| RestoreError::Spawn {
            program: "/dev/urandom".into(),
            source,
        })?;
        server.create_throwaway_role(&name, &password)?;
        Some(password)
    } else {
        None
    };
    let result = server
        .create_owned(&name, login.as_ref().map(|_| name.as_str()))
        .and_then(|()| {
            tracing::info!(database = name, archive = %path.display(), "test restore into a scratch database");
            match &login {
                Some(password) => restore_and_count(
                    &server.as_login(&name, password),
                    &name,
                    (path, format, units),
                    jobs,
                    cancel,
                ),
                None => restore_and_count(server, &name, (path, format, units), jobs, cancel),
            }
        });
    let mut dropped = server.drop_database(&name);
    if login.is_some() {
        dropped = dropped.and_then(|()| server.drop_role(&name));
    }
    match (result, dropped) {
        (Ok(tables), Ok(())) => Ok(tables),
        (Err(e), Ok(())) => Err(e),
        (Ok(_), Err(e)) => Err(RestoreError::ScratchNotDropped {
            database: name,
            source: Box::new(e),
        }),
        (Err(e), Err(drop_error)) => {
            tracing::error!(
                database = name,
                "scratch database not dropped, drop it by hand: {drop_error}"
            );
            Err(e)
        }
    }
}

fn restore_and_count(
    server: &Server,
    name: &str,
    (path, format, units): (&Path, Format, Option<Vec<Unit>>),
    jobs: usize,
    cancel: &CancelFlag,
) -> Result<BTreeMap<String, u64>, RestoreError> {
    match format {
        Format::Zip => {
            let mut zip = super::open_zip(path)?;
            load::database_from_zip(server, name, &mut zip, path, units, jobs, cancel)?;
        }
        Format::Dump => load::custom(server, name, path, jobs, cancel)?,
    }
    let info = DatabaseInfo::read_cancellable(&server.psql, &server.connection_to(name), cancel)
        .map_err(|source| RestoreError::Server {
            server: server.describe(),
            source,
        })?;
    Ok(info.tables)
}

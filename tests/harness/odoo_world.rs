//! The world most end-to-end tests start from: a throwaway PostgreSQL cluster holding the
//! Odoo-shaped database `prod`, its filestore on disk, and a directory for the
//! configuration, the state and the backups.

use std::path::PathBuf;

use crate::postgres::PgCluster;

/// A cluster with `prod` and a temporary directory (`filestore/`, `backups/`, `state/`).
pub struct OdooWorld {
    /// The cluster.
    pub pg: PgCluster,
    /// Everything else of the test.
    pub dir: tempfile::TempDir,
}

impl OdooWorld {
    /// Starts a cluster and creates `prod` (Odoo 17 modules, `rows` attachment rows) with
    /// its filestore in `filestore/`.
    pub fn new(rows: u32) -> Self {
        let pg = PgCluster::start();
        let dir = tempfile::tempdir().expect("temp dir");
        pg.create_odoo_fixture("prod", "17.0.1.3", &dir.path().join("filestore"), rows);
        OdooWorld { pg, dir }
    }

    /// A path inside the test's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The backup directory of the `prod` job.
    pub fn backups(&self) -> PathBuf {
        self.path("backups")
    }

    /// Writes `sauvegarde.toml`: backup and state directories, no plugin directory, a
    /// `[jobs.prod]` table backing up `prod` with `extra` lines in it, then `tail` (more
    /// tables).
    pub fn config(&self, extra: &str, tail: &str) -> PathBuf {
        let text = format!(
            "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n[jobs.prod]\ndatabase = \"prod\"\n\
             db_host = \"127.0.0.1\"\ndb_port = {}\ndb_user = \"postgres\"\nfilestore = {:?}\n{extra}\n{tail}\n",
            self.backups(),
            self.path("state"),
            self.pg.port(),
            self.path("filestore"),
        );
        let path = self.path("sauvegarde.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

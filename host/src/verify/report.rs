//! The result of a verification: a list of named checks, each passed, failed, warned or
//! skipped with a precise detail, plus per-table row counts. Rendered as text or JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use sauvegarde_plugin_api::human_bytes;

/// How many individual problems a check lists before summarising the rest.
pub const MAX_LISTED: usize = 20;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Ok,
    /// Worth knowing, does not fail the verification.
    Warning,
    /// Not done (the detail says why).
    Skipped,
    /// The archive cannot be trusted.
    Failed,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warning => "!",
            Status::Skipped => "-",
            Status::Failed => "✗",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short stable name: `zip`, `entries`, `dump`, `manifest`, `row_counts`, `sha256`,
    /// `toc`, `restore`, `restored_rows`.
    pub check: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
}

/// Row counts of one table from each source that has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    /// Counted just before the dump (`sauvegarde.tables` in manifest.json).
    pub manifest: Option<u64>,
    /// Rows in the table's COPY section of the dump.
    pub dump: Option<u64>,
    /// Rows in the test restore.
    pub restored: Option<u64>,
}

/// Archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Odoo's ZIP (`dump.sql`, `filestore/`, `manifest.json`).
    Zip,
    /// `pg_dump --format=c`.
    Dump,
}

/// The history row an archive was matched with.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryMatch {
    /// Backup row id.
    pub id: i64,
    /// Job id.
    pub job: String,
    /// Path recorded at backup time.
    pub path: String,
}

/// Everything `verify` found about one archive.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The archive.
    pub archive: PathBuf,
    /// Its format, when recognised.
    pub format: Option<Format>,
    /// Size in bytes.
    pub size: u64,
    /// True when no check failed.
    pub ok: bool,
    /// The checks in the order they ran.
    pub checks: Vec<Check>,
    /// Entries in the ZIP (0 for a `.dump`).
    pub entries: u64,
    /// Filestore files and their total size.
    pub filestore_files: u64,
    /// Total uncompressed size of the filestore files.
    pub filestore_bytes: u64,
    /// Size of the SQL script (`dump.sql`, or pg_restore's output for a `.dump`).
    pub sql_bytes: u64,
    /// Per-table row counts.
    pub tables: BTreeMap<String, TableCounts>,
    /// The history row matched, if any.
    pub history: Option<HistoryMatch>,
    /// The archive is encrypted with age (`size` is the encrypted file's).
    pub encrypted: bool,
    /// `dump.sql` cut where psql cuts it, for a parallel restore
    /// ([`super::verify_for_restore`]).
    #[serde(skip)]
    pub units: Option<Vec<super::psql::split::Unit>>,
}

impl VerifyReport {
    /// An empty report for `archive` of `size` bytes.
    pub fn new(archive: PathBuf, size: u64) -> Self {
        VerifyReport {
            archive,
            format: None,
            size,
            ok: true,
            checks: Vec::new(),
            entries: 0,
            filestore_files: 0,
            filestore_bytes: 0,
            sql_bytes: 0,
            tables: BTreeMap::new(),
            history: None,
            encrypted: false,
            units: None,
        }
    }

    /// Records a check.
    pub fn push(&mut self, check: &'static str, status: Status, detail: impl Into<String>) {
        if status == Status::Failed {
            self.ok = false;
        }
        self.checks.push(Check {
            check,
            status,
            detail: detail.into(),
        });
    }

    /// The failed checks, one per line (for error messages and history).
    pub fn failures(&self) -> String {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Human-readable report.
    pub fn render_text(&self) -> String {
        let format = match (self.format, self.encrypted) {
            (Some(Format::Zip), false) => "ZIP",
            (Some(Format::Dump), false) => "pg_dump custom format",
            (None, false) => "unknown format",
            (Some(Format::Zip), true) => "age-encrypted ZIP",
            (Some(Format::Dump), true) => "age-encrypted pg_dump custom format",
            (None, true) => "age-encrypted",
        };
        let mut text = format!(
            "archive {} ({}, {})\n",
            self.archive.display(),
            human_bytes(self.size),
            format
        );
        for c in &self.checks {
            text.push_str(&format!(
                "{} {:<13} {}\n",
                c.status.mark(),
                c.check,
                c.detail
            ));
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .count();
        let unchecked = self
            .checks
            .iter()
            .any(|c| c.check == "decrypt" && c.status == Status::Skipped);
        if failed == 0 && unchecked {
            text.push_str("result: OK as far as checked (the contents need --identity)\n");
        } else if failed == 0 {
            text.push_str("result: OK\n");
        } else {
            text.push_str(&format!("result: FAILED ({failed} check(s) failed)\n"));
        }
        text
    }
}

/// Lists at most [`MAX_LISTED`] items, then "and N more".
pub fn list_some(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > MAX_LISTED {
        text.push_str(&format!("; and {} more", items.len() - MAX_LISTED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_fails_the_report() {
        let mut r = VerifyReport::new(PathBuf::from("/b/a.zip"), 2048);
        r.push("entries", Status::Ok, "3 entries");
        r.push("sha256", Status::Skipped, "not in history");
        assert!(r.ok);
        r.push("dump", Status::Failed, "dump.sql is cut");
        assert!(!r.ok);
        assert_eq!(r.failures(), "dump: dump.sql is cut");
        let text = r.render_text();
        assert!(text.contains("(2.0 KiB, unknown format)"), "{text}");
        assert!(text.contains("✗ dump"), "{text}");
        assert!(
            text.ends_with("result: FAILED (1 check(s) failed)\n"),
            "{text}"
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let items: Vec<String> = (0..25).map(|i| i.to_string()).collect();
        assert!(list_some(&items).ends_with("; 19; and 5 more"));
    }
}

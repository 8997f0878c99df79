//! The Prometheus metrics file (`metrics_file`), for node_exporter's textfile collector.
//!
//! Built from the history, never from memory, so it is right after a restart and whichever
//! process (daemon or command line) ran last: [`collect`] reads the history into samples,
//! [`render`] writes them in the text exposition format (each family's HELP and TYPE once,
//! label values escaped), [`write_atomically`] replaces the file (temporary file in the same
//! directory, fsync, rename, mode 0644). [`refresh`] does the three and only ever warns: a
//! metrics file that cannot be written never fails a backup.
//!
//! Adding a metric is one [`Family`] in [`FAMILIES`] and the samples pushed in [`collect`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use jiff::Timestamp;

use crate::config::Config;
use crate::history::{BackupRow, BackupState, DrillRow, ExportRow, ExportState, History};

/// A metric family: name, help text, type.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// Metric name.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: "gauge",
    }
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: "counter",
    }
}

/// Every family, in the order the file lists them.
pub const FAMILIES: &[Family] = &[
    gauge(
        LAST_SUCCESS,
        "End of the last successful backup (Unix time), per job and database.",
    ),
    gauge(
        LAST_RUN,
        "End of the last finished backup run, successful or not (Unix time).",
    ),
    gauge(
        LAST_RUN_SUCCESS,
        "1 if the last finished backup run succeeded, 0 if it failed.",
    ),
    gauge(
        LAST_DURATION,
        "Duration of the last successful backup in seconds.",
    ),
    gauge(
        LAST_SIZE,
        "Size of the last successful backup's archive in bytes.",
    ),
    counter(
        BACKUPS_TOTAL,
        "Backup runs recorded in the history, by result.",
    ),
    gauge(
        EXPORT_LAST_SUCCESS,
        "End of the last successful upload to the destination (Unix time).",
    ),
    counter(
        EXPORT_FAILURES,
        "Failed upload attempts to the destination recorded in the history.",
    ),
    gauge(
        LAST_DRILL_SUCCESS,
        "End of the last successful restore drill (Unix time), per job and database.",
    ),
    gauge(
        LAST_DRILL_OK,
        "1 if the last restore drill restored the archive whole, 0 if it failed.",
    ),
    gauge(
        LAST_DRILL_DURATION,
        "Duration of the last restore drill in seconds (verification, restore and counts): the time to recover, per job and database.",
    ),
];

const LAST_SUCCESS: &str = "sauvegarde_last_success_timestamp_seconds";
const LAST_RUN: &str = "sauvegarde_last_run_timestamp_seconds";
const LAST_RUN_SUCCESS: &str = "sauvegarde_last_run_success";
const LAST_DURATION: &str = "sauvegarde_last_backup_duration_seconds";
const LAST_SIZE: &str = "sauvegarde_last_backup_size_bytes";
const BACKUPS_TOTAL: &str = "sauvegarde_backups_total";
const EXPORT_LAST_SUCCESS: &str = "sauvegarde_export_last_success_timestamp_seconds";
const EXPORT_FAILURES: &str = "sauvegarde_export_failures_total";
const LAST_DRILL_SUCCESS: &str = "sauvegarde_last_drill_success_timestamp_seconds";
const LAST_DRILL_OK: &str = "sauvegarde_last_drill_success";
const LAST_DRILL_DURATION: &str = "sauvegarde_last_drill_duration_seconds";

/// One sample: a family's name, its labels, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The family's name.
    pub name: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

fn seconds(rfc3339: Option<&str>) -> Option<f64> {
    let t: Timestamp = rfc3339?.parse().ok()?;
    Some(t.as_millisecond() as f64 / 1000.0)
}

/// The history's rows the metrics are built from.
#[derive(Debug, Default)]
pub struct Rows {
    /// Backups, newest first (as `History::list` gives them).
    pub backups: Vec<BackupRow>,
    /// Export attempts.
    pub exports: Vec<ExportRow>,
    /// The latest drill of each job and database.
    pub last_drills: Vec<DrillRow>,
    /// The latest successful drill of each job and database.
    pub good_drills: Vec<DrillRow>,
}

impl Rows {
    /// Everything the metrics need from `history`.
    pub fn read(history: &History) -> Result<Rows, crate::history::HistoryError> {
        Ok(Rows {
            backups: history.list(None, usize::MAX)?,
            exports: history.list_exports(None, usize::MAX)?,
            last_drills: history.last_drills(None)?,
            good_drills: history.last_good_drills()?,
        })
    }
}

/// The samples the history holds.
pub fn collect(rows: &Rows) -> Vec<Sample> {
    let (backups, exports) = (&rows.backups, &rows.exports);
    let mut out = Vec::new();
    let mut by_db: BTreeMap<(&str, &str), Vec<&BackupRow>> = BTreeMap::new();
    for row in backups.iter().filter(|r| r.state != BackupState::Running) {
        let db = row.database_name().unwrap_or("");
        by_db.entry((&row.job, db)).or_default().push(row);
    }
    let ok = |r: &BackupRow| matches!(r.state, BackupState::Done | BackupState::Deleted);
    for ((job, db), rows) in &by_db {
        let labels = || vec![("job", job.to_string()), ("database", db.to_string())];
        let mut push = |name, value: f64| {
            out.push(Sample {
                name,
                labels: labels(),
                value,
            })
        };
        let end = |r: &BackupRow| seconds(r.finished.as_deref()).or(seconds(Some(&r.started)));
        if let Some(last) = rows.first() {
            if let Some(t) = end(last) {
                push(LAST_RUN, t);
            }
            push(LAST_RUN_SUCCESS, if ok(last) { 1.0 } else { 0.0 });
        }
        if let Some(good) = rows.iter().find(|r| ok(r)) {
            if let Some(t) = end(good) {
                push(LAST_SUCCESS, t);
            }
            if let (Some(a), Some(b)) = (seconds(Some(&good.started)), end(good)) {
                push(LAST_DURATION, (b - a).max(0.0));
            }
            if let Some(size) = good.size {
                push(LAST_SIZE, size as f64);
            }
        }
        let succeeded = rows.iter().filter(|r| ok(r)).count();
        for (result, n) in [("success", succeeded), ("failure", rows.len() - succeeded)] {
            out.push(Sample {
                name: BACKUPS_TOTAL,
                labels: [labels(), vec![("result", result.to_string())]].concat(),
                value: n as f64,
            });
        }
    }
    let mut by_dest: BTreeMap<(&str, &str), Vec<&ExportRow>> = BTreeMap::new();
    for row in exports {
        by_dest
            .entry((&row.job, &row.destination))
            .or_default()
            .push(row);
    }
    for ((job, dest), rows) in &by_dest {
        let labels = || vec![("job", job.to_string()), ("destination", dest.to_string())];
        let last_ok = rows
            .iter()
            .filter(|r| matches!(r.state, ExportState::Done | ExportState::Deleted))
            .filter_map(|r| seconds(r.updated.as_deref()).or(seconds(Some(&r.started))))
            .reduce(f64::max);
        if let Some(t) = last_ok {
            out.push(Sample {
                name: EXPORT_LAST_SUCCESS,
                labels: labels(),
                value: t,
            });
        }
        let failed = rows
            .iter()
            .filter(|r| r.state == ExportState::Failed)
            .count();
        out.push(Sample {
            name: EXPORT_FAILURES,
            labels: labels(),
            value: failed as f64,
        });
    }
    let drill_labels =
        |d: &DrillRow| vec![("job", d.job.clone()), ("database", d.database.clone())];
    for d in &rows.good_drills {
        if let Some(t) = seconds(Some(&d.finished)) {
            out.push(Sample {
                name: LAST_DRILL_SUCCESS,
                labels: drill_labels(d),
                value: t,
            });
        }
    }
    for d in &rows.last_drills {
        out.push(Sample {
            name: LAST_DRILL_OK,
            labels: drill_labels(d),
            value: if d.ok { 1.0 } else { 0.0 },
        });
        if let Some(seconds) = d.seconds {
            out.push(Sample {
                name: LAST_DRILL_DURATION,
                labels: drill_labels(d),
                value: seconds,
            });
        }
    }
    out
}

/// A label value escaped for the exposition format.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `samples` in the text exposition format, family by family (HELP and TYPE once each).
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.name == family.name).collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!("# HELP {} {}\n", family.name, family.help));
        out.push_str(&format!("# TYPE {} {}\n", family.name, family.kind));
        for s in mine {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            out.push_str(&format!("{}{{{}}} {}\n", s.name, labels.join(","), s.value));
        }
    }
    out
}

/// Replaces `path` with `text`: a temporary file in the same directory (a name that does
/// not end in `.prom`, so the collector never reads it half-written), fsync, mode 0644,
/// rename. The temporary file is removed on failure.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Rewrites the configured `metrics_file` from the history; does nothing without one. Any
/// problem is a warning: metrics never fail a backup.
pub fn refresh(config: &Config) {
    let Some(path) = &config.metrics_file else {
        return;
    };
    let history = match History::open_read_only(&config.state_dir) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(file = %path.display(), "metrics file not updated: {e}");
            return;
        }
    };
    let rows = match history.as_ref().map(Rows::read) {
        Some(Ok(rows)) => rows,
        Some(Err(e)) => {
            tracing::warn!(file = %path.display(), "metrics file not updated: {e}");
            return;
        }
        None => Rows::default(),
    };
    let text = render(&collect(&rows));
    if let Err(e) = write_atomically(path, &text) {
        tracing::warn!(file = %path.display(), "cannot write the metrics file: {e}; the backups are not affected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_before_any_archive_was_named_counts_for_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let path = dir.path().join("prod_2026-12-01_02-00-00.zip");
        let id = h
            .start_backup(
                "j",
                "prod_2026-12-01_02-00-00.zip",
                &path,
                "2026-12-01T02:00:00Z",
            )
            .unwrap();
        h.set_database(id, "prod").unwrap();
        h.finish_backup(id, 10, "00").unwrap();
        h.record_failure("j", "prod", "2026-12-02T02:00:00Z", "no space")
            .unwrap();
        let text = render(&collect(&Rows::read(&h).unwrap()));
        for line in [
            "sauvegarde_last_run_success{job=\"j\",database=\"prod\"} 0\n",
            "sauvegarde_backups_total{job=\"j\",database=\"prod\",result=\"failure\"} 1\n",
            "sauvegarde_backups_total{job=\"j\",database=\"prod\",result=\"success\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        assert!(!text.contains("database=\"\""), "{text}");
    }

    #[test]
    fn label_values_are_escaped_and_each_family_is_declared_once() {
        let samples = vec![
            Sample {
                name: EXPORT_FAILURES,
                labels: vec![("job", "a\"b\\c\nd".into()), ("destination", "x".into())],
                value: 2.0,
            },
            Sample {
                name: EXPORT_FAILURES,
                labels: vec![("job", "b".into()), ("destination", "y".into())],
                value: 0.0,
            },
        ];
        let text = render(&samples);
        assert_eq!(text.matches("# TYPE").count(), 1, "{text}");
        assert!(
            text.contains(
                "sauvegarde_export_failures_total{job=\"a\\\"b\\\\c\\nd\",destination=\"x\"} 2\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn drills_give_the_last_success_time_the_last_result_and_its_time_to_recover() {
        let drill = |id, database: &str, ok, finished: &str| DrillRow {
            id,
            job: "j".into(),
            database: database.into(),
            backup_id: Some(1),
            archive: "/b/x.zip".into(),
            started: "2026-12-01T00:00:00Z".into(),
            finished: finished.into(),
            ok,
            tables: None,
            rows: None,
            message: String::new(),
            seconds: Some(id as f64 * 10.5),
            bytes: None,
            jobs: Some(2),
        };
        let rows = Rows {
            last_drills: vec![
                drill(3, "a", false, "2026-12-02T00:00:00Z"),
                drill(4, "b", true, "2026-12-02T00:00:10Z"),
            ],
            good_drills: vec![
                drill(1, "a", true, "2026-12-01T00:00:05Z"),
                drill(4, "b", true, "2026-12-02T00:00:10Z"),
            ],
            ..Rows::default()
        };
        let text = render(&collect(&rows));
        for line in [
            "sauvegarde_last_drill_success_timestamp_seconds{job=\"j\",database=\"a\"} 1796083205\n",
            "sauvegarde_last_drill_success_timestamp_seconds{job=\"j\",database=\"b\"} 1796169610\n",
            "sauvegarde_last_drill_success{job=\"j\",database=\"a\"} 0\n",
            "sauvegarde_last_drill_success{job=\"j\",database=\"b\"} 1\n",
            "sauvegarde_last_drill_duration_seconds{job=\"j\",database=\"a\"} 31.5\n",
            "sauvegarde_last_drill_duration_seconds{job=\"j\",database=\"b\"} 42\n",
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
    }

    #[test]
    fn the_file_is_replaced_whole_with_mode_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sauvegarde.prom");
        write_atomically(&path, "old\n").unwrap();
        write_atomically(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

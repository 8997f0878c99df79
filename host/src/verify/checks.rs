//! The checks that follow the reading of an archive: SQL script complete, manifest valid
//! and consistent with the dump, row counts, SHA-256 against the history, and the row
//! counts of a test restore.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::report::{list_some, HistoryMatch, Status, VerifyReport};
use super::sql_scan::SqlSummary;
use crate::history::History;

/// Records the `dump` check for the scanned SQL script (`what` names it for the user).
pub fn sql(report: &mut VerifyReport, what: &str, sql: Option<Result<SqlSummary, String>>) {
    let summary = match sql {
        None => {
            report.push(
                "dump",
                Status::Failed,
                format!("no {what} in the archive: there is no database to restore"),
            );
            return;
        }
        Some(Err(e)) => {
            report.push("dump", Status::Failed, e);
            return;
        }
        Some(Ok(s)) => s,
    };
    let mut summary = summary;
    report.units = summary.units.take();
    report.sql_bytes = summary.bytes;
    for (table, rows) in &summary.tables {
        report.tables.entry(table.clone()).or_default().dump = Some(*rows);
    }
    let rows: u64 = summary.tables.values().sum();
    meta_commands(report, what, &summary);
    if summary.complete {
        report.push(
            "dump",
            Status::Ok,
            format!(
                "{what} complete: ends with pg_dump's \"PostgreSQL database dump complete\"; {} tables with data, {rows} rows",
                summary.tables.len()
            ),
        );
    } else if let Some(table) = &summary.unterminated_copy {
        report.push(
            "dump",
            Status::Failed,
            format!("{what} stops inside the data of table {table}: the dump is incomplete"),
        );
    } else {
        report.push(
            "dump",
            Status::Failed,
            format!("{what} does not end with pg_dump's closing \"-- PostgreSQL database dump complete\" line: the dump is incomplete (pg_dump was interrupted?)"),
        );
    }
}

/// Records the `psql` check: a dump psql reads holds no meta-command but pg_dump's own.
fn meta_commands(report: &mut VerifyReport, what: &str, summary: &SqlSummary) {
    if !summary.meta_checked {
        return;
    }
    if summary.meta.is_empty() {
        report.push(
            "psql",
            Status::Ok,
            format!(
                "{what} holds no psql meta-command but pg_dump's own (\\restrict, \\unrestrict)"
            ),
        );
        return;
    }
    let shown: Vec<String> = summary.meta.iter().map(ToString::to_string).collect();
    report.push(
        "psql",
        Status::Failed,
        format!(
            "{what} holds {} psql meta-command line(s) that pg_dump never writes: {}; psql would run them (shell commands, files), so restore refuses this archive: it was not written by pg_dump, or was altered",
            summary.meta_count,
            shown.join("; ")
        ),
    );
}

/// Records the `manifest` check and the manifest's row counts.
pub fn manifest(report: &mut VerifyReport, manifest: Option<Result<Vec<u8>, String>>) {
    let bytes = match manifest {
        None => {
            report.push(
                "manifest",
                Status::Warning,
                "no manifest.json (Odoo restores without it); no row counts to compare",
            );
            return;
        }
        Some(Err(e)) => {
            report.push("manifest", Status::Failed, e);
            return;
        }
        Some(Ok(b)) => b,
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            report.push(
                "manifest",
                Status::Failed,
                format!("manifest.json is not valid JSON: {e}"),
            );
            return;
        }
    };
    match parse_manifest(&value) {
        Err(e) => report.push("manifest", Status::Failed, format!("manifest.json: {e}")),
        Ok(m) => {
            let mut detail = format!("manifest.json: database {}", m.db_name);
            if let Some(v) = m.odoo_version {
                detail.push_str(&format!(", Odoo {v} ({} modules)", m.modules));
            }
            if let Some(v) = m.pg_version {
                detail.push_str(&format!(", PostgreSQL {v}"));
            }
            match &m.tables {
                Some(t) => detail.push_str(&format!(", row counts of {} tables", t.len())),
                None => detail.push_str(", no row counts (not made by sauvegarde)"),
            }
            for (table, rows) in m.tables.into_iter().flatten() {
                report.tables.entry(table).or_default().manifest = Some(rows);
            }
            report.push("manifest", Status::Ok, detail);
        }
    }
}

struct Manifest {
    db_name: String,
    odoo_version: Option<String>,
    modules: usize,
    pg_version: Option<String>,
    tables: Option<BTreeMap<String, u64>>,
}

fn parse_manifest(value: &Value) -> Result<Manifest, String> {
    let obj = value.as_object().ok_or("not a JSON object")?;
    let db_name = obj
        .get("db_name")
        .and_then(Value::as_str)
        .ok_or("no `db_name` string")?
        .to_string();
    let text = |key: &str| -> Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("`{key}` is {other}, not a string")),
        }
    };
    let pg_version = text("pg_version")?;
    let odoo_version = text("version")?;
    let modules = match obj.get("modules") {
        None => 0,
        Some(Value::Object(m)) => m.len(),
        Some(_) => return Err("`modules` is not an object".into()),
    };
    if let Some(flag) = obj.get("odoo_dump") {
        if flag != "1" {
            return Err(format!("`odoo_dump` is {flag}, Odoo writes \"1\""));
        }
    }
    let tables = match obj.get("sauvegarde.tables") {
        None => None,
        Some(Value::Object(t)) => Some(
            t.iter()
                .map(|(k, v)| {
                    v.as_u64()
                        .map(|n| (k.clone(), n))
                        .ok_or_else(|| format!("`sauvegarde.tables.{k}` is {v}, not a row count"))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?,
        ),
        Some(_) => return Err("`sauvegarde.tables` is not an object".into()),
    };
    Ok(Manifest {
        db_name,
        odoo_version,
        modules,
        pg_version,
        tables,
    })
}

/// Records the `row_counts` check: the manifest's counts against the dump's COPY sections.
/// The counts are taken just before pg_dump's snapshot, so on a database in use some
/// differ: a warning, or a failure when `strict`.
pub fn dump_counts(report: &mut VerifyReport, strict: bool) {
    let with_manifest = report
        .tables
        .values()
        .filter(|c| c.manifest.is_some())
        .count();
    if with_manifest == 0 || report.sql_bytes == 0 {
        return;
    }
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    for (table, c) in &report.tables {
        match (c.manifest, c.dump) {
            (Some(m), None) => missing.push(format!("{table} ({m} rows)")),
            (Some(m), Some(d)) if m != d => differ.push(format!("{table}: manifest {m}, dump {d}")),
            _ => {}
        }
    }
    if missing.is_empty() && differ.is_empty() {
        report.push(
            "row_counts",
            Status::Ok,
            format!("the dump holds exactly the rows the manifest counted in all {with_manifest} tables"),
        );
        return;
    }
    let mut detail = Vec::new();
    if !missing.is_empty() {
        detail.push(format!(
            "no data in the dump for {} table(s) of the manifest: {}",
            missing.len(),
            list_some(&missing)
        ));
    }
    if !differ.is_empty() {
        detail.push(format!(
            "{} table(s) changed between the count and pg_dump's snapshot: {}",
            differ.len(),
            list_some(&differ)
        ));
    }
    let mut detail = detail.join("; ");
    if !strict {
        detail.push_str(" (normal for a database in use; --strict makes this a failure)");
    }
    let status = if strict {
        Status::Failed
    } else {
        Status::Warning
    };
    report.push("row_counts", status, detail);
}

/// Records the `sha256` check: the file's SHA-256 against the one the history recorded
/// for this archive (found by path, else by file name).
pub fn sha256(report: &mut VerifyReport, path: &Path, history: Option<&History>) {
    let Some(history) = history else {
        report.push(
            "sha256",
            Status::Skipped,
            "no history database: SHA-256 not compared",
        );
        return;
    };
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let row = match history.find_backup(&canonical, &file_name) {
        Ok(Some(row)) => row,
        Ok(None) => {
            report.push(
                "sha256",
                Status::Skipped,
                "archive not in the history: SHA-256 not compared",
            );
            return;
        }
        Err(e) => {
            report.push(
                "sha256",
                Status::Skipped,
                format!("history not readable ({e}): SHA-256 not compared"),
            );
            return;
        }
    };
    report.history = Some(HistoryMatch {
        id: row.id,
        job: row.job.clone(),
        path: row.path.clone(),
    });
    let Some(recorded) = row.sha256 else {
        report.push(
            "sha256",
            Status::Skipped,
            format!(
                "backup #{} of job {} has no SHA-256 recorded",
                row.id, row.job
            ),
        );
        return;
    };
    let whose = format!("backup #{} of job {}, {}", row.id, row.job, row.path);
    match crate::job::checksum(path) {
        Ok((_, actual)) if actual == recorded => report.push(
            "sha256",
            Status::Ok,
            format!("{actual} equals the SHA-256 recorded at backup time ({whose})"),
        ),
        Ok((size, actual)) => report.push(
            "sha256",
            Status::Failed,
            format!(
                "{actual} ({size} bytes) differs from {recorded} ({} bytes) recorded at backup time ({whose}): the file changed since it was written",
                row.size.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
            ),
        ),
        Err(e) => report.push(
            "sha256",
            Status::Failed,
            format!("cannot read the archive to compute its SHA-256: {e}"),
        ),
    }
}

/// Records the `restored_rows` check: the test restore's row counts against the dump's
/// (exact: a difference is a failure) and the manifest's (as in [`dump_counts`]).
pub fn restored_counts(report: &mut VerifyReport, restored: &BTreeMap<String, u64>, strict: bool) {
    for (table, rows) in restored {
        report.tables.entry(table.clone()).or_default().restored = Some(*rows);
    }
    let mut lost = Vec::new();
    let mut absent = Vec::new();
    let mut differ = Vec::new();
    for (table, c) in &report.tables {
        if let Some(d) = c.dump {
            match c.restored {
                Some(r) if r == d => {}
                Some(r) => lost.push(format!("{table}: dump {d}, restored {r}")),
                None => lost.push(format!("{table}: dump {d}, missing after restore")),
            }
        }
        match (c.manifest, c.restored) {
            (Some(m), None) => absent.push(format!("{table} ({m} rows in the manifest)")),
            (Some(m), Some(r)) if m != r => {
                differ.push(format!("{table}: manifest {m}, restored {r}"))
            }
            _ => {}
        }
    }
    let total: u64 = restored.values().sum();
    if !lost.is_empty() || !absent.is_empty() {
        let mut items = lost;
        items.extend(absent);
        report.push(
            "restored_rows",
            Status::Failed,
            format!("the restored database lacks rows: {}", list_some(&items)),
        );
    } else if !differ.is_empty() {
        let status = if strict {
            Status::Failed
        } else {
            Status::Warning
        };
        report.push(
            "restored_rows",
            status,
            format!(
                "{} table(s) differ from the counts taken before the dump: {}{}",
                differ.len(),
                list_some(&differ),
                if strict {
                    ""
                } else {
                    " (normal for a database in use; --strict makes this a failure)"
                }
            ),
        );
    } else {
        let compared = report
            .tables
            .values()
            .filter(|c| c.manifest.is_some())
            .count();
        let against = if compared > 0 {
            format!(", equal to the manifest's counts of {compared} tables")
        } else {
            String::new()
        };
        report.push(
            "restored_rows",
            Status::Ok,
            format!(
                "{} tables, {total} rows restored: every table has the rows of the dump{against}",
                restored.len()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with(manifest: &[(&str, u64)], dump: &[(&str, u64)]) -> VerifyReport {
        let mut r = VerifyReport::new("/b/a.zip".into(), 1);
        r.sql_bytes = 10;
        for (t, n) in manifest {
            r.tables.entry(t.to_string()).or_default().manifest = Some(*n);
        }
        for (t, n) in dump {
            r.tables.entry(t.to_string()).or_default().dump = Some(*n);
        }
        r
    }

    #[test]
    fn manifest_must_be_an_object_with_db_name_and_counts() {
        let mut r = VerifyReport::new("/b/a.zip".into(), 1);
        manifest(&mut r, Some(Ok(br#"{"db_name": "prod", "odoo_dump": "1", "version": "17.0",
            "modules": {"base": "17.0.1.3"}, "pg_version": "15.0", "sauvegarde.tables": {"public.a": 3}}"#.to_vec())));
        assert!(r.ok, "{:?}", r.checks);
        assert_eq!(r.tables["public.a"].manifest, Some(3));
        assert!(
            r.checks[0].detail.contains("Odoo 17.0 (1 modules)"),
            "{:?}",
            r.checks
        );
        for bad in [
            &b"{\"db_name\": \"p\", \"sauvegarde.tables\": {\"a\": -1}}"[..],
            b"{\"version\": \"17.0\"}",
            b"[1]",
            b"{\"db_name\": \"p\"",
            b"{\"db_name\": \"p\", \"odoo_dump\": \"2\"}",
        ] {
            let mut r = VerifyReport::new("/b/a.zip".into(), 1);
            manifest(&mut r, Some(Ok(bad.to_vec())));
            assert!(!r.ok, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn count_differences_warn_unless_strict() {
        let mut r = report_with(
            &[("public.a", 3), ("public.b", 1)],
            &[("public.a", 3), ("public.b", 1)],
        );
        dump_counts(&mut r, true);
        assert_eq!(r.checks[0].status, Status::Ok);
        let mut r = report_with(&[("public.a", 3)], &[("public.a", 4)]);
        dump_counts(&mut r, false);
        assert_eq!(r.checks[0].status, Status::Warning);
        assert!(r.checks[0].detail.contains("public.a: manifest 3, dump 4"));
        let mut r = report_with(&[("public.a", 3)], &[]);
        dump_counts(&mut r, true);
        assert_eq!(r.checks[0].status, Status::Failed);
    }

    #[test]
    fn restored_rows_must_equal_the_dump() {
        let restored = BTreeMap::from([("public.a".to_string(), 3)]);
        let mut r = report_with(&[("public.a", 3)], &[("public.a", 3)]);
        restored_counts(&mut r, &restored, true);
        assert_eq!(r.checks[0].status, Status::Ok, "{:?}", r.checks);
        let mut r = report_with(&[("public.a", 3)], &[("public.a", 4)]);
        restored_counts(&mut r, &restored, false);
        assert_eq!(r.checks[0].status, Status::Failed);
        let mut r = report_with(&[("public.a", 3), ("public.gone", 1)], &[("public.a", 3)]);
        restored_counts(&mut r, &restored, false);
        assert_eq!(r.checks[0].status, Status::Failed);
        assert!(r.checks[0].detail.contains("public.gone"));
        let mut r = report_with(&[("public.a", 2)], &[("public.a", 3)]);
        restored_counts(&mut r, &restored, false);
        assert_eq!(r.checks[0].status, Status::Warning);
    }
}

//! Checking a `pg_dump --format=c` archive: `pg_restore --list` reads its table of
//! contents, then `pg_restore -f -` decompresses every data block (a truncated or damaged
//! file fails there; `--list` alone reads only the header) into the SQL scanner.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use super::report::{Status, VerifyReport};
use super::sql_scan::{SqlScanner, SqlSummary};
use super::Interrupted;
use crate::cancel::CancelFlag;
use crate::dump::client::command;
use crate::dump::ClientProcess;

/// Runs both passes, recording the `toc` and `data` checks. Returns the script's summary
/// when pg_restore read the whole archive.
pub fn check(
    path: &Path,
    pg_restore: &Path,
    report: &mut VerifyReport,
    cancel: &CancelFlag,
) -> Result<Option<SqlSummary>, Interrupted> {
    let mut list = command(pg_restore);
    list.arg("--list").arg(path).stdout(Stdio::piped());
    let toc = ClientProcess::spawn(&mut list).and_then(|mut p| {
        let mut out = String::new();
        if let Some(mut stdout) = p.take_stdout() {
            stdout.read_to_string(&mut out)?;
        }
        Ok((out, p.finish()?))
    });
    match toc {
        Err(e) => {
            report.push(
                "toc",
                Status::Failed,
                format!("cannot run {}: {e}", pg_restore.display()),
            );
            return Ok(None);
        }
        Ok((_, exit)) if !exit.status.success() => {
            report.push(
                "toc",
                Status::Failed,
                format!(
                    "pg_restore --list failed ({}): not a readable custom-format archive",
                    exit.stderr_or_status()
                ),
            );
            return Ok(None);
        }
        Ok((text, _)) => report.push("toc", Status::Ok, describe_toc(&text)),
    }
    if cancel.is_cancelled() {
        return Err(Interrupted);
    }

    let mut script = command(pg_restore);
    script
        .args(["--file", "-"])
        .arg(path)
        .stdout(Stdio::piped());
    let mut process = match ClientProcess::spawn(&mut script) {
        Ok(p) => p,
        Err(e) => {
            report.push(
                "data",
                Status::Failed,
                format!("cannot run {}: {e}", pg_restore.display()),
            );
            return Ok(None);
        }
    };
    let stdout = process.take_stdout();
    let scanned = process.while_watching(cancel, || {
        let mut scanner = SqlScanner::new();
        let mut buf = vec![0u8; crate::archive::CHUNK];
        if let Some(mut out) = stdout {
            loop {
                match out.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => scanner.feed(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(scanner.finish())
    });
    if cancel.is_cancelled() {
        return Err(Interrupted);
    }
    let exit = process.finish();
    match (scanned, exit) {
        (Ok(summary), Ok(exit)) if exit.status.success() => {
            report.push(
                "data",
                Status::Ok,
                format!(
                    "every data block decompressed ({} tables with data)",
                    summary.tables.len()
                ),
            );
            Ok(Some(summary))
        }
        (_, Ok(exit)) => {
            report.push(
                "data",
                Status::Failed,
                format!(
                    "pg_restore could not read the whole archive ({}): it is truncated or damaged",
                    exit.stderr_or_status()
                ),
            );
            Ok(None)
        }
        (Err(e), _) | (_, Err(e)) => {
            report.push(
                "data",
                Status::Failed,
                format!("reading pg_restore's output: {e}"),
            );
            Ok(None)
        }
    }
}

/// "N entries (M tables with data), database D, dumped from PostgreSQL V" from the listing.
fn describe_toc(listing: &str) -> String {
    let header = |key: &str| {
        listing
            .lines()
            .filter_map(|l| l.strip_prefix(';'))
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let entries: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .collect();
    let data = entries
        .iter()
        .filter(|l| l.contains(" TABLE DATA "))
        .count();
    let mut text = format!(
        "table of contents read: {} entries ({data} tables with data)",
        entries.len()
    );
    if let Some(db) = header("dbname:") {
        text.push_str(&format!(", database {db}"));
    }
    if let Some(v) = header("Dumped from database version:") {
        text.push_str(&format!(", dumped from PostgreSQL {v}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_summary() {
        let listing = ";\n; Archive created at 2026-11-25 09:31:51 UTC\n;     dbname: t\n\
            ;     Dumped from database version: 15.18\n;\n\
            215; 1259 16385 TABLE public a postgres\n\
            3347; 0 16385 TABLE DATA public a postgres\n";
        assert_eq!(
            describe_toc(listing),
            "table of contents read: 2 entries (1 tables with data), database t, dumped from PostgreSQL 15.18"
        );
    }
}

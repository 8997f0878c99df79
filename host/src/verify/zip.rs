//! Reading every entry of a ZIP archive: central directory, local headers, CRC-32 and size
//! of each entry, safe names; `dump.sql` goes through the SQL scanner on the way and
//! `manifest.json` is kept for the manifest checks.

use std::fs::File;
use std::io::{BufReader, Read};

use ::zip::ZipArchive;

use super::names;
use super::report::{list_some, Status, VerifyReport};
use super::sql_scan::{SqlScanner, SqlSummary};
use super::Interrupted;
use crate::archive::CHUNK;
use crate::cancel::CancelFlag;
use sauvegarde_plugin_api::human_bytes;

/// The SQL script inside an Odoo ZIP.
pub const DUMP_ENTRY: &str = "dump.sql";
/// The manifest inside an Odoo ZIP.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Prefix of the filestore entries.
pub const FILESTORE_PREFIX: &str = "filestore/";

/// A manifest larger than this is not read into memory.
const MANIFEST_LIMIT: u64 = 64 << 20;

/// What the entries held, for the checks that follow.
#[derive(Debug, Default)]
pub struct Contents {
    /// `dump.sql` scanned to its end, or why it could not be.
    pub sql: Option<Result<SqlSummary, String>>,
    /// `manifest.json`, read whole.
    pub manifest: Option<Result<Vec<u8>, String>>,
}

/// Reads every entry of the ZIP in `file`, recording the `zip`, `names` and `entries`
/// checks; `None` when not even the central directory is readable. With `split`,
/// `dump.sql` is also cut into psql's units for a parallel restore.
pub fn check(
    file: File,
    report: &mut VerifyReport,
    split: bool,
    cancel: &CancelFlag,
) -> Result<Option<Contents>, Interrupted> {
    let Some(mut zip) = open(file, report) else {
        return Ok(None);
    };
    let mut walk = Walk {
        contents: Contents::default(),
        findings: Findings::default(),
        buf: vec![0u8; CHUNK],
        split,
        cancel,
    };
    for index in 0..zip.len() {
        if cancel.is_cancelled() {
            return Err(Interrupted);
        }
        let mut entry = match zip.by_index(index) {
            Ok(e) => e,
            Err(e) => {
                walk.findings.problems.push(format!("entry #{index}: {e}"));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                walk.findings
                    .problems
                    .push(format!("entry #{index}: unreadable name: {e}"));
                continue;
            }
        };
        if let Err(why) = names::check_entry(&name, entry.unix_mode()) {
            walk.findings.unsafe_names.push(format!("{name:?}: {why}"));
            continue;
        }
        if entry.is_dir() {
            continue;
        }
        let declared = entry.size();
        walk.file(&mut entry, name, declared, report)?;
    }
    walk.findings.record(report);
    Ok(Some(walk.contents))
}

/// Opens the central directory and records the `zip` check (local headers against the
/// central directory); `None` when it cannot be read.
fn open(file: File, report: &mut VerifyReport) -> Option<ZipArchive<BufReader<File>>> {
    let mut zip = match ZipArchive::new(BufReader::with_capacity(CHUNK, file)) {
        Ok(z) => z,
        Err(e) => {
            report.push(
                "zip",
                Status::Failed,
                format!("cannot read the ZIP central directory ({e}): the archive is truncated or damaged"),
            );
            return None;
        }
    };
    report.entries = zip.len() as u64;
    match zip.validate_header_consistency() {
        Ok(()) => report.push(
            "zip",
            Status::Ok,
            format!(
                "{} entries; local headers agree with the central directory",
                zip.len()
            ),
        ),
        Err(e) => {
            report.push("zip", Status::Failed, e.to_string());
        }
    }
    Some(zip)
}

/// What the entries showed, for the `names`, `entries` and `unexpected` checks.
#[derive(Debug, Default)]
struct Findings {
    /// Damaged or unreadable entries.
    problems: Vec<String>,
    /// Entries a restore refuses, and why.
    unsafe_names: Vec<String>,
    /// Entries Odoo does not use.
    others: Vec<String>,
}

impl Findings {
    /// Records the `names`, `entries` and (when some) `unexpected` checks.
    fn record(&self, report: &mut VerifyReport) {
        let Findings {
            problems,
            unsafe_names,
            others,
        } = self;
        if unsafe_names.is_empty() {
            report.push(
                "names",
                Status::Ok,
                "every entry is a plain relative path (no `..`, absolute path or symbolic link)",
            );
        } else {
            report.push(
                "names",
                Status::Failed,
                format!(
                    "{} unsafe entr{} (restore refuses this archive): {}",
                    unsafe_names.len(),
                    if unsafe_names.len() == 1 { "y" } else { "ies" },
                    list_some(unsafe_names)
                ),
            );
        }
        if problems.is_empty() {
            report.push(
                "entries",
                Status::Ok,
                format!(
                    "every entry read: CRC-32 and sizes correct ({} filestore files, {})",
                    report.filestore_files,
                    human_bytes(report.filestore_bytes)
                ),
            );
        } else {
            report.push(
                "entries",
                Status::Failed,
                format!(
                    "{} damaged entr{}: {}",
                    problems.len(),
                    if problems.len() == 1 { "y" } else { "ies" },
                    list_some(problems)
                ),
            );
        }
        if !others.is_empty() {
            report.push(
                "unexpected",
                Status::Warning,
                format!(
                    "entries Odoo does not use (ignored by restore): {}",
                    list_some(others)
                ),
            );
        }
    }
}

/// The reading of the entries, one file entry at a time.
struct Walk<'a> {
    contents: Contents,
    findings: Findings,
    buf: Vec<u8>,
    split: bool,
    cancel: &'a CancelFlag,
}

impl Walk<'_> {
    /// Reads the file entry `name` (`declared` bytes) to its end: `dump.sql` through the
    /// SQL scanner, `manifest.json` kept, a filestore file counted, anything else noted.
    fn file(
        &mut self,
        entry: &mut dyn Read,
        name: String,
        declared: u64,
        report: &mut VerifyReport,
    ) -> Result<(), Interrupted> {
        let mut scanner = (name == DUMP_ENTRY).then(|| {
            if self.split {
                SqlScanner::for_restore(crate::restore::parallel::STATEMENTS_LIMIT)
            } else {
                SqlScanner::for_psql()
            }
        });
        let mut manifest = (name == MANIFEST_ENTRY).then(Vec::new);
        if manifest.is_some() && declared > MANIFEST_LIMIT {
            self.contents.manifest = Some(Err(format!(
                "manifest.json is {} (over {}); not read",
                human_bytes(declared),
                human_bytes(MANIFEST_LIMIT)
            )));
            manifest = None;
        }
        let read = read_entry(entry, &mut self.buf, self.cancel, |chunk| {
            if let Some(s) = scanner.as_mut() {
                s.feed(chunk);
            }
            if let Some(m) = manifest.as_mut() {
                m.extend_from_slice(chunk);
            }
        })?;
        let failure = match read {
            Ok(n) if n == declared => None,
            Ok(n) => Some(format!(
                "{name}: {n} bytes instead of the {declared} declared"
            )),
            Err(e) => Some(format!("{name}: {}", describe_read_error(&e))),
        };
        if let Some(f) = &failure {
            self.findings.problems.push(f.clone());
        }
        if name == DUMP_ENTRY {
            self.contents.sql = Some(match (&failure, scanner) {
                (None, Some(s)) => Ok(s.finish()),
                _ => Err("dump.sql could not be read to its end (see entries)".into()),
            });
        } else if name == MANIFEST_ENTRY {
            if let Some(m) = manifest {
                self.contents.manifest = Some(match failure {
                    None => Ok(m),
                    Some(_) => Err("manifest.json could not be read (see entries)".into()),
                });
            }
        } else if name.starts_with(FILESTORE_PREFIX) {
            report.filestore_files += 1;
            report.filestore_bytes += declared;
        } else {
            self.findings.others.push(name);
        }
        Ok(())
    }
}

/// Reads `entry` to its end through `sink`; the outer error is a cancellation, the inner
/// one a read error (CRC-32 mismatch, corrupt deflate stream, truncation).
fn read_entry(
    entry: &mut dyn Read,
    buf: &mut [u8],
    cancel: &CancelFlag,
    mut sink: impl FnMut(&[u8]),
) -> Result<std::io::Result<u64>, Interrupted> {
    let mut total = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(Interrupted);
        }
        match entry.read(buf) {
            Ok(0) => return Ok(Ok(total)),
            Ok(n) => {
                sink(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// A read error in words a sysadmin can act on.
pub fn describe_read_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("Invalid checksum") {
        "CRC-32 mismatch: the content is damaged".to_string()
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("cut short ({text}): the archive is truncated")
    } else {
        text
    }
}

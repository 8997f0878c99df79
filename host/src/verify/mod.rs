//! `verify`: proves an archive is whole before anyone needs it. A ZIP has every entry read
//! (CRC-32, sizes, local headers, safe names), `dump.sql` checked for pg_dump's closing line
//! and its COPY row counts compared with `manifest.json`'s; a `.dump` is read through
//! `pg_restore`. When the history knows the archive, its SHA-256 is compared too.
//! The test restore (`verify --restore`) lives in [`crate::restore::scratch`].

pub mod after_backup;
pub mod checks;
mod custom;
pub mod encrypted;
pub mod names;
pub mod psql;
pub mod report;
pub mod sql_scan;
pub mod zip;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use report::{Format, Status, VerifyReport};

use crate::cancel::CancelFlag;
use crate::history::History;

/// The operation was cancelled (SIGINT/SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// Why an archive could not be verified at all (a damaged archive is a report, not this).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file cannot be opened or is not a regular file.
    #[error("cannot open archive {path}: {source}")]
    Open {
        /// The archive.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SIGINT/SIGTERM.
    #[error("verification of {path} interrupted")]
    Interrupted {
        /// The archive.
        path: PathBuf,
    },
}

/// How to verify.
pub struct VerifyOptions<'a> {
    /// `pg_restore`, for `.dump` archives.
    pub pg_restore: &'a Path,
    /// The history database, to compare the SHA-256 recorded at backup time.
    pub history: Option<&'a History>,
    /// Row-count differences with the manifest fail instead of warn.
    pub strict: bool,
    /// Checked between chunks.
    pub cancel: &'a CancelFlag,
    /// The age-encrypted archive the verified file was decrypted from: its SHA-256 is the
    /// one the history recorded. `None` for an archive verified as it is on disk.
    pub encrypted: Option<&'a Path>,
}

/// The format of `file` from its first bytes (`PK\3\4` or `PGDMP`), else `None`.
pub fn detect_format(file: &mut File) -> std::io::Result<Option<Format>> {
    use std::io::Seek;
    let mut magic = [0u8; 5];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    file.seek(std::io::SeekFrom::Start(0))?;
    Ok(
        if magic[..filled].starts_with(b"PK\x03\x04") || magic[..filled].starts_with(b"PK\x05\x06")
        {
            Some(Format::Zip)
        } else if &magic[..filled] == b"PGDMP" {
            Some(Format::Dump)
        } else {
            None
        },
    )
}

/// Runs every cheap check on the archive at `path`.
pub fn verify_archive(
    path: &Path,
    options: &VerifyOptions<'_>,
) -> Result<VerifyReport, VerifyError> {
    verify(path, options, false)
}

/// [`verify_archive`] before a restore: the report also holds `dump.sql` cut into
/// psql's statements and COPY data sections ([`VerifyReport::units`]), read in the same
/// pass, for a parallel load.
pub fn verify_for_restore(
    path: &Path,
    options: &VerifyOptions<'_>,
) -> Result<VerifyReport, VerifyError> {
    verify(path, options, true)
}

fn verify(
    path: &Path,
    options: &VerifyOptions<'_>,
    split: bool,
) -> Result<VerifyReport, VerifyError> {
    let open_err = |source| VerifyError::Open {
        path: path.to_path_buf(),
        source,
    };
    if options.encrypted.is_none() && crate::crypt::is_age_file(path).map_err(open_err)? {
        return encrypted::verify_without_plaintext(path, options, None);
    }
    let mut file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if !meta.is_file() {
        return Err(open_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut report = VerifyReport::new(path.to_path_buf(), meta.len());
    let interrupted = |_: Interrupted| VerifyError::Interrupted {
        path: path.to_path_buf(),
    };
    report.format = detect_format(&mut file).map_err(open_err)?;
    match report.format {
        Some(Format::Zip) => {
            let contents = zip::check(file, &mut report, split, options.cancel).map_err(interrupted)?;
            if let Some(contents) = contents {
                checks::sql(&mut report, zip::DUMP_ENTRY, contents.sql);
                checks::manifest(&mut report, contents.manifest);
                checks::dump_counts(&mut report, options.strict);
            }
        }
        Some(Format::Dump) => {
            drop(file);
            let sql = custom::check(path, options.pg_restore, &mut report, options.cancel)
                .map_err(interrupted)?;
            if let Some(sql) = sql {
                checks::sql(&mut report, "pg_restore's script", Some(Ok(sql)));
            }
        }
        None => report.push(
            "format",
            Status::Failed,
            "neither a ZIP nor a pg_dump custom-format archive (no `PK` or `PGDMP` signature at the start): truncated, damaged or not a backup",
        ),
    }
    if options.cancel.is_cancelled() {
        return Err(interrupted(Interrupted));
    }
    checks::sha256(
        &mut report,
        options.encrypted.unwrap_or(path),
        options.history,
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const DUMP: &str =
        "--\n-- PostgreSQL database dump\n--\n\nCOPY public.t (x) FROM stdin;\n1\n2\n\\.\n\n\
        --\n-- PostgreSQL database dump complete\n--\n\n";

    fn write_zip(path: &Path, dump: &str, manifest: &str) {
        let mut zip = ::zip::ZipWriter::new(File::create(path).unwrap());
        let stored = ::zip::write::SimpleFileOptions::default()
            .compression_method(::zip::CompressionMethod::Stored);
        zip.start_file("dump.sql", stored).unwrap();
        zip.write_all(dump.as_bytes()).unwrap();
        zip.start_file("filestore/ab/ab12", stored).unwrap();
        zip.write_all(b"FILESTORE-CONTENT").unwrap();
        zip.start_file("manifest.json", stored).unwrap();
        zip.write_all(manifest.as_bytes()).unwrap();
        zip.finish().unwrap();
    }

    fn verify(path: &Path) -> VerifyReport {
        let cancel = CancelFlag::new();
        verify_archive(
            path,
            &VerifyOptions {
                pg_restore: Path::new("pg_restore"),
                history: None,
                strict: true,
                cancel: &cancel,
                encrypted: None,
            },
        )
        .unwrap()
    }

    fn failed(report: &VerifyReport) -> Vec<&'static str> {
        report
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| c.check)
            .collect()
    }

    #[test]
    fn sound_damaged_and_cut_archives() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.zip");
        write_zip(
            &good,
            DUMP,
            r#"{"db_name": "p", "sauvegarde.tables": {"public.t": 2}}"#,
        );
        let report = verify(&good);
        assert!(report.ok, "{}", report.render_text());
        assert_eq!(report.tables["public.t"].dump, Some(2));
        assert_eq!(report.filestore_files, 1);

        let bytes = std::fs::read(&good).unwrap();
        let flip = |marker: &[u8], name: &str| {
            let at = bytes
                .windows(marker.len())
                .position(|w| w == marker)
                .unwrap();
            let mut b = bytes.clone();
            b[at + 2] ^= 1;
            let p = dir.path().join(name);
            std::fs::write(&p, b).unwrap();
            p
        };
        let r = verify(&flip(b"FILESTORE-CONTENT", "file.zip"));
        assert_eq!(failed(&r), ["entries"], "{}", r.render_text());
        assert!(r
            .render_text()
            .contains("filestore/ab/ab12: CRC-32 mismatch"));
        let r = verify(&flip(b"COPY public", "dump.zip"));
        assert!(failed(&r).contains(&"entries"), "{}", r.render_text());

        let cut = dir.path().join("cut.zip");
        std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
        assert_eq!(failed(&verify(&cut)), ["zip"]);

        // A complete ZIP of an incomplete dump, and a manifest that disagrees with it.
        let partial = dir.path().join("partial.zip");
        write_zip(
            &partial,
            &DUMP[..DUMP.find("\\.").unwrap()],
            r#"{"db_name": "p", "sauvegarde.tables": {"public.t": 3}}"#,
        );
        let r = verify(&partial);
        assert_eq!(failed(&r), ["dump", "row_counts"], "{}", r.render_text());

        let text = dir.path().join("notes.zip");
        std::fs::write(&text, "hello").unwrap();
        assert_eq!(failed(&verify(&text)), ["format"]);
    }
}

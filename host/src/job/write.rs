//! Writing one archive under its claimed partial name: pg_dump's output streamed into the
//! ZIP (or straight to the file for the custom format), the filestore, the manifest with
//! its ownership record; then fsync, checksum, rename to the final name, fsync of the
//! directory. With `encrypt`, every byte goes through the age encryptor before it reaches
//! the partial file: no plaintext archive ever exists on disk.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{checksum, io_err, BackupError, BackupOptions};
use crate::archive::manifest;
use crate::archive::zip::ZipArchiveWriter;
use crate::archive::{copy_stream, ArchiveError, WriteContext};
use crate::cancel::CancelFlag;
use crate::config::{ArchiveFormat, JobConfig};
use crate::crypt::{EncryptingFile, Recipients};
use crate::dump::query::{self, DatabaseInfo, QueryError};
use crate::dump::{spawn_pg_dump, Connection, DumpFormat, PgTools};
use crate::filestore;
use crate::odoo_conf::OdooConf;

/// The claimed partial file, in clear or behind the age encryptor.
enum Out {
    Plain(File),
    Encrypted(EncryptingFile),
}

impl Out {
    /// Completes the stream (age's last chunk) and returns the file.
    fn finish(self) -> std::io::Result<File> {
        match self {
            Out::Plain(file) => Ok(file),
            Out::Encrypted(stream) => stream.finish(),
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Plain(f) => f.write(buf),
            Out::Encrypted(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Plain(f) => f.flush(),
            Out::Encrypted(s) => s.flush(),
        }
    }
}

/// One backup being written.
pub(super) struct Run<'a> {
    pub job_id: &'a str,
    pub job: &'a JobConfig,
    pub odoo: Option<&'a OdooConf>,
    pub options: &'a BackupOptions,
    pub cancel: &'a CancelFlag,
    pub started: Timestamp,
}

impl Run<'_> {
    fn err_archive(&self, path: &Path) -> impl Fn(ArchiveError) -> BackupError + '_ {
        let path = path.to_path_buf();
        move |source| match source {
            ArchiveError::Cancelled => BackupError::Cancelled {
                job: self.job_id.into(),
            },
            ArchiveError::Filestore(source) => BackupError::Filestore {
                job: self.job_id.into(),
                source,
            },
            source => BackupError::Archive {
                job: self.job_id.into(),
                path: path.clone(),
                source,
            },
        }
    }

    /// Writes the archive into `file` (the claimed `partial`), then moves it to
    /// `final_path`. Returns size, SHA-256 and the filestore used.
    pub fn write(
        &self,
        file: File,
        partial: &Path,
        final_path: &Path,
    ) -> Result<(u64, String, Option<PathBuf>), BackupError> {
        let tools = PgTools::discover(self.job.pg_dump.as_deref()).ok_or_else(|| {
            BackupError::NoPgDump {
                job: self.job_id.into(),
            }
        })?;
        let conn = Connection::for_job(self.job, self.odoo);
        let ctx = WriteContext {
            cancel: self.cancel,
            progress: self.options.progress.as_deref(),
        };
        let out = match &self.job.encrypt {
            Some(encrypt) => {
                let recipients =
                    Recipients::from_config(encrypt).map_err(|source| BackupError::Encrypt {
                        job: self.job_id.into(),
                        source,
                    })?;
                tracing::info!(
                    job = self.job_id,
                    recipients = recipients.len(),
                    "encrypting with age"
                );
                let stream = EncryptingFile::new(file, &recipients)
                    .map_err(|e| self.err_archive(partial)(ArchiveError::Write(e)))?;
                Out::Encrypted(stream)
            }
            None => Out::Plain(file),
        };
        let (file, filestore) = match self.job.format {
            ArchiveFormat::Zip => self.write_zip(out, &tools, &conn, partial, &ctx)?,
            ArchiveFormat::Dump => (self.write_dump(out, &tools, &conn, partial, &ctx)?, None),
        };
        file.sync_all()
            .map_err(|e| self.err_archive(partial)(ArchiveError::Write(e)))?;
        drop(file);
        if self.cancel.is_cancelled() {
            return Err(BackupError::Cancelled {
                job: self.job_id.into(),
            });
        }
        let (size, sha256) =
            checksum(partial).map_err(io_err(self.job_id, "cannot read back archive", partial))?;
        std::fs::rename(partial, final_path).map_err(io_err(
            self.job_id,
            "cannot rename archive to",
            final_path,
        ))?;
        if let Some(dir) = final_path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(
                self.job_id,
                "cannot sync directory",
                dir,
            ))?;
        }
        Ok((size, sha256, filestore))
    }

    fn write_zip(
        &self,
        out: Out,
        tools: &PgTools,
        conn: &Connection,
        partial: &Path,
        ctx: &WriteContext<'_>,
    ) -> Result<(File, Option<PathBuf>), BackupError> {
        let filestore =
            filestore::resolve(&self.job.filestore, &self.job.database.name(), self.odoo).map_err(
                |source| BackupError::Filestore {
                    job: self.job_id.into(),
                    source,
                },
            )?;
        // Both run client programs (psql, the configured pg_dump) that are stopped when
        // the backup is cancelled.
        let query_err = |source| match source {
            QueryError::Cancelled { .. } => BackupError::Cancelled {
                job: self.job_id.into(),
            },
            source => BackupError::Query {
                job: self.job_id.into(),
                source,
            },
        };
        let info =
            DatabaseInfo::read_cancellable(&tools.psql, conn, self.cancel).map_err(query_err)?;
        let pg_dump_version =
            query::pg_dump_version(&tools.pg_dump, self.cancel).map_err(query_err)?;
        let time = zip_time(self.started);
        let mut zip = match out {
            Out::Plain(file) => ZipArchiveWriter::new(file, time),
            Out::Encrypted(stream) => ZipArchiveWriter::new_stream(stream, time),
        };

        tracing::info!(job = self.job_id, pg_dump = %tools.pg_dump.display(), "dumping database {}", self.job.database);
        self.dump_into(tools, conn, DumpFormat::Plain, |stdout| {
            zip.add_stream("dump.sql", stdout, ctx)
                .map_err(self.err_archive(partial))
        })?;

        if let Some(root) = &filestore {
            let links = if self.job.follow_links {
                filestore::Links::Follow
            } else {
                filestore::Links::Skip
            };
            tracing::info!(job = self.job_id, filestore = %root.display(), "adding filestore");
            let files = zip
                .add_filestore(root, links, ctx)
                .map_err(self.err_archive(partial))?;
            tracing::info!(job = self.job_id, files, "filestore added");
        }
        let created = self.started.to_string();
        let manifest = manifest::build(
            &self.job.database.name(),
            &info,
            pg_dump_version.as_deref(),
            &created,
            self.job_id,
        );
        zip.add_bytes("manifest.json", &manifest::to_bytes(&manifest))
            .map_err(self.err_archive(partial))?;
        let file = zip.finish().map_err(self.err_archive(partial))?;
        Ok((file, filestore))
    }

    fn write_dump(
        &self,
        out: Out,
        tools: &PgTools,
        conn: &Connection,
        partial: &Path,
        ctx: &WriteContext<'_>,
    ) -> Result<File, BackupError> {
        let mut counting = crate::archive::Counting::new(std::io::BufWriter::with_capacity(
            crate::archive::CHUNK,
            out,
        ));
        let counter = counting.counter();
        self.dump_into(tools, conn, DumpFormat::Custom, |stdout| {
            copy_stream(stdout, "pg_dump output", &mut counting, &counter, ctx)
                .map_err(self.err_archive(partial))
        })?;
        let out = counting
            .into_inner()
            .into_inner()
            .map_err(|e| self.err_archive(partial)(ArchiveError::Write(e.into_error())))?;
        out.finish()
            .map_err(|e| self.err_archive(partial)(ArchiveError::Write(e)))
    }

    /// Runs pg_dump, hands its stdout to `consume`, and checks how it ended. pg_dump is
    /// terminated when the backup is cancelled, and killed if `consume` fails.
    fn dump_into(
        &self,
        tools: &PgTools,
        conn: &Connection,
        format: DumpFormat,
        consume: impl FnOnce(&mut dyn Read) -> Result<u64, BackupError>,
    ) -> Result<(), BackupError> {
        let mut dump =
            spawn_pg_dump(&tools.pg_dump, conn, format).map_err(|source| BackupError::Spawn {
                job: self.job_id.into(),
                program: tools.pg_dump.clone(),
                source,
            })?;
        let mut stdout = dump.take_stdout();
        // Once cancelled, pg_dump's group is signalled until the reader sees the end of
        // the stream.
        let result = dump.while_watching(self.cancel, || match stdout.as_mut() {
            Some(stdout) => consume(stdout),
            None => Ok(0),
        });
        drop(stdout);
        let bytes = result?;
        let exit = dump.finish().map_err(|source| BackupError::Spawn {
            job: self.job_id.into(),
            program: tools.pg_dump.clone(),
            source,
        })?;
        if self.cancel.is_cancelled() {
            return Err(BackupError::Cancelled {
                job: self.job_id.into(),
            });
        }
        if !exit.status.success() {
            let stderr = if exit.stderr.is_empty() {
                "(no error output)".to_string()
            } else {
                exit.stderr
            };
            return Err(BackupError::PgDump {
                job: self.job_id.into(),
                status: exit.status.to_string(),
                stderr,
            });
        }
        for line in exit.stderr.lines().filter(|l| !l.trim().is_empty()) {
            tracing::warn!(job = self.job_id, "pg_dump: {line}");
        }
        tracing::info!(job = self.job_id, bytes, "database dumped");
        Ok(())
    }
}

fn zip_time(at: Timestamp) -> ::zip::DateTime {
    let dt = at.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    ::zip::DateTime::from_date_and_time(
        u16::try_from(dt.year()).unwrap_or(1980),
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
    )
    .unwrap_or_default()
}

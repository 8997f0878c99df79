//! `restore <ARCHIVE> --database NEW [--filestore-dir DIR | --data-dir DIR | --no-filestore]
//! [--from JOB/DEST] [connection options]`, and the connection setup shared with
//! `verify --restore`.

use std::path::{Path, PathBuf};

use super::{exit, load_config, print_json, print_text, CliError};
use crate::cli::PgTargetArgs;
use sauvegarde::cancel::{cancel_on_signals, CancelFlag};
use sauvegarde::config::{Config, JobConfig, Uses};
use sauvegarde::history::History;
use sauvegarde::odoo_conf::OdooConf;
use sauvegarde::restore::{download, FilestoreTarget, RestoreError, RestoreRequest, Server};
use sauvegarde::verify::VerifyOptions;
use sauvegarde_plugin_api::human_bytes;

/// The arguments of `restore`.
pub struct RestoreArgs<'a> {
    /// Local archive, or its name on the destination with `from`.
    pub archive: &'a Path,
    /// The new database.
    pub database: &'a str,
    /// Exact filestore directory.
    pub filestore_dir: Option<&'a PathBuf>,
    /// Odoo's data_dir.
    pub data_dir: Option<&'a PathBuf>,
    /// Database only.
    pub no_filestore: bool,
    /// `job/destination` to download from.
    pub from: Option<&'a str>,
    /// Where a download is kept.
    pub download_dir: Option<&'a PathBuf>,
    /// Skip the verification first.
    pub no_verify: bool,
    /// JSON output.
    pub json: bool,
    /// Identity file for an age-encrypted archive.
    pub identity: Option<&'a Path>,
    /// Connection options.
    pub target: &'a PgTargetArgs,
}

impl crate::cli::RestoreCommand {
    /// The arguments of [`run`].
    pub fn args(&self) -> RestoreArgs<'_> {
        RestoreArgs {
            archive: &self.archive,
            database: &self.database,
            filestore_dir: self.filestore_dir.as_ref(),
            data_dir: self.data_dir.as_ref(),
            no_filestore: self.no_filestore,
            from: self.from.as_deref(),
            download_dir: self.download_dir.as_ref(),
            no_verify: self.no_verify,
            json: self.json,
            identity: self.identity.as_deref(),
            target: &self.target,
        }
    }
}

/// The server and the job/odoo.conf it was derived from.
pub struct Setup {
    /// Where databases are created.
    pub server: Server,
    /// The job whose settings were used, if any.
    pub job: Option<JobConfig>,
    /// The odoo.conf read (--odoo-conf, else the job's).
    pub odoo: Option<OdooConf>,
}

/// Resolves the connection: --odoo-conf, else the job (`--job`, else `default_job`), else
/// libpq defaults; --db-host/--db-port/--db-user on top.
pub fn setup(
    config: &Config,
    target: &PgTargetArgs,
    default_job: Option<&str>,
) -> Result<Setup, CliError> {
    let job =
        match target.job.as_deref().or(default_job) {
            Some(id) => {
                Some(config.jobs.get(id).cloned().ok_or_else(|| {
                    CliError::usage(format!("no job `{id}` in the configuration"))
                })?)
            }
            None => None,
        };
    let odoo_path = target
        .odoo_conf
        .clone()
        .or_else(|| job.as_ref().and_then(|j| j.odoo_conf.clone()));
    let odoo = match odoo_path {
        Some(p) => Some(OdooConf::read(&p).map_err(CliError::usage)?),
        None => None,
    };
    let mut settings: JobConfig = match (&target.odoo_conf, &job) {
        (None, Some(j)) => j.clone(),
        _ => serde_json::from_value(serde_json::json!({ "database": target.maintenance_db }))
            .map_err(CliError::usage)?,
    };
    if target.db_host.is_some() {
        settings.db_host = target.db_host.clone();
    }
    if target.db_port.is_some() {
        settings.db_port = target.db_port;
    }
    if target.db_user.is_some() {
        settings.db_user = target.db_user.clone();
    }
    Ok(Setup {
        server: Server::for_job(&settings, odoo.as_ref(), &target.maintenance_db),
        job,
        odoo,
    })
}

/// What `verify` (and `restore` without --from) uses of the configuration: the job of
/// --job, else none.
pub fn target_uses(target: &PgTargetArgs) -> Uses<'_> {
    target.job.as_deref().map_or(Uses::NoJob, Uses::Job)
}

/// The history database when it exists, read-only (never created or written by a
/// read-only command such as `verify`).
pub fn open_history(config: &Config) -> Option<History> {
    match History::open_read_only(&config.state_dir) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("history not consulted: {e}");
            None
        }
    }
}

/// Where the filestore of `database` goes (see `restore --help`).
fn filestore_target(args: &RestoreArgs<'_>, setup: &Setup) -> FilestoreTarget {
    let under = |data_dir: &Path| data_dir.join("filestore").join(args.database);
    if args.no_filestore {
        return FilestoreTarget::Skip;
    }
    if let Some(dir) = args.filestore_dir {
        return FilestoreTarget::Dir(dir.clone());
    }
    if let Some(dir) = args.data_dir {
        return FilestoreTarget::Dir(under(dir));
    }
    let data_dir = setup.odoo.as_ref().and_then(|o| o.data_dir.as_deref());
    if let (Some(_), Some(dir)) = (&args.target.odoo_conf, data_dir) {
        return FilestoreTarget::Dir(under(dir));
    }
    if let Some(dir) = setup.job.as_ref().and_then(|j| j.data_dir.as_deref()) {
        return FilestoreTarget::Dir(under(dir));
    }
    if let Some(job) = &setup.job {
        // `<data_dir>/filestore/<database>`: the new one goes next to it.
        let database = job.database.name();
        if let Ok(Some(existing)) =
            sauvegarde::filestore::resolve(&job.filestore, &database, setup.odoo.as_ref())
        {
            if let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) {
                if name == database.as_str() {
                    return FilestoreTarget::Dir(parent.join(args.database));
                }
            }
        }
    }
    match data_dir {
        Some(dir) => FilestoreTarget::Dir(under(dir)),
        None => FilestoreTarget::Unknown,
    }
}

/// The exit code of a failed restore: [`exit::REFUSED`] when nothing was created,
/// [`exit::FAILED`] otherwise (rolled back).
fn exit_code(e: &RestoreError) -> i32 {
    if e.is_refusal() {
        exit::REFUSED
    } else {
        exit::FAILED
    }
}

fn failed(e: RestoreError) -> CliError {
    CliError {
        code: exit_code(&e),
        message: e.to_string(),
    }
}

/// Restores the archive and prints what was created.
pub fn run(files: &[PathBuf], args: &RestoreArgs<'_>) -> Result<i32, CliError> {
    // The job of --from (its destination) and of --job (its connection) are used: their
    // errors stop the restore; a local archive restored with other settings needs no job.
    let from_job = args
        .from
        .and_then(|spec| download::parse_from(spec).ok())
        .map(|s| s.0);
    let config = match (from_job, args.target.job.as_deref()) {
        (Some(from), Some(job)) => load_config(files, Uses::Job(from))?.require(Uses::Job(job))?,
        (Some(job), None) | (None, Some(job)) => load_config(files, Uses::Job(job))?,
        (None, None) => load_config(files, Uses::NoJob)?,
    }
    .config;
    sauvegarde::restore::check_name(args.database).map_err(failed)?;
    let from_job = match args.from {
        Some(spec) => Some(download::parse_from(spec).map_err(failed)?.0),
        None => None,
    };
    let setup = setup(&config, args.target, from_job)?;
    let filestore = filestore_target(args, &setup);
    let cancel = CancelFlag::new();
    cancel_on_signals(&cancel)
        .map_err(|e| CliError::failed(format!("cannot install signal handlers: {e}")))?;

    let downloaded = match args.from {
        Some(spec) => {
            let registry = super::plugins::discover(&config);
            let name = args.archive.to_string_lossy();
            Some(
                download::fetch(
                    &config,
                    &registry,
                    spec,
                    &name,
                    args.download_dir.map(PathBuf::as_path),
                    &cancel,
                )
                .map_err(failed)?,
            )
        }
        None => None,
    };
    let archive = downloaded
        .as_ref()
        .map_or(args.archive, |d| d.path.as_path());
    if !archive.is_file() {
        return Err(CliError::usage(format!(
            "{}: no such archive",
            archive.display()
        )));
    }
    // An encrypted archive is decrypted whole (every chunk authenticated) into a private
    // directory under state_dir before anything is created; removed when `plaintext` drops.
    let plaintext = if super::verify::is_encrypted(archive)? {
        let Some(identity) = args.identity else {
            return Err(CliError::usage(format!(
                "{} is encrypted with age: give --identity FILE (the age or SSH private key of one of its recipients)",
                archive.display()
            )));
        };
        let identities = sauvegarde::crypt::load_identities(identity).map_err(CliError::usage)?;
        let plain =
            sauvegarde::crypt::decrypt_to_temp(archive, &identities, &config.state_dir, &cancel)
                .map_err(|e| CliError::failed(format!("{e}; nothing was restored")))?;
        tracing::info!(archive = %archive.display(), "decrypted and authenticated");
        Some(plain)
    } else {
        None
    };
    let history = open_history(&config);
    let verify = (!args.no_verify).then(|| VerifyOptions {
        pg_restore: &setup.server.pg_restore,
        history: history.as_ref(),
        strict: false,
        cancel: &cancel,
        encrypted: plaintext.as_ref().map(|_| archive),
    });
    let started = sauvegarde::history::now_text();
    let clock = std::time::Instant::now();
    let jobs = args.target.jobs();
    let result = sauvegarde::restore::run(&RestoreRequest {
        archive: plaintext.as_ref().map_or(archive, |p| p.path()),
        database: args.database,
        server: &setup.server,
        filestore,
        verify,
        cancel: &cancel,
        jobs,
    });
    // The time to recover, in the history (when there is one), whatever the result.
    if !matches!(result, Err(ref e) if e.is_refusal()) {
        let message = match &result {
            Ok(o) => format!(
                "restored into {} with {} connection(s)",
                o.database, o.connections
            ),
            Err(e) => e.to_string(),
        };
        sauvegarde::restore::recovery::record(
            &config.state_dir,
            &sauvegarde::history::NewRestore {
                kind: "restore",
                backup_id: history
                    .as_ref()
                    .and_then(|h| h.backup_at(archive).ok().flatten())
                    .map(|b| b.id),
                database: args.database,
                archive: &archive.to_string_lossy(),
                started: &started,
                seconds: clock.elapsed().as_secs_f64(),
                bytes: std::fs::metadata(archive).ok().map(|m| m.len()),
                jobs: result.as_ref().map_or(jobs, |o| o.connections),
                ok: result.is_ok(),
                message: &message,
            },
        );
    }
    let outcome = result.map_err(failed)?;

    if args.json {
        let mut value = serde_json::to_value(&outcome).map_err(CliError::failed)?;
        value["archive"] = serde_json::json!(archive);
        print_json(&value)?;
        return Ok(exit::OK);
    }
    let mut text = format!(
        "restored database {} from {} in {} over {} connection(s) ({})\n",
        outcome.database,
        archive.display(),
        sauvegarde::restore::recovery::duration_text(outcome.seconds),
        outcome.connections,
        setup.server.describe()
    );
    if let Some(report) = &outcome.report {
        text.push_str("  archive verified first");
        if let Some(h) = &report.history {
            text.push_str(&format!(" (backup #{} of job {})", h.id, h.job));
        }
        text.push('\n');
        for c in report
            .checks
            .iter()
            .filter(|c| c.status == sauvegarde::verify::Status::Warning)
        {
            text.push_str(&format!("  ! {}: {}\n", c.check, c.detail));
        }
    }
    match &outcome.filestore {
        Some(dir) => text.push_str(&format!(
            "  filestore {} ({} files, {})\n",
            dir.display(),
            outcome.filestore_files,
            human_bytes(outcome.filestore_bytes)
        )),
        None => text.push_str("  no filestore restored\n"),
    }
    print_text(&text)?;
    Ok(exit::OK)
}

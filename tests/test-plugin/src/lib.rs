//! `test-probe`: a plugin for the host's own tests of the plugin boundary, written as a
//! third party would (it uses nothing but the plugin API).
//!
//! - It logs at every level from `test_connection`.
//! - It panics in the operation named by `panic_in`.
//! - It misbehaves like native code can in the operation named by `misbehave_in`
//!   (`new`, `test_connection`, `upload`, `list`, `delete`, `download`), the way
//!   `misbehave` says: `segfault`, `abort`, `exit`, `stack_overflow` or `hang`; or, on
//!   the worker's protocol descriptor (found as native code could: the lowest write end
//!   of a pipe above standard error), `flood` (100 MiB on one line), `garbage` (a line
//!   that is no frame, then a hang) or `close_output` (closes it, then sleeps); or, in
//!   `upload` only, `stall` (reports moving progress for 2 s, then the same byte count
//!   every 100 ms until cancelled, having written `.stalled` into `dir` at that moment).
//! - With `upload_secs`, an upload takes that long, moving all the time (about 60
//!   steps).
//! - With `dir`, it is a working exporter into that local directory (temporary name, then
//!   rename); without, uploads succeed without storing anything.
//! - It declares secrets under names the host cannot guess (`secret_access_key`,
//!   `passcode`, `pin`, `recovery_codes`) and, with `leak_secrets = true`, behaves like a
//!   careless third-party plugin: it logs them and puts them in its error messages.
//! - With `accept_password`, it is a server with a login: every operation fails with an
//!   `Auth` error unless `password` (a declared secret) is that; with `offline = true`,
//!   every operation fails with a `Connect` error.
//! - With `wrong`, it breaks one promise of the exporter contract, for the tests of the
//!   conformance kit: `non_atomic` (uploads straight to the final name, slowly),
//!   `not_found_as_other` (delete of a missing file is `Other`), `ignores_cancel`
//!   (uploads on when progress says stop), `leaks_password` (its `Auth` error quotes
//!   the password), `replaces` (its no-replace upload replaces).
//! - It has the no-replace upload (API 1.2): into `dir`, through the temporary file the
//!   host names, then `link(2)`, which fails when the name exists.

mod misbehave;

use std::path::{Path, PathBuf};

use misbehave::{misbehave, stall};

use sauvegarde_plugin_api::{
    export_plugin, parse_config, Exporter, NewUpload, PluginError, Progress, RemoteFile,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `new`, `test_connection`, `upload`, `list`, `delete`, `download`.
    #[serde(default)]
    panic_in: Option<String>,
    /// Declared secret.
    #[serde(default)]
    secret_access_key: Option<String>,
    /// Declared secret (short ones too).
    #[serde(default)]
    passcode: Option<String>,
    /// Declared secret, a number.
    #[serde(default)]
    pin: Option<u64>,
    /// Declared secret, a list.
    #[serde(default)]
    recovery_codes: Vec<String>,
    /// Log the secrets and echo them in errors (what a plugin must not do).
    #[serde(default)]
    leak_secrets: bool,
    /// The operation that misbehaves.
    #[serde(default)]
    misbehave_in: Option<String>,
    /// How: `segfault`, `abort`, `exit`, `stack_overflow`, `hang`, `flood`, `garbage`,
    /// `close_output`, `stall`.
    #[serde(default)]
    misbehave: Option<String>,
    /// Seconds an upload takes, progress moving all along.
    #[serde(default)]
    upload_secs: Option<u64>,
    /// A local directory to export into.
    #[serde(default)]
    dir: Option<PathBuf>,
    /// Declared secret: the password given.
    #[serde(default)]
    password: Option<String>,
    /// The only password accepted, when set.
    #[serde(default)]
    accept_password: Option<String>,
    /// Nothing to reach: every operation is a `Connect` error.
    #[serde(default)]
    offline: bool,
    /// The promise to break: `non_atomic`, `not_found_as_other`, `ignores_cancel`,
    /// `leaks_password`, `replaces`.
    #[serde(default)]
    wrong: Option<String>,
}

struct Probe(Config);

impl Probe {
    fn maybe_fail(&self, op: &str) {
        if self.0.panic_in.as_deref() == Some(op) {
            panic!("probe asked to panic in {op}");
        }
        if self.0.misbehave_in.as_deref() == Some(op) {
            misbehave(self.0.misbehave.as_deref().unwrap_or_default());
        }
    }

    /// Every secret it holds, as text.
    fn secrets(&self) -> String {
        let c = &self.0;
        format!(
            "key={} passcode={} pin={} codes={}",
            c.secret_access_key.as_deref().unwrap_or(""),
            c.passcode.as_deref().unwrap_or(""),
            c.pin.map(|p| p.to_string()).unwrap_or_default(),
            c.recovery_codes.join(",")
        )
    }

    /// With `leak_secrets`: logs them and fails `op` with an error that carries them.
    fn maybe_leak(&self, op: &str) -> Result<(), PluginError> {
        if !self.0.leak_secrets {
            return Ok(());
        }
        let secrets = self.secrets();
        tracing::warn!("probe {op} with {secrets}");
        Err(PluginError::auth(format!(
            "probe {op} refused with {secrets}"
        )))
    }

    /// How an upload moves: about 60 blocks spread over `upload_secs` when set (a slow
    /// but steady transfer), else the usual blocks and pauses.
    fn upload_pace(&self, local: &Path) -> Result<Pace, PluginError> {
        Ok(match self.0.upload_secs {
            Some(secs) => {
                let size = std::fs::metadata(local)
                    .map_err(|e| io(&local.display().to_string(), e))?
                    .len();
                Pace {
                    block: size.div_ceil(60).max(1) as usize,
                    pause: std::time::Duration::from_millis(secs * 1000 / 60),
                    ignore_cancel: false,
                }
            }
            None => Pace {
                ignore_cancel: self.wrong("ignores_cancel"),
                ..Pace::blocks(UPLOAD_BLOCK_PAUSE)
            },
        })
    }

    fn wrong(&self, mode: &str) -> bool {
        self.0.wrong.as_deref() == Some(mode)
    }

    /// The server's answer to the login, when it has one.
    fn login(&self) -> Result<(), PluginError> {
        if self.0.offline {
            return Err(PluginError::connect(
                "probe: cannot reach the server: connection refused",
            ));
        }
        match &self.0.accept_password {
            Some(accepted) if self.0.password.as_ref() != Some(accepted) => {
                Err(PluginError::auth(if self.wrong("leaks_password") {
                    format!(
                        "probe: password `{}` refused",
                        self.0.password.as_deref().unwrap_or_default()
                    )
                } else {
                    "probe: password refused".to_string()
                }))
            }
            _ => Ok(()),
        }
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        self.0.dir.as_ref().map(|d| d.join(name))
    }
}

fn io(context: &str, e: std::io::Error) -> PluginError {
    match e.kind() {
        std::io::ErrorKind::NotFound => PluginError::not_found(format!("{context}: {e}")),
        _ => PluginError::other(format!("{context}: {e}")),
    }
}

/// How [`copy_blocks`] copies: block size, wait after each block, whether a stop from
/// the host is ignored.
#[derive(Clone, Copy)]
struct Pace {
    block: usize,
    pause: std::time::Duration,
    ignore_cancel: bool,
}

impl Pace {
    /// 64 KiB blocks, `pause` after each.
    fn blocks(pause: std::time::Duration) -> Self {
        Pace {
            block: 64 * 1024,
            pause,
            ignore_cancel: false,
        }
    }
}

/// Copies `from` to `to` in blocks, reporting progress after each, as `pace` says.
fn copy_blocks(
    from: &Path,
    to: &Path,
    progress: &mut Progress<'_>,
    pace: Pace,
) -> Result<(), PluginError> {
    use std::io::{Read, Write};
    let mut input = std::fs::File::open(from).map_err(|e| io(&from.display().to_string(), e))?;
    let total = input
        .metadata()
        .map_err(|e| io(&from.display().to_string(), e))?
        .len();
    let mut output = std::fs::File::create(to).map_err(|e| io(&to.display().to_string(), e))?;
    let mut block = vec![0u8; pace.block];
    let mut done = 0u64;
    loop {
        let n = input
            .read(&mut block)
            .map_err(|e| io(&from.display().to_string(), e))?;
        if n == 0 {
            return Ok(());
        }
        output
            .write_all(&block[..n])
            .map_err(|e| io(&to.display().to_string(), e))?;
        output
            .flush()
            .map_err(|e| io(&to.display().to_string(), e))?;
        done += n as u64;
        let reported = progress.report(done, total);
        if !pace.ignore_cancel {
            reported?;
        }
        std::thread::sleep(pace.pause);
    }
}

/// How long an upload waits after each 64 KiB block, as a network would: the host's
/// cancellation (a signal sent when it reads a progress report) then lands mid-upload even
/// when the machine is too busy to schedule the host at once. Without it a 9 MiB copy can
/// end before the host has read the first report.
const UPLOAD_BLOCK_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// Copies `from` to `to` through `to`'s temporary sibling, reporting progress after each
/// block.
fn copy(
    from: &Path,
    to: &Path,
    progress: &mut Progress<'_>,
    pace: Pace,
) -> Result<(), PluginError> {
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let partial = to.with_file_name(format!(".{name}.part"));
    let result = copy_blocks(from, &partial, progress, pace)
        .and_then(|()| std::fs::rename(&partial, to).map_err(|e| io(&to.display().to_string(), e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Copies straight to `to`, a block every 20 ms (what a plugin must not do).
fn copy_in_place(from: &Path, to: &Path, progress: &mut Progress<'_>) -> Result<(), PluginError> {
    let result = copy_blocks(
        from,
        to,
        progress,
        Pace::blocks(std::time::Duration::from_millis(20)),
    );
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    result
}

impl Exporter for Probe {
    fn test_connection(&self) -> Result<String, PluginError> {
        self.maybe_fail("test_connection");
        self.maybe_leak("test_connection")?;
        self.login()?;
        tracing::error!(code = 7, "probe error event");
        tracing::warn!("probe warn event");
        tracing::info!(server = "probe.example", "probe info event");
        tracing::debug!("probe debug event");
        tracing::trace!("probe trace event");
        Ok("probe ok".into())
    }

    fn upload(
        &self,
        local: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        self.maybe_fail("upload");
        self.maybe_leak("upload")?;
        self.login()?;
        if let Some(dir) = &self.0.dir {
            std::fs::create_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
        }
        if self.0.misbehave.as_deref() == Some("stall") {
            return stall(self.0.dir.as_deref(), progress);
        }
        let pace = self.upload_pace(local)?;
        match self.file(remote_name) {
            Some(to) if self.wrong("non_atomic") => copy_in_place(local, &to, progress),
            Some(to) => copy(local, &to, progress, pace),
            None => progress.report(1, 1),
        }
    }

    const UPLOAD_NEW: bool = true;

    fn upload_new(
        &self,
        local: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        if self.wrong("replaces") {
            return self
                .upload(local, remote_name, progress)
                .map(|()| NewUpload::Stored);
        }
        self.maybe_fail("upload");
        self.maybe_leak("upload")?;
        self.login()?;
        let (Some(to), Some(temp)) = (self.file(remote_name), self.file(temp_name)) else {
            return progress.report(1, 1).map(|()| NewUpload::Stored);
        };
        if let Some(dir) = &self.0.dir {
            std::fs::create_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
        }
        if to.exists() {
            return Ok(NewUpload::NameTaken);
        }
        if self.0.misbehave.as_deref() == Some("stall") {
            return stall(self.0.dir.as_deref(), progress).map(|()| NewUpload::Stored);
        }
        let copied = copy_blocks(local, &temp, progress, self.upload_pace(local)?);
        let linked = copied.and_then(|()| match std::fs::hard_link(&temp, &to) {
            Ok(()) => Ok(NewUpload::Stored),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(NewUpload::NameTaken),
            Err(e) => Err(io(remote_name, e)),
        });
        let _ = std::fs::remove_file(&temp);
        linked
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        self.maybe_fail("list");
        self.login()?;
        let Some(dir) = &self.0.dir else {
            return Ok(Vec::new());
        };
        let entries = match std::fs::read_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(|e| io(&dir.display().to_string(), e))?,
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io(&dir.display().to_string(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata().map_err(|e| io(&name, e))?;
            if meta.is_file() && !name.starts_with('.') {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64);
                files.push(RemoteFile::new(name, meta.len(), modified));
            }
        }
        Ok(files)
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        self.maybe_fail("delete");
        self.login()?;
        match self.file(name) {
            Some(path) if self.wrong("not_found_as_other") => {
                std::fs::remove_file(&path).map_err(|e| PluginError::other(format!("{name}: {e}")))
            }
            Some(path) => std::fs::remove_file(&path).map_err(|e| io(name, e)),
            None => Err(PluginError::not_found(format!("{name}: no such file"))),
        }
    }

    fn download(
        &self,
        name: &str,
        local: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        self.maybe_fail("download");
        self.login()?;
        match self.file(name) {
            Some(from) => copy(&from, local, progress, Pace::blocks(Default::default())),
            None => Err(PluginError::not_found(format!("{name}: no such file"))),
        }
    }
}

fn new(config_json: &str) -> Result<Probe, PluginError> {
    let probe = Probe(parse_config(config_json)?);
    probe.maybe_fail("new");
    Ok(probe)
}

export_plugin! {
    kind: "test-probe",
    description: "test plugin: logs at every level, panics or crashes on request, exports into a local directory",
    secrets: ["secret_access_key", "passcode", "pin", "recovery_codes", "password"],
    new: new,
}

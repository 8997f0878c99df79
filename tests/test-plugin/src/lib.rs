//! `test-probe`: a plugin for the host's own tests of the plugin boundary, written as a
//! third party would (it uses nothing but the plugin API).
//!
//! - It logs at every level from `test_connection`.
//! - It panics in the operation named by `panic_in`.
//! - It misbehaves like native code can in the operation named by `misbehave_in`
//!   (`new`, `test_connection`, `upload`, `list`, `delete`, `download`), the way
//!   `misbehave` says: `segfault`, `abort`, `exit`, `stack_overflow` or `hang`.
//! - With `dir`, it is a working exporter into that local directory (temporary name, then
//!   rename); without, uploads succeed without storing anything.
//! - It declares secrets under names the host cannot guess (`secret_access_key`,
//!   `passcode`, `pin`, `recovery_codes`) and, with `leak_secrets = true`, behaves like a
//!   careless third-party plugin: it logs them and puts them in its error messages.

use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::{
    export_plugin, parse_config, Exporter, PluginError, Progress, RemoteFile,
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
    /// How: `segfault`, `abort`, `exit`, `stack_overflow`, `hang`.
    #[serde(default)]
    misbehave: Option<String>,
    /// A local directory to export into.
    #[serde(default)]
    dir: Option<PathBuf>,
}

struct Probe(Config);

/// Recurses until the stack is gone.
fn overflow(depth: u64) -> u64 {
    let frame = [depth; 256];
    std::hint::black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    overflow(depth + 1).wrapping_add(frame[7])
}

fn misbehave(how: &str) {
    match how {
        "segfault" => {
            // A store to an unmapped page (not null: Rust's own checks would abort first).
            // SAFETY: none; crashing is the point.
            unsafe { std::ptr::write_volatile(16 as *mut u32, 1) };
        }
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "stack_overflow" => {
            std::hint::black_box(overflow(0));
        }
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        _ => {}
    }
}

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

/// Copies `from` to `to` through `to`'s temporary sibling, reporting progress.
fn copy(from: &Path, to: &Path, progress: &mut Progress<'_>) -> Result<(), PluginError> {
    let total = std::fs::metadata(from)
        .map_err(|e| io(&from.display().to_string(), e))?
        .len();
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let partial = to.with_file_name(format!(".{name}.part"));
    let result = std::fs::copy(from, &partial)
        .map_err(|e| io(&partial.display().to_string(), e))
        .and_then(|_| progress.report(total, total))
        .and_then(|()| std::fs::rename(&partial, to).map_err(|e| io(&to.display().to_string(), e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

impl Exporter for Probe {
    fn test_connection(&self) -> Result<String, PluginError> {
        self.maybe_fail("test_connection");
        self.maybe_leak("test_connection")?;
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
        match self.file(remote_name) {
            Some(to) => copy(local, &to, progress),
            None => progress.report(1, 1),
        }
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        self.maybe_fail("list");
        let Some(dir) = &self.0.dir else {
            return Ok(Vec::new());
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(&dir.display().to_string(), e))? {
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
        match self.file(name) {
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
        match self.file(name) {
            Some(from) => copy(&from, local, progress),
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
    secrets: ["secret_access_key", "passcode", "pin", "recovery_codes"],
    new: new,
}

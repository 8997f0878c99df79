//! The plugin conformance kit: one suite of the `Exporter` contract's promises, run
//! against any plugin file and destination, the way the host uses plugins (every call in
//! a worker process: a plugin that crashes or hangs fails a point, not the kit).
//!
//! `sauvegarde plugins check FILE.so --config dest.toml` runs it ([`run`]) and prints
//! one line per contract point ([`points`]): ✓ holds, ✗ fails, `?` not checked (a
//! `[conformance]` setting it needs is missing; counts as not holding), `-` does not
//! apply (the configuration says so with `= false`). Every remote file the kit makes
//! starts with a prefix unique to the run and is deleted at the end.

pub mod config;
mod no_replace;
pub mod points;
mod secrets;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sauvegarde_plugin_api::{PluginError, RemoteFile};
use serde_json::{Map, Value};

pub use config::{KitConfig, KitConfigError, Variant};

use crate::worker::{self, LogObserver, Timeouts, WorkerDestination};

/// The result of one contract point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The point holds; what was seen.
    Pass(String),
    /// The point fails; why.
    Fail(String),
    /// The point could not be checked (a `[conformance]` setting is missing): not a pass.
    NotChecked(String),
    /// The configuration says the point does not apply to this destination.
    NotApplicable(String),
}

impl Verdict {
    /// Whether the point does not stand in the way of exit 0.
    pub fn holds(&self) -> bool {
        matches!(self, Verdict::Pass(_) | Verdict::NotApplicable(_))
    }

    /// The mark printed before the point: `✓`, `✗`, `?` or `-`.
    pub fn mark(&self) -> &'static str {
        match self {
            Verdict::Pass(_) => "✓",
            Verdict::Fail(_) => "✗",
            Verdict::NotChecked(_) => "?",
            Verdict::NotApplicable(_) => "-",
        }
    }

    /// What was seen, or why.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass(r) | Verdict::Fail(r) => r,
            Verdict::NotChecked(r) | Verdict::NotApplicable(r) => r,
        }
    }
}

/// One checked point of the contract.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Short stable identifier (`delete-missing`).
    pub id: &'static str,
    /// The promise, in words.
    pub title: &'static str,
    /// What happened.
    pub verdict: Verdict,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plugin's kind.
    pub kind: String,
    /// The plugin's version.
    pub version: String,
    /// One outcome per point, in the order of [`points::ALL`].
    pub outcomes: Vec<Outcome>,
    /// Remote files of this run that could not be removed at the end.
    pub left_behind: Vec<String>,
}

impl Report {
    /// Whether every point holds.
    pub fn all_hold(&self) -> bool {
        self.outcomes.iter().all(|o| o.verdict.holds())
    }

    /// The report as printed by `plugins check`, secrets masked.
    pub fn render(&self, plugin: &Path) -> String {
        let mut text = format!(
            "plugin {} (kind `{}`, version {})\n",
            plugin.display(),
            self.kind,
            self.version
        );
        for o in &self.outcomes {
            text.push_str(&format!(
                "{} {}: {} — {}\n",
                o.verdict.mark(),
                o.id,
                o.title,
                crate::redact::scrub(o.verdict.reason())
            ));
        }
        for name in &self.left_behind {
            text.push_str(&format!(
                "warning: could not remove `{name}` from the destination\n"
            ));
        }
        let count =
            |f: fn(&Verdict) -> bool| self.outcomes.iter().filter(|o| f(&o.verdict)).count();
        text.push_str(&format!(
            "{} points: {} hold, {} fail, {} not checked, {} not applicable\n",
            self.outcomes.len(),
            count(|v| matches!(v, Verdict::Pass(_))),
            count(|v| matches!(v, Verdict::Fail(_))),
            count(|v| matches!(v, Verdict::NotChecked(_))),
            count(|v| matches!(v, Verdict::NotApplicable(_))),
        ));
        text
    }
}

/// Why the kit could not run at all (the plugin or the configuration is unusable).
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The plugin file cannot be loaded.
    #[error("{file}: {message}")]
    Plugin {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// `type` names another kind than the plugin's.
    #[error("`type` is `{configured}` but {file} is a plugin of kind `{kind}`")]
    WrongType {
        /// The file.
        file: String,
        /// `type` in the configuration.
        configured: String,
        /// The plugin's kind.
        kind: String,
    },
    /// No scratch directory for the local files.
    #[error("cannot create a scratch directory: {0}")]
    Scratch(std::io::Error),
}

/// Texts the plugin produced (errors, log events, answers), for the secrets point.
#[derive(Default)]
pub(crate) struct Seen {
    texts: Mutex<Vec<(String, String)>>,
}

impl Seen {
    pub(crate) fn push(&self, source: impl Into<String>, text: impl Into<String>) {
        let mut texts = self.texts.lock().unwrap_or_else(|p| p.into_inner());
        texts.push((source.into(), text.into()));
    }

    pub(crate) fn all(&self) -> Vec<(String, String)> {
        self.texts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The state of one run: the plugin, the destination it checks, scratch files.
pub struct Kit {
    plugin: PathBuf,
    kind: String,
    secret_keys: Vec<String>,
    config: KitConfig,
    timeouts: Timeouts,
    prefix: String,
    scratch: tempfile::TempDir,
    seen: Arc<Seen>,
}

impl Kit {
    /// The remote name of `what` for this run.
    pub(crate) fn name(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    /// A local file of `size` bytes of a pattern that differs at every offset mod 251,
    /// seeded by `seed` (two files of the same size differ).
    pub(crate) fn local_file(&self, what: &str, size: u64, seed: u8) -> std::io::Result<PathBuf> {
        use std::io::Write;
        let path = self.scratch.path().join(format!("up-{what}"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut block = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        while written < size {
            let n = (size - written).min(block.len() as u64) as usize;
            for (i, b) in block[..n].iter_mut().enumerate() {
                *b = (((written + i as u64) % 251) as u8).wrapping_add(seed);
            }
            out.write_all(&block[..n])?;
            written += n as u64;
        }
        out.flush()?;
        Ok(path)
    }

    /// A local path (that does not exist) to download `what` into.
    pub(crate) fn download_path(&self, what: &str) -> PathBuf {
        self.scratch.path().join(format!("down-{what}"))
    }

    /// Opens the destination (with `overrides` merged over its settings) in a new
    /// worker whose log events are recorded.
    pub(crate) fn open(
        &self,
        overrides: Option<&Map<String, Value>>,
    ) -> Result<WorkerDestination, PluginError> {
        let settings = match overrides {
            Some(o) => self.config.with(o),
            None => self.config.settings.clone(),
        };
        let seen = self.seen.clone();
        let observer: LogObserver = Arc::new(move |_level, target, message| {
            seen.push(format!("a log event ({target})"), message);
        });
        let json = Value::Object(settings).to_string();
        let opened = WorkerDestination::open_observed(
            &self.plugin,
            &self.kind,
            &json,
            self.timeouts,
            observer,
        );
        self.note("opening the destination", opened)
    }

    /// Records the error of `result` (for the secrets point) and passes it on.
    pub(crate) fn note<T>(
        &self,
        op: &str,
        result: Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        if let Err(e) = &result {
            self.seen.push(format!("the error of {op}"), e.message());
        }
        result
    }

    /// The destination's files whose names start with this run's prefix.
    pub(crate) fn own_files(&self, d: &WorkerDestination) -> Result<Vec<RemoteFile>, PluginError> {
        let files = self.note("list", d.list())?;
        Ok(files
            .into_iter()
            .filter(|f| f.name().starts_with(&self.prefix))
            .collect())
    }

    /// The plugin's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The configuration.
    pub fn config(&self) -> &KitConfig {
        &self.config
    }

    /// The declared secret keys.
    pub(crate) fn secret_keys(&self) -> &[String] {
        &self.secret_keys
    }

    pub(crate) fn seen(&self) -> &Seen {
        &self.seen
    }
}

/// A prefix no other run shares: `sauvegarde-conformance-<pid>-<nanos>-`.
fn run_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!("sauvegarde-conformance-{}-{nanos:x}-", std::process::id())
}

/// Checks the plugin in `plugin` against the destination of `config`.
pub fn run(plugin: &Path, config: KitConfig) -> Result<Report, KitError> {
    let file = plugin.display().to_string();
    let meta = worker::probe(plugin).map_err(|e| KitError::Plugin {
        file: file.clone(),
        message: e.message,
    })?;
    if let Some(configured) = &config.kind {
        if configured != &meta.kind {
            return Err(KitError::WrongType {
                file,
                configured: configured.clone(),
                kind: meta.kind,
            });
        }
    }
    let timeouts = Timeouts::from_settings(config.timeout_secs, config.stall_secs);
    let kit = Kit {
        plugin: std::path::absolute(plugin).unwrap_or_else(|_| plugin.to_path_buf()),
        kind: meta.kind.clone(),
        secret_keys: meta.secret_keys.clone(),
        config,
        timeouts,
        prefix: run_prefix(),
        scratch: tempfile::tempdir().map_err(KitError::Scratch)?,
        seen: Arc::new(Seen::default()),
    };
    secrets::register(&kit);
    let (outcomes, left_behind) = points::run_all(&kit);
    Ok(Report {
        kind: meta.kind,
        version: meta.version,
        outcomes,
        left_behind,
    })
}

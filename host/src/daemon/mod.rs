//! `sauvegarde daemon`: the scheduler that runs in production under systemd
//! (`Type=notify`).
//!
//! The loop computes every job's next backup with [`crate::schedule`], starts the due ones
//! (at most `max_parallel` at once, each in `spawn_blocking`), then the due restore drills
//! (`drill`, see [`crate::drill`]; never while the job backs up), then sleeps until the
//! earliest next backup or drill, a finished task, a signal or the watchdog tick — no
//! polling.
//! SIGHUP reloads the configuration (an invalid one is logged and the old one kept);
//! SIGTERM/SIGINT stop scheduling, cancel running backups (their partial archives are
//! removed and the history says `failed` "interrupted") and exit 0.

pub mod records;
pub mod runner;
pub mod sd_notify;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;

use crate::cancel::CancelFlag;
use crate::config::{self, Config, Sources};
use crate::history::History;
use crate::job::JobHistory;
use crate::plugins::PluginRegistry;
use crate::schedule::{self, JobRecord, Next, Rules};
use runner::{Finished, TaskKind};
use sd_notify::SdNotify;

/// How long a shutdown waits for cancelled backups to clean up before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// The status (and start-up warning) of a daemon whose configuration has no job, as the
/// packaged one: it idles, waiting for a reload, rather than exiting (systemd would
/// restart it in a loop).
const NO_JOB: &str = "no job configured: run `sauvegarde config init` (or add a [jobs.<id>] table), then `systemctl reload sauvegarde`";

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration (or a destination's plugin settings) is invalid at start.
    #[error("{0}")]
    Configuration(String),
    /// The process could not set itself up (runtime, signal handlers).
    #[error("{0}")]
    Setup(String),
}

/// Runs the daemon until SIGTERM/SIGINT; `Ok` after a clean stop.
pub fn run(files: &[PathBuf]) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Setup(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async_main(files.to_vec()))
}

async fn async_main(files: Vec<PathBuf>) -> Result<(), DaemonError> {
    let mut sighup = signal(SignalKind::hangup()).map_err(signal_err)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(signal_err)?;
    let config = load(&files).map_err(DaemonError::Configuration)?;
    prepare_state(&config);
    crate::metrics::refresh(&config);
    let plugins = Arc::new(discover_plugins(&config));
    check_plugins(&config, &plugins).map_err(DaemonError::Configuration)?;
    let config = Arc::new(config);
    let (triggers_tx, mut triggers) = tokio::sync::mpsc::channel(16);
    let web_config = match &config.web {
        Some(web) => {
            let listener = crate::web::bind(web).await.map_err(|e| match e {
                crate::web::WebError::Tls { .. } => DaemonError::Configuration(e.to_string()),
                crate::web::WebError::Bind { .. } => DaemonError::Setup(e.to_string()),
            })?;
            let (tx, rx) = tokio::sync::watch::channel(Arc::clone(&config));
            let state = crate::web::State {
                web: web.clone(),
                secure: web.behind_proxy || web.cert_file.is_some(),
                config: rx,
                guard: crate::web::auth::Guard::default(),
                triggers: triggers_tx,
            };
            tokio::spawn(crate::web::serve(listener, Arc::new(state)));
            Some(tx)
        }
        None => None,
    };

    let mut daemon = Daemon {
        files,
        config,
        web_config,
        triggered: 0,
        rules: Rules::from_env(),
        running: HashMap::new(),
        tasks: JoinSet::new(),
        task_jobs: HashMap::new(),
        not_before: HashMap::new(),
        memory: HashMap::new(),
        drilling: HashSet::new(),
        drill_memory: HashMap::new(),
        drill_not_before: HashMap::new(),
        history_unavailable: None,
        sd: SdNotify::from_env(),
        plugins,
    };
    let watchdog = sd_notify::watchdog_interval();
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(
        jobs = daemon.config.jobs.len(),
        max_parallel = daemon.config.max_parallel,
        plugins = daemon.plugins.kinds().len(),
        "daemon started"
    );
    if daemon.config.jobs.is_empty() {
        tracing::warn!("{NO_JOB}");
    }
    let status = daemon.schedule_round();
    daemon.sd.ready(&status);

    loop {
        let wake = daemon.wake_at();
        let sleep = tokio::time::sleep(wake);
        tokio::pin!(sleep);
        tokio::select! {
            _ = &mut sleep => {}
            Some(done) = daemon.tasks.join_next_with_id(), if !daemon.tasks.is_empty() => daemon.finished(done),
            _ = sighup.recv() => daemon.reload(),
            Some(trigger) = triggers.recv() => daemon.trigger(trigger),
            _ = sigterm.recv() => { tracing::info!("SIGTERM received"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT received"); break; }
            _ = watchdog_tick.tick(), if watchdog.is_some() => daemon.sd.watchdog(),
        }
        let status = daemon.schedule_round();
        daemon.sd.status(&status);
    }
    daemon.shutdown().await;
    Ok(())
}

fn signal_err(e: std::io::Error) -> DaemonError {
    DaemonError::Setup(format!("cannot install signal handlers: {e}"))
}

/// Loads and checks the configuration, including every job's schedule.
fn load(files: &[PathBuf]) -> Result<Config, String> {
    // The daemon runs every job: any job's error stops it (at start) or the reload.
    let loaded = config::load(
        &Sources {
            files: files.to_vec(),
        },
        config::Uses::EveryJob,
    )
    .map_err(|e| e.to_string())?;
    let config = loaded.config;
    for (id, job) in &config.jobs {
        if let Some(s) = &job.schedule {
            schedule::validate(s).map_err(|e| format!("[jobs.{id}]: {e}"))?;
        }
    }
    if config.max_parallel == 0 {
        return Err("`max_parallel` must be at least 1".into());
    }
    Ok(config)
}

/// Creates `state_dir`, replaces a corrupt history, marks backups left `running` by a
/// dead process as failed and removes decrypted copies dead processes left. A history that
/// cannot be opened stops nothing: the daemon keeps its schedule in memory and says why in
/// its status.
fn prepare_state(config: &Config) {
    let history = JobHistory::open(config, None);
    if let Some(h) = history.get() {
        crate::job::recover_stale(h, &config.state_dir, None);
    }
    crate::crypt::workdir::sweep_leftovers(&config.state_dir);
}

fn discover_plugins(config: &Config) -> PluginRegistry {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from));
    let registry = PluginRegistry::discover(&config.plugin_dirs, exe_dir.as_deref());
    for refused in registry.refused() {
        tracing::warn!("plugin refused: {refused:?}");
    }
    registry
}

/// Every destination must have its plugin and settings the plugin accepts.
fn check_plugins(config: &Config, plugins: &PluginRegistry) -> Result<(), String> {
    let errors = crate::export::check_destinations(config, plugins, None);
    if errors.is_empty() {
        return Ok(());
    }
    Err(crate::export::join_errors(&errors))
}

/// What is due when: each job's next backup and next restore drill.
struct Plan {
    backups: BTreeMap<String, Next>,
    drills: BTreeMap<String, Next>,
    /// Due backups that retry a run some of whose databases failed.
    retries: HashSet<String>,
}

struct Daemon {
    files: Vec<PathBuf>,
    config: Arc<Config>,
    /// The status page's view of the configuration, when it is served.
    web_config: Option<tokio::sync::watch::Sender<Arc<Config>>>,
    /// How many backups the status page started.
    triggered: u64,
    rules: Rules,
    /// Running backups and drills by job, with their cancel flags.
    running: HashMap<String, CancelFlag>,
    /// The jobs of `running` that are drilling, not backing up.
    drilling: HashSet<String>,
    tasks: JoinSet<Finished>,
    /// The job of each task, to clean up after a task that panicked.
    task_jobs: HashMap<tokio::task::Id, String>,
    /// The start of the latest drill this daemon ran of each job (the history may not
    /// be writable).
    drill_memory: HashMap<String, Timestamp>,
    /// Jobs whose drill could not start (lock busy, history unreadable): not before this.
    drill_not_before: HashMap<String, Timestamp>,
    /// Jobs whose last attempt failed without a history row (lock held by a manual
    /// backup, unreadable odoo.conf …): not retried before this instant.
    not_before: HashMap<String, Timestamp>,
    /// What this daemon saw of its own runs: the schedule goes on when the history cannot
    /// be read or written.
    memory: HashMap<String, JobRecord>,
    /// Why the history cannot be read, when it cannot.
    history_unavailable: Option<String>,
    sd: SdNotify,
    plugins: Arc<PluginRegistry>,
}

impl Daemon {
    /// Every scheduled job's next backup and next drill (running jobs excluded).
    fn next_times(&mut self) -> Plan {
        let history = match History::open_read_only(&self.config.state_dir) {
            Ok(h) => {
                let problem = h.as_ref().and_then(History::write_problem);
                if problem.is_some() && problem != self.history_unavailable {
                    tracing::warn!(
                        "history unavailable: {}; backups go on, retention waits",
                        problem.as_deref().unwrap_or_default()
                    );
                }
                self.history_unavailable = problem;
                h
            }
            Err(e) => {
                let reason = crate::redact::scrub(&e.to_string()).into_owned();
                if self.history_unavailable.as_deref() != Some(reason.as_str()) {
                    tracing::error!(
                        "history unavailable: {reason}; the schedule goes on from memory"
                    );
                }
                self.history_unavailable = Some(reason);
                None
            }
        };
        let mut out = BTreeMap::new();
        let mut drills = BTreeMap::new();
        let mut retries = HashSet::new();
        let now = Timestamp::now();
        for id in self.config.jobs.keys() {
            if self.running.contains_key(id) {
                continue;
            }
            match records::next_drill(
                &self.config,
                history.as_ref(),
                self.drill_memory.get(id).copied(),
                id,
                &self.rules,
            ) {
                Ok(Some(next)) => {
                    let next = match (next, self.drill_not_before.get(id)) {
                        (Next::Now, Some(nb)) => Next::At(*nb),
                        (Next::At(t), Some(nb)) => Next::At(t.max(*nb)),
                        (n, _) => n,
                    };
                    drills.insert(id.clone(), next);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(job = id, "cannot compute the next restore drill: {e}"),
            }
            let next = records::next_for(
                &self.config,
                history.as_ref(),
                self.memory.get(id),
                id,
                &self.rules,
            );
            let next = match next {
                Err(records::NextError::History(e)) => {
                    // Unreadable rows: schedule from memory alone.
                    let reason = crate::redact::scrub(&e.to_string()).into_owned();
                    self.history_unavailable = Some(reason);
                    records::next_for(&self.config, None, self.memory.get(id), id, &self.rules)
                }
                other => other,
            };
            match next {
                Ok(records::Due { next, retry }) => {
                    let next = match (next, self.not_before.get(id)) {
                        (Next::Now, Some(nb)) => Next::At(*nb),
                        (Next::At(t), Some(nb)) => Next::At(t.max(*nb)),
                        (n, _) => n,
                    };
                    if retry && next.is_due(now) {
                        retries.insert(id.clone());
                    }
                    out.insert(id.clone(), next);
                }
                Err(e) => tracing::error!(job = id, "cannot compute the next backup: {e}"),
            }
        }
        Plan {
            backups: out,
            drills,
            retries,
        }
    }

    /// Starts the due jobs (up to `max_parallel`); returns the status line.
    fn schedule_round(&mut self) -> String {
        let now = Timestamp::now();
        let plan = self.next_times();
        // Backups first: a drill never delays a backup.
        let due = plan
            .backups
            .iter()
            .map(|b| (b, TaskKind::Backup))
            .chain(plan.drills.iter().map(|d| (d, TaskKind::Drill)));
        for ((id, next), kind) in due {
            if self.running.len() >= self.config.max_parallel {
                break;
            }
            if next.is_due(now) && !self.running.contains_key(id) {
                let retry = kind == TaskKind::Backup && plan.retries.contains(id);
                self.start(id, kind, retry);
            }
        }
        self.status_line()
    }

    /// A backup asked for by the status page: started now unless the job runs already
    /// (or drills) or `max_parallel` tasks run.
    fn trigger(&mut self, trigger: crate::web::Trigger) {
        use crate::web::TriggerOutcome;
        let job = trigger.job.as_str();
        let outcome = if !self.config.jobs.get(job).is_some_and(|j| j.active) {
            TriggerOutcome::UnknownJob
        } else if self.running.contains_key(job) {
            TriggerOutcome::Running
        } else if self.running.len() >= self.config.max_parallel {
            TriggerOutcome::Busy
        } else {
            self.triggered += 1;
            self.start(job, TaskKind::Backup, false);
            TriggerOutcome::Started {
                id: self.triggered,
                started: Timestamp::now().to_string(),
            }
        };
        tracing::info!(job, ?outcome, "backup asked for on the status page");
        if trigger.reply.send(outcome).is_err() {
            tracing::debug!(job, "the status page stopped waiting for its answer");
        }
    }

    /// Starts `kind` for job `id`; a `retry` backs up only the databases that need it.
    fn start(&mut self, id: &str, kind: TaskKind, retry: bool) {
        let cancel = CancelFlag::new();
        self.running.insert(id.to_string(), cancel.clone());
        let config = Arc::clone(&self.config);
        let job = id.to_string();
        let handle = match kind {
            TaskKind::Backup => {
                let plugins = Arc::clone(&self.plugins);
                self.tasks
                    .spawn_blocking(move || runner::run_job(config, plugins, job, cancel, retry))
            }
            TaskKind::Drill => {
                self.drilling.insert(id.to_string());
                self.tasks
                    .spawn_blocking(move || runner::run_drill(config, job, cancel))
            }
        };
        self.task_jobs.insert(handle.id(), id.to_string());
    }

    fn finished(&mut self, done: Result<(tokio::task::Id, Finished), tokio::task::JoinError>) {
        match done {
            Ok((task, f)) => {
                self.task_jobs.remove(&task);
                self.running.remove(&f.job);
                if f.kind == TaskKind::Drill {
                    self.drilling.remove(&f.job);
                    if f.not_run {
                        let wait = schedule::backoff(1, &self.rules, jiff::SignedDuration::MAX);
                        self.drill_not_before
                            .insert(f.job, schedule::add(Timestamp::now(), wait));
                    } else if !f.cancelled {
                        self.drill_not_before.remove(&f.job);
                        self.drill_memory.insert(f.job, f.started);
                    }
                    return;
                }
                if !f.cancelled {
                    let m = self.memory.entry(f.job.clone()).or_default();
                    if f.ok {
                        *m = JobRecord {
                            last_success: Some(f.started),
                            last_failure: None,
                            failures: 0,
                        };
                    } else {
                        m.last_failure = Some(f.started);
                        m.failures += 1;
                    }
                }
                if f.ok {
                    self.not_before.remove(&f.job);
                } else {
                    // The history holds the failure and drives the backoff; this covers
                    // failures that left no history row.
                    let cap = self
                        .config
                        .jobs
                        .get(&f.job)
                        .and_then(|j| j.schedule.as_ref())
                        .map(|s| schedule::interval(s, &self.rules))
                        .unwrap_or(jiff::SignedDuration::from_secs(3600));
                    let wait = schedule::backoff(1, &self.rules, cap);
                    self.not_before
                        .insert(f.job, schedule::add(Timestamp::now(), wait));
                }
            }
            Err(e) => {
                let job = self.task_jobs.remove(&e.id()).unwrap_or_default();
                tracing::error!(job, "a backup or drill task ended abnormally: {e}");
                self.running.remove(&job);
                if self.drilling.remove(&job) {
                    self.drill_memory.insert(job.clone(), Timestamp::now());
                }
                let wait = schedule::backoff(1, &self.rules, jiff::SignedDuration::from_secs(3600));
                self.not_before
                    .insert(job, schedule::add(Timestamp::now(), wait));
            }
        }
    }

    /// How long to sleep: until the earliest next backup, at most an hour (the clock or
    /// the time zone may change), or an hour when nothing is scheduled.
    fn wake_at(&mut self) -> Duration {
        let now = Timestamp::now();
        let max = Duration::from_secs(3600);
        if self.running.len() >= self.config.max_parallel {
            return max;
        }
        let plan = self.next_times();
        plan.backups
            .values()
            .chain(plan.drills.values())
            .filter_map(|n| n.instant(now))
            .min()
            .map(|t| {
                let d = t.duration_since(now);
                if d.is_negative() {
                    Duration::ZERO
                } else {
                    Duration::try_from(d).unwrap_or(max).min(max)
                }
            })
            .unwrap_or(max)
    }

    fn status_line(&mut self) -> String {
        let now = Timestamp::now();
        let plan = self.next_times();
        let (mut drilling, mut running): (Vec<&str>, Vec<&str>) = self
            .running
            .keys()
            .map(String::as_str)
            .partition(|id| self.drilling.contains(*id));
        running.sort_unstable();
        drilling.sort_unstable();
        let next = plan
            .backups
            .into_iter()
            .filter_map(|(id, n)| n.instant(now).map(|t| (t, id)))
            .min();
        let next = match next {
            Some((t, id)) if t <= now => format!("next: {id} now"),
            Some((t, id)) => format!("next: {id} at {}", t.round(jiff::Unit::Second).unwrap_or(t)),
            None if self.config.jobs.is_empty() => NO_JOB.to_string(),
            None => "no scheduled job".to_string(),
        };
        let mut busy = Vec::new();
        if !running.is_empty() {
            busy.push(format!("backing up {}", running.join(", ")));
        }
        if !drilling.is_empty() {
            busy.push(format!("restore drill of {}", drilling.join(", ")));
        }
        let line = if busy.is_empty() {
            format!("idle; {next}")
        } else {
            format!("{}; {next}", busy.join("; "))
        };
        match &self.history_unavailable {
            Some(reason) => format!("history unavailable: {reason}; {line}"),
            None => line,
        }
    }

    /// SIGHUP: new configuration, or the old one if the new one is invalid.
    fn reload(&mut self) {
        tracing::info!("SIGHUP received: reloading the configuration");
        self.sd.reloading();
        let loaded = load(&self.files).and_then(|c| check_plugins(&c, &self.plugins).map(|_| c));
        if let Ok(c) = &loaded {
            prepare_state(c);
        }
        match loaded {
            Ok(config) => {
                let added: Vec<&String> = config
                    .jobs
                    .keys()
                    .filter(|k| !self.config.jobs.contains_key(*k))
                    .collect();
                tracing::info!(jobs = config.jobs.len(), ?added, "configuration reloaded");
                self.not_before.retain(|k, _| config.jobs.contains_key(k));
                self.drill_not_before
                    .retain(|k, _| config.jobs.contains_key(k));
                self.config = Arc::new(config);
                if let Some(web) = &self.web_config {
                    web.send_replace(Arc::clone(&self.config));
                }
            }
            Err(e) => tracing::error!(
                "{}\nthe new configuration is invalid: keeping the previous one",
                crate::redact::scrub(&e)
            ),
        }
        let status = self.status_line();
        self.sd.ready(&status);
    }

    /// Cancels running backups and waits (bounded) for them to clean up.
    async fn shutdown(&mut self) {
        self.sd.stopping();
        if self.running.is_empty() {
            tracing::info!("daemon stopped");
            return;
        }
        tracing::info!(running = self.running.len(), "cancelling running backups");
        for flag in self.running.values() {
            flag.cancel();
        }
        // Plugin calls that report no progress (list, delete, a hung connect) see this.
        crate::worker::stop_all();
        let wait = async {
            while let Some(done) = self.tasks.join_next().await {
                if let Ok(f) = done {
                    tracing::info!(job = f.job, cancelled = f.cancelled, "backup stopped");
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, wait).await.is_err() {
            tracing::error!(
                "running backups did not stop within {} s; exiting anyway",
                SHUTDOWN_GRACE.as_secs()
            );
        } else {
            tracing::info!("daemon stopped");
        }
    }
}

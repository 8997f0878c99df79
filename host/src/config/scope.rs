//! Which configuration errors stop which command: a command checks only what it uses.
//!
//! Every error has a key, and the key says what it belongs to ([`scope_of`]):
//! - `jobs.<id>` and anything under it: that job (its secret files, its `notify`, its
//!   destinations' host keys …);
//! - `notify` and anything under it: every job that uses the global `[notify]` (a job
//!   without a `notify` table of its own);
//! - anything else — a file that cannot be read or parsed, an unknown top-level key,
//!   `backup_dir`, `state_dir`, `plugin_dirs`, `max_parallel`, `metrics_file`, `jobs` that
//!   is not a table — the whole configuration: every command that reads it fails.
//!
//! A job with errors is left out of [`super::Config::jobs`]. A command says what it uses
//! ([`Uses`]): none of the jobs (`plugins`, `history`, `verify`/`restore` of a local
//! archive, an ad-hoc backup), one job (`backup J`, `test J`, `prune J` …: that job's
//! errors stop it), or every job (`daemon`, `jobs`, `config check`, `config show`: any
//! error stops it). What a command does not use but is broken is told in one warning line
//! ([`JobProblems::warning`]).

use std::collections::{BTreeMap, BTreeSet};

use super::load::ConfigError;

/// What a command uses of the configuration, and so which errors stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses<'a> {
    /// No job: a broken job is only a warning.
    NoJob,
    /// This job: its errors (and those of the global `[notify]` when it uses it) stop the
    /// command; the other jobs' are a warning.
    Job(&'a str),
    /// Every job: any error stops the command.
    EveryJob,
}

/// What a configuration error belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole configuration: every command fails.
    Whole,
    /// One job, by id.
    Job(String),
    /// The global `[notify]`: every job that uses it.
    Notify,
}

/// The scope of the error at dotted `key`, given the configuration's job ids (the longest
/// id that `key` names wins, so a job id with a dot in it is still found).
pub fn scope_of(key: &str, job_ids: &[&str]) -> Scope {
    if let Some(rest) = key.strip_prefix("jobs.") {
        let named = job_ids
            .iter()
            .filter(|id| {
                rest.strip_prefix(**id)
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with('.'))
            })
            .max_by_key(|id| id.len());
        return match named {
            Some(id) => Scope::Job((*id).to_string()),
            None => Scope::Whole,
        };
    }
    if key == "notify" || key.starts_with("notify.") {
        return Scope::Notify;
    }
    Scope::Whole
}

/// The errors that belong to jobs and to the global `[notify]`: they stop only the
/// commands that use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobProblems {
    /// Each broken job's own errors.
    jobs: BTreeMap<String, Vec<ConfigError>>,
    /// The global `[notify]`'s errors.
    notify: Vec<ConfigError>,
    /// The jobs that use the global `[notify]`.
    notify_users: BTreeSet<String>,
}

impl JobProblems {
    /// Splits `errors` by [`scope_of`]: the whole configuration's errors, and the others.
    /// `notify_users` are the jobs without a `notify` table of their own.
    pub fn split(
        errors: Vec<ConfigError>,
        job_ids: &[&str],
        notify_users: BTreeSet<String>,
    ) -> (Vec<ConfigError>, JobProblems) {
        let mut whole = Vec::new();
        let mut problems = JobProblems {
            notify_users,
            ..JobProblems::default()
        };
        for error in errors {
            match scope_of(&error.key, job_ids) {
                Scope::Whole => whole.push(error),
                Scope::Job(id) => problems.jobs.entry(id).or_default().push(error),
                Scope::Notify => problems.notify.push(error),
            }
        }
        (whole, problems)
    }

    /// No error at all.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.notify.is_empty()
    }

    /// The jobs that cannot be used: with errors of their own, or using a broken global
    /// `[notify]`.
    pub fn broken_jobs(&self) -> BTreeSet<&str> {
        let mut broken: BTreeSet<&str> = self.jobs.keys().map(String::as_str).collect();
        if !self.notify.is_empty() {
            broken.extend(self.notify_users.iter().map(String::as_str));
        }
        broken
    }

    /// The errors that stop a command using `uses`.
    pub fn stopping(&self, uses: Uses<'_>) -> Vec<ConfigError> {
        match uses {
            Uses::NoJob => Vec::new(),
            Uses::Job(id) => {
                let mut errors = self.jobs.get(id).cloned().unwrap_or_default();
                if self.notify_users.contains(id) {
                    errors.extend(self.notify.iter().cloned());
                }
                errors
            }
            Uses::EveryJob => self.all(),
        }
    }

    /// Every error: the global `[notify]`'s, then each job's.
    pub fn all(&self) -> Vec<ConfigError> {
        self.notify
            .iter()
            .chain(self.jobs.values().flatten())
            .cloned()
            .collect()
    }

    /// One line about what is broken but not used by `uses` (it goes on without it), or
    /// `None` when nothing is.
    pub fn warning(&self, uses: Uses<'_>) -> Option<String> {
        let used = match uses {
            Uses::EveryJob => return None,
            Uses::Job(id) => Some(id),
            Uses::NoJob => None,
        };
        let jobs: Vec<&str> = self
            .broken_jobs()
            .into_iter()
            .filter(|id| Some(*id) != used)
            .collect();
        let notify =
            !self.notify.is_empty() && !used.is_some_and(|id| self.notify_users.contains(id));
        let count = jobs
            .iter()
            .map(|id| self.jobs.get(*id).map_or(0, Vec::len))
            .sum::<usize>()
            + if notify { self.notify.len() } else { 0 };
        let mut parts = Vec::new();
        match jobs.as_slice() {
            [] => {}
            [one] => parts.push(format!("job `{one}`")),
            many => parts.push(format!(
                "jobs {}",
                many.iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        if notify {
            parts.push("[notify]".to_string());
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "warning: invalid configuration of {} ({count} error(s)), not used by this command: `sauvegarde config check` lists them",
            parts.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(key: &str) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            source: Some("/etc/sauvegarde/sauvegarde.toml".into()),
            message: "cannot read secret file".into(),
        }
    }

    #[test]
    fn an_error_belongs_to_the_job_its_key_names_else_to_notify_else_to_everything() {
        let ids = ["prod", "prod.old", "staging"];
        let table = [
            ("jobs.prod.db_password_file", Scope::Job("prod".into())),
            ("jobs.prod", Scope::Job("prod".into())),
            ("jobs.prod.old.keep_days", Scope::Job("prod.old".into())),
            (
                "jobs.prod.notify.email.password_file",
                Scope::Job("prod".into()),
            ),
            (
                "jobs.staging.destinations.nas.keep_count",
                Scope::Job("staging".into()),
            ),
            ("jobs.production.keep_days", Scope::Whole),
            ("jobs", Scope::Whole),
            ("notify.email.password_file", Scope::Notify),
            ("notify", Scope::Notify),
            ("notifications", Scope::Whole),
            ("state_dir", Scope::Whole),
            ("backup_dir", Scope::Whole),
            ("max_parallel", Scope::Whole),
            ("", Scope::Whole),
        ];
        for (key, scope) in table {
            assert_eq!(scope_of(key, &ids), scope, "{key}");
        }
    }

    fn problems() -> JobProblems {
        let errors = vec![
            error("jobs.prod.destinations.offsite.private_key_file"),
            error("jobs.staging.db_password_file"),
            error("jobs.staging.notify.webhook.url_file"),
            error("notify.email.password_file"),
        ];
        // `archive` and `ok` use the global [notify]; the others have their own.
        let users = ["archive", "ok"].map(String::from).into();
        let (whole, problems) =
            JobProblems::split(errors, &["archive", "ok", "prod", "staging"], users);
        assert!(whole.is_empty());
        problems
    }

    #[test]
    fn a_job_is_stopped_by_its_own_errors_and_those_of_the_notify_it_uses() {
        let p = problems();
        let keys = |uses| -> Vec<String> { p.stopping(uses).into_iter().map(|e| e.key).collect() };
        assert_eq!(keys(Uses::NoJob), Vec::<String>::new());
        assert_eq!(
            keys(Uses::Job("prod")),
            ["jobs.prod.destinations.offsite.private_key_file"]
        );
        assert_eq!(
            keys(Uses::Job("staging")),
            [
                "jobs.staging.db_password_file",
                "jobs.staging.notify.webhook.url_file"
            ]
        );
        assert_eq!(keys(Uses::Job("ok")), ["notify.email.password_file"]);
        assert_eq!(keys(Uses::Job("absent")), Vec::<String>::new());
        assert_eq!(keys(Uses::EveryJob).len(), 4);
        assert_eq!(
            p.broken_jobs().into_iter().collect::<Vec<_>>(),
            ["archive", "ok", "prod", "staging"]
        );
    }

    #[test]
    fn what_a_command_does_not_use_is_one_warning_line() {
        let p = problems();
        let table = [
            (
                Uses::NoJob,
                Some("warning: invalid configuration of jobs `archive`, `ok`, `prod`, `staging` and [notify] (4 error(s)), not used by this command: `sauvegarde config check` lists them"),
            ),
            (
                Uses::Job("prod"),
                Some("warning: invalid configuration of jobs `archive`, `ok`, `staging` and [notify] (3 error(s)), not used by this command: `sauvegarde config check` lists them"),
            ),
            // `ok` uses the broken [notify]: that is its error, not a warning.
            (
                Uses::Job("ok"),
                Some("warning: invalid configuration of jobs `archive`, `prod`, `staging` (3 error(s)), not used by this command: `sauvegarde config check` lists them"),
            ),
            (Uses::EveryJob, None),
        ];
        for (uses, line) in table {
            assert_eq!(p.warning(uses).as_deref(), line, "{uses:?}");
        }
        let single = JobProblems::split(
            vec![error("jobs.prod.keep_days")],
            &["prod"],
            BTreeSet::new(),
        )
        .1;
        assert_eq!(
            single.warning(Uses::NoJob).as_deref(),
            Some("warning: invalid configuration of job `prod` (1 error(s)), not used by this command: `sauvegarde config check` lists them")
        );
        assert_eq!(single.warning(Uses::Job("prod")), None);
        assert_eq!(JobProblems::default().warning(Uses::NoJob), None);
    }
}

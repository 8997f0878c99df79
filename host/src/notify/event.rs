//! What a notification says: one backup's result.

use serde::Serialize;

use crate::redact::scrub;

/// Success or failure of a backup (and, later, of its exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// The backup (and every export) succeeded.
    Success,
    /// The backup or an export failed.
    Failure,
}

impl EventState {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Success => "success",
            EventState::Failure => "failure",
        }
    }
}

/// The state of one destination's export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationState {
    /// Destination name.
    pub name: String,
    /// `done`, `failed`, …
    pub state: String,
    /// Failure message, secrets masked.
    pub message: Option<String>,
}

/// One backup's result, as sent to every channel (the webhook's JSON body).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `backup`, `drill` for a restore drill, or `history` for a problem with the history
    /// database.
    pub event: &'static str,
    /// Job id.
    pub job: String,
    /// Job display name.
    pub job_name: String,
    /// Database backed up.
    pub database: String,
    /// Success or failure.
    pub state: EventState,
    /// Archive path, when one was written.
    pub archive: Option<String>,
    /// Archive size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the archive.
    pub sha256: Option<String>,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Export states (empty until the job's exports ran).
    pub destinations: Vec<DestinationState>,
    /// What happened, secrets masked.
    pub message: String,
    /// What an admin must hear of though the backup succeeded (archives kept because age is
    /// not counted across a gap in their dates, a clock behind, a destination's retention
    /// that failed), secrets masked. A success with warnings is sent to those who listen
    /// for failures too.
    pub warnings: Vec<String>,
    /// The machine that ran the backup.
    pub host: String,
}

impl Event {
    /// Masks every registered secret in the event's free texts.
    pub fn scrubbed(mut self) -> Self {
        self.message = scrub(&self.message).into_owned();
        for w in &mut self.warnings {
            *w = scrub(w).into_owned();
        }
        for d in &mut self.destinations {
            d.message = d.message.as_deref().map(|m| scrub(m).into_owned());
        }
        self
    }

    /// One-line summary, used as the mail subject.
    pub fn subject(&self) -> String {
        let what = match (self.event, self.state) {
            ("history", _) => "history database problem",
            ("drill", EventState::Success) => "restore drill succeeded",
            ("drill", EventState::Failure) => "restore drill FAILED",
            (_, EventState::Success) if !self.warnings.is_empty() => {
                "backup succeeded with warnings"
            }
            (_, EventState::Success) => "backup succeeded",
            (_, EventState::Failure) => "backup FAILED",
        };
        format!("[sauvegarde] {}: {what} on {}", self.job_name, self.host)
    }

    /// Plain-text body of a mail.
    pub fn text(&self) -> String {
        let mut t = format!(
            "Job:       {} ({})\nDatabase:  {}\nState:     {}\nStarted:   {}\nDuration:  {:.1} s\n",
            self.job_name,
            self.job,
            self.database,
            self.state.as_str(),
            self.started,
            self.duration_secs
        );
        if let Some(a) = &self.archive {
            t.push_str(&format!("Archive:   {a}\n"));
        }
        if let Some(s) = self.size {
            t.push_str(&format!("Size:      {s} bytes\n"));
        }
        if let Some(h) = &self.sha256 {
            t.push_str(&format!("SHA-256:   {h}\n"));
        }
        for d in &self.destinations {
            t.push_str(&format!(
                "Export {}: {}{}\n",
                d.name,
                d.state,
                d.message
                    .as_deref()
                    .map(|m| format!(" — {m}"))
                    .unwrap_or_default()
            ));
        }
        t.push_str(&format!("\n{}\n", self.message));
        for w in &self.warnings {
            t.push_str(&format!("\nWarning: {w}\n"));
        }
        scrub(&t).into_owned()
    }

    /// `SAUVEGARDE_EVENT_*` environment variables for the command channel.
    pub fn env(&self) -> Vec<(String, String)> {
        let v = vec![
            ("SAUVEGARDE_EVENT_EVENT", self.event.to_string()),
            ("SAUVEGARDE_EVENT_JOB", self.job.clone()),
            ("SAUVEGARDE_EVENT_JOB_NAME", self.job_name.clone()),
            ("SAUVEGARDE_EVENT_DATABASE", self.database.clone()),
            ("SAUVEGARDE_EVENT_STATE", self.state.as_str().to_string()),
            (
                "SAUVEGARDE_EVENT_ARCHIVE",
                self.archive.clone().unwrap_or_default(),
            ),
            (
                "SAUVEGARDE_EVENT_SIZE",
                self.size.map(|s| s.to_string()).unwrap_or_default(),
            ),
            (
                "SAUVEGARDE_EVENT_SHA256",
                self.sha256.clone().unwrap_or_default(),
            ),
            ("SAUVEGARDE_EVENT_STARTED", self.started.clone()),
            (
                "SAUVEGARDE_EVENT_DURATION_SECS",
                format!("{:.3}", self.duration_secs),
            ),
            ("SAUVEGARDE_EVENT_MESSAGE", self.message.clone()),
            ("SAUVEGARDE_EVENT_WARNINGS", self.warnings.join("\n")),
            ("SAUVEGARDE_EVENT_HOST", self.host.clone()),
            (
                "SAUVEGARDE_EVENT_JSON",
                serde_json::to_string(self).unwrap_or_default(),
            ),
        ];
        v.into_iter()
            .map(|(k, val)| (k.to_string(), scrub(&val).into_owned()))
            .collect()
    }
}

/// This machine's name, for messages.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A failure event for unit tests of the notifiers.
    pub(crate) fn event(message: &str) -> Event {
        Event {
            event: "backup",
            job: "prod".into(),
            job_name: "Production".into(),
            database: "prod".into(),
            state: EventState::Failure,
            archive: None,
            size: None,
            sha256: None,
            started: "2026-01-01T00:00:00Z".into(),
            duration_secs: 1.5,
            destinations: vec![],
            message: message.into(),
            warnings: vec![],
            host: "h".into(),
        }
    }

    #[test]
    fn secrets_never_reach_text_env_or_json() {
        crate::redact::register("notify-unit-secret-9f3");
        let e = event("pg_dump: password notify-unit-secret-9f3 rejected").scrubbed();
        assert!(!e.message.contains("notify-unit-secret-9f3"));
        assert!(!e.text().contains("notify-unit-secret-9f3"));
        assert!(e
            .env()
            .iter()
            .all(|(_, v)| !v.contains("notify-unit-secret-9f3")));
        assert!(e.subject().contains("FAILED"));
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["state"], "failure");
        assert_eq!(json["destinations"], serde_json::json!([]));
    }
}

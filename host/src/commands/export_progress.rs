//! What the commands show while exporting: one progress bar per destination on a
//! terminal, and a ✓/✗ line per destination at the end.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use sauvegarde::export::{DestinationOutcome, ExportObserver, ExportStatus};

/// Progress bars on stderr when it is a terminal; nothing otherwise (the log has the
/// results and the throughput).
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// The backup's spinner, cleared when the exports start.
    spinner: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars if stderr is a terminal.
    pub fn for_stderr() -> Self {
        Bars {
            multi: std::io::stderr().is_terminal().then(MultiProgress::new),
            bars: Mutex::new(HashMap::new()),
            spinner: Mutex::new(None),
        }
    }

    /// A spinner for the backup itself (bytes written), on a terminal.
    pub fn backup_spinner(&self, job: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} {bytes} written ({bytes_per_sec}, {elapsed})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(job.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        *self.spinner.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        Some(bar)
    }

    fn bar(&self, destination: &str, total: u64) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        if let Some(spinner) = self
            .spinner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            spinner.finish_and_clear();
        }
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(destination.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(total));
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(destination.to_string());
            bar
        });
        Some(bar.clone())
    }
}

impl ExportObserver for Bars {
    fn progress(&self, destination: &str, done: u64, total: u64) {
        if let Some(bar) = self.bar(destination, total) {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    fn finished(&self, outcome: &DestinationOutcome) {
        if let Some(bar) = self.bar(&outcome.destination, outcome.bytes) {
            bar.finish_and_clear();
        }
    }
}

/// One line per destination: `✓ name (type): …` or `✗ name (type): why`.
pub fn summary(outcomes: &[DestinationOutcome]) -> String {
    let mut text = String::new();
    for o in outcomes {
        let line = match o.status {
            ExportStatus::Done => {
                let rate = o.bytes as f64 / o.seconds.max(1e-3) / 1_048_576.0;
                let mut line = format!(
                    "✓ {} ({}): uploaded {} bytes in {:.1} s ({rate:.1} MiB/s)",
                    o.destination, o.kind, o.bytes, o.seconds
                );
                if sauvegarde::naming::parse(&o.remote_name).is_some_and(|n| n.tag.is_some()) {
                    line.push_str(&format!(
                        "; stored as {} (its own name was taken by a file this job did not upload)",
                        o.remote_name
                    ));
                }
                if !o.deleted.is_empty() {
                    line.push_str(&format!("; retention deleted {}", o.deleted.join(", ")));
                }
                if let Some(m) = &o.message {
                    line.push_str(&format!("; {m}"));
                }
                line
            }
            ExportStatus::Failed | ExportStatus::Cancelled => format!(
                "✗ {} ({}): {} after {} attempt(s): {}",
                o.destination,
                o.kind,
                o.status.as_str(),
                o.attempts,
                o.message.as_deref().unwrap_or("unknown error")
            ),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

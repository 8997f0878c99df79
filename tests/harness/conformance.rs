//! Running the plugin conformance kit (`sauvegarde plugins check`) from a test, and
//! reading its verdicts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::cli::text;

/// What one `plugins check` run printed and how it ended.
pub struct Check {
    /// The process output.
    pub output: Output,
    /// The mark (`✓`, `✗`, `?`, `-`) of each point, by id.
    pub marks: BTreeMap<String, String>,
}

impl Check {
    /// The ids of the points marked `mark`.
    pub fn with_mark(&self, mark: &str) -> Vec<String> {
        self.marks
            .iter()
            .filter(|(_, m)| m.as_str() == mark)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Panics unless point `id` has `mark`.
    pub fn assert_mark(&self, id: &str, mark: &str) {
        assert_eq!(
            self.marks.get(id).map(String::as_str),
            Some(mark),
            "point {id}\n{}",
            self.text()
        );
    }

    /// Status, stdout and stderr, for assertion messages.
    pub fn text(&self) -> String {
        text(&self.output)
    }

    /// Panics unless every point holds (✓, or `-` where the configuration says it does
    /// not apply) and the command exited 0.
    pub fn assert_all_hold(&self) {
        let not = |m: &str| m != "✓" && m != "-";
        let failing: Vec<&String> = self
            .marks
            .iter()
            .filter(|(_, m)| not(m))
            .map(|(id, _)| id)
            .collect();
        assert!(
            failing.is_empty(),
            "points not holding: {failing:?}\n{}",
            self.text()
        );
        assert_eq!(self.marks.len(), 16, "{}", self.text());
        assert_eq!(self.output.status.code(), Some(0), "{}", self.text());
    }
}

/// Runs `sauvegarde plugins check <plugin> --config <file>` where the file holds the
/// destination's `settings` and, when not null, a `[conformance]` table.
pub fn check(plugin: &Path, settings: Value, conformance: Value) -> Check {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = settings;
    if !conformance.is_null() {
        table["conformance"] = conformance;
    }
    let toml = toml::to_string(&table).expect("settings as TOML");
    let file = dir.path().join("dest.toml");
    std::fs::write(&file, toml).expect("write dest.toml");
    let plugin = plugin.display().to_string();
    let output = crate::cli::run(&file, &["plugins", "check", &plugin], "warn");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let marks = stdout
        .lines()
        .filter_map(|line| {
            let (mark, rest) = line.split_once(' ')?;
            let (id, _) = rest.split_once(": ")?;
            (["✓", "✗", "?", "-"].contains(&mark) && !id.contains(' '))
                .then(|| (id.to_string(), mark.to_string()))
        })
        .collect();
    Check { output, marks }
}

/// The settings of a JSON configuration string (as the server helpers return).
pub fn settings(config_json: &str) -> Value {
    serde_json::from_str(config_json).expect("config JSON")
}

//! The time to recover: how long a restore took, in words, and its record in the history
//! (`restores` rows for `restore` and `verify --restore`; drills keep theirs in their own
//! rows). The history is a record, never a gate: a restore that cannot be recorded says
//! so in the log and goes on.

use std::path::Path;

use crate::history::{History, NewRestore};

/// `42.1 s`, `3 min 05 s`, `1 h 02 min`.
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

/// Records a restore in the history of `state_dir` when there is one (a restore never
/// creates a history).
pub fn record(state_dir: &Path, restore: &NewRestore<'_>) {
    if !state_dir.join(crate::history::FILE_NAME).exists() {
        return;
    }
    match History::open(state_dir).and_then(|h| h.record_restore(restore)) {
        Ok(_) => {}
        Err(e) => tracing::warn!("the restore's time is not recorded: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        for (s, text) in [
            (0.0, "0.0 s"),
            (42.06, "42.1 s"),
            (59.96, "60.0 s"),
            (185.4, "3 min 05 s"),
            (3720.0, "1 h 02 min"),
        ] {
            assert_eq!(duration_text(s), text);
        }
    }
}

//! The contract points, one function each. A point that needs files uploads them under
//! the run's prefix; [`run_all`] removes them at the end.

use std::collections::BTreeMap;
use std::path::Path;

use sauvegarde_plugin_api::{ErrorKind, PluginError, RemoteFile};
use serde_json::{Map, Value};

use super::{secrets, Kit, Outcome, Variant, Verdict};
use crate::worker::WorkerDestination;

/// Identifier and title of every point, in the order they are run and printed.
pub const ALL: &[(&str, &str)] = &[
    ("test-connection", "test_connection answers"),
    (
        "round-trip-empty",
        "an empty file uploads and downloads byte-identical",
    ),
    (
        "round-trip-1-byte",
        "a 1-byte file uploads and downloads byte-identical",
    ),
    (
        "round-trip-multi-chunk",
        "a multi-chunk file uploads and downloads byte-identical",
    ),
    (
        "atomic-upload",
        "a file is never visible under its final name before its upload completes",
    ),
    ("replace", "an upload over an existing name replaces it"),
    (
        "no-replace",
        "an upload never replaces an existing remote file (upload_new, API 1.2)",
    ),
    ("list-sizes", "list shows each file's name and exact size"),
    (
        "absent-directory",
        "an absent remote directory is an empty list",
    ),
    ("delete-missing", "delete of a missing name is NotFound"),
    (
        "cancel",
        "cancelling through progress mid-upload returns Cancelled and leaves no file",
    ),
    ("progress", "progress is monotonic and ends at the total"),
    ("unicode-names", "names with unicode and spaces work"),
    (
        "wrong-credentials",
        "wrong credentials are Auth (not retried)",
    ),
    ("unreachable", "an unreachable host is Connect"),
    (
        "no-secrets",
        "secrets never appear in any error or log event",
    ),
];

pub(super) fn describe(e: &PluginError) -> String {
    format!("{} error: {}", e.kind(), e.message())
}

pub(super) fn no_progress() -> impl FnMut(u64, u64) -> bool {
    |_, _| true
}

/// Uploads `what` (`size` bytes), downloads it back and compares.
fn round_trip(kit: &Kit, d: &WorkerDestination, what: &str, size: u64) -> Verdict {
    round_trip_recording(kit, d, what, size, &mut Vec::new())
}

fn round_trip_recording(
    kit: &Kit,
    d: &WorkerDestination,
    what: &str,
    size: u64,
    progress: &mut Vec<(u64, u64)>,
) -> Verdict {
    let local = match kit.local_file(what, size, 0) {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("cannot write the local file: {e}")),
    };
    let name = kit.name(what);
    let mut record = |done, total| {
        progress.push((done, total));
        true
    };
    if let Err(e) = kit.note("upload", d.upload(&local, &name, &mut record)) {
        return Verdict::Fail(format!("upload of {size} bytes failed: {}", describe(&e)));
    }
    compare_download(kit, d, &name, &local, what)
}

/// Downloads `name` and compares it with `local`.
pub(super) fn compare_download(
    kit: &Kit,
    d: &WorkerDestination,
    name: &str,
    local: &Path,
    what: &str,
) -> Verdict {
    let down = kit.download_path(what);
    let _ = std::fs::remove_file(&down);
    if let Err(e) = kit.note("download", d.download(name, &down, &mut no_progress())) {
        return Verdict::Fail(format!("download failed: {}", describe(&e)));
    }
    let (sent, got) = match (std::fs::read(local), std::fs::read(&down)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Verdict::Fail(format!("cannot read the files back: {e}"))
        }
    };
    let _ = std::fs::remove_file(&down);
    if sent == got {
        Verdict::Pass(format!("{} bytes read back identical", sent.len()))
    } else {
        let at = sent
            .iter()
            .zip(&got)
            .position(|(a, b)| a != b)
            .unwrap_or(sent.len().min(got.len()));
        Verdict::Fail(format!(
            "downloaded {} bytes for {} uploaded; first difference at byte {at}",
            got.len(),
            sent.len()
        ))
    }
}

/// Point `test-connection`.
pub fn test_connection(kit: &Kit, d: &WorkerDestination) -> Verdict {
    match kit.note("test_connection", d.test_connection()) {
        Ok(text) => {
            kit.seen()
                .push("the answer of test_connection", text.clone());
            Verdict::Pass(format!("answered: {text}"))
        }
        Err(e) => Verdict::Fail(describe(&e)),
    }
}

/// Stops (SIGSTOP) or resumes (SIGCONT) a worker's process group.
pub(super) fn signal_group(pid: u32, signal: i32) {
    // SAFETY: kill(2) on the process group of a worker this process started.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// Point `atomic-upload`: the first progress report before the end pauses the uploading
/// worker (SIGSTOP) while a second worker, with its own connection, lists the directory.
pub fn atomic_upload(kit: &Kit, d: &WorkerDestination, size: u64) -> Verdict {
    let watcher = match kit.open(None) {
        Ok(w) => w,
        Err(e) => {
            return Verdict::Fail(format!("cannot open a second connection: {}", describe(&e)))
        }
    };
    let local = match kit.local_file("atomic", size, 1) {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("cannot write the local file: {e}")),
    };
    let name = kit.name("atomic.zip");
    let mut seen: Option<(u64, Result<Vec<RemoteFile>, PluginError>)> = None;
    let mut pause = |done: u64, total: u64| {
        if seen.is_none() && done < total {
            if let Some(pid) = d.worker_pid() {
                signal_group(pid, libc::SIGSTOP);
                let listed = kit.note("list", watcher.list());
                signal_group(pid, libc::SIGCONT);
                seen = Some((done, listed));
            }
        }
        true
    };
    let uploaded = kit.note("upload", d.upload(&local, &name, &mut pause));
    if let Err(e) = uploaded {
        return Verdict::Fail(format!("upload failed: {}", describe(&e)));
    }
    match seen {
        None => Verdict::NotChecked(format!(
            "the plugin reported no progress before the end of a {size}-byte upload, so it could not be paused mid-way (raise [conformance] large_file_bytes)"
        )),
        Some((_, Err(e))) => Verdict::Fail(format!(
            "a second connection could not list during the upload: {}",
            describe(&e)
        )),
        Some((done, Ok(files))) => match files.iter().find(|f| f.name() == name) {
            None => Verdict::Pass(format!(
                "paused at {done} of {size} bytes, a second connection listed {} files, not the final name",
                files.len()
            )),
            Some(f) if f.size() != size => Verdict::Fail(format!(
                "paused at {done} of {size} bytes, a second connection saw `{name}` with {} bytes",
                f.size()
            )),
            Some(_) => Verdict::Pass(format!(
                "paused after {done} of {size} bytes reported, the final name was already complete (the upload may have finished before the pause)"
            )),
        },
    }
}

/// Point `replace`.
pub fn replace(kit: &Kit, d: &WorkerDestination) -> Verdict {
    let name = kit.name("replace.zip");
    let first = kit.local_file("replace-1", 3000, 2);
    let second = kit.local_file("replace-2", 1700, 3);
    let (first, second) = match (first, second) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Verdict::Fail(format!("cannot write the local files: {e}"))
        }
    };
    for (n, local) in [(1, &first), (2, &second)] {
        if let Err(e) = kit.note("upload", d.upload(local, &name, &mut no_progress())) {
            return Verdict::Fail(format!("upload #{n} failed: {}", describe(&e)));
        }
    }
    let listed = match kit.own_files(d) {
        Ok(files) => files
            .into_iter()
            .filter(|f| f.name() == name)
            .collect::<Vec<_>>(),
        Err(e) => return Verdict::Fail(format!("list failed: {}", describe(&e))),
    };
    if listed.len() != 1 || listed[0].size() != 1700 {
        let sizes: Vec<u64> = listed.iter().map(RemoteFile::size).collect();
        return Verdict::Fail(format!(
            "after uploading 3000 then 1700 bytes, list shows sizes {sizes:?}"
        ));
    }
    match compare_download(kit, d, &name, &second, "replace") {
        Verdict::Pass(_) => {
            Verdict::Pass("the second upload (1700 bytes) replaced the first (3000)".into())
        }
        other => other,
    }
}

/// Point `list-sizes`: every file uploaded so far, by name and size.
pub fn list_sizes(kit: &Kit, d: &WorkerDestination, expected: &[(String, u64)]) -> Verdict {
    let files = match kit.own_files(d) {
        Ok(f) => f,
        Err(e) => return Verdict::Fail(format!("list failed: {}", describe(&e))),
    };
    let listed: BTreeMap<&str, Vec<u64>> = files.iter().fold(BTreeMap::new(), |mut m, f| {
        m.entry(f.name()).or_default().push(f.size());
        m
    });
    for (name, size) in expected {
        match listed.get(name.as_str()).map(Vec::as_slice) {
            None => return Verdict::Fail(format!("`{name}` is not listed")),
            Some([s]) if s == size => {}
            Some(sizes) => {
                return Verdict::Fail(format!(
                    "`{name}` ({size} bytes) is listed with sizes {sizes:?}"
                ))
            }
        }
    }
    Verdict::Pass(format!(
        "{} files listed with their exact sizes",
        expected.len()
    ))
}

fn variant_missing(key: &str, example: &str) -> Verdict {
    Verdict::NotChecked(format!(
        "add `[conformance] {key} = {example}` to the configuration (or `{key} = false` when it does not apply)"
    ))
}

/// Point `absent-directory`.
pub fn absent_directory(kit: &Kit) -> Verdict {
    let overrides = match &kit.config().absent_directory {
        Variant::Missing => {
            return variant_missing(
                "absent_directory",
                "{ <directory key> = \"/a/directory/that/does/not/exist\" }",
            )
        }
        Variant::NotApplicable => {
            return Verdict::NotApplicable(
                "the configuration says the destination has no remote directory".into(),
            )
        }
        Variant::Overrides(o) => o,
    };
    let d = match kit.open(Some(overrides)) {
        Ok(d) => d,
        Err(e) => return Verdict::Fail(format!("opening it failed: {}", describe(&e))),
    };
    match kit.note("list", d.list()) {
        Ok(files) if files.is_empty() => Verdict::Pass("list answered an empty list".into()),
        Ok(files) => Verdict::Fail(format!("list answered {} files", files.len())),
        Err(e) => Verdict::Fail(format!("list failed: {}", describe(&e))),
    }
}

/// Point `delete-missing`.
pub fn delete_missing(kit: &Kit, d: &WorkerDestination) -> Verdict {
    match kit.note("delete", d.delete(&kit.name("never-uploaded.zip"))) {
        Ok(()) => Verdict::Fail("delete of a name that does not exist succeeded".into()),
        Err(e) if e.kind() == ErrorKind::NotFound => Verdict::Pass(describe(&e)),
        Err(e) => Verdict::Fail(format!("expected a not_found error, got {}", describe(&e))),
    }
}

/// Point `cancel`: the progress callback says stop at its first report.
pub fn cancel(kit: &Kit, d: &WorkerDestination, size: u64) -> Verdict {
    let local = match kit.local_file("cancel", size, 4) {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("cannot write the local file: {e}")),
    };
    let before = match kit.own_files(d) {
        Ok(f) => f
            .into_iter()
            .map(|f| f.name().to_string())
            .collect::<Vec<_>>(),
        Err(e) => return Verdict::Fail(format!("list failed: {}", describe(&e))),
    };
    let name = kit.name("cancel.zip");
    let mut at = None;
    let mut stop = |done: u64, total: u64| {
        if (done, total) == (0, 0) {
            // The host's poll before the plugin's first report.
            return true;
        }
        at.get_or_insert(done);
        false
    };
    let result = kit.note("upload", d.upload(&local, &name, &mut stop));
    let killed =
        crate::worker::process::Failure::Cancelled.into_error(kit.kind(), &kit.plugin, "upload");
    let verdict = match &result {
        Ok(()) => Verdict::Fail(format!(
            "the upload succeeded although progress said stop at {} bytes",
            at.unwrap_or(0)
        )),
        Err(e) if e == &killed => Verdict::Fail(
            "the plugin did not return after the cancellation; its worker had to be killed".into(),
        ),
        Err(e) if e.kind() != ErrorKind::Cancelled => {
            Verdict::Fail(format!("expected a cancelled error, got {}", describe(e)))
        }
        Err(e) => Verdict::Pass(describe(e)),
    };
    let after = match kit.own_files(d) {
        Ok(f) => f,
        Err(e) => {
            return Verdict::Fail(format!(
                "list after the cancellation failed: {}",
                describe(&e)
            ))
        }
    };
    let new: Vec<String> = after
        .iter()
        .map(|f| f.name().to_string())
        .filter(|n| !before.contains(n))
        .collect();
    match verdict {
        Verdict::Pass(text) if new.is_empty() => {
            Verdict::Pass(format!("{text}; nothing new listed"))
        }
        Verdict::Pass(_) => {
            Verdict::Fail(format!("returned cancelled but left {}", new.join(", ")))
        }
        other => other,
    }
}

/// Point `progress`, from the reports of the multi-chunk upload.
pub fn progress(reports: &[(u64, u64)], size: u64) -> Verdict {
    // Before the plugin's first report, the host asks the callback with (0, 0) every
    // 100 ms (to see a cancellation): not the plugin's figures.
    let reports: Vec<(u64, u64)> = reports.iter().copied().filter(|r| *r != (0, 0)).collect();
    let Some(&(last_done, _)) = reports.last() else {
        return Verdict::Fail(format!("no progress reported for a {size}-byte upload"));
    };
    if let Some((d, t)) = reports.iter().find(|(_, t)| *t != size) {
        return Verdict::Fail(format!("reported {d} of {t} bytes for a {size}-byte file"));
    }
    if let Some(w) = reports.windows(2).find(|w| w[1].0 < w[0].0) {
        return Verdict::Fail(format!("went back from {} to {} bytes", w[0].0, w[1].0));
    }
    if last_done != size {
        return Verdict::Fail(format!("ended at {last_done} of {size} bytes"));
    }
    Verdict::Pass(format!(
        "{} reports, ending at {size} of {size}",
        reports.len()
    ))
}

/// Point `unicode-names`.
pub fn unicode_names(kit: &Kit, d: &WorkerDestination) -> Verdict {
    let what = "rapport d'été 日本 ü.zip";
    let name = kit.name(what);
    let local = match kit.local_file("unicode", 777, 5) {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("cannot write the local file: {e}")),
    };
    if let Err(e) = kit.note("upload", d.upload(&local, &name, &mut no_progress())) {
        return Verdict::Fail(format!("upload of `{name}` failed: {}", describe(&e)));
    }
    match kit.own_files(d) {
        Ok(files) if files.iter().any(|f| f.name() == name && f.size() == 777) => {}
        Ok(files) => {
            let names: Vec<&str> = files.iter().map(RemoteFile::name).collect();
            return Verdict::Fail(format!(
                "`{name}` (777 bytes) is not listed; listed: {names:?}"
            ));
        }
        Err(e) => return Verdict::Fail(format!("list failed: {}", describe(&e))),
    }
    if let v @ Verdict::Fail(_) = compare_download(kit, d, &name, &local, "unicode") {
        return v;
    }
    if let Err(e) = kit.note("delete", d.delete(&name)) {
        return Verdict::Fail(format!("delete of `{name}` failed: {}", describe(&e)));
    }
    Verdict::Pass(format!("`{what}` uploaded, listed, read back and deleted"))
}

/// Points `wrong-credentials` and `unreachable`: opening the destination with
/// `overrides`, or else its test_connection, must fail with `kind`.
fn failing_variant(kit: &Kit, overrides: &Map<String, Value>, kind: ErrorKind) -> Verdict {
    let result = kit
        .open(Some(overrides))
        .and_then(|d| kit.note("test_connection", d.test_connection()));
    match result {
        Ok(text) => Verdict::Fail(format!("test_connection succeeded: {text}")),
        Err(e) if e.kind() == kind => Verdict::Pass(describe(&e)),
        Err(e) => Verdict::Fail(format!("expected a {kind} error, got {}", describe(&e))),
    }
}

/// Point `wrong-credentials`.
pub fn wrong_credentials(kit: &Kit) -> Verdict {
    match &kit.config().wrong_credentials {
        Variant::Missing => {
            variant_missing("wrong_credentials", "{ password = \"wrong-password\" }")
        }
        Variant::NotApplicable => Verdict::NotApplicable(
            "the configuration says the destination has no credentials".into(),
        ),
        Variant::Overrides(o) => match failing_variant(kit, o, ErrorKind::Auth) {
            Verdict::Pass(text) => Verdict::Pass(format!("{text} (the host does not retry it)")),
            other => other,
        },
    }
}

/// Point `unreachable`.
pub fn unreachable(kit: &Kit) -> Verdict {
    match &kit.config().unreachable {
        Variant::Missing => variant_missing("unreachable", "{ port = 1 }"),
        Variant::NotApplicable => Verdict::NotApplicable(
            "the configuration says the destination has no host to reach".into(),
        ),
        Variant::Overrides(o) => failing_variant(kit, o, ErrorKind::Connect),
    }
}

/// Runs every point in order; returns the outcomes and the remote files of this run that
/// could not be removed.
pub fn run_all(kit: &Kit) -> (Vec<Outcome>, Vec<String>) {
    let size = kit.config().large_file_bytes;
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(ALL.len());
    let main = kit.open(None);
    match &main {
        Ok(d) => {
            let mut reports = Vec::new();
            verdicts.push(test_connection(kit, d));
            verdicts.push(round_trip(kit, d, "empty.zip", 0));
            verdicts.push(round_trip(kit, d, "one-byte.zip", 1));
            verdicts.push(round_trip_recording(
                kit,
                d,
                "multi-chunk.zip",
                size,
                &mut reports,
            ));
            verdicts.push(atomic_upload(kit, d, size));
            verdicts.push(replace(kit, d));
            verdicts.push(super::no_replace::check(kit, d, size));
            let expected = [
                (kit.name("empty.zip"), 0),
                (kit.name("one-byte.zip"), 1),
                (kit.name("multi-chunk.zip"), size),
            ];
            verdicts.push(list_sizes(kit, d, &expected));
            verdicts.push(absent_directory(kit));
            verdicts.push(delete_missing(kit, d));
            verdicts.push(cancel(kit, d, size));
            verdicts.push(progress(&reports, size));
            verdicts.push(unicode_names(kit, d));
        }
        Err(e) => {
            verdicts.push(Verdict::Fail(format!(
                "the destination could not be opened: {}",
                describe(e)
            )));
            while verdicts.len() < ALL.len() - 3 {
                verdicts.push(Verdict::Fail(
                    "not run: the destination could not be opened".into(),
                ));
            }
        }
    }
    verdicts.push(wrong_credentials(kit));
    verdicts.push(unreachable(kit));
    let left_behind = match &main {
        Ok(d) => clean_up(kit, d),
        Err(_) => Vec::new(),
    };
    verdicts.push(secrets::check(kit));
    let outcomes = ALL
        .iter()
        .zip(verdicts)
        .map(|(&(id, title), verdict)| Outcome { id, title, verdict })
        .collect();
    (outcomes, left_behind)
}

/// Deletes every listed file of this run; returns those that remain.
fn clean_up(kit: &Kit, d: &WorkerDestination) -> Vec<String> {
    let Ok(files) = kit.own_files(d) else {
        return vec![format!("{}*", kit.name(""))];
    };
    let mut left = Vec::new();
    for f in files {
        if kit.note("delete", d.delete(f.name())).is_err() {
            left.push(f.name().to_string());
        }
    }
    left
}

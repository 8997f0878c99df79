//! Point `no-replace`: an upload never replaces an existing remote file (plugin API 1.2,
//! `upload_new`).
//!
//! Two cases, both with different bytes under the same name:
//! 1. the name exists before the upload: `upload_new` answers "name taken";
//! 2. the name appears during the upload: at the first progress report the uploading
//!    worker is paused (SIGSTOP), a second worker, on its own connection, uploads another
//!    file under that name, and the upload is resumed. It must still answer "name taken":
//!    the destination's own refusal at the rename or commit decides, not a check made
//!    before.
//!
//! In both, the file first stored must come back byte-identical, and the temporary file
//! the upload was given must be gone. A plugin without `upload_new` (built against API 1.0
//! or 1.1, or not implementing it) does not have the point: the host then looks for the
//! name before uploading, and says that a race remains.

use sauvegarde_plugin_api::NewUpload;

use super::points::{compare_download, describe, no_progress, signal_group};
use super::{Kit, Verdict};
use crate::worker::WorkerDestination;

/// Bytes of the file stored first.
const FIRST_SIZE: u64 = 3000;

/// Checks that `upload_new` of different bytes under a taken name stores nothing.
fn refused(
    kit: &Kit,
    d: &WorkerDestination,
    name: &str,
    first: &std::path::Path,
    temp: &str,
    outcome: Result<NewUpload, sauvegarde_plugin_api::PluginError>,
) -> Result<(), Verdict> {
    match kit.note("upload_new", outcome) {
        Ok(NewUpload::NameTaken) => {}
        Ok(NewUpload::Stored) => {
            return Err(Verdict::Fail(format!(
                "upload_new of other bytes under the existing `{name}` answered stored"
            )))
        }
        Err(e) => {
            return Err(Verdict::Fail(format!(
                "upload_new under the existing `{name}` failed instead of answering name taken: {}",
                describe(&e)
            )))
        }
    }
    let files = kit
        .own_files(d)
        .map_err(|e| Verdict::Fail(format!("list failed: {}", describe(&e))))?;
    if files.iter().any(|f| f.name() == temp) {
        return Err(Verdict::Fail(format!(
            "the refused upload left its temporary file `{temp}`"
        )));
    }
    match compare_download(kit, d, name, first, "no-replace") {
        Verdict::Pass(_) => Ok(()),
        Verdict::Fail(why) => Err(Verdict::Fail(format!(
            "the file first stored as `{name}` did not survive: {why}"
        ))),
        other => Err(other),
    }
}

/// Point `no-replace`.
pub fn check(kit: &Kit, d: &WorkerDestination, size: u64) -> Verdict {
    if !d.has_upload_new() {
        return Verdict::NotApplicable(
            "the plugin has no no-replace upload (upload_new, plugin API 1.2): the host looks for a name before uploading it, and a file another server creates in that instant could be replaced".into(),
        );
    }
    let files = (
        kit.local_file("no-replace-1", FIRST_SIZE, 6),
        kit.local_file("no-replace-2", size, 7),
    );
    let (first, second) = match files {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Verdict::Fail(format!("cannot write the local files: {e}"))
        }
    };
    // 1. The name exists before the upload.
    let name = kit.name("no-replace.zip");
    let temp = kit.name("no-replace.zip.kit-1.partial");
    match kit.note(
        "upload_new",
        d.upload_new(&first, &name, &temp, &mut no_progress()),
    ) {
        Ok(NewUpload::Stored) => {}
        Ok(NewUpload::NameTaken) => {
            return Verdict::Fail(format!(
                "upload_new of the new name `{name}` answered name taken"
            ))
        }
        Err(e) => return Verdict::Fail(format!("upload_new failed: {}", describe(&e))),
    }
    let temp = kit.name("no-replace.zip.kit-2.partial");
    let outcome = d.upload_new(&second, &name, &temp, &mut no_progress());
    if let Err(v) = refused(kit, d, &name, &first, &temp, outcome) {
        return v;
    }
    // 2. The name appears during the upload. The upload runs in a worker of its own (its
    // first progress report always reaches the host), the main one is the other client.
    let (uploader, watcher) = match kit.open(None) {
        Ok(w) => (w, d),
        Err(e) => {
            return Verdict::Fail(format!("cannot open a second connection: {}", describe(&e)))
        }
    };
    let name = kit.name("no-replace-race.zip");
    let temp = kit.name("no-replace-race.zip.kit-3.partial");
    let mut raced = None;
    // At the plugin's first report (the host's own polls before it are (0, 0)): past the
    // plugin's look at the name, before its rename or commit.
    let mut race = |done: u64, total: u64| {
        if raced.is_none() && total > 0 && done < total {
            if let Some(pid) = uploader.worker_pid() {
                signal_group(pid, libc::SIGSTOP);
                raced = Some(kit.note("upload", watcher.upload(&first, &name, &mut no_progress())));
                signal_group(pid, libc::SIGCONT);
            }
        }
        true
    };
    let outcome = uploader.upload_new(&second, &name, &temp, &mut race);
    match raced {
        None => Verdict::NotChecked(format!(
            "a name taken before the upload was refused; the race could not be staged: the plugin reported no progress before the end of a {size}-byte upload (raise [conformance] large_file_bytes)"
        )),
        Some(Err(e)) => Verdict::Fail(format!(
            "a second connection could not upload during the upload: {}",
            describe(&e)
        )),
        Some(Ok(())) => match refused(kit, d, &name, &first, &temp, outcome) {
            Ok(()) => Verdict::Pass(
                "a name taken before the upload, and one taken by another connection during it, were refused; the files stored first came back intact".into(),
            ),
            Err(v) => v,
        },
    }
}

//! Verifying an age-encrypted archive. With an identity the archive is decrypted into a
//! private file under `state_dir` first ([`crate::crypt::decrypt_to_temp`], by the command) and every
//! check runs on it; the SHA-256 compared with the history is the encrypted file's. Without
//! one, only what needs no key is checked (the age header, the recorded SHA-256), and the
//! report says which checks could not run.

use std::path::Path;

use super::{checks, Status, VerifyError, VerifyOptions, VerifyReport};

/// The checks that need the plaintext, named in the report when they cannot run.
const NEEDS_IDENTITY: &str = "ZIP structure, CRC-32 of every entry, dump completeness, manifest and row counts (or pg_restore's reading of a .dump)";

/// Verifies the encrypted archive at `path` without its plaintext: the age header and the
/// SHA-256 recorded in the history. `decrypt_failure` is why decryption with the given
/// identity failed (a failed check), `None` when no identity was given (skipped checks).
pub fn verify_without_plaintext(
    path: &Path,
    options: &VerifyOptions<'_>,
    decrypt_failure: Option<String>,
) -> Result<VerifyReport, VerifyError> {
    let open_err = |source| VerifyError::Open {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(open_err)?.len();
    let mut report = VerifyReport::new(path.to_path_buf(), size);
    report.encrypted = true;
    match crate::crypt::check_header(path) {
        Ok(()) => report.push("age", Status::Ok, "age header readable (encrypted archive)"),
        Err(e) => report.push("age", Status::Failed, e.to_string()),
    }
    match decrypt_failure {
        Some(why) => report.push("decrypt", Status::Failed, why),
        None => report.push(
            "decrypt",
            Status::Skipped,
            format!("encrypted archive and no --identity: not checked: {NEEDS_IDENTITY}"),
        ),
    }
    checks::sha256(&mut report, path, options.history);
    Ok(report)
}

/// Turns the report on the decrypted copy into the report on the encrypted `path`: its name
/// and size, with the age checks first.
pub fn as_encrypted(mut inner: VerifyReport, path: &Path, plaintext_bytes: u64) -> VerifyReport {
    let mut first = VerifyReport::new(path.to_path_buf(), 0);
    first.push("age", Status::Ok, "age header readable (encrypted archive)");
    first.push(
        "decrypt",
        Status::Ok,
        format!("decrypted and authenticated ({plaintext_bytes} bytes of plaintext, in a private directory under state_dir)"),
    );
    first.checks.append(&mut inner.checks);
    inner.checks = first.checks;
    inner.size = std::fs::metadata(path).map_or(inner.size, |m| m.len());
    inner.archive = path.to_path_buf();
    inner.encrypted = true;
    inner
}

//! age keys for the encryption tests, made by the reference tool (Debian's `age`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::text;

/// An age X25519 key pair made by `age-keygen` in `dir`: (identity file, recipient).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("run age-keygen (Debian package age)");
    assert!(out.status.success(), "{}", text(&out));
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .expect("run age-keygen -y");
    assert!(out.status.success(), "{}", text(&out));
    (key, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The entries of `<state_dir>/decrypt` (where `verify`, `restore` and drills decrypt),
/// sorted; empty when it does not exist.
pub fn decrypted_copies(state_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir.join("decrypt"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

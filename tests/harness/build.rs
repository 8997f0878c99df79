//! Builds the workspace (host binary and plugin `.so` files) once per test process and
//! says where the artifacts are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Paths of the built workspace artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// `target/<profile>` directory.
    pub dir: PathBuf,
}

impl Artifacts {
    /// The `sauvegarde` host binary.
    pub fn host_bin(&self) -> PathBuf {
        self.dir.join("sauvegarde")
    }

    /// Another binary of the workspace, by name.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The shared library of a workspace plugin, e.g. `plugin("sftp")` for
    /// `libsauvegarde_sftp.so`.
    pub fn plugin(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("libsauvegarde_{kind}.so"))
    }
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent")
        .to_path_buf()
}

/// `cargo`, without the variables cargo sets for the test process itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*` …): a build script that watches one of them (ring's
/// watches `CARGO_MANIFEST_DIR`) would otherwise see it change and rebuild its crate and
/// everything above it, once under the test runner's build and once under this one.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo = matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
        ) || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_");
        if set_by_cargo {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs `cargo build --workspace --all-targets` (debug) once per process and returns the artifacts. Tests
/// run as separate processes under nextest; cargo's own lock serialises concurrent builds
/// and a build with nothing to do takes a fraction of a second.
pub fn artifacts() -> Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = cargo()
                // `--all-targets`, as nextest builds: the same features for every
                // dependency, so this build and the tests' never undo each other's.
                .args(["build", "--workspace", "--all-targets", "--quiet"])
                .current_dir(workspace_root())
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build --workspace failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            Artifacts {
                dir: target.join("debug"),
            }
        })
        .clone()
}

/// Builds a Cargo project on its own (not as a workspace member, as a third party
/// would) into `target/out-of-tree` and returns its cdylib `lib<lib_name>.so`.
pub fn build_out_of_tree(manifest_dir: &Path, lib_name: &str) -> PathBuf {
    let target = workspace_root().join("target/out-of-tree");
    let status = cargo()
        .args(["build", "--quiet", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "building {} failed",
        manifest_dir.display()
    );
    target.join("debug").join(format!("lib{lib_name}.so"))
}

//! Discovering plugins cannot crash the host: files are read by worker processes, a file
//! that kills its worker (a truncated copy) is refused with the signal named, untrusted
//! files and directories are refused before they are opened, and every skipped entry is
//! listed with why. Through the real `sauvegarde plugins`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sauvegarde_tests::build::artifacts;
use serde_json::Value;

fn write_config(dir: &Path, plugin_dirs: &[&Path]) -> PathBuf {
    let config = dir.join("sauvegarde.toml");
    let dirs: Vec<String> = plugin_dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\nplugin_dirs = [{}]\n",
            dir.join("state"),
            dirs.join(", ")
        ),
    )
    .unwrap();
    config
}

fn plugins(config: &Path, json: bool) -> (i32, String) {
    let mut c = Command::new(artifacts().host_bin());
    c.args(["--config", config.to_str().unwrap(), "plugins"]);
    if json {
        c.arg("--json");
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn plugins_json(config: &Path) -> Value {
    let out = Command::new(artifacts().host_bin())
        .args(["--config", config.to_str().unwrap(), "plugins", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn loaded_from(json: &Value, dir: &Path) -> Vec<String> {
    let mut kinds: Vec<String> = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["file"]
                .as_str()
                .unwrap()
                .starts_with(dir.to_str().unwrap())
        })
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds
}

fn reason(json: &Value, file: &Path) -> String {
    json["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["file"].as_str() == file.to_str())
        .unwrap_or_else(|| panic!("{} not refused: {json:#}", file.display()))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

fn truncated_copy(source: &Path, to: &Path, len: usize) {
    let bytes = std::fs::read(source).unwrap();
    std::fs::write(to, &bytes[..len.min(bytes.len())]).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_truncated_plugin_copy_is_refused_while_the_others_load() {
    let a = artifacts();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(a.plugin("ftp"), d.join("libsauvegarde_ftp.so")).unwrap();
    std::fs::copy(a.plugin("test_plugin"), d.join("libprobe.so")).unwrap();
    truncated_copy(&a.plugin("sftp"), &d.join("libcut_100k.so"), 100 * 1024);
    truncated_copy(&a.plugin("sftp"), &d.join("libcut_1m.so"), 1024 * 1024);
    let work = tempfile::tempdir().unwrap();
    let json = plugins_json(&write_config(work.path(), &[d]));
    assert_eq!(loaded_from(&json, d), ["ftp", "test-probe"], "{json:#}");
    for cut in ["libcut_100k.so", "libcut_1m.so"] {
        let why = reason(&json, &d.join(cut));
        assert!(!why.is_empty(), "{cut}");
        eprintln!("{cut}: {why}");
    }
}

#[test]
fn a_file_that_kills_its_worker_is_refused_with_the_signal_named() {
    // A library whose constructor segfaults stands for any file that crashes the loader
    // (a truncated copy: SIGBUS): built here with the system C compiler.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = d.join("boom.c");
    std::fs::write(
        &source,
        "__attribute__((constructor)) static void boom(void) { *(volatile int *)16 = 1; }\n",
    )
    .unwrap();
    let plugins_dir = d.join("plugins");
    std::fs::create_dir(&plugins_dir).unwrap();
    let lib = plugins_dir.join("libboom.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&source)
        .status()
        .expect("run cc");
    assert!(status.success());
    std::fs::copy(
        artifacts().plugin("ftp"),
        plugins_dir.join("libsauvegarde_ftp.so"),
    )
    .unwrap();
    let json = plugins_json(&write_config(d, &[&plugins_dir]));
    assert_eq!(loaded_from(&json, &plugins_dir), ["ftp"], "{json:#}");
    assert_eq!(
        reason(&json, &lib),
        "loading it killed the worker: signal 11 (SIGSEGV)"
    );
}

#[test]
fn untrusted_plugin_files_and_directories_are_refused_before_they_are_opened() {
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata("/proc/self").unwrap().uid(),
        0,
        "the trust rules apply to a host running as root; run the tests as root"
    );
    let a = artifacts();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = d.join("ok");
    let open = d.join("open");
    std::fs::create_dir(&ok).unwrap();
    std::fs::create_dir(&open).unwrap();
    std::fs::copy(a.plugin("ftp"), ok.join("libsauvegarde_ftp.so")).unwrap();
    // Group-writable: refused even though it would crash the worker if opened.
    let group_writable = ok.join("libgroup.so");
    truncated_copy(&a.plugin("sftp"), &group_writable, 100 * 1024);
    std::fs::set_permissions(&group_writable, std::fs::Permissions::from_mode(0o775)).unwrap();
    let foreign = ok.join("libforeign.so");
    std::fs::copy(a.plugin("dropbox"), &foreign).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), None).unwrap();
    // A world-writable directory: nothing in it is used.
    std::fs::copy(a.plugin("test_plugin"), open.join("libprobe.so")).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();

    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &[&ok, &open]);
    let json = plugins_json(&config);
    assert_eq!(loaded_from(&json, &ok), ["ftp"], "{json:#}");
    assert!(loaded_from(&json, &open).is_empty(), "{json:#}");
    let why = reason(&json, &group_writable);
    assert!(
        why.starts_with("not trusted: the file is writable by its group (mode 0775"),
        "{why}"
    );
    let why = reason(&json, &foreign);
    assert!(
        why.starts_with("not trusted: the file is owned by uid 65534, not root"),
        "{why}"
    );
    let why = reason(&json, &open);
    assert!(
        why.starts_with("not trusted: the plugin directory is writable by its group and others"),
        "{why}"
    );
    let (code, human) = plugins(&config, false);
    assert_eq!(code, 0);
    assert!(
        human.contains(&format!(
            "refused: {}: not trusted",
            group_writable.display()
        )),
        "{human}"
    );
}

#[test]
fn every_skipped_entry_is_listed_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(artifacts().plugin("ftp"), d.join("libsauvegarde_ftp.so")).unwrap();
    std::os::unix::fs::symlink(d.join("gone.so"), d.join("libdangling.so")).unwrap();
    std::os::unix::fs::symlink(d.join("libloop2.so"), d.join("libloop1.so")).unwrap();
    std::os::unix::fs::symlink(d.join("libloop1.so"), d.join("libloop2.so")).unwrap();
    std::fs::create_dir(d.join("x.so")).unwrap();
    let status = Command::new("mkfifo")
        .arg(d.join("libfifo.so"))
        .status()
        .unwrap();
    assert!(status.success());
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &[d]);
    let json = plugins_json(&config);
    assert_eq!(loaded_from(&json, d), ["ftp"], "{json:#}");
    assert!(reason(&json, &d.join("libdangling.so")).contains("dangling symbolic link"));
    assert!(reason(&json, &d.join("libloop1.so")).contains("symbolic link loop"));
    assert!(reason(&json, &d.join("libloop2.so")).contains("symbolic link loop"));
    assert!(reason(&json, &d.join("x.so")).contains("a directory"));
    assert!(reason(&json, &d.join("libfifo.so")).contains("FIFO"));
    let (code, human) = plugins(&config, false);
    assert_eq!(code, 0);
    assert!(
        human.contains("libdangling.so: skipped: dangling symbolic link"),
        "{human}"
    );
}

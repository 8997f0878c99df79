//! The plugin boundary: discovery through the real host binary, refused files, panics
//! caught at the boundary, and plugin log events reaching the host's subscriber.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use sauvegarde::plugins::PluginRegistry;
use sauvegarde_plugin_api::{host::LoadedPlugin, ErrorKind};
use sauvegarde_tests::build::artifacts;
use serde_json::Value;

fn plugin_dir_with(files: &[(&str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in files {
        std::fs::copy(source, dir.path().join(name)).unwrap();
    }
    dir
}

fn write_config(dir: &Path, plugin_dir: &Path) -> PathBuf {
    let config = dir.join("sauvegarde.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\nplugin_dirs = [{:?}]\n",
            dir.join("state"),
            plugin_dir.display().to_string()
        ),
    )
    .unwrap();
    config
}

fn plugins_json(config: &Path) -> (i32, Value) {
    let out = Command::new(artifacts().host_bin())
        .args(["--config", config.to_str().unwrap(), "plugins", "--json"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn refused_reason(json: &Value, file_name: &str) -> String {
    json["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["file"].as_str().unwrap().ends_with(file_name))
        .unwrap_or_else(|| panic!("{file_name} not refused: {json:#}"))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn host_lists_the_three_plugins_and_refuses_junk() {
    let a = artifacts();
    let (sftp, ftp, dropbox) = (a.plugin("sftp"), a.plugin("ftp"), a.plugin("dropbox"));
    let plugins = plugin_dir_with(&[
        ("libsauvegarde_sftp.so", &sftp),
        ("libsauvegarde_ftp.so", &ftp),
        ("libsauvegarde_dropbox.so", &dropbox),
        ("libzz_second_sftp.so", &sftp),
    ]);
    std::fs::write(
        plugins.path().join("libjunk.so"),
        b"\x7fELF not really a library",
    )
    .unwrap();
    std::fs::write(plugins.path().join("README.txt"), "plugins go here\n").unwrap();
    let zlib = Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1");
    let zlib = if zlib.exists() {
        zlib
    } else {
        Path::new("/lib/x86_64-linux-gnu/libz.so.1")
    };
    std::fs::copy(zlib, plugins.path().join("libz.so")).unwrap();

    let work = tempfile::tempdir().unwrap();
    let (code, json) = plugins_json(&write_config(work.path(), plugins.path()));
    assert_eq!(code, 0, "{json:#}");

    let loaded: Vec<(&str, &str)> = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["file"].as_str().unwrap()))
        .collect();
    for kind in ["sftp", "ftp", "dropbox"] {
        let (_, file) = loaded
            .iter()
            .find(|(k, _)| *k == kind)
            .unwrap_or_else(|| panic!("{kind} missing: {json:#}"));
        assert!(
            file.starts_with(plugins.path().to_str().unwrap()),
            "{kind} from {file}"
        );
    }
    for p in json["plugins"].as_array().unwrap() {
        assert!(!p["version"].as_str().unwrap().is_empty());
    }

    assert!(refused_reason(&json, "libjunk.so").contains("not a loadable shared library"));
    assert!(refused_reason(&json, "README.txt").contains("not a shared library"));
    assert!(refused_reason(&json, "libz.so").contains("not a sauvegarde plugin"));
    let dup = refused_reason(&json, "libzz_second_sftp.so");
    assert!(
        dup.contains("`sftp` is already provided by") && dup.contains("libsauvegarde_sftp.so"),
        "{dup}"
    );
}

#[test]
fn human_listing_names_refused_files() {
    let plugins = plugin_dir_with(&[("libsauvegarde_ftp.so", &artifacts().plugin("ftp"))]);
    std::fs::write(plugins.path().join("libjunk.so"), b"junk").unwrap();
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), plugins.path());
    let out = Command::new(artifacts().host_bin())
        .args(["--config", config.to_str().unwrap(), "plugins"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ftp") && text.contains("refused:") && text.contains("libjunk.so"),
        "{text}"
    );
}

fn probe() -> LoadedPlugin {
    LoadedPlugin::load(&artifacts().plugin("test_plugin")).expect("load test-probe plugin")
}

#[test]
fn panics_in_plugin_methods_become_errors() {
    let plugin = probe();
    assert_eq!(plugin.kind(), "test-probe");
    for op in ["test_connection", "list", "delete", "upload", "download"] {
        let dest = plugin
            .new_destination(&format!(r#"{{"panic_in":"{op}"}}"#))
            .unwrap();
        let file = std::env::temp_dir().join("sauvegarde-probe-does-not-exist");
        let err = match op {
            "test_connection" => dest.test_connection().map(|_| ()),
            "list" => dest.list().map(|_| ()),
            "delete" => dest.delete("x"),
            "upload" => dest.upload(&file, "x", &mut |_, _| true),
            _ => dest.download("x", &file, &mut |_, _| true),
        }
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other, "{op}: {err}");
        assert_eq!(
            err.message(),
            format!("plugin panicked in {op}: probe asked to panic in {op}")
        );
    }
    // The process is alive and the plugin still usable.
    let dest = plugin.new_destination("{}").unwrap();
    assert_eq!(dest.test_connection().unwrap(), "probe ok");
}

#[test]
fn panic_in_constructor_becomes_error_and_bad_config_is_config_error() {
    let plugin = probe();
    let err = plugin
        .new_destination(r#"{"panic_in":"new"}"#)
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(
        err.message().contains("probe asked to panic in new"),
        "{err}"
    );
    let err = plugin
        .new_destination(r#"{"panik_in":"new"}"#)
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("panik_in"), "{err}");
}

/// Captured host events: (target, level, all fields rendered).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(String, tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?};", f.name(), v));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let m = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((m.target().to_string(), *m.level(), fields.0));
    }
}

#[test]
fn plugin_log_events_reach_the_host_subscriber_tagged_with_kind() {
    use tracing_subscriber::layer::SubscriberExt;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(captured.clone())
        .with(tracing::level_filters::LevelFilter::DEBUG);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    // This test process embeds the host library: its workers are the real binary.
    sauvegarde::worker::set_executable(artifacts().host_bin());

    let plugins = plugin_dir_with(&[("libprobe.so", &artifacts().plugin("test_plugin"))]);
    let registry = PluginRegistry::discover(&[plugins.path().to_path_buf()], None);
    let dest = registry
        .get("test-probe")
        .unwrap()
        .new_destination("{}")
        .unwrap();
    assert_eq!(dest.test_connection().unwrap(), "probe ok");

    let events: Vec<_> = captured
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(target, _, _)| target == "plugin")
        .cloned()
        .collect();
    let find = |text: &str| events.iter().find(|(_, _, f)| f.contains(text)).cloned();
    let (_, level, fields) = find("probe info event").expect("info event forwarded");
    assert_eq!(level, tracing::Level::INFO);
    assert!(fields.contains("plugin=\"test-probe\""), "{fields}");
    assert!(fields.contains("server=\"probe.example\""), "{fields}");
    assert_eq!(find("probe error event").unwrap().1, tracing::Level::ERROR);
    assert!(find("probe error event").unwrap().2.contains("code=7"));
    assert_eq!(find("probe warn event").unwrap().1, tracing::Level::WARN);
    assert_eq!(find("probe debug event").unwrap().1, tracing::Level::DEBUG);
    assert!(
        find("probe trace event").is_none(),
        "trace is above the host's level: {events:?}"
    );
}

//! A third-party exporter built outside the workspace, after the host, loads into the
//! unchanged host binary; one built against another major API version is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sauvegarde_tests::build::{artifacts, build_out_of_tree, workspace_root};
use sauvegarde_tests::files::sha256;

fn host(config: &Path, args: &[&str]) -> Output {
    Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn example_exporter_works_with_a_host_built_before_it() {
    let host_bin = artifacts().host_bin();
    let host_before = sha256(&host_bin);

    let example = build_out_of_tree(
        &workspace_root().join("examples/exporter-local-dir"),
        "exporter_local_dir",
    );
    let work = tempfile::tempdir().unwrap();
    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(&example, plugins.join("libexporter_local_dir.so")).unwrap();
    let nas = work.path().join("nas");
    let config = work.path().join("sauvegarde.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dirs = [{plugins:?}]\nstate_dir = {:?}\n[jobs.j]\ndatabase = \"x\"\n\
             [jobs.j.destinations.nas]\ntype = \"local-dir\"\ndir = {nas:?}\n\
             [jobs.j.destinations.typo]\ntype = \"local-dir\"\ndri = {nas:?}\n\
             [jobs.j.destinations.nowhere]\ntype = \"carrier-pigeon\"\n",
            work.path().join("state")
        ),
    )
    .unwrap();

    let out = host(&config, &["plugins", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = json["plugins"].as_array().unwrap().iter().any(|p| {
        p["kind"] == "local-dir"
            && p["file"]
                .as_str()
                .unwrap()
                .starts_with(plugins.to_str().unwrap())
    });
    assert!(listed, "{json:#}");

    let out = host(&config, &["test", "j", "nas"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("✓ nas (local-dir): directory"),
        "{}",
        text(&out)
    );

    let out = host(&config, &["test", "j"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("✗ typo") && all.contains("jobs.j.destinations.typo") && all.contains("dri"),
        "{all}"
    );
    assert!(
        all.contains("no plugin of type `carrier-pigeon`") && all.contains("local-dir"),
        "{all}"
    );

    let archive = work.path().join("db_2026-01-02_03-04-05.zip");
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&archive, &payload).unwrap();
    let nas_only = work.path().join("nas-only.toml");
    let full = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &nas_only,
        full.split("[jobs.j.destinations.typo]").next().unwrap(),
    )
    .unwrap();
    let out = host(&nas_only, &["export", "j", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(nas.join("db_2026-01-02_03-04-05.zip")).unwrap(),
        payload
    );
    assert_eq!(
        std::fs::read_dir(&nas).unwrap().count(),
        1,
        "no partial left"
    );

    // The example has no no-replace upload: a name another server took is never replaced.
    let second = work.path().join("db_2026-01-02_03-04-06.zip");
    std::fs::write(&second, &payload[..1000]).unwrap();
    a_taken_name_is_never_replaced(&nas_only, &nas, &second);

    assert_eq!(
        sha256(&host_bin),
        host_before,
        "the host binary was not rebuilt"
    );
}

/// Exports `archive` with `config` (job `j`, one destination into `nas`) while a file
/// another server made holds its name there. The plugin has no no-replace upload: the
/// host looks for the name first, stores the archive under its host tag, leaves the
/// other file as it was, and warns that a race remains.
fn a_taken_name_is_never_replaced(config: &Path, nas: &Path, archive: &Path) {
    let name = archive.file_name().unwrap().to_str().unwrap();
    std::fs::create_dir_all(nas).unwrap();
    std::fs::write(nas.join(name), b"another server's archive").unwrap();
    let out = host(config, &["export", "j", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(nas.join(name)).unwrap(),
        b"another server's archive"
    );
    let stem = name.strip_suffix(".zip").unwrap();
    let tagged: Vec<String> = std::fs::read_dir(nas)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(stem)
                .and_then(|t| t.strip_prefix('.'))
                .and_then(|t| t.strip_suffix(".zip"))
                .is_some_and(|t| t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect();
    assert_eq!(tagged.len(), 1, "{tagged:?}\n{}", text(&out));
    assert_eq!(
        std::fs::read(nas.join(&tagged[0])).unwrap(),
        std::fs::read(archive).unwrap()
    );
    let all = text(&out);
    assert!(
        all.contains("has no no-replace upload") && all.contains(&tagged[0]),
        "{all}"
    );
}

/// A copy of the plugin API crate's sources from `src` (a directory), claiming `version`,
/// as a Cargo project of its own under `dir`.
fn api_copy(src: &Path, version: &str, dir: &Path) -> PathBuf {
    let root = workspace_root();
    let api = dir.join("plugin-api");
    std::fs::create_dir_all(api.join("src")).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), api.join("src").join(entry.file_name())).unwrap();
    }
    let manifest = std::fs::read_to_string(root.join("plugin-api/Cargo.toml")).unwrap();
    // The package's own version is the only line that starts with `version =`.
    let manifest: String = manifest
        .lines()
        .map(|l| match l.starts_with("version = ") {
            true => format!("version = \"{version}\"\n"),
            false => format!("{l}\n"),
        })
        .collect();
    let manifest = manifest
        .replace(".workspace = true", " = \"*\"")
        .replace("abi_stable = \"*\"", "abi_stable = \"=0.11.3\"")
        .replace(
            "serde = \"*\"",
            "serde = { version = \"1\", features = [\"derive\"] }",
        )
        .replace("edition = \"*\"", "edition = \"2021\"")
        .replace("license = \"*\"", "")
        .replace("rust-version = \"*\"", "");
    assert!(
        manifest.contains(&format!("version = \"{version}\"")),
        "{manifest}"
    );
    std::fs::write(api.join("Cargo.toml"), manifest + "\n[workspace]\n").unwrap();
    api
}

/// The example exporter, renamed `name`, built against the API crate at `api`.
fn example_against(api: &Path, name: &str, dir: &Path) -> PathBuf {
    let root = workspace_root();
    let plugin = dir.join(name);
    std::fs::create_dir_all(plugin.join("src")).unwrap();
    std::fs::copy(
        root.join("examples/exporter-local-dir/src/lib.rs"),
        plugin.join("src/lib.rs"),
    )
    .unwrap();
    let example_manifest =
        std::fs::read_to_string(root.join("examples/exporter-local-dir/Cargo.toml"))
            .unwrap()
            .replace("../../plugin-api", api.to_str().unwrap())
            .replace(
                "name = \"exporter-local-dir\"",
                &format!("name = \"{name}\""),
            );
    std::fs::write(plugin.join("Cargo.toml"), example_manifest).unwrap();
    build_out_of_tree(&plugin, &name.replace('-', "_"))
}

#[test]
fn plugin_built_against_api_1_0_loads_and_works_in_this_host() {
    let work = tempfile::tempdir().unwrap();
    // The API as released in 1.0.0, before the root module gained `secrets`.
    let api = api_copy(
        &workspace_root().join("tests/fixtures/plugin-api-1.0.0/src"),
        "1.0.0",
        work.path(),
    );
    let so = example_against(&api, "exporter-api-one-zero", work.path());
    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(&so, plugins.join("libexporter_api_one_zero.so")).unwrap();
    let nas = work.path().join("nas");
    let config = work.path().join("sauvegarde.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dirs = [{plugins:?}]\nstate_dir = {:?}\n[jobs.j]\ndatabase = \"x\"\n\
             [jobs.j.destinations.nas]\ntype = \"local-dir\"\ndir = {nas:?}\n",
            work.path().join("state")
        ),
    )
    .unwrap();

    let out = host(&config, &["plugins", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["refused"], serde_json::json!([]), "{json:#}");
    let listed = json["plugins"].as_array().unwrap().iter().any(|p| {
        p["kind"] == "local-dir"
            && p["file"]
                .as_str()
                .unwrap()
                .starts_with(plugins.to_str().unwrap())
    });
    assert!(listed, "{json:#}");

    // It declares no secret: the host goes by names, and shows its settings.
    let out = host(&config, &["config", "show"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "jobs.j.destinations.nas.dir = {:?}",
            nas.display().to_string()
        )),
        "{}",
        text(&out)
    );

    let archive = work.path().join("x_2026-01-02_03-04-05.zip");
    std::fs::write(&archive, b"archive bytes").unwrap();
    let out = host(&config, &["export", "j", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(nas.join("x_2026-01-02_03-04-05.zip")).unwrap(),
        b"archive bytes"
    );
    let second = work.path().join("x_2026-01-02_03-04-06.zip");
    std::fs::write(&second, b"second archive").unwrap();
    a_taken_name_is_never_replaced(&config, &nas, &second);
}

#[test]
fn plugin_built_against_api_1_1_loads_and_never_replaces_a_file_it_did_not_upload() {
    let work = tempfile::tempdir().unwrap();
    // The API as released in 1.1.0, before the no-replace upload.
    let api = api_copy(
        &workspace_root().join("tests/fixtures/plugin-api-1.1.0/src"),
        "1.1.0",
        work.path(),
    );
    let so = example_against(&api, "exporter-api-one-one", work.path());
    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(&so, plugins.join("libexporter_api_one_one.so")).unwrap();
    let nas = work.path().join("nas");
    let config = work.path().join("sauvegarde.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dirs = [{plugins:?}]\nstate_dir = {:?}\n[jobs.j]\ndatabase = \"x\"\n\
             [jobs.j.destinations.nas]\ntype = \"local-dir\"\ndir = {nas:?}\n",
            work.path().join("state")
        ),
    )
    .unwrap();
    let out = host(&config, &["plugins", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["refused"], serde_json::json!([]), "{json:#}");
    let plugin = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "local-dir")
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(plugin["capabilities"], serde_json::json!([]), "{json:#}");
    // `plugins` says what is missing.
    let out = host(&config, &["plugins"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no no-replace upload"),
        "{}",
        text(&out)
    );

    let archive = work.path().join("x_2026-01-02_03-04-05.zip");
    std::fs::write(&archive, b"archive bytes").unwrap();
    a_taken_name_is_never_replaced(&config, &nas, &archive);
}

#[test]
fn plugin_built_against_another_major_api_version_is_refused() {
    let root = workspace_root();
    let work = tempfile::tempdir().unwrap();
    // A copy of the API crate claiming version 2.0.0, and the example built against it.
    let api = api_copy(&root.join("plugin-api/src"), "2.0.0", work.path());
    let so = example_against(&api, "exporter-api-two", work.path());

    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(&so, plugins.join("libexporter_api_two.so")).unwrap();
    let config = work.path().join("sauvegarde.toml");
    std::fs::write(&config, format!("plugin_dirs = [{plugins:?}]\n")).unwrap();
    let out = host(&config, &["plugins", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused = &json["refused"][0];
    assert!(
        refused["file"]
            .as_str()
            .unwrap()
            .ends_with("libexporter_api_two.so"),
        "{json:#}"
    );
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains("incompatible plugin API")
            && reason.contains("2.0.0")
            && reason.contains("1.x"),
        "{reason}"
    );
}

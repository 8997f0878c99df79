//! sauvegarde: backups of Odoo and PostgreSQL databases into Odoo-compatible archives,
//! with retention, history, notifications and exporter plugins.
//!
//! This library is the engine: it returns typed values and typed errors, logs through
//! `tracing` and prints nothing. The command line (`main.rs`, `cli.rs`, `commands/`) is
//! the binary crate, a thin layer over it that turns those values into text, JSON and exit
//! codes; being another crate, it is the only direction the dependency can point.

pub mod archive;
pub mod cancel;
pub mod child_env;
pub mod config;
pub mod conformance;
pub mod crypt;
pub mod daemon;
pub mod disk;
pub mod drill;
pub mod dump;
pub mod export;
pub mod filestore;
pub mod history;
pub mod job;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod naming;
pub mod notify;
pub mod odoo_conf;
pub mod ownership;
pub mod pause;
pub mod plugins;
pub mod redact;
pub mod restore;
pub mod retention;
pub mod run_log;
pub mod schedule;
pub mod status;
pub mod table;
pub mod verify;
pub mod web;
pub mod worker;

#[cfg(test)]
mod engine_boundary {
    //! The engine knows nothing of the command line. The compiler enforces most of it
    //! (`cli` and `commands` are modules of the binary crate, not of this library); these
    //! tests catch the way back: the modules declared here again, or an engine file
    //! printing instead of returning.

    use std::path::{Path, PathBuf};

    /// The command-line layer, relative to `src/`.
    const CLI_LAYER: [&str; 3] = ["cli.rs", "commands", "main.rs"];

    /// Engine files allowed to write to stderr, and why.
    const WRITES_STDERR: [(&str, &str); 1] = [(
        "pause.rs",
        "the test-only pause protocol line (debug builds), read by end-to-end tests",
    )];

    fn engine_files(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read src")
            .map(|e| e.expect("read src entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            if CLI_LAYER.contains(&relative.as_str()) {
                continue;
            }
            if path.is_dir() {
                engine_files(&path, src, out);
            } else if relative.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).expect("read engine file");
                out.push((relative, text));
            }
        }
    }

    fn engine() -> Vec<(String, String)> {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        engine_files(&src, &src, &mut files);
        assert!(files.len() > 50, "the engine's files were not found");
        files
    }

    /// Whether `code` holds `word` not followed by an identifier character (`cli`, not
    /// `client`).
    fn holds_word(code: &str, word: &str) -> bool {
        code.match_indices(word).any(|(at, _)| {
            !code[at + word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        })
    }

    #[test]
    fn a_word_is_found_only_whole() {
        assert!(holds_word(
            concat!("use crate", "::cli::LogFormat;"),
            concat!("crate", "::cli")
        ));
        assert!(holds_word("pub mod cli;", "mod cli"));
        assert!(!holds_word("pub mod client;", "mod cli"));
    }

    #[test]
    fn the_engine_imports_nothing_from_the_command_line_layer() {
        // Spelled in two halves, so that this file does not match itself.
        let paths = ["cli", "commands"].map(|m| [concat!("crate", "::"), m].concat());
        let declarations = ["cli", "commands"].map(|m| [concat!("mo", "d "), m].concat());
        let mut found = Vec::new();
        for (file, text) in engine() {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let declared = code.trim_start().trim_start_matches("pub ");
                if paths.iter().any(|p| holds_word(code, p))
                    || declarations
                        .iter()
                        .any(|d| declared.starts_with(d.as_str()) && holds_word(declared, d))
                {
                    found.push(format!("{file}:{}: {line}", n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "the engine uses the CLI layer: {found:#?}"
        );
    }

    #[test]
    fn the_engine_prints_nothing() {
        let mut found = Vec::new();
        for (file, text) in engine() {
            if WRITES_STDERR.iter().any(|(f, _)| *f == file) {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                // Spelled in two halves, so that this file does not match itself.
                let prints = ["println", "print", "eprint", "dbg"]
                    .iter()
                    .any(|p| code.contains(&[p, concat!("!", "(")].concat()))
                    || code.contains(concat!("io::std", "out("));
                if prints {
                    found.push(format!("{file}:{}: {line}", n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "the engine prints (return a value or log with tracing): {found:#?}"
        );
    }
}

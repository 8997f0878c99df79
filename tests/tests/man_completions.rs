//! Manual pages and shell completions generated from the command-line definition by the
//! real binary (`sauvegarde __generate-docs DIR`, what `scripts/package` ships).

use std::path::Path;
use std::process::Command;

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::text;

fn sauvegarde(args: &[&str]) -> String {
    let out = Command::new(artifacts().host_bin())
        .args(args)
        .output()
        .expect("run sauvegarde");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands `--help` lists (without `help`).
fn commands_of(args: &[&str]) -> Vec<String> {
    let mut help_args = args.to_vec();
    help_args.push("--help");
    let help = sauvegarde(&help_args);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

fn generate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sauvegarde(&["__generate-docs", dir.path().to_str().unwrap()]);
    dir
}

fn render(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("run man");
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "man warned: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_command_and_config_subcommand_has_a_manual_page_that_man_renders() {
    let dir = generate();
    let man = dir.path().join("man");
    let top = commands_of(&[]);
    assert!(top.len() >= 10, "{top:?}");
    let mut pages = vec![("sauvegarde".to_string(), man.join("sauvegarde.1"))];
    for c in &top {
        pages.push((
            format!("sauvegarde-{c}"),
            man.join(format!("sauvegarde-{c}.1")),
        ));
        for sub in commands_of(&[c]) {
            pages.push((
                format!("sauvegarde-{c}-{sub}"),
                man.join(format!("sauvegarde-{c}-{sub}.1")),
            ));
        }
    }
    assert!(
        pages.iter().any(|(n, _)| n == "sauvegarde-config-init"),
        "{pages:?}"
    );
    for (name, page) in &pages {
        assert!(page.is_file(), "no page {}", page.display());
        let shown = render(page);
        assert!(shown.contains("NAME"), "{shown}");
        assert!(shown.contains(name.as_str()), "{name}: {shown}");
    }
    // Internal commands get no page.
    let hidden: Vec<_> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("__"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    // The backup page documents its options.
    let backup = render(&man.join("sauvegarde-backup.1"));
    assert!(backup.contains("--no-export"), "{backup}");
}

#[test]
fn the_bash_completion_sources_and_completes_commands_and_options() {
    let dir = generate();
    let file = dir.path().join("completions/sauvegarde.bash");
    let script = format!(
        "set -e; source {file:?}; complete -p sauvegarde; \
         COMP_WORDS=(sauvegarde hist); COMP_CWORD=1; COMP_LINE='sauvegarde hist'; COMP_POINT=15; \
         _sauvegarde sauvegarde hist sauvegarde; echo \"commands: ${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(sauvegarde history --li); COMP_CWORD=2; COMP_LINE='sauvegarde history --li'; COMP_POINT=23; \
         _sauvegarde sauvegarde --li history; echo \"options: ${{COMPREPLY[*]}}\""
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-F _sauvegarde sauvegarde"), "{stdout}");
    assert!(stdout.contains("commands: history"), "{stdout}");
    assert!(stdout.contains("options: --limit"), "{stdout}");
}

#[test]
fn zsh_and_fish_completions_are_written_for_every_command() {
    let dir = generate();
    let zsh = std::fs::read_to_string(dir.path().join("completions/_sauvegarde")).unwrap();
    let fish = std::fs::read_to_string(dir.path().join("completions/sauvegarde.fish")).unwrap();
    assert!(zsh.starts_with("#compdef sauvegarde"), "{zsh}");
    for c in commands_of(&[]) {
        assert!(zsh.contains(&format!("'{c}:")), "zsh lacks {c}");
        assert!(fish.contains(&format!("-a \"{c}\"")), "fish lacks {c}");
    }
}

/// The lines of the `Commands:` list of `sauvegarde ARGS --help`.
fn command_lines_of(args: &[&str]) -> Vec<String> {
    let mut help_args = args.to_vec();
    help_args.push("--help");
    sauvegarde(&help_args)
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn help_lists_each_command_in_one_short_line() {
    for args in [&[][..], &["config"], &["plugins"]] {
        let lines = command_lines_of(args);
        // `help` is listed too; every other line is one command.
        assert_eq!(
            lines.len(),
            commands_of(args).len() + 1,
            "{args:?}: one line per command: {lines:#?}"
        );
        for line in &lines {
            assert!(
                line.starts_with("  ") && !line.starts_with("   "),
                "{args:?}: a line that is no command (a wrapped description?): {line:?}"
            );
            assert!(
                line.chars().count() <= 80,
                "{args:?}: longer than 80 columns: {line:?}"
            );
        }
    }
}

#[test]
fn the_detail_of_a_command_is_in_its_long_help_and_its_manual_page() {
    // The paragraph `--help` leaves out is in `help drill`, `drill --help` and the page.
    let detail = "compared with the dump's, and the scratch database dropped";
    for args in [&["help", "drill"][..], &["drill", "--help"]] {
        let long = sauvegarde(args);
        assert!(long.contains(detail), "{args:?}: {long}");
    }
    let dir = generate();
    let page = render(&dir.path().join("man").join("sauvegarde-drill.1"));
    // man fills lines: compare words.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&page).contains(detail), "{page}");
    let verify = sauvegarde(&["help", "verify"]);
    assert!(
        verify.contains("With --restore, the database is also restored"),
        "{verify}"
    );
}

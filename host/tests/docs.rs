//! The documentation holds together: every relative link of `README.md` and
//! `docs/**/*.md` names an existing file, every `#anchor` a heading of its page (by
//! GitHub's rules), and the exit-code table of `docs/exit-codes.md` says what
//! `sauvegarde --help` says, code by code, for the codes of `commands::exit`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate is `host/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// `README.md` and every `*.md` under `docs/`, sorted.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "md") {
                out.push(path);
            }
        }
    }
    let mut out = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut out);
    out.sort();
    out
}

/// The text with fenced code blocks blanked (their lines kept, empty), so that neither
/// links nor headings are looked for in them.
fn without_fences(text: &str) -> String {
    let mut fence: Option<String> = None;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        match &fence {
            None if marker.len() >= 3 => {
                fence = Some(marker);
                out.push('\n');
                continue;
            }
            Some(open) => {
                if marker.starts_with(open.as_str()) && trimmed[marker.len()..].trim().is_empty() {
                    fence = None;
                }
                out.push('\n');
                continue;
            }
            None => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The text with the contents of inline code spans blanked (a span opens with a run of
/// backticks and closes with the next run of the same length, across lines too).
fn without_code_spans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                out.extend(std::iter::repeat_n('`', n));
                out.extend(
                    chars[i + n..j]
                        .iter()
                        .map(|&c| if c == '\n' { '\n' } else { ' ' }),
                );
                out.extend(std::iter::repeat_n('`', n));
                i = j + n;
            }
            None => {
                out.extend(std::iter::repeat_n('`', n));
                i += n;
            }
        }
    }
    out
}

/// A heading's anchor as GitHub makes it: the text's links reduced to their text, lower
/// case, every character but letters, digits, spaces, `-` and `_` removed, spaces to `-`.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // `[text](target)` → `text`
    while let Some(at) = rest.find("](") {
        text.push_str(&rest[..at]);
        match rest[at..].find(')') {
            Some(end) => rest = &rest[at + end + 1..],
            None => {
                rest = &rest[at..];
                break;
            }
        }
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (ATX headings outside code blocks), a repeated one
/// numbered `-1`, `-2` … as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in without_fences(text).lines() {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with([' ', '\t']) {
            continue;
        }
        let title = line[hashes..].trim().trim_end_matches('#').trim_end();
        let base = slug(title);
        let n = seen.entry(base.clone()).or_insert(0);
        let anchor = if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        *n += 1;
        out.insert(anchor);
    }
    out
}

/// Every inline link target (`[text](target "title")`) and reference definition
/// (`[label]: target`) outside code, with its line number.
fn links(text: &str) -> Vec<(usize, String)> {
    let text = without_code_spans(&without_fences(text));
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("](") {
        let start = from + at + 2;
        let target: String = text[start..]
            .chars()
            .take_while(|&c| c != ')' && !c.is_whitespace())
            .collect();
        out.push((line_of(start), target.trim_matches(['<', '>']).to_string()));
        from = start;
    }
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if let (true, Some(end)) = (line.starts_with('['), line.find("]: ")) {
            if let Some(target) = line[end + 3..].split_whitespace().next() {
                out.push((n + 1, target.to_string()));
            }
        }
    }
    out
}

/// What is wrong with the links of `page` (empty when nothing is).
fn broken_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let shown = page
        .strip_prefix(root())
        .unwrap_or(page)
        .display()
        .to_string();
    let mut broken = Vec::new();
    for (line, target) in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        let file = if path.is_empty() {
            page.to_path_buf()
        } else if let Some(absolute) = path.strip_prefix('/') {
            root().join(absolute)
        } else {
            page.parent().expect("a page has a directory").join(path)
        };
        if !file.exists() {
            broken.push(format!(
                "{shown}:{line}: `{target}`: no file {}",
                file.display()
            ));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if file.extension().is_none_or(|x| x != "md") {
            broken.push(format!(
                "{shown}:{line}: `{target}`: an anchor into a file that is not Markdown"
            ));
            continue;
        }
        let headings = anchors(&std::fs::read_to_string(&file).expect("read the linked page"));
        if !headings.contains(anchor) {
            broken.push(format!(
                "{shown}:{line}: `{target}`: no heading `#{anchor}` in {}; its anchors: {}",
                file.display(),
                headings.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    broken
}

#[test]
fn headings_get_githubs_anchors_and_repeated_ones_a_number() {
    let page = "# Verify, restore and restore drills\n\
                ## Parallel restore (`--jobs N`)\n\
                ```sh\n# not a heading\n```\n\
                ## Checking an exporter: `sauvegarde plugins check`\n\
                ### Results\n### Results\n### Results\n\
                ## Rapport d'été_2 [lien](x.md)\n\
                #not a heading\n";
    let found = anchors(page);
    let expected: BTreeSet<String> = [
        "verify-restore-and-restore-drills",
        "parallel-restore---jobs-n",
        "checking-an-exporter-sauvegarde-plugins-check",
        "results",
        "results-1",
        "results-2",
        "rapport-dété_2-lien",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn links_are_found_outside_code_only() {
    let page = "See [a](a.md#x) and [`b`](../b.md), [multi\nline](c.md \"title\").\n\
                `[not](a link)` and ``[nor](this) ` one``\n\
                ```\n[nor](in-a-fence.md)\n```\n\
                [ref]: d.md#y\n";
    let found: Vec<String> = links(page).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, ["a.md#x", "../b.md", "c.md", "d.md#y"]);
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let pages = pages();
    assert!(pages.len() > 10, "the guide's pages under docs/: {pages:?}");
    let broken: Vec<String> = pages.iter().flat_map(|p| broken_links(p)).collect();
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

/// The entries of a plain-text exit-code list as `--help` prints it: after a line that
/// starts with `Exit codes`, `  N  text` lines continued by lines indented deeper;
/// whitespace collapsed.
fn help_entries(text: &str) -> BTreeMap<i32, String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Exit codes"));
    assert!(
        lines.next().is_some(),
        "no line starting with `Exit codes` in:\n{text}"
    );
    let mut entries: BTreeMap<i32, String> = BTreeMap::new();
    let mut current = None;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let words: Vec<&str> = line.split_whitespace().collect();
        match (indent, words.first().map(|w| w.parse::<i32>())) {
            (2, Some(Ok(code))) => {
                let previous = entries.insert(code, words[1..].join(" "));
                assert!(previous.is_none(), "exit code {code} listed twice:\n{text}");
                current = Some(code);
            }
            (i, Some(_)) if i > 2 && current.is_some() => {
                let entry = entries.get_mut(&current.unwrap()).unwrap();
                entry.push(' ');
                entry.push_str(&words.join(" "));
            }
            _ => break,
        }
    }
    entries
}

/// The rows of the Markdown table of `docs/exit-codes.md`: code → (meaning, the names of
/// its constants in `commands::exit`).
fn table_rows(page: &str) -> BTreeMap<i32, (String, BTreeSet<String>)> {
    let mut rows = BTreeMap::new();
    for line in page.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let Ok(code) = cells[0].parse::<i32>() else {
            continue;
        };
        assert_eq!(cells.len(), 3, "a row of code, meaning, constants: {line}");
        let names = cells[2]
            .split(',')
            .map(|n| n.trim().trim_matches('`').to_string())
            .collect();
        let meaning = cells[1].split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            rows.insert(code, (meaning, names)).is_none(),
            "exit code {code} has two rows in docs/exit-codes.md"
        );
    }
    rows
}

/// The constants of `pub mod exit` in `host/src/commands/mod.rs`: name → code.
fn exit_constants() -> BTreeMap<String, i32> {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands/mod.rs"))
            .expect("read host/src/commands/mod.rs");
    let module = &source[source.find("pub mod exit {").expect("pub mod exit")..];
    let mut constants = BTreeMap::new();
    for line in module.lines().skip(1) {
        let line = line.trim();
        if line == "}" {
            break;
        }
        if let Some(rest) = line.strip_prefix("pub const ") {
            if let Some((name, value)) = rest.split_once(": i32 = ") {
                let value = value.trim_end_matches(';').trim();
                constants.insert(
                    name.to_string(),
                    value.parse().unwrap_or_else(|_| panic!("a code: {line}")),
                );
            }
        }
    }
    assert!(
        !constants.is_empty(),
        "no `pub const NAME: i32 = N;` in pub mod exit"
    );
    constants
}

#[test]
fn exit_code_table_matches_help_and_the_exit_module() {
    let out = Command::new(env!("CARGO_BIN_EXE_sauvegarde"))
        .arg("--help")
        .output()
        .expect("run sauvegarde --help");
    assert!(out.status.success(), "sauvegarde --help: {out:?}");
    let help = help_entries(&String::from_utf8(out.stdout).expect("UTF-8 help"));
    let page = std::fs::read_to_string(root().join("docs/exit-codes.md"))
        .expect("read docs/exit-codes.md");
    let table = table_rows(&page);
    let block = help_entries(&page);
    let constants = exit_constants();

    let in_help: BTreeSet<i32> = help.keys().copied().collect();
    let in_table: BTreeSet<i32> = table.keys().copied().collect();
    let in_module: BTreeSet<i32> = constants.values().copied().collect();
    assert_eq!(
        in_table, in_help,
        "codes of docs/exit-codes.md's table vs. --help"
    );
    assert_eq!(in_module, in_help, "codes of commands::exit vs. --help");
    assert_eq!(
        block, help,
        "docs/exit-codes.md's copy of --help vs. --help"
    );
    for (code, text) in &help {
        let (meaning, names) = &table[code];
        assert_eq!(
            meaning, text,
            "exit code {code}: docs/exit-codes.md vs. --help"
        );
        let expected: BTreeSet<String> = constants
            .iter()
            .filter(|(_, v)| *v == code)
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(
            names, &expected,
            "exit code {code}: constants named in docs/exit-codes.md vs. commands::exit"
        );
    }
}

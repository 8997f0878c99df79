//! The names psql knows: its backslash commands (`exec_command` in
//! `src/bin/psql/command.c`, PostgreSQL 15 to 18) sorted by what running them can do, and
//! the variables psql sets by itself (`SetVariable` calls in `startup.c`, `common.c`,
//! `command.c`), sorted by what their values may hold.

/// What psql does with a backslash command of a given name, outside pg_dump's own lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// psql knows no such command: "invalid command", and the rest of the line is thrown
    /// away unread (`HandleSlashCmds`: `OT_WHOLE_LINE`, no backtick, no variable).
    Unknown,
    /// Runs programs, reads or writes files, sets variables, sends the query buffer or
    /// changes which lines are run (`\!`, `\o`, `\set`, `\g`, `\i`, `\if` …).
    Dangerous,
    /// Harmless, and takes the rest of the line as one argument, unevaluated (`\h`, `\sf`).
    WholeLine,
    /// Harmless, but its arguments are read as `OT_NORMAL`/`OT_SQLID`: a backtick in them
    /// runs a shell command (`\t`, `\echo`, `\d…` …).
    Arguments,
    /// `\r`: the query buffer and the lexer's parentheses and `BEGIN` depth are reset.
    Reset,
    /// `\q`: psql stops reading.
    Quit,
    /// `\c`, `\connect`: harmless with one plain database name.
    Connect,
}

/// Commands that run programs, touch files, set variables, send queries or open
/// conditional blocks (PostgreSQL 15 to 18).
const DANGEROUS: &[&str] = &[
    "!",
    "bind",
    "bind_named",
    "cd",
    "close",
    "close_prepared",
    "copy",
    "crosstabview",
    "e",
    "edit",
    "ef",
    "elif",
    "endpipeline",
    "ev",
    "flush",
    "flushrequest",
    "g",
    "gdesc",
    "getenv",
    "getresults",
    "gexec",
    "gset",
    "gx",
    "i",
    "if",
    "include",
    "include_relative",
    "ir",
    "o",
    "out",
    "parse",
    "password",
    "prompt",
    "pset",
    "s",
    "sendpipeline",
    "set",
    "setenv",
    "startpipeline",
    "syncpipeline",
    "w",
    "watch",
    "write",
];

/// Harmless commands that read their arguments (backticks in them are run).
const ARGUMENTS: &[&str] = &[
    "?",
    "C",
    "H",
    "T",
    "a",
    "conninfo",
    "copyright",
    "echo",
    "else",
    "encoding",
    "endif",
    "errverbose",
    "f",
    "html",
    "l",
    "l+",
    "list",
    "list+",
    "p",
    "print",
    "qecho",
    "restrict",
    "t",
    "timing",
    "unrestrict",
    "unset",
    "warn",
    "x",
    "z",
    "z+",
];

/// Harmless commands that take the whole rest of the line unevaluated.
const WHOLE_LINE: &[&str] = &["h", "help", "sf", "sf+", "sv", "sv+"];

/// What psql does with `\name`.
pub fn command(name: &[u8]) -> Command {
    let is = |list: &[&str]| list.iter().any(|n| n.as_bytes() == name);
    if name.starts_with(b"lo_") || is(DANGEROUS) {
        Command::Dangerous
    } else if name.first() == Some(&b'd') || is(ARGUMENTS) {
        // Every name starting with `d` goes to `exec_command_d`, which reads its pattern
        // argument before it knows whether the name is one of its own.
        Command::Arguments
    } else if is(WHOLE_LINE) {
        Command::WholeLine
    } else if name == b"r" || name == b"reset" {
        Command::Reset
    } else if name == b"q" || name == b"quit" {
        Command::Quit
    } else if name == b"c" || name == b"connect" {
        Command::Connect
    } else {
        Command::Unknown
    }
}

/// The longest name [`command`] must see whole ("include_relative").
pub const NAME_MAX: usize = 24;

/// What re-reading `:name` as SQL may do (`psqlscan.l`: a plain `:name` of a set variable
/// is lexed again from its value, `psqlscan_push_new_buffer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// psql never sets it: `:name` stays as written.
    Unset,
    /// Its value is one word or number from a short list (`on`, `UTF8`, `42`): re-read,
    /// it is at most two identifiers that are not keywords the lexer tracks.
    Word,
    /// Its value may be any text: `LAST_ERROR_MESSAGE` holds whatever an error says, which
    /// a `RAISE` in the dump chooses; `DBNAME`, `USER`, `HOST`, `VERSION` … come from
    /// outside the dump.
    Text,
}

/// Variables whose values are free text.
const TEXT: &[&str] = &[
    "DBNAME",
    "HISTFILE",
    "HOST",
    "LAST_ERROR_MESSAGE",
    "LAST_ERROR_SQLSTATE",
    "PORT",
    "PROMPT1",
    "PROMPT2",
    "PROMPT3",
    "SERVER_VERSION_NAME",
    "SQLSTATE",
    "USER",
    "VERSION",
];

/// Variables whose values are one or two plain words or a number.
const WORD: &[&str] = &[
    "AUTOCOMMIT",
    "COMP_KEYWORD_CASE",
    "ECHO",
    "ECHO_HIDDEN",
    "ENCODING",
    "ERROR",
    "FETCH_COUNT",
    "HIDE_TABLEAM",
    "HIDE_TOAST_COMPRESSION",
    "HISTCONTROL",
    "HISTSIZE",
    "IGNOREEOF",
    "LASTOID",
    "ON_ERROR_ROLLBACK",
    "ON_ERROR_STOP",
    "QUIET",
    "ROW_COUNT",
    "SERVER_VERSION_NUM",
    "SHELL_ERROR",
    "SHELL_EXIT_CODE",
    "SHOW_ALL_RESULTS",
    "SHOW_CONTEXT",
    "SINGLELINE",
    "SINGLESTEP",
    "VERBOSITY",
    "VERSION_NAME",
    "VERSION_NUM",
    "WATCH_INTERVAL",
];

/// What `:name` may turn into (`name` as written; psql's names are case-sensitive).
pub fn variable(name: &[u8]) -> Variable {
    let is = |list: &[&str]| list.iter().any(|n| n.as_bytes() == name);
    if is(TEXT) {
        Variable::Text
    } else if is(WORD) {
        Variable::Word
    } else {
        Variable::Unset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_by_what_psql_does_with_them() {
        assert_eq!(command(b"!"), Command::Dangerous);
        assert_eq!(command(b"lo_import"), Command::Dangerous);
        assert_eq!(command(b"dt+"), Command::Arguments);
        assert_eq!(command(b"t"), Command::Arguments);
        assert_eq!(command(b"N"), Command::Unknown);
        assert_eq!(command(b""), Command::Unknown);
        assert_eq!(command(b"sf+"), Command::WholeLine);
        assert!(DANGEROUS.iter().all(|n| n.len() <= NAME_MAX));
        assert_eq!(variable(b"LAST_ERROR_MESSAGE"), Variable::Text);
        assert_eq!(variable(b"ROW_COUNT"), Variable::Word);
        assert_eq!(variable(b"E"), Variable::Unset);
        assert!(TEXT
            .iter()
            .chain(WORD)
            .all(|n| n.len() <= super::super::state::TEXT_MAX));
    }
}

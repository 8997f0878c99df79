//! psql meta-commands in a plain SQL dump. psql runs whatever backslash command its input
//! holds (`\! sh`, `\copy … program`, `\o |cmd`, `\gexec` …), so a `dump.sql` from a
//! compromised server is remote code execution unless those lines never reach psql.
//!
//! [`MetaGuard`] reads the dump as psql's own lexer does — quotes, `E''` strings,
//! dollar quotes, comments, parentheses, `BEGIN … END` bodies and the data of every
//! `COPY … FROM stdin` up to its `\.` line (data, never commands) — and finds every backslash
//! that psql would take as a command. pg_dump's plain output holds only `\restrict KEY`
//! (first), `\unrestrict KEY` (last, same key) and, with `--create`, `\connect DB`: those
//! lines are validated and dropped from the output (the restore's own connection already
//! goes to the target, and sauvegarde opens restricted mode itself with a key of its own);
//! any other one is refused. `verify` reports the refusals; restore stops before psql sees
//! them.

use std::fmt;

/// How many refused lines are kept for the message.
const KEEP: usize = 5;
/// How much of a meta-command line is kept.
const LINE_MAX: usize = 4096;
/// How much of a line is shown in a message.
const SHOWN: usize = 80;

/// A meta-command line psql would run and pg_dump never writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its line number in the dump (from 1).
    pub line: u64,
    /// The line, from its backslash, cut to 80 characters.
    pub text: String,
    /// Why it is refused.
    pub reason: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}` ({})", self.line, self.text, self.reason)
    }
}

/// psql's lexer states outside COPY data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Normal,
    /// Inside `'…'`; `escapes` for `E'…'` (backslash escapes the next byte).
    Single {
        escapes: bool,
        escaped: bool,
    },
    /// Just after a closing `'`: another `'` continues the same string.
    QuoteEnd {
        escapes: bool,
    },
    Double,
    /// After a `$` that may open a dollar quote (the tag so far is in `candidate`).
    DollarOpen,
    /// Inside `$tag$…`; `closing` while a `$…` that may close it is read.
    Dollar {
        closing: bool,
    },
    Block {
        depth: u32,
    },
    LineComment,
}

/// Whether the statement being read is a `COPY … FROM stdin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyParse {
    Start,
    NotCopy,
    Copy,
    From,
    Stdin,
}

/// A streaming reader of a plain SQL dump that finds psql meta-commands (see the module
/// documentation). Feed it bytes in any chunking, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct MetaGuard {
    lex: Lex,
    prev: u8,
    in_word: bool,
    word: Vec<u8>,
    tag: Vec<u8>,
    candidate: Vec<u8>,
    paren: u32,
    begin_depth: u32,
    ident_count: u32,
    idents: [u8; 4],
    copy_parse: CopyParse,
    copies_pending: u32,
    in_copy: bool,
    copy_line: Vec<u8>,
    line_start: bool,
    meta: Option<(Vec<u8>, bool)>,
    line: u64,
    restrict_key: Option<Vec<u8>>,
    strict: bool,
    refused: Vec<Refused>,
    refusals: u64,
}

impl Default for MetaGuard {
    fn default() -> Self {
        Self::new()
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_tag_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

impl MetaGuard {
    /// A guard at the start of a dump.
    pub fn new() -> Self {
        MetaGuard {
            lex: Lex::Normal,
            prev: 0,
            in_word: false,
            word: Vec::new(),
            tag: Vec::new(),
            candidate: Vec::new(),
            paren: 0,
            begin_depth: 0,
            ident_count: 0,
            idents: [0; 4],
            copy_parse: CopyParse::Start,
            copies_pending: 0,
            in_copy: false,
            copy_line: Vec::new(),
            line_start: true,
            meta: None,
            line: 1,
            restrict_key: None,
            strict: false,
            refused: Vec::new(),
            refusals: 0,
        }
    }

    /// A guard for a psql without `\\restrict`, the only line of defence: it also refuses
    /// quoting that psql could read differently from this guard (a backslash right before
    /// the closing quote of a standard string, which means an escaped quote if the dump
    /// turned `standard_conforming_strings` off).
    pub fn strict() -> Self {
        MetaGuard {
            strict: true,
            ..Self::new()
        }
    }

    /// The refused lines so far (the first five).
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// How many lines were refused in all.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    /// Reads `data`; with `out`, appends it without pg_dump's own meta-command lines.
    pub fn feed(&mut self, data: &[u8], mut out: Option<&mut Vec<u8>>) {
        let mut segment = 0;
        for (i, &b) in data.iter().enumerate() {
            if self.in_copy {
                self.copy_byte(b);
                continue;
            }
            if let Some((text, _)) = &mut self.meta {
                if b == b'\n' {
                    self.end_meta();
                    segment = i + 1;
                    self.newline();
                } else if text.len() < LINE_MAX {
                    text.push(b);
                }
                continue;
            }
            if self.lex_byte(b) {
                self.meta = Some((Vec::new(), !self.line_start));
                if let Some(out) = out.as_deref_mut() {
                    out.extend_from_slice(&data[segment..i]);
                }
                continue;
            }
            if b == b'\n' {
                self.newline();
            }
        }
        if self.meta.is_none() {
            if let Some(out) = out {
                out.extend_from_slice(&data[segment.min(data.len())..]);
            }
        }
    }

    /// Ends the dump: a last line without a newline is taken into account. Returns the
    /// refusals kept and how many there were in all.
    pub fn finish(mut self) -> (Vec<Refused>, u64) {
        if self.meta.is_some() {
            self.end_meta();
        }
        (self.refused, self.refusals)
    }

    fn refuse(&mut self, text: &[u8], reason: &'static str) {
        self.refusals += 1;
        if self.refused.len() < KEEP {
            let text: String = String::from_utf8_lossy(text).chars().take(SHOWN).collect();
            self.refused.push(Refused {
                line: self.line,
                text,
                reason,
            });
        }
    }

    fn newline(&mut self) {
        self.line += 1;
        self.line_start = true;
        if self.copies_pending > 0 {
            self.in_copy = true;
            self.copy_line.clear();
        }
    }

    /// One byte of COPY data: only a `\.` line ends it.
    fn copy_byte(&mut self, b: u8) {
        if b == b'\n' {
            self.line += 1;
            let line = self
                .copy_line
                .strip_suffix(b"\r")
                .unwrap_or(&self.copy_line);
            if line == b"\\." {
                self.copies_pending -= 1;
                self.in_copy = self.copies_pending > 0;
                self.line_start = true;
            }
            self.copy_line.clear();
        } else if self.copy_line.len() < 3 {
            self.copy_line.push(b);
        }
    }

    /// A meta-command line is complete: pg_dump's own are checked and dropped, any other
    /// is refused.
    fn end_meta(&mut self) {
        let Some((text, inline)) = self.meta.take() else {
            return;
        };
        let line = text.strip_suffix(b"\r").unwrap_or(&text).to_vec();
        let mut shown = b"\\".to_vec();
        shown.extend_from_slice(&line);
        if inline {
            return self.refuse(&shown, "a psql meta-command after SQL on the same line");
        }
        let text = String::from_utf8_lossy(&line);
        let mut words = text.split_ascii_whitespace();
        let command = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let key_ok = |k: &str| {
            !k.is_empty() && k.len() <= 256 && k.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        match (command, args.as_slice()) {
            ("restrict", [key]) if key_ok(key) => {
                if self.restrict_key.is_some() {
                    self.refuse(&shown, "a second \\restrict: pg_dump writes one, first");
                } else {
                    self.restrict_key = Some(key.as_bytes().to_vec());
                }
            }
            ("unrestrict", [key]) if key_ok(key) => {
                if self.restrict_key.as_deref() != Some(key.as_bytes()) {
                    self.refuse(&shown, "\\unrestrict without the dump's own \\restrict key");
                }
            }
            ("connect" | "c", [database])
                if !database.starts_with('-') && !database.contains('=') =>
            {
                // pg_dump --create's reconnection to the database it made: the restore is
                // connected to its target already.
            }
            _ => self.refuse(&shown, "a psql meta-command: pg_dump never writes one"),
        }
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        self.in_word = false;
        let word = std::mem::take(&mut self.word);
        let is = |w: &str| word.as_slice() == w.as_bytes();
        // psql's heuristic for `CREATE [OR REPLACE] {FUNCTION|PROCEDURE} … BEGIN ATOMIC …
        // END`: semicolons inside do not end the statement.
        if (self.ident_count as usize) < self.idents.len()
            && ["create", "function", "procedure", "or", "replace"]
                .iter()
                .any(|w| is(w))
        {
            self.idents[self.ident_count as usize] = word[0];
        }
        self.ident_count += 1;
        let id = self.idents;
        let body = id[0] == b'c'
            && (id[1] == b'f'
                || id[1] == b'p'
                || (id[1] == b'o' && id[2] == b'r' && (id[3] == b'f' || id[3] == b'p')));
        if body && self.paren == 0 {
            if is("begin") {
                self.begin_depth += 1;
            } else if is("case") {
                if self.begin_depth >= 1 {
                    self.begin_depth += 1;
                }
            } else if is("end") && self.begin_depth > 0 {
                self.begin_depth -= 1;
            }
        }
        self.copy_parse = match self.copy_parse {
            CopyParse::Start if is("copy") => CopyParse::Copy,
            CopyParse::Start => CopyParse::NotCopy,
            CopyParse::Copy if self.paren == 0 && is("from") => CopyParse::From,
            CopyParse::From if is("stdin") => CopyParse::Stdin,
            CopyParse::From => CopyParse::Copy,
            other => other,
        };
        self.word = word;
        self.word.clear();
    }

    /// Any token but a word: `FROM` must be followed by the word `stdin` itself.
    fn other_token(&mut self) {
        if self.copy_parse == CopyParse::From {
            self.copy_parse = CopyParse::Copy;
        }
        if self.copy_parse == CopyParse::Start {
            self.copy_parse = CopyParse::NotCopy;
        }
    }

    fn end_statement(&mut self) {
        if self.copy_parse == CopyParse::Stdin {
            self.copies_pending += 1;
        }
        self.copy_parse = CopyParse::Start;
        self.ident_count = 0;
        self.idents = [0; 4];
        self.begin_depth = 0;
        self.paren = 0;
    }

    /// One byte outside COPY data; true for a backslash psql takes as a command.
    fn lex_byte(&mut self, b: u8) -> bool {
        loop {
            match self.lex {
                Lex::Normal => {
                    if self.in_word && is_ident_cont(b) || !self.in_word && is_ident_start(b) {
                        if !self.in_word {
                            self.in_word = true;
                            self.word.clear();
                        }
                        if self.word.len() < 16 {
                            self.word.push(b.to_ascii_lowercase());
                        }
                        self.line_start = false;
                        self.prev = b;
                        return false;
                    }
                    let escape_string = self.in_word && self.word.as_slice() == b"e";
                    self.end_word();
                    if b == b'\\' {
                        return true;
                    }
                    let prev = std::mem::replace(&mut self.prev, b);
                    if !b.is_ascii_whitespace() {
                        self.line_start = false;
                    }
                    match b {
                        b'\'' => {
                            self.other_token();
                            self.lex = Lex::Single {
                                escapes: escape_string,
                                escaped: false,
                            };
                        }
                        b'"' => self.lex = Lex::Double,
                        b'$' => {
                            self.other_token();
                            self.candidate.clear();
                            self.lex = Lex::DollarOpen;
                        }
                        b'-' if prev == b'-' => {
                            self.lex = Lex::LineComment;
                        }
                        b'*' if prev == b'/' => {
                            self.prev = 0;
                            self.lex = Lex::Block { depth: 1 };
                        }
                        b'(' => {
                            self.other_token();
                            self.paren += 1;
                        }
                        b')' => {
                            self.other_token();
                            self.paren = self.paren.saturating_sub(1);
                        }
                        b';' if self.paren == 0 && self.begin_depth == 0 => self.end_statement(),
                        b'-' | b'/' => {}
                        _ if b.is_ascii_whitespace() => {}
                        _ => self.other_token(),
                    }
                    return false;
                }
                Lex::Single {
                    escapes: true,
                    escaped,
                } => {
                    self.lex = if escaped {
                        Lex::Single {
                            escapes: true,
                            escaped: false,
                        }
                    } else if b == b'\\' {
                        Lex::Single {
                            escapes: true,
                            escaped: true,
                        }
                    } else if b == b'\'' {
                        Lex::QuoteEnd { escapes: true }
                    } else {
                        self.lex
                    };
                    return false;
                }
                Lex::Single {
                    escapes: false,
                    escaped,
                } => {
                    // `escaped`: the previous byte was a backslash (no escape in a standard
                    // string, but psql reads `\'` as one if standard_conforming_strings
                    // was turned off).
                    if b == b'\'' {
                        if escaped && self.strict {
                            self.refuse(
                                b"\\'",
                                "a backslash before a closing quote: psql reads it as an escaped quote if the dump turned standard_conforming_strings off, and this psql has no \\restrict to fall back on",
                            );
                        }
                        self.lex = Lex::QuoteEnd { escapes: false };
                    } else {
                        self.lex = Lex::Single {
                            escapes: false,
                            escaped: b == b'\\',
                        };
                    }
                    return false;
                }
                Lex::QuoteEnd { escapes } => {
                    if b == b'\'' {
                        self.lex = Lex::Single {
                            escapes,
                            escaped: false,
                        };
                        return false;
                    }
                    self.lex = Lex::Normal;
                    self.prev = 0;
                }
                Lex::Double => {
                    if b == b'"' {
                        self.lex = Lex::Normal;
                        self.prev = 0;
                        // A quoted identifier is a token, not the word `stdin`.
                        self.other_token();
                    }
                    return false;
                }
                Lex::DollarOpen => {
                    if b == b'$' {
                        self.tag = std::mem::take(&mut self.candidate);
                        self.lex = Lex::Dollar { closing: false };
                        return false;
                    }
                    let fits = if self.candidate.is_empty() {
                        is_ident_start(b)
                    } else {
                        is_tag_cont(b)
                    };
                    if fits {
                        self.candidate.push(b);
                        return false;
                    }
                    // `$1` or a lone `$`: not a dollar quote.
                    self.lex = Lex::Normal;
                    self.prev = 0;
                }
                Lex::Dollar { closing } => {
                    if b == b'$' {
                        if closing && self.candidate == self.tag {
                            self.lex = Lex::Normal;
                            self.prev = 0;
                        } else {
                            self.candidate.clear();
                            self.lex = Lex::Dollar { closing: true };
                        }
                    } else if closing && is_tag_cont(b) && self.candidate.len() < self.tag.len() {
                        self.candidate.push(b);
                    } else {
                        self.lex = Lex::Dollar { closing: false };
                    }
                    return false;
                }
                Lex::Block { depth } => {
                    let prev = std::mem::replace(&mut self.prev, b);
                    if prev == b'/' && b == b'*' {
                        self.lex = Lex::Block { depth: depth + 1 };
                        self.prev = 0;
                    } else if prev == b'*' && b == b'/' {
                        self.prev = 0;
                        self.lex = if depth == 1 {
                            Lex::Normal
                        } else {
                            Lex::Block { depth: depth - 1 }
                        };
                    }
                    return false;
                }
                Lex::LineComment => {
                    if b == b'\n' {
                        self.lex = Lex::Normal;
                        self.prev = 0;
                    }
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dump filtered in chunks of `chunk` bytes, and the refusals.
    fn run(dump: &str, chunk: usize) -> (String, Vec<Refused>) {
        let mut guard = MetaGuard::new();
        let mut out = Vec::new();
        for part in dump.as_bytes().chunks(chunk) {
            guard.feed(part, Some(&mut out));
        }
        (String::from_utf8(out).unwrap(), guard.finish().0)
    }

    fn refused_lines(dump: &str) -> Vec<u64> {
        let lines: Vec<u64> = run(dump, 1 << 20).1.iter().map(|r| r.line).collect();
        for chunk in [1, 2, 3, 5, 17] {
            let again: Vec<u64> = run(dump, chunk).1.iter().map(|r| r.line).collect();
            assert_eq!(again, lines, "chunk {chunk}");
        }
        lines
    }

    const PG_DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\n\
        SET standard_conforming_strings = on;\n\
        CREATE TABLE public.t (x text, \"from\" text);\n\
        CREATE FUNCTION public.f() RETURNS text LANGUAGE plpgsql AS $_$\nbegin\n\\! not a command\nreturn E'\\'';\nend$_$;\n\
        COMMENT ON TABLE public.t IS 'a \\ b';\n\
        COPY public.t (x, \"from\") FROM stdin;\n\\! data\n\\\\\tx\n\\N\t'\n\\.\n\n\
        CREATE VIEW public.v AS SELECT E'it\\'s' AS a, $$ \\q $$ AS b /* \\! */; -- \\! x\n\
        COPY public.e (x) FROM stdin;\n\\.\n\
        --\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc123\n\n";

    #[test]
    fn pg_dumps_own_output_passes_without_its_restrict_lines() {
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            let (out, refused) = run(PG_DUMP, chunk);
            assert_eq!(refused, [], "chunk {chunk}");
            assert!(!out.contains("restrict"), "{out}");
            assert!(out.contains("\\! data\n"), "COPY data is kept");
            assert_eq!(
                out.len(),
                PG_DUMP.len() - "\\restrict abc123\n\\unrestrict abc123\n".len()
            );
        }
    }

    #[test]
    fn shell_and_other_meta_commands_are_refused_wherever_psql_would_run_them() {
        assert_eq!(refused_lines("SELECT 1;\n\\! touch /tmp/x\n"), [2]);
        assert_eq!(refused_lines("SELECT 1; \\! touch /tmp/x\n"), [1]);
        assert_eq!(refused_lines("\\o |sh\nSELECT 1;\n"), [1]);
        assert_eq!(refused_lines("\\copy t to program 'sh'"), [1]);
        // A COPY that is not from stdin has no data lines.
        assert_eq!(refused_lines("COPY t TO stdout;\n\\! x\n\\.\n"), [2, 3]);
        assert_eq!(refused_lines("COPY stdin TO stdout;\n\\! x\n"), [2]);
        // A COPY inside a comment or a string is not one.
        assert_eq!(
            refused_lines("/*\nCOPY t FROM stdin;\n*/\n\\! x\n\\.\n"),
            [4, 5]
        );
        assert_eq!(
            refused_lines("SELECT '\nCOPY t FROM stdin;\n';\n\\! x\n"),
            [4]
        );
        // Strings closed the way psql closes them: E'' escapes, '' doubling.
        assert_eq!(refused_lines("SELECT E'a''b\\'c';\n\\! x\n"), [2]);
        assert_eq!(refused_lines("SELECT 'a\\';\n\\! x\n"), [2]);
        // A semicolon inside parentheses does not start COPY data.
        assert_eq!(
            refused_lines("CREATE RULE r AS ON INSERT TO t DO (COPY t FROM stdin;\n\\! x\n);\n"),
            [2]
        );
        // pg_dump's own lines, abused.
        assert_eq!(refused_lines("\\restrict a\n\\restrict b\n"), [2]);
        assert_eq!(refused_lines("\\restrict a\n\\unrestrict b\n"), [2]);
        assert_eq!(
            refused_lines("\\connect -reuse-previous=on \"dbname='x' host=evil\"\n"),
            [1]
        );
        assert_eq!(
            refused_lines("\\connect prod\nSELECT 1;\n"),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn without_restrict_a_quote_psql_may_read_as_escaped_is_refused() {
        let dump = "SET standard_conforming_strings = off;\nSELECT 'a\\' ; \\! x ; ';\n";
        // With standard_conforming_strings off, psql sees one string; with it on, a
        // command: without \restrict behind it, the guard refuses the ambiguity itself.
        let mut guard = MetaGuard::strict();
        guard.feed(dump.as_bytes(), None);
        let refused = guard.finish().0;
        assert!(
            refused
                .iter()
                .any(|r| r.line == 2 && r.reason.contains("closing quote")),
            "{refused:?}"
        );
        let mut guard = MetaGuard::new();
        guard.feed(b"SELECT 'C:\\';\n", None);
        assert!(guard.finish().0.is_empty());
    }

    #[test]
    fn data_after_copy_ends_is_sql_again() {
        let dump = "COPY a (x) FROM stdin;\n1\n\\.\nCOPY b FROM STDIN; COPY c FROM stdin;\nb\n\\.\nc\n\\.\n\\! x\n";
        assert_eq!(refused_lines(dump), [9]);
        // A last line without a newline counts too.
        assert_eq!(refused_lines("SELECT 1;\n\\! x"), [2]);
    }
}

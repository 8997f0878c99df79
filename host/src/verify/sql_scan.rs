//! A streaming reader of pg_dump's plain SQL output: counts the rows of every
//! `COPY … FROM stdin;` section and checks that the dump ends with pg_dump's closing
//! "PostgreSQL database dump complete" comment. Memory is bounded whatever the line length.

use std::collections::BTreeMap;

use super::psql::split::{Splitter, Unit};
use super::psql::{Guard, Refused};

/// The comment pg_dump writes last (only a `\unrestrict` line may follow it).
pub const COMPLETE_MARKER: &[u8] = b"-- PostgreSQL database dump complete";

/// How much of each line is kept for classification (table names are near the start).
const PREFIX: usize = 8 * 1024;

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlSummary {
    /// Rows per table (`schema.table`, unquoted) in its COPY section.
    pub tables: BTreeMap<String, u64>,
    /// The closing marker was seen and nothing but comments, blank lines or `\unrestrict`
    /// follows it.
    pub complete: bool,
    /// A COPY section that never reached its `\.` line: the table whose data is cut.
    pub unterminated_copy: Option<String>,
    /// Bytes scanned.
    pub bytes: u64,
    /// Where psql could run a meta-command (the first few; only when the scanner was
    /// made by [`SqlScanner::for_psql`]).
    pub meta: Vec<Refused>,
    /// How many there are in all.
    pub meta_count: u64,
    /// Whether meta-commands were looked for.
    pub meta_checked: bool,
    /// The dump cut where psql cuts it (only when the scanner was made by
    /// [`SqlScanner::for_restore`] and the statements stayed within its limit).
    pub units: Option<Vec<Unit>>,
}

/// Feed it bytes in any chunking with [`feed`](Self::feed), then [`finish`](Self::finish).
#[derive(Debug, Default)]
pub struct SqlScanner {
    line: Vec<u8>,
    copy: Option<(String, u64)>,
    marker: bool,
    after_marker: bool,
    summary: SqlSummary,
    guard: Option<Guard>,
    splitter: Option<Splitter>,
}

impl SqlScanner {
    /// A scanner at the start of a dump.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner of a dump that psql will read (`dump.sql` of a ZIP): it also looks for
    /// psql meta-commands psql could run ([`Guard`]).
    pub fn for_psql() -> Self {
        SqlScanner {
            guard: Some(Guard::new()),
            ..Self::default()
        }
    }

    /// [`for_psql`](Self::for_psql) that also cuts the dump into psql's statements and
    /// COPY data sections for a parallel restore, keeping at most `limit` bytes of
    /// statements.
    pub fn for_restore(limit: u64) -> Self {
        SqlScanner {
            splitter: Some(Splitter::new(limit)),
            ..Self::default()
        }
    }

    /// Scans the next bytes.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.summary.bytes += data.len() as u64;
        if let Some(guard) = &mut self.guard {
            guard.feed(data, None);
        }
        if let Some(splitter) = &mut self.splitter {
            splitter.feed(data);
        }
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            self.keep(&data[..end]);
            self.end_line();
            data = &data[end + 1..];
        }
        self.keep(data);
    }

    fn keep(&mut self, part: &[u8]) {
        let room = PREFIX.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn end_line(&mut self) {
        let mut buffer = std::mem::take(&mut self.line);
        self.classify(buffer.strip_suffix(b"\r").unwrap_or(&buffer));
        // Reuse the allocation.
        buffer.clear();
        self.line = buffer;
    }

    fn classify(&mut self, line: &[u8]) {
        if let Some((table, rows)) = &mut self.copy {
            if line == b"\\." {
                let rows = *rows;
                let table = std::mem::take(table);
                *self.summary.tables.entry(table).or_insert(0) += rows;
                self.copy = None;
            } else {
                *rows += 1;
            }
        } else if let Some(rest) = line
            .strip_prefix(b"COPY ")
            .filter(|_| line.ends_with(b" FROM stdin;"))
        {
            self.copy = Some((copy_table(rest), 0));
            self.after_marker |= self.marker;
        } else if line == COMPLETE_MARKER {
            self.marker = true;
            self.after_marker = false;
        } else if self.marker
            && !line.is_empty()
            && !line.starts_with(b"--")
            && !line.starts_with(b"\\unrestrict ")
        {
            self.after_marker = true;
        }
    }

    /// The summary; a last line without a newline is taken into account.
    pub fn finish(mut self) -> SqlSummary {
        if !self.line.is_empty() {
            self.end_line();
        }
        if let Some(guard) = self.guard.take() {
            (self.summary.meta, self.summary.meta_count) = guard.finish();
            self.summary.meta_checked = true;
        }
        if let Some(splitter) = self.splitter.take() {
            (
                self.summary.meta,
                self.summary.meta_count,
                self.summary.units,
            ) = splitter.finish();
            self.summary.meta_checked = true;
        }
        self.summary.unterminated_copy = self.copy.map(|(t, _)| t);
        self.summary.complete =
            self.marker && !self.after_marker && self.summary.unterminated_copy.is_none();
        self.summary
    }
}

/// `schema.table` from the rest of a `COPY <schema>.<table> (cols) FROM stdin;` line,
/// identifiers unquoted (`"Mixed ""Case"""` → `Mixed "Case"`).
fn copy_table(rest: &[u8]) -> String {
    let text = String::from_utf8_lossy(rest);
    let mut chars = text.chars().peekable();
    let mut parts = Vec::new();
    loop {
        let mut ident = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        ident.push('"');
                    } else {
                        break;
                    }
                } else {
                    ident.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c == ' ' || c == '(' {
                    break;
                }
                ident.push(c);
                chars.next();
            }
        }
        parts.push(ident);
        if chars.peek() == Some(&'.') {
            chars.next();
        } else {
            break;
        }
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n\
        CREATE TABLE public.a (x integer);\n\
        COPY public.a (x) FROM stdin;\n1\n2\n\\.\n\n\
        COPY public.e (y) FROM stdin;\n\\.\n\n\
        COPY extra.\"Mixed \"\"Case\"\"\" (k, v) FROM stdin;\n\
        -- PostgreSQL database dump complete\nb\\nc\tx\n\\.\n\n\
        --\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";

    fn scan_in_chunks(data: &[u8], chunk: usize) -> SqlSummary {
        let mut s = SqlScanner::new();
        for part in data.chunks(chunk) {
            s.feed(part);
        }
        s.finish()
    }

    #[test]
    fn counts_rows_and_sees_the_end_in_any_chunking() {
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            let s = scan_in_chunks(DUMP.as_bytes(), chunk);
            assert!(s.complete, "chunk {chunk}");
            assert_eq!(s.bytes, DUMP.len() as u64);
            assert_eq!(
                s.tables,
                BTreeMap::from([
                    ("public.a".to_string(), 2),
                    ("public.e".to_string(), 0),
                    ("extra.Mixed \"Case\"".to_string(), 2),
                ]),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn truncated_dumps_are_incomplete() {
        let cut = DUMP.find("b\\nc").unwrap();
        let s = scan_in_chunks(&DUMP.as_bytes()[..cut], 5);
        assert!(!s.complete);
        assert_eq!(s.unterminated_copy.as_deref(), Some("extra.Mixed \"Case\""));
        let cut = DUMP.find("\\unrestrict").unwrap() - 10;
        assert!(!scan_in_chunks(&DUMP.as_bytes()[..cut], 5).complete);
        // A statement after the marker: not pg_dump's end.
        let more = format!("{DUMP}DROP TABLE public.a;\n");
        assert!(!scan_in_chunks(more.as_bytes(), 4096).complete);
        // A COPY that is not from stdin has no data section.
        let program = DUMP.replace(
            "\n\n--\n-- PostgreSQL database dump complete",
            "\nCOPY (SELECT 1) TO PROGRAM 'true';\n\n--\n-- PostgreSQL database dump complete",
        );
        assert!(scan_in_chunks(program.as_bytes(), 7).complete);
    }

    #[test]
    fn huge_lines_use_bounded_memory() {
        let mut s = SqlScanner::new();
        s.feed(b"COPY public.big (b) FROM stdin;\n");
        let row = vec![b'x'; 1 << 20];
        for _ in 0..5 {
            s.feed(&row);
            assert!(s.line.len() <= PREFIX);
            s.feed(b"\n");
        }
        s.feed(b"\\.\n--\n-- PostgreSQL database dump complete\n--\n");
        let s = s.finish();
        assert!(s.complete);
        assert_eq!(s.tables["public.big"], 5);
    }
}

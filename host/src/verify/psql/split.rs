//! A dump cut where psql cuts it: the statements psql sends one by one and the COPY data
//! sections it streams after a `COPY … FROM stdin`, as the [`Guard`]'s main path (the file
//! read as pg_dump's output) finds them — the same lexer, so the boundaries are exactly
//! psql's. A parallel restore sends these units over several connections.
//!
//! Statement texts are kept (with the comment lines before them: pg_dump's `-- Name: …`
//! headers); data sections only as byte ranges of the input, to be read again from the
//! archive. pg_dump's own meta-command lines (`\restrict`, `\unrestrict`, `\connect`) are
//! left out of the texts, as the guard leaves them out of what it passes on. Memory is
//! bounded: past `limit` bytes of statements the split is given up and only the guard
//! goes on.

use super::{Boundary, Guard, Refused};

/// A piece of the dump psql handles on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// One query psql sends: the bytes since the previous unit through its `;` (blank and
    /// comment lines before it included; at the end of the file, whatever is left).
    Statement {
        /// Its text.
        text: Vec<u8>,
        /// A `COPY … FROM stdin` whose data section is the next [`Unit::Data`].
        copy: bool,
        /// The line of the dump on which it ends (from 1).
        line: u64,
    },
    /// A COPY data section: input bytes `[start, end)`, its `\.` line included.
    Data {
        /// First byte (the start of a line).
        start: u64,
        /// After its last byte.
        end: u64,
        /// CRC-32 of its bytes, to know the section read again is the one read here.
        crc: u32,
    },
}

/// Feed it the dump in any chunking, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct Splitter {
    guard: Guard,
    /// Statement text so far: `carry` bytes kept from before a data section, then input
    /// bytes up to `end` (contiguous from the end backwards).
    buf: Vec<u8>,
    end: u64,
    carry: usize,
    in_data: Option<u64>,
    /// CRC-32 of the data section so far, up to input offset `crc_at`.
    crc: crc32fast::Hasher,
    crc_at: u64,
    units: Option<Vec<Unit>>,
    held: u64,
    limit: u64,
    /// Line counting: the line of input offset `cursor`.
    cursor: u64,
    line: u64,
}

impl Splitter {
    /// A splitter that keeps at most `limit` bytes of statements.
    pub fn new(limit: u64) -> Self {
        Splitter {
            guard: Guard::tracking(),
            buf: Vec::new(),
            end: 0,
            carry: 0,
            in_data: None,
            crc: crc32fast::Hasher::new(),
            crc_at: 0,
            units: Some(Vec::new()),
            held: 0,
            limit,
            cursor: 0,
            line: 1,
        }
    }

    /// The guard reading the same bytes.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Reads the next bytes.
    pub fn feed(&mut self, data: &[u8]) {
        let start = self.end;
        self.guard.feed(data, None);
        if self.units.is_some() {
            self.buf.extend_from_slice(data);
        }
        self.end = start + data.len() as u64;
        let boundaries = self.guard.take_boundaries();
        self.apply(&boundaries, data, start);
        self.count_lines(data, start, self.end);
        if self.in_data.is_some() {
            self.buf.truncate(self.carry);
            self.hash(data, start, self.end);
        }
        if self.buf.len() as u64 > self.limit {
            self.give_up();
        }
    }

    /// The refusals of the guard and, when the dump could be split within the limit and
    /// read to its end, its units.
    pub fn finish(mut self) -> (Vec<Refused>, u64, Option<Vec<Unit>>) {
        let guard = std::mem::take(&mut self.guard);
        let (refused, count, boundaries) = guard.finish_tracked();
        self.apply(&boundaries, &[], self.end);
        if self.in_data.is_some() {
            // A data section without its end: the dump is cut short.
            self.give_up();
        }
        if let Some(units) = &mut self.units {
            if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
                let line = self.line - u64::from(self.buf.ends_with(b"\n"));
                units.push(Unit::Statement {
                    text: std::mem::take(&mut self.buf),
                    copy: false,
                    line,
                });
            }
        }
        (refused, count, self.units)
    }

    fn give_up(&mut self) {
        if self.units.take().is_some() {
            tracing::debug!(
                limit = self.limit,
                "the dump's statements pass the limit: not split"
            );
        }
        self.buf = Vec::new();
        self.carry = 0;
    }

    /// The index in `buf` of input offset `at` (within the contiguous tail).
    fn index(&self, at: u64) -> usize {
        self.buf
            .len()
            .saturating_sub((self.end.saturating_sub(at)) as usize)
    }

    /// Adds the data section's bytes up to `to` (within the chunk `data` at `start`) to
    /// its CRC-32.
    fn hash(&mut self, data: &[u8], start: u64, to: u64) {
        let from = (self.crc_at.max(start) - start) as usize;
        let upto = ((to.max(start) - start) as usize).min(data.len());
        if from < upto {
            self.crc.update(&data[from..upto]);
        }
        self.crc_at = to;
    }

    /// Counts lines up to `to` within the chunk `data` that starts at `start`.
    fn count_lines(&mut self, data: &[u8], start: u64, to: u64) {
        if to <= self.cursor {
            return;
        }
        let from = (self.cursor.max(start) - start) as usize;
        let upto = ((to - start) as usize).min(data.len());
        if from < upto {
            self.line += memchr::memchr_iter(b'\n', &data[from..upto]).count() as u64;
        }
        self.cursor = to;
    }

    fn apply(&mut self, boundaries: &[Boundary], data: &[u8], start: u64) {
        for &b in boundaries {
            match b {
                Boundary::Send { at, copy } => {
                    self.count_lines(data, start, at);
                    if self.units.is_none() {
                        continue;
                    }
                    let cut = self.index(at + 1);
                    let text: Vec<u8> = self.buf.drain(..cut).collect();
                    self.held += text.len() as u64;
                    let line = self.line;
                    if let Some(units) = &mut self.units {
                        units.push(Unit::Statement { text, copy, line });
                    }
                    if self.held > self.limit {
                        self.give_up();
                    }
                }
                Boundary::DataStart { at } => {
                    self.count_lines(data, start, at);
                    self.in_data = Some(at);
                    self.crc = crc32fast::Hasher::new();
                    self.crc_at = at;
                    self.carry = self.index(at);
                }
                Boundary::DataEnd { at } => {
                    self.count_lines(data, start, at);
                    let Some(from) = self.in_data.take() else {
                        continue;
                    };
                    self.hash(data, start, at);
                    let crc = std::mem::take(&mut self.crc).finalize();
                    if self.units.is_none() {
                        continue;
                    }
                    let resume = self.index(at);
                    self.buf.drain(self.carry..resume);
                    self.carry = 0;
                    if let Some(units) = &mut self.units {
                        units.push(Unit::Data {
                            start: from,
                            end: at,
                            crc,
                        });
                    }
                }
                Boundary::Dropped { from, to } => {
                    if self.units.is_none() || self.in_data.is_some() {
                        continue;
                    }
                    let (a, z) = (self.index(from), self.index(to));
                    self.buf.drain(a..z);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(dump: &[u8], chunk: usize) -> Vec<Unit> {
        let mut s = Splitter::new(1 << 20);
        for part in dump.chunks(chunk) {
            s.feed(part);
        }
        let (refused, _, units) = s.finish();
        assert!(refused.is_empty(), "{refused:?}");
        units.expect("split")
    }

    fn text(u: &Unit) -> String {
        match u {
            Unit::Statement { text, .. } => String::from_utf8_lossy(text).into_owned(),
            Unit::Data { start, end, crc } => {
                let section = &DUMP.as_bytes()[*start as usize..*end as usize];
                assert_eq!(*crc, crc32fast::hash(section));
                format!("<data {start}..{end}>")
            }
        }
    }

    const DUMP: &str = "--\n-- header\n--\n\n\\restrict k1\n\nSET a = 1;\n\
        SELECT pg_catalog.set_config('search_path', '', false);\n\n\
        --\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\n\
        CREATE TABLE public.t (x text DEFAULT ';');\n\n\
        COPY public.t (x) FROM stdin;\na;b\n\\\\.\n\\.\n\n\
        CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
        COPY public.u (y) FROM stdin; SELECT\n1\n\\.\n2;\n\
        \\unrestrict k1\n-- done\n";

    /// `<data a..b>` of the data section `section` of [`DUMP`].
    fn data(section: &str) -> String {
        let a = DUMP.find(section).unwrap();
        format!("<data {a}..{}>", a + section.len())
    }

    #[test]
    fn statements_and_data_sections_where_psql_cuts_them_in_any_chunking() {
        let expected = [
            "--\n-- header\n--\n\n\nSET a = 1;".to_string(),
            "\nSELECT pg_catalog.set_config('search_path', '', false);".into(),
            "\n\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.t (x text DEFAULT ';');".into(),
            "\n\nCOPY public.t (x) FROM stdin;".into(),
            data("a;b\n\\\\.\n\\.\n"),
            "\n\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;".into(),
            "\nCOPY public.u (y) FROM stdin;".into(),
            data("1\n\\.\n"),
            " SELECT\n2;".into(),
            "\n-- done\n".into(),
        ];
        for chunk in [1, 2, 5, 17, 4096] {
            let units = split(DUMP.as_bytes(), chunk);
            let got: Vec<String> = units.iter().map(text).collect();
            assert_eq!(got, expected, "chunk {chunk}");
            let copies: Vec<bool> = units
                .iter()
                .filter_map(|u| match u {
                    Unit::Statement { copy, .. } => Some(*copy),
                    Unit::Data { .. } => None,
                })
                .collect();
            assert_eq!(
                copies,
                [false, false, false, true, false, true, false, false]
            );
        }
        let units = split(DUMP.as_bytes(), 3);
        let Unit::Data { start, end, .. } = units[4] else {
            panic!()
        };
        assert_eq!(&DUMP[start as usize..end as usize], "a;b\n\\\\.\n\\.\n");
        let lines: Vec<u64> = units
            .iter()
            .filter_map(|u| match u {
                Unit::Statement { line, .. } => Some(*line),
                Unit::Data { .. } => None,
            })
            .collect();
        assert_eq!(lines, [7, 8, 14, 16, 21, 22, 25, 27]);
    }

    #[test]
    fn past_the_limit_the_split_is_given_up_and_the_guard_goes_on() {
        let mut s = Splitter::new(64);
        s.feed(DUMP.as_bytes());
        s.feed(b"\\! touch /tmp/x\n");
        let (refused, _, units) = s.finish();
        assert!(units.is_none());
        assert_eq!(refused.len(), 1);
        // A data section cut short: no units either.
        let mut s = Splitter::new(1 << 20);
        s.feed(b"COPY public.t (x) FROM stdin;\n1\n");
        assert!(s.finish().2.is_none());
    }
}

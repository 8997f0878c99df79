//! What the guard knows beside the paths: where the byte being read is, the refusals
//! found so far (one per line: the first path to reach it gives the reason), and the main
//! path's backslash commands, checked against pg_dump's own (`\\restrict KEY` first,
//! `\\unrestrict KEY` with the same key, `\\connect DB`) and dropped from the output when
//! they are.

use super::state::State;
use super::{Refused, Stop, KEEP, LINE_MAX, SHOWN};

/// The guard's view of the byte being read, and what it found.
#[derive(Debug, Default)]
pub struct Ctx {
    /// Physical line (from 1) and column of the current byte.
    pub line: u64,
    pub col: u32,
    pub abs: u64,
    pub line_text: Vec<u8>,
    pub refused: Vec<Refused>,
    pub refusals: u64,
    /// The line of the last finding.
    last: Option<u64>,
    /// The main path's pending backslash, and the command it starts.
    pub main_backslash: Option<u64>,
    main_name: Vec<u8>,
    main_rest: Vec<u8>,
    main_inline: bool,
    main_line: u64,
    restrict_key: Option<Vec<u8>>,
    /// Column at which the next segment starts.
    next_col: u32,
    /// Output to skip: pg_dump's own command line `[from, to)`.
    pub dropped: Option<(u64, u64)>,
    /// The main path's boundaries, when they are asked for ([`super::Guard::tracking`]).
    pub boundaries: Option<Vec<Boundary>>,
}

/// Where the main path (the file read as pg_dump's output) ends a statement or a COPY data
/// section, as byte offsets in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// psql sends the query buffer at the `;` at `at`; `copy`: the statement is a
    /// `COPY … FROM stdin` whose data section follows.
    Send { at: u64, copy: bool },
    /// A COPY data section starts at `at` (the start of a line).
    DataStart { at: u64 },
    /// It ends before `at` (after its `\.` line).
    DataEnd { at: u64 },
    /// pg_dump's own meta-command line `[from, to)`, which psql never gets.
    Dropped { from: u64, to: u64 },
}

impl Ctx {
    /// Before the first byte of line 1.
    pub fn new() -> Self {
        Ctx {
            line: 1,
            ..Ctx::default()
        }
    }

    /// One finding per line: the first path to reach it gives the text and the reason.
    pub fn record(&mut self, line: u64, text: &[u8], reason: String) {
        if self.last == Some(line) {
            return;
        }
        self.last = Some(line);
        self.refusals += 1;
        if self.refused.len() < KEEP {
            let text = String::from_utf8_lossy(text).chars().take(SHOWN).collect();
            self.refused.push(Refused { line, text, reason });
        }
    }

    fn reason(state: &State, reason: &str) -> String {
        match &state.why {
            None => reason.to_string(),
            Some(why) => format!("{reason}; psql runs it {}", why.describe()),
        }
    }

    /// A finding at the current byte; the main path goes on, another path ends.
    pub fn refuse(&mut self, state: &State, text: String, reason: &str) -> Option<Stop> {
        let reason = Self::reason(state, reason);
        self.record(self.line, text.as_bytes(), reason);
        (!state.main).then_some(Stop::Dead)
    }

    /// A backslash command flagged on a path other than the main one.
    pub fn refuse_spec(&mut self, state: &State, reason: &str) -> Stop {
        let start = (state.core.command_col as usize).min(self.line_text.len());
        let text = &self.line_text[start..];
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let text = text.strip_suffix(b"\r").unwrap_or(text).to_vec();
        let reason = Self::reason(state, reason);
        self.record(self.line, &text, reason);
        Stop::Dead
    }

    /// The input is beyond what the guard follows exactly.
    pub fn ambiguous(&mut self, state: &State, what: &str) -> Stop {
        let reason = format!("too ambiguous to check: {what}");
        let _ = state;
        self.record(self.line, b"", reason);
        Stop::Dead
    }

    /// The SQL lexer stopped at a backslash.
    pub fn backslash(&mut self, state: &State) {
        if state.main {
            self.main_backslash = Some(self.abs);
        }
    }

    /// It was `\;` or `\:`.
    pub fn no_backslash(&mut self, state: &State) {
        if state.main {
            self.main_backslash = None;
        }
    }

    /// The main path read a command name.
    pub fn main_command(&mut self, state: &State, name: &[u8]) {
        self.main_name = name.to_vec();
        self.main_rest.clear();
        self.main_inline = state.core.line_sql;
        self.main_line = self.line;
    }

    /// A byte of the rest of the main path's command line.
    pub fn main_text(&mut self, c: u8) {
        if self.main_rest.len() < LINE_MAX {
            self.main_rest.push(c);
        }
    }

    /// The main path's command line is complete: pg_dump's own lines are checked and
    /// dropped from the output, any other is refused.
    pub fn main_end(&mut self, state: &State) {
        let mut shown = b"\\".to_vec();
        shown.extend_from_slice(&self.main_name);
        shown.extend_from_slice(&self.main_rest);
        let shown = shown.strip_suffix(b"\r").unwrap_or(&shown).to_vec();
        let line = self.main_line;
        let verdict = self.own_command(state);
        match verdict {
            Ok(()) => {
                if let Some(from) = self.main_backslash.take() {
                    let to = self.abs + 1;
                    self.dropped = Some((from, to));
                    self.boundary(Boundary::Dropped { from, to });
                }
            }
            Err(reason) => self.record(line, &shown, reason.to_string()),
        }
    }

    fn own_command(&mut self, state: &State) -> Result<(), &'static str> {
        if self.main_inline {
            return Err("a psql meta-command after SQL on the same line");
        }
        let _ = state;
        let rest = String::from_utf8_lossy(&self.main_rest).into_owned();
        let args: Vec<&str> = rest.split_ascii_whitespace().collect();
        let key_ok = |k: &str| {
            !k.is_empty() && k.len() <= 256 && k.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        match (self.main_name.as_slice(), args.as_slice()) {
            (b"restrict", [key]) if key_ok(key) => {
                if self.restrict_key.is_some() {
                    return Err("a second \\restrict: pg_dump writes one, first");
                }
                self.restrict_key = Some(key.as_bytes().to_vec());
                Ok(())
            }
            (b"unrestrict", [key]) if key_ok(key) => {
                if self.restrict_key.as_deref() != Some(key.as_bytes()) {
                    return Err("\\unrestrict without the dump's own \\restrict key");
                }
                Ok(())
            }
            // pg_dump --create's reconnection to the database it made.
            (b"connect" | b"c", [database])
                if !database.starts_with('-')
                    && database
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b) || b >= 0x80) =>
            {
                Ok(())
            }
            _ => Err("a psql meta-command: pg_dump never writes one"),
        }
    }
}

impl Ctx {
    /// Records a boundary of the main path, when they are tracked.
    pub fn boundary(&mut self, boundary: Boundary) {
        if let Some(list) = &mut self.boundaries {
            list.push(boundary);
        }
    }

    pub fn col_start(&self) -> u32 {
        self.next_col
    }

    pub fn line_text_extend(&mut self, seg: &[u8]) {
        let room = LINE_MAX.saturating_sub(self.line_text.len());
        self.line_text
            .extend_from_slice(&seg[..seg.len().min(room)]);
        self.next_col = if seg.last() == Some(&b'\n') {
            0
        } else {
            self.next_col.saturating_add(seg.len() as u32)
        };
    }
}

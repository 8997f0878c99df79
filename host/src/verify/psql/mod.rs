//! Whether psql would run a backslash command of a plain SQL dump. Odoo restores
//! `dump.sql` with plain `psql -f` (no `ON_ERROR_STOP`), and psql runs every
//! meta-command it reads (`\! sh`, `\o |cmd`, a backtick in an argument …): a dump from
//! anywhere, or a name or a row a database user planted, would run commands as whoever
//! restores. [`Guard`] reads the file as psql does and flags every input on which psql
//! could run one.
//!
//! It follows psql's own sources (PostgreSQL 15 and 16): the line reader (`gets_fromFile`
//! in `src/bin/psql/input.c`: fgets in 1024-byte chunks, a NUL drops the rest of its chunk
//! and can swallow the newline), the main loop (`MainLoop` in `mainloop.c`: one
//! `psql_scan_setup` per line with that line's `standard_conforming_strings` and client
//! encoding, the byte-order mark of line 1), the SQL lexer (`src/fe_utils/psqlscan.l`,
//! [`lexer`]: strings as psql decides them, `--` comments ending at a carriage return,
//! nested comments, dollar quotes, `:name` variables, `BEGIN ATOMIC` bodies), the
//! backslash-command lexer and dispatcher (`psqlscanslash.l`, `HandleSlashCmds` and
//! `exec_command` in `command.c`, [`slash`], [`names`]) and COPY data (`handleCopyIn` in
//! `copy.c`, [`data`]).
//!
//! What psql reads next depends on things the file does not fix: whether the server
//! answers a COPY with a data request (a COPY into a missing table fails, and psql reads
//! its data as SQL), `standard_conforming_strings` and the client encoding (any statement
//! can change them, and psql reads them again before each line), the values of variables
//! psql sets itself, the psql version. The guard follows every possible reading at once:
//! a set of complete psql states ([`state::State`]), split where the outcome is not fixed
//! and merged again when two become equal. The path that reads the file as pg_dump's output
//! (every COPY accepted, settings as pg_dump sets them) refuses every backslash command but
//! pg_dump's own validated `\restrict KEY`, `\unrestrict KEY` and `\connect DB`; every
//! other path flags the commands psql would run there: one that runs programs, touches
//! files, sets variables or sends queries, or a backtick in the arguments of a harmless
//! one, or a `:name` whose value psql would read again as SQL and that could hold any text
//! (`:LAST_ERROR_MESSAGE`). Past [`STATES_MAX`] paths the input is refused as too
//! ambiguous to check. Memory is bounded whatever the input.

mod data;
mod encoding;
mod lexer;
mod names;
mod numbers;
mod skip;
mod slash;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use state::{After, Choice, Core, Need, State, Why};

/// How many refused lines are kept for the message.
const KEEP: usize = 5;
/// How much of a line is kept and shown.
const LINE_MAX: usize = 4096;
const SHOWN: usize = 80;
/// The most paths followed at once.
pub const STATES_MAX: usize = 256;
/// psql's line reader: `fgets(line, 1024, …)`.
const FGETS_LINE: u32 = 1023;

/// A place where psql would run a meta-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its line number in the dump (from 1).
    pub line: u64,
    /// The command (from its backslash) or variable, cut to 80 characters.
    pub text: String,
    /// Why it is refused, and when psql would run it.
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}` ({})", self.line, self.text, self.reason)
    }
}

/// What the lexer does with the byte it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Taken.
    Next,
    /// A pending token ended: the same byte is read again.
    Again,
}

/// Why a path stops at a byte.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// psql's next step depends on a choice: the path splits.
    Need(Need),
    /// The path ends: psql quits, or the path was flagged.
    Dead,
}

/// The guard's view of the byte being read, and what it found.
#[derive(Debug, Default)]
pub struct Ctx {
    /// Physical line (from 1) and column of the current byte.
    pub line: u64,
    pub col: u32,
    abs: u64,
    line_text: Vec<u8>,
    refused: Vec<Refused>,
    refusals: u64,
    /// The line of the last finding.
    last: Option<u64>,
    /// The main path's pending backslash, and the command it starts.
    main_backslash: Option<u64>,
    main_name: Vec<u8>,
    main_rest: Vec<u8>,
    main_inline: bool,
    main_line: u64,
    restrict_key: Option<Vec<u8>>,
    /// Column at which the next segment starts.
    next_col: u32,
    /// Output to skip: pg_dump's own command line `[from, to)`.
    dropped: Option<(u64, u64)>,
}

impl Ctx {
    /// One finding per line: the first path to reach it gives the text and the reason.
    fn record(&mut self, line: u64, text: &[u8], reason: String) {
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
                    self.dropped = Some((from, self.abs + 1));
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

/// What became of a path over a segment.
enum Outcome {
    Done,
    Dead,
    Need(Need, usize),
}

impl State {
    /// Reads `seg[from..]` (a segment ends at a newline or where the data given ends).
    fn run(&mut self, seg: &[u8], from: usize, base: (u32, u64), ctx: &mut Ctx) -> Outcome {
        let mut i = from;
        while i < seg.len() {
            ctx.col = base.0 + i as u32;
            ctx.abs = base.1 + i as u64;
            if ctx.col == 0 && self.core.after != After::Nothing {
                if let Err(stop) = self.start_line() {
                    return outcome(stop, i);
                }
            }
            if self.core.data.is_some() {
                match self.data_run(seg, i, ctx) {
                    Ok(j) => i = j,
                    Err((stop, at)) => return outcome(stop, at),
                }
                continue;
            }
            let j = self.skip(seg, i);
            if j > i {
                i = j;
                continue;
            }
            if let Err(stop) = self.sql_step(seg[i], ctx) {
                return outcome(stop, i);
            }
            self.answer = None;
            i += 1;
        }
        Outcome::Done
    }

    /// At the start of a line after queries that may have asked for COPY data, or after
    /// a data section: data again, or SQL.
    fn start_line(&mut self) -> Result<(), Stop> {
        let (left, main_left) = match self.core.after {
            After::Nothing => return Ok(()),
            After::Line { copies, main } => (copies, main),
            After::Section { left, main_left } => (left, main_left),
        };
        let choice = match self.core.after {
            After::Line { .. } => Choice::CopyStart,
            _ => Choice::CopyEnd,
        };
        if left > 0 {
            let main = u8::from(main_left > 0);
            if self.decide(2, main, choice)? == 1 {
                let less = |n: u8| if n == u8::MAX { n } else { n.saturating_sub(1) };
                self.core.data = Some(state::Data::new(less(left), main_left.saturating_sub(1)));
            }
        }
        self.core.after = After::Nothing;
        Ok(())
    }

    /// One byte of a line psql reads with `gets_fromFile`.
    fn sql_step(&mut self, b: u8, ctx: &mut Ctx) -> Result<(), Stop> {
        let t = match self.core.translated {
            Some(t) => t,
            None => {
                if ctx.col % FGETS_LINE == 0 {
                    self.core.nul_in_chunk = false;
                }
                if b == b'\n' {
                    if !self.core.nul_in_chunk {
                        self.end_of_line(ctx)?;
                    }
                    return Ok(());
                }
                if self.core.nul_in_chunk {
                    return Ok(());
                }
                if b == 0 {
                    self.core.nul_in_chunk = true;
                    return Ok(());
                }
                if self.core.bom > 0 {
                    self.core.bom -= 1;
                    return Ok(());
                }
                let t = self.translate(b)?;
                self.core.translated = Some(t);
                t
            }
        };
        self.core.line_bytes = true;
        let sql = self.core.slash == state::Slash::Off;
        loop {
            let flow = if self.core.slash == state::Slash::Off {
                self.sql_char(t, ctx)?
            } else {
                self.slash_char(t, ctx)?
            };
            if flow == Flow::Next {
                break;
            }
        }
        if sql && self.core.slash == state::Slash::Off && self.core.tok != state::Tok::Backslash {
            self.echo(b);
            if !lexer::is_space(t) {
                self.core.line_sql = true;
            }
        }
        self.core.translated = None;
        Ok(())
    }

    /// The end of a line psql read: its last token ends, its command ends, and the
    /// queries it sent may ask for COPY data from the next line on.
    fn end_of_line(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
        if self.core.line_bytes {
            self.end_of_tokens(ctx)?;
            self.slash_end_of_line(ctx)?;
            if self.core.line_copies > 0 {
                self.core.after = After::Line {
                    copies: self.core.line_copies,
                    main: self.core.main_copies,
                };
            }
        }
        let core = &mut self.core;
        core.line_bytes = false;
        core.line_sql = false;
        core.std_strings = None;
        core.encodings = state::ALL_ENCODINGS;
        core.trails = [0; 5];
        core.gb_lead = false;
        core.nul_in_chunk = false;
        core.bom = 0;
        core.line_copies = 0;
        core.main_copies = 0;
        core.tail = [0; 3];
        Ok(())
    }
}

fn outcome(stop: Stop, at: usize) -> Outcome {
    match stop {
        Stop::Need(need) => Outcome::Need(need, at),
        Stop::Dead => Outcome::Dead,
    }
}

/// A streaming reader of a SQL file psql will run (see the module documentation). Feed it
/// bytes in any chunking, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct Guard {
    states: Vec<State>,
    ctx: Ctx,
    /// The first bytes, until it is known whether they are a byte-order mark.
    start: Option<Vec<u8>>,
    /// Output: bytes of the input written so far, and bytes held back (a command may be
    /// pg_dump's own line, dropped from the output).
    emitted: u64,
    held: Vec<u8>,
    poisoned: bool,
    fed: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    /// A guard at the start of a file.
    pub fn new() -> Self {
        Guard {
            states: Vec::new(),
            ctx: Ctx {
                line: 1,
                ..Ctx::default()
            },
            start: Some(Vec::new()),
            emitted: 0,
            held: Vec::new(),
            poisoned: false,
            fed: 0,
        }
    }

    /// The refusals so far (the first five).
    pub fn refused(&self) -> &[Refused] {
        &self.ctx.refused
    }

    /// How many there were in all.
    pub fn refusals(&self) -> u64 {
        self.ctx.refusals
    }

    /// Reads `data`; with `out`, appends it without pg_dump's own meta-command lines.
    pub fn feed(&mut self, data: &[u8], out: Option<&mut Vec<u8>>) {
        let mut out = out;
        let mut data = data;
        if let Some(start) = &mut self.start {
            let need = 3 - start.len();
            let take = need.min(data.len());
            start.extend_from_slice(&data[..take]);
            data = &data[take..];
            if start.len() < 3 {
                return;
            }
            let start = self.start.take().unwrap_or_default();
            self.begin(&start);
            self.read(&start, out.as_deref_mut());
        }
        self.read(data, out);
    }

    fn begin(&mut self, start: &[u8]) {
        let bom = start.starts_with(b"\xef\xbb\xbf");
        self.states.push(State::start(true, bom));
        if bom {
            let mut kept = State::start(false, false);
            kept.why = Some(Why {
                choice: Choice::ByteOrderMark,
                line: 1,
            });
            self.states.push(kept);
        }
    }

    fn read(&mut self, mut data: &[u8], mut out: Option<&mut Vec<u8>>) {
        while !data.is_empty() {
            let end = memchr::memchr(b'\n', data).map_or(data.len(), |p| p + 1);
            let (seg, rest) = data.split_at(end);
            let base = (self.ctx.col_start(), self.fed);
            self.ctx.line_text_extend(seg);
            self.segment(seg, base);
            self.fed += seg.len() as u64;
            if let Some(out) = out.as_deref_mut() {
                self.emit(seg, out);
            }
            if seg.last() == Some(&b'\n') {
                self.ctx.line += 1;
                self.ctx.line_text.clear();
                self.merge();
            }
            data = rest;
        }
    }

    /// Runs every path over one segment, splitting them where psql's next step depends on
    /// a choice.
    fn segment(&mut self, seg: &[u8], base: (u32, u64)) {
        let mut work: Vec<(State, usize)> = self.states.drain(..).map(|s| (s, 0)).collect();
        let mut done = Vec::with_capacity(work.len());
        while let Some((mut state, from)) = work.pop() {
            match state.run(seg, from, base, &mut self.ctx) {
                Outcome::Done => done.push(state),
                Outcome::Dead => {}
                Outcome::Need(need, at) => {
                    let main = if state.main { need.main } else { 0 };
                    for way in (0..need.ways).filter(|&w| w != main) {
                        let mut other = state;
                        other.main = false;
                        other.why.get_or_insert(Why {
                            choice: need.choice,
                            line: self.ctx.line,
                        });
                        other.answer = Some(way);
                        work.push((other, at));
                    }
                    state.answer = Some(main);
                    work.push((state, at));
                }
            }
            if done.len() + work.len() > STATES_MAX * 4 {
                self.too_many(&mut done, &mut work);
            }
        }
        self.states = done;
        if self.states.len() > STATES_MAX {
            self.merge();
        }
        if self.states.len() > STATES_MAX {
            let mut none = Vec::new();
            let mut states = std::mem::take(&mut self.states);
            self.too_many(&mut states, &mut none);
            self.states = states;
        }
    }

    fn too_many(&mut self, done: &mut Vec<State>, work: &mut Vec<(State, usize)>) {
        self.ctx.record(
            self.ctx.line,
            b"",
            format!("too ambiguous to check: psql could read it in more than {STATES_MAX} ways"),
        );
        done.retain(|s| s.main);
        work.retain(|(s, _)| s.main);
    }

    /// Paths in the same state behave the same from here: one is kept (the main one).
    fn merge(&mut self) {
        for state in &mut self.states {
            state.settle();
        }
        if self.states.len() <= 16 {
            // Few paths (the usual case): compared pairwise, no hashing.
            let mut kept: Vec<State> = Vec::with_capacity(self.states.len());
            for state in self.states.drain(..) {
                match kept.iter_mut().find(|k| k.core == state.core) {
                    Some(k) => {
                        if state.main {
                            *k = state;
                        }
                    }
                    None => kept.push(state),
                }
            }
            self.states = kept;
            return;
        }
        let mut seen: HashMap<Core, usize> = HashMap::with_capacity(self.states.len());
        let mut kept: Vec<State> = Vec::with_capacity(self.states.len());
        for state in self.states.drain(..) {
            match seen.get(&state.core) {
                Some(&i) => {
                    if state.main {
                        kept[i] = state;
                    }
                }
                None => {
                    seen.insert(state.core, kept.len());
                    kept.push(state);
                }
            }
        }
        self.states = kept;
    }

    /// Writes what is known to reach psql: everything but the main path's command lines
    /// still undecided (held) or pg_dump's own (dropped).
    fn emit(&mut self, seg: &[u8], out: &mut Vec<u8>) {
        if self.poisoned {
            return;
        }
        self.held.extend_from_slice(seg);
        if let Some((from, to)) = self.ctx.dropped.take() {
            let keep = ((from - self.emitted) as usize).min(self.held.len());
            out.extend_from_slice(&self.held[..keep]);
            let skip = ((to - self.emitted) as usize).min(self.held.len());
            self.held.drain(..skip);
            self.emitted = to;
        }
        let limit = self.ctx.main_backslash.unwrap_or(self.fed);
        if limit > self.emitted {
            let n = ((limit - self.emitted) as usize).min(self.held.len());
            out.extend_from_slice(&self.held[..n]);
            self.held.drain(..n);
            self.emitted += n as u64;
        }
        if self.held.len() > 2 * LINE_MAX {
            // A command line this long is refused whatever it holds: nothing more is
            // written.
            self.poisoned = true;
            self.held = Vec::new();
        }
    }

    /// Ends the input: a last line without a newline is read too. Returns the refusals
    /// kept and how many there were in all.
    pub fn finish(mut self) -> (Vec<Refused>, u64) {
        if let Some(start) = self.start.take() {
            self.begin(&start);
            self.read(&start, None);
        }
        self.ctx.abs = self.fed;
        let mut work: Vec<State> = std::mem::take(&mut self.states);
        while let Some(mut state) = work.pop() {
            if state.core.data.is_some() {
                continue;
            }
            match state.end_of_line(&mut self.ctx) {
                Ok(()) | Err(Stop::Dead) => {}
                Err(Stop::Need(need)) => {
                    let main = if state.main { need.main } else { 0 };
                    for way in 0..need.ways {
                        let mut other = state;
                        other.main = way == main && state.main;
                        if !other.main {
                            other.why.get_or_insert(Why {
                                choice: need.choice,
                                line: self.ctx.line,
                            });
                        }
                        other.answer = Some(way);
                        work.push(other);
                    }
                }
            }
        }
        (self.ctx.refused, self.ctx.refusals)
    }
}

impl Ctx {
    fn col_start(&self) -> u32 {
        self.next_col
    }

    fn line_text_extend(&mut self, seg: &[u8]) {
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

/// Every refusal of a whole file (the first five, and how many in all).
pub fn scan(sql: &[u8]) -> (Vec<Refused>, u64) {
    let mut guard = Guard::new();
    guard.feed(sql, None);
    guard.finish()
}

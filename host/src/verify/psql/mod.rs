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
//! its data as SQL; any statement holding the word COPY may ask for data), the
//! `standard_conforming_strings` and client encoding psql reads again before each line
//! (`standard_strings()` in `common.c`; `SendQuery` tracks `SET client_encoding`), which
//! any statement can change, the values of the variables psql sets itself, the psql
//! version (PostgreSQL 16 reads `1_0e-` as one number). The guard follows every possible
//! reading at once: a set of complete psql states ([`state::State`]), split where the
//! outcome is not fixed and merged again when two become equal. Settings are followed as
//! superpositions and split only where they would make psql read a byte differently (a
//! quote after an odd run of backslashes; an ASCII byte an encoding would hide after a lead
//! byte); off the main path, parentheses and `BEGIN` depths past 16 are one abstract value.
//!
//! The path that reads the file as pg_dump's output (every COPY accepted, settings as
//! pg_dump sets them) refuses every backslash command but pg_dump's own validated
//! `\restrict KEY`, `\unrestrict KEY` and `\connect DB`. Every other path flags what psql
//! would run there: a command that runs programs, touches files, sets variables or sends
//! queries, a backtick in the arguments of a harmless one, a `:name` whose value psql would
//! read again as SQL and that could hold any text (`:LAST_ERROR_MESSAGE`). Past
//! [`STATES_MAX`] paths the input is refused as too ambiguous to check. Memory is bounded
//! whatever the input; `bench/psql-guard-fuzz.sh` proves the guard against the real psql.

mod ctx;
mod data;
mod encoding;
mod lexer;
mod names;
mod numbers;
mod reader;
mod skip;
mod slash;
pub mod split;
mod state;
#[cfg(test)]
mod tests;
mod tokens;
mod why;
mod words;

use std::collections::HashMap;
use std::fmt;

pub use ctx::{Boundary, Ctx};
use reader::Outcome;
use state::{Choice, Core, Need, State, Why};

/// How many refused lines are kept for the message.
pub(crate) const KEEP: usize = 5;
/// How much of a line is kept and shown.
pub(crate) const LINE_MAX: usize = 4096;
pub(crate) const SHOWN: usize = 80;
/// The most paths followed at once.
pub const STATES_MAX: usize = 256;
/// psql's line reader: `fgets(line, 1024, …)`.
pub(crate) const FGETS_LINE: u32 = 1023;

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
            ctx: Ctx::new(),
            start: Some(Vec::new()),
            emitted: 0,
            held: Vec::new(),
            poisoned: false,
            fed: 0,
        }
    }

    /// A guard that also records where the main path (the file read as pg_dump's
    /// output) ends statements and COPY data sections: psql's own boundaries
    /// ([`take_boundaries`](Self::take_boundaries)).
    pub fn tracking() -> Self {
        let mut guard = Guard::new();
        guard.ctx.boundaries = Some(Vec::new());
        guard
    }

    /// The boundaries found since the last call, in input order (none unless made by
    /// [`tracking`](Self::tracking)).
    pub fn take_boundaries(&mut self) -> Vec<Boundary> {
        match &mut self.ctx.boundaries {
            Some(list) => std::mem::take(list),
            None => Vec::new(),
        }
    }

    /// Bytes read so far.
    pub fn fed(&self) -> u64 {
        self.fed + self.start.as_ref().map_or(0, |s| s.len() as u64)
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
    pub fn finish(self) -> (Vec<Refused>, u64) {
        let (refused, count, _) = self.finish_tracked();
        (refused, count)
    }

    /// [`finish`](Self::finish), with the boundaries found at the end of the input.
    pub fn finish_tracked(mut self) -> (Vec<Refused>, u64, Vec<Boundary>) {
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
        let boundaries = self.take_boundaries();
        (self.ctx.refused, self.ctx.refusals, boundaries)
    }
}

/// Every refusal of a whole file (the first five, and how many in all).
pub fn scan(sql: &[u8]) -> (Vec<Refused>, u64) {
    let mut guard = Guard::new();
    guard.feed(sql, None);
    guard.finish()
}

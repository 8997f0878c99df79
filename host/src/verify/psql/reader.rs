//! psql's reading loop for one path (`MainLoop` in `src/bin/psql/mainloop.c`): lines as
//! `gets_fromFile` (`input.c`) returns them — fgets in 1023-byte chunks, a NUL byte drops
//! the rest of its chunk and with it maybe the newline, so lines merge —, each scanned with
//! the line's settings (`psql_scan_setup`), the byte-order mark dropped from line 1, and
//! after a line whose queries may have asked for COPY data, the data sections
//! ([`super::data`]).

use super::state::{self, After, Choice, Need, State};
use super::{lexer, Ctx, Flow, Stop, FGETS_LINE};

/// What became of a path over a segment.
pub enum Outcome {
    Done,
    Dead,
    Need(Need, usize),
}

impl State {
    /// Reads `seg[from..]` (a segment ends at a newline or where the data given ends).
    pub fn run(&mut self, seg: &[u8], from: usize, base: (u32, u64), ctx: &mut Ctx) -> Outcome {
        let mut i = from;
        while i < seg.len() {
            ctx.col = base.0 + i as u32;
            ctx.abs = base.1 + i as u64;
            if ctx.col == 0 && self.core.after != After::Nothing {
                if let Err(stop) = self.start_line(ctx) {
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
    fn start_line(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
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
                if self.main {
                    ctx.boundary(super::ctx::Boundary::DataStart { at: ctx.abs });
                }
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
    pub fn end_of_line(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
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

pub fn outcome(stop: Stop, at: usize) -> Outcome {
    match stop {
        Stop::Need(need) => Outcome::Need(need, at),
        Stop::Dead => Outcome::Dead,
    }
}

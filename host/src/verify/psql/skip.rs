//! A fast path through the bytes that change nothing: inside a string, a comment, a quoted
//! identifier or a dollar quote, only a few bytes can end it (a quote, a backslash, `*`
//! and `/`, a carriage return, `$`), and the line reader only cares about newlines and NUL
//! bytes. Those runs are taken whole, as psql's `{xqinside}`, `{xcinside}`, `{xdinside}`,
//! `{dolqinside}` rules take them; high bytes stop the run (the encoding may hide the byte
//! after them).

use super::state::{Lex, Quoted, Slash, State, Tok};

/// The bytes that stop a run, one table per lexer state.
struct Stops([bool; 256]);

impl Stops {
    const fn new(specials: &[u8]) -> Self {
        let mut t = [false; 256];
        let mut b = 0x80;
        while b < 256 {
            t[b] = true;
            b += 1;
        }
        t[0] = true;
        t[b'\n' as usize] = true;
        let mut i = 0;
        while i < specials.len() {
            t[specials[i] as usize] = true;
            i += 1;
        }
        Stops(t)
    }
}

static QUOTE: Stops = Stops::new(b"'");
static ESCAPE: Stops = Stops::new(b"'\\");
static COMMENT: Stops = Stops::new(b"\r");
static BLOCK: Stops = Stops::new(b"*/");
static IDENT: Stops = Stops::new(b"\"");
static DOLLAR: Stops = Stops::new(b"$");

impl State {
    /// How far from `seg[from]` the bytes change nothing but the query buffer.
    pub fn skip(&mut self, seg: &[u8], from: usize) -> usize {
        let core = &self.core;
        if core.slash != Slash::Off
            || self.answer.is_some()
            || core.tok != Tok::None
            || core.translated.is_some()
            || core.bom > 0
            || core.nul_in_chunk
            || core.trails != [0; 5]
            || core.gb_lead
        {
            return from;
        }
        let stops = match core.lex {
            Lex::Str {
                kind,
                escaped: false,
                quote: false,
            } => match kind {
                Quoted::Escape | Quoted::Either { .. } => &ESCAPE,
                _ => &QUOTE,
            },
            Lex::LineComment => &COMMENT,
            Lex::Block { pending: 0, .. } => &BLOCK,
            Lex::Ident { quote: false } => &IDENT,
            Lex::Dollar {
                candidate: super::state::Candidate::None,
            } => &DOLLAR,
            _ => return from,
        };
        let run = seg[from..]
            .iter()
            .position(|&b| stops.0[usize::from(b)])
            .unwrap_or(seg.len() - from);
        if run == 0 {
            return from;
        }
        let taken = &seg[from..from + run];
        self.core.line_bytes = true;
        self.core.line_sql = true;
        self.echo_run(taken);
        from + run
    }

    /// [`State::echo`] of every byte of `run`.
    fn echo_run(&mut self, run: &[u8]) {
        if run.len() < 8 {
            for &b in run {
                self.echo(b);
            }
            return;
        }
        for &b in &run[..3] {
            self.echo(b);
        }
        for p in memchr::memchr2_iter(b'y', b'Y', &run[3..]) {
            if run[p..p + 3].eq_ignore_ascii_case(b"cop") {
                self.core.copy_words = self.core.copy_words.saturating_add(1);
            }
        }
        let n = run.len();
        self.core.tail = [
            run[n - 3].to_ascii_lowercase(),
            run[n - 2].to_ascii_lowercase(),
            run[n - 1].to_ascii_lowercase(),
        ];
    }
}

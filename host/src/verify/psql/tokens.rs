//! The tokens of `psqlscan.l`'s `INITIAL` state that flex can only end at the next byte:
//! identifiers (and the `b'`, `x'`, `e'`, `n'`, `u&'`, `u&"` that start strings instead),
//! numbers ([`super::numbers`]), `$1` parameters, dollar-quote tags (`{dolqdelim}`,
//! `{dolqfailed}`), `--` and `/*`, `..`, the colon rules (`::`, `:=`, `:name`, `:'name'`,
//! `:"name"`, `:{?name}` and their failing forms) and `\;`, `\:` or a command.

use super::lexer::{is_ident_cont, is_ident_start, is_variable_char};
use super::numbers::next as number;
use super::state::{
    Candidate, Choice, CopyParse, Lex, Num, Quoted, Slash, State, Tok, Version, TEXT_MAX,
};
use super::{Ctx, Flow, Stop};

type Step = Result<Flow, Stop>;

impl State {
    /// The next byte of a token that may still grow.
    pub fn pending(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        match self.core.tok {
            Tok::None => unreachable!("pending without a token"),
            Tok::Word { len, first } => self.word(len, first, c, ctx),
            Tok::UAmp => self.u_amp(c),
            Tok::Number { v15, v16 } => self.number(v15, v16, c, ctx),
            Tok::Param { junk } => self.param(junk, c),
            Tok::Dollar => self.dollar_start(c),
            Tok::DollarTag => self.dollar_tag(c, ctx),
            Tok::Dash | Tok::Slash => self.comment_start(c),
            Tok::Dot => self.dot(c),
            Tok::Colon => self.colon(c),
            Tok::Variable => self.variable(c, ctx),
            Tok::QuotedVariable { double } => self.quoted_variable(double, c),
            Tok::Braced { question } => self.braced(question, c, ctx),
            Tok::Backslash => self.backslash(c, ctx),
        }
    }

    /// An identifier (or the letter that starts a `b'…'`, `x'…'`, `e'…'`, `n'…'`, `u&…`).
    fn word(&mut self, len: u32, first: u8, c: u8, ctx: &mut Ctx) -> Step {
        if len == 1 && c == b'\'' && b"bBxXeEnN".contains(&first) {
            match first.to_ascii_lowercase() {
                b'n' => self.plain_quote()?,
                kind => {
                    self.core.lex = Lex::Str {
                        kind: match kind {
                            b'b' => Quoted::Bits,
                            b'x' => Quoted::Hex,
                            _ => Quoted::Escape,
                        },
                        escaped: false,
                        quote: false,
                    };
                    self.other_token();
                }
            }
            self.core.tok = Tok::None;
            return Ok(Flow::Next);
        }
        if len == 1 && c == b'&' && (first == b'u' || first == b'U') {
            self.core.tok = Tok::UAmp;
            return Ok(Flow::Next);
        }
        if is_ident_cont(c) {
            if len < 16 {
                self.push_text(c.to_ascii_lowercase());
            }
            self.core.tok = Tok::Word {
                len: len.saturating_add(1),
                first,
            };
            return Ok(Flow::Next);
        }
        self.end_word(ctx)?;
        Ok(Flow::Again)
    }

    /// After `u&`: a Unicode string, a Unicode identifier, or `u` alone.
    fn u_amp(&mut self, c: u8) -> Step {
        self.core.tok = Tok::None;
        match c {
            b'\'' => {
                self.core.lex = Lex::Str {
                    kind: Quoted::Unicode,
                    escaped: false,
                    quote: false,
                };
                self.other_token();
                Ok(Flow::Next)
            }
            b'"' => {
                self.core.lex = Lex::Ident { quote: false };
                Ok(Flow::Next)
            }
            // `{xufailed}`: `u` alone (not an identifier), then `&`.
            _ => {
                self.other_token();
                Ok(Flow::Again)
            }
        }
    }

    /// A number, as PostgreSQL 15 and 16 read it (they differ on `_` and non-decimal forms).
    fn number(&mut self, v15: Num, v16: Num, c: u8, ctx: &mut Ctx) -> Step {
        let (a, b) = (number(v15, c, false), number(v16, c, true));
        let ended = match self.core.version {
            Some(Version::V15) => a == Num::End,
            Some(Version::V16) => b == Num::End,
            None if (a == Num::End) == (b == Num::End) => a == Num::End,
            None => {
                let v = self.decide(2, 0, Choice::Version)?;
                self.core.version = Some(if v == 0 { Version::V15 } else { Version::V16 });
                return self.pending(c, ctx);
            }
        };
        if ended {
            self.core.tok = Tok::None;
            self.other_token();
            return Ok(Flow::Again);
        }
        self.core.tok = Tok::Number { v15: a, v16: b };
        Ok(Flow::Next)
    }

    /// `$1`, or `$1abc` (`{param_junk}`).
    fn param(&mut self, junk: bool, c: u8) -> Step {
        let more = if junk {
            is_ident_cont(c)
        } else {
            c.is_ascii_digit() || is_ident_start(c)
        };
        if more {
            self.core.tok = Tok::Param {
                junk: junk || !c.is_ascii_digit(),
            };
            return Ok(Flow::Next);
        }
        self.core.tok = Tok::None;
        self.other_token();
        Ok(Flow::Again)
    }

    /// After `$`: a parameter, `$$`, a dollar-quote tag, or `$` alone.
    fn dollar_start(&mut self, c: u8) -> Step {
        if c.is_ascii_digit() {
            self.core.tok = Tok::Param { junk: false };
            return Ok(Flow::Next);
        }
        if c == b'$' {
            self.core.tag_len = 0;
            self.open_dollar();
            return Ok(Flow::Next);
        }
        if is_ident_start(c) {
            self.core.text_len = 0;
            self.push_text(c);
            self.core.tok = Tok::DollarTag;
            return Ok(Flow::Next);
        }
        self.core.tok = Tok::None;
        self.other_token();
        Ok(Flow::Again)
    }

    /// A dollar-quote tag, `$tag$`, or `{dolqfailed}`.
    fn dollar_tag(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        if c == b'$' {
            let n = self.core.text_len;
            self.core.tag = self.core.text;
            self.core.tag_len = n;
            self.open_dollar();
            return Ok(Flow::Next);
        }
        if is_variable_char(c) {
            if !self.push_text(c) {
                return Err(ctx.ambiguous(self, "a dollar-quote tag longer than 63 bytes"));
            }
            return Ok(Flow::Next);
        }
        // `{dolqfailed}`: the `$` alone, then the tag read again as an identifier.
        self.tag_as_word();
        Ok(Flow::Again)
    }

    /// After `-` or `/`: a comment starts (`--`, `/*`), or it was an operator.
    fn comment_start(&mut self, c: u8) -> Step {
        let comment = match (self.core.tok, c) {
            (Tok::Dash, b'-') => Some(Lex::LineComment),
            (Tok::Slash, b'*') => Some(Lex::Block {
                depth: 0,
                pending: 0,
            }),
            _ => None,
        };
        self.core.tok = Tok::None;
        match comment {
            Some(lex) => {
                self.core.lex = lex;
                Ok(Flow::Next)
            }
            None => {
                self.other_token();
                Ok(Flow::Again)
            }
        }
    }

    /// After `.`: a fraction, `..`, or `.` alone.
    fn dot(&mut self, c: u8) -> Step {
        if c.is_ascii_digit() {
            self.core.tok = Tok::Number {
                v15: Num::Fraction,
                v16: Num::Fraction,
            };
            return Ok(Flow::Next);
        }
        self.core.tok = Tok::None;
        self.other_token();
        Ok(if c == b'.' { Flow::Next } else { Flow::Again })
    }

    /// `:name`.
    fn variable(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        if is_variable_char(c) {
            if usize::from(self.core.text_len) < TEXT_MAX {
                self.push_text(c);
            } else {
                // Longer than any name psql sets: stays as written.
                self.core.text_len = TEXT_MAX as u8;
                self.core.text[0] = 0;
            }
            return Ok(Flow::Next);
        }
        self.end_variable(ctx)?;
        Ok(Flow::Again)
    }

    /// `:'name'` or `:"name"`, or the colon alone before a string or quoted identifier.
    fn quoted_variable(&mut self, double: bool, c: u8) -> Step {
        let close = if double { b'"' } else { b'\'' };
        if is_variable_char(c) {
            // Quoted values are never re-read: the name only has to be counted.
            self.core.text_len = self.core.text_len.saturating_add(1).min(1);
            return Ok(Flow::Next);
        }
        if c == close && self.core.text_len > 0 {
            self.core.tok = Tok::None;
            self.other_token();
            return Ok(Flow::Next);
        }
        // `:'{variable_char}*`: the colon alone, then a string or a quoted
        // identifier starts at the quote (the name is inside it).
        if double {
            self.core.lex = Lex::Ident { quote: false };
        } else {
            self.plain_quote()?;
        }
        self.core.tok = Tok::None;
        Ok(Flow::Again)
    }

    /// `:{?name}`, or its failing forms.
    fn braced(&mut self, question: bool, c: u8, ctx: &mut Ctx) -> Step {
        if !question {
            if c == b'?' {
                self.core.text_len = 0;
                self.core.tok = Tok::Braced { question: true };
                return Ok(Flow::Next);
            }
            self.core.tok = Tok::None;
            return Ok(Flow::Again);
        }
        if is_variable_char(c) {
            if !self.push_text(c) {
                return Err(ctx.ambiguous(self, "a `:{?name}` test longer than 63 bytes"));
            }
            return Ok(Flow::Next);
        }
        if c == b'}' && self.core.text_len > 0 {
            self.core.tok = Tok::None;
            self.other_token();
            return Ok(Flow::Next);
        }
        // `:\{\?{variable_char}*`: `:`, `{`, `?`, then the name read again.
        self.core.tok = Tok::None;
        self.name_as_token();
        Ok(Flow::Again)
    }

    /// After `\`: `\;`, `\:`, or a backslash command.
    fn backslash(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        self.core.tok = Tok::None;
        match c {
            b';' => {
                // `\;`: a semicolon into the query, not the end of the statement.
                ctx.no_backslash(self);
                self.core.ident_count = 0;
                if self.core.copy_parse == CopyParse::Stdin {
                    self.core.main_copies = self.core.main_copies.saturating_add(1);
                }
                self.core.copy_parse = CopyParse::Start;
                Ok(Flow::Next)
            }
            b':' => {
                ctx.no_backslash(self);
                Ok(Flow::Next)
            }
            _ => {
                self.core.text_len = 0;
                self.core.slash = Slash::Name { len: 0 };
                Ok(Flow::Again)
            }
        }
    }

    pub fn open_dollar(&mut self) {
        self.core.tok = Tok::None;
        self.core.lex = Lex::Dollar {
            candidate: Candidate::None,
        };
        self.other_token();
    }

    /// `{dolqfailed}`: the tag after a lone `$` is an identifier.
    pub fn tag_as_word(&mut self) {
        let first = self.core.text[0];
        let len = u32::from(self.core.text_len);
        for b in &mut self.core.text[..usize::from(self.core.text_len)] {
            *b = b.to_ascii_lowercase();
        }
        self.core.text_len = self.core.text_len.min(16);
        self.core.tok = Tok::Word { len, first };
    }

    /// The name of a failed `:{?name` read again from its first byte: an identifier or a
    /// number (every byte of it is a `{variable_char}`).
    pub fn name_as_token(&mut self) {
        let len = usize::from(self.core.text_len);
        if len == 0 {
            return;
        }
        if self.core.text[0].is_ascii_digit() {
            let (mut a, mut b) = (Num::Int, Num::Int);
            for &c in &self.core.text[1..len] {
                a = number(a, c, false);
                b = number(b, c, true);
            }
            self.core.tok = Tok::Number { v15: a, v16: b };
        } else {
            self.tag_as_word();
        }
    }

    fn colon(&mut self, c: u8) -> Step {
        self.core.tok = Tok::None;
        match c {
            b':' | b'=' => {
                self.other_token();
                Ok(Flow::Next)
            }
            b'\'' | b'"' => {
                self.core.text_len = 0;
                self.core.tok = Tok::QuotedVariable { double: c == b'"' };
                Ok(Flow::Next)
            }
            b'{' => {
                self.core.tok = Tok::Braced { question: false };
                Ok(Flow::Next)
            }
            _ if is_variable_char(c) => {
                self.core.text_len = 0;
                self.push_text(c);
                self.core.tok = Tok::Variable;
                Ok(Flow::Next)
            }
            _ => {
                self.other_token();
                Ok(Flow::Again)
            }
        }
    }
}

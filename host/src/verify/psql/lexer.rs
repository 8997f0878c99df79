//! psql's SQL lexer, byte by byte: the rules of `src/fe_utils/psqlscan.l` (PostgreSQL 15
//! and 16) that decide where strings, comments, quoted identifiers, dollar quotes and
//! statements end, where a backslash starts a command, and where `:name` is replaced.
//! Flex takes the longest match, so a token that may still grow waits in [`Tok`] for the
//! next byte; when that byte ends it, the byte is read again ([`Flow::Again`]).

use super::names::{self, Variable};
use super::numbers::next as number;
use super::state::{
    Candidate, Choice, Continue, CopyParse, Lex, Num, Quoted, Slash, State, Tok, Version, DEEPER,
    DEPTH_EXACT, DEPTH_MAX, TEXT_MAX,
};
use super::{Ctx, Flow, Stop};

/// `{space}`: `[ \t\n\r\f]` (no vertical tab in PostgreSQL 15 and 16).
pub fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// `{ident_start}`, `{dolq_start}`.
pub fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// `{ident_cont}`.
pub fn is_ident_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// `{variable_char}`, `{dolq_cont}`.
pub fn is_variable_char(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

type Step = Result<Flow, Stop>;

impl State {
    /// Makes a choice psql leaves to others: the answer given, or the question.
    pub fn decide(&mut self, ways: u8, main: u8, choice: Choice) -> Result<u8, Stop> {
        match self.answer.take() {
            Some(a) => Ok(a),
            None => Err(Stop::Need(super::state::Need { ways, main, choice })),
        }
    }

    /// One byte of SQL (after the line reader and the encoding's translation).
    pub fn sql_char(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        match self.core.lex {
            Lex::Initial => {
                if self.core.tok == Tok::None {
                    self.start_token(c, ctx)
                } else {
                    self.pending(c, ctx)
                }
            }
            Lex::LineComment => {
                if c == b'\r' {
                    self.core.lex = Lex::Initial;
                }
                Ok(Flow::Next)
            }
            Lex::Block { depth, pending } => {
                self.core.lex = match (pending, c) {
                    (b'/', b'*') => Lex::Block {
                        depth: depth + 1,
                        pending: 0,
                    },
                    (b'*', b'/') if depth == 0 => Lex::Initial,
                    (b'*', b'/') => Lex::Block {
                        depth: depth - 1,
                        pending: 0,
                    },
                    (_, b'/' | b'*') => Lex::Block { depth, pending: c },
                    _ => Lex::Block { depth, pending: 0 },
                };
                Ok(Flow::Next)
            }
            Lex::Str {
                kind,
                escaped,
                quote,
            } => self.string(kind, escaped, quote, c),
            Lex::QuoteStop { before, at, .. } => Ok(self.quote_stop(before, at, c)),
            Lex::Ident { quote } => {
                if quote {
                    if c == b'"' {
                        self.core.lex = Lex::Ident { quote: false };
                        return Ok(Flow::Next);
                    }
                    self.core.lex = Lex::Initial;
                    self.other_token();
                    return Ok(Flow::Again);
                }
                if c == b'"' {
                    self.core.lex = Lex::Ident { quote: true };
                }
                Ok(Flow::Next)
            }
            Lex::Dollar { candidate } => {
                self.dollar(candidate, c);
                Ok(Flow::Next)
            }
        }
    }

    fn string(&mut self, kind: Quoted, escaped: bool, quote: bool, c: u8) -> Step {
        if quote {
            if c == b'\'' {
                self.core.lex = Lex::Str {
                    kind,
                    escaped: false,
                    quote: false,
                };
                return Ok(Flow::Next);
            }
            self.core.lex = Lex::QuoteStop {
                before: kind,
                at: Continue::Horizontal,
                moved: false,
            };
            return Ok(Flow::Again);
        }
        let mut kind = kind;
        let (escaped, quote) = match kind {
            Quoted::Either { bound } if escaped && c == b'\'' => {
                // `\'`: the end of a standard string, an escaped quote in an escape
                // string: standard_conforming_strings decides.
                let std = self.decide(2, 0, Choice::StandardStrings)? == 0;
                if bound {
                    self.core.std_strings = Some(std);
                }
                if std {
                    kind = Quoted::Standard;
                    (false, true)
                } else {
                    kind = Quoted::Escape;
                    (false, false)
                }
            }
            Quoted::Escape | Quoted::Either { .. } if escaped => (false, false),
            Quoted::Escape | Quoted::Either { .. } if c == b'\\' => (true, false),
            Quoted::Bits | Quoted::Hex if c == b'\'' => {
                // No doubling in B'' and X'': the quote ends them.
                self.core.lex = Lex::QuoteStop {
                    before: kind,
                    at: Continue::Horizontal,
                    moved: false,
                };
                return Ok(Flow::Next);
            }
            _ => (false, c == b'\''),
        };
        self.core.lex = Lex::Str {
            kind,
            escaped,
            quote,
        };
        Ok(Flow::Next)
    }

    /// `<xqs>`: `{quotecontinue}` continues the string, anything else ends it
    /// (`yyless(0)`: the bytes read are whitespace and comments to `INITIAL`).
    fn quote_stop(&mut self, before: Quoted, at: Continue, c: u8) -> Flow {
        use Continue::*;
        let next = match (at, c) {
            (Horizontal, b' ' | b'\t' | 0x0c) => Some(Horizontal),
            (Horizontal | Special, b'-') => Some(if at == Horizontal {
                HorizontalDash
            } else {
                SpecialDash
            }),
            (Horizontal | HorizontalComment | Special | SpecialComment, b'\r') => Some(Special),
            (HorizontalDash, b'-') => Some(HorizontalComment),
            (SpecialDash, b'-') => Some(SpecialComment),
            (HorizontalComment | SpecialComment, _) => Some(at),
            (Special, b' ' | b'\t' | 0x0c) => Some(Special),
            (Special, b'\'') => {
                self.core.lex = Lex::Str {
                    kind: before,
                    escaped: false,
                    quote: false,
                };
                return Flow::Next;
            }
            _ => None,
        };
        match next {
            Some(at) => {
                self.core.lex = Lex::QuoteStop {
                    before,
                    at,
                    moved: true,
                };
                Flow::Next
            }
            None => {
                self.core.lex = Lex::Initial;
                self.other_token();
                if matches!(at, HorizontalDash | SpecialDash) {
                    self.core.tok = Tok::Dash;
                }
                Flow::Again
            }
        }
    }

    fn dollar(&mut self, candidate: Candidate, c: u8) {
        let tag = usize::from(self.core.tag_len);
        let candidate = match candidate {
            Candidate::Matching(i) if c == b'$' && usize::from(i) == tag => {
                self.core.lex = Lex::Initial;
                self.core.tag_len = 0;
                self.other_token();
                return;
            }
            _ if c == b'$' => Candidate::Matching(0),
            Candidate::Matching(0) if c.is_ascii_digit() => Candidate::None,
            Candidate::Matching(i) if is_variable_char(c) => {
                let i = usize::from(i);
                if i < tag && self.core.tag[i] == c {
                    Candidate::Matching(i as u8 + 1)
                } else {
                    Candidate::Failed
                }
            }
            Candidate::Failed if is_variable_char(c) => Candidate::Failed,
            _ => Candidate::None,
        };
        self.core.lex = Lex::Dollar { candidate };
    }

    /// A string starts at a plain quote: `<xq>` or `<xe>` by standard_conforming_strings,
    /// which psql read for this line (both while no string showed it).
    fn plain_quote(&mut self) -> Result<(), Stop> {
        let kind = match self.core.std_strings {
            Some(true) => Quoted::Standard,
            Some(false) => Quoted::Escape,
            None => Quoted::Either { bound: true },
        };
        self.core.lex = Lex::Str {
            kind,
            escaped: false,
            quote: false,
        };
        self.other_token();
        Ok(())
    }

    fn start_token(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        let tok = match c {
            _ if is_space(c) => return Ok(Flow::Next),
            _ if is_ident_start(c) => {
                self.core.text_len = 0;
                self.push_text(c.to_ascii_lowercase());
                Tok::Word { len: 1, first: c }
            }
            b'0'..=b'9' => Tok::Number {
                v15: Num::Int,
                v16: Num::Int,
            },
            b'$' => Tok::Dollar,
            b'-' => Tok::Dash,
            b'/' => Tok::Slash,
            b'.' => Tok::Dot,
            b':' => Tok::Colon,
            b'\\' => {
                self.core.command_col = ctx.col;
                ctx.backslash(self);
                Tok::Backslash
            }
            b'\'' => {
                self.plain_quote()?;
                return Ok(Flow::Next);
            }
            b'"' => {
                self.core.lex = Lex::Ident { quote: false };
                return Ok(Flow::Next);
            }
            b'(' => {
                self.other_token();
                if self.core.paren >= DEPTH_MAX {
                    return Err(ctx.ambiguous(self, "parentheses nested deeper than 1000"));
                }
                self.core.paren += 1;
                if !self.main {
                    self.core.paren = self.core.paren.min(DEEPER);
                }
                return Ok(Flow::Next);
            }
            b')' => {
                let paren = self.core.paren;
                let deeper = paren == DEEPER && !self.main;
                if deeper && self.decide(2, 0, Choice::Depth)? == 1 {
                    self.core.paren = DEPTH_EXACT;
                } else if !deeper {
                    self.core.paren = paren.saturating_sub(1);
                }
                self.other_token();
                return Ok(Flow::Next);
            }
            b';' => {
                if self.core.paren == 0 && self.core.begin == 0 {
                    self.send();
                }
                return Ok(Flow::Next);
            }
            _ => {
                self.other_token();
                return Ok(Flow::Next);
            }
        };
        self.core.tok = tok;
        Ok(Flow::Next)
    }

    /// A `;` ends the statement: psql sends the query buffer.
    pub fn send(&mut self) {
        let core = &mut self.core;
        core.ident_count = 0;
        core.line_copies = core.line_copies.saturating_add(core.copy_words);
        if core.copy_parse == CopyParse::Stdin {
            core.main_copies = core.main_copies.saturating_add(1);
        }
        core.copy_words = 0;
        core.tail = [0; 3];
        core.copy_parse = CopyParse::Start;
    }

    /// The next byte of a token that may still grow.
    fn pending(&mut self, c: u8, ctx: &mut Ctx) -> Step {
        match self.core.tok {
            Tok::None => unreachable!("pending without a token"),
            Tok::Word { len, first } => {
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
            Tok::UAmp => {
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
            Tok::Number { v15, v16 } => {
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
            Tok::Param { junk } => {
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
            Tok::Dollar => {
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
            Tok::DollarTag => {
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
            Tok::Dash | Tok::Slash => {
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
            Tok::Dot => {
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
            Tok::Colon => self.colon(c),
            Tok::Variable => {
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
            Tok::QuotedVariable { double } => {
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
            Tok::Braced { question } => {
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
            Tok::Backslash => {
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
        }
    }

    fn open_dollar(&mut self) {
        self.core.tok = Tok::None;
        self.core.lex = Lex::Dollar {
            candidate: Candidate::None,
        };
        self.other_token();
    }

    /// `{dolqfailed}`: the tag after a lone `$` is an identifier.
    fn tag_as_word(&mut self) {
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
    fn name_as_token(&mut self) {
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

    /// `:name` complete: psql re-reads the value of a set variable as SQL.
    fn end_variable(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
        let name = self.text();
        match names::variable(name) {
            Variable::Unset => {}
            Variable::Text => {
                let shown = format!(":{}", String::from_utf8_lossy(name));
                if let Some(stop) = ctx.refuse(
                    self,
                    shown,
                    "a psql variable psql fills itself, whose value psql reads again as SQL: an error message chosen by the dump's own RAISE becomes commands",
                ) {
                    return Err(stop);
                }
            }
            Variable::Word => {
                let words = self.decide(3, 0, Choice::Variable)?;
                for _ in 0..words {
                    self.identifier(false, 0);
                }
                self.core.tail = [0; 3];
            }
        }
        self.core.tok = Tok::None;
        self.other_token();
        Ok(())
    }

    fn end_word(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
        let Tok::Word { len, first } = self.core.tok else {
            return Ok(());
        };
        let keyword = (len as usize <= 16).then(|| {
            let mut w = [0u8; 16];
            w[..len as usize].copy_from_slice(&self.core.text[..len as usize]);
            (w, len as usize)
        });
        let word = keyword.as_ref().map(|(w, n)| &w[..*n]);
        // `END` off the main path from "deeper": may reach the exact depths again. Asked
        // before anything changes, as every choice is.
        let end_choice = if word == Some(b"end".as_slice())
            && !self.main
            && self.core.begin == DEEPER
            && self.core.ident_count != 0
            && self.in_body()
            && self.core.paren == 0
        {
            Some(self.decide(2, 0, Choice::Depth)?)
        } else {
            None
        };
        self.core.tok = Tok::None;
        self.copy_word(word);
        let known = word.is_some_and(|w| {
            [
                b"create".as_slice(),
                b"function",
                b"procedure",
                b"or",
                b"replace",
            ]
            .contains(&w)
        });
        self.identifier(known, first);
        if let Some(w) = word {
            self.begin_end(w, end_choice, ctx)?;
        }
        Ok(())
    }

    /// The `{identifier}` rule's bookkeeping: the first letters of `CREATE [OR REPLACE]
    /// FUNCTION|PROCEDURE`.
    fn identifier(&mut self, known: bool, first: u8) {
        let core = &mut self.core;
        if core.ident_count == 0 {
            core.idents = [0; 4];
        }
        if known && core.ident_count < 4 {
            core.idents[usize::from(core.ident_count)] = first.to_ascii_lowercase();
        }
        core.ident_count = (core.ident_count + 1).min(4);
    }

    /// Whether the statement starts `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
    fn in_body(&self) -> bool {
        let id = self.core.idents;
        id[0] == b'c'
            && (id[1] == b'f'
                || id[1] == b'p'
                || (id[1] == b'o' && id[2] == b'r' && (id[3] == b'f' || id[3] == b'p')))
    }

    /// `BEGIN … END` inside `CREATE FUNCTION`/`PROCEDURE` (and `CASE … END` in it): the
    /// semicolons there do not end the statement.
    fn begin_end(
        &mut self,
        word: &[u8],
        end_choice: Option<u8>,
        ctx: &mut Ctx,
    ) -> Result<(), Stop> {
        if !self.in_body() || self.core.paren != 0 {
            return Ok(());
        }
        let begin = self.core.begin;
        if word == b"begin" || (word == b"case" && begin >= 1) {
            if begin >= DEPTH_MAX {
                return Err(ctx.ambiguous(self, "BEGIN blocks nested deeper than 1000"));
            }
            self.core.begin = if self.main {
                begin + 1
            } else {
                (begin + 1).min(DEEPER)
            };
        } else if word == b"end" && begin > 0 {
            match end_choice {
                None => self.core.begin = begin - 1,
                Some(1) => self.core.begin = DEPTH_EXACT,
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The main path's reading of `COPY … FROM stdin`.
    fn copy_word(&mut self, word: Option<&[u8]>) {
        let is = |w: &str| word == Some(w.as_bytes());
        self.core.copy_parse = match self.core.copy_parse {
            CopyParse::Start if is("copy") => CopyParse::Copy,
            CopyParse::Start => CopyParse::NotCopy,
            CopyParse::Copy if self.core.paren == 0 && is("from") => CopyParse::From,
            CopyParse::From if is("stdin") => CopyParse::Stdin,
            CopyParse::From => CopyParse::Copy,
            other => other,
        };
    }

    /// Any token but an identifier.
    pub fn other_token(&mut self) {
        self.core.copy_parse = match self.core.copy_parse {
            CopyParse::From => CopyParse::Copy,
            CopyParse::Start => CopyParse::NotCopy,
            other => other,
        };
    }

    /// The end of the line psql scans (flex's end of buffer): a pending token ends.
    pub fn end_of_tokens(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
        match self.core.lex {
            Lex::LineComment => self.core.lex = Lex::Initial,
            Lex::Str { kind, quote, .. } => {
                // `<xe>.`: a backslash at the end of the line escapes nothing; a string
                // carried to the next line no longer binds that line's setting.
                let kind = match kind {
                    Quoted::Either { .. } => Quoted::Either { bound: false },
                    k => k,
                };
                self.core.lex = if quote {
                    Lex::QuoteStop {
                        before: kind,
                        at: Continue::Horizontal,
                        moved: false,
                    }
                } else {
                    Lex::Str {
                        kind,
                        escaped: false,
                        quote,
                    }
                };
            }
            Lex::QuoteStop {
                before: Quoted::Either { .. },
                at,
                moved: false,
            } => {
                self.core.lex = Lex::QuoteStop {
                    before: Quoted::Either { bound: false },
                    at,
                    moved: false,
                }
            }
            Lex::QuoteStop { moved: true, .. } | Lex::Ident { quote: true } => {
                self.core.lex = Lex::Initial;
                self.other_token();
            }
            Lex::Block { depth, .. } => self.core.lex = Lex::Block { depth, pending: 0 },
            Lex::Dollar { .. } => {
                self.core.lex = Lex::Dollar {
                    candidate: Candidate::None,
                }
            }
            _ => {}
        }
        match self.core.tok {
            Tok::None => {}
            Tok::Word { .. } => self.end_word(ctx)?,
            Tok::DollarTag => {
                self.tag_as_word();
                self.end_word(ctx)?;
            }
            Tok::Variable => self.end_variable(ctx)?,
            Tok::QuotedVariable { double } => {
                if double {
                    self.core.lex = Lex::Ident { quote: false };
                } else {
                    self.plain_quote()?;
                }
            }
            Tok::Braced { question: true } => {
                self.name_as_token();
                if matches!(self.core.tok, Tok::Word { .. }) {
                    self.end_word(ctx)?;
                }
            }
            Tok::Backslash => {
                self.core.text_len = 0;
                self.core.slash = Slash::Name { len: 0 };
            }
            _ => self.other_token(),
        }
        self.core.tok = Tok::None;
        Ok(())
    }

    /// A byte psql puts into the query buffer: counts the word COPY.
    pub fn echo(&mut self, b: u8) {
        let t = &mut self.core.tail;
        let low = b.to_ascii_lowercase();
        if t[0] == b'c' && t[1] == b'o' && t[2] == b'p' && low == b'y' {
            self.core.copy_words = self.core.copy_words.saturating_add(1);
        }
        *t = [t[1], t[2], low];
    }
}

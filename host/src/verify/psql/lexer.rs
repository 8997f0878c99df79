//! psql's SQL lexer, byte by byte: the rules of `src/fe_utils/psqlscan.l` (PostgreSQL 15
//! and 16) that decide where strings, comments, quoted identifiers, dollar quotes and
//! statements end, where a backslash starts a command, and where `:name` is replaced.
//! Flex takes the longest match, so a token that may still grow waits in [`Tok`] for the
//! next byte; when that byte ends it, the byte is read again ([`Flow::Again`]).

use super::state::{
    Candidate, Choice, Continue, CopyParse, Lex, Num, Quoted, State, Tok, DEEPER, DEPTH_EXACT,
    DEPTH_MAX,
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
    pub fn plain_quote(&mut self) -> Result<(), Stop> {
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
                    if self.main {
                        ctx.boundary(super::ctx::Boundary::Send {
                            at: ctx.abs,
                            copy: self.core.copy_parse == CopyParse::Stdin,
                        });
                    }
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

//! What a complete token does: `:name` of a variable psql fills (read again as SQL),
//! identifiers (`CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN … END`: the `{identifier}`
//! rule's heuristic that keeps semicolons inside `BEGIN ATOMIC` bodies; the main path's
//! `COPY … FROM stdin`), and the end of a line, which ends any token still open.

use super::names::{self, Variable};
use super::state::{
    Candidate, Choice, Continue, CopyParse, Lex, Quoted, Slash, State, Tok, DEEPER, DEPTH_EXACT,
    DEPTH_MAX,
};
use super::{Ctx, Stop};

impl State {
    /// `:name` complete: psql re-reads the value of a set variable as SQL.
    pub fn end_variable(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
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

    pub fn end_word(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
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
    pub fn identifier(&mut self, known: bool, first: u8) {
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
}

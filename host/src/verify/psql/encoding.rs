//! The client encoding as psql's lexer sees it (`psqlscan_prepare_buffer` in
//! `psqlscan.l`, `PQmblen` → `pg_encoding_mblen` in `src/common/wchar.c`): in an encoding
//! that is not a server encoding (SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, JOHAB, GB18030),
//! every byte after a lead byte becomes 0xFF for the lexer, so an ASCII quote or backslash
//! after a lead byte is hidden. Any statement can set the client encoding, and psql reads
//! it again before each line, so a line is read under all of them at once: one path as long
//! as they agree on what the lexer sees, split when a hidden byte would matter.

use super::state::{Choice, Encoding, Lex, Quoted, Slash, State, Tok, ENCODINGS};
use super::Stop;

impl State {
    /// What the lexer sees of `b`.
    pub fn translate(&mut self, b: u8) -> Result<u8, Stop> {
        let core = &self.core;
        if b < 0x80 && core.trails == [0; 5] && !core.gb_lead {
            return Ok(b);
        }
        let (mut hidden, mut shown) = (0u8, 0u8);
        for i in 0..ENCODINGS.len() {
            if core.encodings & (1 << i) == 0 {
                continue;
            }
            if core.trails[i] > 0 || (i == 4 && core.gb_lead) {
                hidden |= 1 << i;
            } else {
                shown |= 1 << i;
            }
        }
        let hide = if hidden != 0 && shown != 0 && !self.inert(b) {
            // The encodings disagree where it matters: the main path's (a server
            // encoding: nothing hidden) or the others.
            let hide = self.decide(2, 0, Choice::Encoding)? == 1;
            self.core.encodings = if hide { hidden } else { shown };
            hide
        } else {
            shown == 0
        };
        let core = &mut self.core;
        for (i, encoding) in ENCODINGS.iter().enumerate() {
            if core.encodings & (1 << i) == 0 {
                continue;
            }
            if core.trails[i] > 0 {
                core.trails[i] -= 1;
            } else if i == 4 && core.gb_lead {
                core.gb_lead = false;
                core.trails[i] = if b.is_ascii_digit() { 2 } else { 0 };
            } else if b >= 0x80 {
                match encoding {
                    Encoding::Safe => {}
                    Encoding::Sjis if (0xa1..=0xdf).contains(&b) => {}
                    Encoding::Sjis | Encoding::Double => core.trails[i] = 1,
                    Encoding::Johab => core.trails[i] = if b == 0x8f { 2 } else { 1 },
                    Encoding::Gb18030 => core.gb_lead = true,
                }
            }
        }
        Ok(if hide { 0xFF } else { b })
    }

    /// Whether reading `b` or 0xFF here leaves psql in the same state: inside a string,
    /// a comment or a quoted identifier, any byte but the few that end or escape it; a
    /// high byte anywhere but in a dollar-quote tag (all of 0x80–0xFF are one class).
    pub fn inert(&self, b: u8) -> bool {
        let core = &self.core;
        if b >= 0x80 {
            return !matches!(core.tok, Tok::Dollar | Tok::DollarTag)
                && !matches!(core.lex, Lex::Dollar { .. })
                && !matches!(core.slash, Slash::Name { .. });
        }
        match core.slash {
            Slash::SkipLine | Slash::MainRest => return true,
            Slash::Off => {}
            _ => return false,
        }
        if core.tok != Tok::None {
            return false;
        }
        match core.lex {
            Lex::LineComment => b != b'\r',
            Lex::Block { pending, .. } => pending == 0 && b != b'*' && b != b'/',
            Lex::Str {
                kind,
                escaped,
                quote,
            } => {
                !quote
                    && b != b'\''
                    && (escaped
                        || !matches!(kind, Quoted::Escape | Quoted::Either { .. })
                        || b != b'\\')
                    && !(escaped && matches!(kind, Quoted::Either { .. }) && b == b'\'')
            }
            Lex::Ident { quote } => !quote && b != b'"',
            Lex::Dollar { .. } | Lex::Initial | Lex::QuoteStop { .. } => false,
        }
    }
}

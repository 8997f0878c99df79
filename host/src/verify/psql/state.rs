//! One complete state of psql reading a file, as data: the lexer's start state and
//! pending token (`psqlscan.l`), parentheses and `BEGIN` depth and the identifiers of the
//! statement (its `BEGIN ATOMIC` heuristic), the backslash-command lexer
//! (`psqlscanslash.l`), the line reader (`gets_fromFile` in `input.c`) or the COPY data
//! reader (`handleCopyIn` in `copy.c`), and the choices psql leaves to the server that
//! were already made on this path (`standard_conforming_strings` and the client encoding
//! of the line, COPY accepted or not, the psql version).
//!
//! [`Core`] holds what decides psql's future behaviour and is what the machine compares
//! to merge paths; [`State`] adds where the path comes from.

pub use super::why::{Choice, Need, Why};

/// Deepest parentheses or `BEGIN` nesting followed exactly on the main path; deeper is
/// refused as too ambiguous to check.
pub const DEPTH_MAX: u16 = 1000;
/// On the other paths, depths past this one are one abstract value, "deeper" (a `)` or
/// `END` from there may reach it again or not): paths whose parentheses drift apart merge.
pub const DEPTH_EXACT: u16 = 16;
pub const DEEPER: u16 = DEPTH_EXACT + 1;
/// Longest dollar-quote tag, and longest token text kept (variable names, command names).
pub const TEXT_MAX: usize = 63;

/// The string states of `psqlscan.l` that end at a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quoted {
    /// `<xq>`: `'…'` read with standard_conforming_strings on.
    Standard,
    /// `<xe>`: `E'…'`, or `'…'` with standard_conforming_strings off.
    Escape,
    /// `<xb>`: `B'…'`.
    Bits,
    /// `<xh>`: `X'…'`.
    Hex,
    /// `<xus>`: `U&'…'`.
    Unicode,
    /// `'…'` while standard_conforming_strings is not known: read as both `<xq>` and
    /// `<xe>` (`escaped` is then `<xe>`'s) until a quote after an odd run of backslashes
    /// tells them apart; `bound`: opened on this line (its answer is the line's).
    Either { bound: bool },
}

/// Where `<xqs>` is in `{quotecontinue}` (`{whitespace_with_newline}{quote}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Continue {
    /// Horizontal whitespace before the newline.
    Horizontal,
    /// A `-` there (a `--` comment may start).
    HorizontalDash,
    /// In a `--` comment before the newline.
    HorizontalComment,
    /// After the newline: `{special_whitespace}*`.
    Special,
    /// A `-` there.
    SpecialDash,
    /// In a `--` comment that must end with a newline.
    SpecialComment,
}

/// A dollar-quote closing candidate inside `<xdolq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Candidate {
    None,
    /// `$` and this many bytes of the tag matched.
    Matching(u8),
    /// `$` and tag characters that cannot close the quote.
    Failed,
}

/// psqlscan.l's start state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lex {
    Initial,
    /// A `--` comment, up to a carriage return or the end of the line.
    LineComment,
    /// `<xc>`; `pending` is a `/` or `*` that may start `/*` or end `*/`.
    Block {
        depth: u32,
        pending: u8,
    },
    /// A string; `escaped`: a backslash of `<xe>` was just read; `quote`: a `'` was just
    /// read (a second one doubles it).
    Str {
        kind: Quoted,
        escaped: bool,
        quote: bool,
    },
    /// `<xqs>`: after a closing quote; `moved`: something was read since.
    QuoteStop {
        before: Quoted,
        at: Continue,
        moved: bool,
    },
    /// `<xd>`/`<xui>`; `quote`: a `"` was just read.
    Ident {
        quote: bool,
    },
    /// `<xdolq>`; the tag is [`Core::tag`].
    Dollar {
        candidate: Candidate,
    },
}

/// Where a number token is (`{integer}`, `{decimal}`, `{real}`, their `fail` and `junk`
/// rules; PostgreSQL 16 adds `_` between digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Num {
    Int,
    /// `_` after digits (PostgreSQL 16).
    IntUnderscore,
    /// Digits and a `.`.
    IntDot,
    Fraction,
    FractionUnderscore,
    Exponent,
    ExponentSign,
    ExponentDigits,
    ExponentUnderscore,
    /// An identifier glued to the number (`1abc`).
    Junk,
    /// `digits..`: the token and a `..` were read.
    Closed,
    /// The token ended before the byte.
    End,
}

/// The token being read in `INITIAL` (flex's longest match needs the next byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tok {
    None,
    /// An identifier: its length and first byte; its first bytes lower-cased in
    /// [`Core::text`].
    Word {
        len: u32,
        first: u8,
    },
    /// `u&`.
    UAmp,
    /// A number, as PostgreSQL 15 and 16 read it.
    Number {
        v15: Num,
        v16: Num,
    },
    /// `$digits`, then `{identifier}` (`param_junk`).
    Param {
        junk: bool,
    },
    /// `$`.
    Dollar,
    /// `$` and tag characters (in [`Core::text`]).
    DollarTag,
    Dash,
    Slash,
    Dot,
    Colon,
    /// `:name` (name in [`Core::text`]).
    Variable,
    /// `:'name` or `:"name`.
    QuotedVariable {
        double: bool,
    },
    /// `:{`, `:{?name`.
    Braced {
        question: bool,
    },
    /// `\` (a command, or `\;`, `\:`).
    Backslash,
}

/// A command's class, from [`super::names::command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// Reads arguments (a backtick in them runs).
    Arguments,
    /// `\c`: one plain database name, or refused.
    Connect,
}

/// psqlscanslash.l's argument states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arg {
    Start,
    Plain,
    Quote,
    /// `'` inside a quoted argument (a second one doubles it).
    QuoteEnd,
    /// A backslash in a quoted argument (escapes the next byte).
    QuoteBackslash,
    Backtick,
    DoubleQuote,
    /// A backslash ended the arguments: `\\` is swallowed, `\x` is the next command.
    Backslash,
}

/// The backslash-command lexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slash {
    Off,
    /// The command name (in [`Core::text`]), `len` bytes so far.
    Name {
        len: u32,
    },
    /// The arguments of a harmless command; `args` counted, `plain` while every one is
    /// a plain word (for `\c`).
    Args {
        kind: ArgKind,
        at: Arg,
        args: u8,
        plain: bool,
    },
    /// The rest of the line is thrown away.
    SkipLine,
    /// The main path's command: its text is kept by the machine until the end of line.
    MainRest,
}

/// The unsafe client encodings of `psqlscan_prepare_buffer` (`PQmblen` in `wchar.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Every server encoding: bytes as they are.
    Safe,
    /// SJIS, SHIFT_JIS_2004: 0xA1–0xDF alone, other high bytes lead two.
    Sjis,
    /// BIG5, GBK, UHC: a high byte leads two.
    Double,
    /// JOHAB: 0x8E leads two, 0x8F three, other high bytes two.
    Johab,
    /// GB18030: a high byte leads four when a digit follows, else two.
    Gb18030,
}

/// Every encoding, as a set.
pub const ALL_ENCODINGS: u8 = 0b1_1111;

pub const ENCODINGS: [Encoding; 5] = [
    Encoding::Safe,
    Encoding::Sjis,
    Encoding::Double,
    Encoding::Johab,
    Encoding::Gb18030,
];

/// The COPY data reader of `handleCopyIn`: fgets into an 8192-byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Data {
    /// Bytes in the buffer (`buflen`).
    pub buflen: u16,
    pub at_line_begin: bool,
    /// Whether `buf[buflen - 1]` is a newline (`None` when the buffer is empty: psql
    /// then reads `buf[-1]`).
    pub last_newline: Option<bool>,
    /// This fgets call so far.
    pub chunk: u16,
    pub nul_at: Option<u16>,
    pub head: [u8; 4],
    /// Further data sections the server may still ask for after this one (255: any).
    pub left: u8,
    /// How many the main path expects.
    pub main_left: u8,
}

/// What is decided at the start of the next physical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum After {
    Nothing,
    /// The line sent queries holding `copies` COPY words (`main` real COPY … FROM stdin).
    Line {
        copies: u8,
        main: u8,
    },
    /// A data section ended.
    Section {
        left: u8,
        main_left: u8,
    },
}

/// What the main path takes to be a `COPY … FROM stdin` (as pg_dump writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CopyParse {
    Start,
    NotCopy,
    Copy,
    From,
    Stdin,
}

/// The psql version whose rules this path follows (they differ on numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V15,
    V16,
}

/// What decides psql's behaviour from here on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Core {
    pub lex: Lex,
    pub tok: Tok,
    pub slash: Slash,
    pub data: Option<Data>,
    pub after: After,
    /// Token text: identifier prefix (lower case), variable or command name, dollar tag
    /// being read.
    pub text: [u8; TEXT_MAX],
    pub text_len: u8,
    /// The open dollar quote's tag.
    pub tag: [u8; TEXT_MAX],
    pub tag_len: u8,
    pub paren: u16,
    pub begin: u16,
    pub idents: [u8; 4],
    pub ident_count: u8,
    /// "copy" (any case) in the query buffer, and its last three bytes.
    pub copy_words: u8,
    pub tail: [u8; 3],
    pub copy_parse: CopyParse,
    /// COPY words in the queries sent on this line, and real COPY … FROM stdin among them.
    pub line_copies: u8,
    pub main_copies: u8,
    /// Line reader: a NUL in this fgets chunk (the rest of the chunk is lost).
    pub nul_in_chunk: bool,
    /// The logical line has bytes; SQL other than whitespace was read on it.
    pub line_bytes: bool,
    pub line_sql: bool,
    /// Per-line settings psql read at `psql_scan_setup`: standard_conforming_strings
    /// once a string showed it, and the client encodings still possible ([`ENCODINGS`],
    /// one bit each) with the trail bytes each still turns into 0xFF (and whether a
    /// GB18030 lead byte waits for the next).
    pub std_strings: Option<bool>,
    pub encodings: u8,
    pub trails: [u8; 5],
    pub gb_lead: bool,
    /// Byte-order mark bytes still to drop from line 1.
    pub bom: u8,
    /// The current byte's translation, kept while a choice is made.
    pub translated: Option<u8>,
    pub version: Option<Version>,
    /// Column of the backslash of the current command.
    pub command_col: u32,
}

/// A path through psql's reading of the file.
#[derive(Debug, Clone, Copy)]
pub struct State {
    pub core: Core,
    /// The path that reads the file as pg_dump's output (settings as pg_dump sets them,
    /// every COPY accepted): every backslash command on it is refused but pg_dump's own.
    pub main: bool,
    pub why: Option<Why>,
    /// The answer to the choice being made.
    pub answer: Option<u8>,
}

impl State {
    /// psql before the first line.
    pub fn start(main: bool, bom: bool) -> Self {
        State {
            core: Core {
                lex: Lex::Initial,
                tok: Tok::None,
                slash: Slash::Off,
                data: None,
                after: After::Nothing,
                text: [0; TEXT_MAX],
                text_len: 0,
                tag: [0; TEXT_MAX],
                tag_len: 0,
                paren: 0,
                begin: 0,
                idents: [0; 4],
                ident_count: 0,
                copy_words: 0,
                tail: [0; 3],
                copy_parse: CopyParse::Start,
                line_copies: 0,
                main_copies: 0,
                nul_in_chunk: false,
                line_bytes: false,
                line_sql: false,
                std_strings: None,
                encodings: ALL_ENCODINGS,
                trails: [0; 5],
                gb_lead: false,
                bom: if bom { 3 } else { 0 },
                translated: None,
                version: None,
                command_col: 0,
            },
            main,
            why: None,
            answer: None,
        }
    }

    /// Forgets what no longer decides anything (stale token text, a closed dollar quote's
    /// tag) and, off the main path, how deep past [`DEPTH_EXACT`]: equal paths then
    /// compare equal.
    pub fn settle(&mut self) {
        let core = &mut self.core;
        if core.tok == Tok::None && !matches!(core.slash, Slash::Name { .. }) {
            core.text = [0; TEXT_MAX];
            core.text_len = 0;
        }
        if !matches!(core.lex, Lex::Dollar { .. }) {
            core.tag = [0; TEXT_MAX];
            core.tag_len = 0;
        }
        if core.slash == Slash::Off && core.tok != Tok::Backslash {
            core.command_col = 0;
        }
        if !self.main {
            core.paren = core.paren.min(DEEPER);
            core.begin = core.begin.min(DEEPER);
        }
    }

    /// The token text so far.
    pub fn text(&self) -> &[u8] {
        &self.core.text[..usize::from(self.core.text_len)]
    }

    /// Appends to the token text; false when it is full.
    pub fn push_text(&mut self, b: u8) -> bool {
        let n = usize::from(self.core.text_len);
        if n >= TEXT_MAX {
            return false;
        }
        self.core.text[n] = b;
        self.core.text_len += 1;
        true
    }
}

//! Where a path comes from: the choices psql leaves to the server, the client or the
//! input, and the first one a path made otherwise than pg_dump's output expects, which the
//! message of a finding on that path gives as the condition under which psql runs it.

/// Why a path exists: the first choice it made that pg_dump's reading does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Why {
    pub choice: Choice,
    pub line: u64,
}

/// A choice psql leaves to the server, the client or the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    StandardStrings,
    Encoding,
    Version,
    Variable,
    CopyStart,
    CopyEnd,
    CommandFails,
    Depth,
    LineBegin,
    ByteOrderMark,
}

impl Why {
    /// The condition under which psql takes this path, for a message.
    pub fn describe(&self) -> String {
        let line = self.line;
        match self.choice {
            Choice::StandardStrings => {
                format!("if standard_conforming_strings is off when psql reads line {line} (any statement before it can turn it off)")
            }
            Choice::Encoding => format!("if the client encoding is one psql reads by lead bytes (SJIS, BIG5, GBK, UHC, JOHAB, GB18030) at line {line} (any statement before it can set it)"),
            Choice::Version => "with the number rules of another psql version".into(),
            Choice::Variable => format!("if psql re-reads a variable's value at line {line}"),
            Choice::CopyStart => format!("if the server's answer to the query ending on line {line} is not the one pg_dump's output expects (a COPY that fails reads its data as SQL; a statement holding COPY may start a data section)"),
            Choice::CopyEnd => format!("if the server asks for another COPY data section after line {line}"),
            Choice::CommandFails => format!("if the backslash command on line {line} fails (psql then drops the rest of that line)"),
            Choice::Depth => format!("with parentheses or BEGIN blocks nested as they may be at line {line}"),
            Choice::LineBegin => format!("by how psql's COPY reader handles the NUL byte on line {line}"),
            Choice::ByteOrderMark => "if psql keeps the byte-order mark of line 1 (client encoding other than UTF-8)".into(),
        }
    }
}

/// A choice to make: how many ways, which one the main path takes, and why.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    pub ways: u8,
    pub main: u8,
    pub choice: Choice,
}

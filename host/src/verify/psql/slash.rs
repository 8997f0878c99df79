//! psql's backslash commands, after the SQL lexer stopped at a backslash: the command
//! name as `psqlscanslash.l`'s `<xslashcmd>` reads it (up to whitespace or a backslash),
//! what `HandleSlashCmds` (`command.c`) then does with the rest of the line, and the
//! arguments as `<xslashargstart>`/`<xslasharg>`/`<xslashquote>`/`<xslashbackquote>`/
//! `<xslashdquote>` read them: up to an unquoted backslash (`\\` is swallowed, another
//! `\x` is the next command) or the end of the line. A backtick pair in them is run by
//! the shell.

use super::lexer::is_space;
use super::names::{self, Command, NAME_MAX};
use super::state::{Arg, ArgKind, Choice, Slash, State, Tok};
use super::{Ctx, Flow, Stop};

impl State {
    /// One byte while a backslash command is read.
    pub fn slash_char(&mut self, c: u8, ctx: &mut Ctx) -> Result<Flow, Stop> {
        match self.core.slash {
            Slash::Off => Ok(Flow::Again),
            Slash::Name { len } => {
                if is_space(c) || c == b'\\' {
                    self.command(ctx)?;
                    return Ok(Flow::Again);
                }
                if usize::from(self.core.text_len) <= NAME_MAX {
                    self.push_text(c);
                }
                self.core.slash = Slash::Name {
                    len: len.saturating_add(1),
                };
                Ok(Flow::Next)
            }
            Slash::SkipLine => Ok(Flow::Next),
            Slash::MainRest => {
                ctx.main_text(c);
                Ok(Flow::Next)
            }
            Slash::Args {
                kind,
                at,
                args,
                plain,
            } => self.argument(kind, at, args, plain, c, ctx),
        }
    }

    /// The command name is complete: what psql does with it.
    fn command(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
        let Slash::Name { len } = self.core.slash else {
            return Ok(());
        };
        let name = self.text();
        let class = if len as usize > NAME_MAX {
            if name.first() == Some(&b'd') {
                Command::Arguments
            } else if name.starts_with(b"lo_") {
                Command::Dangerous
            } else {
                Command::Unknown
            }
        } else {
            names::command(name)
        };
        if self.main {
            let name = name.to_vec();
            ctx.main_command(self, &name);
            self.core.slash = Slash::MainRest;
            return Ok(());
        }
        self.core.slash = match class {
            Command::Unknown | Command::WholeLine => Slash::SkipLine,
            Command::Dangerous => {
                return Err(ctx.refuse_spec(
                    self,
                    "a psql meta-command that runs programs, touches files, sets variables or sends queries",
                ))
            }
            Command::Quit => return Err(Stop::Dead),
            Command::Reset | Command::Arguments | Command::Connect => {
                if class == Command::Reset {
                    self.reset_query();
                }
                Slash::Args {
                    kind: if class == Command::Connect {
                        ArgKind::Connect
                    } else {
                        ArgKind::Arguments
                    },
                    at: Arg::Start,
                    args: 0,
                    plain: true,
                }
            }
        };
        Ok(())
    }

    /// `\r`: `resetPQExpBuffer(query_buf)` and `psql_scan_reset`.
    fn reset_query(&mut self) {
        let core = &mut self.core;
        core.copy_words = 0;
        core.tail = [0; 3];
        core.copy_parse = super::state::CopyParse::Start;
        core.paren = 0;
        core.begin = 0;
        core.ident_count = 0;
    }

    fn argument(
        &mut self,
        kind: ArgKind,
        at: Arg,
        args: u8,
        plain: bool,
        c: u8,
        ctx: &mut Ctx,
    ) -> Result<Flow, Stop> {
        let (mut args, mut plain) = (args, plain);
        let connect = kind == ArgKind::Connect;
        let at = match at {
            Arg::Start if is_space(c) => Arg::Start,
            Arg::Start | Arg::Plain if c == b'\\' => Arg::Backslash,
            Arg::Start => {
                args = args.saturating_add(1);
                plain &= c != b'-';
                self.core.slash = Slash::Args {
                    kind,
                    at: Arg::Plain,
                    args,
                    plain,
                };
                return Ok(Flow::Again);
            }
            Arg::Plain if is_space(c) => Arg::Start,
            Arg::Plain => match c {
                b'\'' => Arg::Quote,
                b'`' => Arg::Backtick,
                b'"' => Arg::DoubleQuote,
                _ => {
                    plain &= c.is_ascii_alphanumeric() || b"_.-".contains(&c) || c >= 0x80;
                    Arg::Plain
                }
            },
            Arg::Quote if c == b'\'' => Arg::QuoteEnd,
            Arg::Quote if c == b'\\' => Arg::QuoteBackslash,
            Arg::Quote | Arg::QuoteBackslash => Arg::Quote,
            Arg::QuoteEnd if c == b'\'' => Arg::Quote,
            Arg::QuoteEnd => {
                self.core.slash = Slash::Args {
                    kind,
                    at: Arg::Plain,
                    args,
                    plain: false,
                };
                return Ok(Flow::Again);
            }
            Arg::Backtick if c == b'`' => {
                return Err(ctx.refuse_spec(
                    self,
                    "a backtick in a psql meta-command's argument: psql runs it as a shell command",
                ))
            }
            Arg::Backtick => Arg::Backtick,
            Arg::DoubleQuote if c == b'"' => Arg::Plain,
            Arg::DoubleQuote => Arg::DoubleQuote,
            Arg::Backslash => {
                if connect && !(args <= 1 && plain) {
                    return Err(
                        ctx.refuse_spec(self, "a \\connect to anything but a plain database name")
                    );
                }
                // The command may fail: psql then drops the rest of the line.
                if self.decide(2, 0, Choice::CommandFails)? == 1 {
                    self.core.slash = Slash::SkipLine;
                    return Ok(Flow::Next);
                }
                self.core.slash = Slash::Off;
                if c == b'\\' {
                    return Ok(Flow::Next);
                }
                // `\x` after the arguments: the next command.
                self.core.tok = Tok::Backslash;
                self.core.command_col = ctx.col.saturating_sub(1);
                return Ok(Flow::Again);
            }
        };
        if matches!(at, Arg::Quote | Arg::DoubleQuote) {
            plain = false;
        }
        self.core.slash = Slash::Args {
            kind,
            at,
            args,
            plain,
        };
        Ok(Flow::Next)
    }

    /// The end of the line ends the command.
    pub fn slash_end_of_line(&mut self, ctx: &mut Ctx) -> Result<(), Stop> {
        if matches!(self.core.slash, Slash::Name { .. }) {
            self.command(ctx)?;
        }
        match self.core.slash {
            Slash::MainRest => ctx.main_end(self),
            Slash::Args {
                kind: ArgKind::Connect,
                args,
                plain,
                ..
            } if !(args <= 1 && plain) => {
                return Err(
                    ctx.refuse_spec(self, "a \\connect to anything but a plain database name")
                );
            }
            _ => {}
        }
        self.core.slash = Slash::Off;
        Ok(())
    }
}

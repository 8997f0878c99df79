//! COPY data as psql reads it (`handleCopyIn` in `src/bin/psql/copy.c`, text mode): fgets
//! into an 8192-byte buffer that is sent when fewer than five bytes are left, and the end
//! of data only at a line that is exactly `\.` followed by `\n` or `\r\n`, read whole by
//! one fgets call that started at the beginning of a line. `strlen` of what fgets read
//! decides everything: a NUL cuts a chunk short, so the next line does not count as the
//! beginning of one (and a chunk that starts with a NUL makes psql look at the byte before
//! its buffer, which the machine leaves open). A binary COPY reads to the end of the file:
//! nothing after it runs, which the text reading already covers.

use super::state::{After, Choice, Data, State};
use super::{Ctx, Stop};

/// `COPYBUFSIZ`.
const BUFFER: u16 = 8192;

impl Data {
    /// A data section begins at the start of a line.
    pub fn new(left: u8, main_left: u8) -> Self {
        Data {
            buflen: 0,
            at_line_begin: true,
            last_newline: None,
            chunk: 0,
            nul_at: None,
            head: [0; 4],
            left,
            main_left,
        }
    }
}

impl State {
    /// Reads COPY data from `seg[from..]`; returns where SQL starts again (the section
    /// ended after that line) or `seg.len()`.
    pub fn data_run(
        &mut self,
        seg: &[u8],
        from: usize,
        ctx: &mut Ctx,
    ) -> Result<usize, (Stop, usize)> {
        let mut i = from;
        while i < seg.len() {
            let Some(mut d) = self.core.data else {
                return Ok(i);
            };
            // One fgets call reads up to a newline or BUFFER - buflen - 1 bytes.
            let room = usize::from(BUFFER - d.buflen - 1 - d.chunk);
            let window = &seg[i..seg.len().min(i + room)];
            let end = memchr::memchr(b'\n', window).map(|p| p + 1);
            let take = end.unwrap_or(window.len());
            let full =
                end.is_some() || usize::from(d.chunk) + take == usize::from(BUFFER - d.buflen - 1);
            let part = &seg[i..i + take];
            if d.nul_at.is_none() {
                if let Some(p) = memchr::memchr(0, part) {
                    d.nul_at = Some(d.chunk + p as u16);
                }
            }
            let have = usize::from(d.chunk).min(4);
            for (k, &b) in part.iter().take(4 - have).enumerate() {
                d.head[have + k] = b;
            }
            if !full {
                d.chunk += take as u16;
                self.core.data = Some(d);
                return Ok(seg.len());
            }
            let chunk = d.chunk + take as u16;
            let linelen = d.nul_at.unwrap_or(chunk);
            let newline_last = if linelen == 0 {
                match d.last_newline {
                    Some(n) if d.buflen > 0 => n,
                    _ => match self.decide(2, 0, Choice::LineBegin) {
                        Ok(a) => a == 1,
                        // Resume at the chunk's last byte, the rest already counted.
                        Err(stop) => {
                            d.chunk = chunk - 1;
                            self.core.data = Some(d);
                            return Err((stop, i + take - 1));
                        }
                    },
                }
            } else {
                d.nul_at.is_none() && end.is_some()
            };
            let done = newline_last
                && d.at_line_begin
                && d.nul_at.is_none()
                && ((chunk == 3 && d.head[..3] == *b"\\.\n")
                    || (chunk == 4 && d.head == *b"\\.\r\n"));
            d.at_line_begin = newline_last;
            d.buflen += linelen;
            if linelen > 0 {
                d.last_newline = Some(newline_last);
            }
            if d.buflen >= BUFFER - 5 || (done && d.buflen > 0) {
                d.buflen = 0;
                d.last_newline = None;
            }
            d.chunk = 0;
            d.nul_at = None;
            d.head = [0; 4];
            i += take;
            if done {
                self.core.data = None;
                self.core.after = After::Section {
                    left: d.left,
                    main_left: d.main_left,
                };
                if self.main {
                    let at = ctx.abs + (i - from) as u64;
                    ctx.boundary(super::ctx::Boundary::DataEnd { at });
                }
                return Ok(i);
            }
            self.core.data = Some(d);
        }
        Ok(i)
    }
}

//! Where a number token ends, as flex's longest match over `psqlscan.l`'s number rules
//! decides it: `{integer}`, `{decimal}`, `{decimalfail}` (`1..`), `{real}`, `{realfail}`
//! (`1e-`: the sign is part of the token, so `1e--` starts no comment), and the `_junk`
//! rules that glue a following identifier to the number. PostgreSQL 16 lets `_` separate
//! digits (`{decinteger}`); its hexadecimal, octal and binary integers never end later
//! than `{integer_junk}` already does in 15, so they change nothing here.

use super::lexer::{is_ident_cont, is_ident_start};
use super::state::Num;

/// The state after `c`, or [`Num::End`] when the token ended before it.
pub fn next(state: Num, c: u8, v16: bool) -> Num {
    use Num::*;
    let digit = c.is_ascii_digit();
    let e = c == b'e' || c == b'E';
    match state {
        Int if digit => Int,
        Int if v16 && c == b'_' => IntUnderscore,
        Int if c == b'.' => IntDot,
        Int | IntDot | Fraction if e => Exponent,
        IntUnderscore | FractionUnderscore | ExponentUnderscore if digit => match state {
            IntUnderscore => Int,
            FractionUnderscore => Fraction,
            _ => ExponentDigits,
        },
        IntDot if c == b'.' => Closed,
        IntDot | Fraction if digit => Fraction,
        Fraction if v16 && c == b'_' => FractionUnderscore,
        Exponent if c == b'+' || c == b'-' => ExponentSign,
        Exponent | ExponentSign if digit => ExponentDigits,
        ExponentDigits if digit => ExponentDigits,
        ExponentDigits if v16 && c == b'_' => ExponentUnderscore,
        Int | IntDot | Fraction | ExponentDigits if is_ident_start(c) => Junk,
        IntUnderscore | FractionUnderscore | ExponentUnderscore | Exponent | Junk
            if is_ident_cont(c) =>
        {
            Junk
        }
        _ => End,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many bytes of `s` the number token starting it takes.
    fn extent(s: &[u8], v16: bool) -> usize {
        let mut state = Num::Int;
        for (i, &c) in s.iter().enumerate().skip(1) {
            state = next(state, c, v16);
            if state == Num::End {
                return i;
            }
            if state == Num::Closed {
                return i + 1;
            }
        }
        s.len()
    }

    #[test]
    fn numbers_end_where_flex_ends_them() {
        for (text, v15, v16) in [
            ("1e-- x", 3, 3),
            ("1e5x-", 4, 4),
            ("1ex y", 3, 3),
            ("1.5e+ ", 5, 5),
            ("1..2", 3, 3),
            ("1_0e-- x", 4, 5),
            ("1_000 ", 5, 5),
            ("0x1F-", 4, 4),
            ("12$a ", 2, 2),
            ("1.x'", 3, 3),
        ] {
            assert_eq!(extent(text.as_bytes(), false), v15, "{text} in 15");
            assert_eq!(extent(text.as_bytes(), true), v16, "{text} in 16");
        }
    }
}

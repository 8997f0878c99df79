//! The inputs: dump-like text from a seed (pg_dump comments, `SET` lines, strings of every
//! kind, quoted identifiers, dollar quotes, comments, variables, errors that set variables,
//! COPY blocks with every end-of-data variant, `\;`, parentheses, `BEGIN ATOMIC` bodies,
//! numbers, CR/LF mixes, NUL and non-ASCII bytes), a third of them token soup, each with a
//! payload that touches a marker file.

use std::path::Path;

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence depends on every bit of `seed` (splitmix64).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, items: &[&'static [u8]]) -> &'static [u8] {
        items[self.below(items.len())]
    }
}

const FILLER: &[&[u8]] = &[
    b"x",
    b"'",
    b"''",
    b"\\",
    b"\\\\",
    b"\"",
    b"$",
    b"$$",
    b"$a$",
    b";",
    b"--",
    b"/*",
    b"*/",
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b" ",
    b"(",
    b")",
    b"\x81",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b":x",
    b":E",
    b"e'",
    b"\\.",
    b"\\N",
    b"\\t",
    b"\\r",
    b"0",
    b"1e-",
    b"\\;",
    b"`",
    b"\0",
    b"copy",
    b"\\x",
    b"-",
    b"\\'",
];

const SOUP: &[&[u8]] = &[
    b"COPY t0 FROM stdin;",
    b"COPY t1 FROM stdin;\n",
    b"CREATE TABLE t0 (a text);\n",
    b"SELECT ",
    b"E'",
    b"B'",
    b"X'",
    b"U&'",
    b"N'",
    b"U&\"",
    b"$a$",
    b"$b$",
    b"/*",
    b"*/",
    b"-- ",
    b"\\.\n",
    b"\\.\r\n",
    b"\n",
    b"\r",
    b"\r\n",
    b";",
    b"\\;",
    b"BEGIN ",
    b"END ",
    b"CASE ",
    b"CREATE FUNCTION f() RETURNS int LANGUAGE sql ",
    b"ATOMIC ",
    b"SET standard_conforming_strings = off;\n",
    b"SET client_encoding = 'SJIS';\n",
    b":LAST_ERROR_MESSAGE",
    b"SELECT 1/0;\n",
    b":'x'",
    b":\"x\"",
    b":{?x}",
    b"1e",
    b"1_0e",
    b"\\r",
    b"\\t ",
    b"\\echo ",
    b"\\foo ",
    b"\\\\",
    b"\\q\n",
];

const SEPARATORS: &[&[u8]] = &[b"\n", b"\n", b"\n", b"\r\n", b"\r", b" ", b""];

/// One input with a payload that touches `marker`.
pub fn generate(seed: u64, marker: &Path) -> Vec<u8> {
    let mut g = Gen {
        rng: Rng::new(seed),
        marker: marker.display().to_string(),
        placed: false,
        out: Vec::new(),
    };
    if g.rng.chance(3) {
        g.out.extend_from_slice(b"\xef\xbb\xbf");
    }
    if g.rng.chance(35) {
        g.soup();
        return g.out;
    }
    let pieces = 2 + g.rng.below(10);
    let payload_at = g.rng.below(pieces + 1);
    for i in 0..=pieces {
        if i == payload_at && !g.placed && g.rng.chance(50) {
            let p = g.payload();
            g.out.extend_from_slice(&p);
            g.placed = true;
            g.sep();
        }
        if i < pieces {
            g.piece();
            g.sep();
        }
    }
    if !g.placed {
        let p = g.payload();
        g.out.extend_from_slice(&p);
        g.out.push(b'\n');
    }
    g.out
}

struct Gen {
    rng: Rng,
    marker: String,
    placed: bool,
    out: Vec<u8>,
}

impl Gen {
    fn sep(&mut self) {
        let s = self.rng.bytes(SEPARATORS);
        self.out.extend_from_slice(s);
    }

    /// Tokens in any order: what the lexer meets at every boundary.
    fn soup(&mut self) {
        let tokens = 4 + self.rng.below(40);
        let payload_at = self.rng.below(tokens);
        for i in 0..tokens {
            if i == payload_at {
                let p = self.payload();
                self.out.extend_from_slice(&p);
                continue;
            }
            let t = self.rng.bytes(FILLER);
            self.out.extend_from_slice(t);
            if self.rng.chance(30) {
                let t = self.rng.bytes(SOUP);
                self.out.extend_from_slice(t);
            }
        }
        if self.rng.chance(50) {
            self.out.push(b'\n');
        }
    }

    fn payload(&mut self) -> Vec<u8> {
        let m = &self.marker;
        match self.rng.below(6) {
            0 | 1 => format!("\\! touch {m}").into_bytes(),
            2 => format!("\\o |touch {m}\n").into_bytes(),
            3 => format!("\\echo `touch {m}`").into_bytes(),
            4 => format!("\\t `touch {m}`").into_bytes(),
            _ => format!(
                "SELECT 1/0;\nDO $$BEGIN RAISE EXCEPTION '\\! touch {m}'; END$$;\n:LAST_ERROR_MESSAGE\n"
            )
            .into_bytes(),
        }
    }

    /// Text for a hole: the payload (once), or filler.
    fn hole(&mut self) -> Vec<u8> {
        if !self.placed && self.rng.chance(25) {
            self.placed = true;
            return self.payload();
        }
        let mut h = Vec::new();
        for _ in 0..self.rng.below(4) {
            h.extend_from_slice(self.rng.bytes(FILLER));
        }
        h
    }

    fn piece(&mut self) {
        let r = &mut self.rng;
        let n = r.below(3);
        let text: Vec<u8> = match r.below(19) {
            0 => {
                let h = self.hole();
                [
                    b"-- Name: ".as_slice(),
                    &h,
                    b"; Type: TABLE; Schema: public; Owner: -",
                ]
                .concat()
            }
            1 => b"--\n-- PostgreSQL database dump\n--".to_vec(),
            2 => r
                .bytes(&[
                    b"SET standard_conforming_strings = off;".as_slice(),
                    b"SET standard_conforming_strings = on;",
                    b"SELECT pg_catalog.set_config('standard_conforming_strings', 'off', false);",
                ])
                .to_vec(),
            3 => format!(
                "SET client_encoding = '{}';",
                r.pick(&["SJIS", "UTF8", "BIG5", "GBK", "GB18030", "LATIN1", "JOHAB"])
            )
            .into_bytes(),
            4 => format!("CREATE TABLE t{n} (a text, b text);").into_bytes(),
            5 | 6 => self.copy_block(n),
            7 | 8 => {
                let prefix = *self.rng.pick(&[
                    "", "", "E", "e", "N", "U&", "B", "X", ":E", "x", "1", "E ", "b",
                ]);
                let h = self.hole();
                let suffix = *self.rng.pick(&["", "'x'", "\r'y'", " -- c\r'z'", "::text"]);
                [
                    format!("SELECT {prefix}'").as_bytes(),
                    &h,
                    b"'",
                    suffix.as_bytes(),
                    b";",
                ]
                .concat()
            }
            9 => {
                let h = self.hole();
                let q = *self.rng.pick(&["\"", "U&\""]);
                [format!("SELECT {q}").as_bytes(), &h, b"\";"].concat()
            }
            10 => {
                let h = self.hole();
                let (open, close) = *self.rng.pick(&[
                    ("$$", "$$"),
                    ("$a$", "$a$"),
                    ("$a$", "$b$"),
                    ("$a$", "$ab$"),
                    ("$1", ""),
                    ("$a", ""),
                ]);
                [
                    format!("SELECT {open}").as_bytes(),
                    &h,
                    close.as_bytes(),
                    b";",
                ]
                .concat()
            }
            11 => {
                let h = self.hole();
                let (open, close) = *self.rng.pick(&[
                    ("/* ", " */"),
                    ("/* /* ", " */ */"),
                    ("/* ", ""),
                    ("-- ", ""),
                ]);
                [open.as_bytes(), &h, close.as_bytes()].concat()
            }
            12 => r
                .bytes(&[
                    b"SELECT :x, :'x', :\"x\", :{?x};".as_slice(),
                    b"SELECT :ROW_COUNT;",
                    b":LAST_ERROR_MESSAGE",
                    b"SELECT :'LAST_ERROR_MESSAGE';",
                    b"SELECT 1:E'a';",
                ])
                .to_vec(),
            13 => {
                let h = self.hole();
                let msg = String::from_utf8_lossy(&h).replace('\'', "''");
                format!("SELECT 1/0;\nDO $$BEGIN RAISE EXCEPTION '%', '{msg}'; END$$;").into_bytes()
            }
            14 => r
                .bytes(&[
                    b"SELECT 1 \\; SELECT 2;".as_slice(),
                    b"SELECT (1;",
                    b")",
                    b"(",
                    b"SELECT 1;",
                    b"SELECT 2",
                ])
                .to_vec(),
            15 => {
                let h = self.hole();
                let head = *self.rng.pick(&[
                    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; ",
                    "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; ",
                    "create function g() returns int language sql begin atomic select case when true then 1 end; ",
                ]);
                [head.as_bytes(), &h, b" END;"].concat()
            }
            16 => r
                .bytes(&[
                    b"SELECT 1e-".as_slice(),
                    b"SELECT 1_0e-",
                    b"SELECT .5e+",
                    b"SELECT 0x1F",
                    b"SELECT 1..2",
                    b"SELECT $1e",
                ])
                .to_vec(),
            17 => r
                .bytes(&[
                    b"\0".as_slice(),
                    b"\x81",
                    b"\xc3\xa9",
                    b"\xe2\x82\xac",
                    b"\x81\\",
                    b"\x81'",
                ])
                .to_vec(),
            _ => r
                .bytes(&[
                    b"\\r".as_slice(),
                    b"\\x",
                    b"\\echo hi",
                    b"\\foo bar",
                    b"\\\\",
                    b"\\restrict abc",
                    b"\\unrestrict abc",
                    b"\\t on \\\\ \\x",
                ])
                .to_vec(),
        };
        self.out.extend_from_slice(&text);
    }

    fn copy_block(&mut self, n: usize) -> Vec<u8> {
        let head = *self.rng.pick(&[
            "COPY t{} (a, b) FROM stdin;",
            "COPY t{} FROM STDIN;",
            "copy t{} from stdin",
            "COPY t{} FROM stdin \\; SELECT 1;",
            "COPY (SELECT 1) TO stdout;",
        ]);
        let mut b = head.replace("{}", &n.to_string()).into_bytes();
        if !head.ends_with(';') {
            b.push(b';');
        }
        b.extend_from_slice(self.rng.bytes(&[b"\n".as_slice(), b"\n", b"\r\n", b" "]));
        for _ in 0..self.rng.below(4) {
            for cell in 0..2 {
                if cell == 1 {
                    b.push(b'\t');
                }
                let c: Vec<u8> = match self.rng.below(8) {
                    0 => self.hole(),
                    1 => b"\\N".to_vec(),
                    2 => b"O'Brien".to_vec(),
                    3 => b"a\\\\b".to_vec(),
                    4 => b"\\t `x`".to_vec(),
                    5 => b"\\.x".to_vec(),
                    _ => b"x".to_vec(),
                };
                b.extend_from_slice(&c);
            }
            b.extend_from_slice(self.rng.bytes(&[b"\n".as_slice(), b"\n", b"\r\n", b"\r"]));
        }
        b.extend_from_slice(self.rng.bytes(&[
            b"\\.".as_slice(),
            b"\\.",
            b"\\.\r",
            b"\\. ",
            b"",
            b"\\.\n\\.",
        ]));
        b
    }
}

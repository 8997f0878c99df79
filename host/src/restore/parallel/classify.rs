//! What one statement of a plain pg_dump is, read from the statement itself and the
//! `-- Name: …; Type: …` header pg_dump writes before it: a COPY into a table, an index
//! build, a constraint, a foreign key, a sequence value, a session setting, or anything
//! else (which a parallel restore runs alone, at its place). Only the fixed shapes
//! pg_dump writes are recognised; whatever differs is "anything else". Statement
//! boundaries are psql's ([`crate::verify::psql::split`]); this reads within one.

/// pg_dump's comment header of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name as pg_dump prints it (unquoted; a constraint's is `table constraint`).
    pub name: String,
    /// `TABLE DATA`, `INDEX`, `FK CONSTRAINT`, `COMMENT`, …
    pub kind: String,
}

/// A statement's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `COPY table (…) FROM stdin;`
    Copy { table: String },
    /// `CREATE [UNIQUE] INDEX name ON [ONLY] table …`
    Index { table: String },
    /// `ALTER TABLE [ONLY] table ADD CONSTRAINT name PRIMARY KEY|UNIQUE|EXCLUDE|CHECK …`
    Constraint { table: String },
    /// `ALTER TABLE [ONLY] table ADD CONSTRAINT name FOREIGN KEY (…) REFERENCES other(…)`
    ForeignKey { table: String, refs: String },
    /// `SELECT pg_catalog.setval('name', N, true|false);`
    SetVal,
    /// `SET name = …`, `SET name TO …`, `SELECT pg_catalog.set_config('name', …, false);`
    Session { key: String },
    /// `COMMENT ON …` or `SECURITY LABEL …`.
    Comment,
    /// Anything else.
    Other,
}

/// The header in the comment lines before the statement (the last `-- Name:` or
/// `-- Data for Name:` line).
pub fn header(text: &[u8]) -> Option<Header> {
    let lead = &text[..text.len() - statement(text).len()];
    let line = lead
        .split(|&b| b == b'\n')
        .filter_map(|l| {
            l.strip_prefix(b"-- Name: ")
                .or_else(|| l.strip_prefix(b"-- Data for Name: "))
        })
        .next_back()?;
    let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
    let at = line.rfind("; Type: ")?;
    let name = line[..at].to_string();
    let rest = &line[at + "; Type: ".len()..];
    let kind = rest.split("; ").next().unwrap_or_default().to_string();
    Some(Header { name, kind })
}

/// The statement without the blank and `--` comment lines before it.
pub fn statement(text: &[u8]) -> &[u8] {
    let mut rest = text;
    loop {
        let trimmed = trim_start(rest);
        if trimmed.starts_with(b"--") {
            match memchr::memchr(b'\n', trimmed) {
                Some(n) => rest = &trimmed[n + 1..],
                None => return &trimmed[trimmed.len()..],
            }
        } else {
            return trimmed;
        }
    }
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

/// A cursor over a statement's words.
struct Words<'a>(&'a [u8]);

impl<'a> Words<'a> {
    /// The keyword `word` (as pg_dump spells it) followed by a space, newline or `(`.
    fn keyword(&mut self, word: &str) -> bool {
        let s = trim_start(self.0);
        let w = word.as_bytes();
        let ends =
            |b: Option<&u8>| matches!(b, Some(b' ' | b'\n' | b'\t' | b'(' | b')' | b',' | b';'));
        if s.starts_with(w) && ends(s.get(w.len())) {
            self.0 = &s[w.len()..];
            true
        } else {
            false
        }
    }

    /// One identifier, quoted or plain, unquoted (plain ones lower-cased).
    fn ident(&mut self) -> Option<String> {
        let s = trim_start(self.0);
        if s.first() == Some(&b'"') {
            let mut out = Vec::new();
            let mut i = 1;
            loop {
                match s.get(i)? {
                    b'"' if s.get(i + 1) == Some(&b'"') => {
                        out.push(b'"');
                        i += 2;
                    }
                    b'"' => break,
                    &b => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            self.0 = &s[i + 1..];
            return String::from_utf8(out).ok();
        }
        let start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
        if !s.first().is_some_and(|&b| start(b)) {
            return None;
        }
        let n = s
            .iter()
            .take_while(|&&b| start(b) || b.is_ascii_digit() || b == b'$')
            .count();
        self.0 = &s[n..];
        String::from_utf8(s[..n].to_ascii_lowercase()).ok()
    }

    /// `a.b` (at most three parts), as `a.b` with each part unquoted.
    fn qualified(&mut self) -> Option<String> {
        let mut parts = vec![self.ident()?];
        while parts.len() < 3 && self.0.first() == Some(&b'.') {
            self.0 = &self.0[1..];
            parts.push(self.ident()?);
        }
        Some(parts.join("."))
    }

    /// `( ident, ident … )`.
    fn columns(&mut self) -> Option<()> {
        if !trim_start(self.0).starts_with(b"(") {
            return None;
        }
        self.0 = &trim_start(self.0)[1..];
        loop {
            self.ident()?;
            let s = trim_start(self.0);
            match s.first()? {
                b',' => self.0 = &s[1..],
                b')' => {
                    self.0 = &s[1..];
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string literal without quotes or backslashes inside.
    fn plain_literal(&mut self) -> Option<String> {
        let s = trim_start(self.0);
        let body = s.strip_prefix(b"'")?;
        let end = memchr::memchr(b'\'', body)?;
        let text = &body[..end];
        if text.contains(&b'\\') {
            return None;
        }
        self.0 = &body[end + 1..];
        String::from_utf8(text.to_vec()).ok()
    }

    fn symbol(&mut self, c: u8) -> bool {
        let s = trim_start(self.0);
        if s.first() == Some(&c) {
            self.0 = &s[1..];
            true
        } else {
            false
        }
    }

    fn rest(&self) -> &'a [u8] {
        trim_start(self.0)
    }
}

/// The shape of a statement psql sends (`text`, comments before it allowed); `copy`: psql
/// streams a data section after it.
pub fn shape(text: &[u8], copy: bool) -> Shape {
    let stmt = statement(text);
    let mut w = Words(stmt);
    if copy {
        if w.keyword("COPY") {
            if let Some(table) = w.qualified() {
                return Shape::Copy { table };
            }
        }
        return Shape::Other;
    }
    if w.keyword("CREATE") {
        w.keyword("UNIQUE");
        if w.keyword("INDEX") && w.ident().is_some() && w.keyword("ON") {
            w.keyword("ONLY");
            if let Some(table) = w.qualified() {
                return Shape::Index { table };
            }
        }
        return Shape::Other;
    }
    if w.keyword("ALTER") {
        return alter(w).unwrap_or(Shape::Other);
    }
    if w.keyword("SET") {
        return session_key(w.rest()).map_or(Shape::Other, |key| Shape::Session { key });
    }
    if w.keyword("SELECT") {
        return select(w).unwrap_or(Shape::Other);
    }
    if w.keyword("COMMENT") || w.keyword("SECURITY") {
        return Shape::Comment;
    }
    Shape::Other
}

fn alter(mut w: Words<'_>) -> Option<Shape> {
    if !w.keyword("TABLE") {
        return None;
    }
    w.keyword("ONLY");
    let table = w.qualified()?;
    if !(w.keyword("ADD") && w.keyword("CONSTRAINT")) {
        return None;
    }
    w.ident()?;
    if w.keyword("FOREIGN") {
        if !w.keyword("KEY") {
            return None;
        }
        w.columns()?;
        if !w.keyword("REFERENCES") {
            return None;
        }
        let refs = w.qualified()?;
        return Some(Shape::ForeignKey { table, refs });
    }
    ["PRIMARY", "UNIQUE", "EXCLUDE", "CHECK"]
        .iter()
        .any(|k| w.keyword(k))
        .then_some(Shape::Constraint { table })
}

/// `SELECT pg_catalog.setval('seq', N, true|false);` or
/// `SELECT pg_catalog.set_config('name', 'value', false);`, exactly.
fn select(mut w: Words<'_>) -> Option<Shape> {
    let s = w.rest();
    if let Some(args) = s.strip_prefix(b"pg_catalog.setval(") {
        w.0 = args;
        w.plain_literal()?;
        if !w.symbol(b',') {
            return None;
        }
        let s = trim_start(w.0);
        let digits = s.strip_prefix(b"-").unwrap_or(s);
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        w.0 = &digits[n..];
        if !w.symbol(b',') || !(w.keyword("true") || w.keyword("false")) {
            return None;
        }
        return (w.symbol(b')') && w.symbol(b';') && w.rest().is_empty()).then_some(Shape::SetVal);
    }
    if let Some(args) = s.strip_prefix(b"pg_catalog.set_config(") {
        w.0 = args;
        let key = w.plain_literal()?;
        if !w.symbol(b',') {
            return None;
        }
        w.plain_literal()?;
        let ok = w.symbol(b',')
            && w.keyword("false")
            && w.symbol(b')')
            && w.symbol(b';')
            && w.rest().is_empty();
        return (ok && is_key(&key)).then(|| Shape::Session {
            key: key.to_ascii_lowercase(),
        });
    }
    None
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b' ')
}

/// The setting a `SET` changes (`SET name = …`, `SET name TO …`, `SET SESSION
/// AUTHORIZATION …`, `SET ROLE …`), lower-cased; not `SET LOCAL` or `SET TRANSACTION`.
fn session_key(rest: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(rest).ok()?;
    let lower = text.to_ascii_lowercase();
    for fixed in ["session authorization", "role"] {
        if lower.starts_with(fixed) && lower[fixed.len()..].starts_with([' ', '\n']) {
            return Some(fixed.to_string());
        }
    }
    let end = lower.find([' ', '=', '\n'])?;
    let key = &lower[..end];
    let after = lower[end..].trim_start();
    let ok = (after.starts_with('=') || after.starts_with("to "))
        && is_key(key)
        && !matches!(key, "local" | "transaction" | "constraints" | "session");
    ok.then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dumps_statements_by_shape() {
        let table = |t: &str| t.to_string();
        let cases: &[(&str, bool, Shape)] = &[
            (
                "\n\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.t (a, b) FROM stdin;",
                true,
                Shape::Copy { table: table("public.t") },
            ),
            (
                "COPY public.\"Odd \"\"T\"\"\" (id) FROM stdin;",
                true,
                Shape::Copy { table: table("public.Odd \"T\"") },
            ),
            ("COPY public.t (a) FROM stdin;", false, Shape::Other),
            (
                "CREATE INDEX odd_v ON public.\"Odd \"\"T\"\"\" USING btree (v);",
                false,
                Shape::Index { table: table("public.Odd \"T\"") },
            ),
            (
                "CREATE UNIQUE INDEX u ON ONLY public.Res_Users USING btree (login);",
                false,
                Shape::Index { table: table("public.res_users") },
            ),
            (
                "ALTER TABLE ONLY public.res_users\n    ADD CONSTRAINT res_users_pkey PRIMARY KEY (id);",
                false,
                Shape::Constraint { table: table("public.res_users") },
            ),
            (
                "ALTER TABLE public.res_users\n    ADD CONSTRAINT c_chk CHECK ((id > 0)) NOT VALID;",
                false,
                Shape::Constraint { table: table("public.res_users") },
            ),
            (
                "ALTER TABLE ONLY public.\"Odd \"\"T\"\"\"\n    ADD CONSTRAINT \"Odd \"\"T\"\"_user_id_fkey\" FOREIGN KEY (user_id, \"REFERENCES x\") REFERENCES public.res_users(id);",
                false,
                Shape::ForeignKey { table: table("public.Odd \"T\""), refs: table("public.res_users") },
            ),
            ("ALTER TABLE ONLY public.t ALTER COLUMN id SET DEFAULT nextval('public.s'::regclass);", false, Shape::Other),
            ("ALTER TABLE ONLY public.t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES;", false, Shape::Other),
            ("SELECT pg_catalog.setval('public.\"Odd \"\"T\"\"_id_seq\"', 1, true);", false, Shape::SetVal),
            ("SELECT pg_catalog.setval('public.s', -42, false);", false, Shape::SetVal),
            ("SELECT pg_catalog.setval('public.s', (SELECT max(id) FROM t), true);", false, Shape::Other),
            ("SELECT pg_catalog.setval('public.s', 1, true); SELECT 2;", false, Shape::Other),
            ("SET standard_conforming_strings = on;", false, Shape::Session { key: "standard_conforming_strings".into() }),
            ("SET default_tablespace = '';", false, Shape::Session { key: "default_tablespace".into() }),
            ("SET search_path TO public;", false, Shape::Session { key: "search_path".into() }),
            ("SET SESSION AUTHORIZATION 'odoo';", false, Shape::Session { key: "session authorization".into() }),
            ("SET LOCAL work_mem = '1GB';", false, Shape::Other),
            ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;", false, Shape::Other),
            ("SELECT pg_catalog.set_config('search_path', '', false);", false, Shape::Session { key: "search_path".into() }),
            ("SELECT pg_catalog.set_config('search_path', '', true);", false, Shape::Other),
            ("COMMENT ON INDEX public.odd_v IS 'an index';", false, Shape::Comment),
            ("CREATE TABLE public.t (x int);", false, Shape::Other),
            ("-- only a comment\n", false, Shape::Other),
        ];
        for (text, copy, want) in cases {
            assert_eq!(&shape(text.as_bytes(), *copy), want, "{text}");
        }
    }

    #[test]
    fn headers_name_the_item_and_its_type() {
        let h = header(b"\n\n--\n-- Name: Odd \"T\" Odd \"T\"_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE x;").unwrap();
        assert_eq!(h.name, "Odd \"T\" Odd \"T\"_pkey");
        assert_eq!(h.kind, "CONSTRAINT");
        let h = header(
            b"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\nCOPY",
        )
        .unwrap();
        assert_eq!((h.name.as_str(), h.kind.as_str()), ("t", "TABLE DATA"));
        assert_eq!(header(b"\nSET a = 1;"), None);
        // A header-like line inside the statement is not its header.
        assert_eq!(
            header(b"SELECT '\n-- Name: x; Type: INDEX; Schema: s; Owner: -\n';"),
            None
        );
    }
}

//! The guard on inputs written by hand: pg_dump's own shapes pass, and every way psql has
//! of running a command that we found by reading its source or by fuzzing it (each was
//! checked against the real psql 15 and 16 when found) is flagged.

use super::*;

/// The input filtered in chunks of `chunk` bytes, and the refusals.
fn run(input: &[u8], chunk: usize) -> (Vec<u8>, Vec<Refused>) {
    let mut guard = Guard::new();
    let mut out = Vec::new();
    for part in input.chunks(chunk) {
        guard.feed(part, Some(&mut out));
    }
    (out, guard.finish().0)
}

/// The lines refused, the same in any chunking.
fn refused(input: &str) -> Vec<u64> {
    let lines: Vec<u64> = run(input.as_bytes(), 1 << 20)
        .1
        .iter()
        .map(|r| r.line)
        .collect();
    for chunk in [1, 2, 3, 5, 17] {
        let again: Vec<u64> = run(input.as_bytes(), chunk)
            .1
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(again, lines, "chunk {chunk} of {input:?}");
    }
    lines
}

fn flagged(input: &[u8]) -> bool {
    !scan(input).0.is_empty()
}

const PG_DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\n\
    SET standard_conforming_strings = on;\n\
    SET client_encoding = 'UTF8';\n\
    CREATE TABLE public.t (x text, \"from\" text);\n\
    CREATE FUNCTION public.f() RETURNS text LANGUAGE plpgsql AS $_$\nbegin\n\\! not a command\nreturn E'\\'';\nend$_$;\n\
    CREATE FUNCTION public.g() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n\
    COMMENT ON TABLE public.t IS 'a \\ b';\n\
    COMMENT ON COLUMN public.t.x IS 'C:\\';\n\
    COPY public.t (x, \"from\") FROM stdin;\n\\\\! data\n\\\\\tx\n\\N\t'\nO'Brien\t\\t\\r\\n\\b\\f\\v\n\\.\n\n\
    CREATE VIEW public.v AS SELECT E'it\\'s' AS a, $$ \\q $$ AS b, (ARRAY[1,2])[1:2] AS c /* \\! */; -- \\! x\n\
    COPY public.e (x) FROM stdin;\n\\.\n\
    --\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc123\n\n";

#[test]
fn pg_dumps_own_output_passes_without_its_restrict_lines() {
    for chunk in [1, 2, 3, 7, 64, 1 << 20] {
        let (out, refused) = run(PG_DUMP.as_bytes(), chunk);
        assert_eq!(refused, [], "chunk {chunk}");
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("restrict"), "{out}");
        assert!(out.contains("\\\\! data\n"), "COPY data is kept");
        assert_eq!(
            out.len(),
            PG_DUMP.len() - "\\restrict abc123\n\\unrestrict abc123\n".len()
        );
    }
}

#[test]
fn shell_and_other_meta_commands_are_refused_wherever_psql_would_run_them() {
    assert_eq!(refused("SELECT 1;\n\\! touch /tmp/x\n"), [2]);
    assert_eq!(refused("SELECT 1; \\! touch /tmp/x\n"), [1]);
    assert_eq!(refused("\\o |sh\nSELECT 1;\n"), [1]);
    assert_eq!(refused("\\copy t to program 'sh'"), [1]);
    // Data of a COPY that is not from stdin is no data.
    assert_eq!(refused("COPY t TO stdout;\n\\! x\n"), [2]);
    // A COPY inside a comment or a string is not one.
    assert_eq!(refused("/*\nCOPY t FROM stdin;\n*/\n\\! x\n"), [4]);
    assert_eq!(refused("SELECT '\nCOPY t FROM stdin;\n';\n\\! x\n"), [4]);
    assert_eq!(refused("SELECT E'a''b\\'c';\n\\! x\n"), [2]);
    // pg_dump's own lines, abused.
    assert_eq!(refused("\\restrict a\n\\restrict b\n"), [2]);
    assert_eq!(refused("\\restrict a\n\\unrestrict b\n"), [2]);
    assert_eq!(
        refused("\\connect -reuse-previous=on \"dbname='x' host=evil\"\n"),
        [1]
    );
    assert_eq!(refused("\\connect prod\nSELECT 1;\n"), Vec::<u64>::new());
}

#[test]
fn a_comment_ends_at_a_carriage_return_as_psql_ends_it() {
    // psqlscan.l: `non_newline` is `[^\n\r]`.
    assert_eq!(refused("-- Name: x; Type: TABLE\r\\! touch /tmp/p\n"), [1]);
}

#[test]
fn a_variable_before_a_quote_is_not_an_escape_string() {
    // `:E` is a variable reference (unset: kept as written), then a standard string.
    assert_eq!(refused("SELECT :E'\\' \\! touch /tmp/p\n"), [1]);
    // A real E'' string hides it.
    assert_eq!(
        refused("SELECT E'\\' \\! touch /tmp/p';\n"),
        Vec::<u64>::new()
    );
}

#[test]
fn an_error_message_psql_reads_again_as_sql_is_refused() {
    let dump =
        "SELECT 1/0;\nDO $$BEGIN RAISE EXCEPTION '\\! touch /tmp/p'; END$$;\n:LAST_ERROR_MESSAGE\n";
    assert_eq!(refused(dump), [3]);
    // Quoted, its value is never read again; unknown names stay as written.
    assert_eq!(
        refused("SELECT :'LAST_ERROR_MESSAGE', (a)[1:2];\n"),
        Vec::<u64>::new()
    );
}

#[test]
fn data_psql_reads_as_sql_when_the_copy_fails_is_checked_too() {
    // pg_dump doubles backslashes in data: read as SQL, `\\!` is an unknown command.
    assert_eq!(
        refused("COPY t FROM stdin;\n\\\\! x\n\\.\n"),
        Vec::<u64>::new()
    );
    // A raw one runs if the table is missing.
    assert_eq!(refused("COPY t FROM stdin;\n\\! x\n\\.\n"), [2]);
    // `\t` (a tab in a value) with a backtick in its argument runs a shell command.
    assert_eq!(refused("COPY t FROM stdin;\n1\t\\t `touch x`\n\\.\n"), [2]);
    assert_eq!(
        refused("COPY t FROM stdin;\n1\t\\tb`touch x`\n\\.\n"),
        Vec::<u64>::new()
    );
}

#[test]
fn data_after_copy_ends_is_sql_again() {
    let dump = "COPY a (x) FROM stdin;\n1\n\\.\nCOPY b FROM STDIN; COPY c FROM stdin;\nb\n\\.\nc\n\\.\n\\! x\n";
    assert!(refused(dump).contains(&9));
    assert_eq!(refused("SELECT 1;\n\\! x"), [2]);
    // `\.` ends data only alone on its line, with `\n` or `\r\n` after it.
    assert_eq!(refused("COPY a FROM stdin;\n\\.\r\n\\! x\n"), [3]);
    assert_eq!(refused("COPY a FROM stdin;\n\\. \n\\! x\n\\.\n"), [3]);
}

#[test]
fn a_nul_byte_is_read_as_psql_reads_it() {
    // fgets then strlen: the newline after a NUL is lost and the lines merge; the COPY's
    // data starts after the merged line, and its tail runs after the data.
    let dump = b"COPY t FROM stdin;\0\n\\! touch x\n\\.\n";
    assert!(flagged(dump));
    // After a NUL in COPY data, the next line is not the beginning of one for psql.
    let dump = b"COPY t FROM stdin;\nab\0c\n\\.\n\\! touch x\n\\.\n";
    assert!(flagged(dump), "psql runs it if the COPY fails");
}

#[test]
fn standard_conforming_strings_off_is_followed_too() {
    // psql reads 'a\' as a string still open with standard_conforming_strings off.
    let dump = "SET standard_conforming_strings = off;\nSELECT 'a\\' \\! x ';\n";
    assert_eq!(refused(dump), [2]);
}

#[test]
fn lead_bytes_of_client_only_encodings_hide_what_follows() {
    // In SJIS, 0x81 leads two bytes: the backslash after it is part of a character, and
    // the quote that would close the string is read.
    let dump = b"SELECT '\x81\\' ; \\! touch x\n";
    assert!(flagged(dump));
}

#[test]
fn numbers_swallow_what_psql_swallows() {
    // `1e-` is one token (realfail): the next `-` does not start a comment.
    assert_eq!(refused("SELECT 1e-- \\! touch x\n"), [1]);
    // PostgreSQL 16 reads `1_0e-` as one token too.
    assert_eq!(refused("SELECT 1_0e-- \\! touch x\n"), [1]);
}

#[test]
fn strings_continue_across_a_carriage_return_as_sql_says() {
    // `'a'\r'b'` is one string: the backslash is inside it.
    assert_eq!(refused("SELECT 'a'\r' \\! x';\n"), Vec::<u64>::new());
    assert_eq!(refused("SELECT 'a' \\! x ;\n"), [1]);
}

#[test]
fn a_byte_order_mark_may_stay_in_line_one() {
    assert_eq!(refused("\u{feff}SELECT 1;\n"), Vec::<u64>::new());
}

#[test]
fn huge_inputs_are_read_in_bounded_memory() {
    let mut guard = Guard::new();
    guard.feed(b"COPY public.big (b) FROM stdin;\n", None);
    let row = vec![b'x'; 1 << 20];
    for _ in 0..5 {
        guard.feed(&row, None);
        guard.feed(b"\n", None);
    }
    guard.feed(b"\\.\n", None);
    assert!(guard.states.len() <= STATES_MAX);
    assert_eq!(guard.finish().0, []);
}

/// A pg_dump-shaped dump of `tables` tables whose text is full of what makes the other
/// readings drift: odd quotes, parentheses, escapes, accents, `'C:\'` comments.
fn many_tables(tables: usize) -> String {
    let mut d =
        String::from("SET standard_conforming_strings = on;\nSET client_encoding = 'UTF8';\n");
    for t in 0..tables {
        d.push_str(&format!(
            "\n--\n-- Name: t{t}; Type: TABLE; Schema: public; Owner: -\n--\n\n\
             CREATE TABLE public.t{t} (id integer, note text, CONSTRAINT c{t} CHECK ((note ~ '^\\d+(\\.\\d+)?$'::text)));\n\
             COMMENT ON TABLE public.t{t} IS 'C:\\';\n\
             CREATE FUNCTION public.f{t}() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'l''été (' || E'\\n'; END $$;\n"
        ));
    }
    for t in 0..tables {
        d.push_str(&format!("\nCOPY public.t{t} (id, note) FROM stdin;\n"));
        for r in 0..20 {
            d.push_str(&format!(
                "{r}\tl'été ({r} \\t\\N O'Brien \\\\ `ls` \\r\\n é€ \"q\" $$ -- /* :x\n"
            ));
        }
        d.push_str("\\.\n");
    }
    d.push_str("\n--\n-- PostgreSQL database dump complete\n--\n\n");
    d
}

#[test]
fn a_dump_of_many_tables_of_drifting_text_passes_with_few_paths() {
    let dump = many_tables(300);
    let mut guard = Guard::new();
    let mut most = 0;
    for line in dump.as_bytes().split_inclusive(|&b| b == b'\n') {
        guard.feed(line, None);
        most = most.max(guard.states.len());
    }
    assert_eq!(guard.finish().0, []);
    assert!(most <= 64, "{most} paths at once");
}

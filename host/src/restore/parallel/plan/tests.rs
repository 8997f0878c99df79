use super::*;
use crate::verify::psql::split::Splitter;

/// pg_dump 15's output for a small database (tables with a quoted name, a sequence, a
/// comment on a table and one on an index, a trigger, a foreign key, an ACL, a
/// materialized view), trimmed.
pub const DUMP: &str = r#"--
-- PostgreSQL database dump
--

\restrict owQX926Ph

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;

--
-- Name: f(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.f() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN RETURN NEW; END$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Odd "T"; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."Odd ""T""" (
    id integer NOT NULL,
    user_id integer,
    v text
);


--
-- Name: res_users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.res_users (
    id integer NOT NULL,
    login character varying
);


--
-- Name: TABLE res_users; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.res_users IS 'users';


--
-- Data for Name: Odd "T"; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public."Odd ""T""" (id, user_id, v) FROM stdin;
1	1	x
\.


--
-- Data for Name: res_users; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.res_users (id, login) FROM stdin;
1	a
2	b
\.


--
-- Name: res_users_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.res_users_id_seq', 2, true);


--
-- Name: Odd "T" Odd "T"_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."Odd ""T"""
    ADD CONSTRAINT "Odd ""T""_pkey" PRIMARY KEY (id);


--
-- Name: res_users res_users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.res_users
    ADD CONSTRAINT res_users_pkey PRIMARY KEY (id);


--
-- Name: CONSTRAINT res_users_pkey ON res_users; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON CONSTRAINT res_users_pkey ON public.res_users IS 'pk';


--
-- Name: odd_v; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX odd_v ON public."Odd ""T""" USING btree (v);


--
-- Name: INDEX odd_v; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON INDEX public.odd_v IS 'an index';


--
-- Name: res_users trg; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER trg BEFORE INSERT ON public.res_users FOR EACH ROW EXECUTE FUNCTION public.f();


--
-- Name: Odd "T" Odd "T"_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."Odd ""T"""
    ADD CONSTRAINT "Odd ""T""_user_id_fkey" FOREIGN KEY (user_id) REFERENCES public.res_users(id);


--
-- Name: TABLE res_users; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.res_users TO reader;


--
-- PostgreSQL database dump complete
--

\unrestrict owQX926Ph

"#;

pub fn plan_of(dump: &str) -> Plan {
    let mut s = Splitter::new(1 << 20);
    s.feed(dump.as_bytes());
    let (refused, _, units) = s.finish();
    assert!(refused.is_empty(), "{refused:?}");
    plan(units.expect("split"))
}

fn summary(plan: &Plan) -> Vec<(Kind, String, Vec<usize>, usize)> {
    plan.items
        .iter()
        .map(|i| {
            let name = i.header.as_ref().map_or(String::new(), |h| h.name.clone());
            (i.kind, name, i.deps.clone(), i.statements.len())
        })
        .collect()
}

#[test]
fn pg_dump_sections_become_a_chain_then_parallel_data_then_post_data_by_table() {
    use Kind::*;
    let p = plan_of(DUMP);
    let s = |n: &str| n.to_string();
    assert_eq!(
        summary(&p),
        [
            (Serial, s("f()"), vec![], 1),
            (Serial, s("Odd \"T\""), vec![0], 1),
            (Serial, s("res_users"), vec![1], 1),
            // A comment on a table is not attached: it runs alone at its place.
            (Serial, s("TABLE res_users"), vec![2], 1),
            (TableData, s("Odd \"T\""), vec![3], 1),
            (TableData, s("res_users"), vec![3], 1),
            (SequenceSet, s("res_users_id_seq"), vec![3], 1),
            (Constraint, s("Odd \"T\" Odd \"T\"_pkey"), vec![3, 4], 1),
            // With its comment.
            (Constraint, s("res_users res_users_pkey"), vec![3, 5], 2),
            (Index, s("odd_v"), vec![3, 4], 2),
            // The trigger waits for everything before it.
            (Serial, s("res_users trg"), vec![4, 5, 6, 7, 8, 9], 1),
            (
                ForeignKey,
                s("Odd \"T\" Odd \"T\"_user_id_fkey"),
                // Both tables' data, the referenced table's primary key, the trigger.
                vec![4, 5, 8, 10],
                1
            ),
            (Serial, s("TABLE res_users"), vec![11], 1),
            // What is left after the last statement: comments only.
            (Serial, s(""), vec![12], 1),
        ]
    );
    let keys: Vec<&str> = p.settings.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "statement_timeout",
            "client_encoding",
            "standard_conforming_strings",
            "search_path",
            "check_function_bodies",
            "default_tablespace",
            "default_table_access_method"
        ]
    );
    assert_eq!(p.items[0].session, 5);
    assert_eq!(p.items[1].session, 7);
    let fk = &p.items[11];
    assert_eq!(
        fk.locks,
        [
            ("public.Odd \"T\"".to_string(), Mode::Exclusive),
            ("public.res_users".to_string(), Mode::Exclusive)
        ]
    );
    assert_eq!(
        p.items[9].locks,
        [("public.Odd \"T\"".to_string(), Mode::Shared)]
    );
    let d = p.items[5].data.unwrap();
    assert_eq!(&DUMP[d.start as usize..d.end as usize], "1\ta\n2\tb\n\\.\n");
    assert_eq!(p.items[9].weight, p.items[4].weight);
    assert_eq!(fk.weight, p.items[4].weight + p.items[5].weight);
    assert!(p.items.iter().flat_map(|i| &i.statements).all(|s| !s
        .windows(9)
        .any(|w| w == b"\\restrict" || w == b"\\unrestri")));
}

#[test]
fn an_index_before_the_end_of_the_data_keeps_its_place() {
    let dump = "--\n-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: -\n--\n\
        COPY public.a (x) FROM stdin;\n1\n\\.\n\
        --\n-- Name: ai; Type: INDEX; Schema: public; Owner: -\n--\n\
        CREATE INDEX ai ON public.a USING btree (x);\n\
        --\n-- Data for Name: b; Type: TABLE DATA; Schema: public; Owner: -\n--\n\
        COPY public.b (x) FROM stdin;\n1\n\\.\n";
    let p = plan_of(dump);
    let kinds: Vec<Kind> = p.items.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [Kind::TableData, Kind::Serial, Kind::TableData]);
    assert_eq!(p.items[1].deps, [0]);
    assert_eq!(p.items[2].deps, [1]);
}

#[test]
fn a_header_that_does_not_match_its_statement_makes_it_serial() {
    let dump = "SET a = 1;\n\
        --\n-- Name: x; Type: INDEX; Schema: public; Owner: -\n--\n\
        CREATE TABLE public.x (i int);\n\
        --\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\
        CREATE INDEX i ON public.t USING btree (x);\n\
        --\n-- Name: s; Type: SEQUENCE SET; Schema: public; Owner: -\n--\n\
        SELECT pg_catalog.setval('public.s', (SELECT 1), true);\n\
        --\n-- Name: s; Type: COMMENT; Schema: public; Owner: -\n--\n\
        SET search_path = public;\n";
    let p = plan_of(dump);
    assert!(p.items.iter().all(|i| i.kind == Kind::Serial));
    // A setting under a header is an item, not a session setting.
    assert_eq!(p.settings.len(), 1);
    assert_eq!(p.items.len(), 4);
}

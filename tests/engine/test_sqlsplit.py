from __future__ import annotations

from schemaflow.engine.sqlsplit import split_sql


def texts(sql: str) -> list[str]:
    return [s.text for s in split_sql(sql)]


def test_quotes_identifiers_and_comments_do_not_split() -> None:
    sql = """SELECT 'a;b', 'it''s;' ;
SELECT "we;ird""col" FROM t; -- comment; here
/* block; /* nested; */ still; */ SELECT E'x\\';y';
SELECT 1"""
    assert texts(sql) == ["SELECT 'a;b', 'it''s;'", 'SELECT "we;ird""col" FROM t',
                          "SELECT E'x\\';y'", "SELECT 1"]


def test_dollar_quotes_and_line_numbers() -> None:
    sql = """-- header
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1; RETURN 2;
END $$;

DO $body$ BEGIN RAISE NOTICE 'x;$$'; END $body$;
SELECT $1::int, a$b FROM t"""
    stmts = split_sql(sql, first_line=10)
    assert [s.line for s in stmts] == [11, 16, 17]
    assert stmts[0].text.endswith("END $$")
    assert stmts[1].text.startswith("DO $body$")


def test_begin_atomic_bodies_stay_whole() -> None:
    sql = """CREATE OR REPLACE FUNCTION g(a int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;
  SELECT a;
END;
SELECT 2;"""
    assert len(texts(sql)) == 2
    assert texts(sql)[1] == "SELECT 2"


def test_comment_only_and_unicode() -> None:
    assert texts("-- nothing\n/* here */\n;;") == []
    assert texts("SELECT 'ü'; SELECT ñame FROM t") == ["SELECT 'ü'", "SELECT ñame FROM t"]


def test_error_position_maps_to_file_line() -> None:
    (st,) = split_sql("\n\nSELECT 1,\n  2,\n  oops(", first_line=1)
    assert st.line == 3
    assert st.line_of(st.text.index("oops") + 1) == 5

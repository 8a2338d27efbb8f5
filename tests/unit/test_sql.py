"""SQL rendering: escaping, UNLOAD build/split, ColumnFormat → TO_CHAR, templates, column check."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import TokenType
from sqlglot.dialects.redshift import Redshift

from connector.config import Params, params_from_json
from connector.errors import ParamsError, PlanError, TemplateError, UnloadError
from connector.intervals import Interval
from connector.sql import (
    build_unload,
    check_output_columns,
    java_to_char,
    output_columns,
    quote_identifier,
    quote_string,
    render_query,
    render_unload,
    split_unload,
    timestamp_literal,
    unload_target,
)

REPO = Path(__file__).resolve().parents[2]
QUERIES = REPO / "queries"
ORIGINAL = REPO / "tests" / "data" / "original_params.json"
BUCKET = "demo-bucket"
ROLE = "arn:aws:iam::123456789012:role/RedshiftUnload"
TARGET = "s3://demo-bucket/ecommerce/live/20240301/0000/"
HOUR = Interval(datetime(2024, 3, 1, 0, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC))
CSV = SimpleNamespace(delimiter=",", file_compression="NONE", quote_symbol='"')
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=200)


def params_data(**changes: Any) -> dict[str, Any]:
    """The 2022 sample deployed to BUCKET (paths derived from it), plus ``changes``."""
    data: dict[str, Any] = json.loads(ORIGINAL.read_text())
    data["s3_bucket"] = BUCKET
    source = data["metric_source"]["S3SourceConfig"]
    source["HistoricalDataPathList"] = [""]
    source["TemplatedPathList"] = [""]
    data.update(changes)
    return data


def make_params(data: dict[str, Any] | None = None) -> Params:
    return params_from_json(json.dumps(data or params_data()), base_dir=REPO)


def csv_params(**fields: Any) -> Params:
    data = params_data()
    source = data["metric_source"]["S3SourceConfig"]
    source["FileFormatDescriptor"]["CsvFormatDescriptor"].update(fields)
    return make_params(data)


def tokens(sql: str) -> list[Any]:
    return list(Redshift().tokenize(sql))


# --- quote_string: the one escaping function -----------------------------------------


def test_quote_string_doubles_quotes_and_backslashes() -> None:
    # Given text with a quote and a backslash
    # When it is quoted
    # Then both are doubled, as Redshift reads both as escapes inside a literal
    assert quote_string("it's a\\b") == "'it''s a\\\\b'"


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_quoted_text_reads_back_exactly(text: str) -> None:
    # Given any text (quotes, backslashes, newlines, unicode)
    # When it is quoted and read back by sqlglot's Redshift tokenizer
    read = tokens(quote_string(text))
    # Then it is one string literal holding exactly the text
    assert [(t.token_type, t.text) for t in read] == [(TokenType.STRING, text)]


def test_quote_string_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_string("a\x00b")


def test_quote_identifier_doubles_double_quotes() -> None:
    assert quote_identifier("timestamp") == '"timestamp"'
    assert quote_identifier('a"b') == '"a""b"'


def test_timestamp_literal_is_utc_and_typed() -> None:
    # Given an aware instant at +01:00
    instant = datetime(2024, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    # Then the literal is the same instant in UTC, typed
    assert timestamp_literal(instant) == "TIMESTAMP '2024-03-01 00:00:00'"
    assert timestamp_literal(instant.replace(microsecond=5)).endswith("00:00:00.000005'")
    with pytest.raises(ValueError, match="time zone"):
        timestamp_literal(datetime(2024, 3, 1))


# --- build_unload / split_unload -----------------------------------------------------

QUOTED_QUERY = """SELECT 'it''s' AS "label", e.views -- the views; don't drop them
FROM ecommerce AS e
WHERE e.note <> 'a\\\\b' /* backslash, 'quote' */"""


def test_unload_round_trips_quotes_and_comments_exactly() -> None:
    # Given a SELECT with a doubled quote, a backslash literal and -- and /* */ comments
    # When it is built into an UNLOAD (with a trailing ';') and split back
    statement = build_unload(QUOTED_QUERY + ";\n", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)
    parts = split_unload(statement)
    # Then the tokenizer gives back exactly the query, the target and the role
    assert parts.query == QUOTED_QUERY
    assert parts.s3_uri == TARGET
    assert parts.iam_role == ROLE
    assert parts.options == {
        "HEADER": True,
        "FORMAT": "CSV",
        "ALLOWOVERWRITE": True,
        "PARALLEL": "OFF",
    }
    # And sqlglot sees one UNLOAD command, not the query's text leaking out of its literal
    assert len(sqlglot.parse(statement, read="redshift")) == 1


def test_unload_statement_shape() -> None:
    statement = build_unload("select 1 as a", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)
    assert statement == (
        "UNLOAD ('select 1 as a')\n"
        f"TO '{TARGET}'\n"
        f"IAM_ROLE '{ROLE}'\n"
        "HEADER FORMAT AS CSV ALLOWOVERWRITE PARALLEL OFF"
    )


@settings(max_examples=150, deadline=None)
@given(
    literal=TEXT,
    line_comment=st.text(alphabet=st.characters(blacklist_characters="\x00\r\n"), max_size=40),
    block_comment=st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40),
)
def test_random_literals_and_comments_round_trip(
    literal: str, line_comment: str, block_comment: str
) -> None:
    # Given a SELECT whose literal and comments hold arbitrary text
    block_comment = block_comment.replace("*/", "* /")
    query = f"SELECT {quote_string(literal)} AS c /* {block_comment} */ -- {line_comment}\nFROM t"
    # When it is wrapped in UNLOAD and split back
    parts = split_unload(build_unload(query, s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV))
    # Then the query is exactly the original
    assert parts.query == query


@pytest.mark.parametrize(
    "s3_uri",
    [
        "s3://demo-bucket/x' IAM_ROLE 'arn:aws:iam::999999999999:role/evil",
        "s3://demo-bucket/x'; DROP TABLE ecommerce; --",
        "s3://demo-bucket/x\\",
        "s3://demo-bucket/x\n/y",
        "s3://demo-bucket/../other/",
        "s3://demo-bucket//x",
        "s3://Demo_Bucket/x/",
        "s3://demo.bucket/x/",
        "s3://demo-bucket/",
        "https://demo-bucket/x/",
        " s3://demo-bucket/x/",
    ],
)
def test_unsafe_targets_are_refused(s3_uri: str) -> None:
    with pytest.raises(UnloadError, match="UNLOAD target"):
        build_unload("select 1", s3_uri=s3_uri, iam_role_arn=ROLE, csv=CSV)


@pytest.mark.parametrize(
    "role",
    [
        f"{ROLE}' HEADER; DELETE FROM ecommerce; --",
        f"{ROLE}\\",
        f"{ROLE}\n",
        "arn:aws:iam::12345678901:role/short-account",
        "arn:aws:s3:::bucket",
        "",
        "DEFAULT",
        ",".join([ROLE] * 11),
    ],
)
def test_unsafe_roles_are_refused(role: str) -> None:
    with pytest.raises(UnloadError, match="IAM role"):
        build_unload("select 1", s3_uri=TARGET, iam_role_arn=role, csv=CSV)


def test_default_and_chained_roles_are_accepted() -> None:
    chained = f"{ROLE},arn:aws:iam::210987654321:role/Cross"
    for role in ("default", chained):
        statement = build_unload("select 1", s3_uri=TARGET, iam_role_arn=role, csv=CSV)
        assert split_unload(statement).iam_role == role
    assert "IAM_ROLE default\n" in build_unload(
        "select 1", s3_uri=TARGET, iam_role_arn="default", csv=CSV
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("delete from ecommerce", "holds DELETE, not a SELECT"),
        ("vacuum ecommerce", "holds VACUUM, not a SELECT"),
        ("select 1; call p()", "holds CALL"),
        ("(select * from ecommerce limit 10)", "LIMIT"),
        ("select 1; select 2", "2 statements"),
        ("select 1; drop table ecommerce", "2 statements"),
        ("select * into backup from ecommerce", "SELECT ... INTO"),
        ("select * from ecommerce limit 10", "LIMIT"),
        ("unload ('select 1') to 's3://a/b' iam_role default", "holds UNLOAD"),
        ("select from where", "not valid Redshift SQL"),
        ("select 'unterminated", "not valid Redshift SQL"),
        ("", "0 statements"),
    ],
)
def test_only_a_single_select_is_unloaded(query: str, message: str) -> None:
    with pytest.raises(UnloadError, match=message):
        build_unload(query, s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            # A later literal's quotes pair up the wrong way round; sqlglot then fails on
            # line 4 (':00'), but the quote to close is on line 2.
            'SELECT\n  v AS \'views,\n  r AS "revenue"\nFROM t WHERE ts >= TIMESTAMP '
            "'2024-03-01 00:00:00'\n  AND ts < TIMESTAMP '2024-03-02 00:00:00'",
            'its line 2, "v AS \'views,", opens a string literal that is not closed; '
            "close it with '",
        ),
        (
            "SELECT 'a\nb' AS legal_multi_line,\n  'open AS x\nFROM t",
            'its line 3, "\'open AS x", opens a string literal',
        ),
        ('SELECT 1 AS "x\nFROM t', "its line 1, 'SELECT 1 AS \"x', opens a quoted identifier"),
        ("SELECT 1\n/* note\nFROM t", "its line 2, '/\\* note', opens a /\\* comment"),
    ],
    ids=["quote-paired-wrongly", "after-a-multi-line-literal", "identifier", "comment"],
)
def test_an_unclosed_quote_is_reported_at_its_line(query: str, message: str) -> None:
    # When a query with an unclosed literal is checked
    with pytest.raises(UnloadError) as caught:
        build_unload(query, s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV, what="my query")
    # Then the message names the query, the line that opens it and what to do
    assert str(caught.value).startswith("my query is not valid Redshift SQL: its line ")
    assert re.search(message, str(caught.value)), str(caught.value)
    assert "Error tokenizing" not in str(caught.value)


def test_a_template_with_an_unclosed_quote_is_named(tmp_path: Path) -> None:
    # Given a template whose third line opens a string it never closes
    demo = (QUERIES / "ecommerce.sql.j2").read_text().split("-#}\n", 1)[1]
    (tmp_path / "broken.sql.j2").write_text(demo.replace('AS "views"', "AS 'views"))
    data = params_data()
    data["crawl"] = {"queries_dir": str(tmp_path), "templates": {"continuous": "broken.sql.j2"}}
    # When its UNLOAD is rendered, and its columns are checked
    with pytest.raises(UnloadError) as caught:
        render_unload(make_params(data), "continuous", HOUR, role_arn=ROLE)
    # Then the error names the template file and the line of the rendered SELECT
    assert f"the SELECT rendered from {tmp_path / 'broken.sql.j2'}" in str(caught.value)
    assert 'its line 3, "e.views AS \'views,"' in str(caught.value)


@pytest.mark.parametrize(
    "query",
    [
        "select a from t;\n-- end of query\n",
        "select a from t; /* generated */",
        "select a from t;\n-- one\n-- two",
        "select a from t;;",
    ],
)
def test_comments_after_the_trailing_semicolon_are_dropped(query: str) -> None:
    # When a SELECT ending in ';' and comments is unloaded
    statement = build_unload(query, s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)
    # Then the UNLOAD holds the SELECT alone, and its columns can be checked
    assert split_unload(statement).query == "select a from t"
    assert check_output_columns(query, ["a"]) == []


def test_a_comment_between_two_statements_does_not_hide_the_second() -> None:
    with pytest.raises(UnloadError, match="2 statements"):
        build_unload("select 1; -- first\nselect 2", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)


def test_limit_inside_a_subquery_and_unions_are_fine() -> None:
    for query in (
        "select * from (select a from t limit 5) as limited",
        "select a from t union all select b from u",
        "with x as (select 1 as a) select a from x",
    ):
        assert (
            split_unload(build_unload(query, s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)).query
            == query
        )


def test_gzip_and_delimiter_follow_the_descriptor() -> None:
    # Given a descriptor asking for '|' and GZIP
    params = csv_params(Delimiter="|", FileCompression="GZIP")
    # When the UNLOAD is built
    parts = split_unload(build_unload("select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=params.csv))
    # Then it writes that delimiter, compressed
    assert parts.options["DELIMITER"] == "|"
    assert parts.options["GZIP"] is True
    assert "QUOTE" not in parts.options


@pytest.mark.parametrize("delimiter", ["\t", "'", "\\", ";"])
def test_awkward_delimiters_are_quoted_and_read_back(delimiter: str) -> None:
    csv = SimpleNamespace(delimiter=delimiter, file_compression="NONE", quote_symbol='"')
    statement = build_unload("select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=csv)
    assert split_unload(statement).options["DELIMITER"] == delimiter


def test_comma_delimiter_is_csv_default_and_not_repeated() -> None:
    statement = build_unload("select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)
    assert "DELIMITER" not in statement
    assert "GZIP" not in statement


def test_quote_symbol_other_than_double_quote_is_refused() -> None:
    # UNLOAD has no QUOTE option: CSV always quotes with '"'
    csv = SimpleNamespace(delimiter=",", file_compression="NONE", quote_symbol="'")
    with pytest.raises(UnloadError, match="QuoteSymbol"):
        build_unload("select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=csv)


@pytest.mark.parametrize(
    "bad", [{"delimiter": '"'}, {"delimiter": ",,"}, {"file_compression": "BZIP2"}]
)
def test_descriptors_unload_cannot_write_are_refused(bad: dict[str, str]) -> None:
    csv = SimpleNamespace(**{**vars(CSV), **bad})
    with pytest.raises(UnloadError):
        build_unload("select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=csv)


def test_max_file_size_is_bounded() -> None:
    statement = build_unload(
        "select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV, max_file_size_mb=100
    )
    assert statement.endswith("PARALLEL OFF MAXFILESIZE 100 MB")
    assert split_unload(statement).options["MAXFILESIZE"] == "100 MB"
    for size in (4, 6201):
        with pytest.raises(UnloadError, match="max file size"):
            build_unload(
                "select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV, max_file_size_mb=size
            )


def test_split_reads_the_2022_connector_style() -> None:
    # Given the statement shape the 2022 connector sent (lower case, bare CSV, ';')
    statement = (
        "unload ('select ecommerce.ts as timestamp from ecommerce where x = ''a''') "
        f"to '{TARGET}' iam_role '{ROLE}' header CSV;"
    )
    parts = split_unload(statement)
    assert parts.query == "select ecommerce.ts as timestamp from ecommerce where x = 'a'"
    assert parts.options == {"HEADER": True, "FORMAT": "CSV"}


def test_split_reads_documented_option_spellings() -> None:
    statement = (
        f"UNLOAD ('select 1') TO '{TARGET}' IAM_ROLE default FORMAT CSV DELIMITER ';' "
        "NULL AS 'null' PARALLEL MANIFEST VERBOSE MAXFILESIZE AS 1 GB ENCRYPTED AUTO"
    )
    assert split_unload(statement).options == {
        "FORMAT": "CSV",
        "DELIMITER": ";",
        "NULL": "null",
        "PARALLEL": "ON",
        "MANIFEST": "VERBOSE",
        "MAXFILESIZE": "1 GB",
        "ENCRYPTED": "AUTO",
    }


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT 1", "must start with UNLOAD"),
        (f"UNLOAD ('select 1') TO '{TARGET}' CREDENTIALS 'aws_access_key_id=x'", "IAM_ROLE"),
        (f"UNLOAD ('select 1') TO '{TARGET}' IAM_ROLE '{ROLE}' QUOTE AS '\"'", "QUOTE"),
        (f"UNLOAD ('select 1') TO '{TARGET}' IAM_ROLE '{ROLE}' GZIP GZIP", "twice"),
        (f"UNLOAD ('select 1') TO '{TARGET}' IAM_ROLE '{ROLE}'; DROP TABLE t", "another"),
        (f"UNLOAD ('select 1') TO '{TARGET}'", "ends where"),
        (f"UNLOAD ('select 1') TO 's3://x'' y/' IAM_ROLE '{ROLE}'", "UNLOAD target"),
        (f"UNLOAD ('select 1') TO '{TARGET}' IAM_ROLE '{ROLE}' 'HEADER'", "option name"),
    ],
)
def test_split_refuses_what_it_cannot_run(statement: str, message: str) -> None:
    with pytest.raises(UnloadError, match=message):
        split_unload(statement)


# --- ColumnFormat → TO_CHAR ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "sql"),
    [
        ("yyyy-MM-dd HH:mm:ss", "TO_CHAR(e.ts, 'YYYY-MM-DD HH24:MI:SS')"),
        ("yyyy-MM-dd HH:mm", "TO_CHAR(e.ts, 'YYYY-MM-DD HH24:MI')"),
        ("yyyyMMddHHmm", "TO_CHAR(e.ts, 'YYYYMMDDHH24MI')"),
        ("dd/MM/yy", "TO_CHAR(e.ts, 'DD/MM/YY')"),
        (
            "yyyy-MM-dd'T'HH:mm:ss'Z'",
            "(TO_CHAR(e.ts, 'YYYY-MM-DD') || 'T' || TO_CHAR(e.ts, 'HH24:MI:SS') || 'Z')",
        ),
        ("yyyy-MM-dd HH:mm:ssXXX", "(TO_CHAR(e.ts, 'YYYY-MM-DD HH24:MI:SS') || 'Z')"),
        ("yyyy-MM-dd HH:mm:ssZ", "(TO_CHAR(e.ts, 'YYYY-MM-DD HH24:MI:SS') || '+0000')"),
        (
            "yyyy-MM-dd 'o''clock' HH",
            "(TO_CHAR(e.ts, 'YYYY-MM-DD ') || 'o''clock' || TO_CHAR(e.ts, ' HH24'))",
        ),
    ],
)
def test_java_patterns_become_to_char(pattern: str, sql: str) -> None:
    assert java_to_char("e.ts", pattern) == sql


@pytest.mark.parametrize(
    ("pattern", "zone", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss", "UTC", "2024-03-01 13:04:05"),
        ("yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "2024-03-01T13:04:05Z"),
        ("yyyyMMddHHmm", "UTC", "202403011304"),
        ("yyyy-MM-dd HH:mm", "Europe/Berlin", "2024-03-01 14:04"),
        ("yyyy-MM-dd HH:mm", "America/New_York", "2024-03-01 08:04"),
    ],
)
def test_to_char_output_matches_java_formatting_offline(
    pattern: str, zone: str, expected: str
) -> None:
    # Given the expression for a pattern and zone, transpiled as the DuckDB stand-in does
    expression = java_to_char("ts", pattern, zone)
    query = f"SELECT {expression} AS t FROM (SELECT TIMESTAMP '2024-03-01 13:04:05' AS ts) AS x"
    duck = sqlglot.transpile(query, read="redshift", write="duckdb")[0]
    # When DuckDB runs it
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    # Then the text is what SimpleDateFormat prints for that instant in that zone
    assert connection.execute(duck).fetchone() == (expected,)


def test_non_utc_zone_converts_the_column() -> None:
    assert java_to_char("e.ts", "yyyy-MM-dd", "Europe/Berlin") == (
        "TO_CHAR(CONVERT_TIMEZONE('UTC', 'Europe/Berlin', e.ts), 'YYYY-MM-DD')"
    )


@pytest.mark.parametrize(
    ("pattern", "zone", "message"),
    [
        ("yyyy-MM-dd hh:mm a", "UTC", "'hh' is not supported"),
        ("yyyy-M-d", "UTC", "'M' is not supported"),
        ("EEE yyyy-MM-dd", "UTC", "'EEE' is not supported"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "UTC", "'SSS' is not supported"),
        ("yyyy-MM-dd'T", "UTC", "unterminated quote"),
        ("yyyy-MM-dd HH:mmXXX", "Europe/Berlin", "zone offset"),
        ("'no date'", "UTC", "no date fields"),
    ],
)
def test_unsupported_patterns_say_what_to_use(pattern: str, zone: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        java_to_char("e.ts", pattern, zone)
    assert "ColumnFormat" in str(caught.value)


# --- templates -----------------------------------------------------------------------


def test_demo_template_reproduces_the_original_query() -> None:
    # Given the shipped template and the 2022 sample's columns
    query = render_query("ecommerce.sql.j2", window=HOUR, params=make_params(), queries_dir=QUERIES)
    # Then it selects the five columns, names via joins, in a half-open window
    assert output_columns(query) == ["timestamp", "views", "revenue", "platform", "marketplace"]
    assert "JOIN platform AS p ON p.id = e.platform" in query
    assert "JOIN marketplace AS m ON m.id = e.marketplace" in query
    assert "e.ts >= TIMESTAMP '2024-03-01 00:00:00'" in query
    assert "e.ts < TIMESTAMP '2024-03-01 01:00:00'" in query
    assert "getdate" not in query.lower() and "sysdate" not in query.lower()


def test_window_literals_are_utc_whatever_the_window_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    window = Interval(
        datetime(2024, 3, 1, 1, tzinfo=berlin), datetime(2024, 3, 1, 2, tzinfo=berlin)
    )
    query = render_query(
        "ecommerce.sql.j2", window=window, params=make_params(), queries_dir=QUERIES
    )
    assert "e.ts >= TIMESTAMP '2024-03-01 00:00:00'" in query


@pytest.mark.parametrize(
    "window",
    [
        Interval(datetime(2024, 3, 1), datetime(2024, 3, 1, 1)),
        Interval(HOUR.end, HOUR.start),
        Interval(HOUR.start, HOUR.start),
    ],
)
def test_naive_empty_or_reversed_windows_are_refused(window: Interval) -> None:
    with pytest.raises(PlanError):
        render_query("ecommerce.sql.j2", window=window, params=make_params(), queries_dir=QUERIES)


def write_template(directory: Path, text: str, name: str = "mine.sql.j2") -> str:
    (directory / name).write_text(text)
    return name


def test_generic_template_sees_params_columns(tmp_path: Path) -> None:
    # Given a template written only from params.json's names
    name = write_template(
        tmp_path,
        "SELECT {{ timestamp_expr('ts') }} AS {{ ident(timestamp_column) }}\n"
        "{% for d in dimensions %}, {{ ident(d) }}{% endfor %}\n"
        "{% for m in measures %}, SUM({{ ident(m) }}) AS {{ ident(m) }}{% endfor %}\n"
        'FROM facts WHERE kind = {{ literal("it\'s") }}\n'
        "  AND ts >= {{ window_start }} AND ts < {{ window_end }}\n"
        "GROUP BY 1{% for d in dimensions %}, {{ ident(d) }}{% endfor %}\n",
    )
    query = render_query(name, window=HOUR, params=make_params(), queries_dir=tmp_path)
    # Then its output has every required column and its literal is escaped
    assert (
        check_output_columns(query, ["timestamp", "platform", "marketplace", "views", "revenue"])
        == []
    )
    assert "kind = 'it''s'" in query


def test_missing_template_lists_the_available_ones(tmp_path: Path) -> None:
    write_template(tmp_path, "SELECT 1", "other.sql.j2")
    with pytest.raises(TemplateError) as caught:
        render_query("nope.sql.j2", window=HOUR, params=make_params(), queries_dir=tmp_path)
    message = str(caught.value)
    assert "nope.sql.j2 not found" in message and "other.sql.j2" in message
    assert "crawl.templates" in message


def test_missing_queries_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        render_query("x.sql.j2", window=HOUR, params=make_params(), queries_dir=tmp_path / "no")


def test_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    # Given a template using an unknown name on its third line
    name = write_template(tmp_path, "SELECT\n  1 AS a\n  , {{ window_begin }} AS b\nFROM t\n")
    # When it is rendered
    with pytest.raises(TemplateError) as caught:
        render_query(name, window=HOUR, params=make_params(), queries_dir=tmp_path)
    # Then the error names the file, the line, the name and what exists
    message = str(caught.value)
    assert f"{tmp_path / name}, line 3" in message
    assert "window_begin" in message and "window_start" in message


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    name = write_template(tmp_path, "SELECT 1\nFROM t\nWHERE {% if x %}\n")
    with pytest.raises(TemplateError) as caught:
        render_query(name, window=HOUR, params=make_params(), queries_dir=tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / name}, line 3" in message and "syntax error" in message


def test_unsupported_column_format_is_reported_at_the_template_line(tmp_path: Path) -> None:
    data = params_data()
    data["timestamp_column"]["ColumnFormat"] = "yyyy-MM-dd HH:mm:ss.SSS"
    name = write_template(tmp_path, "SELECT\n {{ timestamp_expr('ts') }} AS t FROM x")
    with pytest.raises(TemplateError) as caught:
        render_query(name, window=HOUR, params=make_params(data), queries_dir=tmp_path)
    assert f"{name}, line 2" in str(caught.value) and "'SSS'" in str(caught.value)


def test_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    name = write_template(tmp_path, "SELECT {{ ident.__globals__ }}")
    with pytest.raises(TemplateError, match="line 1"):
        render_query(name, window=HOUR, params=make_params(), queries_dir=tmp_path)


def test_queries_dir_defaults_to_params_setting() -> None:
    # Given params loaded from the repository root (crawl.queries_dir = "queries")
    query = render_query("ecommerce.sql.j2", window=HOUR, params=make_params())
    assert query.startswith("SELECT")


# --- output columns ------------------------------------------------------------------


def test_missing_columns_are_listed_in_order() -> None:
    query = 'SELECT ts AS "timestamp", v.views, platform FROM v'
    assert check_output_columns(
        query, ["timestamp", "platform", "marketplace", "views", "revenue"]
    ) == ["marketplace", "revenue"]


def test_columns_compare_case_insensitively_as_redshift_folds() -> None:
    assert check_output_columns('SELECT a AS "Views", Platform FROM t', ["views", "PLATFORM"]) == []


def test_star_from_a_cte_is_resolved() -> None:
    query = "WITH x AS (SELECT 1 AS views, 2 AS revenue) SELECT * FROM x"
    assert check_output_columns(query, ["views", "revenue", "platform"]) == ["platform"]


def test_union_uses_the_first_branch_names() -> None:
    assert output_columns("SELECT a AS x FROM t UNION ALL SELECT b AS y FROM u") == ["x"]


def test_star_from_a_table_cannot_be_checked() -> None:
    with pytest.raises(TemplateError, match=r"'\*' from a table"):
        check_output_columns("SELECT * FROM ecommerce", ["views"])


def test_column_check_requires_a_select() -> None:
    with pytest.raises(TemplateError, match="not a SELECT"):
        check_output_columns("DELETE FROM ecommerce", ["views"])


# --- targets and whole statements ----------------------------------------------------


def test_continuous_target_is_the_interval_start_folder() -> None:
    params = make_params(params_data(crawl={"prefix": "ecommerce"}))
    assert unload_target(params, "continuous", HOUR) == TARGET


def test_historical_target_is_a_file_prefix_directly_under_historical() -> None:
    params = make_params(params_data(crawl={"prefix": "ecommerce"}))
    chunk = Interval(HOUR.start, HOUR.start + timedelta(days=30))
    assert (
        unload_target(params, "historical", chunk)
        == "s3://demo-bucket/ecommerce/historical/20240301T0000_"
    )


def test_targets_follow_the_detector_zone_for_folders_and_utc_for_files() -> None:
    # Given a Berlin detector and the interval starting at local midnight
    params = make_params(params_data(crawl={"prefix": "p"}, detector={"timezone": "Europe/Berlin"}))
    berlin = ZoneInfo("Europe/Berlin")
    window = Interval(datetime(2024, 3, 1, tzinfo=berlin), datetime(2024, 3, 1, 1, tzinfo=berlin))
    # Then the folder shows the local start and the historical file its UTC start
    assert unload_target(params, "continuous", window) == "s3://demo-bucket/p/live/20240301/0000/"
    assert unload_target(params, "historical", window) == (
        "s3://demo-bucket/p/historical/20240229T2300_"
    )


def test_the_hour_a_fall_back_repeats_gets_one_file_name_per_interval() -> None:
    # Given an hourly New York detector over the 2026 fall-back night (06:00Z: 02:00 EDT
    # becomes 01:00 EST, so 01:00 is on the wall twice)
    params = make_params(
        params_data(crawl={"prefix": "p"}, detector={"timezone": "America/New_York"})
    )
    starts = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in (4, 5, 6, 7)]
    targets = [
        unload_target(params, "continuous", Interval(t, t + timedelta(hours=1))) for t in starts
    ]
    # Then both 01:00 intervals share the folder but not a file name; the others are as ever
    live = "s3://demo-bucket/p/live/20261101/"
    assert targets == [live + "0000/", live + "0100/T0500Z_", live + "0100/T0600Z_", live + "0200/"]


def test_a_live_template_without_its_trailing_slash_still_names_a_folder() -> None:
    # Given TemplatedPathList written as a bare prefix (the detector reads it as a folder)
    data = params_data(crawl={"prefix": "p"})
    data["metric_source"]["S3SourceConfig"]["TemplatedPathList"] = [
        "s3://demo-bucket/p/live/{{yyyyMMdd}}/{{HHmm}}"
    ]
    # Then the UNLOAD still writes inside the interval's folder, not beside it
    target = unload_target(make_params(data), "continuous", HOUR)
    assert target == "s3://demo-bucket/p/live/20240301/0000/"


def test_five_minute_intervals_of_the_repeated_hour_are_kept_apart_too() -> None:
    data = params_data(crawl={"prefix": "p"}, detector={"timezone": "America/New_York"})
    data["detector_frequency"] = "PT5M"
    params = make_params(data)
    first, second = (datetime(2026, 11, 1, h, 35, tzinfo=UTC) for h in (5, 6))
    step = timedelta(minutes=5)
    assert unload_target(params, "continuous", Interval(first, first + step)) != unload_target(
        params, "continuous", Interval(second, second + step)
    )


def test_render_unload_fills_an_empty_bucket() -> None:
    data = params_data(s3_bucket="")
    statement = render_unload(
        make_params(data), "continuous", HOUR, bucket="other-bucket", role_arn=ROLE
    )
    assert split_unload(statement).s3_uri.startswith("s3://other-bucket/")


def test_render_unload_refuses_a_bucket_other_than_params() -> None:
    with pytest.raises(UnloadError, match="differs from s3_bucket"):
        render_unload(make_params(), "continuous", HOUR, bucket="other-bucket", role_arn=ROLE)


def test_render_unload_refuses_configured_paths_in_another_bucket() -> None:
    # Given the published sample: empty s3_bucket, historical path in its author's bucket
    params = params_from_json(ORIGINAL.read_text(), base_dir=REPO)
    with pytest.raises(UnloadError, match="outside bucket"):
        render_unload(params, "historical", HOUR, bucket=BUCKET, role_arn=ROLE)


def test_render_unload_without_any_bucket_says_so() -> None:
    with pytest.raises(ParamsError, match="s3_bucket is empty"):
        render_unload(make_params(params_data(s3_bucket="")), "continuous", HOUR, role_arn=ROLE)


def test_render_unload_refuses_unknown_kinds() -> None:
    with pytest.raises(UnloadError, match="crawl kind"):
        render_unload(make_params(), "backfill", HOUR, role_arn=ROLE)  # type: ignore[arg-type]


def test_demo_query_runs_offline_with_a_half_open_window() -> None:
    # Given the demo tables with rows on both window boundaries and inside it
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(
        """
        CREATE TABLE platform (id INTEGER, name VARCHAR);
        CREATE TABLE marketplace (id INTEGER, name VARCHAR);
        CREATE TABLE ecommerce (id BIGINT, ts TIMESTAMP, platform INTEGER,
                                marketplace INTEGER, views INTEGER, revenue DECIMAL(9, 2));
        INSERT INTO platform VALUES (1, 'pc_web');
        INSERT INTO marketplace VALUES (1, 'us');
        INSERT INTO ecommerce VALUES
            (1, TIMESTAMP '2024-02-29 23:59:59', 1, 1, 1, 0.30),
            (2, TIMESTAMP '2024-03-01 00:00:00', 1, 1, 10, 3.00),
            (3, TIMESTAMP '2024-03-01 00:59:59', 1, 1, 20, 6.00),
            (4, TIMESTAMP '2024-03-01 01:00:00', 1, 1, 40, 12.00);
        """
    )
    # When the rendered query runs as the DuckDB stand-in runs it
    query = render_query("ecommerce.sql.j2", window=HOUR, params=make_params(), queries_dir=QUERIES)
    rows = connection.execute(sqlglot.transpile(query, read="redshift", write="duckdb")[0])
    # Then the start is included, the end excluded, names come from the joins
    assert sorted(rows.fetchall()) == [
        ("2024-03-01 00:00:00", 10, 3, "pc_web", "us"),
        ("2024-03-01 00:59:59", 20, 6, "pc_web", "us"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    suffix=st.text(alphabet=st.sampled_from("abc/._-= '\\;\n\"()"), max_size=30),
    role_suffix=st.text(alphabet=st.sampled_from("ab/,.@_-+= '\\;\n\")"), max_size=30),
)
def test_any_target_or_role_is_refused_or_reads_back_exactly(suffix: str, role_suffix: str) -> None:
    # Given a target and a role with arbitrary (often hostile) characters appended
    s3_uri, role = f"s3://demo-bucket/{suffix}", f"{ROLE}{role_suffix}"
    # When an UNLOAD is built from them
    try:
        statement = build_unload("select 1", s3_uri=s3_uri, iam_role_arn=role, csv=CSV)
    except UnloadError:
        return
    # Then, if accepted, they are exactly the statement's target and role: nothing leaked
    parts = split_unload(statement)
    assert (parts.query, parts.s3_uri, parts.iam_role) == ("select 1", s3_uri, role)
    assert (
        parts.options
        == split_unload(build_unload("select 1", s3_uri=TARGET, iam_role_arn=ROLE, csv=CSV)).options
    )

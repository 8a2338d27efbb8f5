"""The DuckDB-backed Redshift Data API: statuses, results, idempotency, UNLOAD files."""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Iterator
from typing import Any

import boto3
import duckdb
import pytest
from moto import mock_aws

from connector.local.redshift_data import DataApiError, DuckDBDataApi

BUCKET = "unload-bucket"
ROLE = "arn:aws:iam::123456789012:role/Unload"
TARGET = {"ClusterIdentifier": "local", "Database": "dev"}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE sales (id INTEGER, ts TIMESTAMP, label VARCHAR, amount DECIMAL(9, 2))"
    )
    con.execute(
        """INSERT INTO sales VALUES
        (1, TIMESTAMP '2026-01-01 00:00:00', 'plain', 1.50),
        (2, TIMESTAMP '2026-01-01 00:30:00', 'with, comma', 2.00),
        (3, TIMESTAMP '2026-01-01 01:00:00', 'say "hi"', NULL)"""
    )
    yield con
    con.close()


@pytest.fixture
def api(connection: duckdb.DuckDBPyConnection, s3: Any) -> Iterator[DuckDBDataApi]:
    with DuckDBDataApi(connection, s3=s3) as data_api:
        yield data_api


def run(api: DuckDBDataApi, sql: str, **extra: Any) -> dict[str, Any]:
    statement_id = api.execute_statement(Sql=sql, **TARGET, **extra)["Id"]
    return api.wait(statement_id)


def unload(query: str, prefix: str, options: str) -> str:
    quoted = query.replace("'", "''")
    return f"UNLOAD ('{quoted}') TO 's3://{BUCKET}/{prefix}' IAM_ROLE '{ROLE}' {options}"


def objects(s3: Any, prefix: str = "") -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listed
    }


def test_select_finishes_with_typed_records_and_column_metadata(api: DuckDBDataApi) -> None:
    # Given a table with integers, timestamps, text and decimals
    # When a Redshift-dialect SELECT runs
    described = run(api, "SELECT id, ts, label, NVL(amount, 0) AS amount FROM sales ORDER BY id")
    result = api.get_statement_result(Id=described["Id"])

    # Then it FINISHED with a result set, and rows come back as Data API fields
    assert described["Status"] == "FINISHED"
    assert described["HasResultSet"] is True
    assert described["ResultRows"] == 3
    assert described["Duration"] >= 0
    assert result["TotalNumRows"] == 3
    assert result["Records"][1] == [
        {"longValue": 2},
        {"stringValue": "2026-01-01 00:30:00"},
        {"stringValue": "with, comma"},
        {"stringValue": "2.00"},
    ]
    names = [(c["name"], c["typeName"]) for c in result["ColumnMetadata"]]
    assert names == [
        ("id", "int4"),
        ("ts", "timestamp"),
        ("label", "varchar"),
        ("amount", "numeric"),
    ]


def test_null_is_an_isnull_field(api: DuckDBDataApi) -> None:
    described = run(api, "SELECT amount FROM sales WHERE id = 3")
    assert api.get_statement_result(Id=described["Id"])["Records"] == [[{"isNull": True}]]


def test_session_runs_in_utc_and_redshift_functions_transpile(api: DuckDBDataApi) -> None:
    # Given Redshift functions that DuckDB spells differently
    described = run(
        api,
        "SELECT DATEADD(hour, 1, TIMESTAMP '2026-01-01 00:00:00') AS later, "
        "current_setting('TimeZone') AS zone",
    )
    # Then they ran, in a UTC session
    (later, zone) = api.get_statement_result(Id=described["Id"])["Records"][0]
    assert later == {"stringValue": "2026-01-01 01:00:00"}
    assert zone == {"stringValue": "UTC"}


def test_bad_sql_fails_with_the_engine_error_text(api: DuckDBDataApi) -> None:
    # When a statement names a table that does not exist
    described = run(api, "SELECT * FROM no_such_table")

    # Then it is FAILED and Error carries DuckDB's message
    assert described["Status"] == "FAILED"
    assert "no_such_table" in described["Error"]
    with pytest.raises(DataApiError) as raised:
        api.get_statement_result(Id=described["Id"])
    assert raised.value.code == "ResourceNotFoundException"


def test_repeated_client_token_returns_the_same_statement_and_runs_once(
    api: DuckDBDataApi, connection: duckdb.DuckDBPyConnection
) -> None:
    # Given an INSERT submitted twice with one ClientToken (a retried task)
    sql = "INSERT INTO sales VALUES (4, TIMESTAMP '2026-01-02 00:00:00', 'again', 1)"
    first = api.execute_statement(Sql=sql, ClientToken="token-1", **TARGET)
    second = api.execute_statement(Sql=sql, ClientToken="token-1", **TARGET)
    api.wait(first["Id"])

    # Then both calls name one statement, and the row went in once
    assert first["Id"] == second["Id"]
    assert connection.execute("SELECT count(*) FROM sales WHERE id = 4").fetchall() == [(1,)]
    assert api.describe_statement(Id=first["Id"])["ResultRows"] == 1


def test_request_validation_matches_the_api(api: DuckDBDataApi) -> None:
    with pytest.raises(DataApiError, match="Database"):
        api.execute_statement(Sql="SELECT 1", ClusterIdentifier="c")
    with pytest.raises(DataApiError, match="ClusterIdentifier or WorkgroupName"):
        api.execute_statement(Sql="SELECT 1", Database="dev")
    with pytest.raises(DataApiError) as raised:
        api.describe_statement(Id="00000000-0000-0000-0000-000000000000")
    assert raised.value.code == "ResourceNotFoundException"


def test_status_moves_from_submitted_through_started_to_aborted_on_cancel(
    connection: duckdb.DuckDBPyConnection, s3: Any
) -> None:
    # Given one worker busy with a long query, and a second statement queued behind it
    with DuckDBDataApi(connection, s3=s3, workers=1) as api:
        slow = api.execute_statement(
            Sql="SELECT sum(hash(range)) FROM range(100000000000)", **TARGET
        )["Id"]
        queued = api.execute_statement(Sql="SELECT 1", **TARGET)["Id"]
        deadline = time.monotonic() + 10
        while api.describe_statement(Id=slow)["Status"] != "STARTED":
            assert time.monotonic() < deadline
            time.sleep(0.001)

        # Then the queued one is SUBMITTED; cancelling both aborts them
        assert api.describe_statement(Id=queued)["Status"] == "SUBMITTED"
        assert api.cancel_statement(Id=queued) == {"Status": True}
        assert api.cancel_statement(Id=slow) == {"Status": True}
        assert api.wait(slow)["Status"] == "ABORTED"
        assert api.wait(queued)["Status"] == "ABORTED"
        # And a statement that ended cannot be cancelled
        with pytest.raises(DataApiError, match="ABORTED"):
            api.cancel_statement(Id=slow)


def test_unload_writes_csv_named_like_redshift(api: DuckDBDataApi, s3: Any) -> None:
    # When a CSV UNLOAD with HEADER runs into a prefix
    described = run(
        api,
        unload(
            "SELECT id AS \"ID\", label, amount FROM sales WHERE label <> 'it''s' ORDER BY id",
            "out/run_",
            "HEADER FORMAT AS CSV",
        ),
    )

    # Then one file named <prefix>0000_part_00 holds every row, quoted as CSV
    assert described["Status"] == "FINISHED", described.get("Error")
    assert described["HasResultSet"] is False
    assert described["ResultRows"] == 3
    files = objects(s3, "out/")
    assert described["ResultSize"] == len(files["out/run_0000_part_00"])
    assert list(files) == ["out/run_0000_part_00"]
    text = files["out/run_0000_part_00"].decode()
    assert text.splitlines()[0] == "id,label,amount"  # lower case, as Redshift folds names
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["1", "plain", "1.50"],
        ["2", "with, comma", "2.00"],
        ["3", 'say "hi"', ""],
    ]
    assert '"say ""hi"""' in text


def test_unload_parallel_off_gzip_and_delimiter(api: DuckDBDataApi, s3: Any) -> None:
    # When an UNLOAD asks for PARALLEL OFF, GZIP and a pipe delimiter
    described = run(
        api,
        unload(
            "SELECT id, label FROM sales ORDER BY id",
            "serial/",
            "HEADER CSV DELIMITER AS '|' GZIP PARALLEL OFF",
        ),
    )

    # Then the single file is <prefix>000.gz, gzip-compressed, pipe-delimited
    assert described["Status"] == "FINISHED", described.get("Error")
    files = objects(s3, "serial/")
    assert list(files) == ["serial/000.gz"]
    lines = gzip.decompress(files["serial/000.gz"]).decode().splitlines()
    assert lines == ["id|label", "1|plain", "2|with, comma", '3|"say ""hi"""']


def test_unload_into_non_empty_prefix_fails_without_allowoverwrite(
    api: DuckDBDataApi, s3: Any
) -> None:
    # Given a prefix that already holds a file
    statement = unload("SELECT id FROM sales", "taken/", "CSV")
    assert run(api, statement)["Status"] == "FINISHED"

    # When the same UNLOAD runs again without ALLOWOVERWRITE
    described = run(api, statement)

    # Then it FAILED with Redshift's message, and the file is untouched
    assert described["Status"] == "FAILED"
    assert "ALLOWOVERWRITE" in described["Error"]
    assert list(objects(s3, "taken/")) == ["taken/0000_part_00"]


def test_unload_with_allowoverwrite_replaces_files_of_the_same_name(
    api: DuckDBDataApi, s3: Any
) -> None:
    # Given an earlier unload of all rows, and an unrelated object under the prefix
    s3.put_object(Bucket=BUCKET, Key="again/notes.txt", Body=b"keep me")
    options = "CSV ALLOWOVERWRITE"
    assert run(api, unload("SELECT id FROM sales", "again/", options))["Status"] == "FINISHED"

    # When a narrower query is unloaded over it
    assert (
        run(api, unload("SELECT id FROM sales WHERE id = 1", "again/", options))["Status"]
        == "FINISHED"
    )

    # Then the part file holds only the new rows and other objects stay (no clean-up)
    files = objects(s3, "again/")
    assert files["again/0000_part_00"] == b"1\n"
    assert files["again/notes.txt"] == b"keep me"


def test_unload_maxfilesize_splits_into_numbered_parts(
    connection: duckdb.DuckDBPyConnection, api: DuckDBDataApi, s3: Any
) -> None:
    # Given about 12 MB of CSV
    connection.execute(
        "CREATE TABLE wide AS SELECT range AS id, repeat('x', 100) AS pad FROM range(120000)"
    )
    # When it is unloaded with the smallest MAXFILESIZE
    described = run(
        api, unload("SELECT id, pad FROM wide", "split/", "HEADER CSV MAXFILESIZE 5 MB")
    )

    # Then several parts hold every row once, each with its own header
    assert described["Status"] == "FINISHED", described.get("Error")
    files = objects(s3, "split/")
    assert len(files) >= 2
    assert sorted(files) == [f"split/0000_part_{i:02d}" for i in range(len(files))]
    ids: list[int] = []
    for body in files.values():
        rows = list(csv.reader(io.StringIO(body.decode())))
        assert rows[0] == ["id", "pad"]
        ids += [int(row[0]) for row in rows[1:]]
    assert sorted(ids) == list(range(120000))


def test_unload_refuses_formats_it_cannot_write(api: DuckDBDataApi, s3: Any) -> None:
    described = run(api, unload("SELECT id FROM sales", "pq/", "FORMAT AS PARQUET"))
    assert described["Status"] == "FAILED"
    assert "FORMAT PARQUET" in described["Error"]
    assert objects(s3, "pq/") == {}


def test_listener_sees_each_statement_end(api: DuckDBDataApi) -> None:
    ended: list[str] = []
    api.add_listener(lambda described: ended.append(described["Status"]))
    run(api, "SELECT 1")
    run(api, "SELECT nope")
    assert ended == ["FINISHED", "FAILED"]


def test_describe_wait_answers_once_the_statement_ended(
    connection: duckdb.DuckDBPyConnection, s3: Any
) -> None:
    # Given an API whose describe may wait for a running statement
    with DuckDBDataApi(connection, s3=s3, describe_wait=5.0) as api:
        statement_id = api.execute_statement(Sql="SELECT count(*) FROM range(1000000)", **TARGET)[
            "Id"
        ]
        # When it is described right after submission
        described = api.describe_statement(Id=statement_id)
    # Then the first answer already is the end state
    assert described["Status"] == "FINISHED"


def test_unload_writes_booleans_as_redshift_does(api: DuckDBDataApi, s3: Any) -> None:
    described = run(
        api, unload("SELECT id, amount IS NULL AS missing FROM sales ORDER BY id", "b/", "CSV")
    )
    assert described["Status"] == "FINISHED", described.get("Error")
    assert objects(s3, "b/")["b/0000_part_00"] == b"1,f\n2,f\n3,t\n"


def test_unload_refuses_a_limit_in_the_outer_select_like_redshift(
    api: DuckDBDataApi, s3: Any
) -> None:
    # A LIMIT on the outer SELECT fails (Redshift refuses it); a nested one is fine
    refused = run(api, unload("SELECT id FROM sales LIMIT 1", "l1/", "CSV"))
    nested = run(api, unload("SELECT * FROM (SELECT id FROM sales LIMIT 1) AS s", "l2/", "CSV"))
    assert refused["Status"] == "FAILED"
    assert "Limit clause" in refused["Error"]
    assert nested["Status"] == "FINISHED"


def test_whoever_sees_a_statement_end_sees_its_listeners_effects(api: DuckDBDataApi) -> None:
    # The listener is slow; a waiter must still find its effect once the end is visible
    ended: list[str] = []

    def slow_listener(described: dict[str, Any]) -> None:
        time.sleep(0.05)
        ended.append(described["Status"])

    api.add_listener(slow_listener)
    for sql in ("SELECT 1", "SELECT nope", "SELECT 2"):
        statement_id = api.execute_statement(Sql=sql, **TARGET)["Id"]
        api.wait(statement_id)
        assert len(ended) == ["SELECT 1", "SELECT nope", "SELECT 2"].index(sql) + 1
    assert ended == ["FINISHED", "FAILED", "FINISHED"]

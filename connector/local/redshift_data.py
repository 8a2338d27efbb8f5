"""The Redshift Data API, emulated over DuckDB, for the embedded runtime.

:class:`DuckDBDataApi` answers ``execute_statement``, ``describe_statement``,
``get_statement_result`` and ``cancel_statement`` with the same request and response
shapes as the boto3 ``redshift-data`` client (PascalCase keyword arguments in, dicts
out), so the state machines' ``aws-sdk:redshiftdata`` tasks and the connector's own
``Warehouse`` adapter cannot tell it from the real service once
:mod:`connector.local.moto_hooks` routes moto's ``redshift-data`` endpoint here.

What it reproduces, because the crawl depends on it:

* Statements run asynchronously on worker threads: ``Status`` goes ``SUBMITTED`` →
  ``STARTED`` → ``FINISHED``, or ``FAILED`` with the engine's error text in ``Error``,
  or ``ABORTED`` after ``cancel_statement``. A repeated ``ClientToken`` returns the
  first statement's ``Id`` and does not run it again (what makes a retried Step
  Functions task safe).
* SQL is Redshift's dialect, transpiled to DuckDB by sqlglot; sessions run in UTC.
* ``UNLOAD`` is taken apart by :func:`connector.sql.split_unload` and executed as one
  DuckDB ``COPY (query) TO`` into a scratch folder, whose files are then uploaded to
  the (emulated) S3 with Redshift's names: ``<prefix>0000_part_00`` (``PARALLEL ON``)
  or ``<prefix>000`` (``PARALLEL OFF``), numbered on when ``MAXFILESIZE`` splits, with
  ``.gz`` under ``GZIP``. Rows never pass through Python. Without ``ALLOWOVERWRITE``
  an UNLOAD into a non-empty prefix fails as Redshift's does; with it, files of the
  same name are replaced and others are left alone (Redshift does not clean up).
  Header names are lower case, as Redshift folds identifiers.

:meth:`DuckDBDataApi.inject` makes the next statements FAIL or be ABORTED, or the next
``describe_statement`` calls be throttled, so that the fault-injection tests drive the
state machines' Retry/Catch paths through the real API shapes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from connector.errors import ConnectorError, UnloadError
from connector.sql import split_unload

__all__ = ["DataApiError", "DuckDBDataApi", "StatementStatus"]

StatementStatus = Literal["SUBMITTED", "PICKED", "STARTED", "FINISHED", "ABORTED", "FAILED"]
_DONE: frozenset[str] = frozenset({"FINISHED", "ABORTED", "FAILED"})

# Redshift's own message, so a user who meets it locally meets the same text in AWS.
_NOT_EMPTY = (
    "Specified unload destination on S3 is not empty. Consider using a different bucket / "
    "prefix, manually removing the target files in S3, or using the ALLOWOVERWRITE option."
)
# Options that change nothing in a local file: encryption and the bucket's region.
_IGNORED_OPTIONS = frozenset({"ENCRYPTED", "KMS_KEY_ID", "REGION", "CLEANPATH"})
_HANDLED_OPTIONS = frozenset(
    {"FORMAT", "HEADER", "DELIMITER", "GZIP", "ALLOWOVERWRITE", "PARALLEL"}
    | {"MAXFILESIZE", "NULL", "ADDQUOTES", "EXTENSION"}
)
_MIN_FILE_BYTES = 5 * 1024 * 1024

# DuckDB type → the Redshift type name the Data API reports in ColumnMetadata.typeName.
_TYPE_NAMES = {
    "BOOLEAN": "bool",
    "TINYINT": "int2",
    "SMALLINT": "int2",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "HUGEINT": "numeric",
    "FLOAT": "float4",
    "DOUBLE": "float8",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "VARCHAR": "varchar",
    "BLOB": "varbyte",
}


class DataApiError(Exception):
    """A request the real Data API would refuse; ``code`` is its exception name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Fault:
    status: Literal["FAILED", "ABORTED"]
    match: str

    @property
    def error(self) -> str | None:
        return "ERROR: injected failure (fault injection)" if self.status == "FAILED" else None


class _Aborted(Exception):
    """The statement was cancelled while it ran."""


@dataclass
class _Statement:
    id: str
    sql: str
    request: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: StatementStatus = "SUBMITTED"
    error: str | None = None
    started_ns: int = 0
    duration_ns: int = -1
    result_rows: int = -1
    result_size: int = -1
    has_result_set: bool = False
    query_id: int = 0
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    cancel_requested: bool = False
    cursor: duckdb.DuckDBPyConnection | None = None
    ended: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _UnloadFormat:
    csv: bool
    header: bool
    delimiter: str
    null_as: str
    add_quotes: bool
    gzip: bool
    allow_overwrite: bool
    parallel: bool
    max_file_bytes: int | None
    extension: str

    @classmethod
    def from_options(cls, options: Mapping[str, str | bool]) -> _UnloadFormat:
        unsupported = sorted(set(options) - _HANDLED_OPTIONS - _IGNORED_OPTIONS)
        fmt = str(options.get("FORMAT", "TEXT")).upper()
        if fmt not in ("TEXT", "CSV"):
            unsupported.append(f"FORMAT {fmt}")
        if unsupported:
            raise UnloadError(
                f"the local warehouse cannot UNLOAD with {', '.join(unsupported)}; "
                "it writes CSV or delimited text, optionally GZIP-compressed"
            )
        is_csv = fmt == "CSV"
        max_size = options.get("MAXFILESIZE")
        extension = str(options.get("EXTENSION", "")).lstrip(".")
        return cls(
            csv=is_csv,
            header=options.get("HEADER") is True,
            delimiter=str(options.get("DELIMITER", "," if is_csv else "|")),
            null_as=str(options.get("NULL", "")),
            add_quotes=options.get("ADDQUOTES") is True,
            gzip=options.get("GZIP") is True,
            allow_overwrite=options.get("ALLOWOVERWRITE") is True,
            parallel=str(options.get("PARALLEL", "ON")) == "ON",
            max_file_bytes=_file_size_bytes(str(max_size)) if max_size else None,
            extension=f".{extension}" if extension else "",
        )

    def copy_options(self) -> str:
        quote = '"' if self.csv or self.add_quotes else ""
        parts = [
            "FORMAT csv",
            f"HEADER {'true' if self.header else 'false'}",
            f"DELIMITER {_duck_string(self.delimiter)}",
            f"QUOTE {_duck_string(quote)}",
            f"ESCAPE {_duck_string(quote)}",
            f"NULLSTR {_duck_string(self.null_as)}",
            f"COMPRESSION {'gzip' if self.gzip else 'none'}",
        ]
        if self.add_quotes:
            parts.append("FORCE_QUOTE *")
        if self.max_file_bytes is not None:
            parts.append(f"FILE_SIZE_BYTES {self.max_file_bytes}")
        return ", ".join(parts)

    def object_name(self, index: int) -> str:
        # PARALLEL ON names files by slice and part; we are one slice, so parts count up.
        stem = f"0000_part_{index:02d}" if self.parallel else f"{index:03d}"
        return stem + self.extension + (".gz" if self.gzip else "")


def _file_size_bytes(text: str) -> int:
    number, _, unit = text.partition(" ")
    scale = 1024 * 1024 * (1024 if unit.upper() == "GB" else 1)
    return max(int(float(number) * scale), _MIN_FILE_BYTES)


def _duck_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unloaded_column(name: str, duck_type: str) -> str:
    # Redshift folds output names to lower case (DuckDB keeps them as written) and
    # writes booleans as t/f (DuckDB: true/false).
    value = _ident(name)
    if duck_type == "BOOLEAN":
        value = f"CASE WHEN {value} THEN 't' WHEN NOT {value} THEN 'f' END"
    return f"{value} AS {_ident(name.lower())}"


def _has_outer_limit(statement: exp.Expr) -> bool:
    return statement.args.get("limit") is not None or statement.args.get("fetch") is not None


def _split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def transpile(sql: str) -> tuple[str, bool]:
    """One Redshift statement as DuckDB SQL, and whether it returns rows.

    Raises ``ValueError`` with the parser's message when ``sql`` is not exactly one
    statement sqlglot can read as Redshift.
    """
    statement = _parse(sql)
    return statement.sql(dialect="duckdb"), isinstance(statement, exp.Query)


def _parse(sql: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read="redshift") if s is not None]
    except SqlglotError as exc:
        raise ValueError(f"syntax error: {str(exc).strip().splitlines()[0]}") from exc
    if len(statements) != 1:
        raise ValueError(
            f"expected one SQL statement, found {len(statements)}; "
            "use batch_execute_statement for several"
        )
    (statement,) = statements
    return statement


class DuckDBDataApi:
    """The Redshift Data API over one DuckDB database.

    ``connect`` is the database (a path, ``":memory:"`` or an open connection, which
    the caller keeps ownership of); ``s3`` is a boto3 S3 client UNLOAD writes through.
    ``workers`` statements run at once. ``describe_wait`` (seconds) lets
    ``describe_statement`` of a running statement wait that long for it to end before
    answering, which spares a state machine's poll loop most of its turns (each turn
    costs the interpreter a boto3 client and several history events). Use as a
    context manager, or call :meth:`close`, so running statements finish and the
    worker threads stop.
    """

    def __init__(
        self,
        connect: str | Path | duckdb.DuckDBPyConnection,
        *,
        s3: Any,
        workers: int = 2,
        read_only: bool = False,
        scratch_dir: Path | None = None,
        describe_wait: float = 0.0,
    ) -> None:
        if isinstance(connect, duckdb.DuckDBPyConnection):
            self._connection, self._owns_connection = connect, False
        else:
            self._connection = duckdb.connect(str(connect), read_only=read_only)
            self._owns_connection = True
        self._s3 = s3
        self._scratch_dir = scratch_dir
        self._describe_wait = describe_wait
        self._lock = threading.Lock()
        self._statements: dict[str, _Statement] = {}
        self._by_token: dict[str, str] = {}
        self._query_ids = iter(range(1000, 1 << 62))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="duckdb-data-api")
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._faults: list[_Fault] = []
        self._throttles = 0

    def inject(self, *, fail: int = 0, abort: int = 0, throttle: int = 0, match: str = "") -> None:
        """Make the next statements go wrong, as the real service sometimes does.

        ``fail``/``abort``: that many of the next UNLOADs whose SQL contains ``match``
        end FAILED (with an injected error text) or ABORTED, without writing anything.
        ``throttle``: that many of the next ``describe_statement`` calls raise
        ``ThrottlingException``. Faults add up and are used up in order.
        """
        if min(fail, abort, throttle) < 0:
            raise ValueError("fault counts are 0 or more")
        with self._lock:
            self._faults += [_Fault("FAILED", match)] * fail + [_Fault("ABORTED", match)] * abort
            self._throttles += throttle

    def pending_faults(self) -> int:
        """Injected faults not used yet (statement faults plus throttled describes)."""
        with self._lock:
            return len(self._faults) + self._throttles

    def _take_fault(self, sql: str) -> _Fault | None:
        if sql.lstrip()[:6].upper() != "UNLOAD":
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.match in sql:
                    return self._faults.pop(index)
        return None

    def __enter__(self) -> DuckDBDataApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for running statements, stop the workers, close an owned connection."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._owns_connection:
            self._connection.close()

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(describe_statement(...))`` each time a statement ends.

        It is called before the end shows in ``describe_statement`` (so a caller who saw
        a statement end also sees its listeners' effects), with the API's lock held: a
        listener must be quick and must not call back into the API.
        """
        self._listeners.append(listener)

    # --- the API ----------------------------------------------------------------------

    def execute_statement(
        self,
        *,
        Sql: str,
        Database: str | None = None,
        ClusterIdentifier: str | None = None,
        WorkgroupName: str | None = None,
        SecretArn: str | None = None,
        DbUser: str | None = None,
        ClientToken: str | None = None,
        StatementName: str | None = None,
        Parameters: list[dict[str, str]] | None = None,
        WithEvent: bool | None = None,
        SessionKeepAliveSeconds: int | None = None,
        SessionId: str | None = None,
        ResultFormat: str | None = None,
    ) -> dict[str, Any]:
        """Submit one statement; it runs on a worker thread. Returns its ``Id``."""
        if not Sql or not Sql.strip():
            raise DataApiError("ValidationException", "Sql must not be empty")
        if SessionId is None:
            if not Database:
                raise DataApiError("ValidationException", "Database is required")
            if (ClusterIdentifier is None) == (WorkgroupName is None):
                raise DataApiError(
                    "ValidationException",
                    "Either ClusterIdentifier or WorkgroupName is required, not both",
                )
        if Parameters:
            raise DataApiError(
                "ValidationException", "the local warehouse does not bind Parameters"
            )
        request = {
            "ClusterIdentifier": ClusterIdentifier,
            "WorkgroupName": WorkgroupName,
            "Database": Database,
            "DbUser": DbUser,
            "SecretArn": SecretArn,
            "StatementName": StatementName,
        }
        with self._lock:
            if ClientToken is not None and ClientToken in self._by_token:
                return self._submitted(self._statements[self._by_token[ClientToken]])
            now = datetime.now(UTC)
            statement = _Statement(
                id=str(uuid.uuid4()),
                sql=Sql,
                request=request,
                created_at=now,
                updated_at=now,
                query_id=next(self._query_ids),
            )
            self._statements[statement.id] = statement
            if ClientToken is not None:
                self._by_token[ClientToken] = statement.id
        self._pool.submit(self._run, statement)
        return self._submitted(statement)

    def describe_statement(self, *, Id: str) -> dict[str, Any]:
        """The statement's status and, once it ended, its outcome, as the API reports it."""
        with self._lock:
            throttled = self._throttles > 0
            self._throttles -= throttled
        if throttled:
            raise DataApiError("ThrottlingException", "Rate exceeded")
        return self._describe(Id)

    def _describe(self, statement_id: str) -> dict[str, Any]:
        statement = self._get(statement_id)
        if self._describe_wait > 0:
            statement.ended.wait(self._describe_wait)
        with self._lock:
            return self._described(statement)

    def _described(self, statement: _Statement) -> dict[str, Any]:
        # The caller holds self._lock.
        described: dict[str, Any] = {
            "Id": statement.id,
            "Status": statement.status,
            "QueryString": statement.sql,
            "CreatedAt": statement.created_at,
            "UpdatedAt": statement.updated_at,
            "Duration": statement.duration_ns,
            "HasResultSet": statement.has_result_set,
            "ResultRows": statement.result_rows,
            "ResultSize": statement.result_size,
            "RedshiftQueryId": statement.query_id,
            "RedshiftPid": 1073741824,
            "IsBatchStatement": False,
            "ResultFormat": "JSON",
        }
        if statement.error is not None:
            described["Error"] = statement.error
        described.update({k: v for k, v in statement.request.items() if v is not None})
        return described

    def get_statement_result(self, *, Id: str, NextToken: str | None = None) -> dict[str, Any]:
        """The rows of a finished statement that has a result set, as typed Field dicts."""
        statement = self._get(Id)
        if statement.status != "FINISHED":
            raise DataApiError(
                "ResourceNotFoundException",
                "Query does not have result. Please check query status. "
                f"Status: {statement.status}",
            )
        if not statement.has_result_set:
            raise DataApiError("ValidationException", "Query does not have result.")
        return {
            "Records": [[_field(value) for value in row] for row in statement.rows],
            "ColumnMetadata": [_column(name, type_) for name, type_ in statement.columns],
            "TotalNumRows": len(statement.rows),
        }

    def cancel_statement(self, *, Id: str) -> dict[str, Any]:
        """Abort a statement that has not ended: queued ones never run, running ones stop."""
        statement = self._get(Id)
        with self._lock:
            if statement.status in _DONE:
                raise DataApiError(
                    "ValidationException",
                    f"Could not cancel a query that is already in {statement.status} state "
                    f"with ID: {Id}",
                )
            statement.cancel_requested = True
            if statement.status == "SUBMITTED":
                self._end(statement, "ABORTED")
            else:
                threading.Thread(target=self._interrupt, args=(statement,), daemon=True).start()
        return {"Status": True}

    def _interrupt(self, statement: _Statement) -> None:
        # DuckDB's interrupt only stops a query already executing; the worker may still be
        # between STARTED and execute(), so interrupt until the statement has ended.
        deadline = time.monotonic() + 30
        while statement.status not in _DONE and time.monotonic() < deadline:
            cursor = statement.cursor
            if cursor is not None:
                cursor.interrupt()
            time.sleep(0.01)

    def wait(self, statement_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the statement ends (for callers outside a state machine)."""
        deadline = time.monotonic() + timeout
        while (described := self._describe(statement_id))["Status"] not in _DONE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"statement {statement_id} still {described['Status']}")
            time.sleep(0.002)
        return described

    # --- execution --------------------------------------------------------------------

    def _get(self, statement_id: str) -> _Statement:
        with self._lock:
            statement = self._statements.get(statement_id)
        if statement is None:
            raise DataApiError("ResourceNotFoundException", f"Query does not exist: {statement_id}")
        return statement

    @staticmethod
    def _submitted(statement: _Statement) -> dict[str, Any]:
        response = {"Id": statement.id, "CreatedAt": statement.created_at}
        response.update({k: v for k, v in statement.request.items() if v is not None})
        response.pop("StatementName", None)
        return response

    def _run(self, statement: _Statement) -> None:
        cursor = self._connection.cursor()
        # Redshift sessions run in UTC (GETDATE() is UTC); DuckDB follows the host's zone.
        cursor.execute("SET TimeZone = 'UTC'").fetchall()
        try:
            with self._lock:
                if statement.status != "SUBMITTED":
                    return
                statement.status = "STARTED"
                statement.cursor = cursor
                statement.started_ns = time.perf_counter_ns()
                statement.updated_at = datetime.now(UTC)
            try:
                fault = self._take_fault(statement.sql)
                if fault is not None:
                    with self._lock:
                        self._end(statement, fault.status, error=fault.error)
                elif statement.sql.lstrip()[:6].upper() == "UNLOAD":
                    rows, size = self._unload(cursor, statement.sql)
                    self._finish(statement, rows=rows, size=size)
                else:
                    self._query(cursor, statement)
            except (duckdb.Error, ValueError, ConnectorError, OSError) as exc:
                with self._lock:
                    if statement.cancel_requested:
                        self._end(statement, "ABORTED")
                    else:
                        self._end(statement, "FAILED", error=_error_text(exc))
        finally:
            statement.cursor = None
            cursor.close()

    def _query(self, cursor: duckdb.DuckDBPyConnection, statement: _Statement) -> None:
        sql, returns_rows = transpile(statement.sql)
        cursor.execute(sql)
        description = cursor.description or []
        rows = cursor.fetchall()
        if not returns_rows:
            # DDL and DML report the affected row count as DuckDB's one "Count" value.
            affected = rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else 0
            self._finish(statement, rows=int(affected or 0))
            return
        columns = [(str(column[0]), str(column[1])) for column in description]
        size = sum(len(repr(row)) for row in rows)
        with self._lock:
            statement.columns, statement.rows = columns, rows
            statement.has_result_set = True
        self._finish(statement, rows=len(rows), size=size)

    def _finish(self, statement: _Statement, *, rows: int, size: int = 0) -> None:
        with self._lock:
            if statement.cancel_requested:
                self._end(statement, "ABORTED")
                return
            statement.result_rows, statement.result_size = rows, size
            self._end(statement, "FINISHED")

    def _end(
        self, statement: _Statement, status: StatementStatus, error: str | None = None
    ) -> None:
        statement.status = status
        statement.error = error
        statement.updated_at = datetime.now(UTC)
        if statement.started_ns:
            statement.duration_ns = time.perf_counter_ns() - statement.started_ns
        # Listeners run before the end is visible: describe_statement waits for the lock
        # held here, so whoever sees the statement ended knows its listeners have run.
        if self._listeners:
            described = self._described(statement)
            for listener in self._listeners:
                listener(described)
        statement.ended.set()

    def _unload(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, int]:
        """Run one UNLOAD; return the rows and bytes it wrote."""
        parts = split_unload(sql)
        fmt = _UnloadFormat.from_options(parts.options)
        bucket, prefix = _split_s3_uri(parts.s3_uri)
        if not fmt.allow_overwrite:
            listed = self._s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
            if listed.get("KeyCount", 0):
                raise ValueError(_NOT_EMPTY)
        statement = _parse(parts.query)
        if not isinstance(statement, exp.Query):
            raise ValueError("UNLOAD needs a SELECT query")
        if _has_outer_limit(statement):
            # Redshift refuses it too; failing here keeps a template that only works
            # offline from reaching a deployment.
            raise ValueError(
                "Limit clause is not supported in the outer select of UNLOAD; "
                "use SELECT * FROM (... LIMIT n)"
            )
        query = statement.sql(dialect="duckdb")
        relation = cursor.sql(query)
        select = ", ".join(
            _unloaded_column(name, str(type_))
            for name, type_ in zip(relation.columns, relation.types, strict=True)
        )
        with TemporaryDirectory(prefix="unload-", dir=self._scratch_dir) as scratch:
            target = Path(scratch) / "out"
            if fmt.max_file_bytes is None:
                target.mkdir()
                target = target / "data_0.csv"
            copy = (
                f"COPY (SELECT {select} FROM ({query}) AS unloaded) "
                f"TO {_duck_string(str(target))} ({fmt.copy_options()})"
            )
            counts = cursor.execute(copy).fetchall()
            written = int(counts[0][0]) if counts else 0
            files = sorted((Path(scratch) / "out").iterdir(), key=lambda p: _file_index(p.name))
            size = sum(path.stat().st_size for path in files)
            # A writer that can adopt the file (moto_hooks.MotoS3Writer) stores it
            # without a copy; any other S3 client gets the bytes.
            put_file = getattr(self._s3, "put_file", None)
            for index, path in enumerate(files):
                key = prefix + fmt.object_name(index)
                if put_file is not None:
                    put_file(Bucket=bucket, Key=key, path=path)
                    continue
                with path.open("rb") as body:
                    self._s3.put_object(Bucket=bucket, Key=key, Body=body)
        return written, size


def _file_index(name: str) -> int:
    # DuckDB names split files data_0.csv, data_1.csv, ...; order them numerically.
    digits = name.removeprefix("data_").split(".", 1)[0]
    return int(digits) if digits.isdigit() else 0


def _error_text(exc: Exception) -> str:
    if isinstance(exc, duckdb.Error):
        return f"ERROR: {str(exc).strip()}"
    return f"ERROR: {exc}"


def _field(value: Any) -> dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"blobValue": value}
    if isinstance(value, datetime):
        return {"stringValue": value.isoformat(sep=" ")}
    if isinstance(value, Decimal):
        return {"stringValue": str(value)}
    return {"stringValue": str(value)}


def _column(name: str, duck_type: str) -> dict[str, Any]:
    base = duck_type.split("(", 1)[0].upper()
    type_name = "numeric" if base == "DECIMAL" else _TYPE_NAMES.get(base, duck_type.lower())
    precision, scale = 0, 0
    if base == "DECIMAL" and "(" in duck_type:
        precision, scale = (int(x) for x in duck_type[duck_type.index("(") + 1 : -1].split(","))
    return {
        "name": name,
        "label": name,
        "typeName": type_name,
        "nullable": 1,
        "precision": precision,
        "scale": scale,
        "isCaseSensitive": type_name == "varchar",
        "isCurrency": False,
        "isSigned": type_name in ("int2", "int4", "int8", "numeric", "float4", "float8"),
        "length": 0,
        "schemaName": "",
        "tableName": "",
        "columnDefault": None,
    }

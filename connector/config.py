"""The params.json model: the detector's data contract plus the connector's own settings.

params.json speaks the language of the 2022 Redshift → Lookout for Metrics sample
(``detector_frequency``, ``metrics_set``, ``metric_source.S3SourceConfig`` ...), so
a file from that sample loads unchanged. Three optional sections configure what the
sample hard-coded: ``warehouse`` (which Redshift to read), ``crawl`` (how to crawl
it) and ``detector`` (which detector to feed).

The model is strict: every value that later reaches SQL, an S3 key, an IAM policy or
the detector is checked here, so that ``cdk synth``, the CLI and the Lambdas fail
fast with a message that names the JSON path and says what to do.

Placeholders: the sample filled ``s3_bucket``, ``RoleArn``, ``HistoricalDataPathList``
and ``TemplatedPathList`` at deploy time and shipped empty strings there. An empty
string therefore means "filled at deploy time" (see :meth:`Params.with_deployment`);
any other value must be well formed.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import typing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from connector.errors import ParamsError
from connector.intervals import (
    HISTORICAL_LIMITS,
    UTC,
    Frequency,
    Interval,
    PathTemplateError,
    expand_path,
    historical_range,
)

__all__ = [
    "DEFAULT_SECRET_NAME",
    "BuiltinDetector",
    "Crawl",
    "CsvFormatDescriptor",
    "Detector",
    "FileFormatDescriptor",
    "Metric",
    "MetricSource",
    "Params",
    "S3SourceConfig",
    "Templates",
    "TimestampColumn",
    "Warehouse",
    "bucket_name_problem",
    "load_params",
    "params_from_json",
]

# The secret name the 2022 sample looked for; still the default so that its users'
# Secrets Manager setup keeps working.
DEFAULT_SECRET_NAME = "redshift-l4mintegration"  # noqa: S105 - a secret's name, not its value

# --- Patterns. Each one has a human description in _PATTERN_HELP: pydantic's own
# "should match pattern '^...$'" tells a user nothing.

# Column, metric, detector and alert names (the detector API's ColumnName pattern).
# Because nothing but these characters is allowed, a name can be quoted safely in SQL.
IDENTIFIER_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$"
# S3 bucket names without dots: the detector's templated-path pattern has no '.', and
# virtual-hosted TLS breaks on dotted names. Empty = filled at deploy time.
BUCKET_PATTERN = r"^$|^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
# The detector API's TemplatedPath pattern; empty = filled at deploy time.
TEMPLATED_PATH_PATTERN = r"^$|^s3://[a-zA-Z0-9_\-/ {}=]+$"
# The detector API's HistoricalDataPath pattern; empty = filled at deploy time.
HISTORICAL_PATH_PATTERN = r"^$|^s3://[a-z0-9].+$"
# A key prefix made of the characters the templated-path pattern allows, without
# leading, trailing or doubled '/'. No '.', so no '..' either.
PREFIX_PATTERN = r"^[a-zA-Z0-9_=-]+(/[a-zA-Z0-9_=-]+)*$"
ROLE_ARN_PATTERN = r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,512}$"
LAMBDA_ARN_PATTERN = (
    r"^$|^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9_-]{1,64}"
    r"(:(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
SECRET_PATTERN = (
    r"^$|^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]{1,512}$"  # noqa: S105
    r"|^[a-zA-Z0-9/_+=.@-]{1,512}$"
)
CLUSTER_PATTERN = r"^[a-z](-?[a-z0-9])*$"
WORKGROUP_PATTERN = r"^[a-z0-9-]{3,64}$"
DATABASE_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_$]*$"
DB_USER_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_.@$+-]*$"
TEMPLATE_NAME_PATTERN = r"^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*\.sql\.j2$"
DELIMITER_PATTERN = r'^[^\r\n"]$'

_PATTERN_HELP: dict[str, str] = {
    IDENTIFIER_PATTERN: "use letters, digits, '-' and '_', starting with a letter or digit",
    BUCKET_PATTERN: (
        "use an S3 bucket name of 3-63 lowercase letters, digits and '-' (no dots), "
        "or leave it empty to have it filled at deploy time"
    ),
    TEMPLATED_PATH_PATTERN: (
        "use s3://bucket/prefix/{{yyyyMMdd}}/{{HHmm}}/ with letters, digits, '_', '-', '/', "
        "'=', ' ' and {{...}} only, or leave it empty to have it filled at deploy time"
    ),
    HISTORICAL_PATH_PATTERN: (
        "use s3://bucket/prefix/, or leave it empty to have it filled at deploy time"
    ),
    PREFIX_PATTERN: (
        "use an S3 key prefix such as 'ecommerce' or 'team/sales': letters, digits, "
        "'_', '-', '=' separated by single '/', without a leading or trailing '/'"
    ),
    ROLE_ARN_PATTERN: (
        "use an IAM role ARN such as arn:aws:iam::123456789012:role/name, "
        "or leave it empty to have it filled at deploy time"
    ),
    LAMBDA_ARN_PATTERN: (
        "use a Lambda function ARN such as "
        "arn:aws:lambda:eu-west-1:123456789012:function:name, or leave it empty"
    ),
    SECRET_PATTERN: "use a Secrets Manager secret name or ARN",
    CLUSTER_PATTERN: (
        "use a Redshift cluster identifier: lowercase letters, digits and single '-', "
        "starting with a letter"
    ),
    WORKGROUP_PATTERN: (
        "use a Redshift Serverless workgroup name: 3-64 lowercase letters, digits, '-'"
    ),
    DATABASE_PATTERN: (
        "use a database name of letters, digits, '_' and '$', not starting with a digit"
    ),
    DB_USER_PATTERN: "use a database user name starting with a letter or '_'",
    TEMPLATE_NAME_PATTERN: (
        "use the file name of a template in the queries directory, ending in .sql.j2, "
        "without '/' or '..'"
    ),
    DELIMITER_PATTERN: "use one character other than '\"', carriage return or newline",
}

# Why a field admits only the listed values, appended to "use one of ..." messages.
_LITERAL_HELP: dict[str, str] = {
    "ContainsHeader": "UNLOAD writes a header row and the detector reads columns by name",
    "Charset": "Redshift UNLOAD writes UTF-8",
    "QuoteSymbol": "Redshift UNLOAD ... CSV always quotes with '\"'",
    "database_type": "this connector reads Amazon Redshift (DuckDB stands in for it offline)",
}
# What the values of an enumerated field are, for "is not a supported <noun>".
_LITERAL_NOUN: dict[str, str] = {
    "detector_frequency": "frequency",
    "AggregationFunction": "aggregation function",
    "FileCompression": "file compression",
    "backend": "detector backend",
    "database_type": "database type",
}

# A JSON path as pydantic spells it, and a problem found at one.
_Loc = tuple[str | int, ...]
_Problem = tuple[_Loc, str]
_SOURCE_LOC: _Loc = ("metric_source", "S3SourceConfig")
_DURATION = TypeAdapter(timedelta)
_DATETIME = TypeAdapter(datetime)
_TEMPLATE_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
# Date letters a folder template needs so that no two intervals share a folder.
_FOLDER_LETTERS: dict[str, str] = {"P1D": "yMd", "PT1H": "yMdH", "PT10M": "yMdHm", "PT5M": "yMdHm"}
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


# --- Field types ---------------------------------------------------------------------


def _invalid(kind: str, message: str) -> PydanticCustomError:
    """An error whose message is final: without context, pydantic substitutes nothing in it."""
    return PydanticCustomError(kind, message)


_RESERVED_BUCKET = "uses a prefix or suffix that S3 reserves"


def _is_reserved_bucket(name: str) -> bool:
    return name.startswith(_RESERVED_BUCKET_PREFIXES) or name.endswith(_RESERVED_BUCKET_SUFFIXES)


def _check_bucket(name: str) -> str:
    if _is_reserved_bucket(name):
        raise _invalid(
            "bucket_reserved", f"{name!r} {_RESERVED_BUCKET}; choose another bucket name"
        )
    return name


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the data bucket, by the rules of ``s3_bucket``; None if it can.

    For bucket names given elsewhere (a CLI option, an environment variable), so that
    they are held to what params.json accepts and named where they were given.
    """
    if not name or not re.fullmatch(BUCKET_PATTERN, name):
        return "is not an S3 bucket name of 3-63 lowercase letters, digits and '-' (no dots)"
    if _is_reserved_bucket(name):
        return _RESERVED_BUCKET
    return None


def _split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _check_s3_folder(uri: str) -> str:
    """Check the bucket and key of a non-empty s3:// URI (the patterns checked the scheme)."""
    if not uri:
        return uri
    bucket, key = _split_s3_uri(uri)
    if not re.fullmatch(BUCKET_PATTERN, bucket) or not bucket:
        raise _invalid(
            "s3_uri_bucket",
            f"{uri!r} does not start with a valid bucket name; use s3://bucket/prefix/ "
            "with a bucket of 3-63 lowercase letters, digits and '-' (no dots)",
        )
    _check_bucket(bucket)
    segments = key.rstrip("/").split("/")
    if not key or any(segment in ("", ".", "..") for segment in segments):
        raise _invalid(
            "s3_uri_key",
            f"{uri!r} needs a key prefix without empty, '.' or '..' segments, "
            f"e.g. s3://{bucket}/ecommerce/historical/",
        )
    return uri


def _check_historical_folder(uri: str) -> str:
    """The historical path is a folder the crawler writes into (and UNLOAD names in SQL)."""
    if not uri:
        return uri
    _check_s3_folder(uri)
    key = _split_s3_uri(uri)[1]
    if not re.fullmatch(r"[a-zA-Z0-9_=./-]+/", key):
        raise _invalid(
            "s3_uri_folder",
            f"{uri!r} must be a folder of letters, digits, '_', '-', '=', '.' and '/', ending "
            f"in '/', e.g. s3://{_split_s3_uri(uri)[0]}/ecommerce/historical/",
        )
    return uri


def _check_templated_path(uri: str) -> str:
    if not uri:
        return uri
    _check_s3_folder(uri)
    bare = _TEMPLATE_PLACEHOLDER.sub("", uri)
    placeholders = _TEMPLATE_PLACEHOLDER.findall(uri)
    if "{" in bare or "}" in bare or not placeholders:
        raise _invalid(
            "templated_path_placeholders",
            f"{uri!r} needs date placeholders in double braces, such as "
            "s3://bucket/prefix/live/{{yyyyMMdd}}/{{HHmm}}/",
        )
    try:
        # Expanding once proves the crawler can name folders from this template.
        expand_path(uri, datetime(2000, 1, 1, tzinfo=UTC))
    except PathTemplateError as exc:
        raise _invalid("templated_path_placeholder", str(exc)) from exc
    return uri


def _check_column_format(value: str) -> str:
    missing = [token for token in ("yyyy", "MM", "dd") if token not in value]
    if missing:
        raise _invalid(
            "timestamp_format",
            f"{value!r} lacks {', '.join(missing)}; use a date-time format such as "
            "'yyyy-MM-dd HH:mm:ss'",
        )
    return value


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        suggestion = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        hint = f"did you mean {suggestion[0]!r}? " if suggestion else ""
        raise _invalid(
            "timezone",
            f"{name!r} is not an IANA time zone; {hint}use a name such as 'UTC' or 'Europe/Berlin'",
        ) from exc
    return name


def _parse_historical_start(value: Any) -> Any:
    """Accept a look-back duration (``P90D``), a date or a date-time, written as JSON text."""
    if isinstance(value, date | timedelta):
        return value
    if not isinstance(value, str):
        # pydantic would read a number as seconds since 1970: never what was meant here.
        raise _invalid(
            "historical_start",
            "must be a string: a look-back such as 'P90D' or a date such as '2024-01-01'",
        )
    text = value.strip()
    if text.startswith(("P", "-P", "+P")):
        try:
            duration = _DURATION.validate_python(text)
        except ValidationError as exc:
            raise _invalid(
                "historical_start",
                f"{value!r} is not an ISO-8601 duration; use a look-back such as 'P90D' or "
                "'PT36H', or a start date such as '2024-01-01'",
            ) from exc
        if duration <= timedelta(0):
            raise _invalid(
                "historical_start",
                f"{value!r} must look back a positive amount of time, e.g. 'P90D'",
            )
        return duration
    try:
        if len(text) == len("yyyy-mm-dd"):
            return date.fromisoformat(text)
        return _DATETIME.validate_python(text)
    except (ValueError, ValidationError) as exc:
        raise _invalid(
            "historical_start",
            f"{value!r} is neither a date, a date-time nor a duration; use e.g. '2024-01-01', "
            "'2024-01-01T00:00:00' or a look-back such as 'P90D'",
        ) from exc


Identifier = Annotated[str, Field(min_length=1, max_length=63, pattern=IDENTIFIER_PATTERN)]
BucketName = Annotated[str, Field(pattern=BUCKET_PATTERN), AfterValidator(_check_bucket)]
HistoricalPath = Annotated[
    str,
    Field(max_length=1024, pattern=HISTORICAL_PATH_PATTERN),
    AfterValidator(_check_historical_folder),
]
TemplatedPath = Annotated[
    str,
    Field(max_length=1024, pattern=TEMPLATED_PATH_PATTERN),
    AfterValidator(_check_templated_path),
]
RoleArn = Annotated[str, Field(max_length=2048, pattern=ROLE_ARN_PATTERN)]
LambdaArn = Annotated[str, Field(max_length=256, pattern=LAMBDA_ARN_PATTERN)]
SecretId = Annotated[str, Field(max_length=2048, pattern=SECRET_PATTERN)]
Description = Annotated[str, Field(max_length=256)]
TemplateName = Annotated[str, Field(max_length=255, pattern=TEMPLATE_NAME_PATTERN)]
HistoricalStart = Annotated[
    datetime | date | timedelta,
    BeforeValidator(_parse_historical_start),
    Field(
        description=(
            "Where the historical crawl starts: a look-back from now as an ISO-8601 duration "
            "(months count 30 days, years 365), a date, or a date-time; dates and naive "
            "date-times are read in detector.timezone."
        )
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- The sample's fields -------------------------------------------------------------


class TimestampColumn(_Model):
    """The column that places a row in an interval, and how its text is formatted."""

    column_format: Annotated[
        str, Field(min_length=1, max_length=63, pattern=r"\S"), AfterValidator(_check_column_format)
    ] = Field(alias="ColumnFormat", description="A SimpleDateFormat pattern.")
    column_name: Identifier = Field(alias="ColumnName")


class Metric(_Model):
    """A measure column and how the detector aggregates it per interval."""

    aggregation_function: Literal["SUM", "AVG"] = Field(alias="AggregationFunction")
    metric_name: Identifier = Field(alias="MetricName")


class CsvFormatDescriptor(_Model):
    """How the crawler writes CSV (UNLOAD options) and how the detector reads it."""

    charset: Literal["UTF-8"] = Field("UTF-8", alias="Charset")
    contains_header: Literal[True] = Field(True, alias="ContainsHeader")
    delimiter: Annotated[str, Field(pattern=DELIMITER_PATTERN)] = Field(",", alias="Delimiter")
    file_compression: Literal["NONE", "GZIP"] = Field("NONE", alias="FileCompression")
    quote_symbol: Literal['"'] = Field('"', alias="QuoteSymbol")


class FileFormatDescriptor(_Model):
    csv_format_descriptor: CsvFormatDescriptor = Field(
        default_factory=CsvFormatDescriptor, alias="CsvFormatDescriptor"
    )


class S3SourceConfig(_Model):
    """Where the detector reads: one historical prefix and one per-interval folder template."""

    file_format_descriptor: FileFormatDescriptor = Field(
        default_factory=FileFormatDescriptor, alias="FileFormatDescriptor"
    )
    # Exactly one item each, as the detector API requires; "" = filled at deploy time.
    historical_data_path_list: tuple[HistoricalPath, ...] = Field(
        ("",), min_length=1, max_length=1, alias="HistoricalDataPathList"
    )
    role_arn: RoleArn = Field("", alias="RoleArn")
    templated_path_list: tuple[TemplatedPath, ...] = Field(
        ("",), min_length=1, max_length=1, alias="TemplatedPathList"
    )


class MetricSource(_Model):
    s3_source_config: S3SourceConfig = Field(default_factory=S3SourceConfig, alias="S3SourceConfig")


# --- The connector's own sections ----------------------------------------------------


class Warehouse(_Model):
    """Which Redshift the crawler reads, through the Redshift Data API."""

    cluster_identifier: Annotated[str, Field(max_length=63, pattern=CLUSTER_PATTERN)] | None = (
        Field(None, description="A provisioned cluster; set this or workgroup_name.")
    )
    workgroup_name: Annotated[str, Field(pattern=WORKGROUP_PATTERN)] | None = Field(
        None, description="A Redshift Serverless workgroup; set this or cluster_identifier."
    )
    database: Annotated[str, Field(min_length=1, max_length=127, pattern=DATABASE_PATTERN)] = "dev"
    secret: SecretId | None = Field(
        None,
        description=(
            "Secrets Manager secret (name or ARN) with the database credentials; "
            f"defaults to the top-level secret_name, then {DEFAULT_SECRET_NAME!r}."
        ),
    )
    db_user: Annotated[str, Field(min_length=1, max_length=127, pattern=DB_USER_PATTERN)] | None = (
        Field(None, description="Use temporary credentials for this user instead of the secret.")
    )

    @model_validator(mode="after")
    def _one_target(self) -> Warehouse:
        if self.cluster_identifier and self.workgroup_name:
            raise _invalid(
                "warehouse_target",
                "set either cluster_identifier (provisioned) or workgroup_name (Serverless), "
                "not both",
            )
        if self.db_user and self.workgroup_name:
            raise _invalid(
                "warehouse_db_user",
                "db_user works with provisioned clusters only; remove it and use 'secret' "
                "for a Serverless workgroup",
            )
        return self

    @property
    def is_serverless(self) -> bool:
        return self.workgroup_name is not None


class Templates(_Model):
    """Query template file names, looked up in ``crawl.queries_dir``."""

    historical: TemplateName = "ecommerce.sql.j2"
    continuous: TemplateName = "ecommerce.sql.j2"


class Crawl(_Model):
    """How the historical and continuous crawls read Redshift and write S3."""

    historical_start: HistoricalStart = timedelta(days=90)
    chunk_intervals: StrictInt = Field(
        720, ge=1, le=100_000, description="Intervals per historical UNLOAD chunk."
    )
    max_concurrency: StrictInt = Field(
        4, ge=1, le=20, description="Historical chunks unloaded at the same time."
    )
    templates: Templates = Field(default_factory=Templates)
    queries_dir: Annotated[str, Field(min_length=1)] = Field(
        "queries", description="Directory of the templates, relative to params.json."
    )
    poll_seconds: StrictInt = Field(
        10, ge=0, le=300, description="Wait between Data API describeStatement polls."
    )
    max_intervals_per_run: StrictInt = Field(
        24, ge=1, le=2500, description="Most intervals one continuous run catches up."
    )
    restatement_intervals: StrictInt = Field(
        0, ge=0, le=2500, description="Already-crawled intervals each run crawls again."
    )
    prefix: Annotated[str, Field(max_length=512, pattern=PREFIX_PATTERN)] | None = Field(
        None, description="S3 key prefix of the connector's data; defaults to detector_name."
    )


class BuiltinDetector(_Model):
    """Settings of the built-in (numpy) detector."""

    sensitivity: Annotated[StrictFloat, Field(ge=0.0, le=1.0)] = Field(
        0.5, description="0 flags only the strongest anomalies, 1 flags the most."
    )
    min_history_intervals: StrictInt | None = Field(
        None, ge=1, description="Intervals of history before scoring; default per frequency."
    )


class Detector(_Model):
    backend: Literal["builtin", "lookoutmetrics"] = "builtin"
    timezone: Annotated[
        str, Field(min_length=1, max_length=60), AfterValidator(_check_timezone)
    ] = Field("UTC", description="IANA time zone of intervals and naive timestamps.")
    builtin: BuiltinDetector = Field(default_factory=BuiltinDetector)


# --- params.json ---------------------------------------------------------------------


class Params(_Model):
    """A validated params.json. Load it with :func:`load_params`."""

    schema_: str | None = Field(
        None, alias="$schema", description="JSON Schema of this file, for editors."
    )
    database_type: Literal["redshift"] = "redshift"
    detector_name: Identifier
    detector_description: Description = ""
    detector_frequency: Literal["PT5M", "PT10M", "PT1H", "P1D"]
    timestamp_column: TimestampColumn
    dimension_list: tuple[Identifier, ...] = Field((), max_length=10)
    metrics_set: tuple[Metric, ...] = Field(min_length=1, max_length=10)
    metric_source: MetricSource = Field(default_factory=MetricSource)
    s3_bucket: BucketName = ""
    alert_name: Identifier = "alerter"
    alert_threshold: Annotated[StrictFloat, Field(ge=0.0, le=100.0)] = Field(
        70.0, description="Alert on anomalies whose severity (0-100) is at least this."
    )
    alert_description: Description = ""
    alert_lambda_arn: LambdaArn = ""
    offset: StrictInt = Field(
        300, ge=0, le=432_000, description="Seconds after an interval ends before it is read."
    )
    secret_name: SecretId = ""
    s3_path_continuous_root: (
        Annotated[str, Field(pattern=r"^s3://"), AfterValidator(_check_s3_folder)] | None
    ) = Field(
        None,
        description="Written by the 2022 sample's deploy script; accepted and ignored.",
    )
    warehouse: Warehouse = Field(default_factory=Warehouse)
    crawl: Crawl = Field(default_factory=Crawl)
    detector: Detector = Field(default_factory=Detector)

    _source_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        """Cross-field rules, all reported at once, each at the path the user must edit."""
        problems = [
            *self._duplicate_columns(),
            *self._format_fits_frequency(),
            *self._one_folder_per_interval(),
            *self._paths_in_bucket(),
            *self._look_back_within_limits(),
        ]
        if problems:
            raise PydanticCustomError(
                "params_conflict",
                "{summary}",
                {"summary": "; ".join(m for _, m in problems), "problems": tuple(problems)},
            )
        return self

    def _duplicate_columns(self) -> list[_Problem]:
        columns: list[tuple[_Loc, str]] = [
            (("timestamp_column", "ColumnName"), self.timestamp_column.column_name),
            *((("dimension_list", i), name) for i, name in enumerate(self.dimension_list)),
            *(
                (("metrics_set", i, "MetricName"), metric.metric_name)
                for i, metric in enumerate(self.metrics_set)
            ),
        ]
        seen: dict[str, _Loc] = {}
        problems: list[_Problem] = []
        for loc, name in columns:
            # Redshift folds unquoted identifiers to lowercase: 'Views' and 'views' clash.
            first = seen.setdefault(name.lower(), loc)
            if first != loc:
                problems.append(
                    (
                        loc,
                        f"{name!r} is already used at {_json_path(first)}; every column needs "
                        "its own name",
                    )
                )
        return problems

    def _format_fits_frequency(self) -> list[_Problem]:
        column_format = self.timestamp_column.column_format
        if self.detector_frequency == "P1D" or ("HH" in column_format and "mm" in column_format):
            return []
        return [
            (
                ("timestamp_column", "ColumnFormat"),
                f"{column_format!r} has no hours and minutes (HH, mm), which "
                f"{self.detector_frequency} intervals need; use e.g. 'yyyy-MM-dd HH:mm:ss'",
            )
        ]

    def _one_folder_per_interval(self) -> list[_Problem]:
        template = self.metric_source.s3_source_config.templated_path_list[0]
        letters = "".join(_TEMPLATE_PLACEHOLDER.findall(template))
        missing = [c for c in _FOLDER_LETTERS[self.detector_frequency] if c not in letters]
        if not template or not missing:
            return []
        return [
            (
                (*_SOURCE_LOC, "TemplatedPathList", 0),
                f"{template!r} has no {', '.join(missing)} placeholder, so several "
                f"{self.detector_frequency} intervals would share a folder; name folders "
                "down to the interval, e.g. .../live/{{yyyyMMdd}}/{{HHmm}}/",
            )
        ]

    def _paths_in_bucket(self) -> list[_Problem]:
        source = self.metric_source.s3_source_config
        paths = {
            "HistoricalDataPathList": source.historical_data_path_list[0],
            "TemplatedPathList": source.templated_path_list[0],
        }
        return [
            (
                (*_SOURCE_LOC, key, 0),
                f"{uri!r} is not in s3_bucket {self.s3_bucket!r}; the crawler writes "
                "to s3_bucket, so use the same bucket here or leave it empty",
            )
            for key, uri in paths.items()
            if self.s3_bucket and uri and _split_s3_uri(uri)[0] != self.s3_bucket
        ]

    def _look_back_within_limits(self) -> list[_Problem]:
        months = HISTORICAL_LIMITS[self.frequency].max_timeframe_months
        look_back = self.crawl.historical_start
        # 31-day months: surely too long. Shorter overruns depend on the calendar and are
        # refused when the crawl is planned.
        if not isinstance(look_back, timedelta) or look_back <= timedelta(days=31 * months):
            return []
        return [
            (
                ("crawl", "historical_start"),
                f"looks back {look_back.days} days, longer than the {months} months of "
                f"{self.detector_frequency} history the detector accepts; look back less",
            )
        ]

    # --- Convenience views used by the crawler, the SQL renderer and the detectors.

    @property
    def frequency(self) -> Frequency:
        return Frequency(self.detector_frequency)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.detector.timezone)

    @property
    def dimensions(self) -> list[str]:
        return list(self.dimension_list)

    @property
    def measures(self) -> list[str]:
        return [metric.metric_name for metric in self.metrics_set]

    @property
    def aggregations(self) -> dict[str, str]:
        """Measure name → ``SUM`` or ``AVG``."""
        return {metric.metric_name: metric.aggregation_function for metric in self.metrics_set}

    @property
    def csv(self) -> CsvFormatDescriptor:
        return self.metric_source.s3_source_config.file_format_descriptor.csv_format_descriptor

    @property
    def timestamp_name(self) -> str:
        return self.timestamp_column.column_name

    @property
    def timestamp_format(self) -> str:
        return self.timestamp_column.column_format

    @property
    def secret(self) -> str:
        """The Secrets Manager secret (name or ARN) holding the database credentials."""
        return self.warehouse.secret or self.secret_name or DEFAULT_SECRET_NAME

    @property
    def data_prefix(self) -> str:
        """S3 key prefix (no slashes around it) under which the connector writes its data."""
        return self.crawl.prefix or self.detector_name

    @property
    def queries_path(self) -> Path:
        """The templates directory, relative to the params file it was loaded from."""
        directory = Path(self.crawl.queries_dir)
        return directory if directory.is_absolute() else (self._source_dir or Path()) / directory

    @property
    def historical_path(self) -> str:
        """``s3://`` prefix of the historical data (HistoricalDataPathList, or derived)."""
        configured = self.metric_source.s3_source_config.historical_data_path_list[0]
        return configured or f"s3://{self._deployed_bucket()}/{self.data_prefix}/historical/"

    @property
    def live_path_template(self) -> str:
        """Per-interval folder template, named by interval START (TemplatedPathList, or derived)."""
        configured = self.metric_source.s3_source_config.templated_path_list[0]
        return configured or (
            f"s3://{self._deployed_bucket()}/{self.data_prefix}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}/"
        )

    def _deployed_bucket(self) -> str:
        if not self.s3_bucket:
            raise ParamsError(
                "s3_bucket is empty: set it in params.json, or deploy first so that the "
                "deployment fills it in (Params.with_deployment)"
            )
        return self.s3_bucket

    @property
    def historical_start(self) -> datetime | date | timedelta:
        """``crawl.historical_start`` with a naive date-time placed in the detector's zone."""
        start = self.crawl.historical_start
        if isinstance(start, datetime) and start.tzinfo is None:
            return start.replace(tzinfo=self.timezone)
        return start

    def historical_range(self, now: datetime) -> Interval:
        """The history to crawl at ``now`` (aware); see :func:`intervals.historical_range`."""
        return historical_range(self.historical_start, now, self.frequency, self.timezone)

    def data_api_target(self) -> dict[str, str]:
        """Keyword arguments that point a Redshift Data API call at the warehouse.

        Raises :class:`ParamsError` when no cluster or workgroup is configured: the
        sample's params.json had neither (they came from its secret), the deployment
        needs one.
        """
        warehouse = self.warehouse
        target: dict[str, str] = {"Database": warehouse.database}
        if warehouse.workgroup_name:
            target["WorkgroupName"] = warehouse.workgroup_name
        elif warehouse.cluster_identifier:
            target["ClusterIdentifier"] = warehouse.cluster_identifier
        else:
            raise ParamsError(
                "warehouse: no Redshift to read; set warehouse.cluster_identifier (provisioned "
                "cluster) or warehouse.workgroup_name (Redshift Serverless) in params.json"
            )
        if warehouse.db_user:
            target["DbUser"] = warehouse.db_user
        else:
            target["SecretArn"] = self.secret
        return target

    def to_json(self) -> str:
        """params.json text of this model (PascalCase keys as in the file)."""
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=4) + "\n"

    def with_deployment(self, bucket: str, role_arn: str) -> Params:
        """A copy with the deploy-time values filled in, as the sample's deploy script did.

        The paths follow the connector's layout: ``<prefix>/historical/`` and
        ``<prefix>/live/{{yyyyMMdd}}/{{HHmm}}/`` named by interval START.
        """
        data = self.model_dump(by_alias=True, exclude_none=True)
        data["s3_bucket"] = bucket
        source = data["metric_source"]["S3SourceConfig"]
        source["RoleArn"] = role_arn
        source["HistoricalDataPathList"] = [f"s3://{bucket}/{self.data_prefix}/historical/"]
        source["TemplatedPathList"] = [
            f"s3://{bucket}/{self.data_prefix}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}/"
        ]
        deployed = _validate(data, source=f"params.json deployed to bucket {bucket!r}")
        deployed._source_dir = self._source_dir
        return deployed


# --- Loading -------------------------------------------------------------------------


def load_params(path: str | os.PathLike[str]) -> Params:
    """Read and validate a params.json; every problem becomes a :class:`ParamsError`."""
    file = Path(path)
    try:
        # utf-8-sig: editors on Windows save JSON with a byte-order mark.
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ParamsError(
            f"{file} not found; pass the path of your params.json (the project ships one at "
            "the repository root)"
        ) from exc
    except IsADirectoryError as exc:
        raise ParamsError(f"{file} is a directory; pass the path of a params.json file") from exc
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{file} is not UTF-8 text; save it as UTF-8") from exc
    except OSError as exc:
        raise ParamsError(f"{file} cannot be read: {exc.strerror}") from exc
    return params_from_json(text, source=str(file), base_dir=file.resolve().parent)


def params_from_json(
    text: str, *, source: str = "params.json", base_dir: Path | None = None
) -> Params:
    """Validate params.json text (e.g. read from S3); ``source`` names it in messages.

    ``base_dir`` anchors a relative ``crawl.queries_dir`` (default: the working directory).
    """
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        line = lines[exc.lineno - 1] if exc.lineno <= len(lines) else ""
        raise ParamsError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}\n"
            f"  {exc.lineno} | {line.rstrip()}\n"
            f"  {' ' * len(str(exc.lineno))} | {' ' * (exc.colno - 1)}^"
        ) from exc
    except _DuplicateKeyError as exc:
        raise ParamsError(
            f"{source} is not valid: key {exc.key!r} appears twice in the same object; "
            "keep one of them"
        ) from exc
    params = _validate(data, source=source)
    params._source_dir = base_dir
    return params


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a silently ignored value hides mistakes.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _validate(data: Any, *, source: str) -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {path}: {message}" for path, message in _describe(exc.errors())]
        raise ParamsError(f"{source} is not valid:\n" + "\n".join(lines)) from exc


# --- Error messages ------------------------------------------------------------------

_JSON_TYPES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as the user wrote it: strings quoted, everything else in JSON spelling."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _literal_text(expected: str) -> str:
    """One value of pydantic's "expected" list (Python spelling) in JSON spelling."""
    return {"True": "true", "False": "false", "None": "null"}.get(expected, expected.strip("'"))


def _json_path(loc: _Loc) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


def _field_path(loc: _Loc) -> _Loc:
    """Drop the entries pydantic adds for union members and validators (e.g. 'str')."""
    model: Any = Params
    kept: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            kept.append(part)
            continue
        fields = _fields_by_alias(model)
        if part in fields:
            kept.append(part)
            model = _model_of(fields[part])
        elif model is None or not fields:
            continue
        else:
            kept.append(part)
            model = None
    return tuple(kept)


def _fields_by_alias(model: Any) -> dict[str, Any]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return {}
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def _model_of(annotation: Any) -> Any:
    """The model class inside ``X``, ``X | None`` or ``tuple[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: _Loc) -> Any:
    model: Any = Params
    for part in loc:
        if isinstance(part, int):
            continue
        model = _model_of(_fields_by_alias(model).get(part))
    return model


def _is_knock_on_length_error(error: ErrorDetails) -> bool:
    """A ``too_short`` a tuple reports only because some of its items failed.

    pydantic-core checks a tuple's minimum length on the items that passed validation,
    not on those given: a one-item list whose item is invalid also "needs at least 1
    item". The item's own error says what is wrong, so this one is noise.
    """
    given = error.get("input")
    min_length = (error.get("ctx") or {}).get("min_length")
    return (
        error["type"] == "too_short"
        and isinstance(given, list | tuple)
        and isinstance(min_length, int)
        and len(given) >= min_length
    )


def _describe(errors: list[ErrorDetails]) -> list[tuple[str, str]]:
    described: list[tuple[str, str]] = []
    for error in errors:
        if _is_knock_on_length_error(error):
            continue
        loc = _field_path(tuple(error["loc"]))
        ctx = error.get("ctx") or {}
        problems = ctx.get("problems")
        if problems:
            described.extend((_json_path(loc + sub), message) for sub, message in problems)
            continue
        described.append((_json_path(loc), _message(error, loc)))
    # Unions report one error per member; keep one line per path and message.
    return list(dict.fromkeys(described))


def _message(error: ErrorDetails, loc: _Loc) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    field = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if kind == "missing":
        return "is required; add it"
    if kind == "extra_forbidden":
        known = sorted(_fields_by_alias(_model_at(loc[:-1])))
        close = difflib.get_close_matches(str(field), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"is not a known field; {hint}remove it or use one of: {', '.join(known)}"
    if kind == "literal_error":
        allowed = [_literal_text(part) for part in re.split(r", | or ", ctx["expected"])]
        choice = f"one of {', '.join(allowed)}" if len(allowed) > 1 else allowed[0]
        noun = _LITERAL_NOUN.get(str(field), "value")
        why = f" ({_LITERAL_HELP[str(field)]})" if str(field) in _LITERAL_HELP else ""
        return f"{_show(value)} is not a supported {noun}; use {choice}{why}"
    if kind == "string_pattern_mismatch":
        help_text = _PATTERN_HELP.get(str(ctx.get("pattern")), "fix its format")
        return f"{_show(value)} is not valid here; {help_text}"
    if kind in _JSON_TYPES:
        return f"must be {_JSON_TYPES[kind]}, not {_json_type(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is {len(str(value))} characters long; shorten it to {ctx['max_length']} at most"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s); add one"
    if kind == "too_long":
        return f"holds {ctx['actual_length']} items; keep at most {ctx['max_length']}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{_show(value)} is too small; use {_show(ctx.get('ge', ctx.get('gt')))} or more"
    if kind in ("less_than_equal", "less_than"):
        return f"{_show(value)} is too large; use {_show(ctx.get('le', ctx.get('lt')))} or less"
    # Our own PydanticCustomErrors already read as advice; pydantic's other messages are
    # plain sentences too (no reprs), so they are safe to show as they are.
    return error["msg"]

"""``UNLOAD ('<select>') TO 's3://...' IAM_ROLE '...' <options>``: build it safely, split it back.

:func:`build_unload` is the only place a query, an S3 target and a role become an
UNLOAD statement. The 2022 connector concatenated all three unchecked; here the query
must be a single SELECT and is escaped by :func:`~connector.sql.literals.quote_string`,
and the target and role must match strict patterns, so none of them can close the
literal and append SQL of their own.

:func:`split_unload` is the inverse, built on sqlglot's Redshift tokenizer (sqlglot
parses UNLOAD only as an opaque command). The DuckDB stand-in for Redshift uses it to
run the statements the crawlers send, so what runs offline is exactly what was built.

Options follow the Redshift UNLOAD reference: ``HEADER`` (the detector reads columns
by name), ``FORMAT AS CSV`` (fields with the delimiter, quotes or newlines are enclosed
in ``"`` and inner ``"`` doubled; UNLOAD has no QUOTE option, so the descriptor's
``QuoteSymbol`` must be ``"``), ``DELIMITER AS`` only when it is not CSV's default
comma, ``GZIP`` when the descriptor asks for it, ``ALLOWOVERWRITE`` so that a retried
or re-crawled interval replaces its files instead of failing, ``PARALLEL OFF`` so that
one interval is one file (the detector reads at most 5-10 files per interval; the 2022
connector's parallel unload could exceed that), and ``MAXFILESIZE`` when given.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.redshift import Redshift
from sqlglot.errors import SqlglotError

from connector.errors import ConnectorError, UnloadError
from connector.sql.literals import quote_string

__all__ = [
    "MAX_FILE_SIZE_MB",
    "MIN_FILE_SIZE_MB",
    "CsvOptions",
    "UnloadParts",
    "build_unload",
    "check_iam_role",
    "check_s3_uri",
    "parse_select",
    "split_unload",
    "strip_statement",
]

# MAXFILESIZE bounds from the UNLOAD reference.
MIN_FILE_SIZE_MB = 5
MAX_FILE_SIZE_MB = 6200

# s3://bucket/key: a bucket without dots (as params.json requires) and a key of the
# characters the detector's path patterns allow. No quote, backslash or control
# character can pass, so the target cannot end the SQL literal it is written into.
_S3_URI = re.compile(
    r"s3://(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])/(?P<key>[A-Za-z0-9_=./ -]{1,1000})"
)
# One role ARN; Redshift accepts a comma-separated chain of them, or the word 'default'.
_ROLE_ARN = re.compile(r"arn:aws[a-z-]{0,20}:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
_ROLE_CHAIN_SPLIT = re.compile(r",(?=arn:)")
_MAX_CHAINED_ROLES = 10
DEFAULT_ROLE = "default"

_REDSHIFT = Redshift()
_COMMAND_TOKENS = frozenset(Redshift.tokenizer_class.COMMANDS)


class CsvOptions(Protocol):
    """What :func:`build_unload` reads of params.json's ``CsvFormatDescriptor``."""

    @property
    def delimiter(self) -> str: ...

    @property
    def file_compression(self) -> str: ...

    @property
    def quote_symbol(self) -> str: ...


class UnloadParts(NamedTuple):
    """An UNLOAD statement taken apart by :func:`split_unload`."""

    query: str
    s3_uri: str
    iam_role: str
    options: dict[str, str | bool]
    """Option name (upper case) → value: ``True`` for flags, text otherwise.

    ``CSV`` and ``FORMAT [AS] CSV`` both give ``{"FORMAT": "CSV"}``; ``PARALLEL`` gives
    ``"ON"`` or ``"OFF"``; ``MAXFILESIZE`` gives e.g. ``"100 MB"``.
    """


# --- the query ------------------------------------------------------------------------


def _tokenize(
    sql: str, *, error: type[ConnectorError] = UnloadError, what: str = "the SQL"
) -> list[Token]:
    try:
        return list(_REDSHIFT.tokenize(sql))
    except SqlglotError as exc:
        raise error(f"{what} is not valid Redshift SQL: {_where_tokens_break(sql)}") from exc


def _tokenizes(sql: str) -> bool:
    try:
        _REDSHIFT.tokenize(sql)
    except SqlglotError:
        return False
    return True


# What an unclosed token needs to end, and how to tell the user.
_CLOSERS = (
    ("'", "a string literal", "close it with ' (a quote inside a string is written '')"),
    ('"', "a quoted identifier", 'close it with "'),
    ("*/", "a /* comment", "close it with */"),
)


def _where_tokens_break(sql: str) -> str:
    """The line of ``sql`` where tokenizing first goes wrong, and what is wrong there.

    sqlglot's own message points where it gave up: after an unclosed quote it pairs
    every later quote the wrong way round and fails lines further on, on a fragment
    such as ``':00'``. The line to blame is the one after the longest run of whole
    lines that still tokenizes; if adding a closing quote (or ``*/``) to it makes it
    tokenize, that line opens a literal it never closes.
    """
    lines = sql.splitlines(keepends=True)
    good = next(
        (count for count in range(len(lines) - 1, 0, -1) if _tokenizes("".join(lines[:count]))),
        0,
    )
    line = lines[good].strip() if lines else ""
    head = "".join(lines[: good + 1])
    for closer, opened, advice in _CLOSERS:
        if _tokenizes(head + closer):
            return f"its line {good + 1}, {line!r}, opens {opened} that is not closed; {advice}"
    return f"its line {good + 1}, {line!r}, cannot be split into SQL tokens; fix that line"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def parse_select(
    query: str, *, error: type[ConnectorError] = UnloadError, what: str = "the query"
) -> exp.Query:
    """Parse ``query`` (Redshift SQL) and require exactly one plain SELECT.

    Refused, with ``error`` and a message naming ``what``: SQL that does not parse,
    several statements, anything but a query (DML, DDL, UNLOAD itself), ``SELECT ...
    INTO`` (it creates a table) and a LIMIT on the outermost SELECT (UNLOAD rejects it;
    a LIMIT inside a subquery is fine).
    """
    return _parse_select_tokens(query, error=error, what=what)[0]


def _parse_select_tokens(
    query: str, *, error: type[ConnectorError], what: str
) -> tuple[exp.Query, list[Token]]:
    # Tokenized once: the tokens serve the command check, the parser and the caller.
    tokens = _tokenize(query, error=error, what=what)
    for index, token in enumerate(tokens):
        starts_statement = index == 0 or tokens[index - 1].token_type == TokenType.SEMICOLON
        # Statements sqlglot only knows as opaque commands (VACUUM, UNLOAD, CALL, ...)
        # are refused here, before the parser logs its fallback warning for them.
        if starts_statement and token.token_type in _COMMAND_TOKENS:
            raise error(f"{what} holds {token.text.upper()}, not a SELECT; UNLOAD takes one SELECT")
    try:
        parsed = _REDSHIFT.parser().parse(tokens, query)
    except SqlglotError as exc:
        raise error(f"{what} is not valid Redshift SQL: {_first_line(exc)}") from exc
    # sqlglot keeps a comment after the last ';' as a statement of its own (Semicolon)
    # and an empty statement between two ';' as None; neither is SQL that would run.
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if len(statements) != 1:
        raise error(
            f"{what} holds {len(statements)} statements; UNLOAD takes exactly one SELECT, "
            "so remove the others"
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = str(statement.this) if isinstance(statement, exp.Command) else statement.key
        raise error(f"{what} holds {kind.upper()}, not a SELECT; UNLOAD takes one SELECT")
    # Parentheses around the whole query do not make a subquery: check what is inside.
    outer = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    if outer.args.get("into") is not None:
        raise error(f"{what} uses SELECT ... INTO, which creates a table; remove the INTO")
    if outer.args.get("limit") is not None:
        raise error(
            f"{what} has a LIMIT on its outer SELECT, which UNLOAD rejects; wrap it: "
            "SELECT * FROM (<query> LIMIT n) AS limited"
        )
    return statement, tokens


def strip_statement(query: str, *, what: str = "the query") -> str:
    """The query text without surrounding whitespace and its trailing ``;``.

    Checks that it is a single SELECT (:func:`parse_select`). Anything after the
    semicolon can only be comments and is dropped with it.
    """
    _, tokens = _parse_select_tokens(query, error=UnloadError, what=what)
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            return query[: token.start].strip()
    return query.strip()


# --- target and role ------------------------------------------------------------------


def check_s3_uri(s3_uri: str) -> str:
    """Return ``s3_uri`` if it is a safe ``s3://bucket/key`` UNLOAD target, else raise."""
    match = _S3_URI.fullmatch(s3_uri)
    if match is None:
        raise UnloadError(
            f"UNLOAD target {s3_uri!r} is not an S3 URI the connector writes to; use "
            "s3://bucket/prefix/ with a bucket of 3-63 lowercase letters, digits and '-' "
            "and a key of letters, digits, '_', '-', '=', '.', '/' and spaces"
        )
    *folders, name = match["key"].split("/")
    # Only the last segment may be empty: a trailing '/' names a folder.
    if any(folder in ("", ".", "..") for folder in folders) or name in (".", ".."):
        raise UnloadError(
            f"UNLOAD target {s3_uri!r} has an empty, '.' or '..' path segment; "
            "use a plain prefix such as s3://bucket/ecommerce/live/20240301/0000/"
        )
    return s3_uri


def check_iam_role(iam_role_arn: str) -> str:
    """Return the role if it is ``default`` or (chained) IAM role ARNs, else raise."""
    if iam_role_arn == DEFAULT_ROLE:
        return iam_role_arn
    roles = _ROLE_CHAIN_SPLIT.split(iam_role_arn) if len(iam_role_arn) <= 4096 else []
    if (
        not roles
        or len(roles) > _MAX_CHAINED_ROLES
        or not all(_ROLE_ARN.fullmatch(role) for role in roles)
    ):
        raise UnloadError(
            f"IAM role {iam_role_arn!r} is not a role ARN; use the ARN of the role "
            "attached to the Redshift cluster or workgroup, such as "
            "arn:aws:iam::123456789012:role/RedshiftUnload, or 'default'"
        )
    return iam_role_arn


# --- build ----------------------------------------------------------------------------


def _format_options(csv: CsvOptions, max_file_size_mb: float | None) -> list[str]:
    if csv.quote_symbol != '"':
        raise UnloadError(
            f"QuoteSymbol {csv.quote_symbol!r} cannot be written: UNLOAD ... CSV always "
            'quotes with \'"\'; set CsvFormatDescriptor.QuoteSymbol to "\\""'
        )
    if len(csv.delimiter) != 1 or csv.delimiter in '"\r\n\x00':
        raise UnloadError(
            f"Delimiter {csv.delimiter!r} cannot be written; use one character other than "
            "'\"', a newline or NUL in CsvFormatDescriptor.Delimiter"
        )
    if csv.file_compression not in ("NONE", "GZIP"):
        raise UnloadError(
            f"FileCompression {csv.file_compression!r} is not supported; use NONE or GZIP"
        )
    options = ["HEADER", "FORMAT AS CSV"]
    if csv.delimiter != ",":
        options.append(f"DELIMITER AS {quote_string(csv.delimiter)}")
    if csv.file_compression == "GZIP":
        options.append("GZIP")
    options += ["ALLOWOVERWRITE", "PARALLEL OFF"]
    if max_file_size_mb is not None:
        if isinstance(max_file_size_mb, bool) or not (
            MIN_FILE_SIZE_MB <= max_file_size_mb <= MAX_FILE_SIZE_MB
        ):
            raise UnloadError(
                f"max file size {max_file_size_mb!r} MB is outside what UNLOAD accepts; "
                f"use {MIN_FILE_SIZE_MB} to {MAX_FILE_SIZE_MB} MB"
            )
        options.append(f"MAXFILESIZE {max_file_size_mb:g} MB")
    return options


def build_unload(
    query: str,
    *,
    s3_uri: str,
    iam_role_arn: str,
    csv: CsvOptions,
    max_file_size_mb: float | None = None,
    what: str = "the query",
) -> str:
    """Wrap a single SELECT in an UNLOAD that writes CSV files under ``s3_uri``.

    The statement has no trailing ``;`` (the Data API takes one statement). Raises
    :class:`UnloadError` when the query (named ``what`` in the message, e.g. by its
    template) is not a single SELECT, the target or role fails its pattern, or the CSV
    options cannot be expressed by UNLOAD.
    """
    select = strip_statement(query, what=what)
    target = check_s3_uri(s3_uri)
    role = check_iam_role(iam_role_arn)
    role_sql = "default" if role == DEFAULT_ROLE else quote_string(role)
    lines = [
        f"UNLOAD ({quote_string(select)})",
        f"TO {quote_string(target)}",
        f"IAM_ROLE {role_sql}",
        " ".join(_format_options(csv, max_file_size_mb)),
    ]
    return "\n".join(lines)


# --- split ----------------------------------------------------------------------------

_FLAGS = frozenset(
    {"HEADER", "GZIP", "BZIP2", "ZSTD", "ADDQUOTES", "ESCAPE", "ALLOWOVERWRITE", "CLEANPATH"}
)
_TEXT_OPTIONS = frozenset({"DELIMITER", "FIXEDWIDTH", "NULL", "REGION", "KMS_KEY_ID", "EXTENSION"})
_FORMATS = frozenset({"CSV", "PARQUET", "JSON"})
_PARALLEL = {"ON": "ON", "TRUE": "ON", "OFF": "OFF", "FALSE": "OFF"}


class _Reader:
    """A cursor over the tokens of an UNLOAD statement, with messages that say where."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def word(self) -> str | None:
        token = self.peek()
        if token is None or token.token_type in (TokenType.STRING, TokenType.NUMBER):
            return None
        return token.text.upper()

    def take(self, expected: str) -> Token:
        token = self.peek()
        if token is None:
            raise UnloadError(f"the UNLOAD statement ends where {expected} was expected")
        self.index += 1
        return token

    def string(self, what: str) -> str:
        token = self.take(what)
        if token.token_type != TokenType.STRING:
            raise UnloadError(f"UNLOAD: expected {what} as a quoted string, found {token.text!r}")
        return token.text

    def keyword(self, *words: str) -> str:
        token = self.take(" or ".join(words))
        if token.token_type in (TokenType.STRING, TokenType.NUMBER) or (
            token.text.upper() not in words
        ):
            raise UnloadError(f"UNLOAD: expected {' or '.join(words)}, found {token.text!r}")
        return token.text.upper()

    def optional(self, *words: str) -> str | None:
        word = self.word()
        if word in words:
            self.index += 1
            return word
        return None


def _read_options(reader: _Reader) -> dict[str, str | bool]:
    options: dict[str, str | bool] = {}

    def put(name: str, value: str | bool) -> None:
        if name in options:
            raise UnloadError(f"UNLOAD: option {name} is given twice; keep one")
        options[name] = value

    while (token := reader.peek()) is not None:
        name = reader.word()
        if name is None:
            raise UnloadError(f"UNLOAD: expected an option name, found {token.text!r}")
        reader.index += 1
        if name in _FLAGS:
            put(name, True)
        elif name in _FORMATS:
            put("FORMAT", name)
        elif name == "FORMAT":
            reader.optional("AS")
            put("FORMAT", reader.keyword(*sorted(_FORMATS)))
        elif name in _TEXT_OPTIONS:
            reader.optional("AS")
            put(name, reader.string(f"the {name} value"))
        elif name == "PARALLEL":
            setting = reader.optional(*_PARALLEL)
            put(name, _PARALLEL[setting] if setting else "ON")
        elif name == "MANIFEST":
            put(name, "VERBOSE" if reader.optional("VERBOSE") else True)
        elif name == "ENCRYPTED":
            put(name, "AUTO" if reader.optional("AUTO") else True)
        elif name in ("MAXFILESIZE", "ROWGROUPSIZE"):
            reader.optional("AS")
            size = reader.take(f"the {name} value")
            if size.token_type != TokenType.NUMBER:
                raise UnloadError(f"UNLOAD: {name} needs a number, found {size.text!r}")
            unit = reader.optional("MB", "GB") or "MB"
            put(name, f"{size.text} {unit}")
        else:
            raise UnloadError(
                f"UNLOAD: option {token.text!r} is not supported here; the connector reads "
                "HEADER, FORMAT, DELIMITER, GZIP/BZIP2/ZSTD, ALLOWOVERWRITE, PARALLEL, "
                "MAXFILESIZE and the other documented scalar options"
            )
    return options


def split_unload(statement: str) -> UnloadParts:
    """Take an UNLOAD statement apart: the SELECT, the S3 target, the role, the options.

    The inverse of :func:`build_unload`: string literals are unescaped by sqlglot's
    Redshift tokenizer, so ``split_unload(build_unload(q, ...)).query`` is ``q``
    (without its trailing ``;``). Raises :class:`UnloadError` for anything that is not
    ``UNLOAD ('...') TO '...' IAM_ROLE {'...' | default} [option ...] [;]``, or whose
    target or role fails the patterns :func:`build_unload` enforces.
    """
    tokens = _tokenize(statement)
    if not tokens or tokens[0].text.upper() != "UNLOAD":
        raise UnloadError("not an UNLOAD statement: it must start with UNLOAD")
    if tokens[0].token_type == TokenType.COMMAND:
        # sqlglot reads UNLOAD as an opaque command and keeps the rest as one string;
        # tokenize that rest to get the literals and options.
        tokens = _tokenize(statement[tokens[0].end + 1 :])
    else:
        tokens = tokens[1:]
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise UnloadError("the UNLOAD statement is followed by another statement; send one")
    reader = _Reader(tokens)
    if reader.take("(").token_type != TokenType.L_PAREN:
        raise UnloadError("UNLOAD: expected ('<select>') after UNLOAD")
    query = reader.string("the SELECT")
    if reader.take(")").token_type != TokenType.R_PAREN:
        raise UnloadError("UNLOAD: expected ')' after the quoted SELECT")
    reader.keyword("TO")
    s3_uri = check_s3_uri(reader.string("the S3 target"))
    reader.keyword("IAM_ROLE")
    role_token = reader.take("the IAM role")
    if role_token.token_type == TokenType.STRING:
        iam_role = check_iam_role(role_token.text)
    elif role_token.text.upper() == "DEFAULT":
        iam_role = DEFAULT_ROLE
    else:
        raise UnloadError(
            f"UNLOAD: expected a quoted role ARN or default, found {role_token.text!r}"
        )
    return UnloadParts(query, s3_uri, iam_role, _read_options(reader))

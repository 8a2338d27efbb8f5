"""The timestamp column's text: a Java SimpleDateFormat pattern as Redshift ``TO_CHAR``.

params.json describes the timestamp the detector reads with L4M's ``ColumnFormat``,
a SimpleDateFormat pattern (``yyyy-MM-dd HH:mm:ss``). The query must write exactly
that text, so the pattern is translated here, once, instead of in every template.

Quoted literal text (``'T'``) is not put into the ``TO_CHAR`` format but concatenated
as its own string literal: letters inside a ``TO_CHAR`` format may be read as
patterns, and sqlglot (which turns the query into DuckDB SQL offline) passes
``"..."`` format literals through verbatim. Splitting keeps both engines exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import TemplateError
from connector.sql.literals import quote_string

__all__ = ["SUPPORTED_PATTERNS", "UTC_ZONES", "java_to_char"]

# SimpleDateFormat letter and width → Redshift TO_CHAR pattern. Only zero-padded
# fields: Redshift has no documented unpadded month/day/hour, and a pattern with
# variable-width fields cannot be parsed back reliably anyway.
_FIELDS: dict[tuple[str, int], str] = {
    ("y", 4): "YYYY",
    ("y", 2): "YY",
    ("M", 2): "MM",
    ("d", 2): "DD",
    ("H", 2): "HH24",
    ("m", 2): "MI",
    ("s", 2): "SS",
}
# Zone designators print a constant for UTC: 'X', 'XX', 'XXX' → "Z"; 'Z' → "+0000".
_UTC_ZONE_TEXT: dict[tuple[str, int], str] = {
    ("X", 1): "Z",
    ("X", 2): "Z",
    ("X", 3): "Z",
    ("Z", 1): "+0000",
}
SUPPORTED_PATTERNS = "yyyy, yy, MM, dd, HH, mm, ss, 'quoted text', and X or Z in UTC"
# Separators that mean themselves in both Redshift TO_CHAR and DuckDB strftime.
_SEPARATORS = frozenset(" -:/.,_")
UTC_ZONES = frozenset({"UTC", "Etc/UTC"})


@dataclass(frozen=True)
class _Piece:
    text: str
    is_pattern: bool


def _pieces(pattern: str, zone_name: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            literal, i = _quoted(pattern, i)
            pieces.append(_Piece(literal, is_pattern=False))
            continue
        if char.isascii() and char.isalpha():
            width = 1
            while i + width < len(pattern) and pattern[i + width] == char:
                width += 1
            pieces.append(_field(pattern, char, width, zone_name))
            i += width
            continue
        pieces.append(_Piece(char, is_pattern=char in _SEPARATORS))
        i += 1
    return pieces


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """Text of a quoted run starting at ``pattern[start] == "'"``, and the index after it."""
    if pattern.startswith("''", start):
        return "'", start + 2
    chars: list[str] = []
    i = start + 1
    while i < len(pattern):
        if pattern[i] == "'":
            if pattern.startswith("''", i):
                chars.append("'")
                i += 2
                continue
            return "".join(chars), i + 1
        chars.append(pattern[i])
        i += 1
    raise TemplateError(
        f"timestamp_column.ColumnFormat {pattern!r} has an unterminated quote; close the "
        "literal text with ' (write '' for a quote character)"
    )


def _field(pattern: str, letter: str, width: int, zone_name: str) -> _Piece:
    key = (letter, width)
    if key in _FIELDS:
        return _Piece(_FIELDS[key], is_pattern=True)
    if key in _UTC_ZONE_TEXT:
        if zone_name not in UTC_ZONES:
            raise TemplateError(
                f"timestamp_column.ColumnFormat {pattern!r} prints a zone offset "
                f"({letter * width}), which is only constant in UTC but detector.timezone "
                f"is {zone_name!r}; drop the zone letter or use UTC"
            )
        return _Piece(_UTC_ZONE_TEXT[key], is_pattern=False)
    raise TemplateError(
        f"timestamp_column.ColumnFormat {pattern!r}: {letter * width!r} is not supported; "
        f"use {SUPPORTED_PATTERNS} (e.g. 'yyyy-MM-dd HH:mm:ss')"
    )


def java_to_char(column_sql: str, pattern: str, zone_name: str = "UTC") -> str:
    """SQL that formats timestamp ``column_sql`` (UTC) as ``pattern`` in ``zone_name``.

    ``java_to_char("e.ts", "yyyy-MM-dd HH:mm:ss")`` gives
    ``TO_CHAR(e.ts, 'YYYY-MM-DD HH24:MI:SS')``; quoted text becomes a concatenated
    literal: ``yyyy-MM-dd'T'HH:mm:ss'Z'`` gives
    ``(TO_CHAR(e.ts, 'YYYY-MM-DD') || 'T' || TO_CHAR(e.ts, 'HH24:MI:SS') || 'Z')``.
    Outside UTC the column is converted with ``CONVERT_TIMEZONE('UTC', zone, ...)`` so
    the text shows the detector's wall clock. ``column_sql`` is SQL written by the
    template author and is inserted as is.
    """
    source = column_sql
    if zone_name not in UTC_ZONES:
        source = f"CONVERT_TIMEZONE('UTC', {quote_string(zone_name)}, {column_sql})"
    segments: list[_Piece] = []
    for piece in _pieces(pattern, zone_name):
        if segments and segments[-1].is_pattern == piece.is_pattern:
            segments[-1] = _Piece(segments[-1].text + piece.text, piece.is_pattern)
        else:
            segments.append(piece)
    if not any(segment.is_pattern for segment in segments):
        raise TemplateError(
            f"timestamp_column.ColumnFormat {pattern!r} has no date fields; "
            "use e.g. 'yyyy-MM-dd HH:mm:ss'"
        )
    parts = [
        f"TO_CHAR({source}, {quote_string(s.text)})" if s.is_pattern else quote_string(s.text)
        for s in segments
    ]
    return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"

"""SQL text built from values: string literals, identifiers, timestamps.

Every value that becomes SQL text goes through one of these functions, so escaping
lives in one tested place and never in a template.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["quote_identifier", "quote_string", "timestamp_literal"]


def quote_string(text: str) -> str:
    """``text`` as a Redshift string literal that reads back as exactly ``text``.

    Redshift treats both ``''`` and ``\\`` as escapes inside a literal (the UNLOAD
    reference asks for quotes *and* backslashes in the query to be escaped), so both
    are doubled. This is the quoting that keeps ``UNLOAD ('<query>')`` intact: the
    2022 connector concatenated the query in unescaped and broke on the first ``'``.
    """
    if "\x00" in text:
        # Redshift rejects NUL in text; failing here names the cause.
        raise ValueError("a SQL string literal cannot contain the NUL character")
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """``name`` as a delimited identifier.

    params.json names are already restricted to letters, digits, ``-`` and ``_``;
    quoting keeps ``-`` and reserved words such as ``timestamp`` legal. Redshift still
    folds delimited identifiers to lowercase unless ``enable_case_sensitive_identifier``
    is on, which is why column names are compared case-insensitively elsewhere.
    """
    return '"' + name.replace('"', '""') + '"'


def timestamp_literal(instant: datetime) -> str:
    """A typed ``TIMESTAMP '...'`` literal of ``instant`` in UTC.

    Warehouse timestamps (``TIMESTAMP`` without time zone) are taken to be UTC, so an
    aware instant in any zone is converted to UTC first. Naive datetimes are refused:
    guessing their zone would shift every window by the detector's offset.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no time zone; pass an aware datetime")
    utc = instant.astimezone(UTC).replace(tzinfo=None)
    text = utc.isoformat(sep=" ", timespec="microseconds" if utc.microsecond else "seconds")
    return f"TIMESTAMP '{text}'"

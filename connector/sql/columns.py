"""Which columns a query writes, checked against what params.json says the detector reads."""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from connector.errors import TemplateError
from connector.sql.unload import parse_select

__all__ = ["check_output_columns", "output_columns"]


def _has_star(query: exp.Query) -> bool:
    return any(
        isinstance(column, exp.Star) or (isinstance(column, exp.Column) and column.is_star)
        for column in query.selects
    )


def output_columns(query: str, *, what: str = "the query") -> list[str]:
    """The names of the columns ``query`` outputs, lower-cased as Redshift folds them.

    Aliases, bare columns and ``table.column`` give their names (of a UNION, the first
    branch's, as Redshift does). ``*`` is expanded when it selects from a CTE or
    subquery whose columns are visible in the query; a ``*`` over a table cannot be
    checked without the table's schema and raises :class:`TemplateError`, because a
    check that silently passes would let a missing column reach the detector.
    """
    select = parse_select(query, error=TemplateError, what=what)
    if _has_star(select):
        try:
            select = qualify(
                select.copy(),
                dialect="redshift",
                validate_qualify_columns=False,
                quote_identifiers=False,
            )
        except SqlglotError as exc:
            raise TemplateError(
                f"{what}: the columns behind '*' cannot be worked out ({exc}); "
                "list the output columns by name"
            ) from exc
        if not isinstance(select, exp.Query) or _has_star(select):
            raise TemplateError(
                f"{what} selects '*' from a table, so its output columns cannot be checked "
                'without the table; list them by name (e.g. SELECT ts AS "timestamp", ...)'
            )
    # Redshift folds identifiers, quoted or not, to lower case unless
    # enable_case_sensitive_identifier is on; the CSV header shows the folded names.
    return [column.output_name.lower() for column in select.selects]


def check_output_columns(
    query: str, required: Iterable[str], *, what: str = "the query"
) -> list[str]:
    """The ``required`` names (in their order) that ``query`` does not output.

    Compared case-insensitively, since Redshift folds identifiers. Raises
    :class:`TemplateError`, naming the query as ``what``, when it is not a single
    SELECT or its columns cannot be determined (see :func:`output_columns`).
    """
    present = set(output_columns(query, what=what))
    return [name for name in required if name.lower() not in present]

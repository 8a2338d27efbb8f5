"""Query templates (``queries/*.sql.j2``) rendered into the SELECT of one window.

A template sees (documented for users at the top of ``queries/ecommerce.sql.j2``):

``window_start``, ``window_end``
    The window as typed SQL literals, ``TIMESTAMP '2024-03-01 00:00:00'``, in UTC:
    warehouse timestamps (``TIMESTAMP`` without time zone) are taken to be UTC. Filter
    half-open, ``ts >= {{ window_start }} AND ts < {{ window_end }}``, so that adjacent
    windows neither overlap nor leave a gap.
``timestamp_expr(column_sql)``
    SQL formatting a UTC timestamp column as ``timestamp_column.ColumnFormat`` in
    ``detector.timezone`` (see :mod:`connector.sql.timeformat`).
``timestamp_column``, ``dimensions``, ``measures``
    Column names from params.json (a string, two lists of strings).
``ident(name)``, ``literal(text)``
    A quoted identifier and a quoted string literal, for generic templates.

Templates are data that users edit; they render in a sandbox with ``StrictUndefined``,
and every failure becomes a :class:`TemplateError` naming the file and line.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.errors import ConnectorError, PlanError, TemplateError
from connector.sql.literals import quote_identifier, quote_string, timestamp_literal
from connector.sql.timeformat import java_to_char

if TYPE_CHECKING:
    from connector.config import Params
    from connector.intervals import Interval

__all__ = ["TEMPLATE_VARIABLES", "environment", "render_query", "template_context"]

TEMPLATE_VARIABLES = (
    "window_start",
    "window_end",
    "timestamp_expr()",
    "timestamp_column",
    "dimensions",
    "measures",
    "ident()",
    "literal()",
)


@functools.lru_cache(maxsize=16)
def environment(queries_dir: Path) -> jinja2.Environment:
    """The one Jinja environment of a templates directory (cached per resolved path)."""
    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(queries_dir),
        undefined=jinja2.StrictUndefined,
        # SQL is not HTML; values reach SQL only through ident()/literal() and the
        # pre-quoted window literals.
        autoescape=False,
        # The rendered SELECT is embedded in UNLOAD ('...'); a trailing newline only
        # adds noise there, and render_query strips surrounding whitespace anyway.
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_context(*, window: Interval, params: Params) -> dict[str, Any]:
    """The variables a template sees for ``window`` (see the module docstring)."""
    start, end = window
    for bound, label in ((start, "start"), (end, "end")):
        if bound.tzinfo is None or bound.utcoffset() is None:
            raise PlanError(
                f"window {label} {bound.isoformat()} has no time zone; pass aware datetimes"
            )
    if end <= start:
        raise PlanError(
            f"window {start.isoformat()} → {end.isoformat()} is empty or reversed; "
            "the end must be after the start"
        )
    timestamp_format = params.timestamp_column.column_format
    zone_name = params.detector.timezone

    def timestamp_expr(column_sql: str) -> str:
        return java_to_char(str(column_sql), timestamp_format, zone_name)

    return {
        "window_start": timestamp_literal(start),
        "window_end": timestamp_literal(end),
        "timestamp_expr": timestamp_expr,
        "timestamp_column": params.timestamp_column.column_name,
        "dimensions": list(params.dimension_list),
        "measures": [metric.metric_name for metric in params.metrics_set],
        "ident": lambda name: quote_identifier(str(name)),
        "literal": lambda text: quote_string(str(text)),
    }


def _location(tb: TracebackType | None, directory: Path, fallback: str) -> str:
    """``file, line N`` of the innermost template frame in a (Jinja-rewritten) traceback."""
    where = fallback
    root = str(directory)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or filename.startswith(root):
            where = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where


def render_query(
    template_name: str,
    *,
    window: Interval,
    params: Params,
    queries_dir: Path | None = None,
) -> str:
    """Render ``template_name`` into the SELECT for ``window`` (no trailing ``;``).

    ``queries_dir`` defaults to params.json's ``crawl.queries_dir`` (relative to the
    params file). Raises :class:`TemplateError` naming the file and line when the
    template is missing, has a syntax error, uses an undefined variable or fails while
    rendering; :class:`PlanError` when the window is naive, empty or reversed.
    """
    directory = Path(queries_dir if queries_dir is not None else params.queries_path)
    directory = directory.resolve()
    path = directory / template_name
    if not directory.is_dir():
        raise TemplateError(
            f"queries directory {directory} does not exist; create it or set "
            "crawl.queries_dir in params.json (relative to the params file)"
        )
    context = template_context(window=window, params=params)
    env = environment(directory)
    try:
        template = env.get_template(template_name)
    except jinja2.TemplateNotFound as exc:
        available = sorted(p.name for p in directory.glob("*.sql.j2"))
        raise TemplateError(
            f"query template {path} not found; add it or set crawl.templates in params.json "
            f"to one of: {', '.join(available) or '(no *.sql.j2 files there)'}"
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.filename or path}, line {exc.lineno}: template syntax error: {exc.message}; "
            "fix the template (Jinja syntax: {{ expression }}, {% statement %}, {# comment #})"
        ) from exc
    try:
        return template.render(context).strip()
    except jinja2.UndefinedError as exc:
        where = _location(exc.__traceback__, directory, str(path))
        raise TemplateError(
            f"{where}: {exc.message}; a query template can use {', '.join(TEMPLATE_VARIABLES)}"
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.filename or path}, line {exc.lineno}: template syntax error: {exc.message}"
        ) from exc
    except ConnectorError as exc:
        where = _location(exc.__traceback__, directory, str(path))
        raise TemplateError(f"{where}: {exc}") from exc
    except Exception as exc:  # any failure inside user-written template code
        where = _location(exc.__traceback__, directory, str(path))
        raise TemplateError(
            f"{where}: rendering failed: {type(exc).__name__}: {exc}; fix the template"
        ) from exc

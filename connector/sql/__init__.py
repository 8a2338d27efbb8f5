"""SQL the crawlers send to Redshift: templates rendered per window, wrapped in UNLOAD.

The public names live here; the submodules split the work: :mod:`~.literals`
(escaping), :mod:`~.timeformat` (ColumnFormat → TO_CHAR), :mod:`~.templates`
(Jinja), :mod:`~.unload` (build and split UNLOAD), :mod:`~.columns` (output column
check) and :mod:`~.targets` (S3 targets and whole statements per crawl).
"""

from __future__ import annotations

from connector.sql.columns import check_output_columns, output_columns
from connector.sql.literals import quote_identifier, quote_string, timestamp_literal
from connector.sql.targets import (
    CRAWL_KINDS,
    CrawlKind,
    render_unload,
    rendered_from,
    unload_target,
)
from connector.sql.templates import TEMPLATE_VARIABLES, render_query, template_context
from connector.sql.timeformat import java_to_char
from connector.sql.unload import (
    UnloadParts,
    build_unload,
    check_iam_role,
    check_s3_uri,
    parse_select,
    split_unload,
    strip_statement,
)

__all__ = [
    "CRAWL_KINDS",
    "TEMPLATE_VARIABLES",
    "CrawlKind",
    "UnloadParts",
    "build_unload",
    "check_iam_role",
    "check_output_columns",
    "check_s3_uri",
    "java_to_char",
    "output_columns",
    "parse_select",
    "quote_identifier",
    "quote_string",
    "render_query",
    "render_unload",
    "rendered_from",
    "split_unload",
    "strip_statement",
    "template_context",
    "timestamp_literal",
    "unload_target",
]

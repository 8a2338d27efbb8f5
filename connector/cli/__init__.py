"""The ``connector`` command.

Each area of the product registers its commands from its own module (see
``_COMMAND_MODULES``); this module only builds the app and turns domain errors into
a clear message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from connector.cli.console import error_console
from connector.errors import ConnectorError

app = typer.Typer(
    name="connector",
    help="Crawl Redshift into S3 interval folders and detect anomalies — on AWS or offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that define ``register(app)``; each owns the commands of one area.
_COMMAND_MODULES: tuple[str, ...] = ("params", "core", "detector", "local", "recovery")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"connector.cli.{_name}").register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; a domain error becomes a message and its exit code.

    Usage errors (unknown command, bad option) are typer's own: it prints them with the
    command's usage line and exits 2.
    """
    try:
        app(args=argv, prog_name="connector")
    except ConnectorError as exc:
        error_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_console.print("interrupted")
        sys.exit(130)

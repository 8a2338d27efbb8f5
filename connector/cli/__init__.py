"""The ``connector`` command.

Each area of the product registers its commands from its own module (see
``_COMMAND_MODULES``); this module only builds the app and turns domain errors into
a clear message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click
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
_COMMAND_MODULES: tuple[str, ...] = ("params", "core", "detector", "local")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"connector.cli.{_name}").register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map domain errors to exit codes, never a traceback."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="connector", standalone_mode=False)
    except ConnectorError as exc:
        error_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        error_console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        error_console.print("interrupted")
        sys.exit(130)

"""Commands about params.json itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.console import console
from connector.config import Params
from connector.errors import ParamsError


def schema_text() -> str:
    """The JSON Schema of params.json, as committed in params.schema.json."""
    schema = Params.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "params.json of the Redshift anomaly connector"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema(
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write the schema to this file, not stdout."),
        ] = None,
    ) -> None:
        """Print the JSON Schema of params.json (for editors and CI checks)."""
        text = schema_text()
        if output is None:
            console.out(text, end="", highlight=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ParamsError(f"cannot write the schema to {output}: {exc.strerror}") from exc

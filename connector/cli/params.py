"""Commands about params.json itself: check a file, print the schema editors use."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from connector.cli.console import console
from connector.config import Params, load_params
from connector.errors import ParamsError


def schema_text() -> str:
    """The JSON Schema of params.json, as committed in params.schema.json."""
    schema = Params.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "params.json of the Redshift anomaly connector"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def summary(params: Params) -> Table:
    """What a params.json makes the connector do, one row per decision."""
    table = Table(show_header=False, box=None)
    source = params.metric_source.s3_source_config
    rows = {
        "detector": f"{params.detector_name} ({params.detector.backend})",
        "frequency": f"{params.detector_frequency} in {params.detector.timezone}",
        "timestamp": f"{params.timestamp_name} as {params.timestamp_format}",
        "dimensions": ", ".join(params.dimensions) or "(none)",
        "measures": ", ".join(
            f"{m.aggregation_function}({m.metric_name})" for m in params.metrics_set
        ),
        "history": _history(params),
        "historical path": source.historical_data_path_list[0] or "(filled at deploy time)",
        "live path": source.templated_path_list[0] or "(filled at deploy time)",
        "queries": str(params.queries_path),
        "secret": params.secret,
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table


def _history(params: Params) -> str:
    start = params.crawl.historical_start
    if isinstance(start, timedelta):
        return f"the last {start.days} days, in chunks of {params.crawl.chunk_intervals} intervals"
    return f"from {start.isoformat()}, in chunks of {params.crawl.chunk_intervals} intervals"


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

    @app.command("check-params")
    def check_params(
        path: Annotated[Path, typer.Argument(help="The params.json to check.")] = Path(
            "params.json"
        ),
    ) -> None:
        """Validate a params.json and show what it makes the connector do."""
        console.print(summary(load_params(path)), highlight=False)

"""Synthesized stacks and template helpers shared by the infrastructure tests.

A module of its own, not conftest.py: tests/e2e has a conftest.py too, and a test
importing ``conftest`` by name could get the other one when both folders run in one
session.

Synthesizing takes ~2 s a stack, so each variant is synthesized once per test process
(``lru_cache``) and handed to test modules through module-scoped fixtures.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Before aws_cdk is imported: Node 20's end-of-life banner only stays quiet when this
# names the running major version.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]
INFRA_DATA = REPO / "tests" / "data" / "infra"
PROVISIONED = INFRA_DATA / "params_provisioned.json"
SERVERLESS = INFRA_DATA / "params_serverless.json"
_SCRATCH = Path(tempfile.mkdtemp(prefix="connector-infra-tests-"))


def params_variant(base: Path, changes: dict[str, Any]) -> Path:
    """A params.json like ``base`` with top-level sections merged from ``changes``."""
    data = json.loads(base.read_text(encoding="utf-8"))
    merged = copy.deepcopy(data)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged["crawl"]["queries_dir"] = str(REPO / "queries")
    digest = abs(hash(json.dumps(merged, sort_keys=True)))
    path = _SCRATCH / f"params-{digest}.json"
    path.write_text(json.dumps(merged, indent=2), encoding="utf-8")
    return path


def retired_backend(changes: dict[str, Any]) -> bool:
    """Lookout for Metrics: its stack is what deploys where boto3 still has the client,
    so tests synthesize it without the backend check that stops synth here."""
    return bool(changes.get("detector", {}).get("backend") == "lookoutmetrics")


@functools.cache
def _template(base: str, changes_json: str) -> str:
    from connector.infra.synth import synth_template

    changes = json.loads(changes_json)
    path = params_variant(Path(base), changes) if changes else Path(base)
    return json.dumps(synth_template(path, bundle=False, validate=not retired_backend(changes)))


def template_of(base: Path = PROVISIONED, **changes: Any) -> dict[str, Any]:
    """The synthesized template (a fresh copy) of ``base`` with ``changes``."""
    return json.loads(_template(str(base), json.dumps(changes, sort_keys=True)))


def resources_of(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == type_name
    }


def definition_of(template: dict[str, Any], output: str, arn: str = "arn:aws:x") -> dict[str, Any]:
    """The ASL of the state machine an output names, tokens replaced by dummy values."""
    logical_id = template["Outputs"][output]["Value"]["Ref"]
    body = template["Resources"][logical_id]["Properties"]["DefinitionString"]
    return json.loads(resolve_tokens(body, arn))


def resolve_tokens(value: Any, arn: str = "arn:aws:x") -> str:
    """A string from ``Fn::Join`` of strings and Ref/GetAtt, those replaced by dummies."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_tokens(part, arn) for part in parts)
    if "Ref" in value:
        return {
            "AWS::Partition": "aws",
            "AWS::Region": "eu-west-1",
            "AWS::AccountId": "123456789012",
        }.get(value["Ref"], f"{arn}:{value['Ref']}")
    if "Fn::GetAtt" in value:
        name = value["Fn::GetAtt"][0]
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
    raise AssertionError(f"unexpected intrinsic in a definition: {value}")

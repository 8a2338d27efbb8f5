"""The bad-input corpus: every malformed input is refused clearly, with exit code 2.

Each case of ``tests/data/bad_inputs/cases.json`` runs through the real entry point
(``connector.cli.main``) in a copy of the corpus, and must: exit with 2, print every
``expect`` substring (the file, field or line, and what to do) and no ``absent`` one,
print no traceback, and leave every file as it was (nothing written, nothing
removed). A handful also run in a subprocess, as a user's shell would run them.
Cases marked ``xfail`` are defects of other modules, tracked here until fixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

import connector.cli

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "bad_inputs"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = MANIFEST["cases"]
KINDS = {"params", "template", "cli"}
# Run in a real process too: one per kind, and one that fails inside click itself.
SUBPROCESS_CASES = {
    "params-injection-dimension",
    "params-not-utf8",
    "template-delete-statement",
    "cli-end-before-start",
    "cli-unknown-option",
    "cli-run-local-end-before-start",
    "cli-run-local-warehouse-not-duckdb",
}


def _param(case: dict[str, Any]) -> Any:
    marks = []
    if "xfail" in case:
        marks.append(pytest.mark.xfail(reason=case["xfail"], strict=True))
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the corpus (at the same depth below a copy of queries/), as cwd."""
    copy = tmp_path / "tests" / "data" / "bad_inputs"
    shutil.copytree(CORPUS, copy)
    shutil.copytree(REPO / "queries", tmp_path / "queries")
    monkeypatch.chdir(copy)
    for name in ("CONNECTOR_BUCKET", "CONNECTOR_UNLOAD_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _create_warehouse(case: dict[str, Any]) -> None:
    """The DuckDB database a case names (binary: not kept in the corpus), empty or built
    by the case's ``warehouse_sql``."""
    if "warehouse" in case:
        with duckdb.connect(case["warehouse"]) as connection:
            for statement in case.get("warehouse_sql", []):
                connection.execute(statement)


def _check_output(case: dict[str, Any], code: object, out: str, err: str) -> None:
    text = out + err
    assert "Traceback" not in text, text
    assert code == 2, f"exit code {code!r}\n{text}"
    missing = [part for part in case["expect"] if part not in err]
    assert not missing, f"stderr lacks {missing}:\n{err}"
    present = [part for part in case.get("absent", ()) if part in text]
    assert not present, f"output has {present}:\n{text}"


# --- the manifest itself --------------------------------------------------------------


def test_the_corpus_is_large_varied_and_consistent() -> None:
    # Given the manifest
    ids = [case["id"] for case in CASES]
    # Then it holds at least 30 distinct cases of every kind, each with its files present
    assert len(CASES) >= 30
    assert len(set(ids)) == len(ids)
    assert {case["kind"] for case in CASES} == KINDS
    for case in CASES:
        assert case["expect"], case["id"]
        assert case["why"], case["id"]
        for name in case["files"]:
            assert (CORPUS / name).is_file(), f"{case['id']}: {name} is missing"
    # And every data file is used by some case (no orphan after an edit)
    used = {name for case in CASES for name in case["files"]}
    helpers = {"params/valid.json"}
    on_disk = {
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*")
        if path.is_file() and path.name not in ("cases.json", "README.md")
    }
    assert on_disk - used - helpers == set()


# --- every case through the real entry point -----------------------------------------


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_is_refused_clearly(
    case: dict[str, Any], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a copy of the corpus and its contents
    _create_warehouse(case)
    before = _snapshot(corpus)
    # When the command of the case runs through the real entry point
    with pytest.raises(SystemExit) as exited:
        connector.cli.main(case["args"])
    captured = capsys.readouterr()
    # Then it exits 2 with a message naming what to fix, no traceback, nothing written
    _check_output(case, exited.value.code, captured.out, captured.err)
    assert _snapshot(corpus) == before


@pytest.mark.parametrize("case", [_param(case) for case in CASES if case["id"] in SUBPROCESS_CASES])
def test_bad_input_on_a_real_console(case: dict[str, Any], corpus: Path) -> None:
    # Given the installed console script's module, run as a user's shell would
    _create_warehouse(case)
    before = _snapshot(corpus)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CONNECTOR_BUCKET", "CONNECTOR_UNLOAD_ROLE_ARN")
    }
    # When the case runs in its own process (wide terminal: no wrapping of the message)
    done = subprocess.run(
        [sys.executable, "-m", "connector", *case["args"]],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"},
        timeout=60,
        check=False,
    )
    # Then the same: exit 2, the message, no traceback, nothing written
    _check_output(case, done.returncode, done.stdout, done.stderr)
    assert _snapshot(corpus) == before
    assert {c["id"] for c in CASES} >= SUBPROCESS_CASES


# --- found while building the corpus --------------------------------------------------


def test_a_comment_after_the_trailing_semicolon_is_accepted(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo query ending in ';' and a comment line
    folder = corpus / "tests" / "data" / "bad_inputs" / "templates"
    query = (corpus / "queries" / "ecommerce.sql.j2").read_text(encoding="utf-8")
    (folder / "commented.sql.j2").write_text(query.rstrip() + ";\n-- end of query\n")
    params = json.loads((folder / "delete_statement.params.json").read_text(encoding="utf-8"))
    params["crawl"]["templates"] = {
        "historical": "commented.sql.j2",
        "continuous": "commented.sql.j2",
    }
    (folder / "commented.params.json").write_text(json.dumps(params))
    # When validate checks it
    with pytest.raises(SystemExit) as exited:
        connector.cli.main(["validate", "templates/commented.params.json"])
    # Then it passes
    assert exited.value.code == 0, capsys.readouterr().err

"""Fixtures of the infrastructure tests; the helpers live in infra_support.py."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import PROVISIONED, SERVERLESS, template_of


@pytest.fixture(scope="module")
def provisioned() -> dict[str, Any]:
    return template_of(PROVISIONED)


@pytest.fixture(scope="module")
def serverless() -> dict[str, Any]:
    return template_of(SERVERLESS)

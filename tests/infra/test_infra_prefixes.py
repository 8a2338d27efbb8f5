"""The key prefixes IAM is scoped to match where the crawlers really write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from infra_support import PROVISIONED

from connector.config import load_params
from connector.crawl import plan_continuous, plan_historical
from connector.infra.prefixes import key_prefixes
from connector.intervals import last_closed_interval

pytestmark = pytest.mark.infra

NOW = datetime(2026, 11, 24, 11, 2, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/unload"


def test_prefixes_of_the_deployed_layout() -> None:
    assert key_prefixes(load_params(PROVISIONED)) == (
        "ecommerce/",
        "ecommerce/historical/",
        "ecommerce/live/",
    )


def test_every_planned_target_lies_under_a_granted_prefix() -> None:
    # Given params.json with its own bucket and paths (an existing bucket)
    params = load_params(PROVISIONED)
    params = params.model_copy(update={"s3_bucket": "team-data"})
    source = params.metric_source.s3_source_config.model_copy(
        update={
            "historical_data_path_list": ("s3://team-data/sales/backfill/",),
            "templated_path_list": ("s3://team-data/sales/hourly/{{yyyyMMdd}}/{{HHmm}}/",),
        }
    )
    params = params.model_copy(
        update={
            "metric_source": params.metric_source.model_copy(update={"s3_source_config": source})
        }
    )
    prefixes = key_prefixes(params)
    assert prefixes.historical == "sales/backfill/"
    assert prefixes.live == "sales/hourly/"
    # When both crawls plan, Then each target is inside what the UNLOAD role may write
    statements = plan_historical(params, now=NOW, bucket="team-data", role_arn=ROLE)
    closed = last_closed_interval(NOW, params.frequency, params.timezone)
    statements += plan_continuous(params, [closed], bucket="team-data", role_arn=ROLE, run_id="r")
    for statement in statements:
        key = statement["target"].removeprefix("s3://team-data/")
        assert key.startswith((prefixes.historical, prefixes.live)), key

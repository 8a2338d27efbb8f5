"""When the continuous crawler fires, for each frequency."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import PROVISIONED, resources_of, template_of

from connector.infra.schedule import cron_fields, fire_delay_minutes
from connector.intervals import Frequency

pytestmark = pytest.mark.infra


@pytest.mark.parametrize(
    ("frequency", "offset", "expected"),
    [
        ("PT5M", 0, 0),
        ("PT5M", 300, 2),  # half of 5 minutes, rounded down
        ("PT5M", 3600, 4),  # capped one minute short of the next close
        ("PT10M", 600, 5),
        ("PT1H", 300, 2),
        ("PT1H", 7200, 59),
        ("P1D", 3600, 30),
        ("P1D", 432_000, 1439),
    ],
)
def test_fire_delay_is_half_the_offset_within_the_interval(
    frequency: str, offset: int, expected: int
) -> None:
    assert fire_delay_minutes(Frequency(frequency), offset) == expected


def test_negative_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        fire_delay_minutes(Frequency.PT1H, -1)


@pytest.mark.parametrize(
    ("frequency", "delay", "minute", "hour"),
    [
        ("PT5M", 2, "2/5", "*"),
        ("PT10M", 0, "0/10", "*"),
        ("PT1H", 7, "7", "*"),
        ("P1D", 0, "0", "0"),
        ("P1D", 150, "30", "2"),
    ],
)
def test_cron_fields(frequency: str, delay: int, minute: str, hour: str) -> None:
    assert cron_fields(Frequency(frequency), delay) == (minute, hour)


def test_delay_beyond_the_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="delay"):
        cron_fields(Frequency.PT10M, 10)


def _schedule(template: dict[str, Any]) -> dict[str, Any]:
    [schedule] = resources_of(template, "AWS::Scheduler::Schedule").values()
    return dict(schedule["Properties"])


@pytest.mark.parametrize(
    ("frequency", "offset", "timezone", "expression"),
    [
        ("PT5M", 300, "UTC", "cron(2/5 * * * ? *)"),
        ("PT10M", 0, "UTC", "cron(0/10 * * * ? *)"),
        ("PT1H", 300, "UTC", "cron(2 * * * ? *)"),
        ("P1D", 7200, "America/New_York", "cron(0 1 * * ? *)"),
    ],
)
def test_schedule_fires_after_each_interval_closes_in_the_detector_time_zone(
    frequency: str, offset: int, timezone: str, expression: str
) -> None:
    # Given params.json with this frequency, offset and time zone
    template = template_of(
        PROVISIONED,
        detector_frequency=frequency,
        offset=offset,
        detector={"timezone": timezone},
        crawl={"historical_start": "P10D"},
    )
    # Then the schedule fires after each close, in the detector's time zone
    schedule = _schedule(template)
    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == timezone
    assert schedule["State"] == "ENABLED"
    # And it starts the continuous state machine with its own scheduled time
    target = schedule["Target"]
    machine = template["Outputs"]["ContinuousCrawlStateMachineArn"]["Value"]
    assert target["Arn"] == machine
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}


def test_scheduler_role_may_only_start_the_continuous_machine(
    provisioned: dict[str, Any],
) -> None:
    machine = provisioned["Outputs"]["ContinuousCrawlStateMachineArn"]["Value"]
    role_arn = _schedule(provisioned)["Target"]["RoleArn"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(provisioned, "AWS::IAM::Policy").values()
        if {"Ref": role_arn} in p["Properties"]["Roles"]
    ]
    assert policies == [
        [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": machine}]
    ]

"""Lint of `triggers:`: cron syntax, time zone, interval floor, the caps, the trigger's input,
names; and the fire-time count that bounds a backfill."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.config import load_config
from activities.errors import ConfigError
from interpreter.errors import Problem
from interpreter.limits import Limits, ScheduleLimits
from interpreter.lint import lint_text
from interpreter.spec import ScheduleSpec
from interpreter.triggers import count_fire_times

HEAD = """\
kworkflow: 1
name: report
input:
  type: object
  required: [team]
  properties:
    team: {type: string}
steps:
  - {id: hello, kind: aggregate, expr: '"report for " + input.team'}
triggers:
"""


def problems(triggers: str, limits: Limits | None = None) -> list[tuple[str, str, int | None]]:
    found = lint_text(HEAD + triggers, limits=limits)[1]
    return [(p.path, p.message, p.line) for p in found]


def codes(triggers: str, limits: Limits | None = None) -> list[Problem]:
    return lint_text(HEAD + triggers, limits=limits)[1]


def test_a_clean_trigger_has_no_finding() -> None:
    assert (
        problems(
            "  - {name: nightly, schedule: {cron: '0 2 * * MON-FRI', timezone: Europe/Paris, "
            "input: {team: ops}, overlap: buffer_one, jitter: 30s}}\n"
            "  - {schedule: {every: 15m, input: {team: sales}}}\n"
        )
        == []
    )


def test_cron_time_zone_and_input_mistakes_are_located() -> None:
    assert problems(
        "  - {schedule: {cron: '* * * *', input: {team: ops}}}\n"
        "  - {schedule: {cron: '0 9 L * *', input: {team: ops}}}\n"
        "  - {schedule: {cron: '61 * * * *', input: {team: ops}}}\n"
        "  - {schedule: {every: 1h, timezone: Mars/Olympus, input: {team: ops}}}\n"
        "  - {schedule: {every: 1h, input: {team: 7}}}\n"
        "  - {schedule: {every: 1h}}\n"
    ) == [
        (
            "triggers[0].schedule.cron",
            "'* * * *' is not a cron expression: it needs 5 fields (minute hour day-of-month "
            "month day-of-week), not 4",
            11,
        ),
        ("triggers[1].schedule.cron", "'0 9 L * *': the day of month field 'L' is not valid", 12),
        (
            "triggers[2].schedule.cron",
            "'61 * * * *' is not a valid cron expression: Bad minute",
            13,
        ),
        (
            "triggers[3].schedule.timezone",
            "unknown time zone 'Mars/Olympus': use an IANA name such as 'Europe/Paris' or 'UTC'",
            14,
        ),
        (
            "triggers[4].schedule.input.team",
            "7 is not of type 'string'",
            15,
        ),
        ("triggers[5].schedule.input.team", "is required", 16),
    ]


def test_names_are_unique_defaults_included() -> None:
    found = problems(
        "  - {name: daily, schedule: {every: 1d, input: {team: a}}}\n"
        "  - {name: daily, schedule: {every: 2d, input: {team: b}}}\n"
        "  - {name: schedule-0, schedule: {every: 3d, input: {team: c}}}\n"
        "  - {schedule: {every: 4d, input: {team: d}}}\n"
    )
    assert found == [
        ("triggers[1].name", "trigger name 'daily' is already used by triggers[0]", 12),
    ]
    found = problems(
        "  - {schedule: {every: 1d, input: {team: a}}}\n"
        "  - {name: schedule-0, schedule: {every: 2d, input: {team: b}}}\n"
    )
    assert found == [
        ("triggers[1].name", "trigger name 'schedule-0' is already used by triggers[0]", 12)
    ]


def test_cron_and_every_go_alone() -> None:
    found = codes("  - {schedule: {cron: '0 * * * *', every: 1h, input: {team: a}}}\n")
    assert [(p.path, p.message) for p in found] == [
        ("triggers[0].schedule", "a schedule needs exactly one of `cron` or `every`")
    ]


def test_the_operator_floor_and_caps() -> None:
    tight = Limits(schedules=ScheduleLimits(min_interval="5m", max_per_workflow=2))
    assert problems(
        "  - {schedule: {every: 4m, input: {team: a}}}\n"
        "  - {schedule: {cron: '*/2 * * * *', input: {team: b}}}\n"
        "  - {schedule: {cron: '0,3 9 * * *', input: {team: c}}}\n"
        "  - {schedule: {cron: '*/5 * * * *', every: null, input: {team: d}}}\n",
        tight,
    ) == [
        (
            "triggers",
            "4 triggers is over this server's maximum of 2 per workflow "
            "(limits.schedules.max_per_workflow)",
            11,
        ),
        (
            "triggers[0].schedule.every",
            "'4m' fires more often than this server's minimum interval of 5m "
            "(limits.schedules.min_interval)",
            11,
        ),
        (
            "triggers[1].schedule.cron",
            "'*/2 * * * *' fires more often than this server's minimum interval of 5m "
            "(limits.schedules.min_interval)",
            12,
        ),
        (
            "triggers[2].schedule.cron",
            "'0,3 9 * * *' fires more often than this server's minimum interval of 5m "
            "(limits.schedules.min_interval)",
            13,
        ),
    ]
    assert [p.code for p in codes("  - {schedule: {every: 30s, input: {team: a}}}\n")] == ["limit"]


def test_fire_times_in_a_range_count_both_ends() -> None:
    start, end = datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert count_fire_times(ScheduleSpec(every="15m"), start, end, 100) == 5
    assert count_fire_times(ScheduleSpec(cron="*/15 * * * *"), start, end, 100) == 5
    assert count_fire_times(ScheduleSpec(every="1m"), start, end, 10) == 11
    paris = ScheduleSpec(cron="0 2 * * *", timezone="Europe/Paris")
    week = datetime(2026, 3, 8, 1, 0, tzinfo=UTC)
    assert count_fire_times(paris, start, week, 100) == 8  # 02:00 in Paris is 01:00 UTC


def test_the_worker_configuration_sets_the_schedule_limits(tmp_path: Path) -> None:
    config = tmp_path / "kworkflow.worker.yaml"
    config.write_text("limits:\n  schedules: {min_interval: 5m, max_backfill_runs: 20}\n")
    assert load_config(config).limits.schedules == ScheduleLimits(
        min_interval="5m", max_backfill_runs=20
    )
    config.write_text("limits:\n  schedules: {min_interval: soon}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "limits.schedules.min_interval" in str(caught.value)

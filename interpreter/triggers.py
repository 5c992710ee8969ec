"""Schedule triggers of a definition: the operator's limits on them, their lint, names and times.

Pure (no I/O, no clock): lint calls :func:`trigger_problems` at publish; the API turns each
trigger into a Temporal Schedule (:mod:`client.schedules`) and bounds a backfill with
:func:`count_fire_times`. A ``cron`` is five fields (minute hour day-of-month month
day-of-week; numbers, ``*``, ``,``, ``-``, ``/`` and three-letter month and day names), read in
``timezone`` (an IANA name, default UTC). ``every`` is a duration counted from the Unix epoch,
as Temporal counts intervals.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

from interpreter.durations import parse_duration
from interpreter.errors import InputError, Problem
from interpreter.inputs import prepare_input
from interpreter.limits import ScheduleLimits
from interpreter.spec import Definition, ScheduleSpec, Trigger

CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_FIELD = re.compile(r"[0-9*,/-]+")
_NAMED_FIELD = re.compile(r"([0-9*,/-]|[A-Za-z]{3})+")
_SAMPLE_START = datetime(2026, 1, 1, tzinfo=UTC)
_SAMPLE_FIRES = 1000
"""How many fire times of a cron the interval floor is checked over (from 2026-01-01)."""


def trigger_name(index: int, trigger: Trigger) -> str:
    """The trigger's name: its ``name``, else ``schedule-<index>``."""
    return trigger.name or f"schedule-{index}"


def trigger_problems(definition: Definition, limits: ScheduleLimits) -> list[Problem]:
    """Every finding about the definition's ``triggers``.

    Codes: ``trigger_name`` (two triggers with one name), ``cron``, ``timezone``, ``limit``
    (an interval under ``min_interval``, more triggers than ``max_per_workflow``), ``input``
    (the trigger's ``input`` breaks the definition's ``input`` schema).
    """
    problems: list[Problem] = []
    triggers = definition.schedule_triggers()
    if len(triggers) > limits.max_per_workflow:
        message = (
            f"{len(triggers)} triggers is over this server's maximum of "
            f"{limits.max_per_workflow} per workflow (limits.schedules.max_per_workflow)"
        )
        problems.append(Problem("triggers", message, code="limit"))
    seen: dict[str, int] = {}
    for index, trigger in triggers:
        name = trigger_name(index, trigger)
        if name in seen:
            message = f"trigger name {name!r} is already used by triggers[{seen[name]}]"
            problems.append(Problem(f"triggers[{index}].name", message, code="trigger_name"))
        seen.setdefault(name, index)
        problems.extend(
            _schedule_problems(definition, trigger.schedule, f"triggers[{index}].schedule", limits)
        )
    return problems


def _schedule_problems(
    definition: Definition, schedule: ScheduleSpec, path: str, limits: ScheduleLimits
) -> list[Problem]:
    problems: list[Problem] = []
    zone: tzinfo | None = UTC if schedule.timezone is None else None
    if schedule.timezone is not None:
        if schedule.timezone in known_timezones():
            zone = ZoneInfo(schedule.timezone)
        else:
            message = (
                f"unknown time zone {schedule.timezone!r}: use an IANA name such as "
                "'Europe/Paris' or 'UTC'"
            )
            problems.append(Problem(f"{path}.timezone", message, code="timezone"))
    floor = limits.min_interval_delta
    if schedule.every is not None:
        every = parse_duration(schedule.every)
        if every < floor:
            problems.append(_too_often(f"{path}.every", repr(schedule.every), limits))
    elif schedule.cron is not None:
        reason = cron_problem(schedule.cron)
        if reason is not None:
            problems.append(Problem(f"{path}.cron", reason, code="cron"))
        elif zone is not None and shortest_gap(schedule.cron, zone) < floor:
            problems.append(_too_often(f"{path}.cron", repr(schedule.cron), limits))
    try:
        prepare_input(definition.input, schedule.input)
    except InputError as exc:
        where = f"{path}.input.{exc.path}" if exc.path else f"{path}.input"
        problems.append(Problem(where, exc.reason, code="input"))
    return problems


def _too_often(path: str, shown: str, limits: ScheduleLimits) -> Problem:
    message = (
        f"{shown} fires more often than this server's minimum interval of "
        f"{limits.min_interval} (limits.schedules.min_interval)"
    )
    return Problem(path, message, code="limit")


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA time zone names this machine knows."""
    return frozenset(available_timezones())


def cron_problem(expression: str) -> str | None:
    """What is wrong with a cron expression, or None when it is a valid five-field one."""
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        return (
            f"{expression!r} is not a cron expression: it needs 5 fields (minute hour "
            f"day-of-month month day-of-week), not {len(fields)}"
        )
    for index, (text, what) in enumerate(zip(fields, CRON_FIELDS, strict=True)):
        pattern = _NAMED_FIELD if index >= 3 else _FIELD
        if not pattern.fullmatch(text):
            return f"{expression!r}: the {what} field {text!r} is not valid"
    try:
        CronSim(" ".join(fields), _SAMPLE_START)
    except CronSimError as exc:
        return f"{expression!r} is not a valid cron expression: {exc}"
    return None


def shortest_gap(expression: str, zone: tzinfo) -> timedelta:
    """The shortest time between two of the first fire times of a valid cron expression.

    Checked over the first 1,000 fire times from 2026-01-01 in ``zone``: an expression that
    fires at most once a minute is never shorter than a minute, so only floors above a minute
    need the walk.
    """
    start = _SAMPLE_START.astimezone(zone)
    gap = timedelta(days=366)
    previous: datetime | None = None
    for count, moment in enumerate(CronSim(expression, start)):
        if previous is not None:
            gap = min(gap, moment - previous)
        if count >= _SAMPLE_FIRES or gap <= timedelta(minutes=1):
            break
        previous = moment
    return gap


def count_fire_times(schedule: ScheduleSpec, start: datetime, end: datetime, at_most: int) -> int:
    """How many times ``schedule`` fires from ``start`` to ``end``, both included (as Temporal's
    backfill reads a range), counting at most ``at_most + 1``. Jitter is left out (it moves a
    time, it does not add one)."""
    if schedule.every is not None:
        every = parse_duration(schedule.every).total_seconds()
        count = end.timestamp() // every - -(-start.timestamp() // every) + 1
        return int(min(max(count, 0), at_most + 1))
    zone: tzinfo = ZoneInfo(schedule.timezone) if schedule.timezone else UTC
    count = 0
    for moment in CronSim(schedule.cron or "", start.astimezone(zone) - timedelta(seconds=1)):
        if moment > end or count > at_most:
            break
        if moment >= start:
            count += 1
    return count

"""``event`` triggers under a careless or hostile tenant, on real parts (the API over SQLite, the
dev server, a worker): a trigger whose filter fails on an event does not hide a later trigger
that fires, and the CEL work one event may cost across the tenant's triggers is bounded."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from api import cloudevents
from interpreter.celcost import EXPRESSION_BUDGET
from tests.api.support import Api
from tests.api.test_cloudevents import cloudevent, events_api, send

__all__ = ["events_api"]  # the fixture, used by name

REFUNDS = """\
kworkflow: 1
name: refunds
input: {type: object, required: [total], properties: {total: {type: integer}}}
triggers:
  - {event: "order.*", filter: event.data.total > 10}
  - {event: order.refunded, input: {total: 0}}
steps:
  - {id: say, kind: aggregate, expr: '"refund of " + string(input.total)'}
output: ${ steps.say.output }
"""

COSTLY_FILTER = "lists.range(300).all(x, lists.range(300).all(y, y >= 0))"
"""90,000 iterations: stopped at the expression budget (30,000 steps)."""


def costly(name: str, triggers: int) -> str:
    """A workflow whose every trigger spends a whole expression budget on each event."""
    entries = "\n".join(
        f"  - {{event: 'tick', filter: '{COSTLY_FILTER}'}}" for _ in range(triggers)
    )
    return (
        f"kworkflow: 1\nname: {name}\ntriggers:\n{entries}\n"
        "steps: [{id: a, kind: aggregate, expr: '1'}]\n"
    )


async def test_a_failing_filter_does_not_hide_a_later_trigger_that_fires(
    events_api: Api, client: Client
) -> None:
    api = events_api
    api.publish(REFUNDS)
    async with api.http() as http:
        answer = await send(http, cloudevent("order.refunded", "r-1", {"reason": "broken"}))
        [run] = answer["started"]
        assert answer["skipped"] == []
        assert await client.get_workflow_handle(run["run_id"]).result() == "refund of 0"
        # no trigger fires: the filter's failure is what the answer reports
        failing = await send(http, cloudevent("order.created", "r-2", {"reason": "broken"}))
    assert failing["started"] == []
    [skipped] = failing["skipped"]
    assert skipped["workflow"] == "refunds"
    assert skipped["reason"].startswith("filter: ")


async def test_one_event_spends_a_bounded_budget_on_the_tenants_triggers(
    events_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three workflows of costly triggers: once the event's budget is spent (here two
    expressions' worth), the triggers left are not evaluated and are reported as skipped."""
    monkeypatch.setattr(cloudevents, "EVENT_TRIGGER_BUDGET", 2 * EXPRESSION_BUDGET)
    api = events_api
    for name in ("costly-a", "costly-b", "costly-c"):
        api.publish(costly(name, 1))
    api.publish(REFUNDS)  # triggers of other types: not evaluated, not reported
    async with api.http() as http:
        answer = await send(http, cloudevent("tick", "t-1", None))
    assert answer["started"] == []
    reasons = {s["workflow"]: s["reason"] for s in answer["skipped"]}
    assert sorted(reasons) == ["costly-a", "costly-b", "costly-c"]
    assert reasons["costly-a"].startswith("filter: the expression is too costly")
    assert reasons["costly-b"].startswith("filter: the expression is too costly")
    assert reasons["costly-c"] == (
        "not evaluated: this event's triggers used up its budget of 60,000 evaluation steps "
        "(cloudevents.EVENT_TRIGGER_BUDGET)"
    )

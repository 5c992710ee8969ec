"""POST /v1/events on real parts: the API over SQLite, the dev server, a worker.

``event`` steps take matching events (structured and binary mode), ignore others and other
tenants', time out, and get an event sent just before they wait; ``event`` triggers start one
run per event; bad requests get 413/415/422/401.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from tests.api.support import (
    Api,
    cloudevent,
    events_api,
    send,
    start_run,
    wait_status,
    waiting,
)

__all__ = ["events_api"]

WAITER = """\
kworkflow: 1
name: waiter
input:
  type: object
  properties: {order: {type: string}}
steps:
  - id: paid
    kind: event
    type: payment.received
    filter: event.data.order == input.order
    timeout: 60s
  - {id: done, kind: aggregate, expr: '"paid " + steps.paid.output.data.order'}
output:
  done: ${ steps.done.output }
  event: ${ steps.paid.output }
"""

LATE = """\
kworkflow: 1
name: late
steps:
  - {id: nap, kind: tool, tool: sleep, args: {seconds: 1}}
  - {id: paid, kind: event, type: payment.received, timeout: 60s}
output: ${ steps.paid.output.id }
"""

PATIENT = """\
kworkflow: 1
name: patient
steps:
  - id: paid
    kind: event
    type: payment.received
    timeout: 1s
    on_timeout: continue
    default: {missing: true}
output: ${ steps.paid.output }
"""

TRIGGERED = """\
kworkflow: 1
name: orders
input:
  type: object
  required: [total]
  properties: {total: {type: integer}}
triggers:
  - event: "order.*"
    filter: event.data.total > 10
    priority: 1
steps:
  - {id: big, kind: aggregate, expr: '"order of " + string(input.total)'}
output: ${ steps.big.output }
"""


async def test_a_waiting_run_takes_the_matching_event_and_ignores_others(
    events_api: Api, client: Client
) -> None:
    api = events_api
    api.publish(WAITER)
    api.publish(WAITER, tenant=api.globex)
    async with api.http() as http, api.http(api.globex) as other:
        run = await start_run(http, "waiter", {"order": "A-1"})
        view = await waiting(http, run["id"], "paid")
        pending = view["pending_events"][0]
        assert (pending["type"], pending["filter"]) == (
            "payment.received",
            "event.data.order == input.order",
        )
        assert view["steps"]["paid"]["status"] == "waiting"
        wrong = await send(http, cloudevent("payment.received", "e1", {"order": "B-2"}))
        assert wrong["signalled"] == [run["id"]]
        assert (wrong["duplicate"], wrong["started"]) == (False, [])
        foreign = await send(other, cloudevent("payment.received", "e2", {"order": "A-1"}))
        assert foreign["signalled"] == []
        unrelated = await send(http, cloudevent("payment.refunded", "e3", {"order": "A-1"}))
        assert unrelated["signalled"] == []
        await asyncio.sleep(0.5)
        view = await waiting(http, run["id"], "paid")
        assert view["status"] == "running"
        binary = await http.post(
            "/v1/events",
            json={"order": "A-1", "amount": 5},
            headers={
                "ce-specversion": "1.0",
                "ce-type": "payment.received",
                "ce-source": "/pay%20service",
                "ce-id": "e4",
                "ce-subject": "A-1",
            },
        )
        assert binary.status_code == 202, binary.text
        assert binary.json()["signalled"] == [run["id"]]
        done = await wait_status(http, run["id"], "succeeded")
    assert done["pending_events"] == []
    assert done["result"] == {
        "done": "paid A-1",
        "event": {
            "specversion": "1.0",
            "type": "payment.received",
            "source": "/pay service",
            "id": "e4",
            "subject": "A-1",
            "datacontenttype": "application/json",
            "data": {"order": "A-1", "amount": 5},
        },
    }


async def test_an_event_sent_just_before_the_wait_is_not_lost(events_api: Api) -> None:
    api = events_api
    api.publish(LATE)
    async with api.http() as http:
        run = await start_run(http, "late")
        early = await send(http, cloudevent("payment.received", "early-1", None))
        assert early["signalled"] == []  # nobody waits yet: the tool step is still running
        done = await wait_status(http, run["id"], "succeeded")
    assert done["result"] == "early-1"


async def test_a_wait_times_out_and_continues_with_its_default(events_api: Api) -> None:
    api = events_api
    api.publish(PATIENT)
    async with api.http() as http:
        run = await start_run(http, "patient")
        done = await wait_status(http, run["id"], "succeeded")
    assert done["result"] == {"missing": True}
    assert done["steps"]["paid"]["status"] == "succeeded"


async def test_a_trigger_starts_one_run_per_event(events_api: Api, client: Client) -> None:
    api = events_api
    version = api.publish(TRIGGERED)
    api.publish(TRIGGERED, tenant=api.globex)
    async with api.http() as http, api.http(api.globex) as other:
        first = await send(http, cloudevent("order.created", "o-1", {"total": 42}))
        assert first["duplicate"] is False
        [run] = first["started"]
        assert (run["workflow"], run["version"]) == ("orders", version)
        assert run["run_id"].startswith(f"{api.acme}:orders-ev-")
        again = await send(http, cloudevent("order.created", "o-1", {"total": 42}))
        assert (again["duplicate"], again["started"], again["already_started"]) == (
            True,
            [],
            [run],
        )
        small = await send(http, cloudevent("order.created", "o-2", {"total": 5}))
        assert (small["started"], small["already_started"]) == ([], [])
        other_type = await send(http, cloudevent("invoice.created", "o-3", {"total": 50}))
        assert other_type["started"] == []
        binary = await http.post(
            "/v1/events",
            json={"total": 11},
            headers={
                "ce-specversion": "1.0",
                "ce-type": "order.updated",
                "ce-source": "/shop",
                "ce-id": "o-4",
            },
        )
        assert binary.status_code == 202, binary.text
        [second] = binary.json()["started"]
        assert second["run_id"] != run["run_id"]
        result = await client.get_workflow_handle(run["run_id"]).result()
        assert result == "order of 42"
        assert (await http.get(f"/v1/runs/{run['run_id']}")).json()["priority"] == 1
        assert await client.get_workflow_handle(second["run_id"]).result() == "order of 11"
        listed = await http.get("/v1/runs?workflow=orders")
        assert sorted(r["id"] for r in listed.json()["runs"]) == sorted(
            [run["run_id"], second["run_id"]]
        )
        foreign = await send(other, cloudevent("order.created", "o-1", {"total": 42}))
        [theirs] = foreign["started"]
        assert theirs["run_id"].startswith(f"{api.globex}:orders-ev-")


async def test_a_trigger_that_cannot_start_its_run_is_skipped(events_api: Api) -> None:
    api = events_api
    api.publish(TRIGGERED)
    async with api.http() as http:
        failing = await send(http, cloudevent("order.created", "o-9", {"total": "many"}))
        unfit = await send(http, cloudevent("order.created", "o-10", {"total": 12.5}))
    assert (failing["started"], unfit["started"]) == ([], [])
    reason = "filter: no operator `>` for string and int in `event.data.total > 10`"
    assert failing["skipped"] == [{"workflow": "orders", "version": 1, "reason": reason}]
    reason = "input.total: 12.5 is not of type 'integer'"
    assert unfit["skipped"] == [{"workflow": "orders", "version": 1, "reason": reason}]


@pytest.mark.parametrize(
    ("content", "headers", "status", "detail"),
    [
        (
            b'{"specversion": "1.0", "source": "/s", "type": "t"}',
            {"Content-Type": "application/cloudevents+json"},
            422,
            "the CloudEvent has no `id` attribute",
        ),
        (
            b'{"source": "/s", "type": "t", "id": "1"}',
            {"Content-Type": "application/json"},
            422,
            "not a CloudEvent: no `specversion` attribute (structured mode) "
            "and no `ce-specversion` header (binary mode)",
        ),
        (
            b"{}",
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"},
            422,
            "the CloudEvent has no `type` attribute",
        ),
        (
            b'{"specversion": "0.3", "source": "/s", "type": "t", "id": "1"}',
            {"Content-Type": "application/cloudevents+json"},
            422,
            '`specversion` must be "1.0", not "0.3"',
        ),
        (
            b"[]",
            {"Content-Type": "application/cloudevents-batch+json"},
            415,
            "batch mode is not supported: send one event per request",
        ),
        (
            b'{"specversion": "1.0", "source": "/s", "type": "it\'s", "id": "1"}',
            {"Content-Type": "application/cloudevents+json"},
            422,
            "`type` may not contain quotes, backslashes or control characters",
        ),
        (b"x" * 70_000, {"Content-Type": "text/plain", "ce-specversion": "1.0"}, 413, None),
        (
            b'{"specversion": "1.0", "source": "/s", "type": "t", "id": "1", "data": '
            + b"[" * 20_000
            + b"]" * 20_000
            + b"}",
            {"Content-Type": "application/cloudevents+json"},
            422,
            "the event nests too deeply to be read",
        ),
        (
            b"[" * 20_000 + b"]" * 20_000,
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/s",
                "ce-type": "t",
                "Content-Type": "application/json",
            },
            422,
            "the event's data nests too deeply to be read",
        ),
        (
            b'{"specversion": "1.0", "source": "/s", "type": "t", "id": "1", "data": '
            + b"[" * 150
            + b"]" * 150
            + b"}",
            {"Content-Type": "application/cloudevents+json"},
            422,
            "the event nests deeper than 100 levels",
        ),
        (
            b'{"specversion": "1.0", "source": "/s", "type": "t", "id": "1", "data": NaN}',
            {"Content-Type": "application/cloudevents+json"},
            422,
            "the event holds NaN or Infinity, which JSON does not have",
        ),
    ],
)
async def test_a_request_that_is_not_a_cloudevent_is_refused(
    events_api: Api, content: bytes, headers: dict[str, str], status: int, detail: str | None
) -> None:
    async with events_api.http() as http:
        response = await http.post("/v1/events", content=content, headers=headers)
    assert response.status_code == status, response.text
    if detail is None:
        detail = "the event is larger than 65536 bytes (70000 bytes)"
    assert response.json() == {"detail": detail}


async def test_events_need_a_key(events_api: Api) -> None:
    async with events_api.http("") as http:
        response = await http.post("/v1/events", json=cloudevent("t", "1", None))
    assert response.status_code == 401

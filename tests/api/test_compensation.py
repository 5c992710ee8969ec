"""Compensation through the API (api.compensation, interpreter.compensation): three tool steps
at a real tool server, the third fails; the compensations reach the server latest first with
each step's input and output; automatic compensation on failure and on cancel; a failing
compensation reported; refusals; idempotence; a compensation that hangs is bounded; a run
`timeout` compensates as a failure; a cancelled compensation run stops."""

from __future__ import annotations

from typing import Any

import httpx

from telemetry.metrics import REGISTRY
from tests.api.support import (
    Api,
    pairs,
    read_events,
    real_tool_api,
    start_run,
    wait_run,
    wait_status,
    wait_waiting,
)
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["real_tool_api", "tool_server"]

SAGA = """\
kworkflow: 1
name: {name}
{extra}
tools:
  book: {{url: "{url}/book"}}
  unbook: {{url: "{url}/unbook"}}
  pay: {{url: "{url}/pay"}}
steps:
  - id: hotel
    kind: tool
    tool: book
    args: {{what: hotel}}
    compensate:
      kind: tool
      tool: unbook
      args: {{id: "${{ step.id }}", input: "${{ step.input }}", output: "${{ step.output }}"}}
  - id: flight
    kind: tool
    tool: book
    args: {{what: flight, after: "${{ steps.hotel.output.ref }}"}}
    compensate:
      kind: tool
      tool: unbook
      retry: {{max_attempts: 1}}
      args: {{id: "${{ step.id }}", input: "${{ step.input }}", output: "${{ step.output }}"}}
  - id: charge
    kind: tool
    tool: pay
    args: {{amount: 10}}
    compensate: {{kind: tool, tool: unbook, args: {{id: charge}}}}
{last}
"""
CONFIRM = """\
  - {id: confirm, kind: human, prompt: "Go?"}"""


def saga(url: str, name: str = "saga", extra: str = "", last: str = "") -> str:
    return SAGA.format(url=url, name=name, extra=extra, last=last)


def script(server: ToolServer, pay: Reply | None = None) -> None:
    server.route("/book", Reply(json={"ref": "H1"}), Reply(json={"ref": "F1"}))
    server.route("/pay", pay or Reply(400, json={"error": "card declined"}))
    server.route("/unbook", Reply(json={"undone": True}))


def compensated_count(workflow: str, mode: str, status: str) -> float:
    labels = {"workflow": workflow, "mode": mode, "status": status}
    return REGISTRY.get_sample_value("kworkflow_runs_compensated_total", labels) or 0.0


async def compensate(http: httpx.AsyncClient, run_id: str, expect: int = 201) -> Any:
    response = await http.post(f"/v1/runs/{run_id}/compensate")
    assert response.status_code == expect, response.text
    return response.json()


async def events_of(http: httpx.AsyncClient, run_id: str) -> list[tuple[str, str | None]]:
    async with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
        return pairs(await read_events(stream.aiter_lines()))


def undo_calls(server: ToolServer) -> list[Any]:
    return [c.json for c in server.calls("/unbook")]


HOTEL_UNDO = {
    "id": "hotel",
    "input": {"tool": "book", "args": {"what": "hotel"}},
    "output": {"ref": "H1"},
}
FLIGHT_UNDO = {
    "id": "flight",
    "input": {"tool": "book", "args": {"what": "flight", "after": "H1"}},
    "output": {"ref": "F1"},
}
COMPENSATION_EVENTS = [
    ("compensation_started", None),
    ("step_compensating", "flight"),
    ("step_compensated", "flight"),
    ("step_compensating", "hotel"),
    ("step_compensated", "hotel"),
    ("compensation_ended", None),
]


def brief(compensation: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s["step"], s["kind"], s["status"]) for s in compensation["steps"]]


async def test_a_failed_run_is_compensated_latest_step_first(
    api: Api, tool_server: ToolServer
) -> None:
    """`charge` fails; compensate: the server sees the undo of `flight`, then of `hotel`, each
    with the step's resolved input and output; `charge` (failed) is not undone. The same call
    again is the same run; the original shows the compensation through its lineage."""
    script(tool_server)
    api.publish(saga(tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "saga"))["id"]
        failed = await wait_status(http, run_id, "failed")
        assert failed["error"]["type"] == "StepFailed"
        assert failed["compensation"] is None
        assert undo_calls(tool_server) == []
        before = compensated_count("saga", "manual", "compensated")

        out = await compensate(http, run_id)
        new_id = f"{run_id}-compensate"
        assert out == {
            "run_id": new_id,
            "compensation_of": run_id,
            "created": True,
            "steps": ["flight", "hotel"],
            "links": {"run": f"/v1/runs/{new_id}", "original": f"/v1/runs/{run_id}"},
        }
        done = await wait_status(http, new_id, "succeeded")
        assert undo_calls(tool_server) == [FLIGHT_UNDO, HOTEL_UNDO]
        compensation = done["compensation"]
        assert (compensation["status"], compensation["mode"]) == ("compensated", "manual")
        assert brief(compensation) == [
            ("flight", "tool", "succeeded"),
            ("hotel", "tool", "succeeded"),
        ]
        first = compensation["steps"][0]
        assert (first["id"], first["attempts"], first["output"]) == ("flight", 1, {"undone": True})
        assert first["input"] == {"tool": "unbook", "args": FLIGHT_UNDO}
        assert done["result"]["status"] == "compensated"
        assert done["retry_of"]["mode"] == "compensate"
        assert done["retry_of"]["run_id"] == run_id
        assert {sid: s["status"] for sid, s in done["steps"].items()} == {
            "hotel": "succeeded",
            "flight": "succeeded",
            "charge": "failed",
        }
        assert await events_of(http, new_id) == [
            ("compensation_of", None),
            ("step_reused", "hotel"),
            ("step_reused", "flight"),
            ("step_reused", "charge"),
            *COMPENSATION_EVENTS,
            ("run_succeeded", None),
        ]
        assert compensated_count("saga", "manual", "compensated") == before + 1

        again = await compensate(http, run_id, expect=200)
        assert again == {**out, "created": False}
        assert len(undo_calls(tool_server)) == 2
        original = (await http.get(f"/v1/runs/{run_id}")).json()
        assert original["status"] == "failed"  # the original stays as it was
        assert original["compensation"]["run_id"] == new_id
        assert original["compensation"]["status"] == "compensated"
        assert original["retries"] == []  # a compensation is no retry
        assert brief(original["compensation"]) == brief(compensation)
        refused = await compensate(http, new_id, expect=409)
        assert refused == {
            "detail": f"run '{new_id}' is succeeded: cannot compensate it: "
            "only a failed, cancelled or timed-out run is compensated"
        }


async def test_refusals(api: Api, tool_server: ToolServer) -> None:
    """409 for a running (waiting) and a succeeded run, with the state in the message; 404 for
    no run and for another tenant's run; 409 when no succeeded step has `compensate`."""
    script(tool_server, pay=Reply(json={"paid": True}))
    api.publish(saga(tool_server.url, last=CONFIRM))
    api.publish(saga(tool_server.url, name="other"), tenant=api.globex)
    async with api.http() as http:
        run_id = (await start_run(http, "saga"))["id"]
        await wait_waiting(http, run_id, "confirm")
        running = await compensate(http, run_id, expect=409)
        assert running == {
            "detail": f"run '{run_id}' is running: cannot compensate it: "
            "only a failed, cancelled or timed-out run is compensated"
        }
        await http.post(f"/v1/runs/{run_id}/steps/confirm/respond", json={"data": None})
        await wait_status(http, run_id, "succeeded")
        done = await compensate(http, run_id, expect=409)
        assert done["detail"].startswith(f"run '{run_id}' is succeeded: cannot compensate it")
        assert (await compensate(http, "no-such-run", expect=404)) == {
            "detail": "no run 'no-such-run'"
        }
    async with api.http(api.globex) as other:
        theirs = (await start_run(other, "other"))["id"]
        await wait_status(other, theirs, "succeeded")
    async with api.http() as http:
        assert (await compensate(http, theirs, expect=404)) == {"detail": f"no run '{theirs}'"}
    tool_server.route("/book", Reply(400, json={"error": "full"}))
    async with api.http() as http:
        nothing = (await start_run(http, "saga"))["id"]
        await wait_status(http, nothing, "failed")
        refused = await compensate(http, nothing, expect=409)
        assert refused == {
            "detail": f"run '{nothing}' is failed: cannot compensate it: "
            "no succeeded step has `compensate`"
        }
    assert undo_calls(tool_server) == []


async def test_a_run_compensates_itself_when_it_fails(api: Api, tool_server: ToolServer) -> None:
    """`compensate_on: [failed]`: the run undoes `flight` then `hotel` before it ends, and ends
    failed with the original error; its view and log say it compensated. A run that fails
    before anything succeeded has nothing to compensate and ends without a compensation."""
    script(tool_server)
    api.publish(saga(tool_server.url, extra="compensate_on: [failed]"))
    async with api.http() as http:
        before = compensated_count("saga", "auto", "compensated")
        run_id = (await start_run(http, "saga"))["id"]
        failed = await wait_status(http, run_id, "failed")
        assert undo_calls(tool_server) == [FLIGHT_UNDO, HOTEL_UNDO]
        assert failed["error"]["type"] == "StepFailed"
        assert failed["error"]["message"].startswith("step 'charge' (tool) failed")
        assert (failed["compensation"]["status"], failed["compensation"]["mode"]) == (
            "compensated",
            "auto",
        )
        assert brief(failed["compensation"]) == [
            ("flight", "tool", "succeeded"),
            ("hotel", "tool", "succeeded"),
        ]
        log = await events_of(http, run_id)
        assert log[-8:] == [("step_failed", "charge"), *COMPENSATION_EVENTS, ("run_failed", None)]
        assert compensated_count("saga", "auto", "compensated") == before + 1
        refused = await compensate(http, run_id, expect=409)
        assert refused == {
            "detail": f"run '{run_id}' is failed: cannot compensate it: "
            "it compensated itself (compensated)"
        }

        tool_server.route("/book", Reply(400, json={"error": "full"}))  # nothing succeeds
        api.publish(saga(tool_server.url, "early", "compensate_on: [failed]"))
        early = (await start_run(http, "early"))["id"]
        view = await wait_status(http, early, "failed")
        assert (view["compensation"], len(undo_calls(tool_server))) == (None, 2)
        assert "compensation_started" not in [t for t, _ in await events_of(http, early)]


async def test_cancel_compensates_only_when_the_definition_says_so(
    api: Api, tool_server: ToolServer
) -> None:
    """Cancel alone never compensates; with `compensate_on: [cancelled]` the cancelled run
    undoes its succeeded steps (shielded from the cancel), then ends cancelled."""
    script(tool_server, pay=Reply(json={"paid": True}))
    api.publish(saga(tool_server.url, last=CONFIRM))
    api.publish(saga(tool_server.url, "undo", "compensate_on: [cancelled]", CONFIRM))
    async with api.http() as http:
        plain = (await start_run(http, "saga"))["id"]
        await wait_waiting(http, plain, "confirm")
        assert (await http.post(f"/v1/runs/{plain}/cancel")).status_code == 202
        cancelled = await wait_status(http, plain, "cancelled")
        assert cancelled["compensation"] is None
        assert undo_calls(tool_server) == []
        assert "compensation_started" not in [t for t, _ in await events_of(http, plain)]

        tool_server.route("/book", Reply(json={"ref": "H1"}), Reply(json={"ref": "F1"}))
        run_id = (await start_run(http, "undo"))["id"]
        await wait_waiting(http, run_id, "confirm")
        assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        view = await wait_status(http, run_id, "cancelled")
        assert view["error"] == {"type": "Cancelled", "message": "run cancelled"}
        assert view["compensation"]["status"] == "compensated"
        assert brief(view["compensation"]) == [
            ("charge", "tool", "succeeded"),
            ("flight", "tool", "succeeded"),
            ("hotel", "tool", "succeeded"),
        ]
        assert undo_calls(tool_server) == [{"id": "charge"}, FLIGHT_UNDO, HOTEL_UNDO]
        log = await events_of(http, run_id)
        assert (
            log[-10:]
            == [
                ("step_cancelled", "confirm"),  # the cancel first, then the compensations
                ("compensation_started", None),
                ("step_compensating", "charge"),
                ("step_compensated", "charge"),
                *COMPENSATION_EVENTS[1:],
                ("run_cancelled", None),
            ]
        )


async def test_a_failing_compensation_is_reported_and_the_others_run(
    api: Api, tool_server: ToolServer
) -> None:
    """The undo of `flight` answers 400: it fails, `hotel` is still undone (after a 503 and a
    retry, visible live); the compensation run fails with CompensationFailed naming `flight`,
    and the original shows it."""
    script(tool_server)
    tool_server.route(
        "/unbook", Reply(400, json={"error": "too late"}), Reply(503), Reply(json={"ok": 1})
    )
    api.publish(saga(tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "saga"))["id"]
        await wait_status(http, run_id, "failed")
        new_id = (await compensate(http, run_id))["run_id"]
        done = await wait_status(http, new_id, "failed")
        assert done["error"]["type"] == "CompensationFailed"
        assert done["error"]["message"] == "compensation failed for step 'flight'"
        assert done["compensation"]["status"] == "compensation_failed"
        assert brief(done["compensation"]) == [
            ("flight", "tool", "failed"),
            ("hotel", "tool", "succeeded"),
        ]
        assert done["compensation"]["steps"][0]["error"]["type"] == "HTTP400"
        assert [c["id"] for c in undo_calls(tool_server)] == ["flight", "hotel", "hotel"]
        assert done["compensation"]["steps"][1]["attempts"] == 2  # a 503, then the undo
        log = await events_of(http, new_id)
        assert log[-8:] == [
            ("compensation_started", None),
            ("step_compensating", "flight"),
            ("step_compensation_failed", "flight"),
            ("step_compensating", "hotel"),
            ("step_compensation_retrying", "hotel"),
            ("step_compensated", "hotel"),
            ("compensation_ended", None),
            ("run_failed", None),
        ]
        original = await wait_run(
            http, run_id, lambda v: v["compensation"] is not None, what="compensation"
        )
        assert original["compensation"]["status"] == "compensation_failed"
        assert original["compensation"]["run_id"] == new_id


HANGS = """\
kworkflow: 1
name: hangs
compensate_on: [failed]
tools:
  book: {{url: "{url}/book"}}
  slow: {{url: "{url}/slow"}}
  pay: {{url: "{url}/pay"}}
steps:
  - id: hotel
    kind: tool
    tool: book
    args: {{what: hotel}}
    compensate: {{kind: tool, tool: slow, timeout: 1s, retry: {{max_attempts: 1}}}}
  - id: flight
    kind: tool
    tool: book
    args: {{what: flight}}
    compensate:
      kind: code
      source: "output = 1"
      repeat: {{until: "false", max_iterations: 3}}
  - {{id: charge, kind: tool, tool: pay}}
"""


async def test_a_hostile_compensation_is_bounded(api: Api, tool_server: ToolServer) -> None:
    """A compensation that loops (`repeat` whose `until` is never true) ends at its
    `max_iterations`, one that hangs at its `timeout`; the run still ends, reporting both."""
    script(tool_server)
    tool_server.route("/slow", Reply(json={}, delay=30))
    api.publish(HANGS.format(url=tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "hangs"))["id"]
        view = await wait_run(
            http, run_id, lambda v: v["status"] == "failed", timeout=30, what="failed"
        )
        assert view["compensation"]["status"] == "compensation_failed"
        steps = view["compensation"]["steps"]
        assert [(s["step"], s["error"]["type"]) for s in steps] == [
            ("flight", "RepeatExhausted"),
            ("hotel", "Timeout"),
        ]
        assert view["error"]["type"] == "StepFailed"


TIMES_OUT = """\
kworkflow: 1
name: late
timeout: 1s
compensate_on: [failed]
tools:
  book: {{url: "{url}/book"}}
  slow: {{url: "{url}/slow"}}
  unbook: {{url: "{url}/unbook"}}
steps:
  - id: hotel
    kind: tool
    tool: book
    compensate: {{kind: tool, tool: unbook, args: {{id: "${{ step.id }}"}}}}
  - {{id: wait, kind: tool, tool: slow, timeout: 30s}}
"""


async def test_a_run_timeout_is_a_failure_that_compensates(
    api: Api, tool_server: ToolServer
) -> None:
    """The run's `timeout` passes while `wait` runs: the run fails with RunTimeout and, as
    `compensate_on: [failed]` says, undoes `hotel` first (after its timeout)."""
    script(tool_server)
    tool_server.route("/slow", Reply(json={}, delay=20))
    api.publish(TIMES_OUT.format(url=tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "late"))["id"]
        view = await wait_status(http, run_id, "failed")
        assert view["error"]["type"] == "RunTimeout"
        assert view["compensation"]["status"] == "compensated"
        assert undo_calls(tool_server) == [{"id": "hotel"}]


async def test_cancelling_a_compensation_run_stops_it(api: Api, tool_server: ToolServer) -> None:
    """Cancel keeps its meaning on a compensation run: the running undo is cancelled, the rest
    is not run, and the compensation says `compensation_cancelled`."""
    script(tool_server)
    tool_server.route("/unbook", Reply(json={}, delay=20))
    api.publish(saga(tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "saga"))["id"]
        await wait_status(http, run_id, "failed")
        new_id = (await compensate(http, run_id))["run_id"]
        await wait_run(
            http,
            new_id,
            lambda v: (v["compensation"] or {}).get("steps", [{}])[0].get("status") == "running",
            what="flight's undo running",
        )
        assert (await http.post(f"/v1/runs/{new_id}/cancel")).status_code == 202
        view = await wait_status(http, new_id, "cancelled")
        assert view["compensation"]["status"] == "compensation_cancelled"
        assert brief(view["compensation"]) == [
            ("flight", "tool", "cancelled"),
            ("hotel", "tool", "pending"),
        ]
        log = await events_of(http, new_id)
        assert log[-4:] == [
            ("step_compensating", "flight"),
            ("step_compensation_cancelled", "flight"),
            ("compensation_ended", None),
            ("run_cancelled", None),
        ]

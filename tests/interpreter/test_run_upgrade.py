"""Upgrading a paused run to a newer version (interpreter.upgrading), at a real tool server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.tool import tool
from interpreter.registration import new_worker
from interpreter.request import RunRequest
from interpreter.upgrading import UpgradeRequest
from tests.conftest import temporal_binary
from tests.support.runs import load, new_run_id, result, start, status, wait_for, wait_for_step
from tests.support.tool_server import ToolServer, tool_server
from tests.support.upgrades import UPGRADED_TRANSITIONS

__all__ = ["tool_server"]  # the fixture used below

V1 = """
kworkflow: 1
name: upgrade-me
tools:
  ta: {{url: "{url}/a", method: POST}}
  tb: {{url: "{url}/b", method: POST}}
  tc: {{url: "{url}/c", method: POST}}
steps:
  - {{id: a, kind: tool, tool: ta, args: {{n: 1}}}}
  - {{id: h, kind: human, prompt: Go?}}
  - {{id: b, kind: tool, tool: tb, args: {{n: "${{ steps.a.output.json.n }}"}}}}
"""

V2 = """
kworkflow: 1
name: upgrade-me
tools:
  ta: {{url: "{url}/a", method: POST}}
  tb: {{url: "{url}/b", method: POST}}
  tc: {{url: "{url}/c", method: POST}}
steps:
  - {{id: a, kind: tool, tool: ta, args: {{n: 1}}}}
  - {{id: h, kind: human, prompt: Go?}}
  - id: b
    kind: tool
    tool: tb
    args: {{n: "${{ steps.a.output.json.n + 10 }}", go: "${{ steps.h.output.data.go }}"}}
  - id: c
    kind: tool
    tool: tc
    args: {{after: "${{ steps.b.output.json.n }}", v: "${{ run.version }}"}}
output: "${{ steps.c.output.json }}"
"""


def kinds(transitions: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(t["type"], t["step"]) for t in transitions]


async def paused_at_h(
    client: Client, task_queue: str, url: str, text: str = V1
) -> WorkflowHandle[Any, Any]:
    """A run of v1 waiting at `h`, paused."""
    handle = await start(client, task_queue, text.format(url=url), version=1)
    await wait_for_step(handle, "h", "waiting")
    await handle.execute_update("pause", {"by": "ops"})
    return handle


async def refused(handle: WorkflowHandle[Any, Any], request: UpgradeRequest) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("upgrade", request)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UpgradeRefused"
    return cause


async def test_a_paused_run_upgraded_runs_the_new_version_of_the_steps_not_started(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """v1 (a -> h -> b) paused at h, upgraded to v2 (b's args changed, c after b): `a` keeps
    its result (called once), the run stays paused, and once answered and resumed the tool
    server sees v2's args of `b` and the call of `c`; the view, `run.version` and the log say
    version 2."""
    url = tool_server.url
    async with new_worker(client, task_queue, [tool]):
        handle = await paused_at_h(client, task_queue, url)
        answer = await handle.execute_update(
            "upgrade", UpgradeRequest(definition=load(V2.format(url=url)), version=2, by="ops")
        )
        assert answer == {
            "status": "running",
            "from_version": 1,
            "version": 2,
            "added": ["c"],
            "removed": [],
        }
        state = await status(handle)
        assert state["version"] == 2
        assert state["paused"]["by"] == "ops"  # still paused
        assert {sid: s["status"] for sid, s in state["steps"].items()} == {
            "a": "succeeded",
            "h": "waiting",
            "b": "pending",
            "c": "pending",
        }
        await handle.execute_update("respond", {"step": "h", "data": {"go": True}})
        await wait_for_step(handle, "h", "succeeded")
        assert [r.path for r in tool_server.calls()] == ["/a"]  # paused: b waits
        await handle.execute_update("resume", {"by": "ops"})
        out = await result(handle)
        assert out == {"after": 11, "v": 2}
        assert [r.path for r in tool_server.calls()] == ["/a", "/b", "/c"]
        assert tool_server.calls("/b")[0].json == {"n": 11, "go": True}
        log = (await handle.query("transitions", 0))["transitions"]
        assert kinds(log) == UPGRADED_TRANSITIONS
        upgraded = log[5]
        assert {
            k: upgraded[k] for k in ("from_version", "to_version", "by", "added", "removed")
        } == {
            "from_version": 1,
            "to_version": 2,
            "by": "ops",
            "added": ["c"],
            "removed": [],
        }
        memo = await (await handle.describe()).memo_value("kworkflow.upgraded")
        assert (memo["from_version"], memo["to_version"], memo["by"]) == (1, 2, "ops")
        assert load(V2.format(url=url)).model_dump() == (
            type(load(V1.format(url=url))).model_validate(memo["definition"]).model_dump()
        )


async def test_a_mismatched_version_is_refused_naming_the_steps_and_the_run_goes_on(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """A v2 without the waiting `h`, or where the ended `a` became an llm step, is refused with
    each step named; the run is unchanged (v1, paused) and completes as v1 once resumed."""
    url = tool_server.url
    async with new_worker(client, task_queue, [tool]):
        handle = await paused_at_h(client, task_queue, url)
        without_h = V1.format(url=url).replace("  - {id: h, kind: human, prompt: Go?}\n", "")
        cause = await refused(
            handle, UpgradeRequest(definition=load(without_h), version=2, by="ops")
        )
        assert cause.message == (
            f"version 2 does not match the steps run '{handle.id}' has started: "
            "h: no such step in the new version"
        )
        assert cause.details == (
            {"reason": "mismatch", "steps": {"h": "no such step in the new version"}},
        )
        kinds_changed = (
            V1.format(url=url)
            .replace(
                "{id: a, kind: tool, tool: ta, args: {n: 1}}", "{id: a, kind: llm, prompt: hi}"
            )
            .replace("{id: h, kind: human, prompt: Go?}", "{id: h, kind: aggregate, expr: '1'}")
        )
        cause = await refused(
            handle, UpgradeRequest(definition=load(kinds_changed), version=3, by="ops")
        )
        assert cause.message == (
            f"version 3 does not match the steps run '{handle.id}' has started: "
            "a: kind tool became llm; h: kind human became aggregate"
        )
        other = V1.format(url=url).replace("name: upgrade-me", "name: another")
        cause = await refused(handle, UpgradeRequest(definition=load(other), version=2))
        assert cause.message == (
            "version 2 is a definition of workflow 'another', not of 'upgrade-me'"
        )
        same = UpgradeRequest(definition=load(V1.format(url=url)), version=1)
        cause = await refused(handle, same)
        assert (cause.message, cause.details[0]["reason"]) == (
            f"run '{handle.id}' is already at version 1",
            "not_newer",
        )
        cyclic = (
            V1.format(url=url) + "edges: [{from: a, to: h}, {from: h, to: b}, {from: b, to: h}]\n"
        )
        cause = await refused(handle, UpgradeRequest(definition=load(cyclic), version=4))
        assert (cause.message, cause.details[0]["reason"]) == (
            "version 4 cannot run: the edges form a cycle: h -> b -> h",
            "invalid",
        )
        dangling = V1.format(url=url) + "edges: [{from: a, to: h}, {from: h, to: zz}]\n"
        cause = await refused(handle, UpgradeRequest(definition=load(dangling), version=4))
        assert cause.message == "version 4 cannot run: an edge h -> zz names no step 'zz'"
        state = await status(handle)
        assert (state["version"], list(state["steps"])) == (1, ["a", "h", "b"])
        log = (await handle.query("transitions", 0))["transitions"]
        assert "run_upgraded" not in [t["type"] for t in log]
        await handle.execute_update("respond", {"step": "h", "data": {"go": True}})
        await handle.execute_update("resume", {})
        assert (await result(handle))["b"]["json"] == {"n": 1}  # v1's b


async def test_a_run_that_is_not_paused_is_refused(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """A running run (waiting at h, not paused) is refused with its state and left as it was;
    the signal form records the refusal in the run's events."""
    url = tool_server.url
    async with new_worker(client, task_queue, [tool]):
        handle = await start(client, task_queue, V1.format(url=url), version=1)
        await wait_for_step(handle, "h", "waiting")
        request = UpgradeRequest(definition=load(V2.format(url=url)), version=2)
        cause = await refused(handle, request)
        assert (
            cause.message
            == f"run '{handle.id}' is running, not paused: pause it before upgrading it"
        )
        assert cause.details[0]["reason"] == "not_paused"
        await handle.signal("upgrade", request)
        state = await wait_for(handle, lambda s: s["events"], what="the refused signal")
        assert [(e["type"], e["message"]) for e in state["events"]] == [
            ("upgrade_rejected", cause.message)
        ]
        assert (state["version"], list(state["steps"])) == (1, ["a", "h", "b"])
        await handle.execute_update("respond", {"step": "h", "data": {"go": False}})
        await result(handle)
        assert [r.path for r in tool_server.calls()] == ["/a", "/b"]


async def test_removed_pending_steps_disappear_and_a_changed_edge_is_decided_anew(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """v2 removes the pending `b`, adds `d` on a new edge from the ended `a` with a `when`
    that reads `h`'s answer: `b` is gone from the view and never called, `d` runs after
    resume (the `when` evaluated then), the upgrade comes through the signal."""
    url = tool_server.url
    v2 = f"""
    kworkflow: 1
    name: upgrade-me
    tools:
      ta: {{url: "{url}/a", method: POST}}
      td: {{url: "{url}/d", method: POST}}
    steps:
      - {{id: a, kind: tool, tool: ta, args: {{n: 1}}}}
      - {{id: h, kind: human, prompt: Go?}}
      - {{id: d, kind: tool, tool: td, args: {{go: "${{ steps.h.output.data.go }}"}}}}
    edges:
      - {{from: a, to: h}}
      - {{from: [a, h], to: d, when: "steps.h.output.data.go"}}
    """
    async with new_worker(client, task_queue, [tool]):
        handle = await paused_at_h(client, task_queue, url)
        await handle.signal("upgrade", UpgradeRequest(definition=load(v2), version=2, by="sig"))
        state = await wait_for(handle, lambda s: s["version"] == 2, what="the upgrade")
        assert list(state["steps"]) == ["a", "h", "d"]
        await handle.execute_update("respond", {"step": "h", "data": {"go": True}})
        await handle.execute_update("resume", {})
        await result(handle)
        assert [r.path for r in tool_server.calls()] == ["/a", "/d"]
        log = (await handle.query("transitions", 0))["transitions"]
        upgraded = next(t for t in log if t["type"] == "run_upgraded")
        assert (upgraded["added"], upgraded["removed"], upgraded["by"]) == (["d"], ["b"], "sig")


async def test_an_upgraded_run_continues_as_new_with_the_new_version(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """Upgraded while paused, then past its event limit (no-op pauses lengthen its history):
    the answer wakes it, it continues as new, and the next run is started with version 2's
    definition, still paused, and runs v2's `b` and `c` once resumed."""
    url = tool_server.url
    request = RunRequest(definition=load(V1.format(url=url)), version=1, event_limit=100)
    async with new_worker(client, task_queue, [tool]):
        handle = await client.start_workflow(
            "kworkflow", request, id=new_run_id(), task_queue=task_queue
        )
        await wait_for_step(handle, "h", "waiting")
        await handle.execute_update("pause", {"by": "ops"})
        upgrade = UpgradeRequest(definition=load(V2.format(url=url)), version=2, by="ops")
        await handle.execute_update("upgrade", upgrade)
        while (
            await handle.describe()
        ).raw_description.workflow_execution_info.history_length < 100:
            await handle.execute_update("pause", {"by": "ops"})  # changes nothing
        await handle.execute_update("respond", {"step": "h", "data": {"go": False}})
        await wait_for(
            handle, lambda s: s["steps"]["h"]["status"] == "succeeded", what="h answered"
        )
        for _ in range(200):  # it continues as new once the answer has woken it
            if (await handle.describe()).run_id != handle.first_execution_run_id:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the run did not continue as new")
        state = await status(client.get_workflow_handle(handle.id))
        assert (state["version"], state["paused"]["by"]) == (2, "ops")
        assert list(state["steps"]) == ["a", "h", "b", "c"]
        latest = client.get_workflow_handle(handle.id)
        async for event in latest.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [started] = await client.data_converter.decode(payloads, [RunRequest])
            assert (started.version, [s.id for s in started.definition.steps]) == (
                2,
                ["a", "h", "b", "c"],
            )
            break
        await latest.execute_update("resume", {})
        assert await result(latest) == {"after": 11, "v": 2}
        assert tool_server.calls("/b")[0].json == {"n": 11, "go": False}
        assert [r.path for r in tool_server.calls()] == ["/a", "/b", "/c"]


async def test_temporal_cli_upgrades_a_paused_run(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """`temporal workflow update execute --name upgrade` with the definition as JSON upgrades a
    paused run; a mismatched one exits non-zero with the step named."""
    url = tool_server.url
    async with new_worker(client, task_queue, [tool]):
        handle = await paused_at_h(client, task_queue, url)
        target = client.service_client.config.target_host
        where = ["--address", target, "--namespace", client.namespace]
        update = [temporal_binary(), "-o", "json", *where, "workflow", "update", "execute"]
        update += ["--workflow-id", handle.id]

        async def temporal(payload: dict[str, Any]) -> tuple[int, str]:
            process = await asyncio.create_subprocess_exec(
                *update, "--name", "upgrade", "--input", json.dumps(payload),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode is not None
            return process.returncode, out.decode() + err.decode()

        without_h = V1.format(url=url).replace("  - {id: h, kind: human, prompt: Go?}\n", "")
        dump = load(without_h).model_dump(mode="json", by_alias=True, exclude_unset=True)
        code, text = await temporal({"definition": dump, "version": 2})
        assert code != 0
        assert "h: no such step in the new version" in text
        dump = load(V2.format(url=url)).model_dump(mode="json", by_alias=True, exclude_unset=True)
        code, text = await temporal({"definition": dump, "version": 2, "by": "cli"})
        assert code == 0, text
        assert json.loads(text)["result"]["added"] == ["c"]
        state = await status(handle)
        assert (state["version"], list(state["steps"])) == (2, ["a", "h", "b", "c"])
        await handle.execute_update("respond", {"step": "h", "data": {"go": True}})
        await handle.execute_update("resume", {})
        assert await result(handle) == {"after": 11, "v": 2}

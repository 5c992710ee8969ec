"""The run's transition log (what the API streams as events) and live retry reports."""

from __future__ import annotations

from temporalio.client import Client

from activities.tool import tool
from interpreter.registration import new_worker
from tests.support.runs import start, wait_for_step
from tests.support.tool_server import Reply, ToolServer, failing, tool_server

__all__ = ["tool_server"]  # the fixture used below


def shape(transitions: list[dict]) -> list[tuple]:
    return [(t["seq"], t["type"], t["step"]) for t in transitions]


async def test_transitions_are_numbered_and_resumable(
    client: Client, task_queue: str, worker: object
) -> None:
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: transitions
        steps:
          - {id: pick, kind: branch, cases: [{when: "true", to: yes_}], default: no_}
          - {id: yes_, kind: aggregate, expr: "1"}
          - {id: no_, kind: aggregate, expr: "2"}
          - {id: ask, kind: human, prompt: "ok?"}
        edges:
          - {from: pick, to: [yes_, no_]}
          - {from: yes_, to: ask}
        """,
    )
    await wait_for_step(handle, "ask", "waiting")
    early = await handle.query("transitions", 0)
    assert early["status"] == "running"
    assert shape(early["transitions"]) == [
        (1, "step_started", "pick"),
        (2, "step_succeeded", "pick"),
        (3, "step_started", "yes_"),
        (4, "step_skipped", "no_"),
        (5, "step_succeeded", "yes_"),
        (6, "step_started", "ask"),
        (7, "step_waiting", "ask"),
    ]
    await handle.execute_update("respond", {"step": "ask", "data": True})
    await handle.result()
    rest = await handle.query("transitions", 7)
    assert rest["status"] == "succeeded"
    assert shape(rest["transitions"]) == [
        (8, "step_succeeded", "ask"),
        (9, "run_succeeded", None),
    ]
    assert (await handle.query("status"))["last_seq"] == 9


async def test_a_failed_run_ends_with_its_error(
    client: Client, task_queue: str, worker: object
) -> None:
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: transitions-fail
        steps:
          - {id: boom, kind: tool, tool: fail, args: {type: Nope, retryable: false}}
        """,
    )
    await wait_for_step(handle, "boom", "failed")
    got = (await handle.query("transitions", 0))["transitions"]
    assert shape(got) == [
        (1, "step_started", "boom"),
        (2, "step_failed", "boom"),
        (3, "run_failed", None),
    ]
    assert got[1]["error"]["type"] == "Nope"
    assert got[2]["error"]["type"] == "StepFailed"


async def test_retry_attempts_are_reported_live(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """The real tool activity signals each retry attempt: the step's attempts count while it
    runs, and the log has a step_retrying transition per retry."""
    url = tool_server.route("/flaky", *failing(2, Reply(status=503, json={"error": "busy"})))
    async with new_worker(client, task_queue, [tool]):
        handle = await start(
            client,
            task_queue,
            f"""
            kworkflow: 1
            name: transitions-retry
            tools:
              flaky: {{url: "{url}"}}
            steps:
              - id: call
                kind: tool
                tool: flaky
                args: {{n: 1}}
                retry: {{initial_interval: 100ms, backoff_coefficient: 1.0, max_attempts: 4}}
            """,
        )
        echo = (await handle.result())["call"]
        assert (echo["method"], echo["path"], echo["json"]) == ("POST", "/flaky", {"n": 1})
        got = (await handle.query("transitions", 0))["transitions"]
        assert [(t["type"], t.get("attempt")) for t in got] == [
            ("step_started", None),
            ("step_retrying", 2),
            ("step_retrying", 3),
            ("step_succeeded", None),
            ("run_succeeded", None),
        ]
        assert (await handle.query("status"))["steps"]["call"]["attempts"] == 3

"""Large step outputs leave history for the blob store and read back whole (real dev server,
stand-in worker, the API served on loopback)."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.contract import StepResult
from interpreter.registration import DATA_CONVERTER, new_worker
from storage import StorageSettings, data_converter
from tests.api.support import api, start_run, wait_status, wait_waiting
from tests.cli import cli_env, kworkflow_async
from tests.support.runs import result, start
from tests.support.standins import STANDIN_ACTIVITIES

__all__ = ["api"]  # the fixture, imported for the tests below

KB900 = 900_000
MIB = 1024 * 1024

THREE_SINKS = f"""\
kworkflow: 1
name: three-sinks
steps:
  - {{id: a, kind: code, language: python, source: 'output = "a" * {KB900}'}}
  - {{id: b, kind: code, language: python, source: 'output = "b" * {KB900}'}}
  - {{id: c, kind: code, language: python, source: 'output = "c" * {KB900}'}}
edges: []
"""

FIVE_THEN_REVIEW = f"""\
kworkflow: 1
name: five-then-review
steps:
  - {{id: a, kind: code, language: python, source: 'output = "a" * {KB900}'}}
  - {{id: b, kind: code, language: python, source: 'output = "b" * {KB900}'}}
  - {{id: c, kind: code, language: python, source: 'output = "c" * {KB900}'}}
  - {{id: d, kind: code, language: python, source: 'output = "d" * {KB900}'}}
  - {{id: e, kind: code, language: python, source: 'output = "e" * {KB900}'}}
  - id: review
    kind: human
    prompt: "Five outputs of ${{ size(steps.a.output) }} characters: approve?"
    form: {{type: object, required: [approved], properties: {{approved: {{type: boolean}}}}}}
edges:
  - {{from: [a, b, c, d, e], to: review}}
"""

JOINED = f"""\
kworkflow: 1
name: joined
steps:
  - {{id: a, kind: code, language: python, source: 'output = "a" * {KB900}'}}
  - {{id: b, kind: code, language: python, source: 'output = "b" * {KB900}'}}
  - {{id: c, kind: code, language: python, source: 'output = "c" * {KB900}'}}
  - id: join
    kind: code
    language: python
    source: 'output = len(input[0]) + len(input[1]) + len(input[2])'
    input: ${{ [steps.a.output, steps.b.output, steps.c.output] }}
edges:
  - {{from: [a, b, c], to: join}}
"""

TOO_BIG = """\
kworkflow: 1
name: too-big
steps:
  - {id: big, kind: code, language: python, source: 'output = "z" * 3000000'}
"""


def marker(size: int) -> dict[str, Any]:
    return {"$truncated": True, "size": size}


def blob_files() -> list[Path]:
    root = Path(os.environ["KWORKFLOW_BLOB_DIR"])
    return [p for p in root.rglob("*") if p.is_file()]


async def history_payload_sizes(client: Client, run_id: str) -> list[int]:
    """The size of every payload in the run's history, as the server keeps them."""
    sizes: list[int] = []
    async for event in client.get_workflow_handle(run_id).fetch_history_events():
        for attrs in (
            event.workflow_execution_started_event_attributes.input,
            event.activity_task_scheduled_event_attributes.input,
            event.activity_task_completed_event_attributes.result,
            event.workflow_execution_completed_event_attributes.result,
        ):
            sizes.extend(p.ByteSize() for p in attrs.payloads)
    return sizes


async def test_three_900kb_sinks_complete_and_read_back_whole(
    client: Client, task_queue: str, worker: Worker
) -> None:
    handle = await start(client, task_queue, THREE_SINKS)
    expected = {"a": "a" * KB900, "b": "b" * KB900, "c": "c" * KB900}
    assert await result(handle) == expected
    sizes = await history_payload_sizes(client, handle.id)
    assert sizes and max(sizes) < 256 * 1024  # history holds references, not the outputs
    assert len([s for s in sizes if s < 4096]) == len(sizes)  # ...small ones
    for path in blob_files():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent


async def test_a_step_input_of_27_mb_reaches_its_activity(
    client: Client, task_queue: str, worker: Worker
) -> None:
    handle = await start(client, task_queue, JOINED)
    assert await result(handle) == {"join": 3 * KB900}
    sizes = await history_payload_sizes(client, handle.id)
    assert max(sizes[1:]) < 1024  # after the run's input (the definition): references


async def test_api_run_view_has_the_whole_result_and_markers_for_large_outputs(
    api: Any, client: Client
) -> None:
    api.publish(THREE_SINKS)
    async with api.http() as http:
        run_id = (await start_run(http, "three-sinks"))["id"]
        view = await wait_status(http, run_id, "succeeded")
        assert view["result"] == {"a": "a" * KB900, "b": "b" * KB900, "c": "c" * KB900}
        size = KB900 + 2  # the JSON string's quotes
        assert {sid: s["output"] for sid, s in view["steps"].items()} == {
            "a": marker(size),
            "b": marker(size),
            "c": marker(size),
        }
        step = await http.get(f"/v1/runs/{run_id}/steps/b")
        assert step.status_code == 200, step.text
        assert step.json()["output"] == "b" * KB900
        assert step.json()["status"] == "succeeded"
        missing = await http.get(f"/v1/runs/{run_id}/steps/nope")
        assert (missing.status_code, missing.json()) == (
            404,
            {"detail": f"run '{run_id}' has no step 'nope'"},
        )
    whole = await client.get_workflow_handle(run_id).result()
    assert whole == {"a": "a" * KB900, "b": "b" * KB900, "c": "c" * KB900}


async def test_five_900kb_outputs_leave_the_waiting_human_step_visible(api: Any) -> None:
    api.publish(FIVE_THEN_REVIEW)
    async with api.http() as http:
        run_id = (await start_run(http, "five-then-review"))["id"]
        view = await wait_waiting(http, run_id, "review")
        assert view["status"] == "running"
        assert view["steps"] is not None
        assert {sid: (s["status"], s["output"]) for sid, s in view["steps"].items()} == {
            **{sid: ("succeeded", marker(KB900 + 2)) for sid in "abcde"},
            "review": ("waiting", None),
        }
        [pending] = view["pending_human"]
        assert pending["step"] == "review"
        assert pending["prompt"] == f"Five outputs of {KB900} characters: approve?"
        answer = await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )
        assert answer.status_code == 200, answer.text
        done = await wait_status(http, run_id, "succeeded")
        assert done["result"]["review"]["data"] == {"approved": True}


@pytest.fixture
async def two_mib_worker(client: Client, task_queue: str) -> Any:
    """A worker whose payload maximum is 2 MiB (the blob store is the session's)."""
    settings = StorageSettings.from_env({**os.environ, "KWORKFLOW_PAYLOAD_MAX": "2MiB"})
    limited = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=data_converter(settings),
    )
    async with new_worker(limited, task_queue, STANDIN_ACTIVITIES) as worker:
        yield worker


async def test_an_output_above_the_maximum_fails_its_step_at_once(
    client: Client, task_queue: str, two_mib_worker: Worker
) -> None:
    handle = await start(client, task_queue, TOO_BIG)
    with pytest.raises(WorkflowFailureError) as caught:
        await result(handle)
    size = DATA_CONVERTER.payload_converter.to_payload(
        StepResult(output="z" * 3_000_000, attempt=1)
    ).ByteSize()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "StepFailed"
    assert cause.message == (
        "step 'big' (code) failed after 1 attempt: PayloadTooLarge: the output of step 'big' "
        f"(code) is 2.9 MiB ({size} bytes), above the limit of 2 MiB ({2 * MIB} bytes, "
        "KWORKFLOW_PAYLOAD_MAX)"
    )
    assert cause.details[0]["error"] == {
        "type": "PayloadTooLarge",
        "message": cause.message.split("PayloadTooLarge: ", 1)[1],
    }


async def test_a_result_above_the_maximum_is_kept_not_stuck(
    client: Client, task_queue: str, two_mib_worker: Worker
) -> None:
    """The maximum bounds step outputs; the run result built from them (2.7 MB) is stored."""
    handle = await start(client, task_queue, THREE_SINKS)
    assert await result(handle) == {"a": "a" * KB900, "b": "b" * KB900, "c": "c" * KB900}


async def test_kworkflow_run_prints_a_large_result_whole(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> None:
    path = tmp_path / "three.yaml"
    path.write_text(THREE_SINKS)
    env = cli_env(
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        KWORKFLOW_TASK_QUEUE=task_queue,
        KWORKFLOW_BLOB_DIR=os.environ["KWORKFLOW_BLOB_DIR"],
    )
    done = await kworkflow_async("run", str(path), env=env)
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout) == {"a": "a" * KB900, "b": "b" * KB900, "c": "c" * KB900}
    # A CLI that looks in another blob store says which blob it cannot find, and where.
    elsewhere = tmp_path / "elsewhere"
    done = await kworkflow_async(
        "run", str(path), env={**env, "KWORKFLOW_BLOB_DIR": str(elsewhere)}
    )
    assert done.code == 2
    assert re.search(
        rf"kworkflow: blob 'sha256/[0-9a-f]{{64}}': no such blob in {re.escape(str(elsewhere))}\n$",
        done.stderr,
    ), done.stderr

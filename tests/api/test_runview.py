"""Run views answered from Temporal: a start needs no worker, an ended run is read from its
final view with every worker stopped, a running run without a worker shows its definition's
steps as ``unknown``, and a large run's steps come page by page (real dev server and API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from api.settings import ApiSettings, ApiSettingsError
from interpreter.finalview import FINAL_VIEW_MEMO
from interpreter.registration import new_worker
from tests.api.support import (
    APPROVAL,
    GREET,
    Api,
    api,
    serving_api,
    start_run,
    wait_status,
    wait_waiting,
)
from tests.support.standins import COST_PER_CALL, STANDIN_ACTIVITIES

KB200 = 200_000
KB300 = 300_000

LARGE = f"""\
kworkflow: 1
name: large
steps:
  - {{id: a, kind: code, language: python, source: 'output = "a" * {KB200}'}}
  - {{id: b, kind: code, language: python, source: 'output = "b" * {KB200}'}}
  - {{id: c, kind: code, language: python, source: 'output = "c" * {KB300}'}}
output: done
"""

__all__ = ["api"]

CHAIN = """\
kworkflow: 1
name: chain
steps:
""" + "".join(f"  - {{id: s{i}, kind: aggregate, expr: '{i}'}}\n" for i in range(7))


@pytest.fixture
async def bare_api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API with no worker running (tests start one when they need it), short timeouts."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    async with serving_api(
        client, task_queue, url, live_query_timeout=0.3, query_timeout=1.0
    ) as api:
        yield api


def statuses(view: dict[str, Any]) -> dict[str, str]:
    return {sid: s["status"] for sid, s in view["steps"].items()}


async def test_a_start_answers_201_with_pending_steps_without_any_worker(
    bare_api: Api, client: Client, task_queue: str
) -> None:
    bare_api.publish(GREET)
    async with bare_api.http() as http:
        started = await start_run(http, "greet", {"name": "Ada"}, run_id="first")
        run_id = started["id"]
        assert run_id == f"{bare_api.acme}:first"
        assert started["status"] == "running"
        assert statuses(started) == {"hello": "pending", "ask": "pending"}
        assert started["steps"]["ask"]["kind"] == "llm"
        assert (started["steps_source"], started["steps_total"], started["last_seq"]) == (
            "definition",
            2,
            0,
        )
        assert (started["workflow"], started["version"], started["tenant"]) == (
            "greet",
            1,
            bare_api.acme,
        )
        handle = client.get_workflow_handle(run_id)
        assert started["temporal_run_id"] == (await handle.describe()).run_id

        # no worker has taken it up: its history says nothing has started, no query is asked
        response = await http.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["status"] == "running"
        assert statuses(view) == {"hello": "pending", "ask": "pending"}
        assert (view["steps_source"], view["steps_total"], view["last_seq"]) == (
            "definition",
            2,
            0,
        )

        # the same id again is that run, read as GET reads it
        body = {"workflow": "greet", "input": {"name": "Ada"}, "run_id": "first"}
        again = await http.post("/v1/runs", json=body)
        assert again.status_code == 200, again.text
        assert (again.json()["id"], statuses(again.json())) == (run_id, statuses(view))

        async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
            done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == "echo: Hello, Ada"
        assert done["steps_source"] == "final"


async def test_an_ended_run_is_read_whole_with_every_worker_stopped(
    bare_api: Api, client: Client, task_queue: str
) -> None:
    bare_api.publish(GREET)
    bare_api.publish(LARGE)
    async with bare_api.http() as http:
        async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
            greet = (await start_run(http, "greet", {"name": "Ada"}))["id"]
            large = (await start_run(http, "large"))["id"]
            live = await wait_status(http, greet, "succeeded")
            await wait_status(http, large, "succeeded")
            # the end's report may still run: wait until Temporal has closed both runs
            for run_id in (greet, large):
                await client.get_workflow_handle(run_id).result()

        view = (await http.get(f"/v1/runs/{greet}")).json()
        assert view["steps_source"] == "final"
        assert view["status"] == "succeeded"
        assert statuses(view) == {"hello": "succeeded", "ask": "succeeded"}
        assert view["steps"]["hello"]["output"] == "Hello, Ada"
        assert view["steps"]["ask"]["input"]["prompt"] == "Hello, Ada"
        assert view["result"] == "echo: Hello, Ada"
        assert view["usage"] == {"input_tokens": 2, "output_tokens": 3}
        assert view["cost_usd"] == COST_PER_CALL
        assert view["last_seq"] == 5
        assert view["steps"] == live["steps"]

        # a view above the blob store's threshold is kept there; the memo holds its reference
        description = await client.get_workflow_handle(large).describe()
        memo = description.raw_description.workflow_execution_info.memo.fields[FINAL_VIEW_MEMO]
        assert memo.ByteSize() < 2048
        view = (await http.get(f"/v1/runs/{large}")).json()
        assert (view["steps_source"], view["status"], view["result"]) == (
            "final",
            "succeeded",
            "done",
        )
        assert view["steps"]["a"]["output"] == "a" * KB200
        assert view["steps"]["b"]["output"] == "b" * KB200
        assert view["steps"]["c"]["output"] == {"$truncated": True, "size": KB300 + 2}


async def test_a_run_no_worker_answers_for_shows_its_steps_unknown(
    bare_api: Api, client: Client, task_queue: str
) -> None:
    bare_api.publish(APPROVAL)
    async with bare_api.http() as http:
        async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
            run_id = (await start_run(http, "approval"))["id"]
            waiting = await wait_waiting(http, run_id, "review")
            assert waiting["steps_source"] == "live"
            assert statuses(waiting) == {
                "prepare": "succeeded",
                "review": "waiting",
                "publish": "pending",
            }
        every_unknown = {"prepare": "unknown", "review": "unknown", "publish": "unknown"}
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["status"], view["steps_source"], view["last_seq"]) == (
            "running",
            "definition",
            None,
        )
        assert statuses(view) == every_unknown

        await client.get_workflow_handle(run_id).terminate(reason="test")
        # a terminated run keeps no final view, and no worker replays it for the query
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["status"], view["steps_source"]) == ("terminated", "definition")
        assert statuses(view) == every_unknown
        async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
            # a worker replays it to answer the query: its last state
            view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["status"], view["steps_source"]) == ("terminated", "final")
        assert statuses(view) == statuses(waiting)


async def test_the_steps_of_a_run_come_page_by_page(api: Api, client: Client) -> None:
    api.publish(CHAIN)
    async with api.http() as http:
        run_id = (await start_run(http, "chain"))["id"]
        whole = await wait_status(http, run_id, "succeeded")
        assert list(whole["steps"]) == [f"s{i}" for i in range(7)]
        assert whole["steps_next_page_token"] is None

        pages: list[list[str]] = []
        token: str | None = None
        while True:
            query = "steps_page_size=3" + (f"&steps_page_token={token}" if token else "")
            response = await http.get(f"/v1/runs/{run_id}?{query}")
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["steps_total"] == 7
            pages.append(list(page["steps"]))
            token = page["steps_next_page_token"]
            if token is None:
                break
        assert pages == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6"]]
        last = (await http.get(f"/v1/runs/{run_id}?steps_page_size=3")).json()
        assert last["steps"]["s2"] == whole["steps"]["s2"]

        for bad in ("nope!", "bm9wZQ"):  # not base64; base64 of a step the run does not have
            response = await http.get(f"/v1/runs/{run_id}?steps_page_token={bad}")
            assert (response.status_code, response.json()) == (
                422,
                {"detail": "steps_page_token is not valid"},
            )
        response = await http.get(f"/v1/runs/{run_id}?steps_page_size=0")
        assert response.status_code == 422


def test_the_live_query_timeout_is_read_from_the_environment() -> None:
    assert ApiSettings.from_env({}).live_query_timeout == 1.0
    assert ApiSettings.from_env({"KWORKFLOW_LIVE_QUERY_TIMEOUT": "0.25"}).live_query_timeout == 0.25
    for bad in ("soon", "0", "61", "nan"):
        with pytest.raises(ApiSettingsError) as caught:
            ApiSettings.from_env({"KWORKFLOW_LIVE_QUERY_TIMEOUT": bad})
        assert str(caught.value) == (
            f"KWORKFLOW_LIVE_QUERY_TIMEOUT is not a number of seconds from 0.01 to 60: {bad!r}"
        )

"""Helpers of the template tests: publish and start a template, script the model by what it is
asked, answer people and send events the way a user does, through the API."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx

from examples import templates
from tests.api.support import start_run, wait_run
from tests.examples.stack import Stack, load_tools, said
from tests.support.openai_server import Reply, completion

USAGE = (100, 20)
"""Tokens (in, out) of every scripted reply."""
RUN_TIMEOUT = 40.0
_event_ids = itertools.count()


Rule = tuple[str, str | Reply | Callable[[str], str | Reply]]


def script(stack: Stack, *rules: Rule) -> None:
    """Answer each request with the reply of the first rule whose text the request contains
    (its first line is ``model=<the model asked>``; a callable reply is given that text; a text
    is a completion, a :class:`Reply` is sent as it is); a request no rule matches gets a 500."""

    def respond(body: Any) -> Reply | dict[str, Any] | None:
        text = f"model={body['model']}\n{said(body)}"
        for needle, reply in rules:
            if needle in text:
                out = reply(text) if callable(reply) else reply
                if isinstance(out, Reply):
                    return out
                return completion(out, model=body["model"], usage=USAGE)
        return None

    stack.model.respond_with(respond)


def as_json(value: Any) -> str:
    """A reply text that is JSON (for output_schema steps)."""
    return json.dumps(value)


async def start(stack: Stack, http: httpx.AsyncClient, name: str, input: Any) -> str:
    """Publish template ``name`` (loading its tools) and start a run of it; the run id."""
    load_tools(name)
    stack.api.publish(templates.get(name).workflow)
    return str((await start_run(http, name, input))["id"])


async def until(
    http: httpx.AsyncClient, run_id: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Wait (up to the run timeout) for the run view to pass ``check``."""
    return await wait_run(http, run_id, check, timeout=RUN_TIMEOUT, what=what)


async def succeeded(http: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """Wait for the run to end; assert it succeeded and return its view."""
    view = await until(http, run_id, lambda v: v["status"] not in ("running", "queued"), "end")
    assert view["status"] == "succeeded", json.dumps(
        {"error": view["error"], "status": view["status"]}
    )
    return view


async def answer(http: httpx.AsyncClient, run_id: str, step: str, data: Any) -> dict[str, Any]:
    """Wait for human step ``step`` to ask, answer it with ``data``; the pending request."""
    view = await until(
        http, run_id, lambda v: any(p["step"] == step for p in v["pending_human"]), step
    )
    [pending] = [p for p in view["pending_human"] if p["step"] == step]
    response = await http.post(f"/v1/runs/{run_id}/steps/{step}/respond", json={"data": data})
    assert response.status_code == 200, response.text
    return dict(pending)


async def send_event(http: httpx.AsyncClient, type_: str, data: Any) -> dict[str, Any]:
    """POST a CloudEvent (a new id each time); the API's answer."""
    event = {
        "specversion": "1.0",
        "type": type_,
        "source": "/tests/templates",
        "id": f"ev-{next(_event_ids)}",
        "data": data,
    }
    response = await http.post("/v1/events", json=event)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def wake(
    http: httpx.AsyncClient, run_id: str, step: str, type_: str, data: Any
) -> dict[str, Any]:
    """Send an event that ends one more iteration of repeated step ``step`` of the run: sent
    again (a new id) while the iteration it should end has not begun waiting for it yet."""
    view = (await http.get(f"/v1/runs/{run_id}")).json()
    done = view["steps"][step]["iterations"] or 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RUN_TIMEOUT
    while loop.time() < deadline:
        await send_event(http, type_, data)
        resend = loop.time() + 2.0
        while loop.time() < resend:
            view = (await http.get(f"/v1/runs/{run_id}")).json()
            if (view["steps"][step]["iterations"] or 0) > done or view["status"] != "running":
                return dict(view)
            await asyncio.sleep(0.05)
    raise AssertionError(f"{step} of {run_id} never took a {type_} event")

"""The API served for real in tests: uvicorn on a free loopback port in the test's event loop,
over the session's Temporal dev server and a stand-in worker, with two tenants of its own.

Test modules import the fixtures they use (``from tests.api.support import api``). Each test
gets new tenants (``acme-<hex>``, ``globex-<hex>``), so Temporal visibility shows it its own runs
only. :func:`read_events` parses a Server-Sent Events stream.

``real_tool_api`` (imported, it is the module's ``api``) has a worker running the real ``tool``;
``events_api`` serves the API over the database the worker reads recent events from, and
:func:`send` posts a :func:`cloudevent` to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.client import Client
from temporalio.worker import Worker

from activities.tool import tool
from api.app import create_app
from api.settings import ApiSettings
from interpreter.registration import new_worker
from registry.store import DefinitionStore
from tests.support.standins import code, llm
from tests.support.tool_server import ToolServer

GREET = """\
kworkflow: 1
name: greet
input:
  type: object
  required: [name]
  properties:
    name: {type: string}
steps:
  - {id: hello, kind: aggregate, expr: '"Hello, " + input.name'}
  - {id: ask, kind: llm, prompt: "${ steps.hello.output }"}
output: ${ steps.ask.output.text }
"""

APPROVAL = """\
kworkflow: 1
name: approval
input:
  type: object
  properties:
    title: {type: string, default: v1}
steps:
  - {id: prepare, kind: aggregate, expr: '"Release " + input.title'}
  - id: review
    kind: human
    prompt: "Approve ${ steps.prepare.output }?"
    form:
      type: object
      required: [approved]
      properties: {approved: {type: boolean}}
  - {id: publish, kind: aggregate, expr: 'steps.review.output.data.approved ? "published" : "held"'}
output: ${ steps.publish.output }
"""

SLOW = """\
kworkflow: 1
name: slow
steps:
  - {id: nap, kind: tool, tool: sleep, args: {seconds: 60}}
"""

APPROVAL_TRANSITIONS = [
    ("step_started", "prepare"),
    ("step_succeeded", "prepare"),
    ("step_started", "review"),
    ("step_waiting", "review"),
    ("step_succeeded", "review"),
    ("step_started", "publish"),
    ("step_succeeded", "publish"),
    ("run_succeeded", None),
]
"""Every transition of an approved :data:`APPROVAL` run, in order."""


@dataclass
class Api:
    """A served API: its URL, its store, and a key per tenant."""

    url: str
    store: DefinitionStore
    keys: dict[str, str]
    """tenant -> API key."""
    tenants: list[str] = field(default_factory=list)

    @property
    def acme(self) -> str:
        """The first tenant."""
        return self.tenants[0]

    @property
    def globex(self) -> str:
        """The second tenant."""
        return self.tenants[1]

    def http(self, tenant: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """A client of the API sending ``tenant``'s key (default: the first tenant's; "" none)."""
        tenant = self.acme if tenant is None else tenant
        headers = {"X-API-Key": self.keys[tenant]} if tenant else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def publish(self, text: str, tenant: str | None = None) -> int:
        """Publish a definition for ``tenant`` (default: the first); returns its version."""
        return self.store.publish(tenant or self.acme, textwrap.dedent(text), "yaml").version


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Served:
    """A uvicorn server running as a task of the current event loop."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        """Ask the server to exit and wait for it."""
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


async def serve(app: Any) -> Served:
    """Serve ``app`` on a free loopback port until :meth:`Served.stop`."""
    sock = free_socket()
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", timeout_graceful_shutdown=1, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("the API server stopped during startup")
        if loop.time() > deadline:
            raise AssertionError("the API server did not start within 10 s")
        await asyncio.sleep(0.01)
    return Served(server, task, f"http://127.0.0.1:{sock.getsockname()[1]}")


def tenants() -> tuple[list[str], dict[str, str]]:
    """Two fresh tenants and their keys."""
    suffix = uuid.uuid4().hex[:8]
    names = [f"acme-{suffix}", f"globex-{suffix}"]
    return names, {name: f"key-{name}-{uuid.uuid4().hex}" for name in names}


@contextlib.asynccontextmanager
async def serving_api(
    client: Client, task_queue: str, database_url: str, *, single_tenant: bool = False, **kw: Any
) -> AsyncIterator[Api]:
    """Serve a new app over ``database_url`` for the block, then stop it and close its store."""
    names, keys = tenants()
    with DefinitionStore(database_url) as store:
        settings = ApiSettings(
            task_queue=task_queue,
            api_keys={} if single_tenant else {key: name for name, key in keys.items()},
            **kw,
        )
        served = await serve(create_app(client=client, store=store, settings=settings))
        if single_tenant:
            names, keys = ["default"], {"default": ""}
        try:
            yield Api(served.url, store, keys, names)
        finally:
            await served.stop()


@pytest.fixture
async def api(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> AsyncIterator[Api]:
    """The API over SQLite, two tenants, a stand-in worker on this test's task queue."""
    async with serving_api(client, task_queue, f"sqlite:///{tmp_path / 'registry.db'}") as api:
        yield api


@pytest.fixture(name="api")
async def real_tool_api(
    client: Client, task_queue: str, tool_server: ToolServer, tmp_path: Path
) -> AsyncIterator[Api]:
    """The API over SQLite with a worker whose `tool` is the real one (the stand-in llm and
    code): a module that imports it (and ``tool_server``) gets it as its ``api`` fixture."""
    async with (
        new_worker(client, task_queue, [llm, tool, code]),
        serving_api(client, task_queue, f"sqlite:///{tmp_path / 'registry.db'}") as api,
    ):
        yield api


@pytest.fixture
async def events_api(
    client: Client,
    task_queue: str,
    worker: Worker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Api]:
    """The API over SQLite; the worker's ``recent_events`` reads the same database."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("KWORKFLOW_DATABASE_URL", url)
    async with serving_api(client, task_queue, url) as api:
        yield api


# ---- helpers -----------------------------------------------------------------------------


async def start_run(http: httpx.AsyncClient, workflow: str, input: Any = None, **body: Any) -> Any:
    """POST /v1/runs; asserts 201 and returns the run view."""
    payload = {"workflow": workflow, "input": {} if input is None else input, **body}
    response = await http.post("/v1/runs", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


async def wait_run(
    http: httpx.AsyncClient,
    run_id: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 15.0,
    what: str = "",
) -> dict[str, Any]:
    """Poll GET /v1/runs/{id} until ``predicate(view)``; return that view."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    view: dict[str, Any] = {}
    while loop.time() < deadline:
        response = await http.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        view = response.json()
        if predicate(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}; last view: {view!r}")


async def wait_status(http: httpx.AsyncClient, run_id: str, status: str) -> dict[str, Any]:
    """Wait until the run has ``status``."""
    return await wait_run(http, run_id, lambda v: v["status"] == status, what=status)


async def wait_waiting(http: httpx.AsyncClient, run_id: str, step: str) -> dict[str, Any]:
    """Wait until human step ``step`` waits for an answer."""
    return await wait_run(
        http,
        run_id,
        lambda v: any(p["step"] == step for p in v["pending_human"]),
        what=f"{step} waiting",
    )


async def wait_listed(
    http: httpx.AsyncClient, query: str, predicate: Callable[[list[str]], bool], timeout: float = 10
) -> list[str]:
    """Poll GET /v1/runs?{query} (visibility lags) until ``predicate(ids)``; return the ids."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ids: list[str] = []
    while loop.time() < deadline:
        response = await http.get(f"/v1/runs?{query}")
        assert response.status_code == 200, response.text
        ids = [r["id"] for r in response.json()["runs"]]
        if predicate(ids):
            return ids
        await asyncio.sleep(0.1)
    raise AssertionError(f"GET /v1/runs?{query} never matched; last ids: {ids}")


def cloudevent(type_: str, id_: str, data: Any, source: str = "/shop") -> dict[str, Any]:
    """A structured CloudEvent."""
    return {"specversion": "1.0", "type": type_, "source": source, "id": id_, "data": data}


async def send(http: httpx.AsyncClient, event: dict[str, Any], status: int = 202) -> Any:
    """POST a structured event; asserts ``status`` and returns the body."""
    response = await http.post(
        "/v1/events",
        content=httpx.Request("POST", "/", json=event).content,
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert response.status_code == status, response.text
    return response.json()


async def waiting(http: httpx.AsyncClient, run_id: str, step: str) -> dict[str, Any]:
    """Wait until ``step`` is listed in ``pending_events``."""
    return await wait_run(
        http, run_id, lambda v: [p["step"] for p in v["pending_events"]] == [step], what=step
    )


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event."""

    id: str | None
    event: str
    data: Any


async def read_events(
    lines: AsyncIterator[str], until: Callable[[Event], bool] | None = None
) -> list[Event]:
    """Parse events from a stream's lines (``response.aiter_lines()``, one iterator per stream)
    until it ends or ``until(event)`` holds (that event included). Comments are skipped."""
    events: list[Event] = []
    fields: dict[str, str] = {}
    async for line in lines:
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields:
            data = json.loads(fields["data"])
            events.append(Event(fields.get("id"), fields.get("event", "message"), data))
            if until is not None and until(events[-1]):
                return events
        fields = {}
    return events


def pairs(events: list[Event]) -> list[tuple[str, str | None]]:
    """``(type, step)`` of each event."""
    return [(e.event, e.data.get("step")) for e in events]

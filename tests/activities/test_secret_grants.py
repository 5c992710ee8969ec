"""Secret grants: a worker secret goes only to the tenants and hosts the operator named.

At run time on a real worker and loopback server (a refused secret is never sent), and at publish
through the registry's check (a located ``secret_grant`` problem).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.tool import tool as tool_activity
from interpreter.registration import new_worker
from registry.source import check
from tests.support.loopback import egress_allowed
from tests.support.runs import run, run_failure
from tests.support.tool_server import Reply, ToolServer
from tests.support.worker_config import config_file

TOKEN = "granted-s3cret"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToolServer]:
    yield from egress_allowed(ToolServer(), monkeypatch)


@pytest.fixture
def granted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CRM_TOKEN for tenant acme, to 127.0.0.1 only; OPEN (short form) for tenant default."""
    monkeypatch.setenv("KW_GRANT_TOKEN", TOKEN)
    text = (
        "secrets:\n"
        "  CRM_TOKEN: {value: 'env:KW_GRANT_TOKEN', tenants: [acme], hosts: [127.0.0.1]}\n"
        "  OPEN: 'env:KW_GRANT_TOKEN'\n"
    )
    with config_file(tmp_path / "worker.yaml", text, monkeypatch):
        yield


@pytest.fixture
async def tool_worker(client: Client, task_queue: str, granted: None) -> AsyncIterator[Worker]:
    async with new_worker(client, task_queue, [tool_activity]) as w:
        yield w


def flow(url: str, secret: str = "CRM_TOKEN") -> str:
    return f"""
kworkflow: 1
name: grants
tools:
  crm:
    url: "{url}"
    headers: {{Authorization: "Bearer ${{ secrets.{secret} }}"}}
steps:
  - {{id: call, kind: tool, tool: crm, args: {{}}}}
edges: []
"""


def step_error(err) -> tuple[int, dict]:
    assert err.type == "StepFailed", err
    return err.details[0]["attempts"], err.details[0]["error"]


async def test_the_granted_tenant_sends_the_secret_to_its_host(
    client, task_queue, tool_worker, server
):
    url = server.route("/crm", Reply(json={"auth": f"Bearer {TOKEN}"}))
    out = await run(client, task_queue, flow(url), tenant="acme")
    assert out == {"call": {"auth": "Bearer ***"}}
    [request] = server.calls()
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_another_tenant_cannot_use_the_secret(client, task_queue, tool_worker, server):
    url = server.route("/crm", Reply(json={}))
    err, _ = await run_failure(client, task_queue, flow(url), tenant="mallory")
    attempts, error = step_error(err)
    assert (attempts, error["type"]) == (1, "SecretNotGranted")
    assert error["message"] == (
        "tool 'crm': header 'Authorization': secret 'CRM_TOKEN' is not granted to tenant 'mallory'"
    )
    assert TOKEN not in str(err.details) and server.calls() == []


async def test_the_secret_is_not_sent_to_another_host(client, task_queue, tool_worker, server):
    port = server.url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/crm"  # the same server, by a name the grant does not bind
    err, _ = await run_failure(client, task_queue, flow(url), tenant="acme")
    attempts, error = step_error(err)
    assert (attempts, error["type"]) == (1, "SecretNotGranted")
    assert error["message"].endswith(
        "secret 'CRM_TOKEN' may only be sent to 127.0.0.1, not to 'localhost'"
    )
    assert server.calls() == []


async def test_a_short_form_secret_belongs_to_the_single_tenant(
    client, task_queue, tool_worker, server
):
    url = server.route("/crm", Reply(json={"ok": True}))
    assert await run(client, task_queue, flow(url, "OPEN")) == {"call": {"ok": True}}
    err, _ = await run_failure(client, task_queue, flow(url, "OPEN"), tenant="acme")
    assert step_error(err)[1]["type"] == "SecretNotGranted"
    assert len(server.calls()) == 1


def test_publish_refuses_a_secret_without_a_grant(granted):
    text = flow("http://127.0.0.1:9/crm").lstrip("\n")
    assert check(text, "yaml", tenant="acme")[1] == []
    [problem] = check(text, "yaml", tenant="mallory")[1]
    assert (problem.code, problem.path, problem.line) == (
        "secret_grant",
        "tools.crm.headers.Authorization",
        6,
    )
    assert problem.message == "tool 'crm': secret 'CRM_TOKEN' is not granted to tenant 'mallory'"
    [elsewhere] = check(flow("https://evil.example/x").lstrip("\n"), "yaml", tenant="acme")[1]
    assert elsewhere.message == (
        "tool 'crm': secret 'CRM_TOKEN' may only be sent to 127.0.0.1, not to 'evil.example'"
    )
    [unknown] = check(flow("http://x.example/", "NOPE").lstrip("\n"), "yaml", tenant="acme")[1]
    assert unknown.message == "tool 'crm': secret 'NOPE' is not configured for tenant 'acme'"

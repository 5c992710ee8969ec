"""The egress policy end to end: a tenant's HTTP tools cannot reach inside the network.

Each denial is proven on a real loopback server that records what reaches it: a denied request
never arrives. The Temporal server's own HTTP API is the target the policy exists for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.config import current_config
from activities.tool import tool as tool_activity
from client.devserver import FAST_DEV_SERVER_ARGS
from interpreter.registration import DATA_CONVERTER, new_worker
from tests.conftest import temporal_binary
from tests.support.loopback import free_port
from tests.support.runs import run, run_failure
from tests.support.tool_server import Reply, ToolServer
from tests.support.worker_config import config_file


@pytest.fixture
def server() -> Iterator[ToolServer]:
    """A loopback server no egress entry allows (unlike the ``tool_server`` fixture)."""
    found = ToolServer().start()
    yield found
    found.stop()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty worker configuration file the test may write, and no allow from the env."""
    monkeypatch.delenv("KWORKFLOW_EGRESS_ALLOW", raising=False)
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    with config_file(tmp_path / "worker.yaml", "{}\n", monkeypatch) as path:
        yield path


@pytest.fixture
async def tool_worker(client: Client, task_queue: str, config: Path) -> AsyncIterator[Worker]:
    async with new_worker(client, task_queue, [tool_activity]) as w:
        yield w


def http_flow(url: str) -> str:
    return f"""
kworkflow: 1
name: egress
steps:
  - {{id: get, kind: tool, tool: http, args: {{url: "{url}"}}}}
edges: []
"""


def declared_flow(url: str) -> str:
    return f"""
kworkflow: 1
name: egress
tools:
  probe: {{url: "{url}", method: GET}}
steps:
  - {{id: get, kind: tool, tool: probe, args: {{}}}}
edges: []
"""


def step_error(err) -> tuple[int, dict]:
    assert err.type == "StepFailed", err
    return err.details[0]["attempts"], err.details[0]["error"]


async def test_builtin_http_to_loopback_is_denied_and_never_sent(
    client, task_queue, tool_worker, server
):
    url = server.route("/secret", Reply(json={"leak": True}))
    err, _ = await run_failure(client, task_queue, http_flow(url))
    attempts, error = step_error(err)
    assert (attempts, error["type"]) == (1, "EgressDenied")
    assert error["message"] == (
        f"tool 'http' (GET {url}): egress to '127.0.0.1' is denied: "
        "127.0.0.1 is not a public address (loopback)"
    )
    assert server.calls() == []


async def test_a_declared_tool_is_checked_on_its_resolved_address(
    client, task_queue, tool_worker, server
):
    port = server.url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/x"  # a name, resolved to loopback on the worker
    err, _ = await run_failure(client, task_queue, declared_flow(url))
    attempts, error = step_error(err)
    assert (attempts, error["type"]) == (1, "EgressDenied")
    assert "egress to 'localhost' is denied" in error["message"]
    assert "is not a public address (loopback)" in error["message"]
    assert server.calls() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::ffff:127.0.0.1]:1/",  # loopback inside an IPv6 form
        "http://10.11.12.13:1/",
        "http://0.0.0.0:1/",
    ],
)
async def test_internal_addresses_are_denied_before_connecting(
    client, task_queue, tool_worker, url
):
    err, _ = await run_failure(client, task_queue, http_flow(url))
    attempts, error = step_error(err)
    assert (attempts, error["type"]) == (1, "EgressDenied")
    assert "is not a public address" in error["message"]


async def test_redirects_are_answers_not_followed(client, task_queue, tool_worker, server, config):
    config.write_text(f"egress: {{allow: ['127.0.0.1:{server.url.rsplit(':', 1)[1]}']}}\n")
    current_config.cache_clear()
    inner = "http://169.254.169.254/latest/meta-data/"
    url = server.route("/go", Reply(302, text="moved", headers={"Location": inner}))
    out = await run(client, task_queue, http_flow(url))
    assert out["get"]["status"] == 302 and out["get"]["headers"]["location"] == inner
    assert [c.path for c in server.calls()] == ["/go"]


async def test_allow_entries_are_per_tenant(client, task_queue, tool_worker, server, config):
    port = server.url.rsplit(":", 1)[1]
    config.write_text(f"egress:\n  tenants:\n    acme: ['127.0.0.1:{port}']\n")
    current_config.cache_clear()
    url = server.route("/ok", Reply(json={"ok": 1}))
    out = await run(client, task_queue, http_flow(url), tenant="acme")
    assert (out["get"]["status"], out["get"]["json"]) == (200, {"ok": 1})
    err, _ = await run_failure(client, task_queue, http_flow(url), tenant="other")
    assert step_error(err)[1]["type"] == "EgressDenied"
    assert len(server.calls()) == 1  # acme's run; the other tenant's never arrived


# ---------------------------------------------------------------- Temporal's own HTTP API


@pytest.fixture
async def exposed_server() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server whose HTTP API listens on a known loopback port."""
    http_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[*FAST_DEV_SERVER_ARGS, "--http-port", str(http_port)],
    )
    yield env, http_port
    await env.shutdown()


async def test_temporal_http_api_is_out_of_reach_even_when_loopback_is_allowed(
    exposed_server, task_queue, config, monkeypatch
):
    env, http_port = exposed_server
    listing = f"http://127.0.0.1:{http_port}/api/v1/namespaces/default/workflows"
    async with httpx.AsyncClient() as direct:  # the endpoint is real and unauthenticated
        assert (await direct.get(listing)).status_code == 200
    async with new_worker(env.client, task_queue, [tool_activity]):
        err, _ = await run_failure(env.client, task_queue, http_flow(listing))
        assert "is not a public address (loopback)" in step_error(err)[1]["message"]

        # An operator who allows all of loopback still does not open Temporal's host to
        # tenants: only an entry with a port lifts that.
        monkeypatch.setenv("KWORKFLOW_EGRESS_ALLOW", "127.0.0.0/8")
        monkeypatch.setenv("TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
        err, _ = await run_failure(env.client, task_queue, http_flow(listing))
        attempts, error = step_error(err)
        assert (attempts, error["type"]) == (1, "EgressDenied")
        assert (
            "it is the address of the Temporal server or of the kworkflow API" in (error["message"])
        )


def test_a_bad_allow_entry_stops_the_worker_at_start(tmp_path: Path) -> None:
    """Not a step failure later: the worker exits 2 before it connects, saying which entry."""
    env = {
        **os.environ,
        "KWORKFLOW_EGRESS_ALLOW": "127.0.0.1:9000,http://crm.internal",
        "KWORKFLOW_CONFIG": str(tmp_path / "none.yaml"),
    }
    (tmp_path / "none.yaml").write_text("{}\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (
        2,
        "kworkflow: egress allow entry 'http://crm.internal' is not a host, *.domain, IP or CIDR\n",
    )

"""Workers report what they offer; ``GET /v1/workers``, ``lint --remote`` and publish use it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.capabilities import Reporter
from activities.errors import ConfigError
from api.settings import ApiSettings, ApiSettingsError
from tests.api.support import Api, serving_api
from tests.cli import cli_env, kworkflow_async
from tests.support.processes import ROOT, start_process, stop

WORKER_KEY = f"worker-{uuid.uuid4().hex}"

NEEDS = """\
kworkflow: 1
name: needs
steps:
  - id: hello
    kind: tool
    tool: greet
    args: {name: Ada}
  - id: lookup
    kind: tool
    tool: crm_lookup
  - id: think
    kind: llm
    provider: local
    model: huge-9
    prompt: hi
  - id: fine
    kind: llm
    provider: local
    model: small-1
    prompt: hi
"""

CONFIG = """\
providers:
  local:
    base_url: http://127.0.0.1:9/v1
    models: [small-1]
    prices: {small-2: {input: 1.0}}
"""


def worker_env(client: Client, task_queue: str, url: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "worker.yaml"
    config.write_text(CONFIG)
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KWORKFLOW_TASK_QUEUE": task_queue,
        "KWORKFLOW_CONFIG": str(config),
        "KWORKFLOW_TOOL_MODULES": "tests.support.sample_tools",
        "KWORKFLOW_API_URL": url,
        "KWORKFLOW_WORKER_KEY": WORKER_KEY,
        "KWORKFLOW_WORKER_REPORT_EVERY": "0.2",
    }


async def listed(api: Api, want: int, timeout: float = 30) -> list[dict[str, Any]]:
    """``GET /v1/workers`` until it lists ``want`` workers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with api.http() as http:
        while True:
            answer = await http.get("/v1/workers")
            assert answer.status_code == 200, answer.text
            workers: list[dict[str, Any]] = answer.json()["workers"]
            if len(workers) == want or loop.time() > deadline:
                return workers
            await asyncio.sleep(0.1)


async def test_a_worker_reports_lint_remote_finds_what_it_lacks_and_it_expires(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    async with serving_api(
        client, task_queue, database, worker_keys=frozenset({WORKER_KEY}), worker_expiry=1.5
    ) as api:
        process = start_process(
            [sys.executable, str(ROOT / "worker.py")],
            worker_env(client, task_queue, api.url, tmp_path),
        )
        try:
            [worker] = await listed(api, 1)
            assert worker["task_queue"] == task_queue
            assert worker["worker_id"].startswith(f"kworkflow-worker-{process.pid}@")
            assert worker["tools"] == ["explode", "greet", "ship"]
            assert worker["providers"] == {"local": ["small-1", "small-2"]}
            path = tmp_path / "needs.yaml"
            path.write_text(NEEDS)
            env = cli_env(KWORKFLOW_URL=api.url, KWORKFLOW_API_KEY=api.keys[api.acme])
            result = await kworkflow_async("lint", "--remote", str(path), env=env)
            assert result.code == 1, result.stderr
            lines = result.stderr.splitlines()
            assert lines[0].startswith(f"{path}:10:11: steps[1].tool: step 'lookup': tool ")
            assert "'crm_lookup' is not in the definition's `tools:`" in lines[0]
            assert lines[1] == (
                f"{path}:14:12: steps[2].model: step 'think': no running worker offers model "
                "'huge-9' on provider 'local' (offered: small-1, small-2)"
            )
            assert len(lines) == 2, result.stderr
            offline = await kworkflow_async("lint", str(path), env=env)
            assert (offline.code, offline.stderr) == (0, f"{path}: ok\n")
        finally:
            process.send_signal(signal.SIGKILL)  # gone without saying so: only expiry tells
            process.wait()
        assert await listed(api, 0) == []
        result = await kworkflow_async("lint", "--remote", str(path), env=env)
        assert result.code == 0, result.stderr
        assert "warning: no worker has reported what it offers" in result.stderr


async def test_a_stopping_worker_says_so(client: Client, task_queue: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    async with serving_api(
        client, task_queue, database, worker_keys=frozenset({WORKER_KEY}), worker_expiry=60
    ) as api:
        env = worker_env(client, task_queue, api.url, tmp_path)
        process = start_process([sys.executable, str(ROOT / "worker.py")], env)
        try:
            assert len(await listed(api, 1)) == 1
        finally:
            errors = await asyncio.to_thread(stop, process)  # the API answers meanwhile
        assert process.returncode == 0, errors
        assert "cannot tell" not in errors, errors
        assert await listed(api, 0, timeout=0) == []


async def test_publish_checks_against_the_workers_and_only_the_worker_key_reports(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    offer = {"task_queue": task_queue, "tools": ["greet"], "providers": {"local": ["small-1"]}}
    async with (
        serving_api(
            client, task_queue, database, worker_keys=frozenset({WORKER_KEY}), worker_expiry=60
        ) as api,
        api.http() as http,
        httpx.AsyncClient(base_url=api.url) as bare,
    ):
        yaml_type = {"Content-Type": "application/yaml"}
        nobody = await http.post("/v1/workflows", content=NEEDS, headers=yaml_type)
        assert nobody.status_code == 201, nobody.text
        assert [(w["code"], w["severity"]) for w in nobody.json()["warnings"]] == [
            ("no_workers", "warning")
        ]
        spoofed = await http.put("/v1/workers/fake-1", json=offer)  # a tenant's key
        assert spoofed.status_code == 403, spoofed.text
        assert "worker key" in spoofed.json()["detail"]
        keyless = await bare.put("/v1/workers/fake-1", json=offer)
        assert keyless.status_code == 403
        as_worker = {"Authorization": f"Bearer {WORKER_KEY}"}
        hostile = {**offer, "tools": ["x" * 300]}
        bad = await bare.put("/v1/workers/fake-1", json=hostile, headers=as_worker)
        assert bad.status_code == 422
        sneaky = await bare.get("/v1/workers", headers=as_worker)  # not a tenant's key
        assert sneaky.status_code == 401
        reported = await bare.put("/v1/workers/w-1", json=offer, headers=as_worker)
        assert reported.status_code == 200, reported.text
        refused = await http.post("/v1/workflows", content=NEEDS, headers=yaml_type)
        assert refused.status_code == 422, refused.text
        found = [(p["code"], p["path"], p["line"], p["column"]) for p in refused.json()["problems"]]
        assert found == [
            ("no_tool", "steps[1].tool", 10, 11),
            ("no_model", "steps[2].model", 14, 12),
        ]
        async with api.http(api.globex) as globex:
            other = await globex.get("/v1/workers")
        assert [w["worker_id"] for w in other.json()["workers"]] == ["w-1"]


def test_worker_keys_are_the_operators_and_never_a_tenants() -> None:
    tenant_key = f"tenant-{uuid.uuid4().hex}"
    env = {"KWORKFLOW_API_KEYS": f"{tenant_key}=acme", "KWORKFLOW_WORKER_KEYS": tenant_key}
    with pytest.raises(ApiSettingsError, match="must not also be a tenant's API key"):
        ApiSettings.from_env(env)
    with pytest.raises(ApiSettingsError, match="at least 8 characters"):
        ApiSettings.from_env({"KWORKFLOW_WORKER_KEYS": "short"})
    with pytest.raises(ApiSettingsError, match="KWORKFLOW_WORKER_EXPIRY"):
        ApiSettings.from_env({"KWORKFLOW_WORKER_EXPIRY": "soon"})
    settings = ApiSettings.from_env({"KWORKFLOW_WORKER_KEYS": f"{WORKER_KEY}, other-key-1"})
    assert settings.worker_keys == {WORKER_KEY, "other-key-1"}
    assert settings.worker_expiry == 120.0


def test_a_wrong_report_setting_stops_the_worker_at_start() -> None:
    with pytest.raises(ConfigError, match="KWORKFLOW_API_URL is not an http"):
        Reporter.from_env("w", {"KWORKFLOW_API_URL": "ftp://x"})
    with pytest.raises(ConfigError, match="KWORKFLOW_WORKER_REPORT_EVERY"):
        Reporter.from_env(
            "w", {"KWORKFLOW_API_URL": "http://x", "KWORKFLOW_WORKER_REPORT_EVERY": "0"}
        )
    assert Reporter.from_env("w", {}) is None

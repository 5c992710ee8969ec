"""Tenants and keys: every run endpoint with another tenant's key is a 404, keys are required,
and without keys the API is single-tenant and serves this machine only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from api.settings import ApiSettings, ApiSettingsError, parse_keys, read_keys_file
from client.start import start_run as start_file_run
from interpreter.loader import load_text
from interpreter.request import RunRequest
from registry.store import DefinitionStore
from tests.api.support import (
    APPROVAL,
    Api,
    api,
    serving_api,
    start_run,
    wait_listed,
    wait_status,
    wait_waiting,
)
from tests.cli import ROOT, cli_env

__all__ = ["api"]


async def test_another_tenants_run_is_not_found_anywhere(api: Api) -> None:
    api.publish(APPROVAL)
    api.publish(APPROVAL, tenant=api.globex)
    async with api.http() as http:
        run_id = (await start_run(http, "approval", run_id="shared"))["id"]
        await wait_waiting(http, run_id, "review")
    async with api.http(api.globex) as other:
        missing = {"detail": f"no run '{run_id}'"}
        for method, path, body in [
            ("GET", f"/v1/runs/{run_id}", None),
            ("GET", f"/v1/runs/{run_id}/events", None),
            ("GET", f"/v1/runs/{run_id}/graph", None),
            ("POST", f"/v1/runs/{run_id}/steps/review/respond", {"data": {"approved": False}}),
            ("POST", f"/v1/runs/{run_id}/cancel", None),
        ]:
            response = await other.request(method, path, json=body)
            assert (response.status_code, response.json()) == (404, missing), path
        absent = await other.get("/v1/runs/no-such-run")
        assert absent.json() == {"detail": "no run 'no-such-run'"}
        assert await wait_listed(other, "", lambda ids: ids == []) == []
        # the same client-chosen id is another run in another tenant
        theirs = await start_run(other, "approval", run_id="shared")
        assert theirs["id"] == f"{api.globex}:shared"
    async with api.http() as http:
        view = await wait_waiting(http, run_id, "review")  # untouched
        assert view["status"] == "running"
        assert await wait_listed(http, "", lambda ids: ids == [run_id]) == [run_id]


async def test_keys_are_required_and_both_headers_work(api: Api) -> None:
    key = api.keys[api.acme]
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        missing = await anonymous.get("/v1/runs")
        unknown = await anonymous.get("/v1/runs", headers={"X-API-Key": "not-a-known-key"})
        bearer = await anonymous.get("/v1/runs", headers={"Authorization": f"Bearer {key}"})
        header = await anonymous.get("/v1/runs", headers={"X-API-Key": key})
        workflows = await anonymous.get("/v1/workflows")
        public = [await anonymous.get(p) for p in ("/healthz", "/docs", "/openapi.json")]
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="kworkflow"'
    assert missing.json() == {
        "detail": "missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
    }
    assert (unknown.status_code, unknown.json()["detail"].split(":")[0]) == (
        401,
        "unknown API key",
    )
    assert (bearer.status_code, header.status_code, workflows.status_code) == (200, 200, 401)
    assert [r.status_code for r in public] == [200, 200, 200]
    assert public[0].json() == {"status": "ok"}
    paths = public[2].json()["paths"]
    keyed = [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    # the document says which routes take no key: health, and webhooks (signed instead)
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/v1/hooks/{tenant}/{webhook}"]["post"]["security"] == []
    assert paths["/v1/runs"]["get"]["security"] == keyed
    assert paths["/v1/events"]["post"]["security"] == keyed


async def test_runs_started_from_a_file_belong_to_the_default_tenant(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> None:
    """``kworkflow run FILE`` starts runs of tenant `default` with plain ids: a key of tenant
    `default` sees them, another tenant does not."""
    handle = await start_file_run(
        client, RunRequest(definition=load_text(APPROVAL), input={}), task_queue
    )
    assert ":" not in handle.id
    keys = {"key-of-the-default-tenant": "default", "key-of-another-tenant": "acme"}
    with DefinitionStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        app = create_app(
            client=client, store=store, settings=ApiSettings(task_queue=task_queue, api_keys=keys)
        )
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            http.headers["X-API-Key"] = "key-of-the-default-tenant"
            view = await wait_waiting(http, handle.id, "review")
            assert (view["tenant"], view["version"], view["workflow"]) == ("default", 0, "approval")
            other = await http.get(
                f"/v1/runs/{handle.id}", headers={"X-API-Key": "key-of-another-tenant"}
            )
            assert other.status_code == 404
            answer = await http.post(
                f"/v1/runs/{handle.id}/steps/review/respond", json={"data": {"approved": True}}
            )
            assert answer.json()["actor"] == "default:key-"
            await wait_status(http, handle.id, "succeeded")


async def test_single_tenant_mode(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> None:
    async with serving_api(
        client, task_queue, f"sqlite:///{tmp_path / 'r.db'}", single_tenant=True
    ) as served_api:
        served_api.publish(APPROVAL, tenant="default")
        async with httpx.AsyncClient(base_url=served_api.url) as http:
            run_id = (await start_run(http, "approval"))["id"]
            assert run_id.startswith("default:approval-")
            await wait_waiting(http, run_id, "review")
            answer = await http.post(
                f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
            )
            assert answer.json()["actor"] == "local"
        app = create_app(client=client, store=served_api.store, settings=ApiSettings())
        remote = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
        async with httpx.AsyncClient(transport=remote, base_url="http://api") as http:
            refused = await http.get("/v1/runs")
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("this API has no API keys configured")


def test_serving_without_keys_refuses_a_public_host(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=ROOT,
        env=cli_env(KWORKFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "kworkflow: no API keys configured: refusing to listen on 0.0.0.0 (single-tenant mode "
        "serves 127.0.0.1 only); set KWORKFLOW_API_KEYS or KWORKFLOW_API_KEYS_FILE\n"
    )


def test_keys_from_the_environment_and_from_a_file(tmp_path: Path) -> None:
    assert parse_keys("key-one-1234=acme, key-two-5678=globex,") == {
        "key-one-1234": "acme",
        "key-two-5678": "globex",
    }
    with pytest.raises(ApiSettingsError, match="entry 1 is not `key=tenant`"):
        parse_keys("just-a-key-here")
    with pytest.raises(ApiSettingsError, match="at least 8 printable"):
        parse_keys("short=acme")
    with pytest.raises(ApiSettingsError, match="tenant 'a:b' is not a valid tenant name"):
        parse_keys("long-enough-key=a:b")
    keys = tmp_path / "keys.yaml"
    keys.write_text("key-three-9012: initech\n")
    assert read_keys_file(keys) == {"key-three-9012": "initech"}
    keys.write_text('["not", "a", "mapping"]')
    with pytest.raises(ApiSettingsError, match="must map each key"):
        read_keys_file(keys)
    env = {
        "KWORKFLOW_API_KEYS": "key-one-1234=acme",
        "KWORKFLOW_API_KEYS_FILE": str(tmp_path / "keys.json"),
    }
    (tmp_path / "keys.json").write_text('{"key-four-3456": "hooli"}')
    settings = ApiSettings.from_env(env)
    assert dict(settings.api_keys) == {"key-one-1234": "acme", "key-four-3456": "hooli"}
    assert (settings.host, settings.port, settings.single_tenant) == ("127.0.0.1", 8000, False)
    assert ApiSettings.from_env({}).single_tenant


def test_an_unreachable_temporal_server_is_a_clear_failure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.serve", "--port", "0"],
        cwd=ROOT,
        env=cli_env(
            KWORKFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}", TEMPORAL_ADDRESS="127.0.0.1:1"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stderr.splitlines()[-1].startswith(
        "kworkflow: cannot reach the Temporal server at 127.0.0.1:1: "
    )

"""The production topology in docker-compose.yml and the Dockerfile it builds (no engine here)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from storage import StorageSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(compose["services"])


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _healthy(service: dict[str, Any], dependency: str) -> bool:
    depends = service.get("depends_on", {})
    return isinstance(depends, dict) and depends.get(dependency, {}).get("condition") == (
        "service_healthy"
    )


def test_every_service_of_the_topology_is_present(services: dict[str, Any]) -> None:
    assert set(services) == {
        "postgresql",
        "temporal",
        "temporal-ui",
        "minio",
        "minio-setup",
        "api",
        "worker",
    }


def test_temporal_keeps_its_state_in_postgresql(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    env = _env(temporal)
    assert temporal["image"].startswith("temporalio/auto-setup:")
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["POSTGRES_USER"] == _env(services["postgresql"])["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == _env(services["postgresql"])["POSTGRES_PASSWORD"]
    assert _healthy(temporal, "postgresql")
    assert "7233:7233" in temporal["ports"]


def test_services_others_wait_for_have_healthchecks(services: dict[str, Any]) -> None:
    waited_for = {
        dep
        for service in services.values()
        for dep, cond in (service.get("depends_on") or {}).items()
        if cond.get("condition") == "service_healthy"
    }
    assert waited_for == {"postgresql", "temporal", "minio"}
    for name in [*waited_for, "api"]:
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(services["postgresql"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert services["temporal"]["healthcheck"]["test"][1:5] == [
        "temporal",
        "operator",
        "cluster",
        "health",
    ]


def test_ui_talks_to_temporal(services: dict[str, Any]) -> None:
    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    assert _env(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert _healthy(ui, "temporal")


def test_workers_run_worker_py_twice_on_the_kworkflow_queue(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["build"] == "."
    assert worker["command"] == ["python", "worker.py"]
    assert worker["deploy"]["replicas"] == 2
    assert _healthy(worker, "temporal")
    assert _env(worker) == {
        "TEMPORAL_ADDRESS": "temporal:7233",
        "TEMPORAL_NAMESPACE": "default",
        "KWORKFLOW_TASK_QUEUE": "kworkflow",
        "KWORKFLOW_BLOB_S3_BUCKET": "kworkflow-payloads",
        "KWORKFLOW_BLOB_S3_ENDPOINT": "http://minio:9000",
        "KWORKFLOW_BLOB_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "kworkflow",
        "AWS_SECRET_ACCESS_KEY": _MINIO_PASSWORD,
        "KWORKFLOW_CONFIG": "/etc/kworkflow/worker.yaml",
        "KWORKFLOW_URL": "http://api:8000",
        "KWORKFLOW_DATABASE_URL": "postgresql://kworkflow:kworkflow@postgresql:5432/kworkflow",
        "KWORKFLOW_API_URL": "http://api:8000",
        "KWORKFLOW_WORKER_KEY": _WORKER_KEY,
    }


_WORKER_KEY = "${KWORKFLOW_WORKER_KEY:?set KWORKFLOW_WORKER_KEY (8 characters or more)}"


def test_api_serves_the_app_factory_on_8000(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["build"] == "."
    command = api["command"]
    assert command[:3] == ["uvicorn", "api.app:create_app", "--factory"]
    assert command[command.index("--port") + 1] == "8000"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "8000:8000" in api["ports"]
    assert _healthy(api, "temporal") and _healthy(api, "postgresql")
    env = _env(api)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["KWORKFLOW_TASK_QUEUE"] == _env(services["worker"])["KWORKFLOW_TASK_QUEUE"]
    pg = _env(services["postgresql"])
    user, password, db = pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
    assert env["KWORKFLOW_DATABASE_URL"] == f"postgresql://{user}:{password}@postgresql:5432/{db}"
    worker = services["worker"]  # event steps read recent events from the API's database
    assert _env(worker)["KWORKFLOW_DATABASE_URL"] == env["KWORKFLOW_DATABASE_URL"]
    assert _healthy(worker, "postgresql")


_MINIO_PASSWORD = "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD (8 characters or more)}"


def test_large_payloads_go_to_minio_for_worker_and_api_alike(services: dict[str, Any]) -> None:
    minio, setup = services["minio"], services["minio-setup"]
    assert minio["image"].startswith("minio/minio:")
    assert minio["command"] == ["server", "/data"]
    assert "minio-data:/data" in minio["volumes"]
    assert _env(minio) == {"MINIO_ROOT_USER": "kworkflow", "MINIO_ROOT_PASSWORD": _MINIO_PASSWORD}
    assert setup["image"].startswith("minio/mc:")
    assert _healthy(setup, "minio")
    script = setup["entrypoint"][-1]
    assert 'mc alias set kw http://minio:9000 kworkflow "$$MINIO_ROOT_PASSWORD"' in script
    assert "mc mb --ignore-existing kw/kworkflow-payloads" in script
    for name in ("worker", "api"):
        service = services[name]
        assert service["depends_on"]["minio-setup"] == {
            "condition": "service_completed_successfully"
        }, name
        settings = StorageSettings.from_env(_env(service))
        assert settings.s3_bucket == "kworkflow-payloads", name
        assert settings.s3_endpoint == "http://minio:9000", name
        assert settings.s3_region == "us-east-1", name
        assert (settings.threshold, settings.max_bytes) == (256 * 1024, 64 * 1024 * 1024)
        assert _env(service)["AWS_ACCESS_KEY_ID"] == _env(minio)["MINIO_ROOT_USER"]
        assert _env(service)["AWS_SECRET_ACCESS_KEY"] == _env(minio)["MINIO_ROOT_PASSWORD"]


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            pairs.append((instruction.upper(), rest.strip()))
    return pairs


def test_dockerfile_installs_the_project_on_python_3_11() -> None:
    pairs = _dockerfile()
    assert pairs[0] == ("FROM", "python:3.11-slim")
    sources = {
        src.rstrip("/")
        for instruction, args in pairs
        if instruction == "COPY"
        for src in shlex.split(args)[:-1]
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in project["tool"]["setuptools"]["py-modules"]}
    assert packages | modules | {"pyproject.toml", "README.md"} <= sources
    assert any(i == "RUN" and "pip install ." in args for i, args in pairs)


def test_dockerfile_default_command_is_the_worker_compose_runs() -> None:
    pairs = _dockerfile()
    assert not any(i == "ENTRYPOINT" for i, _ in pairs)  # so compose `command:` replaces CMD
    cmd = [yaml.safe_load(args) for i, args in pairs if i == "CMD"]
    assert cmd == [["python", "worker.py"]]
    assert (ROOT / "worker.py").is_file()


def test_api_and_workers_read_one_worker_configuration(services: dict[str, Any]) -> None:
    """Secret grants and limits are checked at publish (API) and at run time (workers)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    source = compose["configs"]["worker-config"]["file"]
    from activities.config import load_config

    config = load_config(ROOT / source)
    assert config.limits.flow.max_concurrency == 100
    for name in ("api", "worker"):
        service = services[name]
        [mounted] = service["configs"]
        assert mounted == {"source": "worker-config", "target": "/etc/kworkflow/worker.yaml"}
        env = _env(service)
        assert env["KWORKFLOW_CONFIG"] == "/etc/kworkflow/worker.yaml"
    assert _env(services["worker"])["KWORKFLOW_URL"] == "http://api:8000"


def test_workers_report_their_offer_to_the_api_with_the_operator_key(
    services: dict[str, Any],
) -> None:
    worker, api = _env(services["worker"]), _env(services["api"])
    assert worker["KWORKFLOW_API_URL"] == "http://api:8000"
    assert worker["KWORKFLOW_WORKER_KEY"].startswith("${KWORKFLOW_WORKER_KEY:?")
    assert api["KWORKFLOW_WORKER_KEYS"] == worker["KWORKFLOW_WORKER_KEY"]  # the same secret
    assert api["KWORKFLOW_WORKER_KEYS"] not in api["KWORKFLOW_API_KEYS"]  # never a tenant's

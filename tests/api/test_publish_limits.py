"""Publish keeps the operator's limits: the API reads them from the worker configuration file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.settings import ApiSettings, ApiSettingsError
from interpreter.limits import CodeLimits, Limits
from tests.api.support import serve

BIG = """\
kworkflow: 1
name: big
steps:
  - id: crunch
    kind: code
    memory_mb: 768
    source: "output = 1"
"""


def settings(tmp_path: Path, config: str | None, task_queue: str) -> ApiSettings:
    env = {
        "KWORKFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "KWORKFLOW_TASK_QUEUE": task_queue,
    }
    if config is not None:
        (tmp_path / "worker.yaml").write_text(config)
        env["KWORKFLOW_CONFIG"] = str(tmp_path / "worker.yaml")
    return ApiSettings.from_env(env)


async def test_publish_refuses_a_code_step_over_the_workers_limits(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    config = "limits:\n  code: {max_memory_mb: 512}\n"
    served = await serve(create_app(client=client, settings=settings(tmp_path, config, task_queue)))
    try:
        async with httpx.AsyncClient(base_url=served.url) as http:
            headers = {"Content-Type": "application/yaml"}
            rejected = await http.post("/v1/workflows", content=BIG, headers=headers)
            checked = await http.post("/v1/workflows/validate", content=BIG, headers=headers)
            fits = await http.post(
                "/v1/workflows", content=BIG.replace("768", "512"), headers=headers
            )
    finally:
        await served.stop()
    problem = {
        "path": "steps[0].memory_mb",
        "line": 6,
        "column": 16,
        "message": "memory_mb 768 is over this worker's maximum of 512 (limits.code.max_memory_mb)",
        "step": "crunch",
        "code": "limit",
        "severity": "error",
    }
    assert (rejected.status_code, rejected.json()["problems"]) == (422, [problem])
    assert checked.json() == {"ok": False, "problems": [problem]}
    assert fits.status_code == 201, fits.text


def test_the_api_reads_the_limits_or_says_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    assert settings(tmp_path, None, "q").limits == Limits()
    read = settings(tmp_path, "limits:\n  code: {max_timeout: 1h}\n", "q").limits
    assert read == Limits(code=CodeLimits(max_timeout="1h"))
    with pytest.raises(ApiSettingsError) as caught:
        settings(tmp_path, "limits:\n  code: {max_memory_mb: lots}\n", "q")
    assert str(caught.value) == (
        f"worker config {tmp_path / 'worker.yaml'}: limits.code.max_memory_mb: "
        "Input should be a valid integer, unable to parse string as an integer"
    )

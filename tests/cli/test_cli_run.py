"""``kworkflow run`` against the session's dev server, with an in-process worker."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.cli import FAILING, cli_env, kworkflow_async

PARENT = """\
kworkflow: 1
name: parent
output: ${ steps.call.output }
steps:
  - id: call
    kind: subflow
    workflow: greeter
    input: {name: "${ input.name }"}
"""

GREETER = """\
kworkflow: 1
name: greeter
output: ${ steps.greet.output }
steps:
  - id: greet
    kind: aggregate
    expr: '"Hello, " + input.name'
"""


@pytest.fixture
def env(client: Client, task_queue: str) -> dict[str, str]:
    """CLI settings pointing at the session's server and this test's task queue."""
    return cli_env(
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        KWORKFLOW_TASK_QUEUE=task_queue,
    )


def pretty(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


async def test_hello_prints_the_result_as_json(worker: Worker, env: dict[str, str]) -> None:
    result = await kworkflow_async(
        "run", "examples/hello.yaml", "--input", '{"name":"Ada"}', env=env
    )
    assert (result.code, result.stdout) == (0, pretty({"greeting": "Hello, Ada.", "length": 11}))
    assert re.fullmatch(
        r"run hello-[0-9a-f]{8} started on task queue '[^']+'; waiting for its result\n",
        result.stderr,
    )


async def test_the_branch_follows_the_input(worker: Worker, env: dict[str, str]) -> None:
    result = await kworkflow_async(
        "run", "examples/hello.yaml", "--input", '{"name":"Ada","excited":true}', env=env
    )
    assert (result.code, result.stdout) == (0, pretty({"greeting": "Hello, Ada!", "length": 11}))


async def test_fanout_example(worker: Worker, env: dict[str, str]) -> None:
    result = await kworkflow_async(
        "run", "examples/fanout.yaml", "--input", '{"words":["kiwi","banana","fig"]}', env=env
    )
    assert (result.code, result.stdout) == (0, pretty({"count": 3, "long_words": ["banana"]}))


async def test_a_failed_run_names_the_step_and_exits_1(
    worker: Worker, env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING)
    run_id = f"failing-{uuid.uuid4().hex[:8]}"
    result = await kworkflow_async(
        "run", str(path), "--input", '{"values":[1]}', "--run-id", run_id, env=env
    )
    assert (result.code, result.stdout) == (1, "")
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"run {run_id} failed: step 'pick' (aggregate) failed")
    assert ": ExpressionError: " in last


async def test_no_wait_prints_the_run_id_only(
    worker: Worker, env: dict[str, str], client: Client
) -> None:
    result = await kworkflow_async(
        "run", "examples/hello.yaml", "--input", '{"name":"Bo"}', "--no-wait", env=env
    )
    assert (result.code, result.stderr) == (0, "")
    run_id = result.stdout.strip()
    assert re.fullmatch(r"hello-[0-9a-f]{8}", run_id)
    assert result.stdout == run_id + "\n"
    outcome = await client.get_workflow_handle(run_id).result()
    assert outcome == {"greeting": "Hello, Bo.", "length": 10}


async def test_run_id_is_the_one_given(worker: Worker, env: dict[str, str]) -> None:
    run_id = f"mine-{uuid.uuid4().hex}"
    result = await kworkflow_async(
        "run", "examples/hello.yaml", "--input", '{"name":"Ada"}', "--run-id", run_id,
        "--no-wait", env=env,
    )  # fmt: skip
    assert (result.code, result.stdout) == (0, run_id + "\n")


async def test_a_named_subflow_comes_from_a_sibling_file(
    worker: Worker, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "parent.yaml").write_text(PARENT)
    (tmp_path / "greeter.yaml").write_text(GREETER)
    result = await kworkflow_async(
        "run", str(tmp_path / "parent.yaml"), "--input", '{"name":"Ada"}', env=env
    )
    assert (result.code, result.stdout) == (0, pretty("Hello, Ada"))


async def test_a_named_subflow_comes_from_a_lib_dir(
    worker: Worker, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "flows" / "parent.yaml").write_text(PARENT)
    (tmp_path / "lib" / "greeter.yaml").write_text(GREETER)
    result = await kworkflow_async(
        "run", str(tmp_path / "flows" / "parent.yaml"), "--input", '{"name":"Ada"}',
        "--lib", str(tmp_path / "lib"), env=env,
    )  # fmt: skip
    assert (result.code, result.stdout) == (0, pretty("Hello, Ada"))

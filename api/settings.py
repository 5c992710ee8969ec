"""The API's settings: where Temporal and the database are, the tenant keys, the bounds.

Read from the environment by :meth:`ApiSettings.from_env`; tests build :class:`ApiSettings`
directly. Tenant keys come from ``KWORKFLOW_API_KEYS`` (``key1=tenant1,key2=tenant2``) or from
the YAML or JSON mapping (key -> tenant) in the file named by ``KWORKFLOW_API_KEYS_FILE``.
Without any key the API is single-tenant (tenant ``default``) and serves loopback only.
The operator's ``limits`` that publish checks come from the worker configuration file
(``KWORKFLOW_CONFIG``, else ``kworkflow.worker.yaml`` if present; see :mod:`activities.config`),
so the API refuses what the workers would refuse.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from activities.config import load_config
from activities.errors import ConfigError
from activities.events_out import EventsOutConfig
from api.hook_secrets import SECRETS_ENV, HookSecretsError, parse_secrets
from client.connect import DEFAULT_ADDRESS, DEFAULT_NAMESPACE, Settings
from interpreter.limits import Limits
from interpreter.request import DEFAULT_TASK_QUEUE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (413 above)."""
MAX_EVENT_BYTES = 64 * 1024
"""Largest CloudEvent ``POST /v1/events`` takes (413 above; ``KWORKFLOW_MAX_EVENT_BYTES``)."""
MAX_WEBHOOK_BYTES = 256 * 1024
"""Largest webhook body (413 above; ``KWORKFLOW_MAX_WEBHOOK_BYTES``)."""
MAX_INPUT_BYTES = 256 * 1024
"""Largest run ``input``, JSON-encoded (413 above)."""
SINGLE_TENANT = "default"
"""The tenant of every request when no API key is configured."""
LOCAL_ACTOR = "local"
"""Who answers a human step in single-tenant mode."""

TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A tenant name: no ``:`` (it separates the tenant from the run id) and no quotes."""
_MIN_KEY_LENGTH = 8


class ApiSettingsError(Exception):
    """The API's configuration cannot be used (bad keys, bad port); the message says why."""


@dataclass(frozen=True)
class ApiSettings:
    """How the API reaches Temporal and the registry, whom it serves, and its bounds.

    Attributes:
        address: Temporal frontend ``host:port`` (``TEMPORAL_ADDRESS``).
        namespace: Temporal namespace (``TEMPORAL_NAMESPACE``).
        task_queue: Where runs are started (``KWORKFLOW_TASK_QUEUE``).
        database_url: The definitions database (``KWORKFLOW_DATABASE_URL``; None: the
            registry's default).
        api_keys: API key -> tenant. Empty: single-tenant mode.
        host: Address to bind (``KWORKFLOW_API_HOST``).
        port: Port to bind (``KWORKFLOW_API_PORT``).
        max_body_bytes: Largest request body.
        max_input_bytes: Largest run input, JSON-encoded.
        events_poll_interval: Seconds between two ``transitions`` queries of an event stream.
        events_keepalive: Seconds of silence after which an event stream sends a comment.
        query_timeout: Seconds a query of a run may take before the API gives up on it (an
            ended run without its final view: a worker replays its history to answer).
        live_query_timeout: Seconds the ``status`` query of a running run may take before the
            run view falls back to the definition's steps (workers hold running runs in their
            cache and answer in milliseconds; ``KWORKFLOW_LIVE_QUERY_TIMEOUT``).
        cancel_grace: Seconds a cancelled ``stalled`` run is given before it is terminated
            (``KWORKFLOW_CANCEL_GRACE``).
        max_event_bytes: Largest CloudEvent body (``KWORKFLOW_MAX_EVENT_BYTES``).
        limits: The operator's limits a published definition must keep (the worker
            configuration's ``limits``).
        webhook_secrets: ``<tenant>/<NAME>`` -> a webhook's HMAC secret or ``env:VAR``
            (``KWORKFLOW_WEBHOOK_SECRETS``, :mod:`api.hook_secrets`).
        max_webhook_bytes: Largest webhook body (``KWORKFLOW_MAX_WEBHOOK_BYTES``).
        events_out: The lifecycle events sink (the worker configuration's ``events_out``):
            runs started here send their events, publishes are sent from here; None: none.
        worker_keys: The operator's keys workers report what they offer with
            (``PUT /v1/workers/{id}``); never a tenant's key. Empty: only workers on this
            machine may report, and only in single-tenant mode.
        worker_expiry: Seconds after its last report that a worker stops counting.
    """

    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    database_url: str | None = None
    api_keys: Mapping[str, str] = field(default_factory=dict)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = MAX_BODY_BYTES
    max_input_bytes: int = MAX_INPUT_BYTES
    events_poll_interval: float = 0.2
    events_keepalive: float = 15.0
    query_timeout: float = 5.0
    live_query_timeout: float = 1.0
    cancel_grace: float = 5.0
    limits: Limits = field(default_factory=Limits)
    max_event_bytes: int = MAX_EVENT_BYTES
    webhook_secrets: Mapping[str, str] = field(default_factory=dict)
    max_webhook_bytes: int = MAX_WEBHOOK_BYTES
    events_out: EventsOutConfig | None = None
    worker_keys: frozenset[str] = frozenset()
    worker_expiry: float = 120.0

    def __post_init__(self) -> None:
        check_keys(self.api_keys)
        if self.worker_keys & set(self.api_keys):
            raise ApiSettingsError("a worker key must not also be a tenant's API key")

    @property
    def single_tenant(self) -> bool:
        """No API key is configured: every request is tenant ``default``."""
        return not self.api_keys

    @property
    def temporal(self) -> Settings:
        """The client settings (address, namespace, task queue)."""
        return Settings(address=self.address, namespace=self.namespace, task_queue=self.task_queue)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Read the settings from ``env`` (default: the process environment).

        Raises:
            ApiSettingsError: A malformed key list, an unreadable keys file, a bad port.
        """
        env = os.environ if env is None else env
        temporal = Settings.from_env(env)
        port_text = env.get("KWORKFLOW_API_PORT") or str(DEFAULT_PORT)
        try:
            port = int(port_text)
        except ValueError:
            raise ApiSettingsError(f"KWORKFLOW_API_PORT is not a port: {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise ApiSettingsError(f"KWORKFLOW_API_PORT is not a port: {port}")
        keys: dict[str, str] = {}
        if env.get("KWORKFLOW_API_KEYS"):
            keys.update(parse_keys(env["KWORKFLOW_API_KEYS"]))
        if env.get("KWORKFLOW_API_KEYS_FILE"):
            keys.update(read_keys_file(Path(env["KWORKFLOW_API_KEYS_FILE"])))
        grace = _seconds(env, "KWORKFLOW_CANCEL_GRACE", 5.0, low=0)
        live_timeout = _seconds(env, "KWORKFLOW_LIVE_QUERY_TIMEOUT", 1.0, low=0.01, high=60)
        try:
            config = load_config(env.get("KWORKFLOW_CONFIG") or None)
        except ConfigError as exc:
            raise ApiSettingsError(str(exc)) from None
        try:
            hook_secrets = parse_secrets(env.get(SECRETS_ENV) or "")
        except HookSecretsError as exc:
            raise ApiSettingsError(str(exc)) from None
        return cls(
            address=temporal.address,
            namespace=temporal.namespace,
            task_queue=temporal.task_queue,
            database_url=env.get("KWORKFLOW_DATABASE_URL") or None,
            api_keys=keys,
            host=env.get("KWORKFLOW_API_HOST") or DEFAULT_HOST,
            port=port,
            cancel_grace=grace,
            live_query_timeout=live_timeout,
            limits=config.limits,
            events_out=config.events_out,
            max_event_bytes=_bytes(env, "KWORKFLOW_MAX_EVENT_BYTES", MAX_EVENT_BYTES),
            webhook_secrets=hook_secrets,
            max_webhook_bytes=_bytes(env, "KWORKFLOW_MAX_WEBHOOK_BYTES", MAX_WEBHOOK_BYTES),
            worker_keys=worker_keys(env),
            worker_expiry=_seconds(env, "KWORKFLOW_WORKER_EXPIRY", 120.0, low=0.1, high=86400),
        )


def _bytes(env: Mapping[str, str], name: str, default: int) -> int:
    """A size in bytes from ``env[name]`` (``default`` when unset), 1 B to 1 GiB.

    Raises:
        ApiSettingsError: It is not such a number.
    """
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 2**30:
        raise ApiSettingsError(f"{name} is not a number of bytes from 1 to 1073741824: {text!r}")
    return int(text)


def _seconds(
    env: Mapping[str, str], name: str, default: float, low: float, high: float = 3600
) -> float:
    """A number of seconds from ``env[name]`` (``default`` when unset), ``low`` to ``high``.

    Raises:
        ApiSettingsError: It is not such a number.
    """
    text = env.get(name) or ""
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ApiSettingsError(
            f"{name} is not a number of seconds from {low:g} to {high:g}: {text!r}"
        )
    return value


def worker_keys(env: Mapping[str, str]) -> frozenset[str]:
    """``KWORKFLOW_WORKER_KEYS``: the operator's keys workers report their offer with
    (comma-separated, each at least 8 characters; never a tenant's key).

    Raises:
        ApiSettingsError: A key is too short.
    """
    keys = frozenset(
        k.strip() for k in env.get("KWORKFLOW_WORKER_KEYS", "").split(",") if k.strip()
    )
    if any(len(k) < _MIN_KEY_LENGTH for k in keys):
        raise ApiSettingsError(
            f"KWORKFLOW_WORKER_KEYS: every key needs at least {_MIN_KEY_LENGTH} characters"
        )
    return keys


def parse_keys(text: str) -> dict[str, str]:
    """``key1=tenant1,key2=tenant2`` -> ``{key1: tenant1, key2: tenant2}``.

    Raises:
        ApiSettingsError: An entry without ``=``, an empty key or tenant.
    """
    keys: dict[str, str] = {}
    for index, entry in enumerate(text.split(","), start=1):
        if not entry.strip():
            continue
        key, sep, tenant = entry.strip().partition("=")
        if not sep or not key.strip() or not tenant.strip():
            raise ApiSettingsError(
                f"KWORKFLOW_API_KEYS entry {index} is not `key=tenant` "
                "(the list is `key1=tenant1,key2=tenant2`)"
            )
        keys[key.strip()] = tenant.strip()
    check_keys(keys)
    return keys


def read_keys_file(path: Path) -> dict[str, str]:
    """The key -> tenant mapping of a YAML or JSON file.

    Raises:
        ApiSettingsError: The file cannot be read or is not such a mapping.
    """
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApiSettingsError(
            f"cannot read the API keys file {path}: {exc.strerror or exc}"
        ) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0]
        raise ApiSettingsError(f"the API keys file {path} is not YAML or JSON: {reason}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ApiSettingsError(
            f"the API keys file {path} must map each key (a string) to its tenant (a string)"
        )
    check_keys(data)
    return dict(data)


def check_keys(keys: Mapping[str, str]) -> None:
    """Every key long enough and printable, every tenant a valid name.

    Raises:
        ApiSettingsError: Naming the tenant of the offending key (never the key itself).
    """
    for key, tenant in keys.items():
        if not TENANT_PATTERN.fullmatch(tenant):
            raise ApiSettingsError(
                f"tenant {tenant!r} is not a valid tenant name (letters, digits, `_`, `.`, `-`, "
                "at most 100, starting with a letter or digit)"
            )
        if len(key) < _MIN_KEY_LENGTH or not key.isprintable() or any(c.isspace() for c in key):
            raise ApiSettingsError(
                f"the API key of tenant {tenant!r} must be at least {_MIN_KEY_LENGTH} printable "
                "characters without spaces"
            )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

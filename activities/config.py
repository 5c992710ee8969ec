"""The worker's own configuration: model providers, secrets and tool modules.

Read on the worker, never sent through workflow history. The file is YAML, found at
``KWORKFLOW_CONFIG`` (default: ``kworkflow.worker.yaml`` in the working directory, if present)::

    providers:
      local:
        base_url: http://127.0.0.1:8080/v1
        api_key_env: LOCAL_LLM_KEY          # the key is read from this env var
        headers: {X-Team: research}
        response_format: json_object         # json_schema (default), json_object or none
        prices:                              # USD per million tokens, by model
          llama3: {input: 0.0, output: 0.0}
    default_provider: local                  # else OPENAI_BASE_URL / OPENAI_API_KEY
    secrets:                                 # names usable as ${ secrets.NAME } in tool headers
      CRM_TOKEN:
        value: env:CRM_TOKEN                 # env:VAR reads the worker's environment
        tenants: [acme]                      # who may use it ("*": every tenant)
        hosts: [crm.example.com, "*.crm.example.com"]   # where it may be sent ("*": anywhere)
      LOCAL_KEY: env:LOCAL_KEY               # short form: tenant `default` only, any host
    egress:                                  # what tenants' HTTP tools may reach (egress.py)
      allow: [10.20.0.0/16]                  # hosts, *.domains, IPs, CIDRs, for every tenant
      tenants: {acme: [crm.internal]}        # and per tenant
    tool_modules: [mycompany.tools]          # modules whose @tool functions are registered
    smtp:                                    # e-mail of the builtin `notify` tool (notify.py)
      host: mail.internal
      port: 587
      sender: workflows@example.com          # the From of every message
      starttls: true
      username: workflows
      password_env: SMTP_PASSWORD            # read from this env var
      allowed_domains: [example.com]         # recipients' domains (default: any)
    notifications:                           # a human step's assignees (assignees.py)
      ui_url: https://flows.example.com/ui
      webhook: {url: https://hooks.example.com/x, format: slack}   # or json
    limits:                                  # operator maxima (interpreter/limits.py)
      code: {max_memory_mb: 1024, max_timeout: 15m, max_cpu_seconds: 600}
      schedules: {min_interval: 1m, max_per_workflow: 10, max_per_tenant: 100}
    events_out:                              # lifecycle CloudEvents out (events_out.py)
      url: https://events.example.com/kworkflow
      secret_env: KWORKFLOW_EVENTS_SECRET

``KWORKFLOW_TOOL_MODULES`` (comma-separated) adds tool modules.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from activities.errors import ConfigError
from activities.events_out import EventsOutConfig
from interpreter.limits import Limits

DEFAULT_CONFIG_FILE = "kworkflow.worker.yaml"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = 0.0
    output: float = 0.0


class Provider(BaseModel):
    """An OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    prices: dict[str, Price] = Field(default_factory=dict)
    models: list[str] = Field(default_factory=list)
    """The models this provider serves, for lint against a running stack (with the models of
    ``prices``); none declared: any model is accepted and not checked."""
    timeout_seconds: float = 600.0
    response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    """How steps with `output_schema` ask for JSON: a JSON schema (OpenAI, vLLM), plain JSON
    mode (servers that only know `json_object`), or nothing (the answer is still validated)."""

    def api_key(self) -> str | None:
        """The key, read from the worker's environment now."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class SecretGrant(BaseModel):
    """One worker secret: its value, who may use it and where it may be sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    """The value itself, or ``env:VAR`` to read it from the worker's environment."""
    tenants: list[str] = Field(min_length=1)
    """The tenants whose definitions may use it; ``"*"`` grants it to every tenant."""
    hosts: list[str] = Field(min_length=1)
    """The hosts of the tool URLs it may be sent to (exact or ``*.domain``); ``"*"``: any."""


SINGLE_TENANT = "default"
"""The tenant of an API without keys (single-tenant mode), who may use short-form secrets."""


def _grant(value: str | SecretGrant) -> SecretGrant:
    """A secret in the short form (just its value) is granted to :data:`SINGLE_TENANT` only."""
    if isinstance(value, SecretGrant):
        return value
    return SecretGrant(value=value, tenants=[SINGLE_TENANT], hosts=["*"])


class EgressConfig(BaseModel):
    """Hosts and networks tenants' HTTP tools may reach beyond the public internet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(default_factory=list)
    """For every tenant: host names, ``*.domain`` patterns, IPs or CIDRs (``:port`` optional)."""
    tenants: dict[str, list[str]] = Field(default_factory=dict)
    """Per tenant, in addition to ``allow``."""

    @field_validator("allow")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        from activities.egress import Allowed

        for entry in value:
            Allowed.parse(entry)
        return value

    @field_validator("tenants")
    @classmethod
    def _tenant_entries(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for entries in value.values():
            cls._entries(entries)
        return value


class SmtpConfig(BaseModel):
    """The mail server the builtin ``notify`` tool sends e-mail through (the operator's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    """The ``From`` address of every message (a tenant cannot choose it)."""
    sender_name: str | None = None
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    """The environment variable holding the password (with ``username``)."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    allowed_domains: list[str] | None = None
    """Recipients' domains e-mail may go to (exact, or ``*.domain``); None: any."""

    def allows(self, address: str) -> bool:
        """Whether e-mail may be sent to ``address``."""
        if self.allowed_domains is None:
            return True
        domain = address.rsplit("@", 1)[-1].lower()
        for allowed in self.allowed_domains:
            allowed = allowed.lower()
            if domain == allowed or (allowed.startswith("*.") and domain.endswith(allowed[1:])):
                return True
        return False

    def password(self) -> str:
        """The password from ``password_env`` ("" when unset)."""
        return os.environ.get(self.password_env, "") if self.password_env else ""


class WebhookTarget(BaseModel):
    """The operator's webhook for waiting human steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern="^https?://")
    format: Literal["json", "slack"] = "json"


class Notifications(BaseModel):
    """Who hears of a human step waiting (:mod:`activities.assignees`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ui_url: str | None = None
    email: bool = True
    webhook: WebhookTarget | None = None


class WorkerConfig(BaseModel):
    """The whole worker configuration file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, Provider] = Field(default_factory=dict)
    default_provider: str | None = None
    secrets: dict[str, str | SecretGrant] = Field(default_factory=dict)
    egress: EgressConfig = Field(default_factory=EgressConfig)
    tool_modules: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    """What a definition may ask for; lint, publish and the activities check it."""
    smtp: SmtpConfig | None = None
    """Where the builtin ``notify`` tool sends e-mail (None: e-mail is refused)."""
    notifications: Notifications | None = None
    """Telling assignees a human step waits for them (None: nobody is told)."""
    events_out: EventsOutConfig | None = None
    """Where run, step and publish lifecycle events go (None: nowhere, and runs pay nothing)."""

    def provider(self, name: str | None) -> tuple[str, Provider]:
        """The named provider, or the default one.

        Without a name: ``default_provider`` if set, else an OpenAI-compatible endpoint from
        ``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``) and ``OPENAI_API_KEY``.

        Raises:
            ConfigError: The name is not configured.
        """
        if name is None:
            name = self.default_provider
        if name is None:
            base_url = os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL
            return "default", Provider(base_url=base_url, api_key_env="OPENAI_API_KEY")
        if name not in self.providers:
            known = ", ".join(sorted(self.providers)) or "none are configured"
            raise ConfigError(f"unknown provider '{name}' (known: {known})")
        return name, self.providers[name]

    def grant(self, name: str) -> SecretGrant | None:
        """The secret ``name`` as configured (short forms expanded), or None."""
        value = self.secrets.get(name)
        return None if value is None else _grant(value)

    def secret(self, name: str) -> str | None:
        """A secret's value on this worker (``env:VAR`` is read from the environment)."""
        grant = self.grant(name)
        if grant is None:
            return None
        if grant.value.startswith("env:"):
            return os.environ.get(grant.value[4:])
        return grant.value

    def all_tool_modules(self) -> list[str]:
        """``tool_modules`` plus those in ``KWORKFLOW_TOOL_MODULES``."""
        extra = [m.strip() for m in os.environ.get("KWORKFLOW_TOOL_MODULES", "").split(",")]
        return list(dict.fromkeys([*self.tool_modules, *(m for m in extra if m)]))


def load_config(path: str | os.PathLike[str] | None = None) -> WorkerConfig:
    """Read the worker configuration.

    Args:
        path: The file; default ``KWORKFLOW_CONFIG``, else ``kworkflow.worker.yaml`` if it
            exists, else an empty configuration.

    Raises:
        ConfigError: The file cannot be read or does not match the format.
    """
    explicit = path or os.environ.get("KWORKFLOW_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    if not file.exists():
        if explicit:
            raise ConfigError(f"worker config {file} does not exist")
        return WorkerConfig()
    try:
        data: Any = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        return WorkerConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"worker config {file}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"worker config {file}: {problems}") from None


@lru_cache(maxsize=1)
def current_config() -> WorkerConfig:
    """The configuration of this worker process, read once."""
    return load_config()

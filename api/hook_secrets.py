"""Where the API finds a webhook's HMAC secret: the operator's ``KWORKFLOW_WEBHOOK_SECRETS``.

A definition names its secret (``secret: GITHUB``), never its value: the operator maps
``<tenant>/<NAME>`` to the value, or to ``env:VAR`` to read it from the API's environment when a
request arrives (``KWORKFLOW_WEBHOOK_SECRETS=acme/GITHUB=env:ACME_GITHUB_HOOK,...``). A tenant can
only reach the secrets filed under its own name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SECRETS_ENV = "KWORKFLOW_WEBHOOK_SECRETS"
MIN_SECRET_LENGTH = 16
"""Shorter secrets are refused when read (an HMAC key is only as strong as its length)."""


class HookSecretsError(Exception):
    """``KWORKFLOW_WEBHOOK_SECRETS`` cannot be read; the message names the entry, not a value."""


def parse_secrets(text: str) -> dict[str, str]:
    """``tenant/NAME=value,tenant/NAME=env:VAR`` -> ``{"tenant/NAME": value}``.

    Raises:
        HookSecretsError: An entry without ``=`` or without ``tenant/NAME``.
    """
    secrets: dict[str, str] = {}
    for index, entry in enumerate(text.split(","), start=1):
        if not entry.strip():
            continue
        key, sep, value = entry.strip().partition("=")
        tenant, slash, name = key.strip().partition("/")
        if not sep or not slash or not tenant or not name or not value.strip():
            raise HookSecretsError(
                f"{SECRETS_ENV} entry {index} is not `tenant/NAME=value` or `tenant/NAME=env:VAR`"
            )
        secrets[f"{tenant}/{name}"] = value.strip()
    return secrets


def secret_value(secrets: Mapping[str, str], tenant: str, name: str) -> str | None:
    """The value of ``tenant``'s secret ``name`` now (None: not configured, its ``env:VAR`` is
    unset, or it is shorter than :data:`MIN_SECRET_LENGTH`)."""
    value = secrets.get(f"{tenant}/{name}")
    if value is not None and value.startswith("env:"):
        value = os.environ.get(value[4:])
    if not value or len(value) < MIN_SECRET_LENGTH:
        return None
    return value

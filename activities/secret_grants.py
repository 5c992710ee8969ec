"""Who may use each worker secret and where it may be sent: checked at publish and on every call.

A secret is named in a tool's header as ``${ secrets.NAME }``. The worker configuration grants
it to tenants and binds it to hosts (:class:`activities.config.SecretGrant`); a definition of a
tenant without the grant, or a tool whose URL's host is outside the bound hosts, is refused at
publish (a ``secret_grant`` problem located at the header) and, for definitions that were not
published (file runs) or whose grant was withdrawn since, fails its step at run time with a
non-retryable ``SecretNotGranted``. A value is never part of a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from activities.config import WorkerConfig
from interpreter.errors import ExpressionError, Problem
from interpreter.expr import parse_template
from interpreter.spec import Definition, ToolDef
from interpreter.yamldoc import format_path

_SECRET_REF = re.compile(
    r"\bsecrets\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(?:'([^']*)'|\"([^\"]*)\")\s*\])"
)


def referenced_secrets(value: str) -> list[str]:
    """The secret names a header value's ``${}`` expressions read, in order, once each.

    Raises:
        interpreter.errors.ExpressionError: The value is not a valid template.
    """
    if "${" not in value:
        return []
    names: dict[str, None] = {}
    for source in parse_template(value).expressions:
        for match in _SECRET_REF.finditer(source):
            names[next(group for group in match.groups() if group is not None)] = None
    return list(names)


def grant_problem(config: WorkerConfig, secret: str, tenant: str, url: str) -> str | None:
    """Why ``tenant`` may not send ``secret`` to ``url``, or None when it may.

    A secret this configuration does not have is not a grant problem (the tool activity reports
    it as ``MissingSecret``).
    """
    grant = config.grant(secret)
    if grant is None:
        return None
    if "*" not in grant.tenants and tenant not in grant.tenants:
        return f"secret '{secret}' is not granted to tenant '{tenant}'"
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host_matches(host, grant.hosts):
        bound = ", ".join(grant.hosts)
        return f"secret '{secret}' may only be sent to {bound}, not to '{host or url}'"
    return None


def host_matches(host: str, patterns: list[str]) -> bool:
    """``host`` is one of ``patterns``: ``*`` (any), an exact name, or ``*.domain``."""
    for pattern in patterns:
        wanted = pattern.strip().lower().rstrip(".")
        if wanted == "*" or wanted == host:
            return True
        if wanted.startswith("*.") and host.endswith(wanted[1:]):
            return True
    return False


def definition_problems(definition: Definition, tenant: str, config: WorkerConfig) -> list[Problem]:
    """The ``secret_grant`` problems of a definition published by ``tenant``.

    Secrets that this configuration does not know at all are refused too: publishing is where
    a tenant learns that the grant is missing, not the first run.
    """
    problems = []
    for path, name, tool, secret in _secret_uses(definition):
        if config.grant(secret) is None:
            message = f"secret '{secret}' is not configured for tenant '{tenant}'"
        else:
            message = grant_problem(config, secret, tenant, tool.url) or ""
        if message:
            problems.append(Problem(path, f"tool '{name}': {message}", code="secret_grant"))
    return problems


def _secret_uses(definition: Definition) -> Iterator[tuple[str, str, ToolDef, str]]:
    for name, tool in definition.tools.items():
        for header, value in tool.headers.items():
            try:
                secrets = referenced_secrets(value)
            except ExpressionError:
                continue  # lint reports the template itself
            path = format_path(("tools", name, "headers", header))
            for secret in secrets:
                yield path, name, tool, secret

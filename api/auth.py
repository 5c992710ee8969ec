"""Who is calling: API keys -> tenants, and the middleware that sets ``request.state.tenant``.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A missing or unknown
key is answered 401 with ``WWW-Authenticate: Bearer``, before any route runs. The documentation
(``/docs``, ``/redoc``, ``/openapi.json``), ``/healthz`` and the UI's page and files need no
key. In single-tenant mode (no key configured) every request is tenant ``default``, actor
``local``, and only clients on this machine (loopback) are served: others get 403, whoever
started the app and however.

The actor (who answered a human step) is ``<tenant>:<first 4 characters of the key>``: enough to
tell a tenant's keys apart, never the key itself.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.settings import LOCAL_ACTOR, SINGLE_TENANT, is_loopback

PUBLIC_PATHS = frozenset(
    {
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/v1/schema",
        "/healthz",
        "/ui",
        "/ui/",
    }
)
"""Paths served without a key."""
PUBLIC_PREFIXES = ("/ui/static/", "/v1/hooks/", "/v1/workers/")
"""Prefixes of paths served without a tenant key (the web UI's files, its data needs the key;
webhooks, whose signature authenticates them: :mod:`api.webhooks`; a worker's report, which
checks the operator's worker key itself: :mod:`api.workers`)."""
ACTOR_KEY_CHARS = 4


@dataclass(frozen=True)
class Caller:
    """The tenant a request acts for, and the name it answers human steps under."""

    tenant: str
    actor: str


class TenantKeys:
    """The configured keys; :meth:`caller` tells which tenant a key belongs to."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(key.encode(), tenant) for key, tenant in keys.items()]

    @property
    def single_tenant(self) -> bool:
        """No key configured."""
        return not self._keys

    def caller(self, key: str | None) -> Caller | None:
        """The caller holding ``key`` (every key compared in constant time); None if unknown."""
        if self.single_tenant:
            return Caller(SINGLE_TENANT, LOCAL_ACTOR)
        if not key:
            return None
        given = key.encode()
        found: str | None = None
        for known, tenant in self._keys:
            if hmac.compare_digest(known, given):
                found = tenant
        if found is None:
            return None
        return Caller(found, f"{found}:{key[:ACTOR_KEY_CHARS]}")


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The key of a request: ``Authorization: Bearer <key>``, else ``X-API-Key``."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


class TenantAuth:
    """ASGI middleware: resolve the caller's tenant or answer 401.

    Sets ``scope["state"]["tenant"]`` and ``scope["state"]["actor"]`` (read as
    ``request.state.tenant`` / ``request.state.actor``).
    """

    def __init__(self, app: ASGIApp, keys: TenantKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.keys.single_tenant and not _from_loopback(scope):
            await _refuse(
                send,
                403,
                "this API has no API keys configured and serves this machine only: set "
                "KWORKFLOW_API_KEYS or KWORKFLOW_API_KEYS_FILE to serve other machines",
            )
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        key = key_from_headers(headers)
        caller = self.keys.caller(key)
        if caller is None and _public(str(scope.get("path", ""))):
            caller = Caller(SINGLE_TENANT, LOCAL_ACTOR)  # documentation only: no run is touched
        if caller is None:
            detail = "unknown API key" if key else "missing API key"
            await _refuse(
                send, 401, f"{detail}: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
            )
            return
        state = scope.setdefault("state", {})
        state["tenant"] = caller.tenant
        state["actor"] = caller.actor
        await self.app(scope, receive, send)


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _from_loopback(scope: Scope) -> bool:
    """The peer is this machine (or there is no network peer at all)."""
    peer = scope.get("client")
    return peer is None or is_loopback(str(peer[0]))


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="kworkflow"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


async def documented_auth(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> None:
    """Declares the two ways to send a key in the OpenAPI document; :class:`TenantAuth` checks."""


KEYLESS = {"x-kworkflow-keyless": True}
"""``openapi_extra`` of a route that takes no API key (a webhook is signed; health is open)."""


def document_keyless(app: FastAPI) -> None:
    """Drop the API-key requirement from the OpenAPI operations marked :data:`KEYLESS` (the
    app-wide ``documented_auth`` dependency declares it on every route, and ``openapi_extra``
    can only add to a list, not empty it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict) and operation.pop(next(iter(KEYLESS)), None):
                        operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

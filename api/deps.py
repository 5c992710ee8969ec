"""Request dependencies shared by the routers: the definitions store and the caller's tenant.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its
thread pool, a thread hop per dependency and request.
"""

from __future__ import annotations

from typing import cast

from fastapi import Request

from registry.store import DefinitionStore

DEFAULT_TENANT = "default"
"""The tenant of a request that the app's auth middleware did not assign one."""


async def get_store(request: Request) -> DefinitionStore:
    """The app's :class:`~registry.store.DefinitionStore` (``app.state.store``)."""
    return cast(DefinitionStore, request.app.state.store)


async def get_tenant(request: Request) -> str:
    """The caller's tenant (``request.state.tenant``, set by the auth middleware).

    Returns:
        The tenant, or :data:`DEFAULT_TENANT` when the middleware set none.
    """
    tenant = getattr(request.state, "tenant", None)
    return tenant if isinstance(tenant, str) and tenant else DEFAULT_TENANT

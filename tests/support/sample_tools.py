"""Python tools registered with ``@tool`` for the tests (``KWORKFLOW_TOOL_MODULES``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from activities.registry import tool

CALLS: list[str] = []
"""The name of each tool call, in order, with the thread it ran on for ``where``."""


class Address(BaseModel):
    """A postal address."""

    city: str
    zip: str | None = None


@tool
def greet(name: str, punctuation: Literal["!", "."] = "!") -> str:
    """Greet someone by name.

    Args:
        name: Who to greet.
        punctuation: How to end the greeting.
    """
    CALLS.append(f"greet:{threading.current_thread().name}")
    return f"Hello, {name}{punctuation}"


@tool(name="ship", description="Plan a shipment to an address.")
async def plan_shipment(
    to: Address, items: list[str], weight_kg: Annotated[float, Field(gt=0)] = 1.0
) -> dict[str, object]:
    await asyncio.sleep(0)
    return {"city": to.city, "zip": to.zip, "count": len(items), "weight_kg": weight_kg}


@tool
def explode(reason: str) -> None:
    """Always fails, with ``reason``."""
    raise LookupError(f"no luck: {reason}")

"""Python tools whose results no run can carry, for the tests (``KWORKFLOW_TOOL_MODULES``)."""

from __future__ import annotations

from activities.registry import tool


@tool
def ratio(a: float, b: float) -> dict[str, float]:
    """Divide ``a`` by ``b`` the IEEE way: ``0 / 0`` is NaN, ``1 / 0`` is Infinity.

    Args:
        a: The dividend.
        b: The divisor.
    """
    if b == 0:
        return {"ratio": float("nan") if a == 0 else float("inf")}
    return {"ratio": a / b}


@tool
def forged() -> object:
    """Return a Python object that is not JSON."""
    return {"ok": True, "when": object()}

"""Python tools for the examples: register them with KWORKFLOW_TOOL_MODULES=examples.tools.

A team's own tools look like this: typed arguments (the JSON schema is derived from them), a
docstring the model reads, and a JSON-serializable result.
"""

from __future__ import annotations

from activities.registry import tool

# A stand-in for a real CRM: the example needs data, not a database.
ACCOUNTS = {
    "acme": {"customer": "ACME", "plan": "enterprise", "open_tickets": 2},
    "globex": {"customer": "Globex", "plan": "team", "open_tickets": 0},
}


@tool
def account_lookup(customer: str) -> dict[str, object]:
    """Look up a customer's account: its plan and how many tickets it has open.

    Args:
        customer: The customer's name, as written in the ticket.
    """
    found = ACCOUNTS.get(customer.strip().lower())
    return found or {"customer": customer, "plan": "free", "open_tickets": 0}

"""branch steps: the first case whose `when` is true chooses the one edge taken."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from interpreter.errors import ExpressionError
    from interpreter.expr import compile_cel
    from interpreter.spec import BranchStep
    from interpreter.state import RunFailure


async def run_branch(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """Output ``{taken: id}``: the first true case's target, else ``default``, else null.

    Raises:
        RunFailure: ``EdgeConditionError`` when a case's ``when`` fails to evaluate.
    """
    spec = inv.spec
    assert isinstance(spec, BranchStep)
    for index, case in enumerate(spec.cases):
        try:
            if compile_cel(case.when).evaluate_bool(inv.scope):
                return {"taken": case.to}
        except ExpressionError as exc:
            raise RunFailure(
                "EdgeConditionError",
                f"branch '{inv.step_id}' cases[{index}] (to '{case.to}'): {exc}",
                {"step": inv.step_id, "case": index, "when": case.when},
            ) from None
    return {"taken": spec.default}

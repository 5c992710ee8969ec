"""Running one step spec: resolve its fields, loop for `repeat`, hand over to its kind."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from interpreter.kinds import HANDLERS
from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from interpreter.carry import Resume, Suspended
    from interpreter.errors import ExpressionError
    from interpreter.expr import compile_cel, has_template, resolve
    from interpreter.state import StepError

# Fields that are values (`${}` resolved before the step starts), by kind. Everything else is
# structure (ids, edges, nested specs) or bare CEL.
VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    "llm": (
        "model",
        "provider",
        "system",
        "prompt",
        "messages",
        "temperature",
        "max_tokens",
        "output_schema",
    ),
    "tool": ("tool", "args"),
    "code": ("language", "source", "input", "memory_mb"),
    "agent": ("model", "provider", "instructions", "prompt", "tools", "max_turns", "output_schema"),
    "subflow": ("input",),
    "human": ("prompt", "form", "assignees", "default"),
    "event": ("type", "default"),
    "branch": (),
    "parallel": ("for_each",),
    "aggregate": (),
}
_MODEL_DEFAULTS = ("model", "provider")


def resolve_fields(runtime: Runtime, inv: Invocation) -> dict[str, Any]:
    """The step's value fields with every ``${}`` evaluated in the invocation's scope.

    Raises:
        StepError: ``ExpressionError`` naming the field, never retried.
    """
    spec = inv.spec
    fields: dict[str, Any] = {}
    for name in VALUE_FIELDS[spec.kind]:
        value = getattr(spec, name)
        if value is None and name in _MODEL_DEFAULTS:
            value = getattr(runtime.definition.defaults, name)
        if has_template(value):
            try:
                value = resolve(value, inv.scope)
            except ExpressionError as exc:
                raise StepError("ExpressionError", f"{name}: {exc}") from None
        fields[name] = value
    return fields


async def run_spec(runtime: Runtime, inv: Invocation) -> Any:
    """Run a spec to its output, iterating while it has ``repeat`` and ``until`` is false.

    Raises:
        StepError: The step failed (its kind's error, ``ExpressionError``, ``RepeatExhausted``).
        RunFailure: Something that fails the whole run.
    """
    spec = inv.spec
    handler = HANDLERS[spec.kind]
    await runtime.pace()
    if spec.repeat is None:
        fields = await runtime.stop_before(inv, resolve_fields(runtime, inv))
        runtime.record_input(inv, fields)
        return await handler(runtime, inv, fields)
    try:
        until = compile_cel(spec.repeat.until)
    except ExpressionError as exc:
        raise StepError("ExpressionError", f"repeat.until: {exc}") from None
    previous: Any = None
    output: Any = None
    first = 0
    if inv.resume is not None and inv.resume.iteration is not None:
        first, previous = inv.resume.iteration, inv.resume.previous
        output = previous
    top_level = inv.path == inv.step_id
    for iteration in range(first, spec.repeat.max_iterations):
        if iteration > first:
            await runtime.hold()  # a paused run starts no new iteration
        if iteration > first and top_level and runtime.should_drain():
            raise Suspended(Resume(iteration=iteration, previous=previous))
        path = inv.path if iteration == 0 else f"{inv.path}#{iteration}"
        if iteration > 0:
            await runtime.pace()
        it = Invocation(
            spec=spec,
            step_id=inv.step_id,
            path=path,
            scope=inv.scope.child(iteration=iteration, previous=previous),
            layers=inv.layers,
        )
        _note_iteration(runtime, inv, iteration + 1)
        fields = resolve_fields(runtime, it)
        if iteration == 0:  # a before breakpoint holds the first iteration
            fields = await runtime.stop_before(it, fields)
        runtime.record_input(it, fields)
        output = await handler(runtime, it, fields)
        try:
            done = until.evaluate_bool(it.scope.child(output=output))
        except ExpressionError as exc:
            raise StepError("ExpressionError", f"repeat.until: {exc}") from None
        if done:
            return output
        previous = output
    if spec.repeat.on_exhausted == "continue":
        return output
    raise StepError(
        "RepeatExhausted",
        f"`until` was still false after {spec.repeat.max_iterations} iterations",
    )


def _note_iteration(runtime: Runtime, inv: Invocation, count: int) -> None:
    if inv.path.split("#")[0] == inv.step_id:  # not for parallel items
        runtime.state.steps[inv.step_id].iterations = count

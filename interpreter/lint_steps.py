"""The linter's checks of one step spec and of the triggers: each kind's expressions, inner kinds
(``inner_kind``, ``inner_breakpoint``), static tool ``args`` (``tool_args``), a code step's
limits (``limit``) and the triggers' expressions and webhook names (``trigger_name``).

:class:`StepChecks` extends :class:`interpreter.lint_exprs.ExpressionChecks`; an inline
subflow's steps are a graph, linted by :class:`interpreter.lint_graph.GraphChecks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from interpreter.durations import parse_duration
from interpreter.errors import InputError
from interpreter.expr import has_template
from interpreter.inputs import prepare_input
from interpreter.limits import code_excesses
from interpreter.lint_exprs import ExpressionChecks, LintScope
from interpreter.options import DEFAULT_TIMEOUT
from interpreter.spec import (
    INNER_FORBIDDEN_KINDS,
    AggregateStep,
    BranchStep,
    CodeStep,
    Definition,
    EventStep,
    HumanStep,
    ParallelStep,
    StepSpec,
    SubflowStep,
    ToolStep,
)
from interpreter.topology import Graph
from interpreter.yamldoc import format_path

INNER_BREAKPOINT = (
    "`breakpoint` applies to top-level steps only (not inside `parallel`, `compensate` or a "
    "subflow)"
)
"""The ``inner_breakpoint`` message."""


class StepChecks(ExpressionChecks):
    """The per-step and trigger checks of the linter (see the module docstring)."""

    def graph(self, g: Graph, prefix: str, owner: str | None, output: Any) -> None:
        """Lint one graph (:meth:`interpreter.lint_graph.GraphChecks.graph`)."""
        raise NotImplementedError  # pragma: no cover - GraphChecks'

    def spec(
        self,
        spec: StepSpec,
        path: str,
        scope: LintScope,
        self_id: str | None,
        outer_timeout: tuple[str, str] | None = None,
    ) -> None:
        """The expressions of one step spec and of the inner specs it holds.

        Args:
            spec: The spec.
            path: Its path.
            scope: What its expressions may read.
            self_id: The spec's own id (None for inner specs): its ``repeat.until`` may read it.
            outer_timeout: The path and value of the enclosing ``parallel``'s ``timeout``.
        """
        step = scope.step
        if spec.breakpoint is not None and self_id is None:
            self.add(f"{path}.breakpoint", "inner_breakpoint", INNER_BREAKPOINT, step)
        for name, value in _value_fields(spec):
            self.templates(value, f"{path}.{name}", scope)
        if isinstance(spec, ToolStep):
            self.tool_args(spec, path, step)
        if isinstance(spec, CodeStep):
            self.code_limits(spec, path, step, outer_timeout)
        if spec.repeat is not None:
            self.cel(spec.repeat.until, f"{path}.repeat.until", scope.plus(self_id))
        if isinstance(spec, AggregateStep) and spec.expr is not None:
            self.cel(spec.expr, f"{path}.expr", scope)
        if isinstance(spec, EventStep) and spec.filter is not None:
            self.cel(spec.filter, f"{path}.filter", scope)
        concurrency = getattr(spec, "concurrency", None)
        if concurrency is not None:
            self.cel(concurrency.key, f"{path}.concurrency.key", scope)
        rate_limit = getattr(spec, "rate_limit", None)
        if rate_limit is not None:
            self.cel(rate_limit.key, f"{path}.rate_limit.key", scope)
        if isinstance(spec, BranchStep):
            for j, case in enumerate(spec.cases):
                self.cel(case.when, f"{path}.cases[{j}].when", scope)
        if isinstance(spec, ParallelStep):
            inner = [(f"{path}.step", spec.step)] if spec.step is not None else []
            inner += [
                (f"{path}.{format_path(['branches', name])}", b)
                for name, b in (spec.branches or {}).items()
            ]
            outer = (f"{path}.timeout", spec.timeout) if spec.timeout else outer_timeout
            for inner_path, inner_spec in inner:
                if inner_spec.kind in INNER_FORBIDDEN_KINDS:
                    article = "an" if inner_spec.kind[0] in "aeiou" else "a"
                    message = f"{article} {inner_spec.kind} step cannot run inside `parallel`"
                    self.add(f"{inner_path}.kind", "inner_kind", message, step)
                self.spec(inner_spec, inner_path, scope, None, outer)
        if spec.compensate is not None:
            comp = spec.compensate
            if isinstance(comp, BranchStep):
                message = "a branch cannot compensate a step: it has no edges to choose from"
                self.add(f"{path}.compensate.kind", "inner_kind", message, step)
            if isinstance(comp, HumanStep | EventStep):
                message = (
                    f"{'a human' if isinstance(comp, HumanStep) else 'an event'} step cannot "
                    "compensate a step: compensations run unattended"
                )
                self.add(f"{path}.compensate.kind", "inner_kind", message, step)
            self.spec(comp, f"{path}.compensate", scope.plus(self_id), None)
        if isinstance(spec, SubflowStep) and spec.steps is not None:
            self.graph(spec, f"{path}.", step, spec.output)

    def triggers(self, definition: Definition) -> None:
        """A trigger's ``filter`` and ``input`` see ``event`` (a webhook's: ``body`` and
        ``headers``) only: no ``steps.X``; a webhook name is used once."""
        scope = LintScope(frozenset(), None, None)
        for i, trigger in definition.event_triggers():
            if trigger.filter is not None:
                self.cel(trigger.filter, f"triggers[{i}].filter", scope)
            if trigger.input is not None:
                self.templates(trigger.input, f"triggers[{i}].input", scope)
        hooks: dict[str, int] = {}
        for i, hook in definition.webhook_triggers():  # they see `body` and `headers`
            if hook.webhook in hooks:
                first = hooks[hook.webhook]
                message = f"webhook {hook.webhook!r} is already used by triggers[{first}]"
                self.add(f"triggers[{i}].webhook", "trigger_name", message, None)
            hooks.setdefault(hook.webhook, i)
            if hook.filter is not None:
                self.cel(hook.filter, f"triggers[{i}].filter", scope)
            if hook.input is not None:
                self.templates(hook.input, f"triggers[{i}].input", scope)

    def tool_args(self, spec: ToolStep, path: str, step: str | None) -> None:
        """Static ``args`` (no ``${}``) fit the ``input_schema`` of the tool in ``tools:``."""
        tool = self.tools.get(spec.tool)
        if tool is None or tool.input_schema is None or has_template(spec.args):
            return
        try:
            prepare_input(tool.input_schema, spec.args)
        except InputError as exc:
            where = "args" + (exc.path if exc.path[:1] in ("", "[") else f".{exc.path}")
            message = f"`{where}`: {exc.reason} (input_schema of tool `{spec.tool}`)"
            self.add(f"{path}.args", "tool_args", message, step)

    def code_limits(
        self, spec: CodeStep, path: str, step: str | None, outer: tuple[str, str] | None
    ) -> None:
        """``memory_mb`` and the attempt's timeout within the operator's code limits."""
        layers = [
            (f"{path}.timeout", spec.timeout),
            outer,
            ("defaults.timeout", self.defaults.timeout),
        ]
        where, timeout = next(((w, t) for w, t in filter(None, layers) if t), (path, None))
        try:
            attempt = parse_duration(timeout) if timeout else DEFAULT_TIMEOUT
        except (ValueError, OverflowError):
            return  # the loader reports a duration it cannot read
        for excess in code_excesses(spec.memory_mb, attempt, self.limits.code):
            field_path = f"{path}.memory_mb" if excess.field == "memory_mb" else where
            message = excess.describe()
            if excess.field == "timeout" and field_path != f"{path}.timeout":
                source = "the default" if timeout is None else f"from `{field_path}`"
                message += f"; {source} applies to this code step: give it a shorter `timeout`"
            self.add(field_path, "limit", message, step)


def _value_fields(spec: StepSpec) -> Iterator[tuple[str, Any]]:
    """The step's value fields (typed ``Any``: literals or ``${}`` templates) that are set."""
    for name, field in type(spec).model_fields.items():
        if field.annotation is Any and not (isinstance(spec, SubflowStep) and name == "output"):
            value = getattr(spec, name)
            if value is not None:
                yield name, value

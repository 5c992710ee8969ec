"""Findings over a loaded definition: graph shape, branches, aggregates and every expression.

:func:`lint` returns :class:`~interpreter.errors.Problem` objects (``code`` names the rule,
``path`` the field, ``step`` the step concerned); :func:`lint_text` also loads the YAML and
fills in line and column. Inline subflows are linted as graphs of their own (their ``steps.X``
are the child's steps). Rules, by code: ``duplicate_id``, ``unknown_step``, ``cycle``,
``unreachable``, ``cel``, ``template``, ``unknown_reference``, ``reference``,
``branch_target``, ``branch_edge``, ``failed_edge``, ``empty_aggregate``, ``aggregate_from``,
``inner_kind``, ``regex`` (a literal ``matches`` pattern RE2 cannot compile), ``tool_args``
(static ``args`` that break the ``input_schema`` of the tool in ``tools:``), ``limit`` (a code
step's ``memory_mb`` or ``timeout``, a duration, a ``max_concurrency`` or a static ``for_each``
over the operator's :class:`~interpreter.limits.Limits`, or a trigger's), ``compensate_on``
(set while no step has ``compensate``), ``trigger_name``, ``cron``, ``timezone``, ``input`` (a
trigger's, :mod:`interpreter.triggers`). A
tool that is not in ``tools:`` is not a finding: it may be registered on the worker, and an
unknown tool fails its step at run time with a non-retryable ``UnknownTool``.

The checks live by what they look at: :mod:`interpreter.lint_graph` (a graph's ids, edges,
cycles, reachability, branches, aggregates), :mod:`interpreter.lint_steps` (each step spec and
the triggers) and :mod:`interpreter.lint_exprs` (templates and CEL expressions).
"""

from __future__ import annotations

from collections.abc import Callable

from interpreter.errors import DefinitionError, Problem
from interpreter.limits import DEFAULT_LIMITS, Limits, flow_excesses
from interpreter.lint_exprs import LintScope
from interpreter.lint_graph import GraphChecks
from interpreter.loader import document_order, load_document
from interpreter.spec import Definition
from interpreter.triggers import trigger_problems
from interpreter.yamldoc import parse_text

Check = Callable[[Definition], list[Problem]]
"""A check that needs more than the definition (the publishing tenant, the worker's grants)."""


def lint(
    definition: Definition, limits: Limits | None = None, extra: Check | None = None
) -> list[Problem]:
    """Every finding about a loaded definition, in document order.

    Args:
        definition: A definition that loaded (see :mod:`interpreter.loader`).
        limits: The operator's limits to check steps against (default: :data:`DEFAULT_LIMITS`).
        extra: More findings to add (e.g. the tenant's secret grants at publish).

    Returns:
        The problems; an empty list means the definition is clean.
    """
    limits = limits or DEFAULT_LIMITS
    linter = GraphChecks(definition.tools, definition.defaults, limits, definition.input)
    linter.supplied = frozenset(
        str(key)
        for trigger in definition.triggers
        if isinstance(getattr(trigger, "input", None), dict)
        for key in getattr(trigger, "input", {})
    )
    linter.graph(definition, "", None, definition.output)
    if definition.compensate_on and not any(s.compensate for s in definition.steps):
        message = "no step has `compensate`: there is nothing to compensate"
        linter.add("compensate_on", "compensate_on", message)
    linter.triggers(definition)
    if definition.concurrency is not None:  # sees `input` and `run`, no step has run yet
        scope = LintScope(frozenset(), None, None)
        linter.cel(definition.concurrency.key, "concurrency.key", scope)
    data = definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for path, excess in flow_excesses(data, limits.flow):
        linter.add(path, "limit", excess.describe())
    linter.problems.extend(trigger_problems(definition, limits.schedules))
    if extra is not None:
        linter.problems.extend(extra(definition))
    unique = dict.fromkeys(linter.problems)
    return sorted(unique, key=lambda p: (_rank(p), document_order(p.path)))


def _rank(problem: Problem) -> int:
    """0 for an edge naming no step: the findings after it (steps it left unordered, reads
    that are no longer of ancestors) follow from it, so it is listed first."""
    return 0 if problem.code == "unknown_step" and "edges[" in problem.path else 1


def lint_text(
    text: str,
    source: str | None = None,
    limits: Limits | None = None,
    extra: Check | None = None,
) -> tuple[Definition | None, list[Problem]]:
    """Load YAML text and lint it; every problem carries its line and column.

    Args:
        text: The YAML document.
        source: A name for it, for messages.
        limits: As for :func:`lint`.
        extra: More findings to add, as for :func:`lint`.

    Returns:
        The definition (None when it does not load) and the problems: the loader's when it
        does not load, else the lint findings.
    """
    try:
        document = parse_text(text, source)
        definition = load_document(document)
    except DefinitionError as exc:
        return None, exc.problems
    located = [document.locate(p) for p in lint(definition, limits, extra)]
    order = sorted(located, key=lambda p: (_rank(p), p.line or 0, p.column or 0, p.path))
    return definition, order

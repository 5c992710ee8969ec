"""Lint against what the workers offer: ``no_tool``, ``no_provider``, ``no_model`` findings.

A pure check over a definition and the live workers' offers (:mod:`registry.workers`):

- no worker known at all: one warning (``no_workers``), nothing else can be told;
- a ``tool`` step (or an agent's ``tools`` entry) naming neither a tool of the definition's
  ``tools:``, a builtin (``http``, ``notify``), nor a Python tool some worker has: ``no_tool``;
- an ``llm``/``agent`` step (or ``defaults``) naming a provider no worker configures:
  ``no_provider``;
- a model that no worker offers for that provider: ``no_model``. A provider declaring no
  ``models`` (and no ``prices``) accepts any model, so its models are not checked; nor is a
  model or provider that is a ``${}`` template (known only when the step runs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from interpreter.errors import Problem
from interpreter.lint import Check
from interpreter.spec import Definition
from registry.workers import WorkerOffer

BUILTIN_TOOLS = ("http", "notify")
"""Tools every worker has (activities.tool)."""
DEFAULT_PROVIDER = "default"
"""The provider of a worker with no ``default_provider``: ``OPENAI_BASE_URL``."""


def offered_check(offers: Sequence[WorkerOffer]) -> Check:
    """A lint check (see :data:`interpreter.lint.Check`) of a definition against ``offers``."""

    def check(definition: Definition) -> list[Problem]:
        return capability_problems(definition, offers)

    return check


def capability_problems(definition: Definition, offers: Sequence[WorkerOffer]) -> list[Problem]:
    """Every step needing a tool, provider or model that none of ``offers`` has."""
    if not offers:
        message = (
            "no worker has reported what it offers (none is running, or none reports to this "
            "API): tools, providers and models are not checked"
        )
        return [Problem("", message, code="no_workers", severity="warning")]
    tools = set(BUILTIN_TOOLS) | set(definition.tools)
    models: dict[str, set[str] | None] = {}  # provider -> models; None: any model
    for offer in offers:
        tools.update(offer.tools)
        for name, declared in offer.providers.items():
            known = models.setdefault(name, set())
            if not declared or known is None:
                models[name] = None
            else:
                known.update(declared)
    defaults_of = {o.default_provider or DEFAULT_PROVIDER for o in offers}
    for name in defaults_of:
        models.setdefault(name, None if name == DEFAULT_PROVIDER else set())
    data = definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
    fallback = data.get("defaults") or {}
    problems: list[Problem] = []
    for path, step in _steps(data):
        kind = step.get("kind")
        step_id = step.get("id") if isinstance(step.get("id"), str) else None
        if kind == "tool" and isinstance(step.get("tool"), str) and step["tool"] not in tools:
            problems.append(_no_tool(f"{path}.tool", step["tool"], step_id, tools))
        if kind == "agent":
            for index, name in enumerate(step.get("tools") or []):
                if isinstance(name, str) and name not in tools:
                    problems.append(_no_tool(f"{path}.tools[{index}]", name, step_id, tools))
        if kind in ("llm", "agent"):
            problems.extend(_model_problems(path, step, step_id, fallback, models, defaults_of))
    return problems


def _model_problems(
    path: str,
    step: dict[str, Any],
    step_id: str | None,
    fallback: dict[str, Any],
    models: dict[str, set[str] | None],
    defaults_of: set[str],
) -> Iterator[Problem]:
    provider, provider_path = _field(path, step, fallback, "provider")
    model, model_path = _field(path, step, fallback, "model")
    if _templated(provider) or _templated(model):
        return
    if provider is not None and provider not in models:
        known = ", ".join(sorted(models))
        message = f"no running worker configures provider '{provider}' (they have: {known})"
        yield Problem(provider_path, message, step=step_id, code="no_provider")
        return
    if model is None:
        return
    candidates = [provider] if provider is not None else sorted(defaults_of)
    offered = [models.get(name) for name in candidates]
    if any(m is None or model in m for m in offered):
        return
    have = sorted({m for group in offered if group for m in group})
    where = f"provider '{provider}'" if provider is not None else "their default provider"
    message = f"no running worker offers model '{model}' on {where} (offered: {', '.join(have)})"
    yield Problem(model_path, message, step=step_id, code="no_model")


def _field(path: str, step: dict[str, Any], fallback: dict[str, Any], name: str) -> tuple[Any, str]:
    if step.get(name) is not None:
        return step[name], f"{path}.{name}"
    return fallback.get(name), f"defaults.{name}"


def _templated(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or "${" in value)


def _no_tool(path: str, name: str, step_id: str | None, tools: set[str]) -> Problem:
    known = ", ".join(sorted(tools))
    message = (
        f"tool '{name}' is not in the definition's `tools:` and no running worker has it "
        f"(known: {known})"
    )
    return Problem(path, message, step=step_id, code="no_tool")


_NOT_STEPS = frozenset({"tools", "input", "output", "args", "output_schema", "defaults"})
"""Keys whose values hold no step spec (data and schemas, whatever ``kind`` they mention)."""


def _steps(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step spec in the dumped definition (nested ones too), with its path."""
    if isinstance(value, dict):
        if isinstance(value.get("kind"), str) and path:
            yield path, value
        for key, item in value.items():
            if key in _NOT_STEPS:
                continue
            yield from _steps(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _steps(item, f"{path}[{index}]")

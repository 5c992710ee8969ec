"""The JSON Schema (draft 2020-12) of the kworkflow/v1 format, generated from interpreter.spec.

``kworkflow schema`` prints it, ``GET /v1/schema`` serves it and ``docs/kworkflow.schema.json``
is its checked-in copy (a test keeps them equal). It is meant for editors' YAML language
servers: descriptions from the models' docstrings, defaults, enums, the step kinds as a
``oneOf`` keyed by ``kind``, ``additionalProperties: false`` wherever the loader rejects unknown
keys. Durations, CEL fields and ``${}`` value fields get a description (and durations a
pattern) derived from their types. The loader stays the authority: the schema cannot express
the graph rules, and a definition it accepts may still fail to load or lint.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, get_args

from pydantic import AfterValidator, BaseModel
from pydantic.json_schema import GenerateJsonSchema

from interpreter import spec
from interpreter.spec import Definition

SCHEMA_ID = "https://kworkflow.dev/schema/kworkflow.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$"
DURATION_HELP = "A duration: numbers with units ms, s, m, h, d, e.g. `500ms`, `30s`, `1h30m`."
CEL_FIELDS = frozenset({"when", "until", "expr", "filter"})
CEL_HELP = "A bare CEL expression (no `${}`), e.g. `steps.review.output.approved`."
VALUE_HELP = "Any value; a string may embed `${ expr }` CEL templates, resolved at run time."

_MODELS: tuple[type[BaseModel], ...] = (
    Definition,
    spec.Defaults,
    spec.RetrySpec,
    spec.RepeatSpec,
    spec.ToolDef,
    spec.Edge,
    spec.BranchCase,
    spec.LLMStep,
    spec.ToolStep,
    spec.CodeStep,
    spec.AgentStep,
    spec.SubflowStep,
    spec.HumanStep,
    spec.EventStep,
    spec.BranchStep,
    spec.ParallelStep,
    spec.AggregateStep,
    spec.ScheduleSpec,
    spec.Trigger,
    spec.EventTrigger,
    spec.WebhookTrigger,
)


class _Generator(GenerateJsonSchema):
    """pydantic's generator, declaring draft 2020-12 (its dialect) at the top."""

    def generate(self, schema: Any, mode: Any = "validation") -> dict[str, Any]:
        out = super().generate(schema, mode=mode)
        return {"$schema": DRAFT, "$id": SCHEMA_ID, **out}


def _is_duration(annotation: Any) -> bool:
    """Whether a field's type is (an optional) :data:`interpreter.spec.Duration`."""
    for arg in (annotation, *get_args(annotation)):
        meta = getattr(arg, "__metadata__", ())
        if any(isinstance(m, AfterValidator) for m in meta):
            return True
    return False


def _annotate(model: type[BaseModel], node: dict[str, Any]) -> None:
    """Add the type-derived help (durations, CEL, ``${}`` values) to a model's properties."""
    props = node.get("properties", {})
    for name, field in model.model_fields.items():
        prop = props.get(field.alias or name)
        if prop is None:
            continue
        extra = ""
        if _is_duration(field.annotation):
            extra = DURATION_HELP
            for member in prop.get("anyOf", [prop]):
                if member.get("type") == "string":
                    member["pattern"] = DURATION_PATTERN
        elif name in CEL_FIELDS:
            extra = CEL_HELP
        elif field.annotation is Any:
            extra = VALUE_HELP
        if extra:
            own = prop.get("description")
            prop["description"] = f"{own}\n\n{extra}" if own else extra
        prop.pop("title", None)  # "On Error": the key itself says more


_ROLE = re.compile(r":(?:mod|func|class|data|meth):`~?([^`]+)`")


def _markdown(node: Any) -> None:
    """Docstrings' reST (``x``, :mod:`m`) as the Markdown editors show on hover."""
    if isinstance(node, dict):
        text = node.get("description")
        if isinstance(text, str):
            node["description"] = _ROLE.sub(r"`\1`", text.replace("``", "`"))
        for value in node.values():
            _markdown(value)
    elif isinstance(node, list):
        for value in node:
            _markdown(value)


@cache
def _schema_text() -> str:
    schema = Definition.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_Generator
    )
    defs = schema.get("$defs", {})
    for model in _MODELS:
        _annotate(model, schema if model is Definition else defs.get(model.__name__, {}))
    _markdown(schema)
    schema["title"] = "kworkflow/v1 definition"
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def definition_schema() -> dict[str, Any]:
    """The JSON Schema of a definition, as a new dict each call."""
    result: dict[str, Any] = json.loads(_schema_text())
    return result


def definition_schema_text() -> str:
    """The schema as printed by ``kworkflow schema`` (indented JSON, a final newline)."""
    return _schema_text()


def schema_errors(data: Any, limit: int = 20) -> list[tuple[str, str]]:
    """Check plain data against the schema the way an editor would; ``(path, message)`` pairs.

    Inside the ``oneOf`` of step kinds only the member of the step's own ``kind`` is
    reported (the others' "'llm' was expected" say nothing), so a path reads
    ``steps/1/retry/max_attempts``, not just ``steps/1``.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    def own_member(error: ValidationError) -> list[ValidationError]:
        """The errors of the one union member the value is shaped like (its ``kind``, or the
        non-null side of an optional), else the union's own error."""
        if not error.context:
            return [error]
        by_member: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            by_member.setdefault(int(sub.schema_path[0]), []).append(sub)
        shaped = [
            subs
            for subs in by_member.values()
            if not any(s.validator in ("type", "const") and not s.relative_path for s in subs)
            and not any(s.validator == "const" and list(s.relative_path) == ["kind"] for s in subs)
        ]
        if len(shaped) == 1:
            return [leaf for s in shaped[0] for leaf in own_member(s)]
        return [error]

    validator = Draft202012Validator(definition_schema())
    found: list[tuple[str, str]] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        for leaf in own_member(error):
            found.append(("/".join(str(p) for p in leaf.absolute_path), leaf.message))
            if len(found) >= limit:
                return found
    return found

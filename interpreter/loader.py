"""YAML text -> validated :class:`~interpreter.spec.Definition`; every mistake a located Problem.

Three stages, each reporting :class:`~interpreter.errors.Problem` objects inside one
:class:`~interpreter.errors.DefinitionError`: YAML (:mod:`interpreter.yamldoc`), the pydantic
schema (errors rewritten to the user's path and words, e.g. ``steps[3].retry.max_attempts``),
and checks the schema cannot express (ids of graph steps and inner specs, JSON Schemas).
"""

from __future__ import annotations

import collections
import difflib
import os
import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from interpreter.errors import DefinitionError, Problem, SchemaInvalid
from interpreter.schemas import check_schema
from interpreter.spec import NAME_PATTERN, STEP_ID_PATTERN, Definition
from interpreter.yamldoc import (
    MAX_BYTES,
    Document,
    Path,
    Segment,
    describe,
    format_path,
    parse_path,
    parse_text,
    require_mapping,
)

__all__ = [
    "Document",
    "document_order",
    "load_data",
    "load_document",
    "load_file",
    "load_text",
    "parse_text",
]


def load_document(document: Document) -> Definition:
    """Validate a parsed document against the format.

    Raises:
        DefinitionError: Every schema problem, located.
    """
    require_mapping(document)
    problems: list[Problem] = []
    definition: Definition | None = None
    try:
        definition = Definition.model_validate(document.data)
    except ValidationError as exc:
        problems.extend(_schema_problems(exc, document.data))
    except RecursionError:
        problems.append(Problem("", "an alias refers to a node that contains it", code="yaml"))
    problems.extend(_extra_problems(document.data))
    if problems or definition is None:
        located = {
            document.locate(p, key=p.code == "unknown_field"): None for p in problems
        }  # ordered and free of duplicates
        ordered = sorted(
            located, key=lambda p: (p.line or 0, p.column or 0, document_order(p.path))
        )
        raise DefinitionError(ordered, document.source)
    return definition


def document_order(path: str) -> tuple[Any, ...]:
    """A sort key that puts paths in the order a definition is usually written."""
    segs = parse_path(path)
    fields = list(Definition.model_fields)
    first = fields.index(segs[0]) if segs and segs[0] in fields else len(fields)
    return (first, *((0, s, "") if isinstance(s, int) else (1, 0, s) for s in segs[1:]))


def load_text(text: str, source: str | None = None) -> Definition:
    """Load a definition from YAML text.

    Args:
        text: The YAML document.
        source: A name for it (usually the file name), used in messages.

    Raises:
        DefinitionError: The text is not a valid definition; every problem is listed.
    """
    return load_document(parse_text(text, source))


def load_file(path: str | os.PathLike[str]) -> Definition:
    """Load a definition from a YAML file (UTF-8).

    Raises:
        DefinitionError: The file cannot be read or is not a valid definition.
    """
    source = os.fspath(path)
    try:
        if os.path.getsize(source) > MAX_BYTES:
            message = f"the document is larger than {MAX_BYTES // 1024} KiB"
            raise DefinitionError([Problem("", message, code="too_large")], source)
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
        raise DefinitionError([Problem("", message, code="io")], source) from None
    except UnicodeDecodeError as exc:
        message = f"the file is not UTF-8 text (byte {exc.start})"
        raise DefinitionError([Problem("", message, code="encoding")], source) from None
    return load_text(text, source)


def load_data(data: Any, source: str | None = None) -> Definition:
    """Load a definition from plain data (e.g. a JSON body); problems carry no line numbers.

    Raises:
        DefinitionError: The data is not a valid definition.
    """
    return load_document(Document(data, None, source))


# --- pydantic errors in the user's words -------------------------------------------------

_PATTERNS = {
    STEP_ID_PATTERN: (
        "step id",
        "step ids are lower-case letters, digits and _, starting with a letter",
    ),
    NAME_PATTERN: (
        "name",
        "names are lower-case letters, digits, _, . and -, starting with a letter or digit",
    ),
}
_UNION_MEMBERS = {"constrained-str": "a step id", "list[constrained-str]": "a list of step ids"}
_TYPES = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _clean_loc(
    loc: tuple[Any, ...], data: Any, kind: str
) -> tuple[Path, tuple[Path, str] | None, Any]:
    """Drop pydantic's union tags from ``loc`` by walking the data it was checked against.

    Returns the user's path, the path and member of a plain (non-discriminated) union the
    error came through (or None), and the value at the path.
    """
    path: list[Segment] = []
    union: tuple[Path, str] | None = None
    node, tag_ok = data, True
    for n, seg in enumerate(loc):
        if isinstance(node, dict):
            if tag_ok and isinstance(node.get("kind"), str) and seg == node["kind"]:
                tag_ok = False  # the discriminated union's tag
                continue
            if seg in node:
                path.append(seg)
                node, tag_ok = node[seg], True
                continue
            if kind == "missing" and n == len(loc) - 1:
                path.append(seg)
                node = None
                continue
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            path.append(seg)
            node, tag_ok = node[seg], True
            continue
        union = union or (tuple(path), str(seg))  # any other segment names a union member
    return tuple(path), union, node


def _model_fields(path: Path, data: Any) -> list[str]:
    """The field names (aliases) allowed at ``path``, following the data through unions."""
    hint: Any = Definition
    node = data
    for seg in (*path, None):
        hint = _pick(hint, node)
        if seg is None:
            break
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            names = {f.alias or name: f for name, f in hint.model_fields.items()}
            if seg not in names:
                return []
            hint = names[seg].annotation
        elif get_origin(hint) in (list, dict):
            hint = get_args(hint)[-1]
        else:
            return []
        node = _child(node, seg)
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [f.alias or name for name, f in hint.model_fields.items()]
    return []


def _child(node: Any, seg: Segment) -> Any:
    if isinstance(node, dict):
        return node.get(seg)
    if isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
        return node[seg]
    return None


def _pick(hint: Any, node: Any) -> Any:
    while True:
        if get_origin(hint) is Annotated:
            hint = get_args(hint)[0]
        elif get_origin(hint) in (Union, types.UnionType):
            options = [a for a in get_args(hint) if a is not type(None)]
            kind = node.get("kind") if isinstance(node, dict) else None
            for option in options:
                field = getattr(option, "model_fields", {}).get("kind")
                if field is not None and get_args(field.annotation) == (kind,):
                    return option
            hint = options[0]
        else:
            return hint


def _name(path: Path) -> str:
    """The last field of ``path`` with any indexes after it: ``max_attempts``, ``steps[4]``."""
    cut = max((n for n, s in enumerate(path) if isinstance(s, str)), default=0)
    return format_path(path[cut:]) or "value"


def _field_message(err: ErrorDetails, path: Path, value: Any, data: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    name = _name(path)
    if kind == "missing":
        return f"missing required field `{name}`"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(name), _model_fields(path[:-1], data), 1, 0.7)
        return f"unknown field `{name}`" + (f" (did you mean `{close[0]}`?)" if close else "")
    if kind == "union_tag_invalid":
        tags = ", ".join(re.findall(r"'([^']*)'", ctx.get("expected_tags", "")))
        return f"`kind` must be one of {tags}, not {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return "missing required field `kind`"
    if kind == "literal_error":
        options = [o.strip("'") for o in re.split(r", | or ", ctx.get("expected", ""))]
        allowed = options[0] if len(options) == 1 else "one of " + ", ".join(options)
        return f"`{name}` must be {allowed}, not {value!r}"
    if kind == "string_pattern_mismatch":
        what, meaning = _PATTERNS.get(ctx.get("pattern", ""), ("value", err["msg"]))
        return f"{value!r} is not a valid {what}: {meaning}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in _TYPES:
        return f"`{name}` must be {_TYPES[kind]}, not {describe(value)}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return f"`{name}` must not be empty"
    bounds = {
        "too_short": "have at least {min_length} items",
        "too_long": "have at most {max_length} items",
        "greater_than_equal": "be at least {ge}",
        "greater_than": "be more than {gt}",
        "less_than_equal": "be at most {le}",
        "less_than": "be less than {lt}",
    }
    if kind in bounds:
        return f"`{name}` must {bounds[kind].format(**ctx)}, not {value!r}"
    if kind == "invalid_key":
        return "mapping keys must be strings"
    return str(err["msg"])


def _schema_problems(exc: ValidationError, data: Any) -> list[Problem]:
    plain: list[tuple[Path, str, str]] = []
    unions: dict[Path, list[tuple[Path, ErrorDetails, Any, str]]] = {}
    for err in exc.errors():
        path, union, value = _clean_loc(err["loc"], data, err["type"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, "kind")
            value = value.get("kind") if isinstance(value, dict) else None
        if union is not None:
            unions.setdefault(union[0], []).append((path, err, value, union[1]))
            continue
        code = "unknown_field" if err["type"] == "extra_forbidden" else "schema"
        plain.append((path, _field_message(err, path, value, data), code))
    for site, errs in unions.items():
        real = [e for e in errs if e[1]["type"] not in _TYPES]
        if real:
            plain.extend((p, _field_message(e, p, v, data), "schema") for p, e, v, _ in real)
            continue
        members = [_UNION_MEMBERS.get(e[3], e[3]) for e in errs]
        name = _name(site)
        text = f"`{name}` must be {' or '.join(members)}, not {describe(errs[0][2])}"
        plain.append((site, text, "schema"))
    return [Problem(format_path(p), m, step=_step_of(p, data), code=c) for p, m, c in plain]


def _step_of(path: Path, data: Any) -> str | None:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        steps = data.get("steps") if isinstance(data, dict) else None
        if isinstance(steps, list) and 0 <= path[1] < len(steps):
            step = steps[path[1]]
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                return step["id"]
    return None


# --- checks the schema cannot express ------------------------------------------------

_SCHEMA_FIELDS = {"llm": ("output_schema",), "agent": ("output_schema",), "human": ("form",)}


def _specs(data: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any], bool]]:
    """Every step spec in the raw data: (path, spec, is a graph step that needs an id)."""
    todo: collections.deque[tuple[Path, Any, bool]] = collections.deque()
    steps = data.get("steps")
    if isinstance(steps, list):
        todo.extend((("steps", i), s, True) for i, s in enumerate(steps))
    while todo:
        path, spec, graph = todo.popleft()
        if not isinstance(spec, dict):
            continue
        yield path, spec, graph
        if isinstance(spec.get("compensate"), dict):
            todo.append(((*path, "compensate"), spec["compensate"], False))
        if spec.get("kind") == "parallel":
            todo.append(((*path, "step"), spec.get("step"), False))
            branches = spec.get("branches")
            if isinstance(branches, dict):
                todo.extend(((*path, "branches", k), b, False) for k, b in branches.items())
        if spec.get("kind") == "subflow" and isinstance(spec.get("steps"), list):
            todo.extend(((*path, "steps", i), s, True) for i, s in enumerate(spec["steps"]))


def _extra_problems(data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    schemas: list[tuple[Path, Any]] = [(("input",), data.get("input"))]
    tools = data.get("tools")
    if isinstance(tools, dict):
        schemas.extend(
            (("tools", name, "input_schema"), tool.get("input_schema"))
            for name, tool in tools.items()
            if isinstance(tool, dict)
        )
    for path, spec, graph in _specs(data):
        step = _step_of(path, data)
        if graph and "id" not in spec:
            problems.append(
                Problem(format_path((*path, "id")), "missing required field `id`", step=step)
            )
        if not graph and "id" in spec:
            message = "an inner step spec has no `id`: it runs as part of the step around it"
            problems.append(
                Problem(format_path((*path, "id")), message, step=step, code="inner_id")
            )
        kind = spec.get("kind")
        fields = _SCHEMA_FIELDS.get(kind, ()) if isinstance(kind, str) else ()
        schemas.extend(((*path, f), spec.get(f)) for f in fields)
    for path, schema in schemas:
        if not isinstance(schema, dict):
            continue
        try:
            check_schema(schema)
        except SchemaInvalid as exc:
            where = format_path((*path, *exc.path))
            message = f"not a valid JSON Schema: {exc.reason}"
            problems.append(Problem(where, message, step=_step_of(path, data), code="json_schema"))
    return problems

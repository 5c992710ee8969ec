"""What typed lint knows of CEL: the static types it infers and the table of known functions.

The function table is the one place that says which CEL functions exist in kworkflow's
evaluator (celpy's standard functions plus :mod:`interpreter.expr`'s). When the cel-go
extension libraries land in the evaluator, their names are added here and nowhere else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

NUMBERS = frozenset({"int", "uint", "double"})


@dataclass(frozen=True)
class CelType:
    """A static type: ``kind`` is a CEL type name or ``dyn`` (unknown: never a finding).

    Attributes:
        kind: ``string``, ``int``, ``uint``, ``double``, ``bool``, ``bytes``, ``null``,
            ``list``, ``map``, ``timestamp``, ``duration`` or ``dyn``.
        fields: For a map with declared properties: each property's type.
        closed: Whether reading a property not in ``fields`` is a mistake.
        loose: Whether reading a property not in ``fields`` is suspect (a schema that does not
            forbid other properties): an error when a declared one is close, else a warning.
        enum: For a string (or number) with an ``enum``: the values it can take.
        elem: For a list: the type of its elements.
        nullable: Whether the value may be null (a step's output before it succeeds).
    """

    kind: str = "dyn"
    fields: dict[str, CelType] | None = field(default=None, compare=False)
    closed: bool = False
    loose: bool = False
    enum: tuple[Any, ...] | None = None
    elem: CelType | None = field(default=None, compare=False)
    nullable: bool = False

    def describe(self) -> str:
        """The type for a message: ``string``, ``list``, ``string (one of "a", "b")``."""
        if self.enum is not None:
            shown = ", ".join(_literal(v) for v in self.enum[:6])
            return f"{self.kind} (one of {shown}{', ...' if len(self.enum) > 6 else ''})"
        return self.kind


DYN = CelType()
BOOL = CelType("bool")
INT = CelType("int")
STRING = CelType("string")


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


_JSON_KINDS = {
    "string": "string",
    "integer": "int",
    "number": "double",
    "boolean": "bool",
    "array": "list",
    "object": "map",
    "null": "null",
}
_MAX_DEPTH = 32


def from_schema(schema: Any, *, closed: bool = False, depth: int = 0) -> CelType:
    """The static type of values a JSON Schema accepts (``dyn`` where it says too little).

    Args:
        schema: A JSON Schema (a definition's ``input``, a step's ``output_schema`` or ``form``).
        closed: Mark an object whose schema does not forbid other properties ``loose`` (the
            ``input``: an undeclared property is likely a typo).
    """
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return DYN
    enum = schema.get("enum")
    if "const" in schema:
        enum = [schema["const"]]
    kind = _JSON_KINDS.get(schema["type"]) if isinstance(schema.get("type"), str) else None
    if kind is None and isinstance(enum, list) and enum:
        kinds = {_value_kind(v) for v in enum}
        kind = kinds.pop() if len(kinds) == 1 else None
    if kind is None:
        if isinstance(schema.get("properties"), dict):
            kind = "map"
        else:
            return DYN
    values = tuple(enum) if isinstance(enum, list) and enum else None
    if kind == "map":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return CelType("map")
        fields = {str(k): from_schema(v, depth=depth + 1) for k, v in props.items()}
        extra = schema.get("additionalProperties")
        loose = closed and extra is None and "patternProperties" not in schema
        return CelType("map", fields=fields, closed=extra is False, loose=loose)
    if kind == "list":
        return CelType("list", elem=from_schema(schema.get("items"), depth=depth + 1))
    return CelType(kind, enum=values)


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "dyn"


def value_type(value: Any) -> CelType:
    """The static type of a literal JSON value (a step's ``default``)."""
    return CelType(_value_kind(value)) if not isinstance(value, dict | list) else DYN


# Global functions (``size(x)``), with the kinds their first argument may have (None: any) and
# the kind they return. Macros (``has``) are handled by the checker.
GLOBAL_FUNCTIONS: dict[str, tuple[frozenset[str] | None, str]] = {
    "size": (frozenset({"string", "bytes", "list", "map"}), "int"),
    "int": (None, "int"),
    "uint": (None, "uint"),
    "double": (None, "double"),
    "string": (None, "string"),
    "bytes": (None, "bytes"),
    "bool": (None, "bool"),
    "type": (None, "dyn"),
    "duration": (frozenset({"string"}), "duration"),
    "timestamp": (frozenset({"string", "int"}), "timestamp"),
    "matches": (frozenset({"string"}), "bool"),
    "dyn": (None, "dyn"),
}

_TIME = frozenset({"timestamp"})
_DURATIONS = frozenset({"duration"})
_DURATION_PARTS = frozenset({"getHours", "getMilliseconds", "getMinutes", "getSeconds"})
# Receiver-style functions (``x.startsWith(y)``): the receiver's kinds and the result kind.
MEMBER_FUNCTIONS: dict[str, tuple[frozenset[str] | None, str]] = {
    "size": (frozenset({"string", "bytes", "list", "map"}), "int"),
    "contains": (frozenset({"string"}), "bool"),
    "startsWith": (frozenset({"string"}), "bool"),
    "endsWith": (frozenset({"string"}), "bool"),
    "matches": (frozenset({"string"}), "bool"),
    **{
        name: (_TIME | (_DURATIONS if name in _DURATION_PARTS else _TIME), "int")
        for name in (
            "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear",
            "getHours", "getMilliseconds", "getMinutes", "getMonth", "getSeconds",
        )
    },
}  # fmt: skip

# Namespaced functions (``math.greatest(...)``): none until the extension libraries land
# (see _add_extensions at the end).
NAMESPACE_FUNCTIONS: dict[str, dict[str, str]] = {}

# Comprehension macros (``list.map(x, expr)``): the result kind.
MACROS: dict[str, str] = {
    "all": "bool",
    "exists": "bool",
    "exists_one": "bool",
    "map": "list",
    "filter": "list",
}

# The names an expression can see somewhere (which, where, is the lint's business); type names.
SCOPE_NAMES = frozenset(
    {
        "input", "steps", "run", "item", "index", "items", "iteration", "previous",
        "output", "event", "body", "headers", "step", "secrets",
    }
)  # fmt: skip
TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type", "dyn"}
)

RUN_TYPE = CelType(
    "map",
    fields={
        "id": STRING,
        "workflow": STRING,
        "version": INT,
        "tenant": STRING,
        "started_at": STRING,
    },
    closed=True,
)
ERROR_TYPE = CelType("map", fields={"type": STRING, "message": STRING}, nullable=True)
STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "skipped", "cancelled")


def _add_extensions() -> None:
    """Know the CEL extension functions once the evaluator has them (``interpreter.celfuncs``,
    its ``NAMES`` and ``MACROS``): namespaced ones (``math.greatest``) by namespace, the others
    as global and receiver-style functions of any argument; their results are not typed."""
    try:
        ext = importlib.import_module("interpreter.celfuncs")
    except ImportError:
        return
    for name in getattr(ext, "NAMES", ()):
        if "." in name:
            namespace, function = name.split(".", 1)
            NAMESPACE_FUNCTIONS.setdefault(namespace, {})[function] = "dyn"
        else:
            GLOBAL_FUNCTIONS.setdefault(name, (None, "dyn"))
            MEMBER_FUNCTIONS.setdefault(name, (None, "dyn"))
    for name in getattr(ext, "MACROS", ()):
        MACROS.setdefault(name, "dyn")


_add_extensions()

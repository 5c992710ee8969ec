"""Typed lint of one CEL expression: a small type inference over celpy's parse tree.

:func:`check` walks the lark tree of an expression with the static types of the names in scope
(:class:`Types`: the ``input`` schema, each step's output shape) and returns :class:`Finding`
objects: an unknown function or name, a function given the wrong kind of value, a property the
schema does not declare (with "did you mean"), an ``==``/``!=`` that can never be true across
types or outside a string enum, and (a warning) a read of a step's output that may be null with
no ``has(...)`` or ``!= null`` check. What is not known is ``dyn`` and never a finding.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lark
from celpy.evaluation import celstr

from interpreter.celknown import (
    BOOL,
    DYN,
    ERROR_TYPE,
    GLOBAL_FUNCTIONS,
    INT,
    MACROS,
    MEMBER_FUNCTIONS,
    NAMESPACE_FUNCTIONS,
    NUMBERS,
    RUN_TYPE,
    SCOPE_NAMES,
    STATUSES,
    STRING,
    TYPE_NAMES,
    CelType,
)
from interpreter.expr import syntax_tree

_MAX_FINDINGS = 20  # per expression: a hostile expression cannot flood the report
_LITERAL_KINDS = {
    "INT_LIT": "int",
    "UINT_LIT": "uint",
    "FLOAT_LIT": "double",
    "STRING_LIT": "string",
    "MLSTRING_LIT": "string",
    "BYTES_LIT": "bytes",
    "MLBYTES_LIT": "bytes",
    "BOOL_LIT": "bool",
    "NULL_LIT": "null",
}


@dataclass(frozen=True)
class Finding:
    """One typed-lint finding in an expression.

    Attributes:
        code: ``unknown_function``, ``unknown_name``, ``overload``, ``undeclared_field``,
            ``never_equal`` or ``maybe_null`` (the only warning).
        message: What is wrong, for a person.
        severity: ``error`` or ``warning``.
    """

    code: str
    message: str
    severity: str = "error"


@dataclass
class Types:
    """What is known about the names in scope of an expression.

    Attributes:
        names: The static type of each top-level name that is known (``input``, ``run``...).
        steps: The static type of each ``steps.<id>`` (a map of status, output, error...).
        nullable_steps: Steps whose output may be null when this is evaluated (they may have
            failed with ``on_error: continue``, or been skipped on some path): why, by id.
    """

    names: dict[str, CelType] = field(default_factory=dict)
    steps: dict[str, CelType] = field(default_factory=dict)
    nullable_steps: Mapping[str, str] = field(default_factory=dict)


def step_type(output: CelType) -> CelType:
    """The type of ``steps.<id>`` for a step whose output has type ``output``."""
    fields = {
        "status": CelType("string", enum=STATUSES),
        "output": output,
        "error": ERROR_TYPE,
        "attempts": INT,
    }
    return CelType("map", fields=fields, closed=True)


def default_names() -> dict[str, CelType]:
    """The names every expression of a run may read, whatever the definition."""
    return {"run": RUN_TYPE}


def check(source: str, types: Types) -> list[Finding]:
    """The typed findings of a CEL expression that compiles (see the module docstring)."""
    tree = syntax_tree(source)
    checker = _Checker(types, _guarded_steps(source))
    if tree is None:  # a plain path: `input.title`, `steps.a.output`
        parts = [p.strip() for p in source.split(".")]
        current = checker.name(parts[0], {})
        for n, name in enumerate(parts[1:], 1):
            checker.null_read(tuple(parts[: n + 1]), False)
            current = checker.select(current, name, False, ".".join(parts[:n]))
    else:
        checker.infer(tree, {})
    return checker.findings[:_MAX_FINDINGS]


_GUARD = re.compile(
    r"has\(\s*steps\s*\.\s*(\w+)|steps\s*\.\s*(\w+)\s*\.\s*(?:output\s*!=\s*null|status\b)"
)


def _guarded_steps(source: str) -> set[str]:
    """The steps an expression checks before reading (``has(steps.a...)``,
    ``steps.a.output != null``, a test of ``steps.a.status``)."""
    return {a or b for a, b in _GUARD.findall(source)}


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, 1, 0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


class _Checker:
    def __init__(self, types: Types, guarded: set[str]) -> None:
        self.types = types
        self.guarded = guarded
        self.findings: list[Finding] = []
        self.warned: set[str] = set()

    def add(self, code: str, message: str, severity: str = "error") -> None:
        finding = Finding(code, message, severity)
        if finding not in self.findings and len(self.findings) < _MAX_FINDINGS:
            self.findings.append(finding)

    # --- names and selections ----------------------------------------------------------------

    def name(self, ident: str, local: dict[str, CelType]) -> CelType:
        if ident in local:
            return local[ident]
        if ident == "steps":
            fields = dict(self.types.steps)
            return CelType("map", fields=fields)  # an unknown id: lint's unknown_reference
        if ident in self.types.names:
            return self.types.names[ident]
        if ident not in SCOPE_NAMES | TYPE_NAMES and ident not in NAMESPACE_FUNCTIONS:
            hint = _suggest(ident, sorted(SCOPE_NAMES | set(local)))
            self.add("unknown_name", f"`{ident}` is not a name in scope{hint}")
        return DYN

    def select(self, base: CelType, name: str, testing: bool, path: str = "") -> CelType:
        """``base.name``; ``testing``: inside ``has(...)``, where absence is the question."""
        if base.kind in ("dyn", "map") and base.fields is not None:
            if name in base.fields:
                return base.fields[name]
            if (base.closed or base.loose) and not testing:
                where = f"`{path}`" if path else "this map"
                known = sorted(base.fields)
                hint = _suggest(name, known)
                declared = ", ".join(f"`{k}`" for k in known[:10])
                message = f"{where} has no field `{name}`{hint}"
                if base.closed or hint:
                    message += f"; it declares {declared}" if known else ""
                    self.add("undeclared_field", message)
                else:
                    message += f" in its schema (it declares {declared}): it is null unless "
                    message += "the run input carries it; declare it"
                    self.add("undeclared_field", message, "warning")
            return DYN
        if base.kind not in ("dyn", "map", "null") and not testing:
            self.add("overload", f"cannot select `.{name}` from {_a(base.kind)}")
        return DYN

    # --- the tree -------------------------------------------------------------------------------

    def infer(self, node: Any, local: dict[str, CelType]) -> CelType:
        if isinstance(node, lark.Token):
            return DYN
        data = node.data
        children = node.children
        method = getattr(self, f"_{data}", None)
        if method is not None:
            result: CelType = method(children, local)
            return result
        if len(children) == 1:
            return self.infer(children[0], local)
        for child in children:
            self.infer(child, local)
        return DYN

    def _expr(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        if len(children) == 3:
            self.infer(children[0], local)
            a, b = self.infer(children[1], local), self.infer(children[2], local)
            return a if a.kind == b.kind and a.kind != "dyn" else DYN
        return self.infer(children[0], local)

    def _conditionalor(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self._logical(children, local)

    def _conditionaland(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self._logical(children, local)

    def _logical(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        kinds = [self.infer(c, local) for c in children]
        return kinds[0] if len(kinds) == 1 else BOOL

    def _relation(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        if len(children) == 1:
            return self.infer(children[0], local)
        op = children[0]
        left = self.infer(op.children[0], local) if op.children else DYN
        right = self.infer(children[1], local)
        literal = _literal_value(children[1])
        if op.data in ("relation_eq", "relation_ne"):
            self.compare(left, right, literal, op.data == "relation_eq")
        elif op.data in ("relation_lt", "relation_le", "relation_gt", "relation_ge") and (
            _incomparable(left, right)
        ):
            self.add(
                "overload",
                f"cannot order {_a(left.kind)} against {_a(right.kind)}: the comparison fails",
            )
        return BOOL

    def compare(self, left: CelType, right: CelType, literal: Any, equal: bool) -> None:
        never = "never true" if equal else "always true"
        if _incomparable(left, right):
            self.add(
                "never_equal",
                f"{_a(left.describe())} is compared with {_a(right.describe())}: this is {never}",
            )
        elif left.enum is not None and literal is not _NO_LITERAL and literal not in left.enum:
            self.add(
                "never_equal",
                f"{_shown(literal)} is not one of the values of this {left.describe()}: "
                f"this is {never}",
            )

    def _addition(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self._arith(children, local)

    def _multiplication(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self._arith(children, local)

    def _arith(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        if len(children) == 1:
            return self.infer(children[0], local)
        op = children[0]
        left = self.infer(op.children[0], local) if op.children else DYN
        right = self.infer(children[1], local)
        if left.kind == right.kind and left.kind in NUMBERS | {"string", "list", "bytes"}:
            return CelType(left.kind)
        return DYN

    def _unary(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        if len(children) == 1:
            return self.infer(children[0], local)
        op, operand = children[0], self.infer(children[1], local)
        return BOOL if isinstance(op, lark.Tree) and op.data == "unary_not" else operand

    def _member_dot(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self.dot(children, local, False)

    def dot(self, children: list[Any], local: dict[str, CelType], testing: bool) -> CelType:
        base_node, name = children[0], str(children[1])
        inner = _unwrap(base_node)
        if isinstance(inner, lark.Tree) and inner.data == "member_dot":
            base = self.dot(inner.children, local, testing)
        else:
            base = self.infer(base_node, local)
        path = _text_path(base_node)
        if path is not None:
            self.null_read((*path, name), testing)
        return self.select(base, name, testing, ".".join(path) if path else "")

    def null_read(self, path: tuple[str, ...], testing: bool) -> None:
        """Warn once per step at ``steps.<id>.output.<x>`` when the output may be null."""
        if len(path) < 4 or path[0] != "steps" or path[2] != "output" or testing:
            return
        step = path[1]
        why = self.types.nullable_steps.get(step)
        if why is None or step in self.guarded or step in self.warned:
            return
        self.warned.add(step)
        self.add(
            "maybe_null",
            f"`steps.{step}.output` may be null here ({why}): reading "
            f"`{'.'.join(path)}` then fails; check `has(steps.{step}.output.{path[3]})` "
            f"or `steps.{step}.output != null` first",
            "warning",
        )

    def _member_index(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        base = self.infer(children[0], local)
        self.infer(children[1], local)
        key = _literal_value(children[1])
        if isinstance(key, str) and base.fields is not None:
            return self.select(base, key, False)
        if base.kind == "list" and base.elem is not None:
            return base.elem
        return DYN

    def _member_dot_arg(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        base_node, name = children[0], str(children[1])
        args = list(children[2].children) if len(children) > 2 else []
        namespace = _bare_ident(base_node)
        if namespace is not None and namespace not in local and namespace in NAMESPACE_FUNCTIONS:
            for arg in args:
                self.infer(arg, local)
            table = NAMESPACE_FUNCTIONS[namespace]
            if name in table:
                return CelType(table[name])
            self.add("unknown_function", f"`{namespace}.{name}` is not a CEL function here")
            return DYN
        if namespace == "math" and namespace not in local:  # before the extensions land
            for arg in args:
                self.infer(arg, local)
            self.add("unknown_function", f"`math.{name}` is not a CEL function here")
            return DYN
        base = self.infer(base_node, local)
        if name in MACROS and len(args) in (2, 3):
            var = _bare_ident(args[0])
            inner = dict(local)
            if var is not None:
                inner[var] = base.elem if base.kind == "list" and base.elem else DYN
            for arg in args[1:]:
                self.infer(arg, inner)
            return CelType(MACROS[name])
        for arg in args:
            self.infer(arg, local)
        if name not in MEMBER_FUNCTIONS:
            known = sorted(set(MEMBER_FUNCTIONS) | set(MACROS))
            self.add(
                "unknown_function",
                f"`.{name}()` is not a CEL function here{_suggest(name, known)}",
            )
            return DYN
        receivers, result = MEMBER_FUNCTIONS[name]
        if receivers is not None and base.kind not in {"dyn", "null", *receivers}:
            self.add("overload", f"`.{name}()` does not apply to {_a(base.kind)}")
        return CelType(result)

    def _ident_arg(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        name = str(children[0])
        args = list(children[1].children) if len(children) > 1 else []
        if name == "has":
            for arg in args:
                node = _unwrap(arg)
                if isinstance(node, lark.Tree) and node.data == "member_dot":
                    self.dot(node.children, local, True)
                else:
                    self.infer(arg, local)
            return BOOL
        kinds = [self.infer(arg, local) for arg in args]
        if name not in GLOBAL_FUNCTIONS:
            known = sorted(GLOBAL_FUNCTIONS)
            self.add(
                "unknown_function",
                f"`{name}()` is not a CEL function here{_suggest(name, known)}",
            )
            return DYN
        accepts, result = GLOBAL_FUNCTIONS[name]
        if accepts is not None and kinds and kinds[0].kind not in {"dyn", "null", *accepts}:
            self.add("overload", f"`{name}()` does not apply to {_a(kinds[0].kind)}")
        return CelType(result)

    def _ident(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self.name(str(children[0]), local)

    def _dot_ident(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self.name(str(children[0]), {})

    def _paren_expr(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        return self.infer(children[0], local)

    def _list_lit(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        elems = [self.infer(c, local) for c in (children[0].children if children else [])]
        kinds = {e.kind for e in elems}
        elem = CelType(kinds.pop()) if len(kinds) == 1 else DYN
        return CelType("list", elem=elem)

    def _map_lit(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        for child in children:
            self.infer(child, local)
        return CelType("map")

    def _literal(self, children: list[Any], local: dict[str, CelType]) -> CelType:
        token = children[0]
        return CelType(_LITERAL_KINDS.get(token.type, "dyn"))


_NO_LITERAL = object()


def _unwrap(node: Any) -> Any:
    """Down through the single-child wrappers (``expr > ... > member``) to the first real node."""
    while isinstance(node, lark.Tree) and len(node.children) == 1 and node.data != "ident":
        if node.data in ("literal", "list_lit", "map_lit", "ident_arg", "dot_ident"):
            break
        node = node.children[0]
    return node


def _bare_ident(node: Any) -> str | None:
    node = _unwrap(node)
    if isinstance(node, lark.Tree) and node.data == "ident":
        return str(node.children[0])
    return None


def _text_path(node: Any) -> tuple[str, ...] | None:
    """``steps.a.output`` as its names, if ``node`` is a path of names."""
    node = _unwrap(node)
    if isinstance(node, lark.Tree) and node.data == "ident":
        return (str(node.children[0]),)
    if isinstance(node, lark.Tree) and node.data == "member_dot":
        head = _text_path(node.children[0])
        return None if head is None else (*head, str(node.children[1]))
    return None


def _literal_value(node: Any) -> Any:
    """The value of a literal operand (string, number, bool, null), else ``_NO_LITERAL``."""
    node = _unwrap(node)
    if not (isinstance(node, lark.Tree) and node.data == "literal"):
        return _NO_LITERAL
    token = node.children[0]
    if not isinstance(token, lark.Token):
        return _NO_LITERAL
    kind = token.type
    try:
        if kind in ("STRING_LIT", "MLSTRING_LIT"):
            return str(celstr(token))
        if kind == "INT_LIT":
            return int(str(token), 0)
        if kind == "FLOAT_LIT":
            return float(str(token))
        if kind == "BOOL_LIT":
            return str(token) == "true"
        if kind == "NULL_LIT":
            return None
    except ValueError:
        return _NO_LITERAL
    return _NO_LITERAL


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _incomparable(left: CelType, right: CelType) -> bool:
    """Whether two known kinds can never be equal (numbers compare across int/uint/double;
    null against anything may be a null check)."""
    a, b = left.kind, right.kind
    if "dyn" in (a, b) or "null" in (a, b) or a == b:
        return False
    if left.nullable or right.nullable:
        return False
    return not (a in NUMBERS and b in NUMBERS)


__all__ = ["STRING", "Finding", "Types", "check", "default_names", "step_type"]

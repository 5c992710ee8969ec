"""CEL for kworkflow: the compile cache, ``${}`` templates, and CEL values -> plain JSON values.

Deterministic (imported inside the workflow sandbox): no I/O, no clock, no randomness; the only
shared mutable state is the two bounded compile caches. Every failure leaves as
:class:`~interpreter.errors.ExpressionError` with a message for a person.
"""

from __future__ import annotations

import functools
import re
import reprlib
from typing import Any

import celpy
import lark
import re2
from celpy import celtypes
from celpy.evaluation import Activation, CELEvalError, celstr
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from interpreter import celcost, celfuncs
from interpreter._celscope import Entries, Scope
from interpreter._celvalues import (
    CelProblem,
    converts,
    dump,
    equal,
    eval_reason,
    json_value,
    not_equal,
)
from interpreter.errors import ExpressionError
from interpreter.schemas import regex_problem, search

__all__ = [
    "Entries",
    "Program",
    "Scope",
    "Template",
    "cel_convertible",
    "compile_cel",
    "has_template",
    "parse_template",
    "regex_literals",
    "render_text",
    "resolve",
    "step_references",
    "syntax_tree",
    "template_expressions",
    "to_json",
]

_ENV = celpy.Environment()  # builds celpy's process-wide parser once, at import
_TOKENS = {"RPAR": ")", "RBRACE": "}", "RSQB": "]", "COMMA": ",", "COLON": ":"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# `item`, `input.topic`, `steps.plan.output.data`: looked up directly, without celpy.
_PATH = re.compile(r"\s*[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*\s*\Z")
_LITERALS = frozenset({"true", "false", "null"})
# A plain path of ASCII names, none a CEL keyword: compiled without parsing (the parse of a
# CEL expression is most of lint's time); parsed only if evaluating it ever needs celpy.
_PLAIN = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*\s*\Z")
_KEYWORDS = _LITERALS | {
    "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let",
    "loop", "package", "namespace", "return", "var", "void", "while",
}  # fmt: skip


def _size(value: Any) -> Any:
    """CEL's ``size``: strings, bytes, lists and maps only (celpy 0.5 gives 0 for null)."""
    return celtypes.IntType(len(value))  # TypeError for null, numbers...: "cannot take..."


def _matches(text: Any, pattern: Any) -> Any:
    """CEL's ``matches``: an RE2 search, compiled once per pattern (interpreter.schemas)."""
    try:
        return celtypes.BoolType(search(pattern, text))
    except re2.error as exc:
        return CELEvalError("match error", type(exc), (regex_problem(pattern) or str(exc),))


# celpy 0.5 raises on `[1] != null` and `1 == 'a'`; CEL (and our users) expect true and false.
_FUNCTIONS: dict[str, Any] = {"_==_": equal, "_!=_": not_equal, "size": _size, "matches": _matches}
_BASE = Activation(annotations=_ENV.annotations, functions=_FUNCTIONS)  # cloned, never changed
# With the extension functions (interpreter.celfuncs): what every evaluation uses, except in a
# run recorded before them (see Scope's `gate`), where they stay unknown as they were.
_EXTENDED = Activation(annotations=_ENV.annotations, functions={**_FUNCTIONS, **celfuncs.FUNCTIONS})
_METHODS = frozenset(name for name in celfuncs.NAMES if "." not in name)


class Program:
    """A compiled CEL expression; get one from :func:`compile_cel`.

    Attributes:
        source: The CEL source text.
    """

    __slots__ = (
        "_ast", "_extends", "_names", "_path", "_regexes", "_selected", "_steps", "source"
    )  # fmt: skip

    def __init__(self, source: str, ast: lark.Tree[Any] | None) -> None:
        self.source = source
        self._ast = ast  # None for a plain path (see _PLAIN) until it is needed
        path = [part.strip() for part in source.split(".")]
        plain = ast is None
        names: set[str] = {path[0]} if plain else set()
        steps: set[str] = {path[1]} if plain and path[0] == "steps" and len(path) > 1 else set()
        regexes: list[tuple[int, str]] = []
        uses = selections = 0  # of `steps`: every use, and those that select a step by name
        calls: set[str] = set()
        for tree in ast.iter_subtrees() if ast is not None else ():  # names, steps.<id>, regexes
            data = tree.data
            if data in ("ident", "dot_ident"):
                names.add(str(tree.children[0]))
                uses += str(tree.children[0]) == "steps"
            elif data in ("member_dot", "member_index"):
                selections += _step_reference(tree, steps)
            elif data in ("member_dot_arg", "ident_arg"):
                _regex_literal(tree, regexes)
                calls.add(str(tree.children[1 if data == "member_dot_arg" else 0]))
        self._names = tuple(sorted(names))
        # Whether it calls an extension function (or `string`, whose text they changed).
        self._extends = bool(calls & _METHODS) or not celfuncs.NAMESPACES.isdisjoint(names)
        self._steps = frozenset(steps)
        # Only `steps.<id>` / `steps["<id>"]`: the evaluation needs those steps' views only.
        only_selects = len(path) > 1 if plain else uses == selections
        self._selected = tuple(sorted(steps)) if only_selects and "steps" in names else None
        self._regexes = tuple(pattern for _, pattern in sorted(regexes))
        simple = _PATH.match(source) is not None and path[0] not in _LITERALS
        self._path: tuple[str, ...] | None = tuple(path) if simple else None

    def __repr__(self) -> str:
        return f"Program({self.source!r})"

    def evaluate(self, scope: Scope) -> Any:
        """Evaluate against ``scope``.

        Returns:
            The result as a plain JSON value (bool, int, float, str, None, list or dict).

        Raises:
            ExpressionError: The evaluation failed (unknown name, missing key, wrong types...)
                or cost more than :data:`interpreter.celcost.EXPRESSION_BUDGET`.
        """
        if self._path is not None:
            found, value = scope._lookup(self._path)
            if found:
                return value
        try:
            base = _BASE if self._extends and not scope._extended() else _EXTENDED
            activation = scope._activation(self._names, self._selected, base)
            try:
                if self._ast is None:
                    self._ast = _parse(self.source)
                value = celcost.evaluate(self._ast, activation, None, scope.meter)
            except celcost.CostExceeded as exc:
                raise CelProblem(str(exc)) from None
            except Exception as exc:  # celpy raises CELEvalError and plain Python errors alike
                raise CelProblem(eval_reason(exc)) from exc
            return json_value(value)
        except CelProblem as problem:
            raise ExpressionError(self.source, problem.message) from problem.__cause__

    def evaluate_bool(self, scope: Scope) -> bool:
        """Evaluate a condition (``when``, ``until``, a branch case).

        Raises:
            ExpressionError: The evaluation failed or its result is not a bool.
        """
        value = self.evaluate(scope)
        if isinstance(value, bool):
            return value
        shown = dump(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ExpressionError(self.source, f"the result must be true or false, got {shown}")


def compile_cel(source: str) -> Program:
    """Compile CEL source; cached by text (4,096 entries).

    Raises:
        ExpressionError: A syntax error; ``offset`` is where in ``source``.
    """
    try:
        return _compile(source)
    except CelProblem as problem:
        reason = f"parse error at {_where(source, problem.offset)}: {problem.message}"
        raise ExpressionError(source, reason, problem.offset) from None


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> Program:
    if not source.strip():
        raise CelProblem("empty expression", 0)
    if _PLAIN.match(source) and _KEYWORDS.isdisjoint(p.strip() for p in source.split(".")):
        return Program(source, None)
    return Program(source, _parse(source))


def _parse(source: str) -> lark.Tree[Any]:
    """celpy's syntax tree of ``source``.

    Raises:
        CelProblem: A syntax error, with its offset.
    """
    try:
        return _ENV.compile(source)
    except celpy.CELParseError as exc:
        error, line, column = exc.__context__, exc.line or 1, exc.column or 1
        offset = sum(len(row) + 1 for row in source.split("\n")[: line - 1]) + column - 1
        if isinstance(error, UnexpectedCharacters):
            quote = error.char in "'\""
            message = "unterminated string" if quote else f"unexpected character `{error.char}`"
        elif isinstance(error, UnexpectedToken):
            wanted = " or ".join(sorted(f"`{_TOKENS[n]}`" for n in error.expected if n in _TOKENS))
            found = "end of expression" if error.token.type == "$END" else f"`{error.token}`"
            message = f"unexpected {found}" + (f", expected {wanted}" if wanted else "")
        else:
            message = str(exc.args[0]).splitlines()[0]
        raise CelProblem(message, offset) from None


def _where(text: str, offset: int | None) -> str:
    offset = offset or 0
    column = offset - text.rfind("\n", 0, offset)
    if "\n" not in text:
        return f"column {column}"
    return f"line {text.count(chr(10), 0, offset) + 1}, column {column}"


def cel_convertible(value: Any) -> bool:
    """Whether a plain value can be given to CEL (an integer outside 64 bits cannot)."""
    return converts(value)


def to_json(value: Any) -> Any:
    """Convert a celpy value to a plain JSON value.

    bool stays bool (never ``1``); int and uint become int; double float; bytes base64 text;
    list and map a list and a dict with str keys; timestamp RFC 3339 text; duration ``"30s"``.

    Raises:
        ExpressionError: The value holds an error, a non-finite number or a non-CEL object.
    """
    try:
        return json_value(value)
    except CelProblem as problem:
        raise ExpressionError(reprlib.repr(value), problem.message) from None


def render_text(value: Any) -> str:
    """How a value is embedded in longer text: a string as itself, anything else compact JSON.

    Raises:
        ExpressionError: ``value`` cannot be converted (see :func:`to_json`).
    """
    return str(value) if isinstance(value, str) else dump(to_json(value))


class Template:
    """A string value with ``${ expr }`` parts; get one from :func:`parse_template`.

    Attributes:
        text: The original text.
        expressions: The CEL sources inside ``${ }``, in order, outer white space trimmed.
        is_single: The text is exactly one ``${ expr }`` (outer white space ignored), so
            :meth:`render` returns the expression's value with its own type.
    """

    __slots__ = ("_parts", "expressions", "is_single", "text")

    def __init__(self, text: str, parts: tuple[str | Program, ...], is_single: bool) -> None:
        self.text, self._parts, self.is_single = text, parts, is_single
        self.expressions = tuple(p.source for p in parts if isinstance(p, Program))

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def render(self, scope: Scope) -> Any:
        """The expression's value if :attr:`is_single`, else the text with each part rendered.

        Raises:
            ExpressionError: An expression failed; the error names that expression.
        """
        if self.is_single:
            return self._parts[0].evaluate(scope)  # type: ignore[union-attr]
        rendered = (p if isinstance(p, str) else p.evaluate(scope) for p in self._parts)
        return "".join(v if isinstance(v, str) else dump(v) for v in rendered)


@functools.lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Parse a string value with ``${ expr }`` parts; cached by text (4,096 entries).

    ``$${`` writes a literal ``${``. A ``}`` inside a CEL string literal or comment does not end
    an expression, and the braces of CEL map literals nest.

    Raises:
        ExpressionError: An unterminated or empty ``${``, or an expression that does not
            compile; ``offset`` is where in ``text``.
    """
    parts: list[str | Program] = []
    literal, start, spans = "", 0, []
    while (opening := text.find("${", start)) >= 0:
        if opening > 0 and text[opening - 1] == "$":
            literal, start = literal + text[start : opening - 1] + "${", opening + 2
            continue
        closing = _closing_brace(text, opening + 2)
        if closing < 0:
            raise ExpressionError(text, "unterminated `${`: no closing `}`", opening)
        inner = text[opening + 2 : closing]
        try:
            program = _compile(inner.strip())
        except CelProblem as problem:
            at = closing - len(inner.lstrip()) + (problem.offset or 0)
            reason = f"parse error at {_where(text, at)}: {problem.message}"
            raise ExpressionError(text, reason, at) from None
        if literal or start < opening:
            parts.append(literal + text[start:opening])
        parts += [program]
        literal, start = "", closing + 1
        spans.append((opening, closing))
    if literal or start < len(text) or not parts:
        parts.append(literal + text[start:])
    is_single = len(spans) == 1 and not text[: spans[0][0]].strip()
    if is_single and not text[spans[0][1] + 1 :].strip():
        return Template(text, (program,), True)
    return Template(text, tuple(parts), False)


def _closing_brace(text: str, index: int) -> int:
    """The index of the ``}`` closing an expression that starts at ``index``, or -1."""
    depth, end = 0, len(text)
    while index < end:
        char = text[index]
        if char in "'\"":
            quote = char * 3 if text.startswith(char * 3, index) else char
            index += len(quote)
            while index < end and not text.startswith(quote, index):
                index += 2 if text[index] == "\\" else 1
            if index >= end:
                return -1
            index += len(quote) - 1
        elif text.startswith("//", index):  # a CEL comment runs to the end of the line
            index = text.find("\n", index)
            if index < 0:
                return -1
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def resolve(value: Any, scope: Scope) -> Any:
    """Render every template inside ``value``, walking dicts (values, not keys) and lists.

    Parts without templates come back as the same objects, not copies.

    Raises:
        ExpressionError: A template does not parse or an expression fails.
    """
    if isinstance(value, str):
        return parse_template(value).render(scope) if "${" in value else value
    if isinstance(value, dict):
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            if (new := resolve(item, scope)) is not item:
                changed = changed if changed is not None else dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items = [resolve(item, scope) for item in value]
        return value if all(n is o for n, o in zip(items, value, strict=True)) else items
    return value


def has_template(value: Any) -> bool:
    """Whether any string inside ``value`` (dict values and lists walked) contains ``${``."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_template(item) for item in value.values())
    return isinstance(value, list) and any(has_template(item) for item in value)


def template_expressions(value: Any) -> list[tuple[str, str]]:
    """Every CEL source inside the templates in ``value``, for lint.

    Returns:
        ``(path_suffix, source)`` pairs; the suffix is relative to ``value``: ``""``,
        ``".args.company"``, ``"[2]"``, ``'["odd key"]'``.

    Raises:
        ExpressionError: A template does not parse; the reason ends with its path suffix.
    """
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            keys = (f".{k}" if _IDENT.match(str(k)) else f"[{dump(str(k))}]" for k in item)
            pending += reversed([(path + k, v) for k, v in zip(keys, item.values(), strict=True)])
        elif isinstance(item, list):
            pending += reversed([(f"{path}[{i}]", v) for i, v in enumerate(item)])
        elif isinstance(item, str) and "${" in item:
            try:
                found += [(path, source) for source in parse_template(item).expressions]
            except ExpressionError as exc:
                if not path:
                    raise
                reason = f"{exc.reason} (at `{path}`)"
                raise ExpressionError(exc.expression, reason, exc.offset) from None
    return found


def step_references(source: str) -> set[str]:
    """The step ids an expression reads as ``steps.<id>`` or ``steps["<id>"]``, from its AST.

    Raises:
        ExpressionError: ``source`` does not compile.
    """
    return set(compile_cel(source)._steps)


def syntax_tree(source: str) -> lark.Tree[Any] | None:
    """celpy's syntax tree of an expression, for typed lint; None for a plain path of names
    (``input.title``: split it on dots).

    Raises:
        ExpressionError: ``source`` does not compile.
    """
    return compile_cel(source)._ast


def regex_literals(source: str) -> list[str]:
    """The string literals an expression passes to ``matches`` as its pattern, for lint.

    Raises:
        ExpressionError: ``source`` does not compile.
    """
    return list(compile_cel(source)._regexes)


def _step_reference(tree: lark.Tree[Any], found: set[str]) -> bool:
    """Add the id a ``member_dot``/``member_index`` node reads from ``steps``, if it does.

    Returns:
        Whether the node selects a step by its id.
    """
    if not _is_steps(tree.children[0]):
        return False
    selector = tree.children[1]
    if tree.data == "member_dot":
        found.add(str(selector))  # steps.<id>
        return True
    while isinstance(selector, lark.Tree) and len(selector.children) == 1:
        selector = selector.children[0]  # down to a literal: steps["<id>"]
    if isinstance(selector, lark.Token) and selector.type in ("STRING_LIT", "MLSTRING_LIT"):
        found.add(str(celstr(selector)))
        return True
    return False


def _regex_literal(tree: lark.Tree[Any], found: list[tuple[int, str]]) -> None:
    """Add ``(offset, pattern)`` when a call node is ``x.matches('lit')``/``matches(x, 'lit')``."""
    first = 1 if tree.data == "member_dot_arg" else 0  # the name, then its arguments if any
    if len(tree.children) <= first + 1 or str(tree.children[first]) != "matches":
        return
    args, wanted = tree.children[first + 1], 1 - first
    if not isinstance(args, lark.Tree) or len(args.children) <= wanted:
        return
    node = args.children[wanted]
    while isinstance(node, lark.Tree) and len(node.children) == 1:
        node = node.children[0]  # down to a literal
    if isinstance(node, lark.Token) and node.type in ("STRING_LIT", "MLSTRING_LIT"):
        found.append((node.start_pos or 0, str(celstr(node))))


def _is_steps(node: Any) -> bool:
    """Whether ``node`` is the bare identifier ``steps`` (``member > primary > ident``)."""
    while isinstance(node, lark.Tree) and node.data in ("member", "primary"):
        node = node.children[0]
    is_ident = isinstance(node, lark.Tree) and node.data in ("ident", "dot_ident")
    return is_ident and str(node.children[0]) == "steps"

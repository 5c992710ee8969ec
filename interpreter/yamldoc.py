"""YAML text -> plain data plus the node tree, so any path can be given a line and column.

The YAML stage of :mod:`interpreter.loader`: syntax errors in plain words, duplicate keys,
size/alias/depth limits, and YAML 1.2 scalars (``on:``, ``yes``, ``no`` and dates stay strings).
Paths look like ``steps[3].retry.max_attempts`` (:func:`format_path`, :func:`parse_path`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from interpreter.errors import DefinitionError, Problem

MAX_BYTES = 1 << 20
"""Largest accepted document (1 MiB)."""
MAX_NODES = 100_000
"""Most YAML values a document may expand to, aliases counted at every use."""
MAX_DEPTH = 100
"""Deepest nesting accepted."""

Segment = str | int
Path = tuple[Segment, ...]

_BOOL = "tag:yaml.org,2002:bool"
_DROPPED_TAGS = {_BOOL, "tag:yaml.org,2002:timestamp"}
_MERGE = "tag:yaml.org,2002:merge"


class _YAMLLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false) and dates left as strings."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_YAMLLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_FastLoader: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CYAMLLoader(yaml.CSafeLoader):
        """The same loader on libyaml: lint is 10x faster. Errors are reported by
        :class:`_YAMLLoader` (same text, re-parsed), so messages never depend on the parser."""

        yaml_implicit_resolvers = _YAMLLoader.yaml_implicit_resolvers

    _FastLoader = _CYAMLLoader

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOKEN = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def format_path(path: Sequence[Segment]) -> str:
    """``("steps", 3, "retry")`` -> ``steps[3].retry``; odd keys are quoted: ``tools["a b"]``."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _KEY.match(seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{json.dumps(seg)}]"
    return out


def parse_path(text: str) -> Path:
    """The inverse of :func:`format_path` (stops at the first part it cannot read)."""
    segs: list[Segment] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        name, index, quoted = match.groups()
        segs.append(name if name is not None else int(index) if index else json.loads(quoted))
        pos = match.end()
    return tuple(segs)


@dataclass(frozen=True)
class Document:
    """A parsed YAML document: its plain data and its node tree, for positions.

    Attributes:
        data: The document as plain Python values.
        root: The composed YAML node tree (None for data that did not come from YAML).
        source: A name for the document, for messages.
    """

    data: Any
    root: yaml.Node | None = None
    source: str | None = None

    def position(self, path: Sequence[Segment], key: bool = False) -> tuple[int, int] | None:
        """1-based (line, column) of the node at ``path``, or of its nearest existing parent.

        Args:
            path: Segments such as ``("steps", 0, "prompt")``.
            key: Point at the mapping key of the last segment instead of its value.
        """
        node = self.root
        if node is None:
            return None
        for n, seg in enumerate(path):
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(seg):
                        child = k if key and n == len(path) - 1 else v
            elif isinstance(node, yaml.SequenceNode) and isinstance(seg, int):
                child = node.value[seg] if 0 <= seg < len(node.value) else None
            if child is None:
                break
            node = child
        return node.start_mark.line + 1, node.start_mark.column + 1

    def locate(self, problem: Problem, key: bool = False) -> Problem:
        """``problem`` with line and column filled from its path (when it has none yet)."""
        if problem.line is not None:
            return problem
        where = self.position(parse_path(problem.path), key)
        return problem if where is None else replace(problem, line=where[0], column=where[1])


def _yaml_message(err: yaml.MarkedYAMLError) -> str:
    problem, context = err.problem or "this is not valid YAML", err.context or ""
    started = f" (it starts at line {err.context_mark.line + 1})" if err.context_mark else ""
    if "'\\t'" in problem:
        return "a tab cannot be used here: indent YAML with spaces"
    if "cannot start any token" in problem:
        char = problem.split("'")[1] if "'" in problem else "this character"
        return f"a plain value cannot start with {char!r}: put the value in quotes"
    if problem.startswith("mapping values are not allowed"):
        return "a ':' is not allowed here: quote a value that contains ': ', or fix the indent"
    if problem.startswith("expected <block end>"):
        return f"the indentation does not line up with the block above{started}"
    if problem.startswith("found undefined alias"):
        name = problem.split("'")[1]
        return f"the alias *{name} has no anchor &{name} before it"
    if "another document" in problem:
        return "only one YAML document is allowed, but a second one starts here"
    if "end of stream" in problem and "quoted scalar" in context:
        return f"a quoted string is not closed{started}"
    if problem.startswith("expected ',' or"):
        kind = "list" if "']'" in problem else "mapping"
        return f"a {kind} in brackets is not closed or lacks a comma{started}"
    if problem == "found unhashable key":
        return "a mapping key must be a plain value, not a list or a mapping"
    return f"{problem} ({context}{started})" if context else problem


class _TooComplex(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        self.node, self.message = node, message


def _inspect(root: yaml.Node) -> list[Problem]:
    """Duplicate keys, plus the alias-bomb, recursion and depth limits (as problems)."""
    problems: list[Problem] = []
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def walk(node: yaml.Node, path: Path) -> tuple[int, int]:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _TooComplex(node, "an alias refers to a node that contains it")
        active.add(id(node))
        children: list[tuple[Segment, yaml.Node]] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], yaml.Node] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE:
                    if (k.tag, k.value) in seen:
                        first = seen[(k.tag, k.value)].start_mark.line + 1
                        problems.append(
                            _at(
                                k,
                                (*path, k.value),
                                "duplicate_key",
                                f"duplicate key `{k.value}` (first at line {first})",
                            )
                        )
                    seen.setdefault((k.tag, k.value), k)
                children.append((k.value if isinstance(k, yaml.ScalarNode) else "?", v))
        total, height = 1, 1
        for seg, child in children:
            size, child_height = walk(child, (*path, seg))
            total, height = total + size, max(height, child_height + 1)
            if total > MAX_NODES:
                raise _TooComplex(node, f"the document expands to more than {MAX_NODES} values")
        if height > MAX_DEPTH:
            raise _TooComplex(node, f"the document nests deeper than {MAX_DEPTH} levels")
        active.discard(id(node))
        sizes[id(node)] = (total, height)
        return total, height

    try:
        walk(root, ())
    except _TooComplex as exc:
        return [_at(exc.node, (), "too_complex", exc.message)]
    return problems


def _at(node: yaml.Node, path: Path, code: str, message: str) -> Problem:
    mark = node.start_mark
    return Problem(format_path(path), message, mark.line + 1, mark.column + 1, code=code)


def parse_text(text: str, source: str | None = None) -> Document:
    """Parse YAML text into a :class:`Document` (no schema check yet).

    Raises:
        DefinitionError: Syntax errors, duplicate keys, a document over the limits, or a top
            level that is not a mapping.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        message = f"the document is larger than {MAX_BYTES // 1024} KiB"
        raise DefinitionError([Problem("", message, code="too_large")], source)
    if _FastLoader is not None:
        fast = _FastLoader(text)
        try:
            root = fast.get_single_node()
            problems = _inspect(root) if root is not None else []
            if not problems:
                data = fast.construct_document(root) if root is not None else None
                document = Document(data, root, source)
                require_mapping(document)
                return document
        except (yaml.YAMLError, RecursionError):
            pass  # the pure-Python parser below says what is wrong, in its own words
        finally:
            fast.dispose()
    loader: _YAMLLoader | None = None
    try:
        loader = _YAMLLoader(text)
        root = loader.get_single_node()
        problems = _inspect(root) if root is not None else []
        if problems:
            raise DefinitionError(problems, source)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise DefinitionError(
            [Problem("", _yaml_message(exc), line, column, code="yaml")], source
        ) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"the character {shown} is not allowed in YAML"
        raise DefinitionError([Problem("", message, line, column, code="yaml")], source) from None
    except RecursionError:
        message = f"the document nests deeper than {MAX_DEPTH} levels"
        raise DefinitionError([Problem("", message, code="too_complex")], source) from None
    finally:
        if loader is not None:
            loader.dispose()
    document = Document(data, root, source)
    require_mapping(document)
    return document


def require_mapping(document: Document) -> None:
    """Raise a located :class:`DefinitionError` unless the document is a non-empty mapping."""
    data, source = document.data, document.source
    if data is None:
        message = "the document is empty: a definition starts with `kworkflow: 1`"
        raise DefinitionError([Problem("", message, 1, 1, code="empty")], source)
    if not isinstance(data, dict):
        message = (
            f"the top level must be a mapping (`kworkflow: 1`, `name`, `steps`...), "
            f"not {describe(data)}"
        )
        raise DefinitionError([document.locate(Problem("", message, code="not_mapping"))], source)


def describe(value: Any) -> str:
    """How a value reads in a message: ``a string``, ``a list``, ``empty (null)``..."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true/false"
    names = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")

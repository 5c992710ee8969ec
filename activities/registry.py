"""Python tools registered on the worker: the ``@tool`` decorator, the registry, tool modules.

A tool is a plain function, sync or async, whose type hints say what arguments it takes::

    from activities.registry import tool

    @tool
    async def crm_lookup(company: str, limit: int = 5) -> dict:
        \"\"\"Find a company in the CRM.\"\"\"

    @tool(name="weather", description="The weather in a city, today.")
    def forecast(city: str) -> dict: ...

The arguments' JSON Schema is derived from the hints with pydantic (the docstring's first
paragraph becomes the description, its Google-style ``Args:`` entries the properties'
descriptions). A worker imports the modules named by ``tool_modules`` in its configuration and
``KWORKFLOW_TOOL_MODULES`` (see :mod:`activities.config`) with :func:`load_tool_modules`;
importing a module registers its tools. Calling a tool validates its arguments with pydantic
first; a sync function runs in a thread, so it never blocks the worker's event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, overload

from pydantic import TypeAdapter
from pydantic.experimental.arguments_schema import generate_arguments_schema
from pydantic_core import SchemaValidator, ValidationError, to_jsonable_python
from temporalio.exceptions import ApplicationError

from activities.errors import ConfigError
from interpreter.yamldoc import format_path

F = TypeVar("F", bound=Callable[..., Any])

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What a tool name may be: what model providers accept as a function name."""

_UNSUPPORTED = {
    inspect.Parameter.POSITIONAL_ONLY: "positional-only",
    inspect.Parameter.VAR_POSITIONAL: "*args",
    inspect.Parameter.VAR_KEYWORD: "**kwargs",
}
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class RegisteredTool:
    """A Python tool of this worker.

    Attributes:
        name: The name steps call it by.
        description: What it does, for people and models.
        input_schema: The JSON Schema of its arguments (an object), derived from type hints.
        function: The decorated function, sync or async.
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    function: Callable[..., Any]
    arguments: SchemaValidator = field(repr=False, compare=False)
    """Validates an arguments object into the function's ``(args, kwargs)``."""

    async def call(self, args: Any) -> Any:
        """Validate ``args``, call the function and return its result as a JSON value.

        Raises:
            ApplicationError: ``InvalidToolArguments`` (non-retryable) when pydantic rejects
                the arguments. Whatever the function raises propagates unchanged.
        """
        try:
            positional, keywords = self.arguments.validate_python(args if args is not None else {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = format_path(first["loc"])
            raise ApplicationError(
                f"tool '{self.name}': {args_path(where)}: {first['msg']}",
                {"path": where},
                type="InvalidToolArguments",
                non_retryable=True,
            ) from None
        if inspect.iscoroutinefunction(self.function):
            result = await self.function(*positional, **keywords)
        else:
            result = await asyncio.to_thread(self.function, *positional, **keywords)
        return to_jsonable_python(result)


_REGISTRY: dict[str, RegisteredTool] = {}


@overload
def tool(function: F, /) -> F: ...


@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]: ...


def tool(
    function: F | None = None, /, *, name: str | None = None, description: str | None = None
) -> F | Callable[[F], F]:
    """Register a function as a tool of this worker; the function itself is left unchanged.

    Use it bare (``@tool``) or with options (``@tool(name=..., description=...)``).

    Args:
        function: The function (when used bare).
        name: The tool's name; default the function's name.
        description: What it does; default the docstring's first paragraph.

    Raises:
        ConfigError: The name is taken by another function or is not ``[A-Za-z0-9_-]{1,64}``,
            or a parameter cannot be passed by name or has a hint pydantic cannot use.
    """

    def register(fn: F) -> F:
        entry = describe(fn, name=name, description=description)
        existing = _REGISTRY.get(entry.name)
        if existing is not None and _qualified(existing.function) != _qualified(fn):
            raise ConfigError(
                f"tool '{entry.name}' is registered twice: by {_qualified(existing.function)} "
                f"and by {_qualified(fn)}"
            )
        _REGISTRY[entry.name] = entry  # the same function again (a reload) replaces itself
        return fn

    return register(function) if function is not None else register


def describe(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> RegisteredTool:
    """The tool ``fn`` would be, without registering it.

    Raises:
        ConfigError: As for :func:`tool`.
    """
    tool_name = name or fn.__name__
    if not TOOL_NAME.match(tool_name):
        raise ConfigError(f"tool name '{tool_name}' must match {TOOL_NAME.pattern}")
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in _UNSUPPORTED:
            raise ConfigError(
                f"tool '{tool_name}': parameter '{parameter.name}' is "
                f"{_UNSUPPORTED[parameter.kind]}; tool arguments are passed by name"
            )
    try:
        schema = TypeAdapter(cast(Any, fn)).json_schema()
        validator = SchemaValidator(generate_arguments_schema(fn))
    except Exception as exc:  # pydantic raises several kinds for hints it cannot use
        raise ConfigError(f"tool '{tool_name}': {type(exc).__name__}: {exc}") from None
    summary, arg_docs = _docstring(inspect.getdoc(fn) or "")
    for key, text in arg_docs.items():
        prop = schema.get("properties", {}).get(key)
        if isinstance(prop, dict) and "description" not in prop:
            prop["description"] = text
    return RegisteredTool(tool_name, description or summary, schema, fn, validator)


def registered_tool(name: str) -> RegisteredTool | None:
    """The tool registered as ``name``, or None."""
    return _REGISTRY.get(name)


def registered_tools() -> list[RegisteredTool]:
    """Every registered tool, by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def load_tool_modules(modules: Sequence[str]) -> None:
    """Import each module, which registers the tools it defines (a loaded module is skipped).

    Raises:
        ConfigError: A module cannot be imported (or a tool in it is wrong); names the module.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ConfigError as exc:
            raise ConfigError(f"tool module '{module}': {exc}") from None
        except Exception as exc:
            raise ConfigError(
                f"tool module '{module}' cannot be imported: {type(exc).__name__}: {exc}"
            ) from None


def args_path(where: str) -> str:
    """``args.company``, ``args[0]``, or ``args`` for the whole arguments object."""
    return "args" + (where if where[:1] in ("", "[") else f".{where}")


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def _docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph (joined into one line) and the ``Args:`` entries of a docstring."""
    summary = " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())
    args: dict[str, str] = {}
    lines = doc.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == "Args:"), len(lines))
    entry_indent: int | None = None
    current = ""
    for line in lines[start:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if entry_indent is None:
            entry_indent = indent
        if indent < entry_indent or indent == 0:
            break  # the next section
        match = _ARG_LINE.match(line.strip())
        if indent == entry_indent and match:
            current = match[1].lstrip("*")
            args[current] = match[2].strip()
        elif current:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return summary, args

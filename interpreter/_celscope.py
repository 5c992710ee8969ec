"""The names in scope for a CEL evaluation, converted to CEL lazily and at most once.

Private to :mod:`interpreter.expr`, which re-exports :class:`Scope` and :class:`Entries`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celpy import celtypes
from celpy.evaluation import Activation

from interpreter import celcost
from interpreter._celvalues import CelProblem, is_cel_json, to_cel


class Entries:
    """The CEL forms of the entries of a map whose entries are replaced, never changed in place
    (``steps``: one view per step), each converted once per entry object.

    A scope made with :meth:`Scope.with_entries` converts such a map from here: only the
    entries an expression selects by name when that is all it does with the map
    (``steps.a.output``, ``steps["a"]``), else every entry, each from this cache.
    """

    __slots__ = ("_cel",)

    def __init__(self) -> None:
        self._cel: dict[str, tuple[Any, Any, Any]] = {}  # key -> (entry, CEL key, CEL entry)

    def convert(self, plain: Mapping[str, Any], keys: Iterable[str]) -> celtypes.MapType:
        """The CEL map of ``plain`` restricted to ``keys`` (in their order).

        Raises:
            CelProblem, ValueError, TypeError: An entry holds a value CEL cannot use.
        """
        pairs: dict[Any, Any] = {}
        cache = self._cel
        for key in keys:
            entry = plain[key]
            cached = cache.get(key)
            if cached is None or cached[0] is not entry:
                cached = cache[key] = (entry, to_cel(key), to_cel(entry))
            pairs[cached[1]] = cached[2]
        cel_map = celtypes.MapType()
        dict.update(cel_map, pairs)
        return cel_map


class Scope:
    """The names in scope for an evaluation, converted to CEL lazily, at most once per name.

    Args:
        values: Plain JSON values by top-level name (``input``, ``steps``, ``run``...). They
            are read, not copied, and their conversion is cached: make a new Scope (or a
            :meth:`child`) rather than changing them.
        meter: Where evaluations in this scope (and its children) add up their cost.
        gate: Asked, when an expression calls an extension function (interpreter.celfuncs),
            whether this evaluation has them (the workflow asks its patch, so that a run
            recorded before them replays as it ran); None: it has them.
    """

    __slots__ = ("_activations", "_cel", "_entries", "_gate", "_parent", "_values", "meter")

    def __init__(
        self,
        values: Mapping[str, Any],
        meter: celcost.Meter | None = None,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        self._values = values
        self._cel: dict[Any, Any] = {}  # CEL values by name (or by name and keys selected)
        self._activations: dict[Any, Any] = {}
        self._parent: Scope | None = None
        self._entries: tuple[str, Entries, bool] | None = None
        self._gate = gate
        self.meter = meter

    def child(self, **extra: Any) -> Scope:
        """A scope with ``extra`` names added (or shadowed) that reuses this one's conversions."""
        scope = Scope(extra, self.meter, self._gate)
        scope._parent = self
        return scope

    def _extended(self) -> bool:
        """Whether evaluations in this scope have the extension functions (see ``gate``)."""
        return self._gate is None or self._gate()

    def with_entries(
        self, name: str, value: Mapping[str, Any], entries: Entries, *, select: bool = True
    ) -> Scope:
        """A child scope with ``name`` bound to ``value``, converted through ``entries``.

        Args:
            select: Whether an expression that only selects entries by name may get a map of
                just those; False when some entry cannot be converted (every evaluation
                that reads ``name`` then fails as it did when the whole map was converted).
        """
        scope = self.child(**{name: value})
        scope._entries = (name, entries, select)
        return scope

    def _lookup(self, path: tuple[str, ...]) -> tuple[bool, Any]:
        """Follow a plain path (``item``, ``steps.a.output.x``) through the plain values.

        Returns ``(False, None)`` where CEL would fail (unknown name, missing key, not a map),
        so that the caller evaluates with CEL and reports its error.
        """
        scope: Scope | None = self
        while scope is not None and path[0] not in scope._values:
            scope = scope._parent
        if scope is None:
            return False, None
        value = scope._values[path[0]]
        for key in path[1:]:
            if not isinstance(value, dict) or key not in value:
                return False, None
            value = value[key]
        return (True, value) if is_cel_json(value) else (False, None)

    def _context(self, names: tuple[str, ...], selected: tuple[str, ...] | None) -> dict[str, Any]:
        """The CEL values of those of ``names`` that are in scope.

        Args:
            selected: The only keys of ``steps`` the expression reads, if it only selects
                them by name (None: it may read all of it).
        """
        context: dict[str, Any] = {}
        for name in names:
            scope = self
            while name not in scope._values:
                if scope._parent is None:
                    break
                scope = scope._parent
            else:
                entries = scope._entries
                only = selected if name == "steps" and entries and entries[2] else None
                key = name if only is None else (name, only)
                if key not in scope._cel:
                    scope._cel[key] = scope._convert(name, only)
                context[name] = scope._cel[key]
        return context

    def _convert(self, name: str, only: tuple[str, ...] | None) -> Any:
        """The CEL value of this scope's ``name`` (with just the keys ``only``, if given)."""
        value = self._values[name]
        try:
            if self._entries is None or self._entries[0] != name:
                return to_cel(value)
            keys = value if only is None else [k for k in only if k in value]
            return self._entries[1].convert(value, keys)
        except (CelProblem, ValueError, TypeError) as exc:
            raise CelProblem(f"`{name}` holds a value CEL cannot use: {exc}") from None

    def _activation(
        self, names: tuple[str, ...], selected: tuple[str, ...] | None, base: Activation
    ) -> Activation:
        """An activation holding :meth:`_context`, made once per scope and what it holds (as
        celpy makes one for each evaluation: a clone of ``base`` with the values loaded)."""
        key = (names, selected, id(base))
        activation = self._activations.get(key)
        if activation is None:
            context = self._context(names, selected)
            activation = base
            if context:
                activation = base.clone()
                activation.identifiers.load_values(context)
            self._activations[key] = activation
        return activation

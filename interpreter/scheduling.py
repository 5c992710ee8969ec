"""Event-driven scheduling: after a step reaches a final status, only its edges' targets are
looked at again, in the order a full rescan of every step would have looked at them.

The interpreter used to rescan every pending step and every edge at each wake-up: passes over
the steps in ``steps`` order, starting what is ready and skipping what cannot run, until a pass
changed nothing. That order is part of a run's history (the order of its commands) and of what
an edge's ``when`` sees, so :class:`Scheduler` reproduces it exactly while doing work only for
what changed:

- a pending step's readiness changes only when the source of one of its incoming edges reaches
  a final status, so only those targets (*candidates*) are visited; the first call visits every
  step (a new run, or one that continued as new);
- a pass visits its candidates in ``steps`` order; a step skipped at position ``i`` makes its
  targets after ``i`` candidates of the same pass and those before ``i`` candidates of the next
  pass, as the rescan found them;
- a visit decides the incoming edges whose sources became final since the step's last visit, in
  ``edges`` order (a ``when`` is evaluated at the same moment as before: the first visit after
  its source ended), and keeps counts of the undecided and taken edges.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Mapping, Sequence

from interpreter.graph import Readiness
from interpreter.topology import EdgePair


class Scheduler:
    """Which pending steps to start or skip, visited as a full rescan would visit them.

    Args:
        order: Step ids in ``steps`` order.
        edges: The edge pairs, in ``edges`` order.
        joins: Each step's ``join`` (``all`` or ``any``).
    """

    def __init__(
        self, order: Sequence[str], edges: Sequence[EdgePair], joins: Mapping[str, str]
    ) -> None:
        self._order = list(order)
        self._position = {sid: i for i, sid in enumerate(self._order)}
        self._joins = joins
        self._rank = {id(edge): i for i, edge in enumerate(edges)}
        self._incoming: dict[str, list[EdgePair]] = {}
        self._outgoing: dict[str, list[EdgePair]] = {}
        for edge in edges:
            self._incoming.setdefault(edge.target, []).append(edge)
            self._outgoing.setdefault(edge.source, []).append(edge)
        self._next: set[int] = set(range(len(self._order)))  # the first call visits every step
        self._pass: list[int] = []  # the current pass's candidates (a heap), while one runs
        self._queued: set[int] = set()
        self._at: int | None = None  # the position being visited, while a pass runs
        self._fresh: dict[str, list[EdgePair]] = {}  # edges whose source became final since
        self._tally: dict[str, list[int]] = {}  # [undecided, taken] after a step's first visit

    def sources(self, sid: str) -> list[str]:
        """The sources of a step's incoming edges, in ``steps`` order (an aggregate's default)."""
        mine = {edge.source for edge in self._incoming.get(sid, ())}
        return sorted(mine, key=self._position.__getitem__)

    def became_final(self, sid: str) -> None:
        """Step ``sid`` reached a final status (it ended, was skipped or cancelled)."""
        for edge in self._outgoing.get(sid, ()):
            self._fresh.setdefault(edge.target, []).append(edge)
            position = self._position[edge.target]
            if self._at is not None and position > self._at:
                if position not in self._queued:
                    self._queued.add(position)
                    heapq.heappush(self._pass, position)
            else:
                self._next.add(position)

    def schedule(
        self,
        *,
        pending: Callable[[str], bool],
        decide: Callable[[EdgePair], bool | None],
        start: Callable[[str], None] | None,
        skip: Callable[[str], None],
    ) -> None:
        """Start every ready step and skip every step that cannot run, until nothing changes.

        Args:
            pending: Whether a step is still pending.
            decide: An edge's decision (None: undecided); it caches what it decided and may
                raise to fail the run (an edge's ``when`` that errs).
            start: Starts a step; None while the run drains (nothing starts).
            skip: Marks a step skipped (``became_final`` is called after it).
        """
        visits = self._visits()
        try:
            for sid in visits:
                if not pending(sid):
                    continue
                verdict = self._readiness(sid, decide)
                if verdict == "run" and start is not None:
                    start(sid)
                elif verdict == "skip":
                    skip(sid)
                    self.became_final(sid)
        finally:
            visits.close()

    def _visits(self) -> Generator[str, None, None]:
        try:
            while self._next:
                self._pass = sorted(self._next)  # a sorted list is a heap
                self._queued = set(self._pass)
                self._next = set()
                while self._pass:
                    self._at = heapq.heappop(self._pass)
                    yield self._order[self._at]
                self._at = None
        finally:
            self._at = None
            self._next.update(self._pass)  # left unvisited (the run failed): kept for later
            self._pass = []

    def _readiness(self, sid: str, decide: Callable[[EdgePair], bool | None]) -> Readiness:
        tally = self._tally.get(sid)
        if tally is None:  # the first visit: every incoming edge, as a rescan decides them
            self._fresh.pop(sid, None)
            decisions = [decide(edge) for edge in self._incoming.get(sid, ())]
            tally = [sum(d is None for d in decisions), sum(d is True for d in decisions)]
            self._tally[sid] = tally
        else:
            fresh = self._fresh.pop(sid, None)
            if fresh:
                fresh.sort(key=lambda edge: self._rank[id(edge)])
                for edge in fresh:
                    decision = decide(edge)
                    if decision is not None:
                        tally[0] -= 1
                        tally[1] += decision is True
        undecided, taken = tally
        if sid not in self._incoming:
            return "run"
        if self._joins[sid] == "any" and taken:
            return "run"
        if undecided:
            return "wait"
        return "run" if taken else "skip"

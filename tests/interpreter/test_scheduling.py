"""The event-driven scheduler decides exactly what the old full rescan decided, in its order.

The rescan is kept here as the oracle. Both drive the same simulated runs over random graphs
(steps listed in any order relative to the edges, branches, ``on``, ``when``, ``join: any|all``,
skips, drains and continue-as-new restores); every ``when`` answers from the statuses of all
steps at the moment it is evaluated, so an evaluation at another moment shows as another log.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence

import pytest

from interpreter import graph
from interpreter.scheduling import Scheduler
from interpreter.state import TERMINAL, RunFailure
from interpreter.topology import EdgePair


def rescan(
    order: Sequence[str],
    edges: Sequence[EdgePair],
    joins: dict[str, str],
    pending: Callable[[str], bool],
    decide: Callable[[EdgePair], bool | None],
    start: Callable[[str], None] | None,
    skip: Callable[[str], None],
) -> None:
    """The interpreter's scheduling before it was event-driven (InterpreterWorkflow._schedule)."""
    incoming: dict[str, list[EdgePair]] = {}
    for e in edges:
        incoming.setdefault(e.target, []).append(e)
    progress = True
    while progress:
        progress = False
        for sid in order:
            if not pending(sid):
                continue
            decisions = [decide(e) for e in incoming.get(sid, [])]
            verdict = graph.readiness(joins[sid], decisions)
            if verdict == "run" and start is not None:
                start(sid)
                progress = True
            elif verdict == "skip":
                skip(sid)
                progress = True


class Graph:
    """A random definition: steps in list order, edges along a random topological order."""

    def __init__(self, rng: random.Random) -> None:
        n = rng.randint(1, 14)
        self.order = [f"s{i}" for i in range(n)]
        topo = self.order[:]
        rng.shuffle(topo)
        self.branches = {s for s in self.order if rng.random() < 0.15}
        self.joins = {s: rng.choice(["all", "any"]) for s in self.order}
        self.edges: list[EdgePair] = []
        for j, target in enumerate(topo):
            for source in rng.sample(topo[:j], min(j, rng.choice([0, 1, 1, 2, 3]))):
                on = rng.choice(["succeeded", "succeeded", "failed", "always"])
                when = f"w{len(self.edges)}" if rng.random() < 0.35 else None
                self.edges.append(EdgePair(source, target, when, on, len(self.edges)))
        rng.shuffle(self.edges)  # `edges` order is not the topological order either


class Run:
    """One simulated run: a scheduler (old or new) and a log of everything it decided."""

    def __init__(self, g: Graph, new: bool, seed: int) -> None:
        self.g, self.new = g, new
        self.rng = random.Random(seed)
        self.status = {s: "pending" for s in g.order}
        self.taken: dict[str, str | None] = {}
        self.decisions: dict[int, bool] = {}
        self.log: list[tuple[str, object]] = []
        self.draining = False
        self.scheduler = Scheduler(g.order, g.edges, g.joins)

    def restore(self) -> None:
        """Continue as new: a new scheduler over the same state and decisions."""
        self.scheduler = Scheduler(self.g.order, self.g.edges, self.g.joins)
        self.draining = False
        self.log.append(("restore", None))

    def when_true(self, edge: EdgePair) -> bool:
        seen = ",".join(self.status[s] for s in self.g.order)
        digest = zlib.crc32(f"{edge.index}:{seen}".encode())
        self.log.append(("when", edge.index))
        if digest % 23 == 0:
            raise RunFailure("EdgeConditionError", f"edge {edge.index}")
        return digest % 3 != 0

    def decide(self, edge: EdgePair) -> bool | None:
        key = id(edge)
        if key in self.decisions:
            return self.decisions[key]
        status = self.status[edge.source]
        source = graph.Source(
            status=status,
            branch_taken=self.taken.get(edge.source),
            is_branch=edge.source in self.g.branches,
        )
        taken = graph.decide_edge(edge, source, self.when_true)
        if taken is not None:
            self.decisions[key] = taken
        return taken

    def start(self, sid: str) -> None:
        self.status[sid] = "running"
        self.log.append(("start", sid))

    def skip(self, sid: str) -> None:
        self.status[sid] = "skipped"
        self.log.append(("skip", sid))

    def schedule(self) -> None:
        pending: Callable[[str], bool] = lambda sid: self.status[sid] == "pending"  # noqa: E731
        start = None if self.draining else self.start
        if self.new:
            self.scheduler.schedule(
                pending=pending, decide=self.decide, start=start, skip=self.skip
            )
        else:
            g = self.g
            rescan(g.order, g.edges, g.joins, pending, self.decide, start, self.skip)

    def end_one(self) -> bool:
        """End one running step (chosen by the run's own random numbers); False: none runs."""
        running = [s for s in self.g.order if self.status[s] == "running"]
        if not running:
            return False
        sid = self.rng.choice(running)
        outcome = self.rng.choice(["succeeded", "succeeded", "failed", "cancelled"])
        self.status[sid] = outcome
        if sid in self.g.branches and outcome == "succeeded":
            targets = [e.target for e in self.g.edges if e.source == sid]
            self.taken[sid] = self.rng.choice([*targets, None]) if targets else None
        self.log.append(("ended", (sid, outcome, self.taken.get(sid))))
        self.scheduler.became_final(sid)
        return True

    def play(self) -> list[tuple[str, object]]:
        try:
            while True:
                self.schedule()
                if self.rng.random() < 0.1:
                    self.draining = True
                    self.log.append(("drain", None))
                if self.rng.random() < 0.08 or (self.draining and self.rng.random() < 0.3):
                    self.restore()
                    continue
                ended = [self.end_one() for _ in range(self.rng.choice([1, 1, 2, 3]))]
                if not ended[0]:
                    if self.draining:
                        self.restore()
                        continue
                    break
        except RunFailure as failure:
            self.log.append(("failed", failure.message))
        return self.log


@pytest.mark.parametrize("block", range(8))
def test_same_decisions_as_a_full_rescan(block: int) -> None:
    for seed in range(block * 400, (block + 1) * 400):
        g = Graph(random.Random(seed))
        old = Run(g, new=False, seed=seed).play()
        new = Run(g, new=True, seed=seed).play()
        assert new == old, f"seed {seed}"


def test_the_random_runs_cover_every_case() -> None:
    """The simulated runs do reach what the comparison is about."""
    kinds: dict[str, int] = {}
    for seed in range(400):
        for kind, _ in Run(Graph(random.Random(seed)), new=True, seed=seed).play():
            kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) == {"start", "skip", "when", "ended", "drain", "restore", "failed"}


def test_a_skip_reaches_earlier_steps_in_the_next_pass() -> None:
    """b (listed first) follows a, which is skipped: b is skipped in the same call, after a."""
    edges = [EdgePair("root", "a", on="failed", index=0), EdgePair("a", "b", index=1)]
    order = ["b", "a", "root"]
    status = dict.fromkeys(order, "pending")
    log: list[str] = []
    scheduler = Scheduler(order, edges, dict.fromkeys(order, "all"))

    def decide(e: EdgePair) -> bool | None:
        if status[e.source] not in TERMINAL:
            return None
        return status[e.source] == ("failed" if e.on == "failed" else "succeeded")

    def mark(new: str) -> Callable[[str], None]:
        def act(sid: str) -> None:
            status[sid] = new
            log.append(f"{new} {sid}")

        return act

    def schedule() -> None:
        scheduler.schedule(
            pending=lambda s: status[s] == "pending",
            decide=decide,
            start=mark("running"),
            skip=mark("skipped"),
        )

    schedule()
    status["root"] = "succeeded"
    scheduler.became_final("root")
    schedule()
    assert log == ["running root", "skipped a", "skipped b"]

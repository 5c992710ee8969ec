"""Who gets the next slot of a limiter: FIFO per holder run, round-robin across runs. Pure.

A holder run with 1,000 waiting requests and another with one take turns: each free slot goes
to the next run in the rotation that has a waiting request, so the single request waits at most
one slot turnover behind the busy run.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Slots(BaseModel):
    """A limiter's state; carried across continue-as-new whole.

    Attributes:
        limit: How many requests may hold a slot at once.
        held: The requests holding a slot: request key -> holder workflow id.
        waiting: Per holder run, its waiting request keys in arrival order.
        rotation: The holder runs with waiting requests, next to be served first.
        periods: Rate-limited requests (waiting or holding): request key -> period in seconds.
        expires: When each held rate-limited slot frees itself (seconds since the epoch).
    """

    limit: int = 1
    held: dict[str, str] = Field(default_factory=dict)
    waiting: dict[str, list[str]] = Field(default_factory=dict)
    rotation: list[str] = Field(default_factory=list)
    periods: dict[str, float] = Field(default_factory=dict)
    expires: dict[str, float] = Field(default_factory=dict)

    def ask(self, holder: str, request: str, period: float | None = None) -> None:
        """Queue ``request`` of ``holder`` (a repeated ask of a known request is ignored); a
        ``period`` makes it a rate-limit request, whose slot frees itself ``period`` seconds
        after it is granted."""
        key = _key(holder, request)
        if key in self.held or key in self.waiting.get(holder, []):
            return
        if period is not None:
            self.periods[key] = period
        if holder not in self.waiting:
            self.waiting[holder] = []
            self.rotation.append(holder)
        self.waiting[holder].append(key)

    def holds(self, holder: str, request: str) -> bool | None:
        """Whether ``request`` of ``holder`` holds a slot (True), waits for one (False), or is
        not known (None)."""
        key = _key(holder, request)
        if key in self.held:
            return True
        return False if key in self.waiting.get(holder, []) else None

    def release(self, holder: str, request: str) -> None:
        """Free the slot of ``request``, or drop it from the queue if it was still waiting."""
        key = _key(holder, request)
        if key not in self.expires:  # a rate-limit slot is held for its period, released or not
            self.held.pop(key, None)
            self.periods.pop(key, None)
        queue = self.waiting.get(holder)
        if queue and key in queue:
            queue.remove(key)
            if not queue:
                self._drop(holder)

    def forget(self, holder: str) -> None:
        """Drop everything of a holder run that ended (its slots and its waiting requests)."""
        self.held = {k: h for k, h in self.held.items() if h != holder or k in self.expires}
        if holder in self.waiting:
            self._drop(holder)

    def expire(self, now: float) -> None:
        """Free the rate-limit slots whose period has passed at ``now``."""
        for key in [k for k, at in self.expires.items() if at <= now]:
            del self.expires[key]
            self.held.pop(key, None)
            self.periods.pop(key, None)

    def next_expiry(self) -> float | None:
        """When the next rate-limit slot frees itself (None: none is held)."""
        return min(self.expires.values()) if self.expires else None

    def grants(self, now: float = 0.0) -> list[tuple[str, str]]:
        """Give free slots away at ``now``: ``(holder, request)`` pairs to signal, in order."""
        granted: list[tuple[str, str]] = []
        while len(self.held) < self.limit and self.rotation:
            holder = self.rotation.pop(0)
            queue = self.waiting[holder]
            key = queue.pop(0)
            self.held[key] = holder
            if key in self.periods:
                self.expires[key] = now + self.periods[key]
            granted.append((holder, _request(key)))
            if queue:
                self.rotation.append(holder)
            else:
                del self.waiting[holder]
        return granted

    def full(self) -> bool:
        """Every slot is held."""
        return len(self.held) >= self.limit

    def oldest(self) -> str | None:
        """The holder run that has held a slot longest (None: nobody holds one)."""
        return next(iter(self.held.values()), None)

    def holders(self) -> list[str]:
        """Every holder run with a slot or a waiting request, sorted."""
        return sorted(set(self.held.values()) | set(self.waiting))

    def queued(self) -> int:
        """How many requests wait for a slot."""
        return sum(len(q) for q in self.waiting.values())

    def idle(self) -> bool:
        """Nobody holds or waits for a slot (a rate-limit slot counts until its period ends)."""
        return not self.held and not self.waiting

    def _drop(self, holder: str) -> None:
        del self.waiting[holder]
        self.rotation.remove(holder)


def _key(holder: str, request: str) -> str:
    return f"{holder}\n{request}"


def _request(key: str) -> str:
    return key.split("\n", 1)[1]

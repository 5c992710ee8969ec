"""limiter.slots: FIFO per holder run, round-robin across runs, releases and forgotten runs."""

from __future__ import annotations

from limiter.slots import Slots


def test_slots_go_round_robin_across_runs_and_fifo_within_one() -> None:
    slots = Slots(limit=1)
    for n in range(1000):
        slots.ask("busy", f"s#{n}")
    slots.ask("lone", "only#1")
    assert slots.grants() == [("busy", "s#0")]
    slots.release("busy", "s#0")
    assert slots.grants() == [("lone", "only#1")]  # one turnover, not 999
    slots.release("lone", "only#1")
    assert slots.grants() == [("busy", "s#1")]
    assert slots.queued() == 998


def test_a_limit_is_never_exceeded_and_a_repeated_ask_is_ignored() -> None:
    slots = Slots(limit=2)
    for n in range(3):
        slots.ask("r", f"a#{n}")
        slots.ask("r", f"a#{n}")
    assert slots.grants() == [("r", "a#0"), ("r", "a#1")]
    assert slots.grants() == []
    slots.ask("r", "a#0")  # already holds: ignored
    assert slots.queued() == 1


def test_a_waiting_request_released_leaves_the_queue_and_a_forgotten_run_frees_all() -> None:
    slots = Slots(limit=1)
    slots.ask("a", "x#1")
    slots.ask("b", "y#1")
    slots.ask("b", "y#2")
    assert slots.grants() == [("a", "x#1")]
    slots.release("b", "y#1")  # cancelled while queued
    slots.forget("a")  # terminated while holding
    assert slots.grants() == [("b", "y#2")]
    slots.release("b", "y#2")
    assert slots.idle()


def test_a_rate_limit_slot_frees_itself_after_its_period_released_or_not() -> None:
    slots = Slots(limit=2)
    for n in range(3):
        slots.ask("r", f"s#{n}", period=60.0)
    assert slots.grants(now=100.0) == [("r", "s#0"), ("r", "s#1")]
    slots.release("r", "s#0")  # the step ended: its start still counts for the period
    assert slots.grants(now=120.0) == []
    assert slots.next_expiry() == 160.0
    slots.expire(160.0)
    assert slots.grants(now=160.0) == [("r", "s#2")]
    slots.release("r", "s#2")
    slots.expire(220.0)
    assert slots.idle()


def test_holds_tells_a_held_request_from_a_waiting_and_an_unknown_one() -> None:
    slots = Slots(limit=1)
    slots.ask("r", "a#1")
    slots.ask("r", "a#2")
    slots.grants()
    assert (slots.holds("r", "a#1"), slots.holds("r", "a#2"), slots.holds("r", "a#3")) == (
        True,
        False,
        None,
    )
    slots.release("r", "a#1")
    assert slots.holds("r", "a#1") is None

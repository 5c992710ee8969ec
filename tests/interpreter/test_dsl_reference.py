"""Every definition in docs/*.md lints as its mark says, and the runnable ones run (docs/dsl.md).

The reference cannot drift from the code: a block that stops loading, gains a finding, or
returns something else than the page says fails here. Marks: see :mod:`docblocks`.
"""

from __future__ import annotations

import asyncio

import pytest

from interpreter.lint import lint_text
from tests.interpreter.docblocks import Block, blocks
from tests.support.runs import failure, result, start, wait_for_step

BLOCKS = blocks()
RUNNABLE = [b for b in BLOCKS if b.run is not None]


def test_the_reference_has_examples_to_check():
    """The extraction finds the reference's blocks (a broken fence would silently skip them)."""
    in_reference = [b for b in BLOCKS if b.file == "dsl.md"]
    assert len(in_reference) >= 30
    assert len([b for b in RUNNABLE if b.file == "dsl.md"]) >= 15
    assert len([b for b in in_reference if b.lint_error]) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_block_lints_as_marked(block: Block):
    """Unmarked blocks are clean; a `lint: error CODE` block gives a finding of that code."""
    _, problems = lint_text(block.text, block.where)
    located = [f"{p.line}:{p.column} {p.code} {p.message}" for p in problems]
    if block.lint_error is None:
        assert problems == [], f"{block.where}: {located}"
    else:
        assert block.lint_error in {p.code for p in problems}, f"{block.where}: {located}"
        assert all(p.line for p in problems), located


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
async def test_block_runs_as_marked(client, task_queue, worker, block: Block):
    """A `run:` block returns exactly `expect` (or fails with the `fails` type)."""
    assert block.run is not None
    handle = await start(client, task_queue, block.text, block.run.get("input", {}))
    for answer in block.run.get("respond", []):
        await wait_for_step(handle, answer["step"], "waiting")
        await handle.execute_update("respond", answer)
    if "fails" in block.run:
        error = await failure(handle)
        assert error.type == block.run["fails"], f"{block.where}: {error}"
        if "step_error" in block.run:  # a StepFailed run: the step and its error type
            step, error_type = block.run["step_error"]
            details = error.details[0]
            assert (details["step"], details["error"]["type"]) == (step, error_type), details
    else:
        assert await asyncio.wait_for(result(handle), 60) == block.run["expect"], block.where

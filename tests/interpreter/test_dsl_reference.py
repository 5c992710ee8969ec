"""Every definition in docs/*.md lints as its mark says, and the runnable ones run (docs/dsl.md).

The reference cannot drift from the code: a block that stops loading, gains a finding, or
returns something else than the page says fails here. Marks: see :mod:`docblocks`.
"""

from __future__ import annotations

import asyncio

import pytest

from interpreter.lint import lint_text
from tests.interpreter.docblocks import DOCS, Block, blocks
from tests.support.runs import failure, result, start, wait_for_step

BLOCKS = blocks()
RUNNABLE = [b for b in BLOCKS if b.run is not None]


def test_the_reference_has_examples_to_check():
    """The extraction finds the reference's blocks (a broken fence would silently skip them)."""
    in_reference = [b for b in BLOCKS if b.file == "dsl.md"]
    assert len(in_reference) >= 30
    assert len([b for b in RUNNABLE if b.file == "dsl.md"]) >= 15
    assert len([b for b in in_reference if b.lint_error]) >= 8


def test_the_three_complete_workflows_are_run():
    """The issue's "Done when": the three workflows of a new user are in the reference, and run."""
    page = (DOCS / "dsl.md").read_text(encoding="utf-8")
    start = page.index("## Three complete workflows")
    end = page.index("\n## ", start + 1)
    first, last = page.count("\n", 0, start) + 1, page.count("\n", 0, end) + 1
    section = [b for b in BLOCKS if b.file == "dsl.md" and first < b.line < last]
    assert len(section) == 3
    assert all(b.run is not None and "expect" in b.run for b in section)
    kinds = [b.text for b in section]
    assert "kind: code" in kinds[0] and "enum:" in kinds[0] and "kind: branch" in kinds[0]
    assert "kind: parallel" in kinds[1] and ".filter(" in kinds[1]
    assert "retry:" in kinds[2] and "kind: tool" in kinds[2]


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

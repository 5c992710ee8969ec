"""Replaying checked-in histories: an interpreter change that breaks determinism fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from interpreter.registration import DATA_CONVERTER, workflow_runner, workflows
from tests.replay.cases import CASES

HISTORIES = Path(__file__).parent / "histories"


FILES = sorted(HISTORIES.glob("*.json"))


def test_every_case_has_a_history() -> None:
    recorded = {p.stem.split(".")[0] for p in FILES}
    assert recorded == {f"replay-{name}" for name in CASES}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_history_replays(path: Path) -> None:
    workflow_id = path.stem.replace(".", "/")
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    replayer = Replayer(
        workflows=workflows(), workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{workflow_id}: {result.replay_failure}"

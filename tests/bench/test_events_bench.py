"""bench/events.py end to end at a small size (slow: it starts its own dev server and worker):
it prints every figure the README quotes, and the runs it probes were signalled and ended."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_events_bench_measures_both_phases_and_their_ratios() -> None:
    command = [
        sys.executable, str(ROOT / "bench" / "events.py"), "--waiting", "30", "--batch", "15",
        "--samples", "5", "--probes", "2", "--fanout", "4", "--port", "18790",
        "--stack-port", "18780", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["waiting"], out["fanout"]) == (30, 4)
    for phase in ("baseline", "loaded"):
        assert 0 < out[phase]["p50_ms"] <= out[phase]["p99_ms"]
        probe = out[f"{phase}_probe"]
        assert 0 < probe["answered"]["p50_ms"] < probe["step_completed"]["p50_ms"]
    assert set(out["ratios"]) == {
        "intake_p50", "intake_p99", "answered_p50", "answered_p99",
        "step_completed_p50", "step_completed_p99",
    }  # fmt: skip
    assert all(ratio > 0 for ratio in out["ratios"].values())
    assert 0 < out["fanout_answer_s"] < out["fanout_ended_s"]
    assert "15 runs waiting after" in done.stderr and "30 runs waiting after" in done.stderr

"""``python worker.py`` as users run it, its end-of-run report slowed down: each run's last
workflow task then lasts longer than the report's pause (``python -m`` this, SECONDS)."""

from __future__ import annotations

import asyncio
import functools
import sys

from temporalio import activity

import worker
from telemetry.run_report import ACTIVITY, RunReport, report_run


def slow_report(seconds: float):  # type: ignore[no-untyped-def]
    """kworkflow's own report, after ``seconds`` of pause."""

    @activity.defn(name=ACTIVITY)
    async def report(run: RunReport) -> None:
        await asyncio.sleep(seconds)
        await report_run(run)

    return report


if __name__ == "__main__":
    pause = float(sys.argv.pop(1))
    worker.new_worker = functools.partial(worker.new_worker, run_report=slow_report(pause))
    worker.main()

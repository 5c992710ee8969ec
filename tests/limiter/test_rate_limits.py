"""A step's ``rate_limit: {key, limit, period}``: at most ``limit`` starts of steps with the
same key in any ``period``, the step ``queued`` meanwhile; lint checks the key."""

from __future__ import annotations

import asyncio
import textwrap

from temporalio.client import Client

from interpreter.lint import lint_text
from tests.limiter.test_quota import start_request, worker_for
from tests.support.concurrency_server import ConcurrencyServer, concurrency_server  # noqa: F401
from tests.support.runs import result

RATED = """
kworkflow: 1
name: rated
tools:
  api: {url: "URL", method: POST}
steps:
  - id: call
    kind: tool
    tool: api
    args: {}
    rate_limit: {key: "input.model", limit: 2, period: 2s}
"""


async def test_no_more_than_limit_steps_start_in_any_period(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    concurrency_server.delay = 0.05
    text = RATED.replace("URL", f"{concurrency_server.url}/t/m")
    tenant = f"rate-{task_queue}"
    async with worker_for(client, task_queue):
        handles = [
            await start_request(client, task_queue, text, {"model": "m"}, tenant) for _ in range(6)
        ]
        outs = await asyncio.gather(*(result(h, 60) for h in handles))
    assert [o["call"] for o in outs] == [{"tenant": "m"}] * 6
    starts = sorted(c.start for c in concurrency_server.of("m"))
    gaps = [later - first for first, later in zip(starts, starts[2:], strict=False)]
    # the limiter grants the third start of any window a period after the first; the calls
    # start a little after their grants (activity dispatch), so allow for that jitter
    assert min(gaps) >= 1.5, gaps
    assert starts[4] - starts[0] >= 3.5, starts  # without the limit: all six within ~0.5 s


def test_lint_locates_a_rate_limit_key_that_does_not_compile() -> None:
    text = textwrap.dedent(
        """\
        kworkflow: 1
        name: rated
        steps:
          - id: a
            kind: llm
            prompt: hi
            rate_limit: {key: "input.model +", limit: 10, period: 1m}
        """
    )
    _, found = lint_text(text, "rated.yaml")
    assert [(p.code, p.path, p.line) for p in found] == [("cel", "steps[0].rate_limit.key", 7)]

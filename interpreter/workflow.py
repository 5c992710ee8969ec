"""The interpreter: one deterministic Temporal workflow that runs any kworkflow/v1 definition.

It asks :mod:`interpreter.graph` which steps are ready, starts them in ``steps`` order and
records their results in :class:`interpreter.state.RunState`. The rest of the workflow is in its
mixins: the queries (:mod:`interpreter.run_queries`), the run's end (:mod:`interpreter.run_end`),
what the kinds use (:mod:`interpreter.step_runtime`), human answers, event waits, continue-as-new,
breakpoints, pause, compensation, upgrade and quota slots (one module each).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from interpreter import graph, patches
    from interpreter.answers import HumanAnswers
    from interpreter.breakpoints import Breakpoints
    from interpreter.carry import Resume, Suspended
    from interpreter.celcost import Meter
    from interpreter.compensation import Compensating
    from interpreter.continuation import Continuation
    from interpreter.descendants import Descendants
    from interpreter.durations import parse_duration
    from interpreter.errors import ExpressionError, InputError
    from interpreter.event_waits import EventWait, EventWaits
    from interpreter.events_out import Outbox
    from interpreter.expr import Entries, Scope, compile_cel
    from interpreter.inputs import prepare_input
    from interpreter.kinds.base import Invocation
    from interpreter.limits import flow_excesses, flow_limits
    from interpreter.onerror import fails_run
    from interpreter.pacing import Pacer
    from interpreter.pausing import Pausing
    from interpreter.quota import QuotaSlots
    from interpreter.request import WORKFLOW_NAME, RunRequest
    from interpreter.run_concurrency import run_slot
    from interpreter.run_end import LOCAL_REPORT_PATCH as LOCAL_REPORT_PATCH
    from interpreter.run_end import REPORT_PATCH as REPORT_PATCH
    from interpreter.run_end import RunEnding
    from interpreter.run_queries import RunQueries
    from interpreter.scheduling import Scheduler
    from interpreter.seed import apply_seed
    from interpreter.spec import Definition
    from interpreter.state import (
        RunFailure,
        RunState,
        StepError,
        StepState,
    )
    from interpreter.step_runtime import StepRuntime
    from interpreter.steps import run_spec
    from interpreter.topology import EdgePair, edge_pairs
    from interpreter.upgrading import Upgrading
    from interpreter.values import describe, find_problem
    from telemetry.trace_context import HEADER, TraceContext, run_trace

FLOW_LIMITS_PATCH = "flow-limits"
"""Runs recorded before the flow limits were checked in the run replay without them."""
STEP_GUARD_PATCH = "step-internal-error"
"""Runs recorded before an unexpected exception in a step failed that step (``InternalError``)
replay as they ran: the exception ended the step's task unseen."""
VALUES_PATCH = "refuse-uncarriable-values"
"""Runs recorded before integers outside 64 bits (in the input or a step's output) were refused
replay as they ran."""


@workflow.defn(name=WORKFLOW_NAME)
class InterpreterWorkflow(
    StepRuntime,  # first: other mixins stub some of its methods (interpreter.step_runtime)
    RunQueries,
    RunEnding,
    HumanAnswers,
    EventWaits,
    Continuation,
    Breakpoints,
    Pausing,
    Compensating,
    Upgrading,
    QuotaSlots,
):
    """Runs a kworkflow/v1 definition; see the module docstring."""

    @workflow.init
    def __init__(self, request: RunRequest) -> None:
        info = workflow.info()
        self.request = request
        self.definition: Definition = request.definition
        self.state = RunState(
            run_id=info.workflow_id,
            workflow=self.definition.name,
            version=request.version,
            tenant=request.tenant,
            started_at=info.start_time,
            steps={
                s.id or "": StepState(id=s.id or "", kind=s.kind) for s in self.definition.steps
            },
        )
        self._order = [s.id or "" for s in self.definition.steps]
        self._specs = {s.id or "": s for s in self.definition.steps}
        self._edges: list[EdgePair] = edge_pairs(self.definition)
        self._scheduler = Scheduler(
            self._order, self._edges, {s.id or "": s.join for s in self.definition.steps}
        )
        self._decisions: dict[int, bool] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failure: RunFailure | None = None
        self._changed = False
        self._base_scope: Scope | None = None
        self._meter = Meter()  # the run's CEL cost and steps started, for pacing
        self._pacer = Pacer(self._meter)
        self._scope: Scope | None = None
        self._steps_cel = Entries()  # the CEL form of each step's view, converted once
        self._edge_index = {id(edge): index for index, edge in enumerate(self._edges)}
        self._draining = False
        self._deadline: datetime | None = None
        self._run_input: Any = None
        self._resume: dict[str, Resume] = {}
        self._descendants = Descendants()
        self._told = 0
        self._telling: set[asyncio.Task[None]] = set()
        self._event_waits: dict[str, EventWait] = {}
        self._granted: set[str] = set()  # quota slots granted to this run (interpreter.quota)
        self._asked = 0
        self._releasing: set[asyncio.Task[None]] = set()
        self._first_run_id = info.run_id
        if request.carry is not None:
            self._restore(request.carry)
        elif request.seed is not None:  # a retry: the original's ended steps, not run again
            apply_seed(self.state, request.seed, workflow.now())
        self._unfinished = {sid for sid, step in self.state.steps.items() if not step.done}
        carried = request.carry is not None
        self._outbox = Outbox(self.state, request.version, request.events_out, carried)
        self.trace_context: TraceContext = run_trace(_trace_carrier(info), self._first_run_id)
        """The run span's place in its trace: the parent of every activity and child workflow
        this run starts (telemetry.workflow_tracing)."""
        # A worker that picks a run up cold may deliver a `respond` in the same activation as
        # the run's start, before replay has rebuilt which steps wait. `_settled` says the
        # main loop has blocked at least once in this worker; until then answers are checked
        # once the run is quiescent (the main loop blocked, nothing left to process).
        self._blocked = False
        self._settled = False

    # ---- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: RunRequest) -> Any:
        """Execute the definition and return the run result."""
        patches.start()
        try:
            if request.carry is not None:
                run_input = request.carry.input
            else:
                try:
                    self._check_input(request.input)
                    run_input = prepare_input(
                        self.definition.input, request.input, check_values=False
                    )
                except InputError as exc:
                    raise RunFailure("InvalidInput", str(exc), {"path": exc.path}) from None
            self._run_input = run_input
            if request.carry is None:
                self._check_flow_limits()
                self.check_breakpoints()
            base = {"input": run_input, "run": self._run_info()}
            self._base_scope = Scope(base, self._meter, patches.cel_functions)
            async with run_slot(self, self._base_scope):  # interpreter.run_concurrency
                if self.compensation_run():  # a manual compensation: no step of its own runs
                    result = await self.compensate_run()
                else:
                    await self._drive()
                    result = self._result()
        except RunFailure as failure:
            await self._cancel_running()
            await self.compensate_at_end("failed")
            self._finish("failed", error={"type": failure.type, "message": failure.message})
            await self._report()
            raise ApplicationError(
                failure.message, failure.details or {}, type=failure.type, non_retryable=True
            ) from None
        except asyncio.CancelledError:
            await self._cancel_running()
            await self.compensate_at_end("cancelled")
            self._finish("cancelled", error={"type": "Cancelled", "message": "run cancelled"})
            await self._report()
            raise
        self._finish("succeeded", result=result)
        await self._report()
        return result

    def _check_flow_limits(self) -> None:
        """Fail a run whose definition is over the operator's flow limits (a file run, or one
        published before the limits were lowered)."""
        data = self.definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for path, excess in flow_excesses(data, flow_limits(self.request)):
            if patches.patched(FLOW_LIMITS_PATCH):
                message = f"{path}: {excess.describe()}"
                raise RunFailure("LimitExceeded", message, {"path": path})
            return

    async def _drive(self) -> None:
        if self.request.carry is not None:
            deadline = self.request.carry.deadline
        else:
            timeout = parse_duration(self.definition.timeout) if self.definition.timeout else None
            deadline = workflow.now() + timeout if timeout else None
        self._deadline = deadline
        self._resume_suspended()
        while True:
            self._changed = False  # before scheduling: a step may end at any await below
            self.should_drain()
            self._schedule()
            if self._failure is not None:
                raise self._failure
            if not self._unfinished:
                return
            if self._draining and not self._tasks:
                await self._outbox.drain()
                await self._continue_as_new()
            remaining = (deadline - workflow.now()).total_seconds() if deadline else None
            self._blocked = self._settled = True
            self._outbox.kick()  # lifecycle events out, beside the run (interpreter.events_out)
            try:
                await workflow.wait_condition(
                    lambda: self._changed, timeout=max(remaining, 0.001) if remaining else None
                )
            except TimeoutError:
                self._blocked = False
                running = graph.still_running({k: v.status for k, v in self.state.steps.items()})
                raise RunFailure(
                    "RunTimeout",
                    f"run timed out after {self.definition.timeout}"
                    + (f"; still running: {', '.join(running)}" if running else ""),
                    {"running": running},
                ) from None
            self._blocked = False

    def _schedule(self) -> None:
        """Start every ready step and skip every step that cannot run, until nothing changes
        (looking only at the steps whose incoming edges changed: interpreter.scheduling)."""
        if self._failure is not None or self.holding():  # paused: ready steps wait
            return
        steps = self.state.steps
        self._scheduler.schedule(
            pending=lambda sid: steps[sid].status == "pending",
            decide=self._decide,
            start=None if self._draining else self._start,
            skip=self._skip,
        )

    def _skip(self, sid: str) -> None:
        step = self.state.steps[sid]
        step.status = "skipped"
        step.ended_at = workflow.now()
        self.state.record(step.ended_at, "step_skipped", sid)
        self._scope = None
        self._unfinished.discard(sid)

    def _decide(self, edge: EdgePair) -> bool | None:
        key = id(edge)
        if key in self._decisions:
            return self._decisions[key]
        source = self.state.steps[edge.source]
        is_branch = self._specs[edge.source].kind == "branch"
        taken = graph.decide_edge(
            edge,
            graph.Source(
                status=source.status,
                branch_taken=(source.output or {}).get("taken") if is_branch else None,
                is_branch=is_branch,
            ),
            self._when_true,
        )
        if taken is not None:
            self._decisions[key] = taken
        return taken

    def _when_true(self, edge: EdgePair) -> bool:
        assert edge.when is not None
        try:
            return compile_cel(edge.when).evaluate_bool(self._current_scope())
        except ExpressionError as exc:
            where = f"edges[{edge.index}]" if edge.index is not None else "edge"
            raise RunFailure(
                "EdgeConditionError",
                f"{where} {edge.source} -> {edge.target}: when {exc}",
                {"edge": edge.index, "from": edge.source, "to": edge.target, "when": edge.when},
            ) from None

    def _start(self, sid: str) -> None:
        step = self.state.steps[sid]
        if self.breaks_before(sid):  # it starts when continued (interpreter.breakpoints)
            step.status = "at_breakpoint"
        else:
            step.status = "running"
            step.started_at = workflow.now()
            self.state.record(step.started_at, "step_started", sid)
        if step.kind not in ("llm", "tool", "code"):
            step.attempts = 1
        self._scope = None
        spec = self._specs[sid]
        inv = Invocation(
            spec=spec, step_id=sid, path=sid, scope=self._current_scope(), layers=(spec,)
        )
        self._tasks[sid] = asyncio.create_task(self._run_step(step, inv))

    async def _run_step(self, step: StepState, inv: Invocation) -> None:
        # No `finally`: when Temporal evicts a run it closes this coroutine with GeneratorExit,
        # and workflow APIs must not be called then.
        try:
            output = await run_spec(self, inv)
            problem = find_problem(output)
            if problem is not None and patches.patched(VALUES_PATCH):
                raise StepError("InvalidOutput", f"{describe('output', problem[0])}: {problem[1]}")
            output = await self.stop_after(step, output)  # held at an after breakpoint
            step.output = output
            step.status = "succeeded"
        except StepError as exc:
            step.status, step.error = "failed", exc
            if exc.attempts is not None:
                step.attempts = exc.attempts
            if fails_run(inv.spec, self.definition.tools) and self._failure is None:
                self._failure = self._step_failure(step, exc)
        except RunFailure as failure:
            step.status, step.error = "failed", StepError(failure.type, failure.message)
            if self._failure is None:
                self._failure = failure
        except asyncio.CancelledError:
            step.status = "cancelled"
            self._ended(step)
            raise
        except Suspended as suspended:  # the run continues as new; the next one resumes it
            self._resume[step.id] = suspended.resume
            self._tasks.pop(step.id, None)
            self._changed = True
            return
        except Exception as exc:  # a bug in a kind: the step fails visibly, never its task unseen
            if not patches.patched(STEP_GUARD_PATCH):
                raise
            workflow.logger.exception("step %r failed with an unexpected error", step.id)
            error = StepError("InternalError", f"step '{step.id}': {type(exc).__name__}: {exc}")
            step.status, step.error = "failed", error
            if fails_run(inv.spec, self.definition.tools) and self._failure is None:
                self._failure = self._step_failure(step, error)
        self._ended(step)

    def _check_input(self, value: Any) -> None:
        """Refuse an input no run can carry (see :mod:`interpreter.values`)."""
        problem = find_problem(value)
        if problem is not None and patches.patched(VALUES_PATCH):
            raise InputError(*problem)

    def _ended(self, step: StepState) -> None:
        step.ended_at = workflow.now()
        error = step.error.as_json() if step.error else None
        self.state.record(step.ended_at, f"step_{step.status}", step.id, error=error)
        self._scope = None
        self._changed = True
        self._tasks.pop(step.id, None)
        self._unfinished.discard(step.id)
        self._scheduler.became_final(step.id)
        self.forget_descendants(step.id)

    def _step_failure(self, step: StepState, exc: StepError) -> RunFailure:
        tries = step.attempts
        after = f" after {tries} attempt{'s' if tries != 1 else ''}" if tries else ""
        return RunFailure(
            "StepFailed",
            f"step '{step.id}' ({step.kind}) failed{after}: {exc}",
            {"step": step.id, "kind": step.kind, "attempts": tries, "error": exc.as_json()},
        )

    # ---- what the kinds use (the rest: interpreter.step_runtime) -----------------------

    async def run_spec(self, inv: Invocation) -> Any:
        """Run an inner spec (a parallel item)."""
        return await run_spec(self, inv)


def _trace_carrier(info: workflow.Info) -> dict[str, Any] | None:
    """The trace context the run was started with, if any (a bad header starts a new trace)."""
    header = info.headers.get(HEADER)
    if header is None:
        return None
    try:
        carrier = workflow.payload_converter().from_payload(header)
    except Exception:  # telemetry never fails a run
        return None
    return carrier if isinstance(carrier, dict) else None

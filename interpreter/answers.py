"""How a run takes answers: its human steps wait and are answered, and its subflows' too.

:class:`HumanAnswers` is the part of :class:`interpreter.workflow.InterpreterWorkflow` that owns
the ``respond`` update (validated: a refused answer changes nothing) and signal (an invalid one
is recorded in ``events`` and ignored), the waiting entries of human steps, and the human steps
of subflows at any depth (:mod:`interpreter.descendants`): they are listed with their path and
answered through this run, which relays the answer down.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

from interpreter import patches

with workflow.unsafe.imports_passed_through():
    import jsonschema

    from interpreter import descendants
    from interpreter.assignee_notice import tell_assignees
    from interpreter.carry import reopened
    from interpreter.descendants import DescendantHumans, Descendants
    from interpreter.durations import parse_duration
    from interpreter.errors import SchemaInvalid
    from interpreter.kinds.base import Invocation
    from interpreter.request import RESPOND, RespondRequest, RunRequest
    from interpreter.schemas import compile_schema
    from interpreter.spec import StepSpec
    from interpreter.state import PendingHuman, RunEvent, RunState
    from telemetry import spans

DESCENDANTS_PATCH = "descendant-humans"
"""Runs recorded before subflows told their parents about waiting people replay without it."""


class HumanAnswers:
    """Human steps and answers, mixed into the interpreter workflow (see the module docstring)."""

    request: RunRequest
    state: RunState
    _specs: dict[str, StepSpec]
    _settled: bool
    _blocked: bool
    _changed: bool
    _draining: bool
    _descendants: Descendants
    _told: int
    """How many snapshots of its waiting people this run has sent its parent."""
    _telling: set[asyncio.Task[None]]
    """Snapshots on their way to the parent."""

    def child_id(self, path: str) -> str:
        raise NotImplementedError

    # ---- answers -------------------------------------------------------------------------

    @workflow.update(name=RESPOND)
    async def respond(self, answer: RespondRequest) -> dict[str, Any]:
        """Answer a waiting human step (of this run, or ``<subflow path>/<step>`` of a
        subflow's); returns the step's output."""
        if not self._settled:
            await workflow.wait_condition(self._quiescent)
            _raise_if_problem(self._answer_problem(answer))
        if descendants.split(answer.step):
            return await self._relay(answer)
        return self._accept(answer)

    def _accept(self, answer: RespondRequest) -> dict[str, Any]:
        pending = self.state.pending_human[answer.step]
        pending.answer = _answer_value(answer)
        return pending.answer

    @respond.validator
    def _validate_respond(self, answer: RespondRequest) -> None:
        if self._settled:
            _raise_if_problem(self._answer_problem(answer))
        elif descendants.split(answer.step):
            pass  # checked once replay has caught up
        elif answer.step not in self._specs or self._specs[answer.step].kind != "human":
            message = f"there is no human step '{answer.step}' in this run"
            _raise_if_problem(("unknown_step", message))
        # else: checked in full once replay has caught up (see InterpreterWorkflow.__init__)

    @workflow.signal(name=RESPOND)
    async def respond_signal(self, answer: RespondRequest) -> None:
        """Fire-and-forget answer: an invalid one is recorded in ``events`` and ignored."""
        if not self._settled:
            await workflow.wait_condition(self._quiescent)
        problem = self._answer_problem(answer)
        if problem:
            workflow.logger.warning("respond signal rejected: %s", problem[1])
            self.state.events.append(
                RunEvent(workflow.now(), "respond_rejected", answer.step, problem[1])
            )
            return
        if descendants.split(answer.step):
            await self._relay(answer)
        else:
            self._accept(answer)

    def _quiescent(self) -> bool:
        return self._blocked and not self._changed

    def _answer_problem(self, answer: RespondRequest) -> tuple[str, str] | None:
        """Why an answer cannot be taken now, as ``(reason, message)``; None when it can.

        Reasons: ``unknown_step`` (no such human step), ``not_waiting``, ``invalid_data``.
        """
        if descendants.split(answer.step):
            entry = self._descendants.find(answer.step)
            if entry is None:
                message = f"step '{answer.step}' is not waiting for an answer in this run"
                return "not_waiting", message
            return form_problem(answer.step, entry.get("form"), answer.data)
        if answer.step not in self.state.steps or self._specs[answer.step].kind != "human":
            return "unknown_step", f"there is no human step '{answer.step}' in this run"
        pending = self.state.pending_human.get(answer.step)
        if pending is None or pending.answer is not None:
            status = self.state.steps[answer.step].status
            message = f"step '{answer.step}' is not waiting for an answer (it is {status})"
            return "not_waiting", message
        return form_problem(answer.step, pending.form, answer.data)

    async def _relay(self, answer: RespondRequest) -> dict[str, Any]:
        """Pass an answer for a subflow's step down to the child run where it waits."""
        split = descendants.split(answer.step)
        assert split is not None
        child, rest = split
        relayed = RespondRequest(step=rest, data=answer.data, actor=answer.actor)
        handle = workflow.get_external_workflow_handle(self.child_id(child))
        try:
            await handle.signal(RESPOND, relayed)
        except FailureError as exc:  # the child run has ended meanwhile
            message = f"step '{answer.step}' is not waiting for an answer ({exc.message})"
            _raise_if_problem(("not_waiting", message))
        return _answer_value(answer)

    # ---- waiting entries -----------------------------------------------------------------

    def open_human(self, inv: Invocation, fields: dict[str, Any]) -> PendingHuman:
        """Mark a human step as waiting for an answer (again, when it resumes)."""
        now = workflow.now()
        if inv.resume is not None:
            pending = reopened(inv.step_id, inv.resume, fields)
        else:
            timeout = parse_duration(inv.spec.timeout) if inv.spec.timeout else None
            pending = PendingHuman(
                step=inv.step_id,
                prompt=fields.get("prompt"),
                form=fields.get("form"),
                assignees=fields.get("assignees"),
                since=now,
                timeout_at=now + timeout if timeout else None,
            )
        self.state.pending_human[inv.step_id] = pending
        self.state.steps[inv.step_id].status = "waiting"
        if inv.resume is None:
            self.state.record(now, "step_waiting", inv.step_id)
        spans.human_opened(self.state.run_id, inv.step_id)
        self._tell_parent()
        return pending

    def tell_assignees(self, pending: PendingHuman) -> None:
        """Tell a waiting human step's assignees (:mod:`interpreter.assignee_notice`)."""
        tell_assignees(self.state, self._telling, pending)

    def close_human(self, inv: Invocation) -> None:
        """The human step stopped waiting (answered, timed out, cancelled or suspended)."""
        if self.state.pending_human.pop(inv.step_id, None) is not None:
            spans.human_closed(self.state.run_id, inv.step_id)
        step = self.state.steps[inv.step_id]
        if step.status == "waiting":
            step.status = "running"
        if not self._draining:  # a suspended wait goes on in the next run: nothing to tell
            self._tell_parent()

    def pending_entries(self) -> list[dict[str, Any]]:
        """Every human step waiting in this run or below it, as ``pending_human`` lists them."""
        return self.state.waiting() + self._descendants.entries()

    @workflow.signal(name=descendants.SIGNAL)
    def descendant_humans(self, snapshot: DescendantHumans) -> None:
        """A child run's waiting people changed: list them, and tell this run's parent."""
        for path in self._descendants.take(snapshot):
            step = descendants.top_step(snapshot.child)
            self.state.record(workflow.now(), "step_waiting", step, path=path)
        self._tell_parent()

    def forget_descendants(self, step_id: str) -> None:
        """A top-level step ended: the people its child runs waited for wait no more."""
        if self._descendants.drop(step_id):
            self._tell_parent()

    def _tell_parent(self) -> None:
        """Send the parent run a snapshot of the people waiting here (a subflow's run only)."""
        parent = self.request.parent
        if parent is None or not patches.patched(DESCENDANTS_PATCH):
            return
        self._told += 1
        snapshot = DescendantHumans(
            child=descendants.child_path(parent, workflow.info().workflow_id),
            seq=self._told,
            pending=self.pending_entries(),
        )
        handle = workflow.get_external_workflow_handle(parent)
        task = asyncio.create_task(_signal_quietly(handle, snapshot))
        self._telling.add(task)  # kept so that the task is not collected mid-flight
        task.add_done_callback(self._telling.discard)


async def _signal_quietly(handle: workflow.ExternalWorkflowHandle[Any], snapshot: Any) -> None:
    with contextlib.suppress(FailureError):  # the parent has ended: nobody to tell
        await handle.signal(descendants.SIGNAL, snapshot)


def _answer_value(answer: RespondRequest) -> dict[str, Any]:
    return {
        "data": answer.data,
        "actor": answer.actor,
        "responded_at": _iso(workflow.now()),
        "timed_out": False,
    }


def form_problem(step: str, form: dict[str, Any] | None, data: Any) -> tuple[str, str] | None:
    """``("invalid_data", message)`` when ``data`` breaks the form, ``("invalid_form", ...)``
    when the form cannot be applied at all; None when the answer fits."""
    if form is None:
        return None
    try:  # a form that broke before run_human checked forms never poisons an answer
        errors = compile_schema(form).errors(data)
    except SchemaInvalid as exc:
        message = f"step '{step}' cannot take answers: its form is not usable: {exc}"
        return "invalid_form", message
    errors.sort(key=lambda e: [(isinstance(p, str), p) for p in e.path])
    if errors:
        return "invalid_data", "; ".join(_form_error(e) for e in errors)
    return None


def _raise_if_problem(problem: tuple[str, str] | None) -> None:
    """Reject an answer: ``InvalidAnswer`` with ``{"reason": ...}`` as its detail."""
    if problem is not None:
        reason, message = problem
        raise ApplicationError(
            message, {"reason": reason}, type="InvalidAnswer", non_retryable=True
        )


def _form_error(error: jsonschema.ValidationError) -> str:
    where = "data" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    return f"{where}: {error.message}"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")

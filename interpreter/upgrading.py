"""Upgrading a paused run to a newer version of its definition: the ``upgrade`` update and
signal, what a run keeps and what follows the new version.

:class:`Upgrading` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`. Only a
paused run can be upgraded (:mod:`interpreter.pausing`), so nothing starts while its steps
change; the run stays paused after the upgrade until someone resumes it, so the person who
upgraded it can look at the new shape first (``kworkflow runs upgrade`` then ``runs resume``).

What the upgrade does, once the validator has accepted it:

- Every step that has started (running, waiting for a person, or ended: succeeded, failed,
  skipped, cancelled) keeps its state: its status, input, output, error and attempts. A running
  step finishes under the spec it started with; what follows it follows the new version.
- Every step that has not started follows the new version: steps new in it appear ``pending``,
  pending steps it removed disappear from the run's view, a step's spec (its args, prompt,
  form...) is the new one when it starts.
- The edges are the new version's. An edge that is the same in both versions (same source,
  target, ``on`` and ``when``) keeps the decision the run took on it; any other edge is decided
  under the new version when the run schedules again (on resume), from its source's state
  then (a ``when`` is evaluated at that moment). A decision only matters to a step that has not
  started: nothing that ran is undone or run again, and a step skipped under the old edges stays
  skipped.
- The run's ``version`` (the ``status`` query, ``run.version`` in CEL, the ``WorkflowVersion``
  search attribute when the run has it) becomes the new one, the run's ``output`` and
  ``timeout``... are the new version's; its deadline stays the one it started with.
- A ``run_upgraded`` transition (``from_version``, ``to_version``, ``by``, the steps ``added``
  and ``removed``) is recorded, and the run's memo holds under :data:`UPGRADED_MEMO` the
  versions, who and when, and the definition (and pinned subflows) it now runs, so the API
  draws and retries an upgraded run without a worker. A continue-as-new carries the new
  definition and version (the next run is started with them).

The validator refuses, with the run unchanged: a run that has decided its end or is not paused
(the message says its state), a definition of another workflow, a version not newer than the
run's, a new version that lacks a started step or changed its kind (naming each step), a
definition whose edges name unknown steps or form a cycle, or one over the run's flow limits.
The signal does the same fire-and-forget; a refused one is recorded in ``events``
(``upgrade_rejected``). Runs recorded before upgrades existed never had one accepted; the change
is behind :data:`UPGRADE_PATCH`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from interpreter import patches

with workflow.unsafe.imports_passed_through():
    from client.search_attributes import WORKFLOW_VERSION
    from interpreter.expr import Entries, Scope
    from interpreter.limits import flow_excesses, flow_limits
    from interpreter.pausing import MAX_BY, Paused
    from interpreter.request import RunRequest
    from interpreter.scheduling import Scheduler
    from interpreter.spec import Definition, StepSpec
    from interpreter.state import RunEvent, RunState, StepState
    from interpreter.stepmatch import step_mismatches
    from interpreter.topology import EdgePair, edge_pairs, find_cycle

UPGRADE: Final = "upgrade"
"""Name of the update and of the signal that upgrade a paused run."""
UPGRADE_PATCH = patches.UPGRADE
"""Runs recorded before upgrades existed replay without them."""
UPGRADED_MEMO = "kworkflow.upgraded"
"""The memo key of an upgraded run: ``{from_version, to_version, at, by, definition,
subflows}`` (the latest upgrade)."""
REFUSED = "UpgradeRefused"
"""The ApplicationError type of a refused upgrade; its detail is ``{reason, steps}``.

Reasons: ``ended`` and ``not_paused`` (the run's state), ``not_newer`` (the version is the
run's or older), ``mismatch`` (``steps`` names each started step the version lacks or gives
another kind), ``other_workflow``, ``invalid`` (a bad definition or payload)."""


class UpgradeRequest(BaseModel):
    """The payload of ``upgrade``.

    Attributes:
        definition: The newer definition (published, so loaded and linted by the sender).
        version: Its published version; must be newer than the run's.
        by: Who asks (the API fills it from the caller's identity).
        subflows: The named subflows the new version pins (added to the run's).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: Definition
    version: int = Field(ge=1)
    by: str | None = None
    subflows: dict[str, Definition] = Field(default_factory=dict)


class Upgrading:
    """The ``upgrade`` update and signal, mixed into the interpreter workflow (see the module
    docstring)."""

    request: RunRequest
    definition: Definition
    state: RunState
    _order: list[str]
    _specs: dict[str, StepSpec]
    _edges: list[EdgePair]
    _edge_index: dict[int, int]
    _decisions: dict[int, bool]
    _scheduler: Scheduler
    _unfinished: set[str]
    _scope: Scope | None
    _base_scope: Scope | None
    _steps_cel: Entries
    _run_input: Any
    _meter: Any
    _changed: bool
    _paused: Paused | None
    _whens: dict[str, frozenset[str]] | None
    """Where each step stops at a breakpoint (interpreter.breakpoints), derived once."""

    def _run_info(self) -> dict[str, Any]:
        raise NotImplementedError

    @workflow.update(name=UPGRADE)
    def upgrade(self, request: UpgradeRequest) -> dict[str, Any]:
        """Upgrade the paused run to ``request.version``; ``{status, from_version, version,
        added, removed}`` (the run stays paused)."""
        return self._upgrade(request)

    @upgrade.validator
    def _validate_upgrade(self, request: UpgradeRequest) -> None:
        problem = self._upgrade_problem(request)
        if problem is not None:
            reason, message, steps = problem
            detail = {"reason": reason, "steps": steps}
            raise ApplicationError(message, detail, type=REFUSED, non_retryable=True)

    @workflow.signal(name=UPGRADE)
    def upgrade_signal(self, request: UpgradeRequest) -> None:
        """Fire-and-forget ``upgrade``: a refused one is recorded in ``events``."""
        problem = self._upgrade_problem(request)
        if problem is None:
            self._upgrade(request)
            return
        if not patches.patched(UPGRADE_PATCH):
            return
        workflow.logger.warning("upgrade signal rejected: %s", problem[1])
        self.state.events.append(RunEvent(workflow.now(), "upgrade_rejected", None, problem[1]))

    # ---- the check -----------------------------------------------------------------------

    def _upgrade_problem(
        self, request: UpgradeRequest
    ) -> tuple[str, str, dict[str, str] | None] | None:
        """Why the run cannot be upgraded to ``request``: ``(reason, message, steps)``."""
        run, status = self.state.run_id, self.state.status
        current, target = self.request.version, request.version
        definition = request.definition
        if status != "running":
            return "ended", f"run '{run}' has ended ({status}): cannot upgrade it", None
        if self._paused is None:
            message = f"run '{run}' is running, not paused: pause it before upgrading it"
            return "not_paused", message, None
        if request.by is not None and len(request.by) > MAX_BY:
            return "invalid", f"by: at most {MAX_BY} characters (got {len(request.by)})", None
        if definition.name != self.definition.name:
            message = (
                f"version {target} is a definition of workflow '{definition.name}', "
                f"not of '{self.definition.name}'"
            )
            return "other_workflow", message, None
        if target == current:
            return "not_newer", f"run '{run}' is already at version {current}", None
        if target < current:
            message = f"run '{run}' is at version {current}: version {target} is not newer"
            return "not_newer", message, None
        shape = _shape_problem(definition)
        if shape is None:
            data = definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
            for path, excess in flow_excesses(data, flow_limits(self.request)):
                shape = f"{path}: {excess.describe()}"
                break
        if shape is not None:
            return "invalid", f"version {target} cannot run: {shape}", None
        kinds = {sid: step.kind for sid, step in self.state.steps.items()}
        started = [sid for sid, step in self.state.steps.items() if step.status != "pending"]
        steps = step_mismatches(kinds, definition, started)
        if steps:
            listed = "; ".join(f"{sid}: {problem}" for sid, problem in steps.items())
            message = f"version {target} does not match the steps run '{run}' has started: "
            return "mismatch", message + listed, steps
        return None

    # ---- the change ----------------------------------------------------------------------

    def _upgrade(self, request: UpgradeRequest) -> dict[str, Any]:
        if not patches.patched(UPGRADE_PATCH):  # never reached by a run that could be upgraded
            return {"status": self.state.status, "version": self.request.version}
        now = workflow.now()
        old_version, definition = self.request.version, request.definition
        subflows = {**self.request.subflows, **request.subflows}
        self.request = self.request.model_copy(
            update={"definition": definition, "version": request.version, "subflows": subflows}
        )
        self.definition = definition
        order = [s.id or "" for s in definition.steps]
        old = self.state.steps
        steps = {
            s.id or "": old.get(s.id or "") or StepState(id=s.id or "", kind=s.kind)
            for s in definition.steps
        }
        added = [sid for sid in order if sid not in old]
        removed = [sid for sid in old if sid not in steps]
        self.state.set_steps(steps)
        self.state.version = request.version
        self._order = order
        self._specs = {s.id or "": s for s in definition.steps}
        self._whens = None  # the new version's `breakpoint:` fields apply to the steps to come
        self._redraw_edges(definition)
        self._unfinished = {sid for sid, step in steps.items() if not step.done}
        self._steps_cel = Entries()
        self._scope = None
        if self._base_scope is not None:  # `run.version` in CEL is the new one
            base = {"input": self._run_input, "run": self._run_info()}
            self._base_scope = Scope(base, self._meter, patches.cel_functions)
        self.state.record(
            now,
            "run_upgraded",
            None,
            from_version=old_version,
            to_version=request.version,
            by=request.by,
            added=added,
            removed=removed,
        )
        workflow.upsert_memo(
            {
                UPGRADED_MEMO: {
                    "from_version": old_version,
                    "to_version": request.version,
                    "at": _iso(now),
                    "by": request.by,
                    "definition": _dump(definition),
                    "subflows": {key: _dump(d) for key, d in subflows.items()},
                }
            }
        )
        if workflow.info().typed_search_attributes.get(WORKFLOW_VERSION) is not None:
            workflow.upsert_search_attributes([WORKFLOW_VERSION.value_set(request.version)])
        self._changed = True
        return {
            "status": self.state.status,
            "from_version": old_version,
            "version": request.version,
            "added": added,
            "removed": removed,
        }

    def _redraw_edges(self, definition: Definition) -> None:
        """The new version's edges and scheduler; the decisions on unchanged edges kept."""
        taken = {
            _edge_key(edge): self._decisions[id(edge)]
            for edge in self._edges
            if id(edge) in self._decisions
        }
        self._edges = edge_pairs(definition)
        self._edge_index = {id(edge): index for index, edge in enumerate(self._edges)}
        self._decisions = {
            id(edge): taken[_edge_key(edge)] for edge in self._edges if _edge_key(edge) in taken
        }
        joins = {s.id or "": s.join for s in definition.steps}
        self._scheduler = Scheduler(self._order, self._edges, joins)  # visits every step first


def _shape_problem(definition: Definition) -> str | None:
    """An edge naming an unknown step, or a cycle (what the scheduler cannot run)."""
    ids = {s.id for s in definition.steps}
    for edge in edge_pairs(definition):
        for end in (edge.source, edge.target):
            if end not in ids:
                return f"an edge {edge.source} -> {edge.target} names no step '{end}'"
    cycle = find_cycle(definition)
    if cycle is not None:
        return f"the edges form a cycle: {' -> '.join([*cycle, cycle[0]])}"
    return None


def _edge_key(edge: EdgePair) -> tuple[str, str, str | None, str]:
    return edge.source, edge.target, edge.when, edge.on


def _dump(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")

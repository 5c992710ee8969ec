"""Pydantic models of the kworkflow/v1 YAML format (``docs/dsl.md`` is its reference).

``docs/dsl-choices.md`` records the choices where the format is silent.

A :class:`Definition` is what the loader produces and what the interpreter workflow receives.
Fields that hold *values* are typed ``Any``: a literal, or a string embedding ``${ expr }``,
resolved inside the workflow. Fields named ``when``, ``until`` and ``expr`` are bare CEL.
Durations stay strings as written (``500ms``, ``2m``, ``1h30m``) and are read with
:func:`interpreter.durations.parse_duration`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from interpreter.durations import parse_duration

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


def _check_duration(value: str) -> str:
    parse_duration(value)  # raises ValueError with a clear message
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]
IdList = StepId | list[StepId]


class _Model(BaseModel):
    """Base of every model here: unknown keys are an error, instances are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class RetrySpec(_Model):
    """Retry policy of an activity step; unset fields come from ``defaults.retry``.

    Maps onto Temporal's RetryPolicy; ``max_duration`` bounds all attempts together
    (the activity's schedule-to-close timeout). ``max_attempts: 0`` means no limit.
    """

    max_attempts: int | None = Field(default=None, ge=0)
    initial_interval: Duration | None = None
    backoff_coefficient: float | None = Field(default=None, ge=1.0)
    max_interval: Duration | None = None
    max_duration: Duration | None = None
    non_retryable_errors: list[str] | None = None


class RepeatSpec(_Model):
    """Run a step again until ``until`` is true (see ``repeat`` in the DSL)."""

    until: str
    max_iterations: int = Field(default=10, ge=1, le=1_000_000)
    on_exhausted: Literal["fail", "continue"] = "fail"


class Defaults(_Model):
    """Fields merged under every step."""

    timeout: Duration | None = None
    retry: RetrySpec | None = None
    model: str | None = None
    provider: str | None = None


class ToolDef(_Model):
    """An HTTP tool a definition may call (the ``tools:`` section)."""

    description: str | None = None
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    input_schema: dict[str, Any] | None = None
    timeout: Duration | None = None


class _StepCommon(_Model):
    """Fields every step has. ``id`` is required for steps of a graph, absent in inner specs."""

    id: StepId | None = None
    name: str | None = None
    description: str | None = None
    timeout: Duration | None = None
    retry: RetrySpec | None = None
    on_error: Literal["fail", "continue"] | None = None
    """None: ``fail``, except for the builtin ``notify`` tool (:mod:`interpreter.onerror`)."""
    join: Literal["all", "any"] = "all"
    repeat: RepeatSpec | None = None
    compensate: StepSpec | None = None
    breakpoint: Literal["before", "after", "both"] | None = None
    """Stop the run before the step starts, after it ran, or both (top-level steps of a run
    that is not a subflow's child only: interpreter.breakpoints)."""


class ConcurrencySpec(_Model):
    """A step's concurrency key (docs/flow-control.md): at most ``limit`` executions of steps
    with the same key (the CEL ``key``'s value) run at once, across the tenant's runs."""

    key: str = Field(min_length=1, max_length=2000)
    limit: int = Field(ge=1, le=1000)


class RateLimitSpec(_Model):
    """A step's rate limit (docs/flow-control.md): at most ``limit`` executions of steps with
    the same key (the CEL ``key``'s value) start in any ``period``, across the tenant's runs."""

    key: str = Field(min_length=1, max_length=2000)
    limit: int = Field(ge=1, le=10_000)
    period: Duration


class LLMStep(_StepCommon):
    """A model call (activity ``llm``)."""

    kind: Literal["llm"]
    concurrency: ConcurrencySpec | None = None
    rate_limit: RateLimitSpec | None = None
    model: Any = None
    provider: Any = None
    system: Any = None
    prompt: Any = None
    messages: Any = None
    temperature: Any = None
    max_tokens: Any = None
    output_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> LLMStep:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("an llm step needs exactly one of `prompt` or `messages`")
        return self


class ToolStep(_StepCommon):
    """A tool call (activity ``tool``)."""

    kind: Literal["tool"]
    concurrency: ConcurrencySpec | None = None
    rate_limit: RateLimitSpec | None = None
    tool: str
    args: Any = Field(default_factory=dict)


class CodeStep(_StepCommon):
    """Sandboxed code (activity ``code``)."""

    kind: Literal["code"]
    concurrency: ConcurrencySpec | None = None
    language: Literal["python"] = "python"
    source: str
    input: Any = None
    memory_mb: int | None = Field(default=None, ge=16)


class AgentStep(_StepCommon):
    """A model that calls tools turn by turn (a child workflow)."""

    kind: Literal["agent"]
    model: Any = None
    provider: Any = None
    instructions: Any = None
    prompt: Any
    tools: list[str] = Field(default_factory=list)
    max_turns: int = Field(default=10, ge=1, le=1000)
    on_max_turns: Literal["fail", "continue"] = "fail"
    """At ``max_turns`` without a final answer: fail (``AgentMaxTurns``) or succeed with the
    last reply."""
    output_schema: dict[str, Any] | None = None


class SubflowStep(_StepCommon):
    """A child run of the interpreter: a published workflow by name, or inline steps."""

    kind: Literal["subflow"]
    workflow: str | None = Field(default=None, pattern=NAME_PATTERN)
    version: int | None = Field(default=None, ge=1)
    steps: list[Step] | None = Field(default=None, min_length=1)
    edges: list[Edge] | None = None
    output: Any = None
    input: Any = None

    @model_validator(mode="after")
    def _named_or_inline(self) -> SubflowStep:
        if (self.workflow is None) == (self.steps is None):
            raise ValueError("a subflow step needs exactly one of `workflow` or inline `steps`")
        if self.workflow is not None and (self.edges is not None or self.output is not None):
            raise ValueError("`edges` and `output` belong to inline subflows, not `workflow:`")
        if self.workflow is None and self.version is not None:
            raise ValueError("`version` needs `workflow`")
        return self

    @property
    def pin_key(self) -> str | None:
        """The key under which a named subflow's definition is pinned in a run request."""
        if self.workflow is None:
            return None
        return self.workflow if self.version is None else f"{self.workflow}@{self.version}"


class HumanStep(_StepCommon):
    """Waits for a person's answer (update or signal ``respond``)."""

    kind: Literal["human"]
    prompt: Any = None
    form: dict[str, Any] | None = None
    assignees: Any = None
    on_timeout: Literal["fail", "continue"] = "fail"
    default: Any = None


class EventStep(_StepCommon):
    """Waits for a CloudEvent of ``type`` for which ``filter`` is true (signal ``kworkflow.event``).

    ``filter`` is bare CEL over ``event`` (the CloudEvent: ``type``, ``source``, ``id``,
    ``data``...), ``input``, ``steps`` and ``run``; without it the first event of the type
    is taken. Its output is the event; ``on_timeout: continue`` outputs ``default`` instead.
    """

    kind: Literal["event"]
    type: Any
    filter: str | None = None
    on_timeout: Literal["fail", "continue"] = "fail"
    default: Any = None


class EventTrigger(_Model):
    """A ``triggers:`` entry: every event of the tenant whose type matches ``event`` (exact, or
    a glob with ``*``) and for which ``filter`` is true starts a run (``docs/events.md``).

    ``input`` is the run's input, a value whose ``${}`` see ``event``; default: the event's
    ``data``.
    """

    event: str = Field(min_length=1, max_length=200)
    filter: str | None = None
    input: Any = None
    priority: int | None = Field(default=None, ge=1, le=5)
    """The runs' priority: 1 first .. 5 last, default 3 (:mod:`client.priority`)."""


class WebhookTrigger(_Model):
    """A ``triggers:`` entry: a signed ``POST /v1/hooks/{tenant}/{webhook}`` starts a run
    (``docs/triggers.md``, :mod:`api.webhooks`).

    ``secret`` names the HMAC key the operator configured for the tenant (never its value);
    ``filter`` is bare CEL over ``body`` (the parsed JSON body) and ``headers`` (lower-case
    names); ``input`` is the run's input, a value whose ``${}`` see the same (default: ``body``).
    """

    webhook: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    secret: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    filter: str | None = None
    input: Any = None
    priority: int | None = Field(default=None, ge=1, le=5)
    """The runs' priority: 1 first .. 5 last, default 3 (:mod:`client.priority`)."""


class BranchCase(_Model):
    """One case of a branch: the edge to ``to`` is taken if ``when`` is the first true case."""

    when: str
    to: StepId


class BranchStep(_StepCommon):
    """Chooses exactly one outgoing edge."""

    kind: Literal["branch"]
    cases: list[BranchCase] = Field(min_length=1)
    default: StepId | None = None


class ParallelStep(_StepCommon):
    """Fan-out: ``for_each`` + ``step``, or named ``branches``."""

    kind: Literal["parallel"]
    for_each: Any = None
    step: StepSpec | None = None
    max_concurrency: int | None = Field(default=None, ge=1)
    branches: dict[str, StepSpec] | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> ParallelStep:
        fan = self.for_each is not None or self.step is not None
        if fan == (self.branches is not None):
            raise ValueError(
                "a parallel step needs either `for_each` with `step`, or `branches`, not both"
            )
        if fan and (self.for_each is None or self.step is None):
            raise ValueError("`for_each` and `step` go together")
        if self.branches is not None and not self.branches:
            raise ValueError("`branches` is empty")
        return self


Reducer = Literal["collect", "merge", "concat", "sum", "min", "max", "first", "last"]


class AggregateStep(_StepCommon):
    """Fan-in: reduce the outputs of earlier steps (or compute a value with ``expr``)."""

    kind: Literal["aggregate"]
    from_: list[StepId] | None = Field(default=None, alias="from")
    reduce: Reducer | None = None
    expr: str | None = None

    @model_validator(mode="after")
    def _reduce_or_expr(self) -> AggregateStep:
        if self.reduce is not None and self.expr is not None:
            raise ValueError("an aggregate step takes `reduce` or `expr`, not both")
        return self

    @property
    def reducer(self) -> Reducer:
        """The reducer in effect (``collect`` when neither ``reduce`` nor ``expr`` is given)."""
        return self.reduce or "collect"


StepSpec = Annotated[
    LLMStep
    | ToolStep
    | CodeStep
    | AgentStep
    | SubflowStep
    | HumanStep
    | EventStep
    | BranchStep
    | ParallelStep
    | AggregateStep,
    Field(discriminator="kind"),
]
Step = StepSpec

ACTIVITY_KINDS = frozenset({"llm", "tool", "code"})
WORKFLOW_KINDS = frozenset(
    {"agent", "subflow", "human", "event", "branch", "parallel", "aggregate"}
)
INNER_FORBIDDEN_KINDS = frozenset({"human", "event", "branch"})


class Edge(_Model):
    """``{from, to, when?, on?}``; ``from`` and ``to`` may each list several ids."""

    from_: IdList = Field(alias="from")
    to: IdList
    when: str | None = None
    on: Literal["succeeded", "failed", "always"] = "succeeded"

    def pairs(self) -> list[tuple[str, str]]:
        """Every (source, target) pair this edge stands for."""
        sources = [self.from_] if isinstance(self.from_, str) else list(self.from_)
        targets = [self.to] if isinstance(self.to, str) else list(self.to)
        return [(s, t) for s in sources for t in targets]


TRIGGER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ScheduleSpec(_Model):
    """When a trigger starts runs: a ``cron`` or an ``every``, on a Temporal Schedule.

    Checked further by :mod:`interpreter.triggers` (cron syntax, time zone, interval floor,
    ``input`` against the definition's ``input`` schema); ``docs/triggers.md``.
    """

    cron: str | None = None
    every: Duration | None = None
    timezone: str | None = None
    input: Any = Field(default_factory=dict)
    overlap: Literal["skip", "buffer_one", "allow"] = "skip"
    jitter: Duration | None = None

    @model_validator(mode="after")
    def _cron_or_every(self) -> ScheduleSpec:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule needs exactly one of `cron` or `every`")
        return self


class Trigger(_Model):
    """One entry of ``triggers:``; its name defaults to ``schedule-<index>``."""

    name: str | None = Field(default=None, pattern=TRIGGER_NAME_PATTERN)
    schedule: ScheduleSpec
    priority: int | None = Field(default=None, ge=1, le=5)
    """The runs' priority: 1 first .. 5 last, default 3 (:mod:`client.priority`)."""


def _trigger_member(value: Any) -> str:
    """Which ``triggers:`` model an entry is checked against: by its key, so that a mistake
    in one kind is not also reported as every other kind's missing fields."""
    if isinstance(value, BaseModel):  # serializing: the model itself
        return type(value).__name__
    keys = value if isinstance(value, dict) else {}
    if "webhook" in keys:
        return "WebhookTrigger"
    return "EventTrigger" if "event" in keys else "Trigger"


TriggerSpec = Annotated[
    Annotated[Trigger, Tag("Trigger")]
    | Annotated[EventTrigger, Tag("EventTrigger")]
    | Annotated[WebhookTrigger, Tag("WebhookTrigger")],
    Discriminator(_trigger_member),
]
"""One ``triggers:`` entry: a schedule, an event or a webhook trigger."""


class RunConcurrencySpec(_Model):
    """A run's concurrency key (docs/flow-control.md): at most ``limit`` runs with the same key
    (the CEL ``key``'s value over ``input`` and ``run``) of the tenant at once; a run over it
    waits (``queue``), or the oldest or the newest run with the key is cancelled."""

    key: str = Field(min_length=1, max_length=2000)
    limit: int = Field(ge=1, le=1000)
    strategy: Literal["queue", "cancel_oldest", "cancel_newest"] = "queue"


class Definition(_Model):
    """A whole kworkflow/v1 definition."""

    kworkflow: Literal[1]
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    input: dict[str, Any] | None = None
    output: Any = None
    timeout: Duration | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    tools: dict[str, ToolDef] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(min_length=1)
    edges: list[Edge] | None = None
    concurrency: RunConcurrencySpec | None = None
    triggers: list[TriggerSpec] = Field(default_factory=list)
    """What starts runs besides the API: ``schedule`` entries (Temporal Schedules,
    :mod:`interpreter.triggers`), ``event`` entries (:mod:`interpreter.event_triggers`) and
    ``webhook`` entries (:mod:`interpreter.webhook_triggers`)."""
    compensate_on: list[Literal["failed", "cancelled"]] = Field(default_factory=list)
    """When the run compensates itself before it ends (:mod:`interpreter.compensation`): on
    ``failed`` (a run ``timeout`` fails the run, so it counts) and/or ``cancelled``."""

    @field_validator("compensate_on")
    @classmethod
    def _compensate_on_once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("`compensate_on` lists a status twice")
        return value

    def schedule_triggers(self) -> list[tuple[int, Trigger]]:
        """The ``schedule`` entries of ``triggers``, with their index in the list."""
        return [(i, t) for i, t in enumerate(self.triggers) if isinstance(t, Trigger)]

    def event_triggers(self) -> list[tuple[int, EventTrigger]]:
        """The ``event`` entries of ``triggers``, with their index in the list."""
        return [(i, t) for i, t in enumerate(self.triggers) if isinstance(t, EventTrigger)]

    def webhook_triggers(self) -> list[tuple[int, WebhookTrigger]]:
        """The ``webhook`` entries of ``triggers``, with their index in the list."""
        return [(i, t) for i, t in enumerate(self.triggers) if isinstance(t, WebhookTrigger)]

    def step(self, step_id: str) -> StepSpec:
        """The step with this id (``KeyError`` if there is none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


for _model in (
    LLMStep,
    ToolStep,
    CodeStep,
    AgentStep,
    SubflowStep,
    HumanStep,
    EventStep,
    BranchStep,
    ParallelStep,
    AggregateStep,
    _StepCommon,
    Definition,
):
    _model.model_rebuild()

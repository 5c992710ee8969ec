"""Commands that talk to the kworkflow HTTP API: publish, trigger, runs, respond, cancel, api.

Each command opens an :class:`~cli.http.ApiClient` from ``KWORKFLOW_URL`` and
``KWORKFLOW_API_KEY``, makes its calls, and prints results on stdout and progress on stderr.
Exit codes (see :mod:`cli.errors`): 0 done; 1 a run that did not succeed, a definition the API
rejected, or a request refused because of the run's state (not waiting, an answer breaking the
form, an unknown run); 2 nothing was done: bad arguments or JSON, an unknown workflow, input
breaking the schema, a refused key; 3 the API cannot be reached or failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from cli.args import parse_input
from cli.breakpoint_cmd import breakpoint_text
from cli.compensate_cmd import compensation_lines
from cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ApiError, CLIError
from cli.http import ApiClient
from cli.schedules_cmd import print_schedules

TERMINAL_STATUSES = ("succeeded", "failed", "cancelled", "terminated", "timed_out")
ENDED = {"cancelled": "was cancelled", "terminated": "was terminated", "timed_out": "timed out"}
STALLED = "stalled"
"""Running, but its workflow tasks keep failing: following it stops, cancelling it ends it."""
GOING_ON = ("run_paused", "run_resumed", "run_upgraded")
LINEAGE = {
    "retry_of": "retry of",
    "fork_of": "fork of",
    "compensation_of": "compensation of",
    "step_reused": "reused from",
    "step_edited": "edited, from",
}
"""The transitions of a retry or a fork that say what it took from the original."""
"""Run events after which the run goes on: following it goes on too."""
STEP_WIDTH = 10


def publish_command(args: argparse.Namespace) -> int:
    """``kworkflow publish FILE``: print ``published NAME vN``; 1 with the API's findings."""
    from cli.offline import read_definition_text  # loads the interpreter: only for publish

    text = read_definition_text(args.file)
    content_type = "application/json" if args.file.endswith(".json") else "application/yaml"
    with ApiClient.from_env() as api:
        try:
            published = api.publish(text, content_type)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            if exc.problems:
                count = _print_problems(args.file, exc.problems)
                message = f"{args.file}: {count} problem(s); not published"
                raise CLIError(message, EXIT_FAILED) from None
            raise CLIError(f"{args.file}: {exc}; not published", EXIT_FAILED) from None
    if published.get("warnings"):
        _print_problems(args.file, published["warnings"])
    print(f"published {published['name']} v{published['version']}")
    print_schedules(published)
    return EXIT_OK


def trigger_command(args: argparse.Namespace) -> int:
    """``kworkflow trigger NAME``: the run id; with ``--follow`` its progress, then its result."""
    value = parse_input(args.input, "--input")
    with ApiClient.from_env() as api:
        try:
            status, view = api.start_run(
                args.name,
                value,
                version=args.version,
                run_id=args.run_id,
                breakpoints=getattr(args, "breakpoints", None),  # `runs start` (cli.breakpoint_cmd)
                priority=args.priority,
            )
        except ApiError as exc:
            raise CLIError(f"{exc}; the run was not started", EXIT_USAGE) from None
        run_id = str(view["id"])
        again = " (it already existed; not started again)" if status == 200 else ""
        if not args.follow:
            print(run_id)
            if again:
                print(f"run {run_id}{again}", file=sys.stderr)
            return EXIT_OK
        print(
            f"run {run_id} of {view.get('workflow')} v{view.get('version')} started{again}",
            file=sys.stderr,
        )
        return follow_to_end(api, run_id)


def runs_list_command(args: argparse.Namespace) -> int:
    """``kworkflow runs list``: a table of runs in the API's order, up to ``--limit`` rows."""
    rows: list[dict[str, Any]] = []
    token: str | None = None
    with ApiClient.from_env() as api:
        while True:
            page = api.list_runs(workflow=args.workflow, status=args.status, page_token=token)
            rows.extend(page.get("runs") or [])
            token = page.get("next_page_token")
            if not token or (args.limit and len(rows) >= args.limit):
                break
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        print("no runs", file=sys.stderr)
        return EXIT_OK
    table = [["ID", "WORKFLOW", "VERSION", "STATUS", "STARTED"]]
    for row in rows:
        cells = [str(row.get(key)) for key in ("id", "workflow", "version", "status")]
        table.append([*cells, _when(row.get("started_at"))])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    if token and args.limit:
        print(f"(first {args.limit} runs; --limit 0 lists all)", file=sys.stderr)
    return EXIT_OK


def runs_show_command(args: argparse.Namespace) -> int:
    """``kworkflow runs show RUN``: a readable summary of a run (``--json``: the raw view)."""
    with ApiClient.from_env() as api:
        view = api.get_run(args.run)
    if args.json:
        print(_dumps(view))
    else:
        sys.stdout.write(summary(view))
    return EXIT_OK


def runs_action_command(args: argparse.Namespace) -> int:
    """``kworkflow runs pause|resume RUN`` (or ``--workflow NAME``): what was done, on stdout.

    Exit 1 when the API refuses (an unknown run, an ended one) or a bulk action left runs out
    that were not already as asked (``failed`` in the counts).
    """
    action = args.action
    done = "paused" if action == "pause" else "resumed"
    with ApiClient.from_env() as api:
        if args.workflow is None:
            answer = api.act(action, args.run, args.reason)
            if answer.get("changed"):
                print(f"run {args.run} {done}")
            else:
                print(f"run {args.run} was already {'paused' if action == 'pause' else 'running'}")
            return EXIT_OK
        counts = api.act_on_all(action, args.workflow, args.reason)
    print(
        f"{done} {counts['changed']} of {counts['matched']} running run(s) of {args.workflow} "
        f"({counts['unchanged']} already {done if action == 'pause' else 'running'}, "
        f"{counts['skipped']} skipped, {counts['failed']} failed)"
    )
    for problem in counts.get("problems") or []:
        print(f"  {problem['run_id']}: {problem['detail']}", file=sys.stderr)
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def respond_command(args: argparse.Namespace) -> int:
    """``kworkflow respond RUN STEP --data JSON``: answer a waiting human step."""
    data = parse_input(args.data, "--data")
    with ApiClient.from_env() as api:
        accepted = api.respond(args.run, args.step, data)
    print(_dumps(accepted))
    return EXIT_OK


def cancel_command(args: argparse.Namespace) -> int:
    """``kworkflow cancel RUN [--force]``: ask the run to cancel (it ends once its steps have
    stopped; a stalled run is terminated after a grace period), or terminate it at once."""
    with ApiClient.from_env() as api:
        view = api.cancel(args.run, force=args.force)
    if args.force:
        print(f"run {args.run} terminated")
    elif view.get("status") == "terminated":
        print(f"run {args.run} was stalled and has been terminated")
    else:
        print(f"cancellation of run {args.run} requested")
    return EXIT_OK


def api_command(args: argparse.Namespace) -> int:
    """``kworkflow api``: serve the HTTP API (``python -m api.serve``)."""
    try:
        serve = importlib.import_module("api.serve")
    except ImportError as exc:
        raise CLIError(f"the HTTP API cannot be loaded: {exc}", EXIT_USAGE) from None
    argv = [
        *(["--host", args.host] if args.host else []),
        *(["--port", str(args.port)] if args.port is not None else []),
    ]
    code = serve.main(argv)
    return code if isinstance(code, int) else EXIT_OK


def follow_to_end(api: ApiClient, run_id: str) -> int:
    """Follow a run on stderr until it ends (:func:`follow`), then say how it ended
    (:func:`report_outcome`); its exit code. Ctrl-C stops following and leaves the run going."""
    try:
        view = follow(api, run_id, sys.stderr)
    except KeyboardInterrupt:
        print(f"kworkflow: stopped following; run {run_id} goes on", file=sys.stderr)
        return EXIT_INTERRUPTED
    return report_outcome(view)


def follow(api: ApiClient, run_id: str, out: TextIO) -> dict[str, Any]:
    """Print one line per event of the run on ``out`` until it ends; its final view.

    A stream that ends without a ``run_*`` event (a restarted server) is reopened from the
    last event received, unless the run has ended meanwhile.
    """
    progress = Progress(api, run_id, out)
    last_id: str | None = None
    while True:
        for event in api.events(run_id, last_id):
            last_id = event.id
            try:
                data = json.loads(event.data)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                progress.show(event.event, data)
            if event.event.startswith("run_") and event.event not in GOING_ON:
                return api.get_run(run_id)
        view = api.get_run(run_id)
        if view.get("status") in (*TERMINAL_STATUSES, STALLED):
            return view
        time.sleep(1.0)


class Progress:
    """Turns run events into terminal lines: ``12:03:04  fetch      started``."""

    def __init__(self, api: ApiClient, run_id: str, out: TextIO) -> None:
        self.api = api
        self.run_id = run_id
        self.out = out
        self.started: dict[str, datetime] = {}

    def show(self, kind: str, data: dict[str, Any]) -> None:
        """Print the line of one event (``kind`` is the SSE ``event:`` field)."""
        kind = str(data.get("type") or kind)
        at = _parse_time(data.get("at")) or datetime.now().astimezone()
        step = str(data.get("step") or "run")
        text = self.describe(kind, step, at, data)
        print(f"{at.astimezone():%H:%M:%S}  {step:<{STEP_WIDTH}} {text}", file=self.out, flush=True)

    def describe(self, kind: str, step: str, at: datetime, data: dict[str, Any]) -> str:
        """What happened, after the time and the step id."""
        what = kind.removeprefix("step_").removeprefix("run_")
        error = _error_text(data.get("error"), with_type=kind.startswith("step_"))
        if kind == "step_started":
            self.started.setdefault(step, at)
            return "started"
        if kind == "step_retrying":
            about = [f"attempt {data['attempt']}"] if data.get("attempt") else []
            about += [str(data["path"])] if data.get("path") else []
            return "retrying" + (f" ({', '.join(about)})" if about else "")
        if kind == "step_waiting":
            return self._waiting(str(data.get("path") or step))
        if kind.startswith("breakpoint_"):  # "held before it starts (kworkflow runs continue ...)"
            return breakpoint_text(self.run_id, kind, data)
        if kind == "run_upgraded":  # "upgraded from v1 to v2 by acme:ab12"
            by = f" by {data['by']}" if data.get("by") else ""
            return f"upgraded from v{data.get('from_version')} to v{data.get('to_version')}{by}"
        if kind in GOING_ON:  # "paused by acme:ab12: deploy"
            by = f" by {data['by']}" if data.get("by") else ""
            return what + by + (f": {data['reason']}" if data.get("reason") else "")
        if kind in LINEAGE:  # a retry or fork: what it took from the original
            since = f" from {data['from_step']}" if data.get("from_step") else ""
            by = f" by {data['by']}" if kind == "step_edited" and data.get("by") else ""
            return f"{LINEAGE[kind]} {data.get('origin')}{since}{by}"
        if kind == "step_succeeded" and step in self.started:
            return f"succeeded in {_seconds((at - self.started[step]).total_seconds())}"
        return f"{what}: {error}" if error else what

    def _waiting(self, step: str) -> str:
        pending = {}
        for item in self.api.get_run(self.run_id).get("pending_human") or []:
            if item.get("step") == step:
                pending = item
        prompt = f": {pending['prompt']}" if pending.get("prompt") else ""
        sample = answer_sample(pending.get("form"))
        return (
            f"waiting for a person{prompt}  (answer: kworkflow respond {self.run_id} {step} "
            f"--data '{sample}')"
        )


def report_outcome(view: dict[str, Any]) -> int:
    """Print a finished run's result (stdout) or why it did not succeed (stderr)."""
    status = view.get("status")
    if status == "succeeded":
        print(_dumps(view.get("result")))
        return EXIT_OK
    if status == "failed":
        error = _error_text(view.get("error"), with_type=False)
        print(f"run {view.get('id')} failed: {error}", file=sys.stderr)
    elif status == STALLED:
        error = _error_text(view.get("error"), with_type=False)
        print(
            f"run {view.get('id')} is stalled: {error}; `kworkflow cancel {view.get('id')}` "
            "ends it",
            file=sys.stderr,
        )
    else:
        print(f"run {view.get('id')} {ENDED.get(str(status), status)}", file=sys.stderr)
    return EXIT_FAILED


def summary(view: dict[str, Any]) -> str:
    """A run view as text: status, steps, pending people, result or error, usage."""
    lines = [f"run {view.get('id')}: {view.get('workflow')} v{view.get('version')}"]
    lines.append(f"status    {view.get('status')}")
    lines.append(f"started   {_when(view.get('started_at'))}")
    scheduled = view.get("scheduled") or {}
    if scheduled:  # which schedule started the run, for which fire time
        lines.append(
            f"scheduled by {scheduled.get('schedule_id')} for {scheduled.get('scheduled_at')}"
        )
    lineage = view.get("retry_of") or {}
    lines += compensation_lines(view)  # a compensation run, or a compensated run
    if lineage and lineage.get("mode") != "compensate":
        since = f" from {lineage['from']}" if lineage.get("from") else ""
        kind = "fork of " if lineage.get("mode") == "fork" else "retry of"
        lines.append(f"{kind}  {lineage.get('run_id')}{since}")
    upgraded = view.get("upgraded") or {}
    if upgraded:
        by = f" by {upgraded['by']}" if upgraded.get("by") else ""
        lines.append(f"upgraded  from v{upgraded.get('from_version')}{by}")
    for retry in view.get("retries") or []:
        lines.append(f"retried   as {retry}")
    if view.get("ended_at"):
        took = _took(view.get("started_at"), view.get("ended_at"))
        lines.append(f"ended     {_when(view.get('ended_at'))}  ({took})")
    steps = view.get("steps") or {}
    if steps:
        width = max(STEP_WIDTH, *(len(str(k)) for k in steps))
        lines.append("steps")
        for step_id, step in steps.items():
            attempts = step.get("attempts") or 0
            cells = [
                f"  {step_id:<{width}}",
                f"{step.get('status')!s:<10}",
                f"{attempts} attempt{'s' if attempts != 1 else ''}",
            ]
            took = _took(step.get("started_at"), step.get("ended_at"))
            if took:
                cells.append(took)
            error = _error_text(step.get("error"))
            if error:
                cells.append(error)
            lines.append("  ".join(cells))
    for pending in view.get("pending_human") or []:
        lines.append(f"waiting   {pending.get('step')}: {pending.get('prompt') or '(no prompt)'}")
        if pending.get("since"):
            lines.append(f"  since {_when(pending['since'])}")
        if pending.get("timeout_at"):
            lines.append(f"  times out {_when(pending['timeout_at'])}")
        if pending.get("assignees"):
            lines.append(f"  assignees {', '.join(str(a) for a in pending['assignees'])}")
        lines.extend(f"  {field}" for field in form_fields(pending.get("form")))
        lines.append(
            f"  answer: kworkflow respond {view.get('id')} {pending.get('step')} "
            f"--data '{answer_sample(pending.get('form'))}'"
        )
    if view.get("error"):
        lines.append(f"error     {_error_text(view['error'], with_type=False)}")
    elif view.get("status") == "succeeded":
        lines.append("result")
        lines.extend(f"  {line}" for line in _dumps(view.get("result")).splitlines())
    usage = view.get("usage") or {}
    cost = view.get("cost_usd")
    lines.append(
        f"tokens    {usage.get('input_tokens') or 0} in, {usage.get('output_tokens') or 0} out"
        + (f"; cost ${cost:.4f}" if isinstance(cost, int | float) else "")
    )
    return "\n".join(lines) + "\n"


def form_fields(form: Any) -> list[str]:
    """One line per property of a human step's form: ``name: type (required) - description``."""
    if not isinstance(form, dict):
        return []
    required = set(form.get("required") or [])
    lines = []
    for name, schema in (form.get("properties") or {}).items():
        schema = schema if isinstance(schema, dict) else {}
        kinds = [str(schema.get("type") or "any")]
        if isinstance(schema.get("enum"), list):
            kinds.append("one of " + ", ".join(json.dumps(v) for v in schema["enum"]))
        kind = ", ".join(kinds)
        note = " (required)" if name in required else ""
        about = f" - {schema['description']}" if schema.get("description") else ""
        lines.append(f"{name}: {kind}{note}{about}")
    return lines


def answer_sample(form: Any) -> str:
    """A ``--data`` template for a form: its required properties (all, if none is) as
    ``<type>`` placeholders, so a copied command cannot send an answer by accident."""
    if not isinstance(form, dict) or not form.get("properties"):
        return "{...}"
    properties: dict[str, Any] = form["properties"]
    names = [n for n in form.get("required") or [] if n in properties] or list(properties)
    parts = []
    for name in names:
        schema = properties[name] if isinstance(properties[name], dict) else {}
        parts.append(f'"{name}": <{schema.get("type", "value")}>')
    return "{" + ", ".join(parts) + "}"


def _print_problems(source: str, problems: list[dict[str, Any]]) -> int:
    """Print the API's findings as ``FILE:LINE:COL: PATH: message``; how many there were."""
    from cli.offline import format_problem
    from interpreter.errors import Problem

    for item in problems:
        problem = Problem(
            path=str(item.get("path") or ""),
            message=str(item.get("message") or ""),
            line=item.get("line"),
            column=item.get("column"),
            step=item.get("step"),
            code=str(item.get("code") or "schema"),
            severity="warning" if item.get("severity") == "warning" else "error",
        )
        print(format_problem(source, problem), file=sys.stderr)
    return len(problems)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _error_text(error: Any, *, with_type: bool = True) -> str:
    """``TYPE: message`` of an error object (a run's: its message, which names the step and
    the step's error); a string as itself; empty for none."""
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        if kind and message and with_type:
            return f"{kind}: {message}"
        return str(message or kind or "")
    return str(error) if error else ""


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.astimezone()


def _when(value: Any) -> str:
    """An API timestamp in local time, to the second."""
    parsed = _parse_time(value)
    return f"{parsed.astimezone():%Y-%m-%d %H:%M:%S}" if parsed else str(value or "-")


def _took(start: Any, end: Any) -> str:
    first, last = _parse_time(start), _parse_time(end)
    return _seconds((last - first).total_seconds()) if first and last else ""


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds >= 0.1 else f"{seconds * 1000:.0f}ms"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"

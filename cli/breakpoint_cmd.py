"""``kworkflow runs start NAME --breakpoint STEP[:when]`` and ``kworkflow runs continue RUN``:
starting a run that stops at breakpoints, and letting a held run go on (interpreter.breakpoints).

``runs start`` is ``trigger`` with breakpoints: ``--breakpoint STEP`` stops before STEP,
``STEP:after`` after it ran, ``STEP:both`` both (repeatable). ``runs continue RUN`` lets the step
the run is held at go on (``--step`` names it when several are held), with ``--input`` (before)
or ``--output`` (after) replacing what the run shows, as JSON or ``@file.json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.args import add_trigger_arguments, parse_input
from cli.errors import EXIT_FAILED, EXIT_OK, ApiError, CLIError

WHENS = ("before", "after", "both")


def add_breakpoint_parsers(runs_commands: Any) -> None:
    """The ``runs start`` and ``runs continue`` parsers."""
    start = runs_commands.add_parser(
        "start",
        help="start a run, maybe with breakpoints",
        description="Start a run of the published workflow NAME, as `trigger` does; with "
        "--breakpoint STEP it stops before STEP starts (STEP:after: after it ran, STEP:both: "
        "both), shows the step's input or output, and waits for `kworkflow runs continue`.",
    )
    add_trigger_arguments(start)
    start.add_argument(
        "--breakpoint",
        action="append",
        default=[],
        dest="breakpoints",
        metavar="STEP[:before|after|both]",
        help="stop at STEP (default: before it starts); repeatable",
    )
    start.set_defaults(command_ref="cli.breakpoint_cmd:start_command")

    cont = runs_commands.add_parser(
        "continue",
        help="let a run held at a breakpoint go on",
        description="Let run RUN, held at a breakpoint, go on: before a step, --input replaces "
        "fields of its resolved input (as `runs show --json` shows it); after a step, --output "
        "replaces its output, whole (checked against its form or output_schema).",
    )
    cont.add_argument("run", metavar="RUN")
    cont.add_argument("--step", metavar="STEP", help="the held step (default: where it is held)")
    edit = cont.add_mutually_exclusive_group()
    edit.add_argument("--input", metavar="JSON|@FILE", help="before a step: its new fields")
    edit.add_argument("--output", metavar="JSON|@FILE", help="after a step: its new output")
    cont.set_defaults(command_ref="cli.breakpoint_cmd:continue_command")


def parse_breakpoints(values: list[str]) -> dict[str, list[str]] | None:
    """``--breakpoint`` values as ``{before: [...], after: [...]}`` (None: none given).

    Raises:
        CLIError: A value whose ``:when`` is not before, after or both.
    """
    if not values:
        return None
    before: list[str] = []
    after: list[str] = []
    for value in values:
        step, _, when = value.partition(":")
        when = when or "before"
        if not step or when not in WHENS:
            raise CLIError(f"--breakpoint {value}: expected STEP, STEP:after or STEP:both")
        if when in ("before", "both") and step not in before:
            before.append(step)
        if when in ("after", "both") and step not in after:
            after.append(step)
    return {"before": before, "after": after}


def start_command(args: argparse.Namespace) -> int:
    """``kworkflow runs start NAME [--breakpoint STEP]...``: the run id (``trigger`` with
    breakpoints)."""
    from cli.remote import trigger_command

    args.breakpoints = parse_breakpoints(args.breakpoints)
    return trigger_command(args)


def continue_command(args: argparse.Namespace) -> int:
    """``kworkflow runs continue RUN``: prints where the run went on; 1 when refused."""
    body: dict[str, Any] = {}
    if args.input is not None:
        body["input"] = parse_input(args.input, "--input")
    if args.output is not None:
        body["output"] = parse_input(args.output, "--output")
    from cli.http import ApiClient

    with ApiClient.from_env() as api:
        step = args.step
        if step is None:
            at = (api.get_run(args.run).get("paused") or {}).get("at")
            if not at:
                raise CLIError(f"run {args.run} is not at a breakpoint", EXIT_FAILED)
            step = at["step"]
        try:
            answer = api.continue_run(args.run, {"step": step, **body})
        except ApiError as exc:
            raise CLIError(f"run {args.run}: {exc}", EXIT_FAILED) from None
    what = "input" if answer["when"] == "before" else "output"
    edited = f" ({what} edited)" if answer["edited"] else ""
    print(f"run {args.run} continued {answer['when']} {answer['step']}{edited}")
    at = (answer.get("paused") or {}).get("at")
    if at:
        print(f"run {args.run} is held {at['when']} {at['step']}", file=sys.stderr)
    return EXIT_OK


def breakpoint_text(run_id: str, kind: str, data: dict[str, Any]) -> str:
    """How ``runs start --follow`` shows a ``breakpoint_hit`` or ``breakpoint_continued``."""
    when = data.get("when")
    if kind == "breakpoint_hit":
        shown = "its input" if when == "before" else "its output"
        return (
            f"held {when} it {'starts' if when == 'before' else 'ends'} ({shown}: kworkflow runs "
            f"show {run_id} --json; go on: kworkflow runs continue {run_id})"
        )
    by = f" by {data['by']}" if data.get("by") else ""
    return f"continued{' (edited)' if data.get('edited') else ''}{by}"

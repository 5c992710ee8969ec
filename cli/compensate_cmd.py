"""``kworkflow runs compensate RUN``: compensate a failed or cancelled run through the API
(``POST /v1/runs/{id}/compensate``), and the parser entry of the command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.errors import EXIT_OK

STEP_WIDTH = 10


def add_compensate_parser(runs_commands: Any) -> None:
    """``kworkflow runs compensate RUN [--follow]``."""
    command = runs_commands.add_parser(
        "compensate",
        help="compensate a failed or cancelled run in a new run",
        description="Compensate run RUN (failed, cancelled or timed out) in a new run, "
        "RUN-compensate: the `compensate` spec of every step that succeeded runs, latest step "
        "first. Asking twice names the same run.",
    )
    command.add_argument("run", metavar="RUN", help="the run")
    command.add_argument(
        "--follow", action="store_true", help="show the compensation's progress, then its end"
    )
    command.set_defaults(command_ref="cli.compensate_cmd:compensate_command")


def compensation_lines(view: dict[str, Any]) -> list[str]:
    """The lines ``runs show`` prints about a run's compensation (none when it has none)."""
    lines = []
    lineage = view.get("retry_of") or {}
    if lineage.get("mode") == "compensate":
        lines.append(f"undoes    {lineage.get('run_id')}")
    compensation = view.get("compensation")
    if not isinstance(compensation, dict):
        return lines
    by = f" by {compensation['run_id']}" if compensation.get("run_id") else ""
    lines.append(f"compensation {compensation.get('status')}{by}")
    for step in compensation.get("steps") or []:
        attempts = step.get("attempts") or 0
        error = step.get("error") or {}
        cells = [
            f"  undo {step.get('step')!s:<{STEP_WIDTH}}",
            f"{step.get('status')!s:<10}",
            f"{attempts} attempt{'s' if attempts != 1 else ''}",
        ]
        if error:
            cells.append(f"{error.get('type')}: {error.get('message')}")
        lines.append("  ".join(cells))
    return lines


def compensate_command(args: argparse.Namespace) -> int:
    """Print the compensation run and the steps it compensates (with ``--follow``: on stderr,
    then its progress, then its result on stdout). Exit 1 when the API refuses or the followed
    compensation does not succeed."""
    from cli.http import ApiClient
    from cli.remote import follow_to_end

    with ApiClient.from_env() as api:
        status, out = api.compensate(args.run)
        stream = sys.stderr if args.follow else sys.stdout
        verb = "compensates" if status == 201 else "already compensates"
        print(f"run {out['run_id']} {verb} {out['compensation_of']}", file=stream)
        print(f"  steps: {', '.join(out['steps']) or '-'}", file=stream)
        if not args.follow:
            return EXIT_OK
        return follow_to_end(api, out["run_id"])

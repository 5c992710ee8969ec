"""``kworkflow schedules list|show|pause|resume|trigger|backfill``: a workflow's schedules (its
published ``triggers:``) through the API's ``/v1/schedules`` routes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from cli.errors import EXIT_OK
from cli.http import ApiClient

OVERLAPS = ("skip", "buffer_one", "buffer_all", "allow")


def add_schedules_parser(commands: Any) -> None:
    """The ``schedules`` command and its subcommands."""
    schedules = commands.add_parser(
        "schedules",
        help="list, show, pause, resume, trigger or backfill schedules",
        description="The schedules of published workflows (one per entry of `triggers:`), by "
        "id TENANT:WORKFLOW:TRIGGER.",
    )
    sub = schedules.add_subparsers(dest="schedules_command", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", help="a table of schedules", description="A table of "
                             "your schedules: state, next fire time, last run.")  # fmt: skip
    listing.add_argument("--workflow", metavar="NAME", help="only schedules of this workflow")
    listing.set_defaults(command_ref="cli.schedules_cmd:list_command")
    show = sub.add_parser("show", help="one schedule", description="A schedule's trigger, "
                          "state, next fire times and recent runs.")  # fmt: skip
    show.add_argument("schedule", metavar="ID")
    show.add_argument("--json", action="store_true", help="print the API's view as it is")
    show.set_defaults(command_ref="cli.schedules_cmd:show_command")
    for action, what in (
        ("pause", "Pause schedule ID: it starts no run at its times until resumed."),
        ("resume", "Resume schedule ID from its next time (missed times are not run)."),
    ):
        command = sub.add_parser(action, help=f"{action} a schedule", description=what)
        command.add_argument("schedule", metavar="ID")
        command.add_argument("--note", metavar="TEXT", help="why, kept on the schedule")
        command.set_defaults(command_ref="cli.schedules_cmd:state_command", action=action)
    trigger = sub.add_parser("trigger", help="start a run now", description="Start a run of "
                             "schedule ID now and print its run id.")  # fmt: skip
    trigger.add_argument("schedule", metavar="ID")
    trigger.add_argument("--overlap", choices=OVERLAPS, default="allow",
                         help="if one of its runs is running (default: allow)")  # fmt: skip
    trigger.set_defaults(command_ref="cli.schedules_cmd:trigger_command")
    backfill = sub.add_parser("backfill", help="run the fire times of a past range",
                              description="Start the runs of schedule ID's fire times from "
                              "--start to --end (both included, ISO 8601, UTC when no zone "
                              "is given).")  # fmt: skip
    backfill.add_argument("schedule", metavar="ID")
    backfill.add_argument("--start", required=True, metavar="TIME")
    backfill.add_argument("--end", required=True, metavar="TIME")
    backfill.add_argument("--overlap", choices=OVERLAPS, default="allow",
                          help="if one of its runs is running (default: allow)")  # fmt: skip
    backfill.set_defaults(command_ref="cli.schedules_cmd:backfill_command")


def print_schedules(published: dict[str, Any]) -> None:
    """After ``published NAME vN``: the version's schedules and those it deleted, if any."""
    for key, what in (("schedules", "schedule"), ("schedules_deleted", "deleted schedule")):
        for schedule_id in published.get(key) or []:
            print(f"  {what} {schedule_id}")


def _path(schedule_id: str, action: str = "") -> str:
    return f"/v1/schedules/{quote(schedule_id, safe='')}{action}"


def list_command(args: argparse.Namespace) -> int:
    """A table: ID, VERSION, STATE, NEXT, LAST RUN."""
    params = {"workflow": args.workflow} if args.workflow else None
    with ApiClient.from_env() as api:
        rows = api._json("GET", "/v1/schedules", params=params)[1]["schedules"]
    if not rows:
        print("no schedules", file=sys.stderr)
        return EXIT_OK
    table = [["ID", "VERSION", "STATE", "NEXT", "LAST RUN"]]
    for row in rows:
        last = row.get("last_run") or {}
        state = "paused" if row["paused"] else "active"
        table.append([row["id"], str(row["version"]), state, row["next_run"] or "-",
                      last.get("run_id") or "-"])  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


def show_command(args: argparse.Namespace) -> int:
    """A readable summary of one schedule (``--json``: the API's view)."""
    with ApiClient.from_env() as api:
        view = api._json("GET", _path(args.schedule))[1]
    if args.json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
        return EXIT_OK
    state = "paused" if view["paused"] else "active"
    note = f" ({view['note']})" if view.get("note") else ""
    lines = [
        f"schedule {view['id']}: {state}{note}",
        f"  workflow: {view['workflow']} v{view['version']}",
        f"  schedule: {json.dumps(view['schedule'], ensure_ascii=False)}",
        f"  next:     {', '.join(view['next_runs'][:3]) or '-'}",
        f"  runs:     {view['actions']} started",
    ]
    lines += [f"    {r['scheduled_at']}  {r['run_id']}" for r in view["recent_runs"]]
    print("\n".join(lines))
    return EXIT_OK


def state_command(args: argparse.Namespace) -> int:
    """``pause`` or ``resume``: what was done."""
    body = {"note": args.note} if args.note else None
    with ApiClient.from_env() as api:
        out = api._json("POST", _path(args.schedule, f"/{args.action}"), body=body)[1]
    done = {"pause": "paused", "resume": "resumed"}[args.action]
    what = done if out["changed"] else f"already {'paused' if out['paused'] else 'active'}"
    print(f"schedule {out['schedule_id']} {what}")
    return EXIT_OK


def trigger_command(args: argparse.Namespace) -> int:
    """The run id the trigger started (or a note that none was seen yet)."""
    with ApiClient.from_env() as api:
        out = api._json("POST", _path(args.schedule, "/trigger"), body={"overlap": args.overlap})
    run_id = out[1]["run_id"]
    if run_id is None:
        print(f"schedule {args.schedule} triggered; no run seen yet", file=sys.stderr)
    else:
        print(run_id)
    return EXIT_OK


def backfill_command(args: argparse.Namespace) -> int:
    """How many runs the backfill asked for."""
    body = {"start": args.start, "end": args.end, "overlap": args.overlap}
    with ApiClient.from_env() as api:
        out = api._json("POST", _path(args.schedule, "/backfill"), body=body)[1]
    print(f"schedule {out['schedule_id']}: backfill of {out['runs']} run(s) from "
          f"{out['start']} to {out['end']}")  # fmt: skip
    return EXIT_OK

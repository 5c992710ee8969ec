"""The ``kworkflow`` command: parse arguments, run one command, turn errors into exit codes.

Every command's arguments are declared here; a command's module is imported only when that
command runs, so ``lint`` does not pay for the Temporal client.

Exit codes (see :mod:`cli.errors`): 0 success; 1 lint findings, or a run that failed, timed out
or was cancelled, or a dev-stack process that died, or a request the API refused (a definition
it rejected, an answer it did not accept, an unknown run); 2 nothing was started (bad
arguments, a definition that does not load or lint, bad input, an unknown workflow, a port in
use, an API key the API refused); 3 the Temporal server or the API cannot be reached; 130
interrupted. Errors are printed as ``kworkflow: <message>``, never as a
traceback (set ``KWORKFLOW_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from cli.args import add_input_option, add_trigger_arguments
from cli.breakpoint_cmd import add_breakpoint_parsers
from cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CLIError
from cli.events_cmd import add_events_parser
from cli.hooks_cmd import add_hooks_parser
from cli.init_cmd import add_init_parser
from cli.schedules_cmd import add_schedules_parser
from cli.upgrade_cmd import add_upgrade_parser
from storage import StorageError

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="kworkflow",
        description="Run kworkflow/v1 YAML workflow definitions on Temporal.",
        epilog="Configuration: TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default), "
        "KWORKFLOW_TASK_QUEUE (kworkflow); for the API commands KWORKFLOW_URL "
        "(http://127.0.0.1:8000) and KWORKFLOW_API_KEY.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    add_init_parser(commands)

    lint = commands.add_parser(
        "lint",
        help="check definition files",
        description="Check definition files; each finding is printed on stderr as "
        "FILE:LINE:COL: PATH: message (a warning's message starts with `warning:`). "
        "Exit 0 when clean or with warnings only, 1 on any error (or warning, with --strict).",
    )
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.add_argument(
        "--remote",
        action="store_true",
        help="also check tools, providers and models against the workers the API at "
        "KWORKFLOW_URL knows (KWORKFLOW_API_KEY)",
    )
    lint.set_defaults(command_ref="cli.offline:lint_command")

    render = commands.add_parser(
        "render",
        help="draw a definition's graph",
        description="Print a definition's graph as Mermaid (default) or Graphviz DOT.",
    )
    render.add_argument("file", metavar="FILE")
    render.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    render.set_defaults(command_ref="cli.offline:render_command")

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the definition format",
        description="Print the JSON Schema (draft 2020-12) of kworkflow/v1 definitions, for "
        "editors' YAML language servers (docs/editor.md).",
    )
    schema.set_defaults(command_ref="cli.schema_cmd:schema_command")

    run = commands.add_parser(
        "run",
        help="run a definition file and print its result",
        description="Lint FILE, check the input against its schema, pin named subflows from "
        "FILE's directory and the --lib directories, start a run on the configured Temporal "
        "server and task queue, wait, and print the result as JSON.",
    )
    run.add_argument("file", metavar="FILE")
    add_input_option(run)
    run.add_argument("--no-wait", action="store_true", help="print the run id and exit")
    run.add_argument("--run-id", metavar="ID", help="the run id (default: NAME-<8 hex digits>)")
    run.add_argument(
        "--lib",
        action="append",
        default=[],
        metavar="DIR",
        help="another directory to look for named subflows in (after FILE's own); repeatable",
    )
    run.set_defaults(command_ref="cli.runs:run_command")

    worker = commands.add_parser(
        "worker",
        help="run a worker (same as `python worker.py`)",
        description="Run a kworkflow worker on KWORKFLOW_TASK_QUEUE at TEMPORAL_ADDRESS until "
        "Ctrl-C or SIGTERM.",
    )
    from telemetry.ports import add_metrics_port_option

    add_metrics_port_option(worker)
    worker.set_defaults(command_ref="cli.worker_cmd:worker_command")

    env = os.environ
    dev = commands.add_parser(
        "dev",
        help="run the embedded stack: a Temporal dev server, a worker and the HTTP API",
        description="Start a Temporal dev server (state in an SQLite file), one kworkflow "
        "worker and the HTTP API, print their addresses, and stay in the foreground; Ctrl-C "
        "stops them all.",
    )
    dev.add_argument(
        "--ip",
        default=env.get("KWORKFLOW_DEV_IP", "127.0.0.1"),
        help="address to bind (default: 127.0.0.1; env KWORKFLOW_DEV_IP)",
    )
    dev.add_argument(
        "--port",
        type=int,
        default=env.get("KWORKFLOW_DEV_PORT", "7233"),  # argparse applies `type`
        help="Temporal frontend port (default: 7233; env KWORKFLOW_DEV_PORT)",
    )
    dev.add_argument(
        "--ui-port",
        type=int,
        default=env.get("KWORKFLOW_DEV_UI_PORT", "8233"),
        help="Web UI port (default: 8233; env KWORKFLOW_DEV_UI_PORT)",
    )
    dev.add_argument(
        "--api-port",
        type=int,
        default=env.get("KWORKFLOW_DEV_API_PORT", "8000"),
        help="HTTP API port (default: 8000; env KWORKFLOW_DEV_API_PORT)",
    )
    dev.add_argument(
        "--db-filename",
        type=Path,
        default=Path(env.get("KWORKFLOW_DEV_DB", ".kworkflow/temporal.db")),
        help="the server's SQLite file (default: .kworkflow/temporal.db; env KWORKFLOW_DEV_DB)",
    )
    dev.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the server to answer (default: 60)",
    )
    dev.set_defaults(command_ref="cli.dev:dev_command")
    _add_remote_commands(commands)
    add_schedules_parser(commands)
    return parser


def _add_remote_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that talk to the HTTP API (``KWORKFLOW_URL``, ``KWORKFLOW_API_KEY``)."""
    publish = commands.add_parser(
        "publish",
        help="publish a definition to the API as its next version",
        description="Send FILE (YAML, or JSON for a .json file) to the API, which checks it and "
        "stores it as the next version of its name. Prints `published NAME vN`; the API's "
        "findings are printed as FILE:LINE:COL: PATH: message (exit 1).",
    )
    publish.add_argument("file", metavar="FILE")
    publish.set_defaults(command_ref="cli.remote:publish_command")

    trigger = commands.add_parser(
        "trigger",
        help="start a run of a published workflow",
        description="Start a run of the published workflow NAME (its latest version unless "
        "--version) and print the run id; with --follow, show each step's progress on stderr "
        "until the run ends, then print its result as JSON.",
    )
    add_trigger_arguments(trigger)
    trigger.set_defaults(command_ref="cli.remote:trigger_command")

    runs = commands.add_parser(
        "runs", help="list runs, or show one", description="List runs, or show one run."
    )
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    runs_list = runs_commands.add_parser(
        "list", help="a table of runs", description="A table of runs, newest first."
    )
    runs_list.add_argument("--workflow", metavar="NAME", help="only runs of this workflow")
    runs_list.add_argument(
        "--status",
        choices=(
            "running",
            "paused",
            "stalled",
            "succeeded",
            "failed",
            "cancelled",
            "terminated",
            "timed_out",
        ),
        help="only runs in this status",
    )
    runs_list.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N rows (default 50; 0: all)"
    )
    runs_list.set_defaults(command_ref="cli.remote:runs_list_command")
    runs_show = runs_commands.add_parser(
        "show",
        help="a run's status, steps, pending people, result and cost",
        description="A readable summary of one run; --json prints the API's view as it is.",
    )
    runs_show.add_argument("run", metavar="RUN")
    runs_show.add_argument("--json", action="store_true", help="print the raw run view")
    runs_show.set_defaults(command_ref="cli.remote:runs_show_command")
    for action, what in (
        ("pause", "Pause run RUN: it starts no new step (running steps finish, waiting human "
         "steps still take answers, its timeout keeps counting); pausing a paused run changes "
         "nothing. --workflow NAME pauses every running run of NAME."),
        ("resume", "Resume run RUN where it stopped; resuming a running run changes nothing. "
         "--workflow NAME resumes every paused run of NAME."),
    ):  # fmt: skip
        command = runs_commands.add_parser(action, help=f"{action} a run", description=what)
        target = command.add_mutually_exclusive_group(required=True)
        target.add_argument("run", metavar="RUN", nargs="?", help="the run")
        target.add_argument("--workflow", metavar="NAME", help=f"{action} every run of NAME")
        command.add_argument("--reason", metavar="TEXT", help="why, for the run's log")
        command.set_defaults(command_ref="cli.remote:runs_action_command", action=action)

    add_retry_parser(runs_commands)
    add_breakpoint_parsers(runs_commands)
    add_compensate_parser(runs_commands)
    add_upgrade_parser(runs_commands)
    add_events_parser(commands)
    add_hooks_parser(commands)

    respond = commands.add_parser(
        "respond",
        help="answer a run's waiting human step",
        description="Answer the human step STEP of run RUN; the answer is checked against the "
        "step's form. Prints the accepted answer.",
    )
    respond.add_argument("run", metavar="RUN")
    respond.add_argument("step", metavar="STEP")
    respond.add_argument(
        "--data", required=True, metavar="JSON|@FILE", help="the answer: JSON, or @path"
    )
    respond.set_defaults(command_ref="cli.remote:respond_command")

    cancel = commands.add_parser(
        "cancel",
        help="cancel a run",
        description="Cancel run RUN: its running steps are cancelled, then it ends. A stalled "
        "run (its workflow task keeps failing) is terminated after a grace period.",
    )
    cancel.add_argument("run", metavar="RUN")
    cancel.add_argument(
        "--force", action="store_true", help="terminate the run at once, without cancelling"
    )
    cancel.set_defaults(command_ref="cli.remote:cancel_command")

    api = commands.add_parser(
        "api",
        help="serve the HTTP API (same as `python -m api.serve`)",
        description="Serve the kworkflow HTTP API (OpenAPI at /docs). Configuration: "
        "KWORKFLOW_API_KEYS or KWORKFLOW_API_KEYS_FILE, KWORKFLOW_DATABASE_URL, "
        "TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, KWORKFLOW_TASK_QUEUE.",
    )
    api.add_argument("--host", help="address to bind (default: 127.0.0.1; KWORKFLOW_API_HOST)")
    api.add_argument("--port", type=int, help="port (default: 8000; KWORKFLOW_API_PORT)")
    api.set_defaults(command_ref="cli.remote:api_command")


def add_compensate_parser(runs_commands: Any) -> None:
    """``kworkflow runs compensate RUN`` (:mod:`cli.compensate_cmd`)."""
    from cli.compensate_cmd import add_compensate_parser as add

    add(runs_commands)


def add_retry_parser(runs_commands: Any) -> None:
    """``kworkflow runs retry RUN [--from STEP] [--version N]`` and its bulk form, and
    ``kworkflow runs fork RUN --from STEP [--set STEP=JSON]...``."""
    retry = runs_commands.add_parser(
        "retry",
        help="retry an ended run in a new run",
        description="Retry run RUN in a new run: the steps that failed, were cancelled or did "
        "not run run again (with --from STEP: that step and everything downstream of it too); "
        "the others keep their outputs, and answered human steps are not asked again. Asking "
        "for the same retry twice names the same new run. --workflow NAME retries every failed "
        "run of NAME (each once).",
    )
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("run", metavar="RUN", nargs="?", help="the run")
    target.add_argument("--workflow", metavar="NAME", help="retry every failed run of NAME")
    retry.add_argument("--from", dest="from_step", metavar="STEP", help="retry from this step")
    retry.add_argument("--version", type=int, metavar="N", help="run this published version")
    retry.add_argument(
        "--follow", action="store_true", help="show the new run's progress, then its result"
    )
    retry.add_argument("--since", metavar="TIME", help="bulk: runs that ended since (ISO 8601)")
    retry.add_argument("--error-type", metavar="TYPE", help="bulk: runs that failed with TYPE")
    retry.set_defaults(command_ref="cli.retry_cmd:retry_command")

    fork = runs_commands.add_parser(
        "fork",
        help="fork a run from a step, with edited outputs",
        description="Start a new run from step STEP of run RUN: STEP and everything downstream "
        "of it run again; the steps before it keep their outputs, or take the ones given with "
        "--set (each checked against the step's form or output_schema).",
    )
    fork.add_argument("run", metavar="RUN", help="the run")
    fork.add_argument("--from", dest="from_step", required=True, metavar="STEP")
    fork.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STEP=JSON|@FILE",
        help="the new output (whole) of STEP; repeatable",
    )
    fork.add_argument("--version", type=int, metavar="N", help="run this published version")
    fork.add_argument(
        "--follow", action="store_true", help="show the new run's progress, then its result"
    )
    fork.set_defaults(command_ref="cli.retry_cmd:fork_command")


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; never raises."""
    try:
        args = build_parser().parse_args(argv)
        module, _, name = args.command_ref.partition(":")
        command = cast(Command, getattr(importlib.import_module(module), name))
        return command(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except CLIError as exc:
        _error(str(exc))
        return exc.code
    except StorageError as exc:  # a KWORKFLOW_BLOB_* / KWORKFLOW_PAYLOAD_* setting
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug, not a mistake: no traceback unless asked for
        if os.environ.get("KWORKFLOW_DEBUG"):
            traceback.print_exc()
        _error(f"unexpected error: {type(exc).__name__}: {exc} (KWORKFLOW_DEBUG=1 shows more)")
        return EXIT_FAILED


def main() -> None:
    """Console entry point: run, flush, and leave with ``os._exit`` (sdk-python#300)."""
    code = run()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        code = EXIT_BROKEN_PIPE
    sys.stderr.flush()
    os._exit(code)


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a writer whose reader closed the pipe."""


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered goes nowhere, silently."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _error(message: str) -> None:
    print(f"kworkflow: {message}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""``kworkflow runs retry`` and ``runs fork``: retry one ended run, or every failed run of a
workflow, or fork a run with edited outputs, through the API (``POST /v1/runs/{id}/retry``,
``POST /v1/workflows/{name}/runs/retry``, ``POST /v1/runs/{id}/fork``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.args import parse_input
from cli.errors import EXIT_FAILED, EXIT_OK, CLIError
from cli.http import ApiClient
from cli.remote import follow_to_end


def retry_command(args: argparse.Namespace) -> int:
    """Print the new run (with ``--follow``: on stderr, then its progress, then its result on
    stdout as ``trigger --follow`` does), or in bulk the counts and each ``original -> retry``.

    Exit 1 when the API refuses, the followed run does not succeed, or a bulk retry could not
    retry some runs (``failed`` in the counts).
    """
    if args.workflow is None:
        if args.since is not None or args.error_type is not None:
            raise CLIError("--since and --error-type go with --workflow NAME")
        with ApiClient.from_env() as api:
            status, out = api.retry(args.run, args.from_step, args.version)
            return _started(api, status, out, "retries", args.follow)
    if args.from_step is not None or args.version is not None or args.follow:
        raise CLIError("--from, --version and --follow go with one RUN, not --workflow")
    with ApiClient.from_env() as api:
        counts = api.retry_all(args.workflow, args.since, args.error_type)
    print(
        f"retried {counts['retried']} of {counts['matched']} failed run(s) of {args.workflow} "
        f"({counts['already']} already retried, {counts['skipped']} skipped, "
        f"{counts['failed']} failed)"
    )
    for original, retry in sorted(counts["runs"].items()):
        print(f"  {original} -> {retry}")
    for problem in counts.get("problems") or []:
        print(f"  {problem['run_id']}: {problem['detail']}", file=sys.stderr)
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def fork_command(args: argparse.Namespace) -> int:
    """``kworkflow runs fork RUN --from STEP [--set STEP=JSON|@FILE]...``: the new run, as
    ``runs retry`` prints it (and the edited steps)."""
    edits: dict[str, Any] = {}
    for item in args.set:
        step, sep, value = item.partition("=")
        if not sep or not step:
            raise CLIError(f"--set {item!r}: expected STEP=JSON or STEP=@FILE")
        edits[step] = parse_input(value, f"--set {step}")
    with ApiClient.from_env() as api:
        status, out = api.fork(args.run, args.from_step, edits, args.version)
        return _started(api, status, out, "forks", args.follow)


def _started(api: ApiClient, status: int, out: dict[str, Any], verb: str, follow_it: bool) -> int:
    """Print the run a retry or fork started (on stderr when following it), then follow it."""
    stream = sys.stderr if follow_it else sys.stdout
    verb = verb if status == 201 else f"already {verb}"
    print(f"run {out['run_id']} {verb} {out['retry_of']} (version {out['version']})", file=stream)
    print(f"  reused:  {', '.join(out['reused']) or '-'}", file=stream)
    if out.get("edited"):
        print(f"  edited:  {', '.join(out['edited'])}", file=stream)
    print(f"  retried: {', '.join(out['retried']) or '-'}", file=stream)
    if not follow_it:
        return EXIT_OK
    return follow_to_end(api, out["run_id"])

"""``kworkflow runs retry``: retry one ended run, or every failed run of a workflow, through
the API (``POST /v1/runs/{id}/retry``, ``POST /v1/workflows/{name}/runs/retry``)."""

from __future__ import annotations

import argparse
import sys

from cli.errors import EXIT_FAILED, EXIT_OK, CLIError
from cli.http import ApiClient


def retry_command(args: argparse.Namespace) -> int:
    """Print the new run (or, in bulk, the counts and each ``original -> retry``); exit 1 when
    the API refuses or a bulk retry could not retry some runs (``failed`` in the counts)."""
    if args.workflow is None:
        if args.since is not None or args.error_type is not None:
            raise CLIError("--since and --error-type go with --workflow NAME")
        with ApiClient.from_env() as api:
            status, out = api.retry(args.run, args.from_step, args.version)
        verb = "retries" if status == 201 else "already retries"
        print(f"run {out['run_id']} {verb} {out['retry_of']} (version {out['version']})")
        print(f"  reused:  {', '.join(out['reused']) or '-'}")
        print(f"  retried: {', '.join(out['retried']) or '-'}")
        return EXIT_OK
    if args.from_step is not None or args.version is not None:
        raise CLIError("--from and --version go with one RUN, not --workflow")
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

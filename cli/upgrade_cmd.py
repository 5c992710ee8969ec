"""``kworkflow runs upgrade RUN [--version N]``: move a paused run to a newer published version
of its workflow through the API (``POST /v1/runs/{id}/upgrade``)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.errors import EXIT_OK


def add_upgrade_parser(runs_commands: Any) -> None:
    """``kworkflow runs upgrade RUN [--version N]``."""
    upgrade = runs_commands.add_parser(
        "upgrade",
        help="upgrade a paused run to a newer version",
        description="Upgrade paused run RUN to version N of its workflow (default: the latest "
        "published): the steps it has started keep their state, the others follow the new "
        "version. Refused when the run is not paused, or when a step it has started is missing "
        "from the version or changed kind. The run stays paused: `kworkflow runs resume RUN` "
        "goes on.",
    )
    upgrade.add_argument("run", metavar="RUN", help="the paused run")
    upgrade.add_argument("--version", type=int, metavar="N", help="the version (default: latest)")
    upgrade.set_defaults(command_ref="cli.upgrade_cmd:upgrade_command")


def upgrade_command(args: argparse.Namespace) -> int:
    """Print what changed (``run R upgraded from v1 to v2``, the steps added and removed).

    Exit 1 when the API refuses (not paused, a mismatch, an unknown run or version).
    """
    from cli.http import ApiClient  # only when the command runs (cli.main imports this module)

    body: dict[str, Any] = {} if args.version is None else {"version": args.version}
    with ApiClient.from_env() as api:
        out = api.upgrade(args.run, body)
    print(f"run {out['run_id']} upgraded from v{out['from_version']} to v{out['version']}")
    print(f"  added:   {', '.join(out['added']) or '-'}")
    print(f"  removed: {', '.join(out['removed']) or '-'}")
    print(f"  still paused: kworkflow runs resume {out['run_id']}")
    return EXIT_OK

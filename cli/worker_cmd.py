"""``kworkflow worker``: the same worker as ``python worker.py``."""

from __future__ import annotations

import argparse

import worker


def worker_command(args: argparse.Namespace) -> int:
    """Run the worker until Ctrl-C or SIGTERM; exit 3 if Temporal cannot be reached."""
    return worker.run(port=args.metrics_port)

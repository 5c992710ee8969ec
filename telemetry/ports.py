"""The metrics port of a worker, from ``--metrics-port`` or ``KWORKFLOW_METRICS_PORT``.

Light on purpose (no Temporal import): the CLI declares the option before it imports a command.
"""

from __future__ import annotations

import argparse

from activities.errors import ConfigError


def parse_port(value: str, name: str) -> int:
    """A metrics port: 1 to 65534, since the next port serves Temporal's SDK metrics.

    Raises:
        activities.errors.ConfigError: ``value`` is not such a port (the message names ``name``).
    """
    if not value.isdigit() or not 0 < int(value) < 65535:
        raise ConfigError(f"{name} must be a port number from 1 to 65534, not {value!r}")
    return int(value)


def add_metrics_port_option(parser: argparse.ArgumentParser) -> None:
    """The ``--metrics-port`` option of ``python worker.py`` and ``kworkflow worker``."""

    def port(text: str) -> int:
        try:
            return parse_port(text, "--metrics-port")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser.add_argument(
        "--metrics-port",
        type=port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on this port, Temporal's SDK metrics on the next one "
        "(default: KWORKFLOW_METRICS_PORT; unset: off)",
    )

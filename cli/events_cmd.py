"""``kworkflow events send TYPE``: send a CloudEvent to the API (``POST /v1/events``).

The parser is declared here and imported by :mod:`cli.main`; the HTTP client only when the
command runs.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from cli.errors import EXIT_OK

DEFAULT_SOURCE = "kworkflow-cli"


def add_events_parser(commands: Any) -> None:
    """``kworkflow events send TYPE [--data JSON|@FILE] [--source S] [--id I]``."""
    events = commands.add_parser(
        "events", help="send events to runs and triggers", description="Send CloudEvents."
    )
    events_commands = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    send = events_commands.add_parser(
        "send",
        help="send one CloudEvent",
        description="Send a CloudEvent 1.0 of type TYPE to the API: the runs of your tenant "
        "waiting for it get it, and the workflows it triggers start. Prints the API's answer "
        "(the runs signalled and started) as JSON.",
    )
    send.add_argument("type", metavar="TYPE")
    send.add_argument("--data", metavar="JSON|@FILE", help="the event's data: JSON, or @path")
    send.add_argument(
        "--source", default=DEFAULT_SOURCE, help=f"the event's source (default: {DEFAULT_SOURCE})"
    )
    send.add_argument("--id", dest="event_id", help="the event's id (default: a new UUID)")
    send.set_defaults(command_ref="cli.events_cmd:send_command")


def send_command(args: argparse.Namespace) -> int:
    """Send the event; print the answer."""
    from cli.args import parse_input
    from cli.http import ApiClient

    event: dict[str, Any] = {
        "specversion": "1.0",
        "type": args.type,
        "source": args.source,
        "id": args.event_id or str(uuid.uuid4()),
    }
    if args.data is not None:
        event["datacontenttype"] = "application/json"
        event["data"] = parse_input(args.data, "--data")
    with ApiClient.from_env() as api:
        out = api.send_event(event)
    print(json.dumps(out, indent=2, sort_keys=True))
    return EXIT_OK

"""``kworkflow hooks send TENANT NAME``: sign a body as a webhook sender does and deliver it.

For people testing their hooks: the body (``--data`` JSON text, or ``@file`` sent byte for byte)
is signed with the same HMAC-SHA256 the API checks (:func:`interpreter.webhook_triggers.sign`:
``X-Kworkflow-Signature: t=<unix>,v1=<hex of HMAC(secret, "<t>.<body>")>``) with the secret read
from the environment variable ``--secret-env`` (never from the command line, which other users
of the machine can read), and posted to ``POST /v1/hooks/{tenant}/{name}`` with no API key.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from cli.errors import EXIT_FAILED, EXIT_OK, CLIError

SECRET_ENV = "KWORKFLOW_HOOK_SECRET"
"""Where the secret is read when ``--secret-env`` is not given."""


def add_hooks_parser(commands: Any) -> None:
    """``kworkflow hooks send TENANT NAME --data JSON|@FILE [--secret-env VAR] [--delivery-id]``."""
    hooks = commands.add_parser(
        "hooks", help="test webhooks", description="Send signed webhook deliveries."
    )
    hooks_commands = hooks.add_subparsers(dest="hooks_command", metavar="ACTION", required=True)
    send = hooks_commands.add_parser(
        "send",
        help="sign a body and deliver it to a webhook",
        description="Sign the body with HMAC-SHA256 as a sender does (X-Kworkflow-Signature) and "
        "POST it to /v1/hooks/TENANT/NAME. Prints the API's answer as JSON: the run the delivery "
        "started (or had started), or why it started nothing. Exit 0 delivered, 1 refused "
        "(signature, unknown hook, input), 2 usage, 3 API unreachable.",
    )
    send.add_argument("tenant", metavar="TENANT")
    send.add_argument("name", metavar="NAME", help="the webhook trigger's name")
    send.add_argument(
        "--data", required=True, metavar="JSON|@FILE", help="the body: JSON, or @path (sent as is)"
    )
    send.add_argument(
        "--secret-env",
        default=SECRET_ENV,
        metavar="VAR",
        help=f"the environment variable holding the secret (default: {SECRET_ENV})",
    )
    send.add_argument(
        "--delivery-id",
        metavar="ID",
        help="X-Kworkflow-Delivery: the same id again starts no second run (default: none, "
        "the signature deduplicates)",
    )
    send.set_defaults(command_ref="cli.hooks_cmd:send_command")


def read_body(data: str) -> bytes:
    """The bytes to sign and send: ``@path`` read as is, else the text; it must be JSON.

    Raises:
        CLIError: The file cannot be read or the body is not JSON (exit 2).
    """
    source = "--data"
    raw = data.encode("utf-8")
    if data.startswith("@"):
        source = data[1:]
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise CLIError(f"--data: cannot read {source}: {exc.__class__.__name__}") from None
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise CLIError(f"{source} is not valid JSON: {where}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{source} is not valid JSON: not UTF-8 text") from None
    return raw


def secret_from(variable: str) -> str:
    """The secret in ``variable``.

    Raises:
        CLIError: It is unset, or shorter than the API accepts (exit 2).
    """
    from api.hook_secrets import MIN_SECRET_LENGTH

    value = os.environ.get(variable)
    if not value:
        raise CLIError(f"{variable} is not set: put the webhook's secret in it (--secret-env)")
    if len(value) < MIN_SECRET_LENGTH:
        raise CLIError(
            f"{variable} holds {len(value)} characters: the API refuses secrets shorter than "
            f"{MIN_SECRET_LENGTH}"
        )
    return value


def send_command(args: argparse.Namespace) -> int:
    """Sign, send, print the answer."""
    from cli.errors import ApiError
    from cli.http import ApiClient
    from interpreter.webhook_triggers import SIGNATURE_HEADER, sign

    body = read_body(args.data)
    secret = secret_from(args.secret_env)
    headers = {SIGNATURE_HEADER: sign(secret, body, int(time.time()))}
    if args.delivery_id:
        headers["X-Kworkflow-Delivery"] = args.delivery_id
    with ApiClient.from_env() as api:
        try:
            _, out = api.send_hook(args.tenant, args.name, body, headers)
        except ApiError as exc:
            if exc.status == 401:  # the signature, not an API key: say so
                raise CLIError(
                    f"the webhook refused the delivery: {exc.detail} (HTTP 401); check that "
                    f"{args.secret_env} holds the secret the operator filed for "
                    f"{args.tenant}'s hook",
                    EXIT_FAILED,
                ) from None
            raise
    print(json.dumps(out, indent=2, sort_keys=True))
    return EXIT_OK

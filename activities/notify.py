"""The builtin ``notify`` tool: one message to a webhook, a Slack-compatible incoming webhook, or
e-mail through the operator's SMTP server.

``args`` by ``channel``:

- ``webhook``: ``{url, payload?, headers?}``: ``payload`` (any JSON, default null) is POSTed as
  the body;
- ``slack``: ``{url, text, blocks?}``: ``{"text": ..., "blocks": [...]}`` is POSTed, the body of
  Slack's incoming webhooks (and of Mattermost's, Rocket.Chat's, Discord's ``/slack`` ones);
- ``email``: ``{to, subject, text, cc?}``: a plain-text message sent through the ``smtp:`` of
  the worker configuration (:class:`activities.config.SmtpConfig`). A tenant chooses only the
  recipients and the text, never the server or the sender; the operator may limit the
  recipients' domains. At most :data:`MAX_RECIPIENTS` recipients.

Both HTTP channels go through the tenant's egress policy, with the ``Idempotency-Key`` of every
tool call, and fail as HTTP tools do (:func:`activities.tool.send`). An e-mail carries a
``Message-ID`` made of the run and step, the same for every attempt, so a receiver can drop a
copy sent again after a lost answer (delivery is at least once). The output is ``{channel,
delivered: true, status}`` for HTTP (the response's status) and ``{channel, delivered: true,
recipients}`` for e-mail.

A ``notify`` step that does not set ``on_error`` continues when it fails (notifications do not
fail runs): :func:`interpreter.steps_policy.fails_run`.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import heartbeating
from activities.config import SmtpConfig, current_config

NOTIFY = "notify"
MAX_RECIPIENTS = 50
MAX_TEXT = 100_000
"""Characters of a message's text (e-mail and Slack)."""

_URL = {"type": "string", "pattern": "^https?://", "maxLength": 2048}
ADDRESS_PATTERN = r"^[^@\s,;<>]+@[^@\s,;<>]+$"
"""One e-mail address: no spaces, commas, semicolons or angle brackets (no list, no display
name), so the domain checked is the one the mail goes to."""
_ADDRESS = {"type": "string", "pattern": ADDRESS_PATTERN, "maxLength": 254}
_ADDRESSES = {
    "oneOf": [
        _ADDRESS,
        {"type": "array", "items": _ADDRESS, "minItems": 1, "maxItems": MAX_RECIPIENTS},
    ]
}

NOTIFY_ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["channel"],
    "properties": {"channel": {"enum": ["webhook", "slack", "email"]}},
    "allOf": [
        {
            "if": {"properties": {"channel": {"const": "webhook"}}},
            "then": {
                "required": ["url"],
                "additionalProperties": False,
                "properties": {
                    "channel": {},
                    "url": _URL,
                    "payload": {},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        {
            "if": {"properties": {"channel": {"const": "slack"}}},
            "then": {
                "required": ["url", "text"],
                "additionalProperties": False,
                "properties": {
                    "channel": {},
                    "url": _URL,
                    "text": {"type": "string", "maxLength": MAX_TEXT},
                    "blocks": {"type": "array"},
                },
            },
        },
        {
            "if": {"properties": {"channel": {"const": "email"}}},
            "then": {
                "required": ["to", "subject", "text"],
                "additionalProperties": False,
                "properties": {
                    "channel": {},
                    "to": _ADDRESSES,
                    "cc": _ADDRESSES,
                    "subject": {"type": "string", "maxLength": 200, "pattern": r"^[^\r\n]*$"},
                    "text": {"type": "string", "maxLength": MAX_TEXT},
                },
            },
        },
    ],
}
"""The arguments of the builtin ``notify`` tool (checked before anything is sent)."""


async def notify(args: dict[str, Any], tenant: str) -> dict[str, Any]:
    """Send one notification for ``tenant`` (``args`` already checked against
    :data:`NOTIFY_ARGS_SCHEMA`).

    Raises:
        ApplicationError: A failed request (as HTTP tools), ``NotifyNotConfigured`` (no
            ``smtp:`` on this worker), ``RecipientNotAllowed``, ``EmailRefused`` (not
            retryable) or ``SMTPUnavailable`` (retryable).
    """
    channel = args["channel"]
    if channel == "email":
        return await _email(args)
    from activities.tool import send, with_idempotency_key  # tool.py imports this module

    body = args.get("payload") if channel == "webhook" else _slack_body(args)
    headers = with_idempotency_key(args.get("headers") or {})
    what = f"tool 'notify' ({channel} {args['url']})"
    response = await send(what, "POST", args["url"], 30.0, [], {"headers": headers,
                          "json": body}, tenant)  # fmt: skip
    return {"channel": channel, "delivered": True, "status": response.status_code}


def _slack_body(args: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"text": args["text"]}
    if "blocks" in args:
        body["blocks"] = args["blocks"]
    return body


async def _email(args: dict[str, Any]) -> dict[str, Any]:
    smtp = current_config().smtp
    if smtp is None:
        raise ApplicationError(
            "tool 'notify': e-mail is not configured on this worker (no `smtp:` in its "
            "configuration)",
            type="NotifyNotConfigured",
            non_retryable=True,
        )
    to, cc = _addresses(args["to"]), _addresses(args.get("cc") or [])
    if len(to) + len(cc) > MAX_RECIPIENTS:
        raise ApplicationError(
            f"tool 'notify': at most {MAX_RECIPIENTS} recipients, got {len(to) + len(cc)}",
            type="InvalidToolArguments",
            non_retryable=True,
        )
    for address in to + cc:
        if not smtp.allows(address):
            raise ApplicationError(
                f"tool 'notify': e-mail to {address} is not allowed on this worker (allowed "
                f"domains: {', '.join(smtp.allowed_domains or [])})",
                {"recipient": address},
                type="RecipientNotAllowed",
                non_retryable=True,
            )
    message = email_message(smtp, to, cc, args["subject"], args["text"])
    async with heartbeating():
        await asyncio.to_thread(send_mail, smtp, message, to + cc)
    return {"channel": "email", "delivered": True, "recipients": to + cc}


def _addresses(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def email_message(
    smtp: SmtpConfig, to: list[str], cc: list[str], subject: str, text: str
) -> EmailMessage:
    """A plain-text message from the operator's sender, its Message-ID made of the run and the
    activity (the same for every attempt)."""
    info = activity.info()
    message = EmailMessage()
    message["From"] = formataddr((smtp.sender_name or "", smtp.sender))
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    # the run (its run id too: activity ids start again after continue-as-new) and the
    # activity, the same for every attempt
    made_of = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    digest = hashlib.sha256(made_of.encode()).hexdigest()
    domain = smtp.sender.rsplit("@", 1)[-1]
    # not make_msgid: it adds the time, the pid and a random number, new at every attempt
    message["Message-ID"] = f"<{digest[:32]}@{domain}>"
    message["X-Kworkflow-Run"] = info.workflow_id
    message.set_content(text)
    return message


def send_mail(smtp: SmtpConfig, message: EmailMessage, recipients: list[str]) -> None:
    """Hand the message to the SMTP server (a thread: smtplib blocks).

    Raises:
        ApplicationError: ``EmailRefused`` for recipients or a message the server refuses;
            ``SMTPUnavailable`` (retryable) when it cannot be reached or fails for now.
    """
    where = f"{smtp.host}:{smtp.port}"
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password())
            client.send_message(message, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise ApplicationError(
            f"tool 'notify': the mail server refused {refused}",
            type="EmailRefused",
            non_retryable=True,
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        permanent = 500 <= exc.smtp_code < 600
        raise ApplicationError(
            f"tool 'notify': the mail server at {where} answered {exc.smtp_code} {text}".strip(),
            type="EmailRefused" if permanent else "SMTPUnavailable",
            non_retryable=permanent,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ApplicationError(
            f"tool 'notify': cannot reach the mail server at {where}: {exc}",
            type="SMTPUnavailable",
        ) from None

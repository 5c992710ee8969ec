"""Telling a human step's assignees that it waits for them: the ``kworkflow.notify_assignees``
activity, started by the workflow when a human step with ``assignees`` starts waiting.

What is sent is the operator's choice, in the worker configuration::

    notifications:
      ui_url: https://flows.example.com/ui   # the link to answer: <ui_url>/#/runs/<run id>
      email: true                            # assignees that are e-mail addresses (smtp:)
      webhook: {url: https://hooks.example.com/T000/B000, format: slack}   # or json

Without ``notifications:`` nothing is sent and the activity returns at once. Assignees that are
e-mail addresses get a plain-text message through ``smtp:`` (its ``allowed_domains`` apply; others
are left out); the webhook, if set, gets one message naming every assignee: ``format: json``
POSTs ``{type: "kworkflow.human.waiting", run_id, workflow, tenant, step, prompt, assignees,
timeout_at, link}``, ``format: slack`` POSTs ``{text}``. The webhook is the operator's, so it
is not under the tenants' egress policy. A notification that fails is reported in the run's
transitions (``step_notify_failed``) and never holds the step: the person can answer before,
during or without it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.config import WebhookTarget, current_config
from activities.notify import ADDRESS_PATTERN, email_message, send_mail
from interpreter.assignee_notice import ACTIVITY, AssigneeNotice

_ADDRESS = re.compile(ADDRESS_PATTERN)
"""An assignee e-mailed is one plain address (``a@x.org,b@example.com`` would pass a check of
the last domain only), as the ``notify`` tool requires of its recipients."""


@activity.defn(name=ACTIVITY)
async def notify_assignees(notice: AssigneeNotice) -> dict[str, Any]:
    """Send the notice on its channel as the operator configured it; ``{to: [...]}``, empty
    when the channel is not configured (or no assignee is an allowed address).

    Raises:
        ApplicationError: The mail server or the webhook failed (retried by the workflow's
            policy, then reported).
    """
    config = current_config()
    settings = config.notifications
    if settings is None:
        return {"to": []}
    link = f"{settings.ui_url.rstrip('/')}/#/runs/{notice.run_id}" if settings.ui_url else None
    if notice.channel == "webhook":
        if settings.webhook is None:
            return {"to": []}
        await _post(settings.webhook, notice, link)
        return {"to": list(notice.assignees)}
    smtp = config.smtp
    if not settings.email or smtp is None:
        return {"to": []}
    emailed = [a for a in notice.assignees if _ADDRESS.fullmatch(a) and smtp.allows(a)]
    if emailed:
        subject = f"Waiting for you: {notice.step} in {notice.workflow}"
        message = email_message(smtp, emailed, [], subject, _text(notice, link))
        await asyncio.to_thread(send_mail, smtp, message, emailed)
    return {"to": emailed}


def _text(notice: AssigneeNotice, link: str | None) -> str:
    prompt = notice.prompt if isinstance(notice.prompt, str) else repr(notice.prompt)
    lines = [f"Run {notice.run_id} of {notice.workflow} waits for an answer at step "
             f"{notice.step}:", "", prompt, ""]  # fmt: skip
    if notice.timeout_at:
        lines.append(f"Answer before {notice.timeout_at}.")
    if link:
        lines.append(f"Answer it here: {link}")
    return "\n".join(lines) + "\n"


async def _post(target: WebhookTarget, notice: AssigneeNotice, link: str | None) -> None:
    if target.format == "slack":
        body: dict[str, Any] = {"text": _text(notice, link)}
    else:
        body = {"type": "kworkflow.human.waiting", **notice.model_dump(exclude={"channel"})}
        body["link"] = link
    info = activity.info()
    headers = {"Idempotency-Key": f"{info.workflow_id}/{info.activity_id}"}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(target.url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ApplicationError(
            f"notifications webhook: {type(exc).__name__}: {exc}", type="WebhookUnavailable"
        ) from None
    if response.status_code >= 400:
        raise ApplicationError(
            f"notifications webhook answered HTTP {response.status_code}",
            type=f"HTTP{response.status_code}",
            non_retryable=400 <= response.status_code < 500 and response.status_code != 429,
        )

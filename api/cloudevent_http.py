"""CloudEvents 1.0 over HTTP (the HTTP protocol binding): a request's headers and body -> one event.

Structured mode: ``Content-Type: application/cloudevents+json`` (or ``application/json`` with no
``ce-specversion`` header), the body is the event as a JSON object. Binary mode: a
``ce-specversion`` header; each ``ce-<name>`` header is attribute ``<name>`` (percent-decoded),
``Content-Type`` is ``datacontenttype`` and the body is ``data`` (parsed when it is JSON, text
otherwise, ``data_base64`` when it is not UTF-8). Batch mode is refused (415).

An event a run could not carry (nested deeper than 100 levels, ``NaN`` or an infinity, a lone
surrogate) is refused (422), like a run input.

The event comes out as a JSON object in structured form: ``specversion``, ``id``, ``source``,
``type``, the optional and extension attributes, then ``data`` or ``data_base64``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from api.schemas_runs import encoded_json

REQUIRED = ("id", "source", "type")
STRING_ATTRIBUTES = ("id", "source", "type", "subject", "time", "datacontenttype", "dataschema")
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_FORBIDDEN_IN_TYPE = re.compile(r"['\"\\\x00-\x1f\x7f]")
"""Characters refused in ``type`` (it is quoted in a visibility query)."""
MAX_ATTRIBUTE_LENGTH = 1024


class EventInvalid(Exception):
    """The request is not a CloudEvent kworkflow takes; ``status`` is 422 or 415."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def parse_event(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The CloudEvent of a request (see the module docstring).

    Raises:
        EventInvalid: A missing or wrong attribute (named), a body that is not JSON, batch mode.
    """
    content_type = headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "application/cloudevents-batch+json":
        raise EventInvalid("batch mode is not supported: send one event per request", 415)
    if "ce-specversion" in headers:
        event = _binary(headers, body, content_type, media)
    else:
        event = _structured(body, media)
    return _checked(event)


def _structured(body: bytes, media: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except RecursionError:
        raise EventInvalid("the event nests too deeply to be read") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        if media not in ("application/cloudevents+json", "application/json", ""):
            raise EventInvalid(
                "not a CloudEvent: send `Content-Type: application/cloudevents+json` "
                "(structured mode) or `ce-*` headers (binary mode)",
                415,
            ) from None
        raise EventInvalid("the body is not JSON (structured mode)") from None
    if not isinstance(event, dict):
        raise EventInvalid("a structured CloudEvent is a JSON object")
    if "specversion" not in event:
        raise EventInvalid(
            "not a CloudEvent: no `specversion` attribute (structured mode) "
            "and no `ce-specversion` header (binary mode)"
        )
    return event


def _binary(
    headers: Mapping[str, str], body: bytes, content_type: str, media: str
) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-"):
            event[lowered[3:]] = unquote(value)
    if content_type:
        event["datacontenttype"] = content_type
    if body:
        if media == "application/json" or media.endswith("+json"):
            try:
                event["data"] = json.loads(body)
            except RecursionError:
                raise EventInvalid("the event's data nests too deeply to be read") from None
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise EventInvalid(f"the body is not JSON (Content-Type {media})") from None
        else:
            try:
                event["data"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["data_base64"] = base64.b64encode(body).decode("ascii")
    return event


def _checked(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("specversion") != "1.0":
        raise EventInvalid(
            f'`specversion` must be "1.0", not {json.dumps(event.get("specversion"))}'
        )
    for name in REQUIRED:
        if name not in event:
            raise EventInvalid(f"the CloudEvent has no `{name}` attribute")
    for name in STRING_ATTRIBUTES:
        if name in event:
            value = event[name]
            if not isinstance(value, str) or not value:
                raise EventInvalid(f"`{name}` must be a non-empty string")
            if len(value) > MAX_ATTRIBUTE_LENGTH:
                raise EventInvalid(f"`{name}` is longer than {MAX_ATTRIBUTE_LENGTH} characters")
    if _FORBIDDEN_IN_TYPE.search(event["type"]):
        raise EventInvalid("`type` may not contain quotes, backslashes or control characters")
    if "data" in event and "data_base64" in event:
        raise EventInvalid("a CloudEvent has `data` or `data_base64`, not both")
    for name in event:
        if name not in ("data", "data_base64") and not _ATTRIBUTE_NAME.match(name):
            raise EventInvalid(f"attribute name `{name}` is not 1-20 lowercase letters or digits")
    try:
        encoded_json(event)  # bounded depth, no NaN, valid Unicode: what a run can carry
    except ValueError as exc:
        raise EventInvalid(f"the event {exc}") from None
    return event

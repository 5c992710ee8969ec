"""The CLI's client of the kworkflow HTTP API: JSON calls, typed errors, and the event stream.

Synchronous, over httpx, with one seam for tests (``transport``). Nothing is retried, except the
run's event stream: a dropped connection is reopened with ``Last-Event-ID`` so no event is lost
or shown twice. Failures surface as the errors of :mod:`cli.errors`, never as httpx's:

- :class:`~cli.errors.ApiUnavailable` (exit 3): the API cannot be reached, does not answer in
  time, answers with a 5xx, or is not the kworkflow API;
- :class:`~cli.errors.ApiError`: a 4xx, with the answer's ``detail`` and ``problems``; a refused
  key (401/403) already carries exit code 2 and says which variable to check.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cli.errors import EXIT_USAGE, ApiError, ApiUnavailable, CLIError

URL_ENV = "KWORKFLOW_URL"
KEY_ENV = "KWORKFLOW_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
"""Every call: 5 s to connect, 30 s for each read or write."""
STREAM_READ_TIMEOUT = 60.0
"""Silence on the event stream after which it is reopened (a run may wait days for a person)."""
STREAM_RECONNECTS = 5
"""Failed attempts in a row to reopen the event stream before giving up."""


@dataclass(frozen=True)
class SseEvent:
    """One Server-Sent Event.

    Attributes:
        event: The ``event:`` field (``message`` when the event had none).
        data: The ``data:`` lines, joined with newlines.
        id: The last ``id:`` seen on the stream so far (what ``Last-Event-ID`` resends).
    """

    event: str
    data: str
    id: str | None = None


class SseParser:
    """Turns the lines of a ``text/event-stream`` into events, one line at a time.

    Follows the HTML standard's rules: ``field: value`` lines (one space after the colon is
    dropped), a blank line ends an event, lines starting with ``:`` are comments, an event
    without data is not dispatched, and the last ``id`` carries over to later events.

    Attributes:
        last_event_id: The last ``id:`` received, to resend as ``Last-Event-ID``.
        retry_ms: The last ``retry:`` received: how long to wait before reconnecting.
    """

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its line break); return the event it completes, if any."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self.last_event_id = value
        elif field == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseEvent(event or "message", "\n".join(data), self.last_event_id)


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """The events of a stream's lines; an event not ended by a blank line is dropped."""
    parser = SseParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


class ApiClient:
    """A synchronous client of the kworkflow HTTP API.

    Args:
        url: The API's base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: Sent as ``Authorization: Bearer <key>`` when given.
        transport: An httpx transport (tests); the network by default.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._has_key = bool(api_key)
        headers = {"Accept": "application/json", "User-Agent": "kworkflow-cli"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=transport,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ApiClient:
        """A client of ``KWORKFLOW_URL`` with ``KWORKFLOW_API_KEY``.

        Raises:
            CLIError: ``KWORKFLOW_URL`` is not an http(s) URL (exit 2).
        """
        url = environ.get(URL_ENV) or DEFAULT_URL
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise CLIError(f"{URL_ENV}={url!r} is not an http:// or https:// URL", EXIT_USAGE)
        return cls(url, environ.get(KEY_ENV) or None)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    def publish(self, text: str, content_type: str) -> dict[str, Any]:
        """``POST /v1/workflows``: publish a definition's text; the new version's view."""
        return self._json("POST", "/v1/workflows", content=text, content_type=content_type)[1]

    def start_run(
        self,
        workflow: str,
        value: Any,
        *,
        version: int | None = None,
        run_id: str | None = None,
        breakpoints: dict[str, list[str]] | None = None,
        priority: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """``POST /v1/runs``: the status (201 started, 200 already there) and the run view."""
        body: dict[str, Any] = {"workflow": workflow, "input": value}
        if version is not None:
            body["version"] = version
        if run_id is not None:
            body["run_id"] = run_id
        if breakpoints is not None:
            body["breakpoints"] = breakpoints
        if priority is not None:
            body["priority"] = priority
        return self._json("POST", "/v1/runs", body=body)

    def continue_run(self, run_id: str, body: dict[str, Any]) -> Any:
        """``POST /v1/runs/{id}/continue``: ``{run_id, status, paused, step, when, edited}``."""
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/continue", body=body)[1]

    def workers(self) -> dict[str, Any]:
        """``GET /v1/workers``: the live workers and what they offer."""
        return self._json("GET", "/v1/workers")[1]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /v1/runs/{id}``: the run view."""
        return self._json("GET", f"/v1/runs/{_seg(run_id)}")[1]

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/runs``: one page, ``{"runs": [...], "next_page_token": ...}``."""
        query = {"workflow": workflow, "status": status, "page_token": page_token}
        params = {k: v for k, v in query.items() if v is not None}
        return self._json("GET", "/v1/runs", params=params)[1]

    def respond(self, run_id: str, step: str, data: Any) -> Any:
        """``POST /v1/runs/{id}/steps/{step}/respond``: the accepted answer."""
        path = f"/v1/runs/{_seg(run_id)}/steps/{_seg(step)}/respond"
        return self._json("POST", path, body={"data": data})[1]

    def cancel(self, run_id: str, force: bool = False) -> Any:
        """``POST /v1/runs/{id}/cancel``: ask the run to cancel, or terminate it (202)."""
        query = "?force=true" if force else ""
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/cancel{query}")[1]

    def act(self, action: str, run_id: str, reason: str | None = None) -> Any:
        """``POST /v1/runs/{id}/pause`` (or ``resume``): ``{run_id, status, paused, changed}``."""
        body = {"reason": reason} if reason is not None else None
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/{action}", body=body)[1]

    def act_on_all(self, action: str, workflow: str, reason: str | None = None) -> Any:
        """``POST /v1/workflows/{name}/runs/pause`` (or ``resume``): the counts."""
        body = {"reason": reason} if reason is not None else None
        return self._json("POST", f"/v1/workflows/{_seg(workflow)}/runs/{action}", body=body)[1]

    def retry(
        self, run_id: str, from_step: str | None = None, version: int | None = None
    ) -> tuple[int, Any]:
        """``POST /v1/runs/{id}/retry``: the status (201 started, 200 asked before) and the
        new run (``{run_id, retry_of, from, version, created, reused, retried, links}``)."""
        body: dict[str, Any] = {}
        if from_step is not None:
            body["from"] = from_step
        if version is not None:
            body["version"] = version
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/retry", body=body)

    def fork(
        self, run_id: str, from_step: str, edits: dict[str, Any], version: int | None = None
    ) -> tuple[int, Any]:
        """``POST /v1/runs/{id}/fork``: the status (201 started, 200 asked before) and the run."""
        body: dict[str, Any] = {"from": from_step, "set": edits}
        if version is not None:
            body["version"] = version
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/fork", body=body)

    def compensate(self, run_id: str) -> tuple[int, Any]:
        """``POST /v1/runs/{id}/compensate``: the status (201 started, 200 asked before) and
        the compensation run (``{run_id, compensation_of, created, steps, links}``)."""
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/compensate")

    def upgrade(self, run_id: str, body: dict[str, Any]) -> Any:
        """``POST /v1/runs/{id}/upgrade``: ``{run_id, status, from_version, version, added,
        removed}``."""
        return self._json("POST", f"/v1/runs/{_seg(run_id)}/upgrade", body=body)[1]

    def retry_all(
        self, workflow: str, since: str | None = None, error_type: str | None = None
    ) -> Any:
        """``POST /v1/workflows/{name}/runs/retry``: the counts and the runs retried."""
        body = {k: v for k, v in (("since", since), ("error_type", error_type)) if v is not None}
        return self._json("POST", f"/v1/workflows/{_seg(workflow)}/runs/retry", body=body)[1]

    def send_event(self, event: dict[str, Any]) -> Any:
        """``POST /v1/events`` (structured mode): the runs signalled and started."""
        text = json.dumps(event)
        return self._json(
            "POST", "/v1/events", content=text, content_type="application/cloudevents+json"
        )[1]

    def send_hook(
        self, tenant: str, name: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        """``POST /v1/hooks/{tenant}/{name}`` with ``body`` as is (signed by the caller): the
        status (201 started, 200 seen before, 202 filtered) and the answer."""
        try:
            response = self._http.post(
                f"/v1/hooks/{_seg(tenant)}/{_seg(name)}",
                content=body,
                headers={"Content-Type": "application/json", **headers},
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return response.status_code, self._check(response)

    def events(self, run_id: str, last_event_id: str | None = None) -> Iterator[SseEvent]:
        """``GET /v1/runs/{id}/events``: the run's events, until the server ends the stream.

        A connection that drops, or stays silent for :data:`STREAM_READ_TIMEOUT`, is reopened
        with ``Last-Event-ID``; the iterator ends when the server closes the stream.

        Raises:
            ApiUnavailable: The stream could not be reopened :data:`STREAM_RECONNECTS` times.
            ApiError: The API refused the stream (an unknown run, a wrong key).
        """
        parser = SseParser(last_event_id)
        path = f"/v1/runs/{_seg(run_id)}/events"
        timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, read=STREAM_READ_TIMEOUT)
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if parser.last_event_id is not None:
                headers["Last-Event-ID"] = parser.last_event_id
            try:
                with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
                    if response.status_code >= 300:
                        response.read()
                        self._check(response)
                    for line in response.iter_lines():
                        event = parser.feed(line)
                        if event is not None:
                            failures = 0
                            yield event
                return
            except httpx.ReadTimeout:
                continue  # the server answered before: reopen without counting a failure
            except httpx.TransportError as exc:
                failures += 1
                if failures > STREAM_RECONNECTS:
                    raise self._unreachable(exc) from None
                delay = parser.retry_ms / 1000 if parser.retry_ms is not None else 0.5 * failures
                time.sleep(min(delay, 5.0))

    def _json(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: str | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; the status and the decoded JSON answer (None when empty)."""
        headers = {}
        if content is not None and content_type:
            headers["Content-Type"] = content_type
        try:
            response = self._http.request(
                method,
                path,
                json=body,
                content=content.encode("utf-8") if content is not None else None,
                headers=headers,
                params=params,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return response.status_code, self._check(response)

    def _check(self, response: httpx.Response) -> Any:
        """The JSON of a 2xx answer, or the error an error answer stands for."""
        status = response.status_code
        try:
            payload = response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            if status < 400:
                raise ApiUnavailable(
                    self.url,
                    f"the server at {self.url} did not answer as the kworkflow API "
                    f"(HTTP {status}, {response.headers.get('content-type', 'no content type')})",
                ) from None
            payload = None
        if status < 400:
            return payload
        detail = _detail(payload, response)
        if status >= 500:
            raise ApiUnavailable(
                self.url, f"the kworkflow API at {self.url} failed (HTTP {status}): {detail}"
            )
        if status in (401, 403):
            hint = f"check {KEY_ENV}" if self._has_key else f"set {KEY_ENV}"
            raise ApiError(
                status,
                detail,
                code=EXIT_USAGE,
                message=f"the kworkflow API at {self.url} refused the request: {detail} "
                f"(HTTP {status}); {hint}",
            )
        problems = payload.get("problems") if isinstance(payload, dict) else None
        raise ApiError(status, detail, problems if isinstance(problems, list) else None)

    def _unreachable(self, exc: httpx.TransportError) -> ApiUnavailable:
        if isinstance(exc, httpx.ConnectError):
            text = str(exc)
            reason = "connection refused" if "refused" in text.lower() else text or "cannot connect"
        elif isinstance(exc, httpx.TimeoutException):
            reason = "no answer in time"
        elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            reason = f"the connection was dropped ({exc or type(exc).__name__})"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return ApiUnavailable(self.url, f"cannot reach the kworkflow API at {self.url}: {reason}")


def _seg(value: str) -> str:
    """A path segment, percent-encoded."""
    return quote(value, safe="")


def _detail(payload: Any, response: httpx.Response) -> str:
    """What an error answer says: its ``detail``, FastAPI's validation list, or its text."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:  # FastAPI's request validation: [{loc, msg}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ())[1:])
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
        return "; ".join(parts)
    text = " ".join(response.text.split())
    return text[:200] if text else (response.reason_phrase or "no detail given")

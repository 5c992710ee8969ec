"""The ``tool`` step activity: HTTP tools of a definition, Python tools of the worker, ``http``.

A call's params are ``{tool, args}``. The tool is looked up in this order:

1. the definition's ``tools:`` entry of that name (sent with the call as ``call.tools``): an
   HTTP request;
2. a Python tool registered on this worker (:mod:`activities.registry`, from the modules in
   ``tool_modules`` / ``KWORKFLOW_TOOL_MODULES``);
3. the builtin ``http`` tool: ``args`` = ``{url, method?, headers?, json?, body?, params?,
   timeout?}``, output ``{status, headers, json}`` (or ``text`` instead of ``json`` when the
   response is not JSON);
4. the builtin ``notify`` tool: a webhook, a Slack-compatible webhook or an e-mail
   (:mod:`activities.notify`);
5. otherwise a non-retryable ``UnknownTool`` error naming the tool and the tools that exist
   (lint cannot know worker-registered tools, so an unknown name is found at run time).

``args`` are checked against the tool's ``input_schema`` (JSON Schema 2020-12, its defaults
applied, as for a run's input) before anything is called: a violation is a non-retryable
``InvalidToolArguments`` naming the path (``args.company``).

An HTTP tool sends ``args`` as the JSON body (POST, PUT, PATCH) or as query parameters (GET,
DELETE: scalars as text, lists as repeated parameters, objects as compact JSON). Header values
may hold ``${ secrets.NAME }``, rendered here on the worker from the worker configuration's
``secrets`` (never from workflow history); a secret that is not set is a non-retryable
``MissingSecret`` naming it. Secret values are replaced by ``***`` in outputs and error
messages (values shorter than 4 characters are not looked for). The timeout is the tool's
``timeout`` (default 60 s). Every request carries ``Idempotency-Key: <workflow id>/<activity
id>``, the same for every attempt of one step of one run. The output is the JSON body, ``{"text":
...}`` when the body is not JSON, null when it is empty. Failed responses are classified by
:func:`activities.base.http_failure`: 408/409/425/429/5xx and connection errors retry (honouring
``Retry-After``), other 4xx do not and carry the body's ``message``/``error``/``detail``.
Calls heartbeat every :data:`activities.base.HEARTBEAT_SECONDS` while they wait.

Both kinds of HTTP request (definition tools and ``http``) are made for the run's tenant under
the egress policy (:mod:`activities.egress`): an address the tenant may not reach is a
non-retryable ``EgressDenied`` and is never connected to. A secret is sent only by a tenant it is
granted to and only to the hosts it is bound to (:mod:`activities.secret_grants`), else the
step fails with a non-retryable ``SecretNotGranted``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import (
    connection_failure,
    heartbeating,
    http_failure,
    step_activity,
)
from activities.config import WorkerConfig, current_config
from activities.contract import StepCall
from activities.egress import EgressDenied, tenant_client
from activities.notify import NOTIFY, NOTIFY_ARGS_SCHEMA, notify
from activities.registry import args_path, load_tool_modules, registered_tool, registered_tools
from activities.secret_grants import grant_problem, referenced_secrets
from interpreter.durations import parse_duration
from interpreter.errors import ExpressionError, InputError, SchemaInvalid
from interpreter.expr import Scope, parse_template
from interpreter.inputs import prepare_compiled
from interpreter.schemas import compile_schema
from interpreter.spec import ToolDef

T = TypeVar("T")

DEFAULT_TIMEOUT = timedelta(seconds=60)
BUILTIN_HTTP = "http"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MIN_REDACTED = 4
"""Secret values shorter than this are not searched for in outputs (they would match anything)."""

HTTP_ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "pattern": "^https?://"},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], "default": "GET"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "json": {},
        "body": {"type": "string"},
        "params": {"type": "object"},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
    },
}
"""The arguments of the builtin ``http`` tool (``timeout`` in seconds)."""


@step_activity("tool")
async def tool(call: StepCall) -> Any:
    """Run one tool call (``params: {tool, args}``); the output is the tool's JSON result."""
    name = call.params.get("tool")
    args = call.params.get("args")
    if not isinstance(name, str):
        raise ApplicationError(
            f"a tool step needs `tool` to be a name, got {name!r}",
            type="UnknownTool",
            non_retryable=True,
        )
    definition = call.tools.get(name)
    if definition is not None:
        return await http_tool(name, ToolDef.model_validate(definition), args, call.ref.tenant)
    load_tool_modules(current_config().all_tool_modules())
    registered = registered_tool(name)
    if registered is not None:
        checked = check_args(name, registered.input_schema, args)
        async with heartbeating():
            return await registered.call(checked)
    if name == BUILTIN_HTTP:
        return await builtin_http(check_args(name, HTTP_ARGS_SCHEMA, args), call.ref.tenant)
    if name == NOTIFY:
        return await notify(check_args(name, NOTIFY_ARGS_SCHEMA, args), call.ref.tenant)
    known = [t.name for t in registered_tools()]
    known += [b for b in (BUILTIN_HTTP, NOTIFY) if b not in known]
    raise ApplicationError(
        f"unknown tool '{name}': it is not in the definition's `tools:` and this worker has "
        f"no such tool (registered on this worker: {', '.join(known)})",
        {"tool": name, "known": known},
        type="UnknownTool",
        non_retryable=True,
    )


def check_args(name: str, schema: dict[str, Any] | None, args: Any) -> Any:
    """``args`` with the schema's defaults applied, after checking them against it.

    Raises:
        ApplicationError: ``InvalidToolArguments`` (non-retryable) naming the path.
    """
    if schema is None:
        return {} if args is None else args
    try:
        compiled = compile_schema(schema)  # once per schema (interpreter.schemas), RE2 regexes
        return prepare_compiled(compiled, args)
    except SchemaInvalid as exc:
        message = f"tool '{name}': its input_schema is not a valid JSON Schema: {exc}"
        raise ApplicationError(message, type="InvalidToolSchema", non_retryable=True) from None
    except InputError as exc:
        raise ApplicationError(
            f"tool '{name}': {args_path(exc.path)}: {exc.reason}",
            {"path": exc.path},
            type="InvalidToolArguments",
            non_retryable=True,
        ) from None


async def http_tool(name: str, spec: ToolDef, args: Any, tenant: str) -> Any:
    """Call a definition's HTTP tool for ``tenant``; the output is the response's JSON body.

    Raises:
        ApplicationError: Bad arguments, a missing or ungranted secret, a denied address, or a
            failed request (classified).
    """
    args = check_args(name, spec.input_schema, args)
    headers, secrets = render_headers(name, spec.headers, tenant, spec.url)
    timeout = parse_duration(spec.timeout) if spec.timeout else DEFAULT_TIMEOUT
    request: dict[str, Any] = {"headers": with_idempotency_key(headers)}
    if spec.method in BODY_METHODS:
        request["json"] = args
    else:
        request["params"] = query_params(name, args)
    what = f"tool '{name}'"
    response = await send(
        what, spec.method, spec.url, timeout.total_seconds(), secrets, request, tenant
    )
    return redact(response_json(response), secrets)


async def builtin_http(args: dict[str, Any], tenant: str) -> dict[str, Any]:
    """The builtin ``http`` tool: one request, output ``{status, headers, json | text}``."""
    request: dict[str, Any] = {
        "headers": with_idempotency_key(args.get("headers", {})),
        "params": query_params(BUILTIN_HTTP, args.get("params") or {}),
    }
    if "json" in args:
        request["json"] = args["json"]
    elif "body" in args:
        request["content"] = args["body"].encode()
    timeout = float(args.get("timeout") or DEFAULT_TIMEOUT.total_seconds())
    what = f"tool 'http' ({args['method']} {args['url']})"
    response = await send(what, args["method"], args["url"], timeout, [], request, tenant)
    body: dict[str, Any] = {"text": response.text}
    if _is_json(response):
        with contextlib.suppress(ValueError):
            body = {"json": response.json()}
    return {"status": response.status_code, "headers": dict(response.headers), **body}


async def send(
    what: str,
    method: str,
    url: str,
    timeout: float,
    secrets: list[str],
    request: dict[str, Any],
    tenant: str,
) -> httpx.Response:
    """Send one request with the tenant's client (egress policy), heartbeating; classify a
    failure.

    Raises:
        ApplicationError: A transport error (retryable), a denied address or a bad URL (not
            retryable) or a status of 400 or more (see :func:`activities.base.http_failure`);
            secrets redacted.
    """
    try:
        target = with_query(url, request.pop("params", None))
        async with heartbeating():
            client = tenant_client(tenant)
            response = await client.request(method, target, timeout=timeout, **request)
    except EgressDenied as exc:
        raise ApplicationError(
            f"{what}: {exc}",
            {"host": exc.host},
            type="EgressDenied",
            non_retryable=True,
        ) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        message = redact(f"{what}: invalid URL: {exc}", secrets)
        raise ApplicationError(message, type="InvalidURL", non_retryable=True) from None
    except httpx.HTTPError as exc:
        raise _redacted(connection_failure(exc, what), secrets) from None
    if response.status_code >= 400:
        raise _redacted(http_failure(response, what, error_message(response)), secrets)
    return response


def render_headers(
    name: str, headers: Mapping[str, str], tenant: str, url: str
) -> tuple[dict[str, str], list[str]]:
    """Headers with their ``${ secrets.NAME }`` templates rendered, and the secrets used.

    Raises:
        ApplicationError: ``MissingSecret`` naming a secret this worker does not have;
            ``SecretNotGranted`` for one ``tenant`` may not send to ``url``'s host;
            ``InvalidToolDefinition`` for a template that does not render.
    """
    config = current_config()
    rendered: dict[str, str] = {}
    used: dict[str, str] = {}
    for header, value in headers.items():
        if "${" not in value:
            rendered[header] = value
            continue
        try:
            template = parse_template(value)
            for secret in referenced_secrets(value):
                refused = grant_problem(config, secret, tenant, url)
                if refused is not None:
                    raise ApplicationError(
                        f"tool '{name}': header '{header}': {refused}",
                        {"secret": secret},
                        type="SecretNotGranted",
                        non_retryable=True,
                    )
                used[secret] = _secret(name, header, secret, config)
            result = template.render(Scope({"secrets": dict(used)}))
        except ExpressionError as exc:
            raise ApplicationError(
                redact(f"tool '{name}': header '{header}': {exc.reason}", list(used.values())),
                type="InvalidToolDefinition",
                non_retryable=True,
            ) from None
        rendered[header] = result if isinstance(result, str) else json.dumps(result)
    return rendered, [v for v in used.values() if len(v) >= MIN_REDACTED]


def _secret(name: str, header: str, secret: str, config: WorkerConfig) -> str:
    """The value of ``secret`` on this worker (the message of a missing one never has a value).

    Raises:
        ApplicationError: ``MissingSecret``, non-retryable.
    """
    value = config.secret(secret)
    if value is not None:
        return value
    grant = config.grant(secret)
    source = grant.value if grant is not None else None
    why = (
        f"its environment variable {source[4:]} is not set"
        if source is not None and source.startswith("env:")
        else "it is not under `secrets:` in the worker configuration"
    )
    raise ApplicationError(
        f"tool '{name}': header '{header}' needs secret '{secret}' and {why}",
        {"secret": secret},
        type="MissingSecret",
        non_retryable=True,
    )


def with_idempotency_key(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` plus ``Idempotency-Key: <workflow id>/<activity id>`` (replacing any other).

    The key is the same for every attempt of one activity, and differs between steps.
    """
    info = activity.info()
    kept = {k: v for k, v in headers.items() if k.lower() != "idempotency-key"}
    return {**kept, "Idempotency-Key": f"{info.workflow_id}/{info.activity_id}"}


def query_params(name: str, args: Any) -> list[tuple[str, str]]:
    """``args`` as query parameters: scalars as text, lists repeated, objects as JSON.

    Raises:
        ApplicationError: ``InvalidToolArguments`` when ``args`` is not an object.
    """
    if not isinstance(args, dict):
        raise ApplicationError(
            f"tool '{name}': args must be an object to be sent as query parameters",
            type="InvalidToolArguments",
            non_retryable=True,
        )
    params: list[tuple[str, str]] = []
    for key, value in args.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            params.append((str(key), item if isinstance(item, str) else _compact(item)))
    return params


def with_query(url: str, params: list[tuple[str, str]] | None) -> httpx.URL:
    """``url`` with ``params`` appended to its own query string (httpx's ``params=`` would
    replace it), the way ``requests`` does: ``?a=1`` plus ``[("a", "2")]`` is ``?a=1&a=2``.

    Raises:
        httpx.InvalidURL: ``url`` is not a URL.
    """
    parsed = httpx.URL(url)
    if not params:
        return parsed
    extra = str(httpx.QueryParams(tuple(params))).encode("ascii")
    return parsed.copy_with(query=parsed.query + b"&" + extra if parsed.query else extra)


def response_json(response: httpx.Response) -> Any:
    """The body as JSON; ``{"text": body}`` when it is not JSON; None when it is empty."""
    if not response.content:
        return None
    if _is_json(response):
        try:
            return response.json()
        except ValueError:
            pass
    return {"text": response.text}


def error_message(response: httpx.Response) -> str | None:
    """The other side's explanation in a JSON error body (``message``, ``error``, ``detail``)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key in ("message", "error", "detail"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value:
            return value
    return None


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` with every occurrence of each secret in its strings replaced by ``***``."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {key: redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    return value


def _redacted(error: ApplicationError, secrets: list[str]) -> ApplicationError:
    if not secrets:
        return error
    return ApplicationError(
        redact(error.message, secrets),
        *error.details,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _compact(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

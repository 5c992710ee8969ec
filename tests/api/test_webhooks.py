"""POST /v1/hooks/{tenant}/{webhook} on real parts: the API over SQLite, the dev server, a worker.

A signed delivery starts a run whose input the trigger maps with CEL; the same delivery again
starts nothing; a wrong, missing or old signature is 401; a false filter is 202; an input that
breaks the schema is 422 naming the property; another tenant's path is 404.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from interpreter.webhook_triggers import sign
from tests.api.support import Api, serving_api, wait_status

SECRET = "s3cret-s3cret-s3cret"

HOOKED = """\
kworkflow: 1
name: deploys
input:
  type: object
  required: [repo, count]
  properties:
    repo: {type: string}
    count: {type: integer}
triggers:
  - webhook: github
    secret: GITHUB
    filter: body.action == "push"
    input:
      repo: ${ body.repository.name }
      count: ${ body.commits }
      agent: ${ headers["user-agent"] }
steps:
  - id: say
    kind: aggregate
    expr: 'input.repo + " x" + string(input.count) + " by " + input.agent'
output: ${ steps.say.output }
"""


@pytest.fixture
async def hooks_api(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> AsyncIterator[Api]:
    """The API with the first tenant's secret GITHUB configured and HOOKED published for it."""
    secrets: dict[str, str] = {}  # filled once the tenants' names are known
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    async with serving_api(client, task_queue, url, webhook_secrets=secrets) as api:
        secrets[f"{api.acme}/GITHUB"] = SECRET
        secrets[f"{api.globex}/GITHUB"] = SECRET
        api.publish(HOOKED)
        yield api


async def deliver(
    api: Api,
    body: Any,
    *,
    tenant: str | None = None,
    delivery: str | None = "d-1",
    secret: str = SECRET,
    at: float | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST a signed delivery to the first tenant's ``github`` hook (no API key)."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "hookshot/1"}
    headers["X-Kworkflow-Signature"] = signature or sign(secret, raw, int(at or time.time()))
    if delivery is not None:
        headers["X-Kworkflow-Delivery"] = delivery
    async with api.http("") as http:
        return await http.post(
            f"/v1/hooks/{tenant or api.acme}/github", content=raw, headers=headers
        )


PUSH = {"action": "push", "repository": {"name": "kw"}, "commits": 3}


async def test_a_signed_delivery_starts_one_run_with_the_mapped_input(
    hooks_api: Api, client: Client
) -> None:
    api = hooks_api
    first = await deliver(api, PUSH)
    assert first.status_code == 201, first.text
    run_id = first.json()["run_id"]
    assert first.json() == {
        "run_id": run_id,
        "workflow": "deploys",
        "version": 1,
        "created": True,
        "links": {"run": f"/v1/runs/{run_id}"},
    }
    assert run_id.startswith(f"{api.acme}:github-hook-")
    async with api.http() as http:
        view = await wait_status(http, run_id, "succeeded")
    assert view["result"] == "kw x3 by hookshot/1"

    again = await deliver(api, PUSH)  # the sender retries the same delivery
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "created": False}
    other = await deliver(api, PUSH, delivery="d-2")
    assert other.status_code == 201, other.text
    assert other.json()["run_id"] != run_id
    ids = [wf.id async for wf in client.list_workflows(f"WorkflowId = '{run_id}'")]
    assert ids == [run_id]


async def test_a_wrong_missing_or_old_signature_is_401_and_starts_nothing(
    hooks_api: Api, client: Client
) -> None:
    api = hooks_api
    wrong = await deliver(api, PUSH, secret="not-the-secret-at-all")
    assert wrong.status_code == 401, wrong.text
    assert wrong.json() == {"detail": "invalid signature: it does not match the body and timestamp"}
    old = await deliver(api, PUSH, at=time.time() - 360)
    assert old.status_code == 401, old.text
    assert old.json() == {
        "detail": "expired signature: its timestamp is more than 300 s from the server's clock"
    }
    async with api.http("") as http:
        raw = json.dumps(PUSH).encode()
        missing = await http.post(f"/v1/hooks/{api.acme}/github", content=raw)
        garbled = await http.post(
            f"/v1/hooks/{api.acme}/github",
            content=raw,
            headers={"X-Kworkflow-Signature": "v1=abc"},
        )
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("missing signature")
    assert garbled.status_code == 401
    assert garbled.json()["detail"].startswith("malformed signature")
    async with api.http() as http:
        runs = (await http.get("/v1/runs")).json()["runs"]
    assert runs == []


async def test_a_false_filter_is_202_and_starts_nothing(hooks_api: Api) -> None:
    api = hooks_api
    response = await deliver(api, {**PUSH, "action": "opened"})
    assert response.status_code == 202, response.text
    assert response.json() == {"started": False, "reason": "filtered"}
    async with api.http() as http:
        assert (await http.get("/v1/runs")).json()["runs"] == []


async def test_a_mapped_input_that_breaks_the_schema_is_422_naming_the_property(
    hooks_api: Api,
) -> None:
    api = hooks_api
    response = await deliver(api, {**PUSH, "commits": "three"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("input.count: ")


async def test_another_tenants_path_or_an_unknown_hook_is_404(hooks_api: Api) -> None:
    api = hooks_api  # globex has a secret GITHUB configured but no workflow with the hook
    for tenant, hook in [(api.globex, "github"), (api.acme, "gitlab"), ("nobody", "github")]:
        raw = json.dumps(PUSH).encode()
        headers = {"X-Kworkflow-Signature": sign(SECRET, raw, int(time.time()))}
        async with api.http("") as http:
            response = await http.post(f"/v1/hooks/{tenant}/{hook}", content=raw, headers=headers)
        assert response.status_code == 404, (tenant, hook, response.text)
        assert response.json() == {"detail": f"no webhook {hook!r} here"}


async def test_a_body_over_the_limit_is_413(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> None:
    secrets: dict[str, str] = {}
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    async with serving_api(
        client, task_queue, url, webhook_secrets=secrets, max_webhook_bytes=100
    ) as api:
        secrets[f"{api.acme}/GITHUB"] = SECRET
        api.publish(HOOKED)
        response = await deliver(api, {**PUSH, "padding": "x" * 100})
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": "the webhook body is larger than 100 bytes (177 bytes)"}


def test_lint_checks_a_webhooks_cel_and_its_name(tmp_path: Path) -> None:
    from registry.errors import DefinitionRejected
    from registry.store import DefinitionStore

    bad = HOOKED.replace('filter: body.action == "push"', "filter: body.action ==").replace(
        "triggers:\n", "triggers:\n  - {webhook: github, secret: OTHER}\n"
    )
    with (
        DefinitionStore(f"sqlite:///{tmp_path / 'r.db'}") as store,
        pytest.raises(DefinitionRejected) as caught,
    ):
        store.publish("acme", bad, "yaml")
    found = sorted((p.path, p.code) for p in caught.value.problems)
    assert found == [("triggers[1].filter", "cel"), ("triggers[1].webhook", "trigger_name")]


def test_secrets_come_from_the_environment_by_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    from api.hook_secrets import secret_value
    from api.settings import ApiSettings, ApiSettingsError

    monkeypatch.setenv("ACME_HOOK", SECRET)
    env = {"KWORKFLOW_WEBHOOK_SECRETS": "acme/GITHUB=env:ACME_HOOK, acme/SHORT=tiny"}
    secrets = ApiSettings.from_env(env).webhook_secrets
    assert secrets == {"acme/GITHUB": "env:ACME_HOOK", "acme/SHORT": "tiny"}
    assert secret_value(secrets, "acme", "GITHUB") == SECRET
    assert secret_value(secrets, "globex", "GITHUB") is None  # filed under acme only
    assert secret_value(secrets, "acme", "SHORT") is None  # under 16 characters
    with pytest.raises(ApiSettingsError) as caught:
        ApiSettings.from_env({"KWORKFLOW_WEBHOOK_SECRETS": "GITHUB=abc"})
    assert str(caught.value) == (
        "KWORKFLOW_WEBHOOK_SECRETS entry 1 is not `tenant/NAME=value` or `tenant/NAME=env:VAR`"
    )


def test_a_rolled_secret_signs_with_two_v1_and_either_verifies() -> None:
    from interpreter.webhook_triggers import SignatureRejected, verify

    body, now = b'{"a": 1}', 1_800_000_000
    old = sign("old-secret-old-secret", body, now).split(",")[1]
    header = f"{sign(SECRET, body, now)},{old}"
    verify(header, SECRET, body, now)
    verify(header, "old-secret-old-secret", body, now + 300)
    with pytest.raises(SignatureRejected) as caught:
        verify(header, "third-secret-third", body, now)
    assert str(caught.value).startswith("invalid signature")
    with pytest.raises(SignatureRejected) as caught:
        verify(header, SECRET, body + b" ", now)
    assert str(caught.value).startswith("invalid signature")


async def test_a_hook_whose_secret_is_not_configured_is_401(hooks_api: Api) -> None:
    api = hooks_api
    api.publish(HOOKED.replace("secret: GITHUB", "secret: NOPE"), api.globex)
    response = await deliver(api, PUSH, tenant=api.globex)
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "this webhook's secret is not configured on the server"}


async def test_a_body_that_is_not_json_or_nests_too_deep_is_422(hooks_api: Api) -> None:
    api = hooks_api
    for raw, detail in [
        (b"not json", "the webhook body is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (b"[" * 200 + b"]" * 200, "the webhook body nests deeper than 100 levels"),
    ]:
        headers = {"X-Kworkflow-Signature": sign(SECRET, raw, int(time.time()))}
        async with api.http("") as http:
            response = await http.post(f"/v1/hooks/{api.acme}/github", content=raw, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json() == {"detail": detail}


async def test_a_later_version_without_the_hook_takes_it_away(hooks_api: Api) -> None:
    api = hooks_api
    without = HOOKED[: HOOKED.index("triggers:")] + HOOKED[HOOKED.index("steps:") :]
    assert api.publish(without) == 2
    response = await deliver(api, PUSH)
    assert response.status_code == 404, response.text

"""``kworkflow hooks send`` as a subprocess against a served API: it signs as the API checks.

A signed delivery starts the hook's run, the same ``--delivery-id`` again starts nothing, a body
of a file goes byte for byte, and a wrong, missing or short secret and bad JSON get clear errors.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.support import Api, wait_status
from tests.api.test_webhooks import PUSH, SECRET, hooks_api
from tests.cli import kworkflow_async
from tests.cli.test_cli_remote import env_of

__all__ = ["hooks_api"]


async def test_hooks_send_signs_and_starts_one_run_per_delivery(
    hooks_api: Api, tmp_path: Path
) -> None:
    api = hooks_api
    env = {**env_of(api), "MY_HOOK_SECRET": SECRET}
    body = tmp_path / "push.json"
    body.write_text(json.dumps(PUSH, indent=4), encoding="utf-8")  # signed as written
    args = ("hooks", "send", api.acme, "github", "--data", f"@{body}")
    sent = await kworkflow_async(
        *args, "--secret-env", "MY_HOOK_SECRET", "--delivery-id", "cli-d1", env=env
    )
    assert sent.code == 0, sent.stderr
    first = json.loads(sent.stdout)
    run_id = first["run_id"]
    assert first == {
        "created": True,
        "links": {"run": f"/v1/runs/{run_id}"},
        "run_id": run_id,
        "version": 1,
        "workflow": "deploys",
    }
    async with api.http() as http:
        view = await wait_status(http, run_id, "succeeded")
    assert view["result"] == "kw x3 by kworkflow-cli"

    again = await kworkflow_async(
        *args, "--secret-env", "MY_HOOK_SECRET", "--delivery-id", "cli-d1", env=env
    )
    assert (again.code, json.loads(again.stdout)) == (0, {**first, "created": False})
    filtered = await kworkflow_async(
        "hooks", "send", api.acme, "github", "--data", '{"action": "pull"}',
        "--secret-env", "MY_HOOK_SECRET", env=env,
    )  # fmt: skip
    assert (filtered.code, json.loads(filtered.stdout)) == (
        0,
        {"reason": "filtered", "started": False},
    )


async def test_hooks_send_says_what_is_wrong(hooks_api: Api) -> None:
    api = hooks_api
    env = {**env_of(api), "WRONG": "not-the-secret-at-all", "SHORT": "tiny"}
    push = json.dumps(PUSH)
    wrong = await kworkflow_async(
        "hooks", "send", api.acme, "github", "--data", push, "--secret-env", "WRONG", env=env
    )
    assert (wrong.code, wrong.stdout) == (1, "")
    assert wrong.stderr == (
        "kworkflow: the webhook refused the delivery: invalid signature: it does not match the "
        f"body and timestamp (HTTP 401); check that WRONG holds the secret the operator filed "
        f"for {api.acme}'s hook\n"
    )
    unset = await kworkflow_async("hooks", "send", api.acme, "github", "--data", push, env=env)
    assert (unset.code, unset.stderr) == (
        2,
        "kworkflow: KWORKFLOW_HOOK_SECRET is not set: put the webhook's secret in it "
        "(--secret-env)\n",
    )
    short = await kworkflow_async(
        "hooks", "send", api.acme, "github", "--data", push, "--secret-env", "SHORT", env=env
    )
    assert (short.code, short.stderr) == (
        2,
        "kworkflow: SHORT holds 4 characters: the API refuses secrets shorter than 16\n",
    )
    bad = await kworkflow_async(
        "hooks", "send", api.acme, "github", "--data", "{nope", "--secret-env", "WRONG", env=env
    )
    assert (bad.code, bad.stderr) == (
        2,
        "kworkflow: --data is not valid JSON: Expecting property name enclosed in double quotes"
        " (line 1, column 2)\n",
    )
    unknown = await kworkflow_async(
        "hooks", "send", api.acme, "gitlab", "--data", push,
        "--secret-env", "WRONG", env=env,
    )  # fmt: skip
    assert (unknown.code, unknown.stderr) == (
        1,
        "kworkflow: no webhook 'gitlab' here (HTTP 404)\n",
    )

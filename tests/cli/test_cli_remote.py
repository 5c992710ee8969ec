"""The API commands (publish, trigger, runs, respond, cancel) and their HTTP client."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from cli.errors import ApiUnavailable
from cli.http import ApiClient, SseEvent, SseParser, parse_sse
from tests.api.support import (
    APPROVAL,
    SLOW,
    Api,
    api,
    start_run,
    wait_listed,
    wait_status,
    wait_waiting,
)
from tests.cli import (
    FAILING,
    SCHEMA_MISTAKES,
    cli_env,
    following,
    free_port,
    kworkflow,
    kworkflow_async,
)
from tests.support.loopback import LoopbackServer

__all__ = ["api"]

# --- the SSE parser ---------------------------------------------------------------------------


def test_sse_events_are_ended_by_a_blank_line() -> None:
    lines = [
        "id: 1",
        "event: step_started",
        'data: {"seq": 1}',
        "",
        "id: 2",
        "event: run_succeeded",
        'data: {"seq": 2}',
        "",
    ]
    assert list(parse_sse(lines)) == [
        SseEvent("step_started", '{"seq": 1}', "1"),
        SseEvent("run_succeeded", '{"seq": 2}', "2"),
    ]


def test_sse_comments_are_ignored_and_data_lines_are_joined() -> None:
    lines = [": keep-alive", "", "data: first", ": between", "data:second", "data", "", ""]
    assert list(parse_sse(lines)) == [SseEvent("message", "first\nsecond\n", None)]


def test_sse_only_one_space_after_the_colon_is_dropped_and_line_breaks_are_stripped() -> None:
    lines = ["event:step_waiting\r\n", "data:  two spaces\n", "\r\n"]
    assert list(parse_sse(lines)) == [SseEvent("step_waiting", " two spaces", None)]


def test_sse_an_event_without_data_is_not_dispatched_and_its_type_does_not_leak() -> None:
    lines = ["id: 7", "event: step_started", "", "data: x", ""]
    assert list(parse_sse(lines)) == [SseEvent("message", "x", "7")]


def test_sse_the_last_id_carries_over_and_retry_is_kept() -> None:
    parser = SseParser()
    assert [parser.feed(line) for line in ("id: 3", "retry: 250", "data: a")] == [None] * 3
    assert parser.feed("") == SseEvent("message", "a", "3")
    assert (parser.last_event_id, parser.retry_ms) == ("3", 250)
    assert [parser.feed(line) for line in ("retry: soon", "data: b")] == [None, None]
    assert parser.feed("") == SseEvent("message", "b", "3")
    assert parser.retry_ms == 250


def test_sse_an_unfinished_event_at_the_end_is_dropped() -> None:
    assert list(parse_sse(["data: complete", "", "data: cut off"])) == [
        SseEvent("message", "complete", None)
    ]


def test_sse_unknown_fields_and_an_id_with_nul_are_ignored() -> None:
    assert list(parse_sse(["id: 1", "id: a\0b", "colour: red", "data: x", ""])) == [
        SseEvent("message", "x", "1")
    ]


# --- reconnecting the event stream ------------------------------------------------------------


class _DroppingStream(BaseHTTPRequestHandler):
    """Serves two events then drops the connection mid-body; the next request resumes."""

    protocol_version = "HTTP/1.1"
    seen: list[str | None] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Last-Event-ID"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        if len(self.seen) == 1:
            body = (
                "id: 1\nevent: step_started\ndata: {}\n\nid: 2\nevent: step_succeeded\ndata: {}\n\n"
            )
            self._chunk(body + "retry: 10\n")
            self.wfile.flush()
            self.connection.shutdown(2)  # no final chunk: the body is cut off
            return
        self._chunk("id: 3\nevent: run_succeeded\ndata: {}\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dropping_server() -> Iterator[str]:
    _DroppingStream.seen = []
    server = LoopbackServer(_DroppingStream).start()
    yield server.url
    server.stop()


def test_a_dropped_event_stream_is_reopened_from_the_last_event(dropping_server: str) -> None:
    with ApiClient(dropping_server) as api:
        events = list(api.events("run-1"))
    assert [(e.id, e.event) for e in events] == [
        ("1", "step_started"),
        ("2", "step_succeeded"),
        ("3", "run_succeeded"),
    ]
    assert _DroppingStream.seen == [None, "2"]


def test_an_event_stream_that_cannot_be_reopened_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("cli.http.time.sleep", lambda seconds: None)
    url = f"http://127.0.0.1:{free_port()}"
    with ApiClient(url) as api, pytest.raises(ApiUnavailable) as caught:
        list(api.events("run-1"))
    assert str(caught.value) == f"cannot reach the kworkflow API at {url}: connection refused"


# --- without an API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["publish", "examples/hello.yaml"],
        ["trigger", "hello", "--input", '{"name": "Ada"}'],
        ["runs", "list"],
        ["runs", "show", "r1"],
        ["respond", "r1", "review", "--data", "{}"],
        ["cancel", "r1"],
    ],
)
def test_an_unreachable_api_exits_3_with_a_clear_message(args: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = kworkflow(*args, env=cli_env(KWORKFLOW_URL=url))
    assert (result.code, result.stdout) == (3, "")
    assert (
        result.stderr == f"kworkflow: cannot reach the kworkflow API at {url}: connection refused\n"
    )


def test_a_url_that_is_not_http_exits_2() -> None:
    result = kworkflow("runs", "list", env=cli_env(KWORKFLOW_URL="localhost:8000"))
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "kworkflow: KWORKFLOW_URL='localhost:8000' is not an http:// or https:// URL\n"
    )


def test_bad_json_is_refused_before_the_api_is_called() -> None:
    env = cli_env(KWORKFLOW_URL=f"http://127.0.0.1:{free_port()}")
    result = kworkflow("trigger", "hello", "--input", "{name: Ada}", env=env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "kworkflow: --input is not valid JSON: "
        "Expecting property name enclosed in double quotes (line 1, column 2)\n"
    )
    result = kworkflow("respond", "r1", "review", "--data", "[", env=env)
    assert result.code == 2
    assert result.stderr.startswith("kworkflow: --data is not valid JSON: ")


def test_api_command_is_api_serve_with_its_options() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kworkflow("api", "--port", str(port), env=cli_env())
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1].startswith(
        f"kworkflow: port {port} on 127.0.0.1 is already in use"
    )


def test_publish_of_a_missing_file_exits_2() -> None:
    env = cli_env(KWORKFLOW_URL=f"http://127.0.0.1:{free_port()}")
    result = kworkflow("publish", "nowhere.yaml", env=env)
    assert (result.code, result.stderr) == (2, "kworkflow: nowhere.yaml: no such file\n")


# --- against the real API -----------------------------------------------------------------------


TWO_PEOPLE = """\
kworkflow: 1
name: two-people
steps:
  - {id: first, kind: human, prompt: "First?"}
  - {id: second, kind: human, prompt: "Second?"}
"""

TIME = r"\d\d:\d\d:\d\d"
TOOK = r"\d+(\.\d)?m?s"


def env_of(api: Api, tenant: str | None = None) -> dict[str, str]:
    """CLI settings pointing at the served API with ``tenant``'s key (default: the first)."""
    return cli_env(KWORKFLOW_URL=api.url, KWORKFLOW_API_KEY=api.keys[tenant or api.acme])


def run_ids(api: Api, name: str) -> tuple[str, str]:
    """A new ``--run-id`` and the id the API gives the run (prefixed with the tenant)."""
    given = f"{name}-{uuid.uuid4().hex[:8]}"
    return given, f"{api.acme}:{given}"


def progress(stderr: str) -> list[str]:
    """The progress lines of ``--follow`` with the clock and durations made stable."""
    lines = []
    for line in stderr.splitlines():
        if re.match(TIME + "  ", line):
            line = re.sub(f" in {TOOK}$", " in <took>", line[10:])
        lines.append(line)
    return lines


async def test_publish_prints_the_name_and_the_new_version(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "approval.yaml"
    path.write_text(APPROVAL)
    first = await kworkflow_async("publish", str(path), env=env_of(api))
    assert (first.code, first.stdout, first.stderr) == (0, "published approval v1\n", "")
    second = await kworkflow_async("publish", str(path), env=env_of(api))
    assert (second.code, second.stdout) == (0, "published approval v2\n")


async def test_publish_a_json_definition(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "failing.json"
    path.write_text(json.dumps(yaml.safe_load(FAILING)))
    result = await kworkflow_async("publish", str(path), env=env_of(api))
    assert (result.code, result.stdout, result.stderr) == (0, "published failing v1\n", "")


async def test_publish_prints_the_apis_findings_like_lint(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCHEMA_MISTAKES)
    result = await kworkflow_async("publish", str(path), env=env_of(api))
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{path}:7:27: steps[0].retry.max_attempts: step 'first': "
        "`max_attempts` must be at least 0, not -1",
        f"{path}:8:9: steps[1].id: 'Second' is not a valid step id: "
        "step ids are lower-case letters, digits and _, starting with a letter",
        f"kworkflow: {path}: 2 problem(s); not published",
    ]
    lint = await kworkflow_async("lint", str(path), env=env_of(api))
    assert lint.stderr.splitlines() == result.stderr.splitlines()[:2]


async def test_trigger_prints_the_run_id_and_show_summarizes_the_run(api: Api) -> None:
    api.publish(APPROVAL)
    given, run_id = run_ids(api, "approval")
    env = env_of(api)
    result = await kworkflow_async(
        "trigger", "approval", "--input", '{"title": "v3"}', "--run-id", given, env=env
    )
    assert (result.code, result.stdout, result.stderr) == (0, run_id + "\n", "")
    async with api.http() as http:
        await wait_waiting(http, run_id, "review")
    shown = await kworkflow_async("runs", "show", run_id, env=env)
    assert shown.code == 0
    lines = shown.stdout.splitlines()
    assert lines[:2] == [f"run {run_id}: approval v1", "status    running"]
    assert re.fullmatch(r"started   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[2])
    assert lines[3] == "steps"
    assert re.fullmatch(rf"  prepare     succeeded   1 attempt  {TOOK}", lines[4])
    assert lines[5:] == [
        "  review      waiting     1 attempt",
        "  publish     pending     0 attempts",
        "waiting   review: Approve Release v3?",
        lines[8],
        "  approved: boolean (required)",
        f"""  answer: kworkflow respond {run_id} review --data '{{"approved": <boolean>}}'""",
        "tokens    0 in, 0 out; cost $0.0000",
    ]
    assert re.fullmatch(r"  since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[8])
    raw = await kworkflow_async("runs", "show", run_id, "--json", env=env)
    view = json.loads(raw.stdout)
    assert (view["id"], view["status"], view["pending_human"][0]["step"]) == (
        run_id,
        "running",
        "review",
    )
    again = await kworkflow_async(
        "trigger", "approval", "--input", '{"title": "v3"}', "--run-id", given, env=env
    )
    assert (again.code, again.stdout) == (0, run_id + "\n")
    assert again.stderr == f"run {run_id} (it already existed; not started again)\n"


async def test_trigger_follow_shows_progress_waits_for_the_answer_and_prints_the_result(
    api: Api,
) -> None:
    api.publish(APPROVAL)
    given, run_id = run_ids(api, "approval")
    env = env_of(api)
    args = ("trigger", "approval", "--input", '{"title": "v2"}', "--run-id", given, "--follow")
    async with following(*args, env=env) as follower:
        await follower.read_until("waiting for a person", "before the review step waited")
        answer = await kworkflow_async(
            "respond", run_id, "review", "--data", '{"approved": true}', env=env
        )
        ended = await follower.end()
    assert answer.code == 0
    accepted = json.loads(answer.stdout)
    assert {k: accepted[k] for k in ("run_id", "step", "data")} == {
        "run_id": run_id,
        "step": "review",
        "data": {"approved": True},
    }
    assert (ended.code, ended.stdout) == (0, '"published"\n')
    stderr = ended.stderr
    for line in stderr.splitlines()[1:]:
        assert re.match(TIME + "  ", line), line
    assert progress(stderr) == [
        f"run {run_id} of approval v1 started",
        "prepare    started",
        "prepare    succeeded in <took>",
        "review     started",
        "review     waiting for a person: Approve Release v2?  (answer: kworkflow respond "
        f"""{run_id} review --data '{{"approved": <boolean>}}')""",
        "review     succeeded in <took>",
        "publish    started",
        "publish    succeeded in <took>",
        "run        succeeded",
    ]


async def test_trigger_follow_of_a_failing_run_exits_1_naming_the_step(api: Api) -> None:
    api.publish(FAILING)
    given, run_id = run_ids(api, "failing")
    result = await kworkflow_async(
        "trigger", "failing", "--input", '{"values": [1]}', "--run-id", given, "--follow",
        env=env_of(api),
    )  # fmt: skip
    assert (result.code, result.stdout) == (1, "")
    lines = progress(result.stderr)
    assert lines[:2] == [f"run {run_id} of failing v1 started", "pick       started"]
    assert lines[2].startswith("pick       failed: ExpressionError: ")
    assert lines[3].startswith("run        failed: step 'pick' (aggregate) failed")
    assert lines[4].startswith(f"run {run_id} failed: step 'pick' (aggregate) failed")
    assert len(lines) == 5


async def test_trigger_refusals_exit_2(api: Api) -> None:
    api.publish(APPROVAL)
    env = env_of(api)
    unknown = await kworkflow_async("trigger", "nobody", env=env)
    assert (unknown.code, unknown.stdout) == (2, "")
    assert unknown.stderr.startswith("kworkflow: ")
    assert unknown.stderr.endswith(" (HTTP 404); the run was not started\n")
    assert "nobody" in unknown.stderr
    bad = await kworkflow_async("trigger", "approval", "--input", '{"title": 7}', env=env)
    assert (bad.code, bad.stdout) == (2, "")
    assert bad.stderr.startswith("kworkflow: input.title: ")
    assert bad.stderr.endswith(" (HTTP 422); the run was not started\n")
    version = await kworkflow_async("trigger", "approval", "--version", "9", env=env)
    assert (version.code, version.stdout) == (2, "")
    assert "(HTTP 404)" in version.stderr


async def test_respond_refusals_exit_1(api: Api) -> None:
    api.publish(APPROVAL)
    env = env_of(api)
    async with api.http() as http:
        run_id = (await start_run(http, "approval", run_id="answered"))["id"]
        await wait_waiting(http, run_id, "review")
    wrong = await kworkflow_async(
        "respond", run_id, "review", "--data", '{"approved": "yes"}', env=env
    )
    assert (wrong.code, wrong.stdout) == (1, "")
    assert wrong.stderr.startswith("kworkflow: ")
    assert wrong.stderr.endswith(" (HTTP 422)\n")
    assert "approved" in wrong.stderr
    unknown = await kworkflow_async("respond", run_id, "nobody", "--data", "{}", env=env)
    assert (unknown.code, unknown.stderr) == (
        1,
        f"kworkflow: run '{run_id}' has no human step 'nobody' (HTTP 404)\n",
    )
    api.publish(TWO_PEOPLE)
    async with api.http() as http:
        two = (await start_run(http, "two-people"))["id"]
        await wait_waiting(http, two, "first")
    not_waiting = await kworkflow_async("respond", two, "second", "--data", "{}", env=env)
    assert (not_waiting.code, not_waiting.stdout) == (1, "")
    assert not_waiting.stderr.startswith("kworkflow: ")
    assert not_waiting.stderr.endswith(" (HTTP 409)\n")
    assert "second" in not_waiting.stderr
    ok = await kworkflow_async(
        "respond", run_id, "review", "--data", '{"approved": false}', env=env
    )
    assert ok.code == 0
    async with api.http() as http:
        await wait_status(http, run_id, "succeeded")
    ended = await kworkflow_async("respond", run_id, "review", "--data", "{}", env=env)
    assert (ended.code, ended.stderr) == (
        1,
        f"kworkflow: run '{run_id}' has ended: step 'review' is not waiting (HTTP 409)\n",
    )


async def test_cancel_then_show_and_cancel_again(api: Api) -> None:
    api.publish(SLOW)
    env = env_of(api)
    given, run_id = run_ids(api, "slow")
    started = await kworkflow_async("trigger", "slow", "--run-id", given, env=env)
    assert (started.code, started.stdout) == (0, run_id + "\n")
    cancelled = await kworkflow_async("cancel", run_id, env=env)
    assert (cancelled.code, cancelled.stdout, cancelled.stderr) == (
        0,
        f"cancellation of run {run_id} requested\n",
        "",
    )
    async with api.http() as http:
        await wait_status(http, run_id, "cancelled")
    shown = await kworkflow_async("runs", "show", run_id, env=env)
    assert shown.stdout.splitlines()[1] == "status    cancelled"
    again = await kworkflow_async("cancel", run_id, env=env)
    assert (again.code, again.stderr) == (
        1,
        f"kworkflow: run '{run_id}' has already ended (cancelled) (HTTP 409)\n",
    )
    missing = await kworkflow_async("runs", "show", "nobody-here", env=env)
    assert (missing.code, missing.stdout) == (1, "")
    assert missing.stderr.endswith(" (HTTP 404)\n")


async def test_runs_list_is_a_table(api: Api) -> None:
    api.publish(APPROVAL)
    api.publish(FAILING)
    env = env_of(api)
    async with api.http() as http:
        started = [(await start_run(http, "approval"))["id"] for _ in range(2)]
        other = (await start_run(http, "failing", {"values": [1, 2, 3, 4, 5, 6]}))["id"]
        await wait_status(http, other, "succeeded")
        await wait_listed(http, "workflow=approval", lambda ids: set(started) <= set(ids))
        await wait_listed(http, "status=succeeded", lambda ids: other in ids)
    listed = await kworkflow_async("runs", "list", "--workflow", "approval", env=env)
    assert (listed.code, listed.stderr) == (0, "")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "WORKFLOW", "VERSION", "STATUS", "STARTED"]
    assert sorted(row.split()[0] for row in rows) == sorted(started)
    for row in rows:
        assert re.fullmatch(
            rf"{api.acme}:approval-[0-9a-f]{{8}}  approval  1        running  "
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
            row,
        ), row
    done = await kworkflow_async("runs", "list", "--status", "succeeded", env=env)
    assert [row.split()[:4] for row in done.stdout.splitlines()[1:]] == [
        [other, "failing", "1", "succeeded"]
    ]
    none = await kworkflow_async("runs", "list", "--workflow", "nobody", env=env)
    assert (none.code, none.stdout, none.stderr) == (0, "", "no runs\n")


async def test_a_wrong_key_exits_2_saying_which_variable(api: Api) -> None:
    env = cli_env(KWORKFLOW_URL=api.url, KWORKFLOW_API_KEY="not-a-key-of-anyone")
    result = await kworkflow_async("runs", "list", env=env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"kworkflow: the kworkflow API at {api.url} refused ")
    assert result.stderr.endswith("(HTTP 401); check KWORKFLOW_API_KEY\n")
    without = await kworkflow_async("runs", "list", env=cli_env(KWORKFLOW_URL=api.url))
    assert without.code == 2
    assert without.stderr.endswith("(HTTP 401); set KWORKFLOW_API_KEY\n")

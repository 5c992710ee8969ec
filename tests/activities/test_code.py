"""The ``code`` activity end to end: real runs of the interpreter, the real sandbox, escapes."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import tempfile
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities import _sandbox
from activities.code import code
from activities.contract import RunRef, StepCall
from interpreter.registration import DATA_CONVERTER, new_worker
from tests.support.runs import failure, result, run, start

SECRET = "KWORKFLOW_TEST_SECRET"


@pytest.fixture
async def code_worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """A worker on this test's queue with the real ``code`` activity."""
    async with new_worker(client, task_queue, [code]) as w:
        yield w


@pytest.fixture
async def iso() -> _sandbox.Isolation:
    """How this machine isolates code (what the assertions may expect)."""
    return await _sandbox.isolation()


def flow(*sources: str, timeout: str = "10s", memory_mb: int | None = None) -> str:
    """A definition of one code step per source (``s0``, ``s1``…, in a chain) with ``input``."""
    steps = []
    for i, source in enumerate(sources):
        step: dict[str, Any] = {"id": f"s{i}", "kind": "code", "source": textwrap.dedent(source)}
        step |= {"input": "${ input }", "timeout": timeout}
        if memory_mb is not None:
            step["memory_mb"] = memory_mb
        steps.append(step)
    outputs = ", ".join(f'"s{i}": steps.s{i}.output' for i in range(len(sources)))
    output = "${ steps.s0.output }" if len(sources) == 1 else "${ {" + outputs + "} }"
    body = {"kworkflow": 1, "name": "code", "steps": steps, "output": output}
    return yaml.safe_dump(body, sort_keys=False)


async def fails(
    client: Client, task_queue: str, definition: str, input: Any = None
) -> tuple[dict[str, Any], list[Any]]:
    """Run a definition that must fail in one attempt; its step error and the activity's details."""
    handle = await start(client, task_queue, definition, input)
    err = await failure(handle)
    assert err.type == "StepFailed", err
    assert err.details[0]["attempts"] == 1, err.details  # never retried
    return err.details[0]["error"], await activity_details(handle)


async def activity_details(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    """The details of the last ActivityTaskFailed event in the run's history."""
    details: list[Any] = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_failed_event_attributes"):
            info = event.activity_task_failed_event_attributes.failure.application_failure_info
            details = await DATA_CONVERTER.decode(info.details.payloads)
    return details


async def still_serves(client: Client, task_queue: str) -> None:
    """The worker that ran an escape attempt runs the next code step normally."""
    assert await run(client, task_queue, flow("output = input + 1"), 41) == 42


def live_processes_of(uid: int) -> list[str]:
    """Processes running (zombies aside) under ``uid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            lines = (entry / "status").read_text().splitlines()
        except OSError:
            continue
        status = {k: v.split() for k, _, v in (line.partition(":") for line in lines)}
        if int(status["Uid"][0]) == uid and status["State"][0] != "Z":
            found.append(f"{entry.name} {status['Name'][0]}")
    return found


# ---------------------------------------------------------------------------------- the contract


async def test_input_in_output_out_with_json_types(client, task_queue, code_worker):
    """``input`` arrives as JSON values and ``output`` leaves as them: ints stay ints."""
    source = """
        names = {k: type(v).__name__ for k, v in input.items()}
        output = {"names": names, "n": input["n"] * 2, "pair": (1, "é"), "none": None}
    """
    value = {"n": 3, "f": 2.5, "s": "x", "b": True, "l": [1, None], "m": {"k": "v"}, "z": None}
    assert await run(client, task_queue, flow(source), value) == {
        "names": {
            "n": "int",
            "f": "float",
            "s": "str",
            "b": "bool",
            "l": "list",
            "m": "dict",
            "z": "NoneType",
        },
        "n": 6,
        "pair": [1, "é"],
        "none": None,
    }


async def test_prints_are_logged_and_not_in_the_output(client, task_queue, code_worker, caplog):
    """stdout and stderr are captured and logged; the output is only ``output``."""
    caplog.set_level(logging.INFO, logger="temporalio.activity")
    source = """
        import sys
        print("to stdout", input)
        print("to stderr", file=sys.stderr)
        output = "done"
    """
    assert await run(client, task_queue, flow(source), 7) == "done"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "code step s0 stdout:\nto stdout 7\n" in logged
    assert "code step s0 stderr:\nto stderr\n" in logged


async def test_a_user_exception_is_a_code_error_with_the_users_lines(
    client, task_queue, code_worker
):
    source = """
        def check(value):
            raise ValueError(f"bad value {value}")
        print("checking")
        check(input)
    """
    error, details = await fails(client, task_queue, flow(source), 7)
    assert error == {
        "type": "CodeError",
        "message": "Traceback (most recent call last):\n"
        '  File "<code>", line 5, in <module>\n'
        "    check(input)\n"
        '  File "<code>", line 3, in check\n'
        '    raise ValueError(f"bad value {value}")\n'
        "ValueError: bad value 7",
    }
    assert details == [{"attempt": 1}, {"stdout": "checking\n", "stderr": ""}]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1", "the code did not set `output`"),
        (
            "output = {1, 2}",
            "`output` is not JSON-serializable: TypeError: Object of type set is not JSON "
            "serializable",
        ),
        (
            "output = float('nan')",
            "`output` is not JSON-serializable: ValueError: Out of range float values are not "
            "JSON compliant",
        ),
        ("import sys; sys.exit(3)", "the code called sys.exit(3) before it set `output`"),
        (
            "output = (",
            "  File \"<code>\", line 1\n    output = (\n             ^\nSyntaxError: '(' was "
            "never closed",
        ),
        (
            "output = 'x' * 2_000_000",
            "`output` is 2,000,002 bytes of JSON; the limit is 1,000,000",
        ),
        ("import os; os.abort()", "the code's process was killed by SIGABRT"),
    ],
    ids=["no-output", "set", "nan", "exit", "syntax", "too-large", "abort"],
)
async def test_code_mistakes_are_code_errors(client, task_queue, code_worker, source, message):
    error, _ = await fails(client, task_queue, flow(source))
    assert error == {"type": "CodeError", "message": message}


async def test_another_language_is_invalid_input():
    """The loader only accepts ``python``; the activity refuses anything else on its own."""
    ref = RunRef(run_id="r", workflow="w", step="s")
    call = StepCall(ref=ref, kind="code", params={"language": "ruby", "source": "puts 1"})
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(code, call)
    assert caught.value.type == "InvalidInput"
    assert caught.value.non_retryable
    assert caught.value.message == "code step: language 'ruby' is not supported (only 'python')"


# ------------------------------------------------------------------------------------- escapes


async def test_the_code_sees_no_worker_secret(client, task_queue, code_worker, iso, monkeypatch):
    secret = f"s3cret-{uuid.uuid4()}"
    monkeypatch.setenv(SECRET, secret)
    source = """
        import os
        try:
            with open(f"/proc/{input}/environ", "rb") as f:
                worker = f.read().decode(errors="replace")
        except OSError as exc:
            worker = type(exc).__name__
        output = {"env": dict(os.environ), "uid": os.getuid(), "worker_environ": worker}
    """
    out = await run(client, task_queue, flow(source), os.getpid())
    assert secret not in json.dumps(out)
    home = out["env"]["HOME"]
    assert out["env"] == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home}
    if iso.private_tmp:
        assert home == "/tmp"
    if iso.private_uid:
        assert out["uid"] in _sandbox.SANDBOX_UIDS
    await still_serves(client, task_queue)


async def test_writes_outside_the_temp_dir_do_not_land(client, task_queue, code_worker, iso):
    """The code writes in its own fresh directory; /tmp is private; the rest is read-only."""
    assert iso.private_tmp and iso.private_uid, "this machine should have the full sandbox"
    hidden = tempfile.mkdtemp(prefix="kworkflow-hidden-")  # in the worker's /tmp
    os.chmod(hidden, 0o777)
    name = f"kworkflow-escape-{uuid.uuid4()}"
    source_tree = Path(_sandbox.__file__).parent  # root's, readable by all
    targets = [f"/tmp/{name}", f"/var/tmp/{name}", f"/dev/shm/{name}", f"{hidden}/{name}"]
    targets.append(str(source_tree / name))
    write = """
        import os
        def attempt(path):
            try:
                with open(path, "w") as f:
                    f.write("escaped")
                return "written"
            except OSError as exc:
                return type(exc).__name__
        output = {"here": attempt("left-behind.txt"), "cwd": sorted(os.listdir("."))}
        output["targets"] = [attempt(path) for path in input]
    """
    look = "import os; output = sorted(os.listdir('.'))"
    # The worker's files are read-only to the code, or not there at all when the checkout
    # itself lives under /tmp (the code's /tmp is its own tmpfs).
    private = ("/tmp/", "/var/tmp/", "/dev/shm/")
    source_tree_error = (
        "FileNotFoundError" if str(source_tree.resolve()).startswith(private) else "PermissionError"
    )
    try:
        out = await run(client, task_queue, flow(write, look), targets)
        assert out == {
            "s0": {
                "here": "written",
                "cwd": ["left-behind.txt"],
                # /tmp, /var/tmp and /dev/shm are one private tmpfs that vanishes with the run;
                # the worker's /tmp is not even visible; the worker's files are read-only
                "targets": [
                    "written",
                    "written",
                    "written",
                    "FileNotFoundError",
                    source_tree_error,
                ],
            },
            "s1": [],  # the next step gets a fresh directory
        }
        for path in targets:
            assert not os.path.exists(path), path
    finally:
        for path in targets:
            Path(path).unlink(missing_ok=True)
        os.rmdir(hidden)
    await still_serves(client, task_queue)


async def test_a_fork_bomb_is_contained(client, task_queue, code_worker, iso):
    """At most PROCESS_LIMIT processes; all of them end with the run."""
    assert iso.pid_namespace and iso.private_uid, "this machine should have the full sandbox"
    bounded = """
        import os, time
        forked = 0
        for _ in range(100):
            try:
                if os.fork() == 0:
                    os.setsid()  # leave the process group: only the sandbox can end it
                    time.sleep(60)
                    os._exit(0)
                forked += 1
            except OSError:
                pass
        output = {"uid": os.getuid(), "forked": forked}
    """
    out = await run(client, task_queue, flow(bounded), None)
    assert out["forked"] == _sandbox.PROCESS_LIMIT - 1
    assert live_processes_of(out["uid"]) == []

    endless = """
        import os, sys
        print(os.getuid(), file=sys.stderr)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    error, details = await fails(client, task_queue, flow(endless, timeout="2s"))
    assert loop.time() - began < 4
    assert error == {
        "type": "CodeTimeout",
        "message": "the code ran longer than 2s (the step's timeout)",
    }
    uid = int(details[1]["stderr"].split()[0])
    assert uid in _sandbox.SANDBOX_UIDS
    assert live_processes_of(uid) == []
    await still_serves(client, task_queue)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("hog = bytearray(256 << 20)", "    hog = bytearray(256 << 20)"),
        ("hog = []\nwhile True:\n    hog.append(' ' * 100_000)", "    hog.append(' ' * 100_000)"),
    ],
    ids=["at-once", "little-by-little"],
)
async def test_a_memory_hog_is_stopped(client, task_queue, code_worker, source, line):
    error, _ = await fails(client, task_queue, flow(source, memory_mb=64))
    assert error["type"] == "CodeMemoryExceeded"
    message = error["message"].split("\n")
    assert message[0] == "the code ran out of memory (memory_mb: 64)"
    assert line in message
    assert message[-1] == "MemoryError"
    await still_serves(client, task_queue)


async def test_an_endless_loop_times_out(client, task_queue, code_worker):
    loop = asyncio.get_running_loop()
    began = loop.time()
    error, _ = await fails(client, task_queue, flow("while True:\n    pass", timeout="2s"))
    assert loop.time() - began < 4
    assert error == {
        "type": "CodeTimeout",
        "message": "the code ran longer than 2s (the step's timeout)",
    }
    await still_serves(client, task_queue)


async def test_no_network(client, task_queue, code_worker, iso):
    """A server on the worker's loopback is out of reach, and sees no connection."""
    assert iso.network, "this machine should have a network namespace"
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = "import socket\nsocket.create_connection(('127.0.0.1', input), timeout=2)"
    try:
        error, _ = await fails(client, task_queue, flow(source), port)
    finally:
        server.close()
        await server.wait_closed()
    assert error["type"] == "CodeError"
    last = error["message"].split("\n")[-1]
    assert last == f"OSError: [Errno {errno.ENETUNREACH}] Network is unreachable"
    assert connections == 0
    await still_serves(client, task_queue)


async def test_concurrent_runs_do_not_see_each_other(client, task_queue, code_worker):
    """Two runs at once: each in its own directory, under its own uid."""
    source = """
        import os
        with open("mine.txt", "w") as f:
            f.write(str(input))
        output = {"uid": os.getuid(), "files": sorted(os.listdir("."))}
    """
    handles = [await start(client, task_queue, flow(source), i) for i in range(2)]
    first, second = [await result(h) for h in handles]
    assert first["files"] == second["files"] == ["mine.txt"]
    assert first["uid"] != second["uid"]


async def test_no_new_user_namespaces_and_no_host_sys(client, task_queue, code_worker, iso):
    """The seccomp filter refuses CLONE_NEWUSER (unshare, clone; clone3 is ENOSYS, so threads and
    processes come from clone); /sys is an empty directory; the code runs at nice 10."""
    assert iso.syscall_filter and iso.private_tmp, "this machine should have the full sandbox"
    source = """
        import ctypes, os, subprocess, threading
        libc = ctypes.CDLL(None, use_errno=True)
        def call(*args):
            result = libc.syscall(*args)
            return [result, ctypes.get_errno() if result == -1 else 0]
        output = {
            "unshare": call(272, 0x10000000),                   # unshare(CLONE_NEWUSER)
            "clone": call(56, 0x10000000 | 17, 0, 0, 0, 0),     # clone(CLONE_NEWUSER | SIGCHLD)
            "clone3": call(435, 0, 0),
            "unshare_net": call(272, 0x40000000),  # allowed by the filter, refused: no capability
            "sys": os.listdir("/sys"),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
        }
        try:
            open("/sys/class/net/lo/address").read()
        except OSError as exc:
            output["sys_read"] = type(exc).__name__
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        output["process"] = subprocess.run(["/bin/echo", "ok"], capture_output=True).stdout.decode()
    """
    assert os.uname().machine == "x86_64", "the system call numbers above are x86-64's"
    out = await run(client, task_queue, flow(source), None)
    assert out == {
        "unshare": [-1, errno.EPERM],
        "clone": [-1, errno.EPERM],
        "clone3": [-1, errno.ENOSYS],
        "unshare_net": [-1, errno.EPERM],
        "sys": [],
        "nice": _sandbox.CODE_NICE,
        "sys_read": "FileNotFoundError",
        "process": "ok\n",
    }
    await still_serves(client, task_queue)


def outside_private_dirs() -> Path:
    """A directory on the host's own disk, outside what the sandbox replaces (/tmp and co.)."""
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd(), Path("/var/lib")):
        if not str(candidate).startswith(("/tmp/", "/var/tmp/", "/dev/shm/")):
            return candidate
    raise AssertionError("no directory outside /tmp to test with")


async def test_the_code_cannot_read_kworkflows_own_state(client, task_queue, code_worker, iso):
    """A registry database as a store creates it, wherever the checkout lives: 0600 in 0700,
    owned by the worker's uid, so code (another uid) cannot open it, nor list its directory."""
    if not iso.private_uid:
        pytest.skip("only a root worker runs code under another uid")
    from registry.store import DefinitionStore

    base = Path(tempfile.mkdtemp(prefix=".kworkflow-test-", dir=outside_private_dirs()))
    try:
        base.chmod(0o755)  # a checkout as people have it: readable by all
        database = base / ".kworkflow" / "registry.db"
        DefinitionStore(f"sqlite:///{database}").close()
        assert (database.stat().st_mode & 0o777, database.parent.stat().st_mode & 0o777) == (
            0o600,
            0o700,
        )
        source = """
            def attempt(action, path):
                try:
                    action(path)
                    return "read"
                except OSError as exc:
                    return type(exc).__name__
            import os
            output = [attempt(lambda p: open(p, "rb").read(), input[0]),
                      attempt(os.listdir, input[1]), attempt(os.listdir, input[2])]
        """
        out = await run(
            client, task_queue, flow(source), [str(database), str(database.parent), str(base)]
        )
        assert out == ["PermissionError", "PermissionError", "read"]
    finally:
        shutil.rmtree(base)


def test_the_seccomp_filter_per_architecture() -> None:
    """Each program checks the architecture first; x86-64 also refuses x32 numbers; AArch64
    has its own system call numbers; an unknown machine gets no filter (and a warning)."""
    from activities._seccomp import user_namespace_filter

    x86 = user_namespace_filter("x86_64")
    arm = user_namespace_filter("aarch64")
    assert x86 is not None and arm is not None
    assert [k for _, _, _, k in x86[:2]] == [4, 0xC000003E]  # load arch, compare
    assert (0x35, 0x40000000) in [(code, k) for code, _, _, k in x86]  # x32: EPERM
    assert [k for code, _, _, k in arm if code == 0x15] == [0xC00000B7, 97, 220, 435]
    for program in (x86, arm):  # every jump lands inside the program
        jumps = [(i, jt, jf) for i, (code, jt, jf, _) in enumerate(program) if code & 7 == 5]
        assert all(i + 1 + max(jt, jf) < len(program) for i, jt, jf in jumps)
        assert program[-2:] == [(6, 0, 0, 0x50000 | errno.EPERM), (6, 0, 0, 0x50000 | errno.ENOSYS)]
    assert user_namespace_filter("riscv64") is None

"""A throwaway PostgreSQL server for the session, from Debian's binaries (no Docker, no service).

:func:`postgres_url` runs ``initdb`` and ``pg_ctl start`` in a temporary directory, listening on a
free loopback port with trust authentication, and yields a SQLAlchemy URL of a fresh database.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (through
``runuser``). Without the binaries the tests that need it fail when ``CI`` is set (``.ci/run``
installs them) and are skipped otherwise.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback import free_port

PG_GLOB = "/usr/lib/postgresql/*/bin"
DATABASE = "kworkflow"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",  # a test server: durability does not matter, speed does
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
}


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that has ``initdb``, if any."""

    def major(path: str) -> int:
        found = re.search(r"/postgresql/(\d+)/", path)
        return int(found.group(1)) if found else 0

    candidates = [p for p in glob.glob(PG_GLOB) if os.access(f"{p}/initdb", os.X_OK)]
    return Path(max(candidates, key=major)) if candidates else None


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {output}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A ``postgresql+psycopg://`` URL of an empty database on a server of this session."""
    bindir = postgres_bin()
    if bindir is None:
        reason = f"PostgreSQL is not installed (no {PG_GLOB}/initdb): apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="kworkflow-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data, log, port = root / "data", root / "server.log", free_port()
    options = [f"-p {port}", f"-k {root}"] + [f"-c {k}={v}" for k, v in SERVER_SETTINGS.items()]
    started = False
    try:
        _run(
            [
                *as_user,
                str(bindir / "initdb"),
                f"--pgdata={data}",
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        start = [str(bindir / "pg_ctl"), f"--pgdata={data}", f"--log={log}", "--wait"]
        try:
            _run(
                [*as_user, *start, "--timeout=30", f"--options={' '.join(options)}", "start"],
                "pg_ctl start",
            )
        except RuntimeError as exc:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{exc}\nserver log:\n{server_log}") from None
        started = True
        _run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                DATABASE,
            ],
            "createdb",
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            stop = [str(bindir / "pg_ctl"), f"--pgdata={data}", "--mode=immediate", "stop"]
            subprocess.run([*as_user, *stop], capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)

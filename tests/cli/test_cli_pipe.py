"""A reader that closes the pipe (`kworkflow ... | head`) ends the command quietly."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_closed_pipe_on_stdout_is_not_an_error() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "init", "--list"],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr.decode() == ""  # no "unexpected error", no traceback
    assert done.returncode == 141

"""`make lint` checks only the project's own files: ruff's `include` leaves out a user's file
placed in the checkout, and still checks the packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"


def test_a_stray_user_file_at_the_root_is_not_linted(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "my_flow.py").write_text("import os,sys\nx = 1;y=2\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "try.py").write_text("import os\n")
    (tmp_path / "interpreter").mkdir()
    (tmp_path / "interpreter" / "bad.py").write_text("import os\n")
    done = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    flagged = {line.split(":")[0] for line in done.stdout.splitlines() if ".py:" in line}
    assert flagged == {str(Path("interpreter") / "bad.py")}

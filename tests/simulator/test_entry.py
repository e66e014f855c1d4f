"""Ctrl-C ends every command with one line and exit 130, even when a library wraps it.

A SIGINT that lands while pydantic's serializer runs Python code (a field serializer, a default)
reaches the command as pydantic's own ``PydanticSerializationError``, not as
``KeyboardInterrupt``. The command below reproduces that for real: its serializer sends SIGINT to
its own process, so Python's handler raises inside the serializer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kit.paths import REPO

COMMAND = """
import os, signal
from pydantic import BaseModel, field_serializer

class Record(BaseModel):
    value: int

    @field_serializer("value")
    def _value(self, value: int) -> int:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the serializer runs
        return value

def main() -> int:
    Record(value=1).model_dump_json()
    return 0
"""


def run(tmp_path: Path, module: str, source: str) -> subprocess.CompletedProcess[str]:
    """``run_main('demo', module)`` in a fresh interpreter, the module's code being ``source``."""
    (tmp_path / f"{module}.py").write_text(source)
    code = f"from simulator.entry import run_main; run_main('demo', {module!r})"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_a_ctrl_c_that_pydantic_wraps_is_still_one_line_and_130(tmp_path: Path) -> None:
    result = run(tmp_path, "wrapped_interrupt", COMMAND)
    assert (result.returncode, result.stderr) == (130, "demo: interrupted\n")


def test_an_error_without_ctrl_c_is_not_taken_for_one(tmp_path: Path) -> None:
    result = run(tmp_path, "plain_error", "def main() -> int:\n    raise ValueError('boom')\n")
    assert result.returncode == 1
    assert "ValueError: boom" in result.stderr

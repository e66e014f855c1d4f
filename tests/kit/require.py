"""Tests that need something the machine may lack: skip locally, fail under CI.

CI must run every test, so where a server binary or a tool is missing, `require_or_skip` fails
the test when the environment variable CI is set to anything but "", "0", "false" or "no", and
skips it with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["find_tool", "in_ci", "require_or_skip", "which_tool"]


def in_ci() -> bool:
    """Return True when env CI is set to a true value (then a missing server is a failure)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_or_skip(reason: str) -> NoReturn:
    """Skip the test with `reason`, or fail it when env CI is set (CI must run every test)."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so a missing server fails the test)", pytrace=False)
    pytest.skip(reason)


def which_tool(name: str) -> str | None:
    """Return a CLI installed beside this interpreter (the venv) or on PATH, or None."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def find_tool(name: str, hint: str = "pip install -e '.[test]'") -> str:
    """Return a CLI beside this interpreter or on PATH; skip (fail under CI) when missing."""
    found = which_tool(name)
    if found is None:
        require_or_skip(f"{name} not found ({hint})")
    return found

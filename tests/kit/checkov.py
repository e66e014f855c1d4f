"""checkov as the tests run it: scripts/checkov.sh (its own virtualenv), JSON report parsed.

The `checkov_script` fixture in tests/conftest.py installs the virtualenv once and hands over
the script; `checkov_report` runs one framework over a directory and returns its report.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["checkov_report"]


def checkov_report(
    directory: Path, checkov_script: Path, *, framework: str = "kubernetes", timeout: float = 900
) -> dict[str, Any]:
    """checkov's JSON report for one framework (kubernetes, terraform, ...) over a directory."""
    done = subprocess.run(
        [str(checkov_script), "-d", str(directory), "--framework", framework, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"checkov printed no JSON report:\n{done.stderr[-3000:]}") from exc
    if isinstance(report, list):  # one entry per framework
        (report,) = [r for r in report if r.get("check_type") == framework]
    return dict(report)

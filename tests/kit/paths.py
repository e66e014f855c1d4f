"""Where things are: the repository root and the example specs, for every test area."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES", "REPO"]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

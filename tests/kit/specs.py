"""Plain-data builders of Sweep documents for the spec, expansion and CLI tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def sweep_doc(name: str = "demo", **spec: Any) -> dict[str, Any]:
    """A valid Sweep document: a 3 x 4 grid with 2 replicates, overridden by ``spec``."""
    base: dict[str, Any] = {
        "simulator": {"agents": 200},
        "parameters": {
            "whale_ratio": {"values": [0.05, 0.15, 0.3]},
            "conformity_threshold": {"min": 0.3, "max": 0.9, "steps": 4},
        },
        "replicates": 2,
        "seed": 42,
        "pointsPerTask": 5,
    }
    base.update(copy.deepcopy(spec))
    return {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": name},
        "spec": base,
    }

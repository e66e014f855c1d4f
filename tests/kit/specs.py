"""Plain-data builders of Sweep documents for the spec, CLI and run tests, and writing them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["document", "grid_doc", "sweep_doc", "write_spec"]


def document(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A Sweep document (apiVersion, kind, metadata.name) around a spec."""
    return {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


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
        "runsPerTask": 5,
    }
    base.update(copy.deepcopy(spec))
    return document(name, base)


def grid_doc(name: str, output: str, **spec: Any) -> dict[str, Any]:
    """A small Sweep: a 3 x 2 grid of 60-agent runs with 3 replicates (18 runs, 5 tasks)."""
    base: dict[str, Any] = {
        "simulator": {"agents": 60, "cascade_rounds": 3},
        "parameters": {
            "whale_ratio": {"values": [0.05, 0.15, 0.3]},
            "conformity_threshold": {"min": 0.4, "max": 0.8, "steps": 2},
        },
        "replicates": 3,
        "seed": 11,
        "runsPerTask": 4,
        "output": {"uri": output},
    }
    base.update(copy.deepcopy(spec))
    return document(name, base)


def write_spec(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write a Sweep document as YAML; return the path."""
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False))
    return path


def size_warnings_only(err: str) -> bool:
    """Whether every line of ``err`` is a task-size warning (``sweepctl`` says how to resize)."""
    return all(
        line.startswith("sweepctl: warning: spec.runsPerTask: ") for line in err.splitlines()
    )

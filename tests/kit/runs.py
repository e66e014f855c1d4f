"""Helpers for the worker, runner, status, collect and report tests: specs, CLI runs, task files."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from promstack import PUSHGATEWAY, Pushgateway, require_prometheus_binaries
from sweepkit import REPO

from sweep_controller.execution.layout import Manifest, manifest_key, task_key
from sweep_controller.spec.models import Sweep, load_sweep
from sweep_controller.store import Store, open_store

_VOLATILE = re.compile(rb'"(run_id|timestamp)":"[^"]*"')


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
        "pointsPerTask": 4,
        "output": {"uri": output},
    }
    base.update(copy.deepcopy(spec))
    return {"apiVersion": "govsim.io/v1alpha1", "kind": "Sweep", "metadata": {"name": name},
            "spec": base}  # fmt: skip


def write_spec(path: Path, doc: dict[str, Any]) -> Path:
    """Write a Sweep document as YAML; returns the path."""
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def sweepctl(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """Run ``sweepctl ARGS`` as a user would (a subprocess); capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sweep_controller", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        timeout=timeout,
    )


def start_sweepctl(
    *args: str | Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``sweepctl ARGS`` in its own session (so a test can signal its process group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sweep_controller", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ if env is None else env),
        start_new_session=True,
    )


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def manifests(store: Store, sweep: Sweep) -> dict[int, Manifest]:
    """Every task manifest in the store, by index."""
    found = {}
    for index in range(sweep.spec.n_tasks):
        key = manifest_key(sweep.name, index)
        if store.exists(key):
            found[index] = Manifest.model_validate_json(store.get_bytes(key))
    return found


def task_lines(store: Store, sweep: Sweep) -> dict[int, list[bytes]]:
    """The JSONL lines of every task that has a JSONL, by index."""
    found = {}
    for index in range(sweep.spec.n_tasks):
        key = task_key(sweep.name, index)
        if store.exists(key):
            found[index] = store.get_bytes(key).splitlines()
    return found


def normalised(lines: list[bytes]) -> list[bytes]:
    """Lines with run_id and timestamp blanked: what must match byte for byte across runs."""
    return [_VOLATILE.sub(rb'"\1":""', line) for line in lines]


def all_run_indexes(store: Store, sweep: Sweep) -> list[int]:
    """Run indexes of every record in every task JSONL, with repetitions."""
    return [
        json.loads(line)["run_index"]
        for lines in task_lines(store, sweep).values()
        for line in lines
    ]


def open_output(spec_path: Path) -> tuple[Sweep, Store]:
    """The sweep of a spec file and its output store."""
    sweep = load_sweep(spec_path)
    return sweep, open_store(sweep.spec.output.uri)


def temp_files(root: Path) -> list[Path]:
    """In-flight temporary files of the file store left under ``root``."""
    return [p for p in root.rglob("*") if ".govsim-partial-" in p.name]


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A real Pushgateway on a free port (skipped, or failed under CI, when not installed)."""
    binary = require_prometheus_binaries(PUSHGATEWAY)[PUSHGATEWAY]
    server = Pushgateway(tmp_path_factory.mktemp("pushgateway"), binary=binary).start()
    yield server
    server.stop()

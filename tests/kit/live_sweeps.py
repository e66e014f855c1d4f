"""Real local sweeps for the observability tests: specs, `sweepctl` subprocesses, their results.

The tests run `sweepctl` exactly as a user does (a subprocess with `--pushgateway` and
`--metrics-port`) and compare what the Pushgateway and Prometheus show with what the sweep wrote
to its output store, so expected values come from the run records, not from guesses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from promstack import Pushgateway

from simulator.records.schema import RunRecord
from sweep_controller.execution.layout import Manifest, manifest_key, task_key
from sweep_controller.spec.models import load_sweep
from sweep_controller.store import open_store

__all__ = [
    "REPO",
    "SweepOutput",
    "cumulative_counts",
    "gateway_value",
    "read_output",
    "run_sweepctl",
    "sweep_doc",
    "sweepctl_process",
    "task_groups",
    "wait_until",
    "write_spec",
]

REPO = Path(__file__).resolve().parents[2]


def sweep_doc(name: str, output: str, *, agents: Sequence[int], replicates: int) -> dict[str, Any]:
    """A Sweep with one task per entry of ``agents``: task i runs ``replicates`` runs of agents[i].

    A one-axis grid in sequential order with ``pointsPerTask`` = ``replicates`` puts point i, and
    so agents[i], in task i; an entry much larger than the others makes that task the slow one.
    """
    spec = {
        "simulator": {"influence_model": "small_world", "mean_degree": 8, "cascade_rounds": 3},
        "parameters": {"agents": {"values": list(agents)}},
        "replicates": replicates,
        "seed": 20240611,
        "pointsPerTask": replicates,
        "order": "sequential",
        "output": {"uri": output},
    }
    return {"apiVersion": "govsim.io/v1alpha1", "kind": "Sweep", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


def write_spec(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write a Sweep document as YAML and return its path."""
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False))
    return path


def _argv(args: Sequence[str | Path]) -> list[str]:
    return [sys.executable, "-m", "sweep_controller", *map(str, args)]


def run_sweepctl(
    *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``sweepctl ARGS`` to the end as a user would; capture its output."""
    return subprocess.run(
        _argv(args),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ if env is None else env),
        timeout=timeout,
    )


@contextlib.contextmanager
def sweepctl_process(*args: str | Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``sweepctl ARGS`` running in the background (output to ``log``); killed if still alive."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _argv(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,  # its pool processes share its group: one kill stops all
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@dataclass(frozen=True)
class SweepOutput:
    """What a finished sweep left in its store: the records and the bytes it wrote."""

    tasks_done: int
    records: list[RunRecord]
    bytes_written: int
    """Every task JSONL and manifest: what the workers count in govsim_storage_written_bytes."""


def read_output(spec_path: Path) -> SweepOutput:
    """Read every committed task of the sweep in ``spec_path`` from its output store."""
    sweep = load_sweep(spec_path)
    store = open_store(sweep.spec.output.uri)
    done, records, nbytes = 0, [], 0
    for index in range(sweep.spec.n_tasks):
        if not store.exists(manifest_key(sweep.name, index)):
            continue
        manifest_body = store.get_bytes(manifest_key(sweep.name, index))
        data = store.get_bytes(task_key(sweep.name, index))
        assert Manifest.model_validate_json(manifest_body).bytes == len(data)
        records += [RunRecord.model_validate_json(line) for line in data.splitlines()]
        nbytes += len(data) + len(manifest_body)
        done += 1
    return SweepOutput(tasks_done=done, records=records, bytes_written=nbytes)


def cumulative_counts(values: Sequence[float], bounds: Sequence[float]) -> dict[float, int]:
    """A histogram's cumulative bucket counts (``le`` as a float, +Inf included) for ``values``."""
    return {float(le): sum(1 for v in values if v <= le) for le in (*bounds, float("inf"))}


def gateway_value(gateway: Pushgateway, name: str, labels: Mapping[str, str]) -> float | None:
    """The value of the gateway's sample ``name`` whose labels include ``labels``, or None."""
    for family in text_string_to_metric_families(gateway.metrics_text()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def task_groups(gateway: Pushgateway, sweep: str) -> list[int]:
    """The task indexes of ``sweep`` that have a group on the gateway, sorted."""
    return sorted(int(g["index"]) for g in gateway.groups() if g.get("sweep") == sweep)


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate()`` until true; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)

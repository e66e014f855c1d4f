"""Reading what a sweep wrote: manifests, task files, records, in-flight temporary files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from simulator.records.schema import RunRecord
from sweep_controller.execution.layout import (
    Manifest,
    manifest_key,
    parse_task_file,
    records_key,
    tasks_prefix,
)
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store, open_store

_VOLATILE = re.compile(rb'"(run_id|timestamp)":"[^"]*"')


def manifests(store: Store, sweep: Sweep) -> dict[int, Manifest]:
    """Every task manifest in the store, by index."""
    found = {}
    for index in range(sweep.spec.n_tasks):
        key = manifest_key(sweep.name, index)
        if store.exists(key):
            found[index] = Manifest.model_validate_json(store.get_bytes(key))
    return found


def task_lines(store: Store, sweep: Sweep) -> dict[int, list[bytes]]:
    """The JSONL lines of every committed task (the records its manifest names), by index."""
    return {
        index: store.get_bytes(records_key(sweep.name, manifest)).splitlines()
        for index, manifest in manifests(store, sweep).items()
    }


def data_files(store: Store, sweep: Sweep) -> dict[int, list[str]]:
    """The keys of every task's data files, named by a manifest or not, by index."""
    prefix = tasks_prefix(sweep.name)
    found: dict[int, list[str]] = {}
    for key in sorted(store.list(prefix)):
        parsed = parse_task_file(key[len(prefix) :])
        if parsed is not None and parsed.kind in ("data", "legacy-data"):
            found.setdefault(parsed.index, []).append(key)
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
        manifest = Manifest.model_validate_json(manifest_body)
        data = store.get_bytes(records_key(sweep.name, manifest))
        assert manifest.records.bytes == len(data)
        records += [RunRecord.model_validate_json(line) for line in data.splitlines()]
        nbytes += len(data) + len(manifest_body)
        done += 1
    return SweepOutput(tasks_done=done, records=records, bytes_written=nbytes)

"""Plans of one sweep: which seeding a results folder uses, retiring an earlier plan, reuse.

A sweep's *plan* is what one spec makes of it: its points, replicates and tasks. Adding
replicates or values to a finished sweep makes a new plan whose runs include the old plan's runs
(same runs hash, ``sweep_controller.spec.growth``), keyed by content: a run's seed derives from
its point's parameters and its replicate, so the same run has the same key, seed and result in
both plans, wherever it sits. Growing is three steps:

- **Retire** the earlier plan before any task of the new plan commits: copy its spec copy
  (``sweep.json``) and its manifests into ``<name>/plans/<hash12>/`` (``layout.plan_prefix``),
  each a conditional create, so repeating it after a crash at any point copies what is missing
  and changes nothing else. The manifests stay in ``tasks/`` too: a task of the new plan
  replaces its index's manifest when it commits, as any commit does, and until then a reader of
  the new plan takes the old one for pending (``layout.check_task`` with the runs hash). They
  are never deleted, because the store has no conditional delete: a runner still retiring could
  otherwise delete a manifest that another runner of the new plan has just committed. The data
  files stay where they are, named by the retired manifests, which cleanup keeps
  (:func:`retired_names`). ``sweepctl run`` retires every earlier manifest when it starts
  (:func:`retire`); a worker retires the spec copy before it replaces it and its own task's
  earlier manifest before it simulates (:func:`retire_spec_copy`, :func:`retire_manifest`).
- **Reuse**: a task of the new plan looks each of its runs up among the retired plans by its
  seed (:class:`Reuse`), checks that the record found has the run's seed and parameters, and
  copies that record line, with ``run_index`` rewritten to the run's index in the new plan,
  instead of simulating it. Everything else in the line (``run_id``, ``timestamp``,
  ``code_version``) is the run's as first simulated. Any problem (a retired file missing or
  changed, a line that does not match) and the run is simulated: reuse can cost work, never
  correctness.
- **Exactly once** holds by the current plan alone: readers read only the manifests in
  ``tasks/`` that carry the current spec hash, and each holds its task's runs, whether
  simulated or copied.

Seeding: results written before seeds were keyed by content carry ``legacy_spec_hash``; a
folder whose first manifest carries it is resumed with run-index seeds under that hash
(:func:`identify`), and such a plan does not grow.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from pydantic_core import to_json

from simulator.seeding import content_seed
from sweep_controller.errors import KeyNotFound, SweepError
from sweep_controller.execution.layout import (
    SPEC_COPY,
    Manifest,
    TaskScan,
    manifest_json,
    parse_manifest,
    parse_task_file,
    plan_prefix,
    plans_prefix,
    sha256_hex,
    spec_copy_key,
    tasks_prefix,
)
from sweep_controller.spec.expand import RunSpec, SweepPlan
from sweep_controller.spec.growth import runs_hash
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep, legacy_spec_hash, spec_hash
from sweep_controller.store import Store

__all__ = [
    "PlanIdentity",
    "Retired",
    "Reuse",
    "identify",
    "retire",
    "retire_manifest",
    "retire_spec_copy",
    "retired_names",
]

log = logging.getLogger(__name__)

_RUN_INDEX = re.compile(rb'"run_index":\d+')


@dataclass(frozen=True)
class PlanIdentity:
    """The hashes a sweep's results carry, and whether its seeds are run-index seeds."""

    spec_hash: str
    runs_hash: str | None
    """None when the plan cannot grow (legacy seeds, or method optuna)."""
    legacy: bool = False


def identify(store: Store, sweep: Sweep) -> PlanIdentity:
    """The identity of ``sweep``'s results in ``store``: legacy when the first manifest listed
    under ``tasks/`` carries ``legacy_spec_hash(sweep)``, content-seeded otherwise."""
    current = PlanIdentity(spec_hash(sweep), runs_hash(sweep))
    legacy = legacy_spec_hash(sweep)
    if legacy == current.spec_hash:  # method optuna: run-index seeds, no growth
        return current
    prefix = tasks_prefix(sweep.name)
    for key in store.list(prefix):
        parsed = parse_task_file(key[len(prefix) :])
        if parsed is None or parsed.kind != "manifest":
            continue
        try:
            manifest = parse_manifest(store.get_bytes(key))
        except KeyNotFound:
            continue
        if isinstance(manifest, Manifest) and manifest.spec_hash == legacy:
            return PlanIdentity(legacy, None, legacy=True)
        break
    return current


def _read_sweep(raw: bytes, where: str) -> Sweep | None:
    try:
        return parse_sweep(json.loads(raw), where)
    except (ValueError, SweepError):
        return None


def retire_spec_copy(store: Store, sweep: Sweep, identity: PlanIdentity) -> bool:
    """Copy the spec copy beside the results into ``plans/`` when it is an earlier plan's (same
    runs hash, another spec hash); True if it is one (copied now or before)."""
    if identity.runs_hash is None:
        return False
    key = spec_copy_key(sweep.name)
    try:
        raw = store.get_bytes(key)
    except KeyNotFound:
        return False
    old = _read_sweep(raw, store.uri_for(key))
    if old is None or runs_hash(old) != identity.runs_hash:
        return False
    old_hash = spec_hash(old)
    if old_hash == identity.spec_hash:
        return False
    store.put_bytes(f"{plan_prefix(sweep.name, old_hash)}{SPEC_COPY}", raw, if_absent=True)
    return True


def retire_manifest(store: Store, sweep_name: str, manifest: Manifest) -> bool:
    """Copy an earlier plan's manifest into its plan's folder; True if this call created it."""
    key = f"{plan_prefix(sweep_name, manifest.spec_hash)}{manifest.index:06d}.manifest.json"
    return store.put_bytes(key, manifest_json(manifest), if_absent=True)


@dataclass(frozen=True)
class Retired:
    """What one retirement found and copied."""

    manifests: int = 0
    """Earlier plans' manifests in ``tasks/``."""
    copied: int = 0
    """Of them, copied into ``plans/`` by this call (the others were there already)."""


def retire(store: Store, sweep: Sweep, identity: PlanIdentity, scan: TaskScan) -> Retired:
    """Retire every earlier plan whose manifests ``scan`` found (its ``earlier``), and the
    spec copy if it is an earlier plan's: idempotent, safe to repeat after a crash."""
    retire_spec_copy(store, sweep, identity)
    copied = sum(retire_manifest(store, sweep.name, m) for m in scan.earlier.values())
    return Retired(len(scan.earlier), copied)


def _retired(store: Store, sweep_name: str) -> dict[str, tuple[bool, list[int]]]:
    """Retired plans by folder name: whether each has its spec copy, and its task indexes."""
    prefix = plans_prefix(sweep_name)
    plans: dict[str, tuple[bool, list[int]]] = {}
    for key in store.list(prefix):
        folder, _, name = key[len(prefix) :].partition("/")
        _, tasks = plans.setdefault(folder, (False, []))
        if name == SPEC_COPY:
            plans[folder] = (True, tasks)
        elif (parsed := parse_task_file(name)) is not None and parsed.kind == "manifest":
            tasks.append(parsed.index)
    return plans


def _retired_manifest(store: Store, key: str) -> Manifest | None:
    try:
        manifest = parse_manifest(store.get_bytes(key))
    except KeyNotFound:
        return None
    return manifest if isinstance(manifest, Manifest) else None


def retired_names(store: Store, sweep_name: str) -> set[str]:
    """The data files (names in ``tasks/``) that retired manifests name: cleanup keeps them."""
    names: set[str] = set()
    for folder, (_, tasks) in _retired(store, sweep_name).items():
        for index in tasks:
            key = f"{plans_prefix(sweep_name)}{folder}/{index:06d}.manifest.json"
            manifest = _retired_manifest(store, key)
            if manifest is not None:
                names.update(f.name for f in manifest.files.values())
    return names


@dataclass(frozen=True)
class _Where:
    folder: str
    task: int
    offset: int
    run_index: int


@dataclass
class Reuse:
    """The runs of the retired plans of a sweep, found by seed (built on first use, per process).

    Building costs one listing of ``plans/``, one read of each retired spec copy and a seed per
    retired run (computed from the spec copies, no record read); each task then reads the
    retired records files that hold its runs, once each.
    """

    store: Store
    sweep_name: str
    runs_hash: str
    _index: dict[int, _Where] | None = None
    _lines: dict[tuple[str, int], list[bytes] | None] = field(default_factory=dict)
    built_runs: int = 0

    def _build(self) -> dict[int, _Where]:
        index: dict[int, _Where] = {}
        for folder, (has_spec, tasks) in sorted(_retired(self.store, self.sweep_name).items()):
            if not has_spec or not tasks:
                continue
            key = f"{plans_prefix(self.sweep_name)}{folder}/{SPEC_COPY}"
            try:
                old = _read_sweep(self.store.get_bytes(key), self.store.uri_for(key))
            except KeyNotFound:
                continue
            if old is None or runs_hash(old) != self.runs_hash:
                continue
            plan = SweepPlan(old)
            for task in sorted(t for t in tasks if t < plan.n_tasks):
                for offset, run_index in enumerate(plan.task_run_indexes(task)):
                    point, replicate = divmod(run_index, plan.replicates)
                    seed = content_seed(plan.seed, plan.point_content(point), replicate)
                    index.setdefault(seed, _Where(folder, task, offset, run_index))
        self.built_runs = len(index)
        return index

    def _task_lines(self, where: _Where) -> list[bytes] | None:
        """A retired task's record lines, verified against its retired manifest (cached)."""
        cache_key = (where.folder, where.task)
        if cache_key not in self._lines:
            if len(self._lines) >= 4:
                self._lines.pop(next(iter(self._lines)))
            self._lines[cache_key] = self._read_lines(where)
        return self._lines[cache_key]

    def _read_lines(self, where: _Where) -> list[bytes] | None:
        prefix = f"{plans_prefix(self.sweep_name)}{where.folder}/"
        manifest = _retired_manifest(self.store, f"{prefix}{where.task:06d}.manifest.json")
        if manifest is None:
            return None
        try:
            data = self.store.get_bytes(f"{tasks_prefix(self.sweep_name)}{manifest.records.name}")
        except KeyNotFound:
            return None
        if sha256_hex(data) != manifest.records.sha256 or len(data) != manifest.records.bytes:
            return None
        return data.splitlines()

    def line(self, run: RunSpec) -> bytes | None:
        """The committed record of ``run`` from a retired plan, as the line the current plan
        stores (``run_index`` rewritten), or None when no retired plan holds it."""
        if self._index is None:
            self._index = self._build()
        where = self._index.get(run.seed)
        if where is None:
            return None
        lines = self._task_lines(where)
        if lines is None or where.offset >= len(lines):
            return None
        old = lines[where.offset]
        try:
            record = json.loads(old)
            same = (
                record["seed"] == run.seed
                and record["run_index"] == where.run_index
                and record["params"] == json.loads(to_json(run.params))
            )
        except (ValueError, KeyError, TypeError):
            same = False
        if not same:
            log.warning("run %d: the retired record found for it differs; simulating it",
                        run.run_index)  # fmt: skip
            return None
        new, count = _RUN_INDEX.subn(f'"run_index":{run.run_index}'.encode(), old, count=1)
        return new if count == 1 else None

"""A sweep's results as one table: a row per run, parameters and outcomes as columns.

Run records are nested JSON, written task by task. Analyses want one flat table, sorted by run,
with the swept parameters as columns beside the outcomes, the fixed ones (every other resolved
parameter of the record, nested ones as ``archetype_mix.retail``) after them, and where the
numbers came from (``analysis.provenance.Provenance``) in its metadata. :func:`collect` reads
every committed task from the store, verifies each JSONL against its manifest (sha256, size,
record count, and that it holds exactly the runs its index owns), validates every record exactly as
``python -m simulator.validate`` does (``simulator.records.validate.check_json``: strict schema,
repeated keys, consistency between fields; a record edited and re-hashed into its manifest is
refused), and flattens the records. Tasks that are not done are reported as missing, never
guessed; a task that does not verify is an error naming its key, and a record that does not
validate is an error naming its task and line. A sweep with no task done is an error naming the
results folder that was read, never an empty table.
``write_table`` writes Parquet or CSV atomically (temporary file, then rename).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic_core import PydanticUndefined, to_jsonable_python

from simulator.atomic import write_atomic
from simulator.errors import MigrationError
from simulator.params import SimParams
from simulator.records.legacy import LEGACY_VERSIONS
from simulator.records.migrate import migrate_line
from simulator.records.validate import check_json
from sweep_controller.analysis.provenance import Provenance
from sweep_controller.errors import ResultsError
from sweep_controller.execution.layout import (
    TaskState,
    check_task,
    records_key,
    sweep_uri,
    tasks_prefix,
)
from sweep_controller.execution.plans import identify
from sweep_controller.intervals import format_gaps, format_intervals
from sweep_controller.spec.columns import (
    DELEGATION_COLUMNS,
    OUTCOME_COLUMNS,
    SCENARIO_COLUMNS,
    ScenarioColumns,
    delegation_row,
    outcome_row,
    run_row,
    used_scenarios,
)
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store, open_store

__all__ = [
    "BASE_COLUMNS",
    "DELEGATION_COLUMNS",
    "OUTCOME_COLUMNS",
    "SCENARIO_COLUMNS",
    "Collected",
    "collect",
    "delegation_row",
    "flat_params",
    "full_params",
    "outcome_columns",
    "outcome_row",
    "write_table",
]

BASE_COLUMNS: tuple[str, ...] = ("sweep", "task", "run_index", "point_index", "replicate", "seed")


def outcome_columns(sweep: Sweep) -> dict[str, str]:
    """The outcome columns of ``sweep``'s table: ``OUTCOME_COLUMNS``, then those of the research
    scenarios it uses (a sweep without scenarios has exactly ``OUTCOME_COLUMNS``)."""
    columns = dict(OUTCOME_COLUMNS)
    for scenario in used_scenarios(sweep.spec):
        columns |= scenario.columns
    return columns


@dataclass(frozen=True)
class Collected:
    """The flattened runs of a sweep, sorted by run index, and which tasks were missing."""

    sweep: Sweep
    swept: tuple[str, ...]
    columns: dict[str, np.ndarray]
    """Base columns, swept parameters, outcomes (what the report and the analyses read)."""
    tasks_read: tuple[int, ...]
    n_missing: int
    """Tasks not done (not collected)."""
    fixed: dict[str, np.ndarray] = field(default_factory=dict)
    """The record's other resolved parameters, flattened (``archetype_mix.retail``)."""
    provenance: Provenance | None = None

    @property
    def n_rows(self) -> int:
        """Number of runs collected."""
        return len(self.columns["run_index"])

    def table_columns(self) -> dict[str, np.ndarray]:
        """Every column in table order: base, swept parameters, fixed parameters, outcomes."""
        names = list(self.columns)
        cut = len(BASE_COLUMNS) + len(self.swept)
        return {
            **{name: self.columns[name] for name in names[:cut]},
            **{name: values for name, values in self.fixed.items() if name not in self.columns},
            **{name: self.columns[name] for name in names[cut:]},
        }

    def to_arrow(self) -> Any:
        """The table as a ``pyarrow.Table`` (``table_columns``), provenance in its metadata."""
        import pyarrow as pa

        table = pa.table({name: pa.array(values) for name, values in self.table_columns().items()})
        if self.provenance is not None:
            table = table.replace_schema_metadata(self.provenance.metadata())
        return table


MAX_INTERVALS = 10
"""Intervals of indexes shown in a message before it is cut short."""


def _describe_missing(committed: list[int], n_tasks: int) -> str:
    shown = format_gaps(committed, n_tasks, max_intervals=MAX_INTERVALS)
    return f"{n_tasks - len(committed)} of {n_tasks} tasks are not done (indexes {shown})"


def collect(
    sweep: Sweep,
    *,
    store: Store | None = None,
    require_complete: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Collected:
    """Read, verify and flatten every committed task of ``sweep``.

    Missing tasks are reported through ``warn`` (or raise ``ResultsError`` with
    ``require_complete``); a task that does not verify always raises ``ResultsError``.
    """
    store = store if store is not None else open_store(sweep.spec.output.uri)
    identity = identify(store, sweep)
    plan = SweepPlan(sweep, legacy_seeds=identity.legacy)
    name, digest = sweep.name, identity.spec_hash
    prefix = tasks_prefix(name)
    listed = sorted(
        int(key[len(prefix) :].split(".")[0])
        for key in store.list(prefix)
        if key.endswith(".manifest.json") and key[len(prefix) :].split(".")[0].isdigit()
    )
    where = sweep_uri(store, name)
    swept = plan.swept_names
    used = used_scenarios(sweep.spec)
    outcomes = outcome_columns(sweep)
    rows: dict[str, list[Any]] = {c: [] for c in (*BASE_COLUMNS, *swept, *outcomes)}
    fixed: dict[str, list[Any]] = {}
    code_versions: set[str] = set()
    schema_versions: set[str] = set()
    committed: list[int] = []
    for index in (i for i in listed if i < plan.n_tasks):
        check = check_task(store, name, index, digest, keep_data=True, runs_hash=identity.runs_hash)
        if check.state is TaskState.PENDING:  # an earlier plan's commit: not this plan's task
            continue
        if check.state is TaskState.FOREIGN:
            raise ResultsError(f"task {index}: {check.reason}: another sweep's results")
        if check.state is not TaskState.DONE or check.data is None or check.manifest is None:
            raise ResultsError(
                f"task {index}: {check.reason or check.state.value}; "
                "run `sweepctl run` to rewrite it"
            )
        committed.append(index)
        code_versions.add(check.manifest.code_version)
        records_uri = store.uri_for(records_key(name, check.manifest))
        versions = _add_task(rows, fixed, check.data, index, plan, swept, records_uri, used)
        schema_versions |= versions
    n_missing = plan.n_tasks - len(committed)  # never listed: a sweep may have 10^12 tasks
    if not committed:
        raise ResultsError(
            f"{name}: no runs found in {where} (0 of {plan.n_tasks} tasks are done); run "
            "`sweepctl run` first, or give the output location the sweep wrote to"
        )
    if n_missing:
        message = f"{name}: {_describe_missing(committed, plan.n_tasks)}"
        if require_complete:
            raise ResultsError(f"{message}; run `sweepctl run` to finish the sweep")
        if warn is not None:
            warn(f"{message}; collecting the {len(committed)} that are")
    order = np.argsort(np.asarray(rows["run_index"], dtype=np.int64), kind="stable")
    columns = {key: _column(values, order) for key, values in rows.items()}
    provenance = Provenance(
        sweep=name,
        spec_hash=digest,
        code_versions=tuple(sorted(code_versions)),
        schema_versions=tuple(sorted(schema_versions)),
        results_uri=where,
        tasks=plan.n_tasks,
        tasks_read=len(committed),
        runs=len(order),
    )
    return Collected(
        sweep,
        swept,
        columns,
        tuple(committed),
        n_missing,
        fixed={key: _column(values, order) for key, values in fixed.items()},
        provenance=provenance,
    )


def _column(values: list[Any], order: np.ndarray) -> np.ndarray:
    """One column in run order (an empty list stays an empty array)."""
    if not values:
        return np.asarray(values)
    if any(v is None for v in values):  # a parameter unset in some runs: keep None, not "None"
        return np.asarray(values, dtype=object)[order]
    return np.asarray(values)[order]


@functools.cache
def _param_defaults() -> dict[str, Any]:
    """Every ``SimParams`` field with a plain default, as JSON values, in field order."""
    return {
        name: to_jsonable_python(info.default)
        for name, info in SimParams.model_fields.items()
        if info.default_factory is None and info.default is not PydanticUndefined
    }


def full_params(params: dict[str, Any]) -> dict[str, Any]:
    """A record's ``params`` with the fields it leaves out at their defaults filled in.

    Records omit some fields while they hold their defaults (``SimParams`` serialisation: the
    population fields, scenario fields), so a parameter is a column of every sweep, whatever
    its rules.
    """
    defaults = _param_defaults()
    ordered = {
        name: params[name] if name in params else defaults[name]
        for name in SimParams.model_fields
        if name in params or name in defaults
    }
    return {**ordered, **params}


def flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record's ``params`` as flat columns: nested mappings joined with dots."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _add_task(
    rows: dict[str, list[Any]],
    fixed: dict[str, list[Any]],
    data: bytes,
    index: int,
    plan: SweepPlan,
    swept: tuple[str, ...],
    uri: str,
    used: tuple[ScenarioColumns, ...],
) -> set[str]:
    """Append one verified task's records to ``rows`` and ``fixed``; check it holds exactly its
    runs. Returns the record schema versions it read (as stored)."""
    expected = plan.task_run_indexes(index)
    seen: list[int] = []
    versions: set[str] = set()
    for line_no, line in enumerate(data.splitlines(), start=1):
        problems = check_json(line)
        stored = _legacy_version(line) if problems else None
        if stored is not None:  # committed by an older version: read it lifted
            versions.add(stored)
            try:
                line, _ = migrate_line(line)
                problems = []
            except MigrationError as exc:
                problems = [str(exc)]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ResultsError(
                f"task {index}: record {line_no} of {uri} is not a valid run record: "
                f"{problems[0]}{more}"
            )
        record = json.loads(line)
        if stored is None:
            versions.add(str(record["schema_version"]))
        run_index = int(record["run_index"])
        seen.append(run_index)
        point, replicate = divmod(run_index, plan.replicates)
        base = (plan.sweep.name, index, run_index, point, replicate, int(record["seed"]))
        for key, value in zip(BASE_COLUMNS, base, strict=True):
            rows[key].append(value)
        params = record["params"]
        for key in swept:
            rows[key].append(params[key] if key in params else _left_out(key))
        _add_fixed(fixed, flat_params(full_params(params)), swept, len(rows["run_index"]) - 1)
        for key, value in run_row(record, used).items():
            rows[key].append(value)
    if sorted(seen) != sorted(expected):
        raise ResultsError(
            f"{uri}: holds runs {_runs(seen)}, not task {index}'s runs {_runs(expected)}"
        )
    return versions


def _add_fixed(
    fixed: dict[str, list[Any]], params: dict[str, Any], swept: tuple[str, ...], row: int
) -> None:
    """Append row ``row``'s unswept parameters; a parameter new or absent at a row is None."""
    for key, value in params.items():
        if key not in swept:
            fixed.setdefault(key, [None] * row).append(value)
    for values in fixed.values():
        if len(values) == row:
            values.append(None)


def _legacy_version(line: bytes) -> str | None:
    """The schema version of a JSON object of an older record schema (which collect lifts)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    version = obj.get("schema_version", "0.1")
    return str(version) if version in LEGACY_VERSIONS else None


def _left_out(name: str) -> Any:
    """The value of a parameter a record leaves out: its default (scenario parameters at their
    defaults are not serialized, ``simulator.params.SCENARIO_FIELDS``)."""
    default = SimParams.model_fields[name].default
    return default.value if isinstance(default, Enum) else default


def _runs(indexes: list[int]) -> str:
    """Run indexes as intervals with their count (repeats count, so duplicates show)."""
    return f"{format_intervals(indexes, max_intervals=MAX_INTERVALS)} ({len(indexes)})"


def write_table(collected: Collected, path: str | os.PathLike[str]) -> Path:
    """Write the table as Parquet (``.parquet``) or CSV (``.csv``), atomically."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ResultsError(f"--out: {str(target)!r} must end in .parquet or .csv")
    table = collected.to_arrow()
    sink = pa.BufferOutputStream()
    if suffix == ".parquet":
        pq.write_table(table, sink)
    else:
        pacsv.write_csv(table, sink)
    write_atomic(target, sink.getvalue().to_pybytes())
    return target

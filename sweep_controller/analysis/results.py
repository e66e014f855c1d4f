"""A sweep's results as one table: a row per run, swept parameters and outcomes as columns.

Run records are nested JSON, written task by task. Analyses want one flat table, sorted by run,
with the swept parameters as columns beside the outcomes. :func:`collect` reads every committed
task from the store, verifies each JSONL against its manifest (sha256, size, record count, and
that it holds exactly the runs its index owns), validates every record exactly as
``python -m simulator.validate`` does (``simulator.records.validate.check_json``: strict schema,
repeated keys, consistency between fields; a record edited and re-hashed into its manifest is
refused), and flattens the records. Tasks that are not done are reported as missing, never
guessed; a task that does not verify is an error naming its key, and a record that does not
validate is an error naming its task and line.
``write_table`` writes Parquet or CSV atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from simulator.atomic import write_atomic
from simulator.params import SimParams
from simulator.records.validate import check_json
from sweep_controller.errors import ResultsError
from sweep_controller.execution.layout import TaskState, check_task, records_key, tasks_prefix
from sweep_controller.intervals import format_gaps, format_intervals
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import Sweep, spec_hash
from sweep_controller.store import Store, open_store

__all__ = [
    "BASE_COLUMNS",
    "OUTCOME_COLUMNS",
    "SCENARIO_COLUMNS",
    "Collected",
    "collect",
    "outcome_row",
    "write_table",
]

BASE_COLUMNS: tuple[str, ...] = ("sweep", "task", "run_index", "point_index", "replicate", "seed")

OUTCOME_COLUMNS: dict[str, str] = {
    "passed": "quorum met and final stake-weighted yes exceeds no (over votes cast)",
    "passed_initial": "the same test on the round-0 votes",
    "outcome_changed_by_cascade": "passed differs from passed_initial",
    "quorum_met": "the stake cast reaches the quorum",
    "turnout_share": "votes cast / agents",
    "stake_turnout_share": "stake cast / total stake",
    "yes_share_weighted_initial": "round-0 yes stake / stake cast",
    "yes_share_weighted_final": "final yes stake / stake cast",
    "yes_share_initial": "round-0 yes head count / votes cast",
    "yes_share_final": "final yes head count / votes cast",
    "flips_total": "vote flip events over all rounds",
    "agents_flipped_total": "agents that flipped at least once",
    "agents_flipped_share": "agents_flipped_total / agents",
    "rounds_run": "influence rounds actually run",
    "cascade_ending": "how the cascade ended: converged, cycle or round_cap",
    "whale_signal_follow_events": "agent-rounds that followed the whale majority against its vote",
    "gini_cast": "Gini coefficient of the voting power cast (NaN if not recorded)",
    "nakamoto_cast": "Nakamoto count of the voting power cast (-1 if not recorded)",
}
"""Outcome columns and what each means."""

SCENARIO_COLUMNS: dict[str, tuple[str, Any]] = {
    "coalition_blocs": ("whale blocs of two or more whales", -1),
    "coalition_members": ("whales in blocs", -1),
    "coalition_overruled_stake_share": (
        "stake of voting bloc members overruled by their bloc in round 0 / stake cast",
        float("nan"),
    ),
    "coalition_switches": ("bloc switches over the influence rounds", -1),
    "largest_bloc_members": ("whales in the largest bloc (1: an independent whale)", -1),
    "largest_bloc_stake_share": ("stake cast by the largest bloc / stake cast", float("nan")),
    "largest_bloc_decisive": (
        "the largest bloc alone decides the tally: it cast more than half the stake cast, and "
        "at least the quorum",
        False,
    ),
    "largest_bloc_dictates": (
        "largest_bloc_decisive, and its final vote is its round-0 vote: the outcome is that "
        "vote whatever everyone else does",
        False,
    ),
    "largest_bloc_initial_vote": ("the largest bloc's round-0 vote (true: yes)", False),
    "largest_bloc_final_vote": ("the largest bloc's final vote", False),
    "outcome_follows_largest_bloc": ("passed equals the largest bloc's round-0 vote", False),
}
"""Outcome columns of research scenarios, each with its value in runs without the scenario. A
column is in a sweep's table only when some run of the sweep has the scenario on, so the tables of
sweeps without scenarios keep their columns. Whale coalitions (docs/model.md, 11.1): the largest
bloc is the bloc, or independent whale, with the most stake cast; runs without coalitions (or
without a voting whale) hold the fill value, and ``largest_bloc_members`` is -1 there."""


def outcome_row(record: dict[str, Any]) -> dict[str, Any]:
    """The outcome columns of one run record (as ``json.loads`` returns it), and the scenario
    columns of the scenarios it has on."""
    votes, flips, turnout = record["votes"], record["flips"], record["turnout"]
    weighted = votes["weighted"]
    cast, voters = turnout["stake_cast"], turnout["votes_cast"]
    agents = record["params"]["agents"]
    concentration = record["concentration"] or {"gini": float("nan"), "nakamoto": -1}

    def share(value: float, whole: float) -> float:
        return value / whole if whole > 0 else float("nan")

    return {
        "passed": bool(votes["passed"]),
        "passed_initial": bool(votes["passed_initial"]),
        "outcome_changed_by_cascade": bool(record["outcome_changed_by_cascade"]),
        "quorum_met": bool(turnout["quorum_met"]),
        "turnout_share": share(voters, agents),
        "stake_turnout_share": share(cast, weighted["total_stake"]),
        "yes_share_weighted_initial": share(weighted["initial"]["yes"], cast),
        "yes_share_weighted_final": share(weighted["final"]["yes"], cast),
        "yes_share_initial": share(votes["initial"]["yes"], voters),
        "yes_share_final": share(votes["final"]["yes"], voters),
        "flips_total": int(flips["total"]),
        "agents_flipped_total": int(record["agents_flipped_total"]),
        "agents_flipped_share": share(record["agents_flipped_total"], agents),
        "rounds_run": int(record["cascade_rounds"]),
        "cascade_ending": str(record["cascade"]["ending"]),
        "whale_signal_follow_events": int(flips["whale_signal_follow_events"]),
        "gini_cast": float(concentration["gini"]),
        "nakamoto_cast": int(concentration["nakamoto"]),
        **_coalition_columns(record),
    }


_LARGEST_BLOC_COLUMNS = (
    "largest_bloc_members",
    "largest_bloc_stake_share",
    "largest_bloc_decisive",
    "largest_bloc_dictates",
    "largest_bloc_initial_vote",
    "largest_bloc_final_vote",
    "outcome_follows_largest_bloc",
)


def _coalition_columns(record: dict[str, Any]) -> dict[str, Any]:
    """Whale-coalition columns of a record with a ``coalitions`` block; none without it."""
    block = record.get("coalitions")
    if block is None:
        return {}
    cast = record["turnout"]["stake_cast"]
    largest = block["largest"]
    row = {name: SCENARIO_COLUMNS[name][1] for name in _LARGEST_BLOC_COLUMNS}  # no whale voted
    if largest is not None:
        share = largest["stake_cast"] / cast
        quorum = record["turnout"]["quorum"] * record["votes"]["weighted"]["total_stake"]
        decisive = share > 0.5 and largest["stake_cast"] >= quorum
        row = {
            "largest_bloc_members": int(largest["members"]),
            "largest_bloc_stake_share": share,
            "largest_bloc_decisive": decisive,
            "largest_bloc_dictates": decisive and largest["initial_vote"] == largest["final_vote"],
            "largest_bloc_initial_vote": bool(largest["initial_vote"]),
            "largest_bloc_final_vote": bool(largest["final_vote"]),
            "outcome_follows_largest_bloc": (
                bool(record["votes"]["passed"]) == bool(largest["initial_vote"])
            ),
        }
    return {
        "coalition_blocs": int(block["blocs"]),
        "coalition_members": int(block["members"]),
        "coalition_overruled_stake_share": (
            block["overruled_stake"] / cast if cast > 0 else float("nan")
        ),
        "coalition_switches": int(block["switches"]),
        **row,
    }


@dataclass(frozen=True)
class Collected:
    """The flattened runs of a sweep, sorted by run index, and which tasks were missing."""

    sweep: Sweep
    swept: tuple[str, ...]
    columns: dict[str, np.ndarray]
    tasks_read: tuple[int, ...]
    n_missing: int
    """Tasks not done (not collected)."""

    @property
    def n_rows(self) -> int:
        """Number of runs collected."""
        return len(self.columns["run_index"])

    def to_arrow(self) -> Any:
        """The table as a ``pyarrow.Table`` (column order: base, swept, outcomes)."""
        import pyarrow as pa

        return pa.table({name: pa.array(values) for name, values in self.columns.items()})


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
    plan, name, digest = SweepPlan(sweep), sweep.name, spec_hash(sweep)
    prefix = tasks_prefix(name)
    committed = sorted(
        int(key[len(prefix) :].split(".")[0])
        for key in store.list(prefix)
        if key.endswith(".manifest.json") and key[len(prefix) :].split(".")[0].isdigit()
    )
    committed = [i for i in committed if i < plan.n_tasks]
    n_missing = plan.n_tasks - len(committed)  # never listed: a sweep may have 10^12 tasks
    if n_missing:
        message = f"{name}: {_describe_missing(committed, plan.n_tasks)}"
        if require_complete:
            raise ResultsError(f"{message}; run `sweepctl run` to finish the sweep")
        if warn is not None:
            warn(f"{message}; collecting the {len(committed)} that are")
    swept = plan.swept_names
    rows: dict[str, list[Any]] = {c: [] for c in (*BASE_COLUMNS, *swept, *OUTCOME_COLUMNS)}
    for index in committed:
        check = check_task(store, name, index, digest, keep_data=True)
        if check.state is TaskState.FOREIGN:
            raise ResultsError(f"task {index}: {check.reason}: another sweep's results")
        if check.state is not TaskState.DONE or check.data is None or check.manifest is None:
            raise ResultsError(
                f"task {index}: {check.reason or check.state.value}; "
                "run `sweepctl run` to rewrite it"
            )
        where = store.uri_for(records_key(name, check.manifest))
        _add_task(rows, check.data, index, plan, swept, where)
    order = np.argsort(np.asarray(rows["run_index"], dtype=np.int64), kind="stable")
    columns = {key: np.asarray(values)[order] if values else np.asarray(values)
               for key, values in rows.items()}  # fmt: skip
    return Collected(sweep, swept, columns, tuple(committed), n_missing)


def _add_task(
    rows: dict[str, list[Any]],
    data: bytes,
    index: int,
    plan: SweepPlan,
    swept: tuple[str, ...],
    uri: str,
) -> None:
    """Append one verified task's records to ``rows``; check it holds exactly its runs."""
    expected = plan.task_run_indexes(index)
    seen: list[int] = []
    for line_no, line in enumerate(data.splitlines(), start=1):
        problems = check_json(line)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ResultsError(
                f"task {index}: record {line_no} of {uri} is not a valid run record: "
                f"{problems[0]}{more}"
            )
        record = json.loads(line)
        run_index = int(record["run_index"])
        seen.append(run_index)
        point, replicate = divmod(run_index, plan.replicates)
        base = (plan.sweep.name, index, run_index, point, replicate, int(record["seed"]))
        for key, value in zip(BASE_COLUMNS, base, strict=True):
            rows[key].append(value)
        params = record["params"]
        for key in swept:
            rows[key].append(params[key] if key in params else _default(key))
        _append(rows, outcome_row(record))
    if sorted(seen) != sorted(expected):
        raise ResultsError(
            f"{uri}: holds runs {_runs(seen)}, not task {index}'s runs {_runs(expected)}"
        )


def _default(name: str) -> Any:
    """The value of a parameter a record's ``params`` leave out: its default (scenario and v0.5
    population fields are left out at their defaults)."""
    value = SimParams.model_fields[name].default
    return value.value if isinstance(value, Enum) else value


def _append(rows: dict[str, list[Any]], values: dict[str, Any]) -> None:
    """Append one run's outcome columns; a scenario column is added at the first run that has it
    (earlier runs get its fill value), and a run without it gets the fill value."""
    n = len(rows["run_index"])
    for key, value in values.items():
        if key not in rows:
            rows[key] = [SCENARIO_COLUMNS[key][1]] * (n - 1)
        rows[key].append(value)
    for key in SCENARIO_COLUMNS.keys() & rows.keys() - values.keys():
        rows[key].append(SCENARIO_COLUMNS[key][1])


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

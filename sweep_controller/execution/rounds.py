"""The rounds of an adaptive sweep in a store: planned points, the values they got, the next round.

Round ``k`` of a ``method: optuna`` sweep is planned from the results of rounds ``0 .. k-1``
(``sweep_controller.spec.search.plan_round``) and its point list is written to
``<name>/rounds/RRRR.json`` *before* any of its tasks runs. Workers read a round's points from
there, never plan them, so every pod of a round, a retried pod and a resumed ``sweepctl run``
see the same points even if another Optuna version would plan differently.

Distributed semantics: a round file is written once (``if_absent``: the first writer wins) and
never changes; a planner that finds one already there uses the stored points. Planning is a pure
function of the spec and the stored results, so two planners (the controller and a local run on
the same prefix) write the same bytes anyway. A round file with another spec hash belongs to
another sweep (``OutputConflict``), as a task manifest would.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from simulator.messages import ErrorText
from sweep_controller.errors import KeyNotFound, OutputConflict, ResultsError, TaskError
from sweep_controller.execution.layout import (
    TaskState,
    check_task,
    round_key,
    rounds_prefix,
    sweep_uri,
)
from sweep_controller.spec.columns import run_row, used_scenarios
from sweep_controller.spec.expand import RoundPoints, SweepPlan
from sweep_controller.spec.models import Sweep, spec_hash
from sweep_controller.spec.parameters import SweptValue
from sweep_controller.spec.search import Evaluated, plan_round, planner_name, point_value
from sweep_controller.store import Store

__all__ = [
    "RoundFile",
    "RoundResults",
    "SearchState",
    "evaluate_rounds",
    "new_round_file",
    "read_round",
    "read_rounds",
    "read_search",
    "round_json",
    "round_points_loader",
    "write_round",
]

_SHA256 = r"^[0-9a-f]{64}$"
_ROUND_TEXT = ErrorText(root="round file")


class RoundFile(BaseModel):
    """The planned points of one round of an adaptive sweep, as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round_file_version: Literal[1] = 1
    sweep: str
    round: NonNegativeInt
    spec_hash: str = Field(pattern=_SHA256, description="spec_hash() of the sweep it belongs to.")
    planner: str = Field(description="What planned the points, with its version.")
    points: list[dict[str, int | float | str]] = Field(
        description="The round's points in order: swept parameter -> value."
    )


def new_round_file(
    sweep: Sweep, round_index: int, points: Sequence[Mapping[str, SweptValue]]
) -> RoundFile:
    """The round file of ``points`` planned for round ``round_index`` of ``sweep``."""
    return RoundFile(
        sweep=sweep.name,
        round=round_index,
        spec_hash=spec_hash(sweep),
        planner=planner_name(),
        points=[dict(p) for p in points],
    )


def round_json(file: RoundFile) -> bytes:
    """The bytes stored for a round file (sorted keys, one line; floats round-trip exactly)."""
    data = file.model_dump(mode="json")
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _parse(store: Store, sweep: Sweep, round_index: int, raw: bytes) -> RoundFile:
    where = store.uri_for(round_key(sweep.name, round_index))
    try:
        file = RoundFile.model_validate_json(raw)
    except ValidationError as exc:
        raise ResultsError(f"{where}: {_ROUND_TEXT.first(exc)}") from None
    digest = spec_hash(sweep)
    if file.spec_hash != digest:
        raise OutputConflict(
            f"{where} was written by a sweep with spec hash {file.spec_hash[:12]}..., not this "
            f"spec's {digest[:12]}...: the output prefix {sweep_uri(store, sweep.name)} belongs "
            "to another sweep; change metadata.name or spec.output.uri, or delete the old results"
        )
    if file.round != round_index or file.sweep != sweep.name:
        raise ResultsError(f"{where}: names sweep {file.sweep!r} round {file.round}")
    return file


def read_round(store: Store, sweep: Sweep, round_index: int) -> RoundFile | None:
    """Round ``round_index``'s file, or None when it is not planned yet."""
    try:
        raw = store.get_bytes(round_key(sweep.name, round_index))
    except KeyNotFound:
        return None
    return _parse(store, sweep, round_index, raw)


def read_rounds(store: Store, sweep: Sweep) -> list[RoundFile]:
    """The planned rounds, from round 0 up to the first one missing (one listing, one read each)."""
    prefix = rounds_prefix(sweep.name)
    found = set()
    for key in store.list(prefix):
        stem = key[len(prefix) :].removesuffix(".json")
        if key.endswith(".json") and stem.isdigit():
            found.add(int(stem))
    files: list[RoundFile] = []
    while len(files) in found:
        file = read_round(store, sweep, len(files))
        if file is None:  # removed since the listing
            break
        files.append(file)
    return files


def write_round(store: Store, file: RoundFile, sweep: Sweep) -> RoundFile:
    """Store a round file unless one is there already; the stored file either way."""
    if store.put_bytes(round_key(file.sweep, file.round), round_json(file), if_absent=True):
        return file
    stored = read_round(store, sweep, file.round)
    assert stored is not None  # it was there a moment ago, and round files are never removed
    return stored


def round_points_loader(store: Store, sweep: Sweep) -> RoundPoints:
    """The point source a worker's plan reads: each round's stored points, read once.

    Round 0 depends on nothing but the spec: when it is not stored yet (a Job rendered by
    ``sweepctl render`` and applied without the controller), the first worker plans and stores
    it, and every worker then uses the stored file. Later rounds must be planned already.
    """
    cache: dict[int, list[dict[str, int | float | str]]] = {}

    def points(round_index: int) -> list[dict[str, int | float | str]]:
        if round_index not in cache:
            file = read_round(store, sweep, round_index)
            if file is None and round_index == 0:
                planned = new_round_file(sweep, 0, plan_round(sweep.spec, 0, ()))
                file = write_round(store, planned, sweep)
            if file is None:
                where = store.uri_for(round_key(sweep.name, round_index))
                raise TaskError(
                    f"round {round_index} of sweep {sweep.name} is not planned yet: no {where}"
                )
            cache[round_index] = file.points
        return cache[round_index]

    return points


@dataclass(frozen=True)
class RoundResults:
    """The points of some rounds with their values, and which of their tasks are not done."""

    evaluated: tuple[Evaluated, ...]
    not_done: tuple[int, ...]
    """Task indexes of those rounds that are not done (failed within maxFailedIndexes, or
    unfinished): their points' values leave their runs out."""


def evaluate_rounds(store: Store, sweep: Sweep, plan: SweepPlan, rounds: range) -> RoundResults:
    """Every point of ``rounds`` with its value: the mean of the objective's outcome over the
    point's runs in done tasks (a point none of whose runs is done has no value)."""
    objective = sweep.spec.objective
    if objective is None:
        raise ValueError(f"sweep {sweep.name} has no objective (method optuna)")
    digest = spec_hash(sweep)
    outcomes: dict[int, list[tuple[int, float]]] = defaultdict(list)
    used = used_scenarios(sweep.spec)
    not_done: list[int] = []
    for round_index in rounds:
        for index in plan.round_tasks(round_index):
            check = check_task(store, sweep.name, index, digest, keep_data=True)
            if check.state is TaskState.FOREIGN:
                raise OutputConflict(f"task {index}: {check.reason}: another sweep's results")
            if check.state is not TaskState.DONE or check.data is None:
                not_done.append(index)
                continue
            for line in check.data.splitlines():
                record = json.loads(line)
                run_index = int(record["run_index"])
                value = float(run_row(record, used)[objective.outcome])
                outcomes[run_index // plan.replicates].append((run_index, value))
    evaluated = []
    for round_index in rounds:
        first = round_index * plan.points_per_round
        for point_index in range(first, first + plan.points_per_round):
            runs = sorted(outcomes.get(point_index, []))
            values = [v for _, v in runs]
            evaluated.append(
                Evaluated(
                    point_index, plan.point_values(point_index), point_value(values), len(values)
                )
            )
    return RoundResults(tuple(evaluated), tuple(not_done))


@dataclass(frozen=True)
class SearchState:
    """An adaptive sweep as its store holds it: the planned rounds and the points evaluated."""

    rounds: tuple[RoundFile, ...]
    evaluated: tuple[Evaluated, ...]
    """The points of the evaluated rounds (the first ``len(evaluated) / pointsPerRound``)."""
    not_done: tuple[int, ...] = ()
    """Tasks of the evaluated rounds that are not done."""


def read_search(store: Store, sweep: Sweep, *, evaluate: int | None = None) -> SearchState:
    """The planned rounds, and the points of the first ``evaluate`` of them (default: all)."""
    files = read_rounds(store, sweep)
    count = len(files) if evaluate is None else min(evaluate, len(files))
    plan = SweepPlan(sweep, round_points=lambda k: files[k].points)
    results = evaluate_rounds(store, sweep, plan, range(count))
    return SearchState(tuple(files), results.evaluated, results.not_done)

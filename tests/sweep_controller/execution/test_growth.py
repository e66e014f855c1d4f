"""Growing a finished sweep: only the new runs are simulated, every run is collected once.

Each store-facing test runs against the file store and a real S3 server (SeaweedFS).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit.specs import grid_doc, write_spec

from simulator.seeding import run_seed
from sweep_controller.analysis.results import Collected, collect
from sweep_controller.errors import OutputConflict
from sweep_controller.execution.layout import plans_prefix, scan_store
from sweep_controller.execution.plans import (
    PlanIdentity,
    identify,
    retire_manifest,
    retire_spec_copy,
)
from sweep_controller.execution.runner import RunSummary, run_sweep
from sweep_controller.execution.spec_copy import write_spec_copy
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.growth import runs_hash
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import Sweep, legacy_spec_hash
from sweep_controller.store import Store, open_store

pytestmark = pytest.mark.slow  # sweeps of 18 to 30 runs, several times each


@pytest.fixture(params=["file", "s3"])
def output(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The output URI: a folder, or a fresh prefix on the SeaweedFS server."""
    if request.param == "file":
        return f"file://{tmp_path}/out"
    uri: str = request.getfixturevalue("s3_uri")
    return uri


def sweep_of(tmp_path: Path, name: str, output: str, **spec: Any) -> Sweep:
    path = write_spec(tmp_path / f"{name}-{len(spec)}.yaml", grid_doc(name, output, **spec))
    return load_sweep(path)


def run(sweep: Sweep) -> RunSummary:
    summary = run_sweep(sweep, workers=1, progress=False, handle_signals=False, out=io.StringIO())
    assert summary.exit_code == 0
    return summary


def by_seed(collected: Collected) -> dict[int, tuple[Any, ...]]:
    """Each run's replicate, swept values and outcomes, by seed; every seed once."""
    cols = collected.columns
    keys = ("replicate", *collected.swept, *(c for c in cols if c not in BASE_IGNORED))
    rows = {
        int(seed): tuple(_plain(cols[k][i]) for k in keys) for i, seed in enumerate(cols["seed"])
    }
    assert len(rows) == collected.n_rows
    return rows


BASE_IGNORED = {"sweep", "task", "run_index", "point_index", "replicate", "seed"}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return "nan"
    return value.item() if hasattr(value, "item") else value


def assert_exactly_once(collected: Collected) -> None:
    runs = collected.columns["run_index"].tolist()
    assert sorted(runs) == list(range(collected.sweep.spec.n_runs)) and collected.n_missing == 0


def test_more_replicates_simulate_only_the_new_runs(tmp_path: Path, output: str) -> None:
    small = sweep_of(tmp_path, "g", output)
    assert run(small).runs_simulated == 18
    before = by_seed(collect(small))
    grown = sweep_of(tmp_path, "g", output, replicates=5)
    summary = run(grown)
    assert (summary.runs_simulated, summary.runs_reused) == (12, 18)  # 6 points x 2 new
    assert summary.retired.manifests == 5
    after = collect(grown)
    assert_exactly_once(after)
    rows = by_seed(after)
    assert {seed: rows[seed] for seed in before} == before  # same seeds, same outcomes
    assert sorted(r[0] for r in rows.values()) == sorted([0, 1, 2, 3, 4] * 6)
    again = run(grown)  # a finished grown sweep: nothing to do
    assert (again.runs_simulated, again.runs_reused, again.done_before) == (0, 0, 8)


def test_a_value_added_to_an_axis_simulates_only_its_point(tmp_path: Path, output: str) -> None:
    small = sweep_of(tmp_path, "v", output)
    run(small)
    before = by_seed(collect(small))
    parameters = {
        "whale_ratio": {"values": [0.05, 0.15, 0.3, 0.45]},
        "conformity_threshold": {"min": 0.4, "max": 0.8, "steps": 2},
    }
    grown = sweep_of(tmp_path, "v", output, parameters=parameters)
    summary = run(grown)
    assert (summary.runs_simulated, summary.runs_reused) == (6, 18)  # 2 new points x 3
    after = collect(grown)
    assert_exactly_once(after)
    rows = by_seed(after)
    assert {seed: rows[seed] for seed in before} == before
    new = [r for s, r in rows.items() if s not in before]
    assert {r[1] for r in new} == {0.45}


def keys_of(store: Store, name: str) -> list[str]:
    return sorted(store.list(f"{name}/"))


def test_a_changed_fixed_parameter_is_refused_and_nothing_written(
    tmp_path: Path, output: str
) -> None:
    small = sweep_of(tmp_path, "f", output)
    run(small)
    store = open_store(output)
    listing = keys_of(store, "f")
    changed = sweep_of(tmp_path, "f", output, simulator={"agents": 61, "cascade_rounds": 3})
    with pytest.raises(OutputConflict, match=r"belongs to another sweep; change metadata\.name"):
        run(changed)
    assert keys_of(store, "f") == listing


def test_a_crash_during_retirement_then_a_rerun_keeps_every_run_once(
    tmp_path: Path, output: str
) -> None:
    small = sweep_of(tmp_path, "c", output)
    run(small)
    before = by_seed(collect(small))
    grown = sweep_of(tmp_path, "c", output, replicates=5)
    # What a runner or worker killed half-way leaves: the spec copy and two manifests retired,
    # the spec copy already replaced, and one task of the new plan committed.
    ctx = TaskContext.open(grown)
    scan = scan_store(ctx.store, "c", ctx.plan.n_tasks, ctx.spec_hash, runs_hash=ctx.runs_hash)
    assert ctx.identity is not None and sorted(scan.earlier) == [0, 1, 2, 3, 4]
    assert retire_spec_copy(ctx.store, grown, ctx.identity)
    for index in (0, 1):
        assert retire_manifest(ctx.store, "c", scan.earlier[index])
    write_spec_copy(ctx.store, grown)
    first = execute_task(ctx, 1)
    # Task 1 of the new plan: runs 4-7, new replicate 4 of point 0 and replicates 0-2 of point 1
    assert first.outcome.done and (first.runs, first.reused) == (1, 3)
    summary = run(grown)
    assert summary.runs_simulated + first.runs == 12
    assert summary.runs_reused + first.reused == 18
    after = collect(grown)
    assert_exactly_once(after)
    rows = by_seed(after)
    assert {seed: rows[seed] for seed in before} == before
    assert len(list(ctx.store.list(plans_prefix("c")))) == 1 + 5  # its spec copy, 5 manifests


def test_a_folder_written_with_run_index_seeds_still_resumes(tmp_path: Path, output: str) -> None:
    sweep = sweep_of(tmp_path, "l", output)
    store = open_store(output)
    legacy = legacy_spec_hash(sweep)
    # Results of the earlier release: run-index seeds, its spec hash, manifests without runs hash.
    old = TaskContext(sweep, SweepPlan(sweep, legacy_seeds=True), store, legacy,
                      PlanIdentity(legacy, None, legacy=True))  # fmt: skip
    for index in (0, 1):
        assert execute_task(old, index).outcome.done
    assert identify(store, sweep) == PlanIdentity(legacy, None, legacy=True)
    summary = run(sweep)
    assert (summary.done_before, summary.runs_simulated, summary.runs_reused) == (2, 10, 0)
    after = collect(sweep)
    assert_exactly_once(after)
    seeds = [run_seed(11, i) for i in after.columns["run_index"].tolist()]
    assert after.columns["seed"].tolist() == seeds
    grown = sweep_of(tmp_path, "l", output, replicates=5)  # no growth from run-index seeds
    with pytest.raises(OutputConflict, match="belongs to another sweep"):
        run(grown)


def random_doc(samples: int, method: str = "random") -> dict[str, Any]:
    return {
        "method": method,
        "samples": samples,
        "replicates": 2,
        "runsPerTask": 5,
        "parameters": {
            "whale_ratio": {"min": 0.05, "max": 0.3},
            "conformity_threshold": {"min": 0.4, "max": 0.8},
        },
    }


def test_random_samples_grow(tmp_path: Path, output: str) -> None:
    small = sweep_of(tmp_path, "r", output, **random_doc(8))
    assert run(small).runs_simulated == 16
    before = by_seed(collect(small))
    grown = sweep_of(tmp_path, "r", output, **random_doc(12))
    summary = run(grown)
    assert (summary.runs_simulated, summary.runs_reused) == (8, 16)
    after = collect(grown)
    assert_exactly_once(after)
    rows = by_seed(after)
    assert {seed: rows[seed] for seed in before} == before


def test_latin_hypercube_samples_growth_is_refused_in_one_line(tmp_path: Path, output: str) -> None:
    small = sweep_of(tmp_path, "h", output, **random_doc(8, "latin_hypercube"))
    run(small)
    grown = sweep_of(tmp_path, "h", output, **random_doc(12, "latin_hypercube"))
    with pytest.raises(OutputConflict) as refused:
        run(grown)
    message = str(refused.value)
    assert message.startswith("spec.samples: 8 -> 12: every point of a latin_hypercube design")
    assert "\n" not in message


def test_plans_are_told_apart_by_runs_hash(tmp_path: Path) -> None:
    """What only adds runs keeps the runs hash; what changes a run does not (pure)."""
    out = "file:///unused"
    base = runs_hash(sweep_of(tmp_path, "p", out))
    grid_values = {"whale_ratio": {"values": [0.05]}, "conformity_threshold": {"values": [0.4]}}
    same = [
        {"replicates": 7},
        {"runsPerTask": 1},
        {"order": "shuffled"},
        {"parameters": grid_values},
    ]
    other = [
        {"seed": 12},
        {"simulator": {"agents": 61, "cascade_rounds": 3}},
        {"parameters": {"whale_ratio": {"values": [0.05]}}},
        random_doc(4),
        {"traces": "parquet"},
    ]
    assert [runs_hash(sweep_of(tmp_path, "p", out, **s)) == base for s in same] == [True] * 4
    assert [runs_hash(sweep_of(tmp_path, "p", out, **s)) == base for s in other] == [False] * 5
    assert runs_hash(sweep_of(tmp_path, "p", out, **random_doc(8))) == runs_hash(
        sweep_of(tmp_path, "p", out, **random_doc(80))
    )
    lhs = [
        runs_hash(sweep_of(tmp_path, "p", out, **random_doc(n, "latin_hypercube"))) for n in (8, 9)
    ]
    assert lhs[0] != lhs[1]


def test_a_runs_seed_does_not_depend_on_replicates_or_other_points(tmp_path: Path) -> None:
    out = "file:///unused"
    small = SweepPlan(sweep_of(tmp_path, "s", out))
    grown = SweepPlan(sweep_of(tmp_path, "s", out, replicates=5, parameters={
        "whale_ratio": {"values": [0.01, 0.05, 0.15, 0.3]},
        "conformity_threshold": {"min": 0.4, "max": 0.8, "steps": 2},
    }))  # fmt: skip
    old = {(tuple(r.swept.values()), r.replicate): r.seed for r in small.iter_runs()}
    new = {(tuple(r.swept.values()), r.replicate): r.seed for r in grown.iter_runs()}
    assert len(set(new.values())) == grown.n_runs
    assert {key: new[key] for key in old} == old
    assert [r.run_index for r in grown.iter_runs()] == list(range(grown.n_runs))

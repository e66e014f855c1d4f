"""Expansion: lazy task -> runs mapping, coverage, determinism, seeds and sampled designs."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from kit.specs import sweep_doc

from simulator.params import InfluenceModel, SimParams
from simulator.seeding import run_seed
from sweep_controller.errors import TaskError
from sweep_controller.spec.expand import (
    RunSpec,
    ShuffledOrder,
    SweepPlan,
    iter_runs,
    swept_parameter_names,
    task_runs,
)
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep


def plan_of(**spec: Any) -> SweepPlan:
    return SweepPlan(parse_sweep(sweep_doc(**spec)))


def sweep_of(**spec: Any) -> Sweep:
    return parse_sweep(sweep_doc(**spec))


def all_task_runs(plan: SweepPlan) -> list[RunSpec]:
    return [run for i in range(plan.n_tasks) for run in plan.task_runs(i)]


# --- grid points ---------------------------------------------------------------------------------


def test_grid_matches_itertools_product_brute_force() -> None:
    parameters = {
        "whale_ratio": {"values": [0.05, 0.15, 0.3]},
        "influence_model": {"values": ["erdos_renyi", "small_world"]},
        "agents": {"min": 100, "max": 400, "steps": 4},
        "conformity_threshold": {"min": 0.3, "max": 0.9, "steps": 4},
    }
    plan = plan_of(simulator={}, parameters=parameters, replicates=3, runsPerTask=7)
    axes: list[list[Any]] = [
        [0.05, 0.15, 0.3],
        ["erdos_renyi", "small_world"],
        [100, 200, 300, 400],
        [0.3, 0.5, 0.7, 0.9],
    ]
    expected = [dict(zip(parameters, combo, strict=True)) for combo in itertools.product(*axes)]
    runs = all_task_runs(plan)
    assert plan.n_points == len(expected) == 96
    assert [r.run_index for r in runs] == list(range(96 * 3))
    for run in runs:
        assert run.point_index == run.run_index // 3
        assert run.replicate == run.run_index % 3
        assert run.swept == expected[run.point_index]


def test_zipped_parameters_pair_up_instead_of_crossing() -> None:
    plan = plan_of(
        simulator={},
        parameters={
            "whale_ratio": {"values": [0.05, 0.15, 0.3]},
            "influence_model": {"values": ["erdos_renyi", "small_world"]},
            "conformity_threshold": {"values": [0.8, 0.6, 0.4]},
        },
        zip=[["whale_ratio", "conformity_threshold"]],
        replicates=1,
    )
    points = [plan.point(p)[1] for p in range(plan.n_points)]
    assert [
        (p["whale_ratio"], p["conformity_threshold"], p["influence_model"]) for p in points
    ] == [
        (0.05, 0.8, "erdos_renyi"),
        (0.05, 0.8, "small_world"),
        (0.15, 0.6, "erdos_renyi"),
        (0.15, 0.6, "small_world"),
        (0.3, 0.4, "erdos_renyi"),
        (0.3, 0.4, "small_world"),
    ]


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ({"min": 0.3, "max": 0.9, "steps": 4}, [0.3, 0.5, 0.7, 0.9]),
        ({"min": 0.1, "max": 0.1, "steps": 1}, [0.1]),
        ({"min": 0.001, "max": 0.1, "steps": 3, "scale": "log"}, [0.001, 0.01, 0.1]),
    ],
)
def test_float_grid_values_are_exact_and_tidy(param: dict[str, Any], expected: list[float]) -> None:
    plan = plan_of(parameters={"network_density": param}, replicates=1)
    assert [plan.point(p)[1]["network_density"] for p in range(plan.n_points)] == expected


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ({"min": 100, "max": 1000, "steps": 4}, [100, 400, 700, 1000]),
        ({"min": 10, "max": 1000, "steps": 3, "scale": "log"}, [10, 100, 1000]),
        ({"min": 1, "max": 2, "steps": 2}, [1, 2]),
        ({"min": 1, "max": 4, "steps": 3}, [1, 3, 4]),  # 2.5 rounds half up
    ],
)
def test_integer_grid_values_round_to_nearest(param: dict[str, Any], expected: list[int]) -> None:
    plan = plan_of(simulator={}, parameters={"agents": param}, replicates=1)
    values = [plan.point(p)[1]["agents"] for p in range(plan.n_points)]
    assert values == expected
    assert all(type(v) is int for v in values)


def test_runs_carry_fixed_and_swept_parameters() -> None:
    plan = plan_of(
        simulator={"agents": 321, "influence_model": "small_world", "cascade_rounds": 4},
        parameters={"whale_ratio": {"values": [0.2]}},
        replicates=1,
    )
    run = plan.run(0)
    assert isinstance(run.params, SimParams)
    assert run.params.agents == 321 and run.params.cascade_rounds == 4
    assert run.params.influence_model is InfluenceModel.SMALL_WORLD
    assert run.params.whale_ratio == 0.2
    assert run.swept == {"whale_ratio": 0.2}


def test_rule_dependent_defaults_resolve_per_point() -> None:
    plan = plan_of(
        simulator={"agents": 100},
        parameters={"rules": {"values": ["v0.4", "v0.5"]}},
        replicates=1,
    )
    v04, v05 = plan.run(0).params, plan.run(1).params
    assert (v04.cascade_rounds, v04.schedule.value, v04.mean_degree) == (1, "synchronous", None)
    assert (v05.cascade_rounds, v05.schedule.value, v05.mean_degree) == (
        1000,
        "random_fraction",
        10,
    )
    # a swept density replaces the v0.5 default mean degree instead of clashing with it
    dense = plan_of(
        simulator={"agents": 100, "rules": "v0.5"},
        parameters={"network_density": {"values": [0.1]}},
        replicates=1,
    ).run(0)
    assert dense.params.network_density == 0.1 and dense.params.mean_degree is None


def test_categorical_swept_values_are_plain_strings() -> None:
    plan = plan_of(parameters={"influence_model": {"values": ["small_world"]}}, replicates=1)
    run = plan.run(0)
    assert run.swept == {"influence_model": "small_world"}
    assert type(run.swept["influence_model"]) is str
    assert run.params.influence_model is InfluenceModel.SMALL_WORLD


def test_a_sweep_without_parameters_replicates_one_point() -> None:
    plan = plan_of(parameters={}, replicates=4, runsPerTask=3)
    runs = all_task_runs(plan)
    assert [(r.point_index, r.replicate) for r in runs] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert len({r.seed for r in runs}) == 4


# --- lazy expansion of a huge grid ---------------------------------------------------------------


def test_ten_million_run_grid_expands_lazily() -> None:
    parameters = {
        "whale_ratio": {"min": 0.0, "max": 1.0, "steps": 101},
        "conformity_threshold": {"min": 0.0, "max": 1.0, "steps": 99},
        "rewire_prob": {"min": 0.0, "max": 0.5, "steps": 100},
    }
    sweep = sweep_of(parameters=parameters, replicates=10, runsPerTask=1000, order="shuffled")
    plan = SweepPlan(sweep)
    assert plan.n_runs == 101 * 99 * 100 * 10 == 9_999_000
    assert plan.n_tasks == 9_999
    last = plan.task_runs(plan.n_tasks - 1)
    assert len(last) == 1000
    for run in last:
        point, replicate = divmod(run.run_index, 10)
        i, rest = divmod(point, 99 * 100)
        j, k = divmod(rest, 100)
        assert (run.point_index, run.replicate) == (point, replicate)
        assert run.swept["whale_ratio"] == pytest.approx(i / 100, abs=1e-12)
        assert run.swept["conformity_threshold"] == pytest.approx(j / 98, abs=1e-12)
        assert run.swept["rewire_prob"] == pytest.approx(0.5 * k / 99, abs=1e-12)


# --- tasks: every run exactly once, in a fixed order ---------------------------------------------


@pytest.mark.parametrize("order", ["sequential", "shuffled"])
@pytest.mark.parametrize(("replicates", "per_task"), [(1, 1), (2, 5), (3, 7), (5, 1000)])
def test_every_run_is_in_exactly_one_task(order: str, replicates: int, per_task: int) -> None:
    plan = plan_of(replicates=replicates, runsPerTask=per_task, order=order)
    seen = [i for t in range(plan.n_tasks) for i in plan.task_run_indexes(t)]
    assert sorted(seen) == list(range(plan.n_runs))
    assert plan.n_tasks == math.ceil(plan.n_runs / per_task)
    for t in range(plan.n_tasks):
        start = t * per_task
        assert len(plan.task_run_indexes(t)) == min(per_task, plan.n_runs - start)


def test_sequential_tasks_take_consecutive_runs() -> None:
    plan = plan_of(replicates=2, runsPerTask=5)
    assert plan.task_run_indexes(0) == [0, 1, 2, 3, 4]
    assert plan.task_run_indexes(4) == [20, 21, 22, 23]


def test_shuffled_order_is_a_seeded_permutation() -> None:
    a = plan_of(replicates=5, runsPerTask=10, order="shuffled")
    b = plan_of(replicates=5, runsPerTask=10, order="shuffled")
    c = plan_of(replicates=5, runsPerTask=10, order="shuffled", seed=43)
    first = a.run_indexes(0, a.n_runs)
    assert first == b.run_indexes(0, b.n_runs)
    assert first != list(range(a.n_runs))
    assert first != c.run_indexes(0, c.n_runs)
    # Each task is a spread of the sweep, not a block: its points come from many grid rows.
    assert len({a.run(i).point_index for i in a.task_run_indexes(0)}) >= 6


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 31, 64, 1000, 4097])
def test_shuffled_order_is_a_bijection(n: int) -> None:
    out = ShuffledOrder(n, seed=9)(np.arange(n, dtype=np.uint64))
    assert sorted(out.tolist()) == list(range(n))


def test_shuffled_order_spreads_large_sweeps() -> None:
    n = 10_000_000
    order = ShuffledOrder(n, seed=1)
    head = order(np.arange(1000, dtype=np.uint64))
    assert len(set(head.tolist())) == 1000
    assert int(head.max()) < n
    # the first thousand positions fall in every tenth of the run range
    assert set((head * 10 // n).tolist()) == set(range(10))


def test_iter_runs_is_the_concatenation_of_tasks() -> None:
    sweep = sweep_of(replicates=3, runsPerTask=4, order="shuffled")
    plan = SweepPlan(sweep)
    assert list(iter_runs(sweep)) == all_task_runs(plan)
    assert task_runs(sweep, 2) == plan.task_runs(2)
    assert list(plan.iter_runs(5, 9)) == [plan.run(i) for i in plan.run_indexes(5, 9)]


@pytest.mark.parametrize("index", [-1, 5, 10**9])
def test_out_of_range_task_is_a_task_error(index: int) -> None:
    plan = plan_of(replicates=2, runsPerTask=5)
    with pytest.raises(TaskError, match=rf"task index {index} is outside \[0, 4\]"):
        plan.task_runs(index)


def test_out_of_range_run_is_a_task_error() -> None:
    with pytest.raises(TaskError, match=r"run index 24 is outside \[0, 23\]"):
        plan_of().run(24)


def test_swept_parameter_names_follow_the_spec() -> None:
    assert swept_parameter_names(sweep_of()) == ("whale_ratio", "conformity_threshold")


# --- seeds and determinism -----------------------------------------------------------------------


def test_legacy_run_seeds_derive_from_seed_sequence_of_the_run_index() -> None:
    plan = SweepPlan(sweep_of(seed=12345, replicates=3, order="shuffled"), legacy_seeds=True)
    for run in all_task_runs(plan):
        seq = np.random.SeedSequence(12345, spawn_key=(run.run_index,))
        assert run.seed == int(seq.generate_state(1, dtype=np.uint64)[0]) >> 1


def test_run_seeds_derive_from_the_points_content_and_replicate() -> None:
    """The spawn key is sha256 of the point's canonical JSON, a newline and the replicate."""
    plan = plan_of(seed=12345, replicates=3, order="shuffled")
    for run in all_task_runs(plan):
        content = json.dumps(
            run.params.model_dump(mode="json", exclude_defaults=True),
            sort_keys=True,
            separators=(",", ":"),
        )
        digest = hashlib.sha256(f"{content}\n{run.replicate}".encode()).digest()
        key = int.from_bytes(digest[:8], "big")
        seq = np.random.SeedSequence(12345, spawn_key=(key,))
        assert run.seed == int(seq.generate_state(1, dtype=np.uint64)[0]) >> 1
        assert run.seed != run_seed(12345, run.run_index)


def test_same_seed_same_runs_other_seed_other_runs() -> None:
    spec = {"method": "random", "samples": 20, "parameters": {"whale_ratio": {"min": 0, "max": 1}}}
    a, b = all_task_runs(plan_of(**spec)), all_task_runs(plan_of(**spec))
    c = all_task_runs(plan_of(**spec, seed=7))
    assert a == b
    assert [r.seed for r in a] != [r.seed for r in c]
    assert [r.swept for r in a] != [r.swept for r in c]


def test_a_run_does_not_depend_on_task_size_or_order() -> None:
    sequential = plan_of(replicates=2, runsPerTask=1)
    shuffled = plan_of(replicates=2, runsPerTask=7, order="shuffled")
    by_index = {r.run_index: r for r in all_task_runs(shuffled)}
    assert all(by_index[r.run_index] == r for r in all_task_runs(sequential))


# --- sampled designs ----------------------------------------------------------------------------

SAMPLED = {
    "whale_ratio": {"min": 0.05, "max": 0.45},
    "mean_degree": {"min": 2, "max": 32, "scale": "log"},
    "agents": {"min": 100, "max": 103},
    "influence_model": {"values": ["erdos_renyi", "small_world"]},
}


def sampled_points(method: str, samples: int, **extra: Any) -> list[dict[str, Any]]:
    plan = plan_of(method=method, samples=samples, parameters=SAMPLED, simulator={}, **extra)
    assert plan.n_points == samples
    return [plan.point(p)[1] for p in range(samples)]


@pytest.mark.parametrize("method", ["random", "latin_hypercube", "sobol"])
def test_samples_stay_within_bounds_and_cover_choices(method: str) -> None:
    points = sampled_points(method, 64)
    assert all(0.05 <= p["whale_ratio"] <= 0.45 for p in points)
    assert all(2 <= p["mean_degree"] <= 32 for p in points)
    assert {p["agents"] for p in points} == {100, 101, 102, 103}
    assert {p["influence_model"] for p in points} == {"erdos_renyi", "small_world"}


def test_sobol_is_balanced_on_the_log_scale() -> None:
    points = sampled_points("sobol", 64)
    # A base-2 Sobol net of 64 points puts exactly half of each coordinate in each half of [0, 1):
    # on a log scale the halves meet at the geometric mean, on a linear one at the midpoint.
    assert sum(p["mean_degree"] < 8 for p in points) == 32
    assert sum(p["whale_ratio"] < 0.25 for p in points) == 32
    assert sum(p["influence_model"] == "small_world" for p in points) == 32
    assert sum(p["agents"] <= 101 for p in points) == 32


def test_latin_hypercube_has_one_point_per_stratum_on_the_log_scale() -> None:
    n = 50
    points = sampled_points("latin_hypercube", n)
    strata = [math.floor(math.log(p["mean_degree"] / 2) / math.log(16) * n) for p in points]
    assert sorted(strata) == list(range(n))


def test_zipped_ranges_move_together_when_sampled() -> None:
    plan = plan_of(
        method="sobol",
        samples=16,
        parameters={
            "whale_ratio": {"min": 0.1, "max": 0.5},
            "rewire_prob": {"min": 0.0, "max": 0.2},
        },
        zip=[["whale_ratio", "rewire_prob"]],
    )
    for p in range(plan.n_points):
        swept = plan.point(p)[1]
        whale, rewire = float(swept["whale_ratio"]), float(swept["rewire_prob"])
        assert (whale - 0.1) / 0.4 == pytest.approx(rewire / 0.2)


def test_random_points_are_computed_per_point() -> None:
    small = plan_of(method="random", samples=10, parameters={"whale_ratio": {"min": 0, "max": 1}})
    large = plan_of(
        method="random", samples=10**6, parameters={"whale_ratio": {"min": 0, "max": 1}}
    )
    assert [small.point(p)[1] for p in range(10)] == [large.point(p)[1] for p in range(10)]

"""Planning rounds of an adaptive sweep (pure), reading its answer, and its expansion by rounds."""

from __future__ import annotations

import doctest
import itertools
import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from kit.specs import document

from sweep_controller.errors import TaskError
from sweep_controller.spec import search
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep
from sweep_controller.spec.search import (
    Boundary,
    Evaluated,
    answer,
    find_boundary,
    isotonic,
    plan_round,
    point_value,
    sampler_seed,
)


def sweep(**spec: Any) -> Sweep:
    """An adaptive sweep over quorum in [0, 1], overridden by ``spec``."""
    base: dict[str, Any] = {
        "parameters": {"quorum": {"min": 0.0, "max": 1.0}},
        "method": "optuna",
        "objective": {"outcome": "passed", "target": 0.5},
        "rounds": 6,
        "pointsPerRound": 8,
        "replicates": 4,
        "runsPerTask": 8,
        "seed": 5,
    }
    return parse_sweep(document("search", base | spec))


def search_loop(s: Sweep, value: Callable[[dict[str, Any]], float]) -> list[Evaluated]:
    """Every round of ``s`` planned from the values ``value`` gives its points (no simulator)."""
    history: list[Evaluated] = []
    spec = s.spec
    for k in range(spec.rounds or 0):
        for point in plan_round(spec, k, history):
            history.append(Evaluated(len(history), point, value(dict(point))))
    return history


def test_docstring_examples() -> None:
    assert doctest.testmod(search).failed == 0


# --- planning -----------------------------------------------------------------------------------


def test_same_seed_plans_the_same_rounds_and_another_seed_others() -> None:
    def value(p: dict[str, Any]) -> float:
        return 1.0 - p["quorum"]

    first = search_loop(sweep(), value)
    again = search_loop(sweep(), value)
    other = search_loop(sweep(seed=6), value)
    assert [e.params for e in first] == [e.params for e in again]
    assert len(first) == 6 * 8
    assert [e.params for e in first[:8]] != [e.params for e in other[:8]]
    assert [e.params for e in first[8:]] != [e.params for e in other[8:]]


def test_rounds_draw_from_their_own_streams() -> None:
    seeds = {sampler_seed(seed, k) for seed in (0, 1) for k in range(50)}
    assert len(seeds) == 100
    assert all(0 <= s < 2**32 for s in seeds)


@pytest.mark.parametrize("seed", [5, 6])
def test_later_rounds_gather_where_the_objective_is_met(seed: int) -> None:
    """TPE learns from the replayed values: later points gather at the crossing.

    The value (1 - q)^2 meets the target 0.5 at q = 1 - sqrt(0.5). Uniform draws lie a median
    0.25 away from it at best; rounds 2-5 lie a median of less than half that away.
    """
    crossing = 1 - math.sqrt(0.5)
    history = search_loop(sweep(seed=seed), lambda p: (1.0 - p["quorum"]) ** 2)
    later = sorted(abs(e.params["quorum"] - crossing) for e in history[16:])
    assert later[len(later) // 2] < 0.125


def test_the_values_replayed_decide_the_next_round() -> None:
    s = sweep()
    round0 = plan_round(s.spec, 0, ())
    low = [Evaluated(i, p, p["quorum"]) for i, p in enumerate(round0)]
    high = [Evaluated(i, p, p["quorum"] ** 3) for i, p in enumerate(round0)]
    assert plan_round(s.spec, 1, low) != plan_round(s.spec, 1, high)
    # a point without a value is replayed as a failed trial, not as a value
    failed = [Evaluated(e.point_index, e.params, None, 0) for e in low]
    assert plan_round(s.spec, 1, failed) != plan_round(s.spec, 1, low)


@pytest.mark.parametrize("count", [0, 7, 9])
def test_history_must_hold_every_earlier_point_in_order(count: int) -> None:
    s = sweep()
    points = plan_round(s.spec, 0, ()) * 2
    with pytest.raises(ValueError, match="round 1 is planned from points 0-7 in order"):
        plan_round(s.spec, 1, [Evaluated(i, p, 0.5) for i, p in enumerate(points[:count])])
    shuffled = [Evaluated(i, p, 0.5) for i, p in zip([1, 0, *range(2, 8)], points, strict=False)]
    with pytest.raises(ValueError):
        plan_round(s.spec, 1, shuffled)


def test_points_follow_each_parameter_kind() -> None:
    s = sweep(
        parameters={
            "agents": {"min": 20, "max": 400, "scale": "log"},
            "whale_ratio": {"values": [0.05, 0.1, 0.3]},
            "mean_degree": {"min": 2.0, "max": 32.0, "scale": "log"},
        },
        objective={"outcome": "flips_total", "direction": "maximize"},
    )
    history = search_loop(s, lambda p: p["agents"] * p["whale_ratio"])
    for e in history:
        assert isinstance(e.params["agents"], int) and 20 <= e.params["agents"] <= 400
        assert e.params["whale_ratio"] in (0.05, 0.1, 0.3)
        assert 2.0 <= e.params["mean_degree"] <= 32.0
    # maximising agents x whale_ratio: the last round leans to many agents and big whales
    last = history[-8:]
    assert sum(e.params["whale_ratio"] == 0.3 for e in last) >= 4
    assert sorted(e.params["agents"] for e in last)[4] > 200


def test_plan_round_needs_an_adaptive_sweep() -> None:
    grid = parse_sweep(document("g", {"parameters": {"quorum": {"values": [0.1, 0.2]}}}))
    with pytest.raises(ValueError, match="method optuna"):
        plan_round(grid.spec, 0, ())


# --- values and the answer ----------------------------------------------------------------------


def test_point_value_is_the_mean_without_nans_in_any_order() -> None:
    values = [0.1, 0.7, float("nan"), 0.2, 1e-17, 0.3]
    means = {point_value(list(order)) for order in itertools.permutations(values)}
    assert len(means) == 1  # the same bits whatever order the runs are read in
    assert math.isclose(means.pop() or 0.0, (0.1 + 0.7 + 0.2 + 1e-17 + 0.3) / 5)
    assert point_value([float("nan")]) is None
    assert point_value([]) is None
    assert point_value([True, False, True, True]) == 0.75


@pytest.mark.parametrize(
    ("y", "w", "increasing", "expected"),
    [
        ([1.0, 2.0, 3.0], [1, 1, 1], True, [1.0, 2.0, 3.0]),
        ([3.0, 2.0, 1.0], [1, 1, 1], True, [2.0, 2.0, 2.0]),
        ([1.0, 3.0, 2.0], [1, 3, 1], True, [1.0, 2.75, 2.75]),
        ([0.9, 0.4, 0.6, 0.1], [1, 1, 1, 1], False, [0.9, 0.5, 0.5, 0.1]),
        ([], [], True, []),
    ],
)
def test_isotonic_fit(y: list[float], w: list[float], increasing: bool, expected: list[float]):
    assert isotonic(y, w, increasing=increasing) == pytest.approx(expected)


def points(xs: list[float], ys: list[float | None], runs: int = 1) -> list[Evaluated]:
    return [
        Evaluated(i, {"quorum": x}, y, runs if y is not None else 0)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]


@pytest.mark.parametrize(
    ("xs", "ys", "expected"),
    [
        # rising through the target: bracketed by 1 and 2, halfway
        ([0, 1, 2, 3], [0.1, 0.3, 0.7, 0.9], Boundary("quorum", 1, 2, 1.5)),
        # falling: the same bracket (points come in any order)
        ([3, 1, 2, 0], [0.1, 0.7, 0.3, 0.9], Boundary("quorum", 1, 2, 1.5)),
        # noise: the decreasing fit pools 0.4 and 0.6 into 0.5, which meets the target at 1
        ([0, 1, 2, 3], [0.9, 0.4, 0.6, 0.1], Boundary("quorum", 0, 1, 1.0)),
        # never reaches the target
        ([0, 1, 2, 3], [0.9, 0.8, 0.7, 0.6], None),
        # already at the target at the low end
        ([0, 1, 2], [0.5, 0.3, 0.1], Boundary("quorum", 0, 0, 0)),
        # points without a value are left out
        ([0, 1, 2, 3], [0.9, None, 0.1, None], Boundary("quorum", 0, 2, 1.0)),
        # one value evaluated is no boundary
        ([1, 1], [0.9, 0.1], None),
    ],
)
def test_find_boundary(xs: list[float], ys: list[float | None], expected: Boundary | None) -> None:
    found = find_boundary(points(xs, ys), "quorum", 0.5)
    assert same(found, expected)


def same(found: Boundary | None, expected: Boundary | None) -> bool:
    """Equal boundaries, numbers to rounding."""
    if found is None or expected is None:
        return found is expected
    numbers = (found.low, found.high, found.estimate)
    wanted = (expected.low, expected.high, expected.estimate)
    return found.parameter == expected.parameter and numbers == pytest.approx(wanted)


def test_boundary_weights_repeated_values_by_their_runs() -> None:
    # x = 1 twice: 0.2 over 1 run and 0.6 over 3 runs is 0.5 over 4 runs, exactly the target
    evaluated = [
        Evaluated(0, {"quorum": 0.0}, 0.9, 1),
        Evaluated(1, {"quorum": 1.0}, 0.2, 1),
        Evaluated(2, {"quorum": 1.0}, 0.6, 3),
        Evaluated(3, {"quorum": 2.0}, 0.1, 1),
    ]
    assert same(find_boundary(evaluated, "quorum", 0.5), Boundary("quorum", 0.0, 1.0, 1.0))


def test_boundary_interpolates_on_the_log_scale() -> None:
    evaluated = points([1.0, 100.0], [1.0, 0.0])
    assert same(find_boundary(evaluated, "quorum", 0.5, log=True), Boundary("quorum", 1, 100, 10))
    assert same(find_boundary(evaluated, "quorum", 0.5), Boundary("quorum", 1, 100, 50.5))


@pytest.mark.parametrize(
    ("objective", "best_index"),
    [
        ({"outcome": "passed", "target": 0.5}, 1),  # |0.75 - 0.5| = |0.25 - 0.5|: the lower index
        ({"outcome": "passed", "direction": "minimize"}, 3),
        ({"outcome": "passed", "direction": "maximize"}, 0),
    ],
)
def test_answer_picks_the_best_point(objective: dict[str, Any], best_index: int) -> None:
    s = sweep(objective=objective)
    evaluated = points([0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.75, 0.25, 0.1, None])
    found = answer(s.spec, evaluated)
    assert found.best is not None and found.best.point_index == best_index
    assert found.evaluated == 4
    assert (found.boundary is not None) is ("target" in objective)


def test_boundary_needs_one_numeric_parameter() -> None:
    two = sweep(parameters={"quorum": {"min": 0, "max": 1}, "whale_ratio": {"min": 0, "max": 1}})
    evaluated = [
        Evaluated(i, {"quorum": x, "whale_ratio": 0.1}, 1 - x, 1) for i, x in enumerate([0.2, 0.8])
    ]
    assert answer(two.spec, evaluated).boundary is None
    choice = sweep(parameters={"influence_model": {"values": ["erdos_renyi", "small_world"]}})
    labelled = [Evaluated(0, {"influence_model": "erdos_renyi"}, 0.2, 1)]
    assert answer(choice.spec, labelled).boundary is None
    numbers = sweep(parameters={"whale_ratio": {"values": [0.1, 0.3]}})
    valued = [Evaluated(i, {"whale_ratio": x}, 1 - 2 * x, 1) for i, x in enumerate([0.1, 0.3])]
    assert same(answer(numbers.spec, valued).boundary, Boundary("whale_ratio", 0.1, 0.3, 0.25))


def test_answer_without_values() -> None:
    found = answer(sweep().spec, points([0.1, 0.2], [None, None]))
    assert (found.best, found.boundary, found.evaluated) == (None, None, 0)


# --- expansion by rounds ------------------------------------------------------------------------


def test_tasks_keep_rounds_apart() -> None:
    s = sweep(pointsPerRound=3, replicates=5, runsPerTask=4, rounds=2)  # 15 runs a round: 4 tasks
    plan = SweepPlan(s)
    assert (plan.n_tasks, plan.tasks_per_round, plan.n_runs) == (8, 4, 30)
    positions = [plan.task_positions(i) for i in range(plan.n_tasks)]
    assert positions == [range(0, 4), range(4, 8), range(8, 12), range(12, 15),
                         range(15, 19), range(19, 23), range(23, 27), range(27, 30)]  # fmt: skip
    assert [plan.round_of_task(i) for i in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert plan.round_tasks(1) == range(4, 8)


def test_plan_reads_points_from_the_round_source() -> None:
    s = sweep(pointsPerRound=2, rounds=2, replicates=2, runsPerTask=2)
    stored = {0: [{"quorum": 0.1}, {"quorum": 0.2}], 1: [{"quorum": 0.7}, {"quorum": 0.9}]}
    plan = SweepPlan(s, round_points=stored.__getitem__)
    runs = [r for i in range(plan.n_tasks) for r in plan.task_runs(i)]
    assert [r.swept["quorum"] for r in runs] == [0.1, 0.1, 0.2, 0.2, 0.7, 0.7, 0.9, 0.9]
    assert [r.point_index for r in runs] == [0, 0, 1, 1, 2, 2, 3, 3]
    short = SweepPlan(s, round_points=lambda k: [{"quorum": 0.1}])
    with pytest.raises(TaskError, match="round 0 of sweep search holds 1 points, not "):
        short.task_runs(0)
    wrong = SweepPlan(s, round_points=lambda k: [{"whale_ratio": 0.1}] * 2)
    with pytest.raises(TaskError, match="names"):
        wrong.task_runs(0)


def test_without_a_store_only_round_0_is_known() -> None:
    s = sweep()
    plan = SweepPlan(s)
    assert plan.point_values(7) == plan_round(s.spec, 0, ())[7]
    with pytest.raises(TaskError, match="round 1 of sweep search is planned from the results"):
        plan.point_values(8)


def test_sweepctl_starts_without_importing_optuna() -> None:
    """Optuna is imported where a round is planned, not when the command line starts."""
    code = (
        "import sys\n"
        "import sweep_controller.commands.main, sweep_controller.commands.run\n"
        "import sweep_controller.k8s.reconcile, sweep_controller.execution.adaptive\n"
        "print('optuna' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"

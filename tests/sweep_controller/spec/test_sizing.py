"""Task sizing: the cost model's shape, the estimate from a spec, and the one-line warnings.

The coefficients' accuracy against the engine is measured by ``python -m bench.sizing``, not
asserted here; these tests pin the logic that turns an estimate into warnings.
"""

from __future__ import annotations

from typing import Any

import pytest
from kit.specs import sweep_doc

from simulator.memory import run_memory_bytes
from simulator.params import SimParams
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.sizing import (
    BASE_PROCESS_BYTES,
    RECORD_BUFFER_BYTES,
    Coefficients,
    TaskSize,
    estimate_task,
    expected_rounds,
    memory_limit_bytes,
    run_seconds,
    sizing_warnings,
)

GIB = 2**30
FLAT = Coefficients(
    base=0.001, per_agent=1e-6, per_edge=0.0, round_agent=0.0, round_edge=0.0,
    trace_agent=2e-6, measured_on="test",
)  # fmt: skip


def size(per_run: float, runs_per_task: int, n_runs: int, *, longest: float | None = None,
         run_bytes: int = 0) -> TaskSize:  # fmt: skip
    return TaskSize(
        runs_per_task=runs_per_task,
        n_tasks=-(-n_runs // runs_per_task),
        n_runs=n_runs,
        mean_run_seconds=per_run,
        max_run_seconds=per_run if longest is None else longest,
        max_run_bytes=run_bytes,
    )


# --- the cost model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "rounds"),
    [
        ({"rules": "v0.4"}, 1.0),
        ({"rules": "v0.4", "cascade_rounds": 10}, 10.0),
        ({"agents": 10_000}, 2.8 * 4),  # v0.5: until the cascade ends, ~2.8 log10(N)
        ({"agents": 10_000, "cascade_rounds": 3}, 3.0),  # ... at most cascade_rounds
        ({"agents": 1}, 1.0),
    ],
)
def test_expected_rounds(fields: dict[str, Any], rounds: float) -> None:
    assert expected_rounds(SimParams(**fields)) == pytest.approx(rounds)


def test_run_seconds_adds_the_terms_of_the_coefficients() -> None:
    c = Coefficients(base=1.0, per_agent=2.0, per_edge=3.0, round_agent=5.0, round_edge=7.0,
                     trace_agent=11.0, measured_on="test")  # fmt: skip
    params = SimParams(agents=10, mean_degree=2, rules="v0.4", cascade_rounds=4)
    edges = params.expected_edges()
    assert edges == 10.0
    plain = 1 + 2 * 10 + 3 * edges + 4 * (5 * 10 + 7 * edges)
    assert run_seconds(params, coefficients=c) == pytest.approx(plain)
    assert run_seconds(params, traces=True, coefficients=c) == pytest.approx(plain + 11 * 10)


def test_estimate_takes_the_mean_and_the_largest_point() -> None:
    doc = sweep_doc(simulator={}, parameters={"agents": {"values": [1000, 3000]}}, runsPerTask=4)
    sweep = parse_sweep(doc)
    got = estimate_task(sweep, coefficients=FLAT)
    assert got.mean_run_seconds == pytest.approx(0.001 + 2000e-6)
    assert got.max_run_seconds == pytest.approx(0.001 + 3000e-6)
    assert got.task_seconds == pytest.approx(4 * 0.003)
    assert got.max_run_bytes == run_memory_bytes(SimParams(agents=3000))
    assert got.task_bytes == BASE_PROCESS_BYTES + got.max_run_bytes + RECORD_BUFFER_BYTES
    traced = estimate_task(parse_sweep({**doc, "spec": {**doc["spec"], "traces": "parquet"}}),
                           coefficients=FLAT)  # fmt: skip
    assert traced.mean_run_seconds == pytest.approx(0.003 + 2e-6 * 2000)


def test_estimate_of_a_huge_grid_samples_its_points() -> None:
    doc = sweep_doc(simulator={}, parameters={"agents": {"min": 100, "max": 1_000_100,
                    "steps": 100_001}}, runsPerTask=1000)  # fmt: skip
    got = estimate_task(parse_sweep(doc), coefficients=FLAT)
    assert got.max_run_seconds == pytest.approx(0.001 + 1_000_100e-6)  # the last point
    assert got.mean_run_seconds == pytest.approx(0.001 + 500_100e-6, rel=0.01)


# --- warnings ----------------------------------------------------------------------------------


def test_too_small_names_runs_per_task_and_the_least_good_value() -> None:
    got = sizing_warnings(size(0.003, 10, 1_000_000), memory_limit_bytes=None)
    assert got == [
        "spec.runsPerTask: 10 runs of ~3 ms each make a 30 ms task against ~8 s of pod start "
        "(100% overhead); raise runsPerTask to >= 40000 (target 2-30 min per task)"
    ]


def test_a_sweep_smaller_than_one_good_task_is_told_to_be_one_task() -> None:
    (line,) = sizing_warnings(size(0.003, 10, 800), memory_limit_bytes=None)
    assert line.endswith(
        "the whole sweep is ~2.4 s of work: set runsPerTask to 800 (one task), or run it "
        "locally with sweepctl run"
    )


def test_one_task_is_never_too_small() -> None:
    assert sizing_warnings(size(0.003, 800, 800), memory_limit_bytes=None) == []


@pytest.mark.parametrize("task_seconds", [120.0, 600.0, 1800.0])
def test_tasks_within_the_targets_get_no_warning(task_seconds: float) -> None:
    assert sizing_warnings(size(task_seconds / 100, 100, 10**6), memory_limit_bytes=GIB) == []


def test_too_large_names_runs_per_task_and_the_most_good_value() -> None:
    got = sizing_warnings(size(20.0, 100, 10**4, longest=60.0), memory_limit_bytes=None)
    assert got == [
        "spec.runsPerTask: 100 runs of up to ~1 min each make tasks of up to 1.7 h, which an "
        "interrupted pod loses whole; lower runsPerTask to <= 30 (target 2-30 min per task)"
    ]


def test_one_run_over_the_target_names_the_simulator_parameters() -> None:
    (line,) = sizing_warnings(size(3600.0, 1, 10), memory_limit_bytes=None)
    assert line.startswith("spec.simulator/spec.parameters: one run takes up to ~1 h, over the")


def test_memory_over_the_limit() -> None:
    big = size(300.0, 2, 100, run_bytes=3 * GIB)
    (line,) = sizing_warnings(big, memory_limit_bytes=2 * GIB)
    assert line == (
        "spec.simulator/spec.parameters: a task needs ~3.3 GiB (its largest run ~3 GiB) over the "
        "worker memory limit 2 GiB; use fewer agents or a smaller mean_degree, or raise the "
        "worker memory limit (chart value worker.resources.limits.memory)"
    )
    assert sizing_warnings(big, memory_limit_bytes=4 * GIB) == []
    assert sizing_warnings(big, memory_limit_bytes=None) == []


def test_every_warning_is_one_line() -> None:
    bad = size(0.001, 1, 10**6, longest=4000.0, run_bytes=8 * GIB)
    got = sizing_warnings(bad, memory_limit_bytes=GIB)
    assert len(got) == 3
    assert all("\n" not in line for line in got)


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"limits": {"memory": "2Gi"}, "requests": {"memory": "1Gi"}}, 2 * GIB),
        ({"requests": {"memory": "512Mi"}}, 512 * 2**20),
        ({"limits": {"memory": "4G"}}, 4 * 10**9),
        ({"limits": {"memory": "1.5Gi"}}, int(1.5 * GIB)),
        ({"limits": {"memory": "1000"}}, 1000),
        ({"limits": {"cpu": "1"}}, None),
        ({}, None),
        ({"limits": {"memory": "lots"}}, None),
    ],
)
def test_memory_limit_bytes(resources: dict[str, Any], expected: int | None) -> None:
    assert memory_limit_bytes(resources) == expected

"""Sobol indices from our code path against the Ishigami function's analytic indices.

The design comes from the sweep spec (``SweepPlan``: the Saltelli matrix, the Latin hypercube,
the plain Sobol sequence), the analytic function's values stand in for simulations, and
``sobol_indices`` estimates the indices exactly as ``sweepctl analyze`` does. Ishigami,
``sin x1 + a sin^2 x2 + b x3^4 sin x1`` on ``[-pi, pi]^3``, has known first-order and total
indices (Ishigami and Homma 1990; Sobol' and Levitan 1999), and an interaction (x1 with x3) that
only a total index sees. Everything here is seeded: the same inputs give the same numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from sweep_controller.analysis.estimators import (
    given_data_indices,
    nearest_neighbour_terms,
    rbd_fast_first_order,
    rbd_fast_rows,
    saltelli_indices,
)
from sweep_controller.analysis.results import Collected
from sweep_controller.analysis.sensitivity import (
    INDEX_COLUMNS,
    MIN_BASE_SAMPLES,
    Estimator,
    check_analysable,
    outcome_series,
    sobol_indices,
    write_indices,
)
from sweep_controller.errors import AnalysisError, ResultsError
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import Sweep

A, B = 7.0, 0.1
_V = A**2 / 8 + B * math.pi**4 / 5 + B**2 * math.pi**8 / 18 + 0.5
_V1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
_V2 = A**2 / 8
_V13 = B**2 * math.pi**8 * (1 / 18 - 1 / 50)
ANALYTIC_S1 = (_V1 / _V, _V2 / _V, 0.0)
ANALYTIC_ST = ((_V1 + _V13) / _V, _V2 / _V, _V13 / _V)
PARAMETERS = ("conformity_threshold", "whale_ratio", "rewire_prob")
"""Three unit-range simulator parameters; each stands for one Ishigami input."""


def ishigami(unit: np.ndarray) -> np.ndarray:
    """The Ishigami function of unit coordinates (mapped onto [-pi, pi])."""
    x = -math.pi + 2 * math.pi * unit
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def sweep_of(method: str, samples: int | None, **spec: Any) -> Sweep:
    body = {
        "parameters": {name: {"min": 0.0, "max": 1.0} for name in PARAMETERS},
        "method": method,
        "samples": samples,
        "seed": 5,
        **spec,
    }
    doc = {"apiVersion": "govsim.io/v1alpha1", "kind": "Sweep", "metadata": {"name": "ishigami"}}
    return Sweep.model_validate({**doc, "spec": body})


def ishigami_runs(sweep: Sweep, *, noise: float = 0.0, drop: int = 0) -> Collected:
    """Every run of ``sweep`` with Ishigami's value at its point (plus seeded normal noise)."""
    plan = SweepPlan(sweep)
    units = np.stack([plan.unit_point(p) for p in range(plan.n_points)])
    values = np.repeat(ishigami(units), plan.replicates)
    values = values + np.random.default_rng(99).normal(0.0, noise, len(values))
    runs = np.arange(plan.n_runs)[drop:]
    columns = {
        "run_index": runs,
        "point_index": runs // plan.replicates,
        "ishigami": values[drop:],
    }
    return Collected(sweep, tuple(sweep.spec.parameters), columns, (0,), 0)


def assert_within(found: np.ndarray, conf: np.ndarray, analytic: tuple[float, ...]) -> None:
    for value, half, truth in zip(found, conf, analytic, strict=True):
        assert abs(value - truth) <= half, (value, half, truth)


@pytest.mark.parametrize(
    ("method", "samples", "spec", "estimator"),
    [
        ("sobol", 1024, {"design": "saltelli"}, Estimator.SALTELLI),
        ("latin_hypercube", 2048, {}, Estimator.GIVEN_DATA),
        ("random", 2048, {}, Estimator.GIVEN_DATA),
    ],
)
def test_ishigami_indices_match_the_analytic_values_within_their_intervals(
    method: str, samples: int, spec: dict[str, Any], estimator: Estimator
) -> None:
    found = sobol_indices(ishigami_runs(sweep_of(method, samples, **spec)), outcomes=["ishigami"])
    assert found.estimator is estimator
    assert found.parameters == PARAMETERS
    entry = found.outcome("ishigami")
    assert entry.indices is not None and entry.note == ""
    assert_within(entry.indices.s1, entry.indices.s1_conf, ANALYTIC_S1)
    assert_within(entry.indices.st, entry.indices.st_conf, ANALYTIC_ST)
    # the intervals are informative: narrow enough to tell x3's interaction from nothing
    assert float(entry.indices.st_conf.max()) < 0.1
    assert entry.indices.st[2] - entry.indices.st_conf[2] > 0.1 > entry.indices.s1[2]


def test_a_plain_sobol_sequence_gets_first_order_indices_only() -> None:
    found = sobol_indices(ishigami_runs(sweep_of("sobol", 2048)), outcomes=["ishigami"])
    assert found.estimator is Estimator.FIRST_ORDER
    entry = found.outcome("ishigami")
    assert entry.indices is not None
    assert_within(entry.indices.s1, entry.indices.s1_conf, ANALYTIC_S1)
    assert np.isnan(entry.indices.st).all() and "design: saltelli" in entry.note


def test_nearest_neighbours_overstate_total_indices_on_a_sobol_net() -> None:
    """Why a plain Sobol sequence gets no ST: its close points are not independent draws."""
    sweep = sweep_of("sobol", 2048)
    plan = SweepPlan(sweep)
    x = np.stack([plan.unit_point(p) for p in range(plan.n_points)])
    y = ishigami(x)
    st1 = float(nearest_neighbour_terms(x, y, 0).mean() / y.var())
    assert st1 > ANALYTIC_ST[0] + 0.1


def test_replicates_are_averaged_and_their_noise_is_measured() -> None:
    """Noise of variance s^2 over R replicates leaves s^2 / R in each point's mean."""
    sweep = sweep_of("sobol", 512, design="saltelli", replicates=4)
    entry = sobol_indices(ishigami_runs(sweep, noise=4.0), outcomes=["ishigami"]).outcome(
        "ishigami"
    )
    expected = (16.0 / 4) / (_V + 16.0 / 4)  # about 0.3
    assert abs(entry.noise_share - expected) < 0.05
    assert entry.points == 512 * 5
    assert entry.indices is not None  # noise lowers S1 (x2's 0.44 falls to about 0.3)
    assert entry.indices.s1[1] < ANALYTIC_S1[1] - 0.05
    quiet = sobol_indices(ishigami_runs(sweep), outcomes=["ishigami"]).outcome("ishigami")
    assert quiet.noise_share == 0.0


def test_the_same_seed_gives_the_same_indices_and_another_seed_other_intervals() -> None:
    runs = ishigami_runs(sweep_of("latin_hypercube", 256))
    first = sobol_indices(runs, outcomes=["ishigami"], resamples=200)
    again = sobol_indices(runs, outcomes=["ishigami"], resamples=200)
    other = sobol_indices(runs, outcomes=["ishigami"], resamples=200, seed=12345)
    assert first.rows() == again.rows()
    a, b = first.outcome("ishigami").indices, other.outcome("ishigami").indices
    assert a is not None and b is not None
    assert np.array_equal(a.s1, b.s1) and np.array_equal(a.st, b.st)  # estimates: no randomness
    assert not np.array_equal(a.s1_conf, b.s1_conf)  # intervals: the bootstrap's draws


def test_a_saltelli_sweep_with_missing_points_uses_its_complete_base_samples() -> None:
    sweep = sweep_of("sobol", 64, design="saltelli")
    block = len(PARAMETERS) + 2
    entry = sobol_indices(ishigami_runs(sweep, drop=3), outcomes=["ishigami"]).outcome("ishigami")
    assert entry.points == (64 - 1) * block  # the first base sample lost 3 of its 5 points
    too_few = ishigami_runs(sweep, drop=(64 - MIN_BASE_SAMPLES + 1) * block)
    with pytest.raises(ResultsError, match=r"31 of 64 base samples have all their 5 points"):
        sobol_indices(too_few, outcomes=["ishigami"])


@pytest.mark.parametrize(
    ("method", "samples", "spec", "message"),
    [
        ("grid", None, {}, r"spec\.method: grid: Sobol indices need a sampled design"),
        ("sobol", 16, {"design": "saltelli"}, r"spec\.samples: 16 base samples are too few"),
        ("sobol", 64, {}, r"spec\.samples: 64 points are too few .* or design: saltelli"),
        ("latin_hypercube", 100, {}, r"spec\.samples: 100 points are too few .* at least 128$"),
    ],
)
def test_designs_without_an_estimator_are_refused(
    method: str, samples: int | None, spec: dict[str, Any], message: str
) -> None:
    if method == "grid":
        steps = {name: {"min": 0.0, "max": 1.0, "steps": 2} for name in PARAMETERS}
        sweep = sweep_of("grid", None, parameters=steps)
    else:
        sweep = sweep_of(method, samples, **spec)
    with pytest.raises(AnalysisError, match=message):
        check_analysable(sweep)


def test_an_outcome_without_variance_or_values_gets_a_note_not_indices() -> None:
    runs = ishigami_runs(sweep_of("latin_hypercube", 128))
    n = runs.n_rows
    columns = dict(runs.columns)
    columns["flat"] = np.full(n, 3.0)
    columns["sparse"] = np.where(np.arange(n) < 100, 1.0, np.nan)
    runs = Collected(runs.sweep, runs.swept, columns, (0,), 0)
    found = sobol_indices(runs, outcomes=["flat", "sparse"], resamples=50)
    assert found.outcome("flat").indices is None
    assert found.outcome("flat").note == "constant: no variance to apportion"
    assert found.outcome("sparse").indices is None
    assert found.outcome("sparse").note == "values at only 100 points"


def test_booleans_are_rates_and_a_text_outcome_is_one_column_per_level() -> None:
    columns = {
        "passed": np.array([True, False, True]),
        "flips_total": np.array([3, 0, 5]),
        "cascade_ending": np.array(["converged", "cycle", "converged"]),
    }
    series = outcome_series(columns, ["passed", "flips_total", "cascade_ending"])
    assert list(series) == [
        "passed",
        "flips_total",
        "cascade_ending=converged",
        "cascade_ending=cycle",
        "cascade_ending=round_cap",
    ]
    assert series["passed"].tolist() == [1.0, 0.0, 1.0]
    assert series["cascade_ending=cycle"].tolist() == [0.0, 1.0, 0.0]
    assert series["cascade_ending=round_cap"].tolist() == [0.0, 0.0, 0.0]


def test_the_table_is_written_as_csv_and_parquet(tmp_path: Any) -> None:
    found = sobol_indices(
        ishigami_runs(sweep_of("sobol", 64, design="saltelli")), outcomes=["ishigami"]
    )
    csv_path, parquet_path = write_indices(found, tmp_path / "out")
    table = pq.read_table(parquet_path)
    assert table.column_names == list(INDEX_COLUMNS)
    assert table.column("parameter").to_pylist() == list(PARAMETERS)
    assert table.column("estimator").to_pylist() == ["saltelli"] * 3
    lines = csv_path.read_text().splitlines()
    assert lines[0] == ",".join(f'"{c}"' for c in INDEX_COLUMNS) and len(lines) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sobol-indices.csv",
        "sobol-indices.parquet",
    ]


# --- the estimators on their own ----------------------------------------------------------------


def test_the_vectorised_rbd_fast_is_salibs_estimator_row_by_row() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((6, 200))
    y = np.sin(5 * x) + rng.normal(0, 0.5, x.shape)
    rows = rbd_fast_rows(x, y)
    assert np.allclose(rows, [rbd_fast_first_order(x[k], y[k]) for k in range(6)], atol=1e-12)


def test_nearest_neighbour_terms_pair_each_point_with_its_closest_in_the_other_inputs() -> None:
    x = np.array([[0.1, 0.10], [0.9, 0.12], [0.5, 0.80], [0.2, 0.85]])
    y = np.array([1.0, 3.0, 10.0, 14.0])
    # without input 0, the neighbours by input 1 are 0<->1 and 2<->3
    assert nearest_neighbour_terms(x, y, 0).tolist() == [2.0, 2.0, 8.0, 8.0]


def test_one_input_has_a_total_index_of_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((300, 1))
    found = given_data_indices(x, x[:, 0] ** 2, resamples=50, confidence=0.9, seed=1)
    assert found.st.tolist() == [1.0] and found.s1[0] > 0.9


def test_salib_needs_a_seed_above_zero_to_leave_the_global_generator_alone() -> None:
    with pytest.raises(ValueError, match="seed: 0 must be above 0"):
        saltelli_indices(np.arange(12.0), 1, resamples=10, confidence=0.95, seed=0)

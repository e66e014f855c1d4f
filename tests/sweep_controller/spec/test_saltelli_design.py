"""``design: saltelli``: a sobol sweep laid out as SALib's Saltelli design, and nothing else moves.

The Saltelli design is what SALib's Sobol analyzer reads: per base sample, A, then A with column
``i`` from B for each design dimension, then B. The option must not change a single existing
sweep: at its default, expansions and spec hashes stay what they were.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kit.paths import EXAMPLES
from kit.specs import document

from sweep_controller.errors import SpecError
from sweep_controller.spec.expand import SAMPLE_STREAM, SweepPlan
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import Design, spec_hash


def saltelli_doc(samples: int = 8, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "parameters": {
            "whale_ratio": {"min": 0.0, "max": 0.5},
            "conformity_threshold": {"min": 0.2, "max": 0.9},
            "agents": {"min": 20, "max": 400, "scale": "log"},
        },
        "method": "sobol",
        "samples": samples,
        "design": "saltelli",
        "seed": 17,
    }
    body.update(spec)
    return document("salt", body)


def units(plan: SweepPlan) -> np.ndarray:
    return np.stack([plan.unit_point(p) for p in range(plan.n_points)])


def test_a_saltelli_design_has_samples_times_dimensions_plus_two_points() -> None:
    sweep = parse_sweep(saltelli_doc(8, replicates=3))
    assert sweep.spec.design is Design.SALTELLI
    assert (sweep.spec.n_points, sweep.spec.n_runs) == (8 * 5, 8 * 5 * 3)
    zipped = parse_sweep(saltelli_doc(8, zip=[["whale_ratio", "conformity_threshold"]]))
    assert zipped.spec.n_points == 8 * (2 + 2)  # a zip group is one dimension


def test_each_base_sample_is_a_then_a_with_one_column_of_b_then_b() -> None:
    plan = SweepPlan(parse_sweep(saltelli_doc(16)))
    blocks = units(plan).reshape(16, 5, 3)
    a, b = blocks[:, 0], blocks[:, 4]
    for i in range(3):
        crossed = blocks[:, 1 + i]
        assert np.array_equal(crossed[:, i], b[:, i])
        others = [j for j in range(3) if j != i]
        assert np.array_equal(crossed[:, others], a[:, others])
    assert not np.isclose(a, b).any()  # A and B are different halves of one Sobol sequence
    assert ((blocks >= 0) & (blocks < 1)).all()


def test_the_design_is_salibs_for_the_sweeps_sample_stream() -> None:
    from SALib.sample import sobol

    plan = SweepPlan(parse_sweep(saltelli_doc(32)))
    rng = np.random.default_rng(np.random.SeedSequence([17, SAMPLE_STREAM]))
    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0.0, 1.0]] * 3}
    expected = sobol.sample(problem, 32, calc_second_order=False, seed=rng)
    assert np.array_equal(units(plan), expected)


def test_points_map_their_unit_coordinates_as_every_sampled_method_does() -> None:
    plan = SweepPlan(parse_sweep(saltelli_doc(8)))
    u = plan.unit_point(6)
    values = plan.point_values(6)
    assert values["whale_ratio"] == pytest.approx(0.5 * u[0])
    assert values["conformity_threshold"] == pytest.approx(0.2 + 0.7 * u[1])
    assert values["agents"] == int(np.floor(np.exp(np.log(20) + (np.log(401) - np.log(20)) * u[2])))


def test_another_seed_gives_another_design() -> None:
    first = units(SweepPlan(parse_sweep(saltelli_doc(8))))
    other = units(SweepPlan(parse_sweep(saltelli_doc(8, seed=18))))
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"method": "latin_hypercube"},
            "spec.design: saltelli is only used by method sobol, not latin_hypercube",
        ),
        ({"method": "random"}, "spec.design: saltelli is only used by method sobol, not random"),
        ({"design": "jansen"}, "spec.design: 'jansen' is not one of plain, saltelli"),
        ({"samples": 12}, "spec.samples: 12 is not a power of 2 (sobol needs one: 8 or 16)"),
        (
            {"samples": 524288},
            "spec.samples: 524288 x (3 dimensions + 2) = 2621440 saltelli points is over the "
            "limit of 1048576",
        ),
    ],
)
def test_bad_designs_are_one_line_naming_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_sweep(saltelli_doc(**spec), "sweep.yaml")
    assert str(info.value).startswith(f"sweep.yaml: {message}"), str(info.value)


def test_the_default_design_keeps_every_hash_and_expansion() -> None:
    for path in EXAMPLES:
        sweep = load_sweep(path)
        if sweep.spec.design is not Design.PLAIN:
            continue
        doc = sweep.model_dump(mode="json", by_alias=True, exclude_unset=True)
        doc["spec"]["design"] = "plain"
        explicit = parse_sweep(doc)
        assert spec_hash(explicit) == spec_hash(sweep), path.name
        plan, again = SweepPlan(sweep), SweepPlan(explicit)
        # an adaptive search's later rounds are planned from results: compare round 0
        known = sweep.spec.points_per_round or plan.n_points
        for p in range(0, known, max(1, known // 7)):
            assert plan.point_values(p) == again.point_values(p), path.name


def test_saltelli_changes_the_hash_and_the_points() -> None:
    salt = parse_sweep(saltelli_doc(8))
    plain = parse_sweep(saltelli_doc(8, design="plain"))
    assert spec_hash(salt) != spec_hash(plain)
    assert plain.spec.n_points == 8
    assert not np.array_equal(units(SweepPlan(plain)), units(SweepPlan(salt))[:8])


def test_a_grid_has_no_unit_coordinates() -> None:
    from sweep_controller.errors import TaskError

    grid = parse_sweep(document("g", {"parameters": {"whale_ratio": {"values": [0.1, 0.2]}}}))
    with pytest.raises(TaskError, match="a grid has no unit design coordinates"):
        SweepPlan(grid).unit_point(0)

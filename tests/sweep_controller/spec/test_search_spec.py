"""The spec of an adaptive sweep (method: optuna): what it needs and refuses, its sizes and hash."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kit.specs import document, sweep_doc

from sweep_controller.errors import SpecError
from sweep_controller.spec.columns import OBJECTIVE_OUTCOMES, OUTCOME_COLUMNS, SCENARIO_COLUMNS
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import (
    MAX_ROUNDS,
    MAX_SEARCH_POINTS,
    Method,
    legacy_spec_hash,
    spec_hash,
)

DELETE = object()


def search_doc(**spec: Any) -> dict[str, Any]:
    """A valid adaptive sweep: 3 rounds of 4 quorums, 5 replicates, 10 runs a task."""
    base: dict[str, Any] = {
        "simulator": {"agents": 50},
        "parameters": {"quorum": {"min": 0.3, "max": 0.95}},
        "method": "optuna",
        "objective": {"outcome": "passed", "target": 0.5},
        "rounds": 3,
        "pointsPerRound": 4,
        "replicates": 5,
        "runsPerTask": 10,
        "seed": 3,
    }
    for key, value in spec.items():
        if value is DELETE:
            base.pop(key)
        else:
            base[key] = copy.deepcopy(value)
    return document("search", base)


def error_of(doc: object) -> str:
    with pytest.raises(SpecError) as info:
        parse_sweep(doc, "sweep.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_search_sizes_count_rounds_and_keep_rounds_apart() -> None:
    spec = parse_sweep(search_doc(runsPerTask=15)).spec
    assert spec.method is Method.OPTUNA
    # a round has 4 points x 5 replicates = 20 runs: 2 tasks of 15 and 5 runs, never shared
    assert (spec.n_points, spec.n_runs, spec.tasks_per_round, spec.n_tasks) == (12, 60, 2, 6)


@pytest.mark.parametrize(
    "objective",
    [
        {"outcome": "passed", "target": 0.5},
        {"outcome": "flips_total", "direction": "maximize"},
        {"outcome": "agents_flipped_share", "direction": "minimize"},
        {"outcome": "flips_total", "target": 1000},  # counts have no upper bound
    ],
)
def test_valid_objectives(objective: dict[str, Any]) -> None:
    assert parse_sweep(search_doc(objective=objective)).spec.objective is not None


def test_every_numeric_outcome_column_is_an_objective() -> None:
    """Every outcome and scenario column but the labels (categorical) may be an objective."""
    columns = {*OUTCOME_COLUMNS, *SCENARIO_COLUMNS}
    labels = {"cascade_ending", "attack_resolved_target", "cascade_sizes", "cascade_depths"}
    assert SCENARIO_COLUMNS and set(OBJECTIVE_OUTCOMES) == columns - labels


@pytest.mark.parametrize(
    "parameters",
    [
        {"agents": {"min": 20, "max": 200, "scale": "log"}},  # integer, log scale
        {"influence_model": {"values": ["erdos_renyi", "small_world"]}},  # categorical
        {"whale_ratio": {"values": [0.05, 0.1, 0.3]}, "quorum": {"min": 0.2, "max": 0.9}},
    ],
)
def test_valid_parameters(parameters: dict[str, Any]) -> None:
    doc = search_doc(parameters=parameters, simulator={})
    assert parse_sweep(doc).spec.parameters.keys() == parameters.keys()


OUTCOMES = ", ".join(OBJECTIVE_OUTCOMES)
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no objective", {"objective": DELETE}, "spec.objective: required by method optuna"),
    ("no rounds", {"rounds": DELETE}, "spec.rounds: required by method optuna"),
    (
        "no points per round",
        {"pointsPerRound": DELETE},
        "spec.pointsPerRound: required by method optuna",
    ),
    (
        "samples instead of rounds",
        {"samples": 12},
        "spec.samples: method optuna takes rounds and pointsPerRound, not samples",
    ),
    (
        "unknown outcome",
        {"objective": {"outcome": "pased", "target": 0.5}},
        f"spec.objective.outcome: 'pased' is not a numeric outcome; valid outcomes: {OUTCOMES}",
    ),
    (
        "categorical outcome",
        {"objective": {"outcome": "cascade_ending", "direction": "maximize"}},
        "spec.objective.outcome: 'cascade_ending' is not a numeric outcome; valid outcomes: "
        f"{OUTCOMES}",
    ),
    (
        "direction and target",
        {"objective": {"outcome": "passed", "target": 0.5, "direction": "minimize"}},
        "spec.objective.target: give either direction or target, not both",
    ),
    (
        "neither direction nor target",
        {"objective": {"outcome": "passed"}},
        "spec.objective.direction: give direction (minimize or maximize) or target",
    ),
    (
        "unknown direction",
        {"objective": {"outcome": "passed", "direction": "up"}},
        "spec.objective.direction: 'up' is not one of minimize, maximize",
    ),
    (
        "rate target out of range",
        {"objective": {"outcome": "passed", "target": 1.5}},
        "spec.objective.target: 1.5 is outside [0, 1], the range of the mean of passed",
    ),
    (
        "target not a number",
        {"objective": {"outcome": "passed", "target": "half"}},
        "spec.objective.target: 'half' is not a number",
    ),
    (
        "unknown objective key",
        {"objective": {"outcome": "passed", "target": 0.5, "aggregate": "median"}},
        "spec.objective.aggregate: unknown key; valid keys: outcome, direction, target",
    ),
    ("zero rounds", {"rounds": 0}, f"spec.rounds: 0 is outside [1, {MAX_ROUNDS}]"),
    ("too many rounds", {"rounds": 101}, f"spec.rounds: 101 is outside [1, {MAX_ROUNDS}]"),
    (
        "too many points",
        {"rounds": 100, "pointsPerRound": 101},
        "spec.rounds: 100 rounds of 101 points make 10100 points; method optuna takes at most "
        f"{MAX_SEARCH_POINTS} (each round replays every earlier point into the sampler)",
    ),
    (
        "grid steps",
        {"parameters": {"quorum": {"min": 0.3, "max": 0.9, "steps": 4}}},
        "spec.parameters.quorum.steps: only used by method grid, not optuna",
    ),
    (
        "no parameters",
        {"parameters": {}},
        "spec.parameters: method optuna needs at least one parameter",
    ),
    (
        "zipped parameters",
        {
            "parameters": {"quorum": {"min": 0.3, "max": 0.9}, "whale_ratio": {"min": 0, "max": 1}},
            "zip": [["quorum", "whale_ratio"]],
        },
        "spec.zip: not used by method optuna: each parameter is searched alone",
    ),
    (
        "shuffled order",
        {"order": "shuffled"},
        "spec.order: shuffled is not used by method optuna: a round runs whole before the next "
        "is planned; use sequential",
    ),
    (
        "range outside the simulator's",
        {"parameters": {"quorum": {"min": 0.3, "max": 1.5}}},
        "spec.parameters.quorum.max: 1.5 is outside [0, 1]",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_search_spec_is_one_line_naming_the_field(edits: dict[str, Any], expected: str) -> None:
    assert error_of(search_doc(**edits)) == f"sweep.yaml: {expected}"


@pytest.mark.parametrize(
    ("key", "value"), [("objective", {"outcome": "passed", "target": 0.5}), ("rounds", 3),
                       ("pointsPerRound", 4)],
)  # fmt: skip
@pytest.mark.parametrize("method", ["grid", "random"])
def test_search_fields_are_refused_by_other_methods(key: str, value: Any, method: str) -> None:
    doc = sweep_doc(method=method, **({"samples": 8} if method == "random" else {}))
    if method == "random":
        doc["spec"]["parameters"]["conformity_threshold"].pop("steps")
    doc["spec"][key] = value
    assert error_of(doc) == f"sweep.yaml: spec.{key}: only used by method optuna, not {method}"


def test_search_fields_are_hashed_and_other_sweeps_keep_their_hash() -> None:
    base = parse_sweep(search_doc())
    for edit in (
        {"objective": {"outcome": "passed", "target": 0.4}},
        {"objective": {"outcome": "passed", "direction": "maximize"}},
        {"rounds": 4},
        {"pointsPerRound": 5},
    ):
        assert spec_hash(parse_sweep(search_doc(**edit))) != spec_hash(base), edit
    # Not a result field: the Kubernetes knobs leave the hash alone, as for every sweep.
    assert spec_hash(parse_sweep(search_doc(parallelism=3))) == spec_hash(base)


# The hashes these specs had before adaptive search existed: finished tasks of grid and sampled
# sweeps must stay theirs (the search keys are hashed only when set).
HASHES_BEFORE_SEARCH = {
    "grid": "753c96849a812b8dd5704bcfc824c61be4179648e5f07c0782bb792051aa7f52",
    "random": "7033474be446dc35323a52002069689b2758f1b857d75f628ca59c2d0c8d853d",
}


@pytest.mark.parametrize("method", HASHES_BEFORE_SEARCH)
def test_sweeps_without_search_keep_their_hash(method: str) -> None:
    doc = sweep_doc()
    if method == "random":
        doc = sweep_doc(
            method="random", samples=8, parameters={"whale_ratio": {"min": 0.0, "max": 0.5}}
        )
    assert legacy_spec_hash(parse_sweep(doc)) == HASHES_BEFORE_SEARCH[method]
    assert spec_hash(parse_sweep(doc)) != HASHES_BEFORE_SEARCH[method]  # content seeds: tagged


def test_a_scenario_objective_needs_its_scenario() -> None:
    """A scenario's column is an objective only in a sweep that switches the scenario on."""
    objective = {"outcome": "attack_succeeded", "target": 0.5}
    with pytest.raises(SpecError, match=r"spec\.objective\.outcome: attack_succeeded is a column "
                       r"of the attack scenario, which this sweep does not switch on"):  # fmt: skip
        parse_sweep(search_doc(objective=objective))
    budget = {"attack_budget": {"min": 0.001, "max": 0.5, "scale": "log"}}
    simulator = {"agents": 50, "attack_target": "auto"}
    on = search_doc(objective=objective, simulator=simulator, parameters=budget)
    assert parse_sweep(on).spec.objective.outcome == "attack_succeeded"

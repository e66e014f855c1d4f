"""Friendlier specs: the list shorthand for values, every error at once, 'did you mean', and
parameters that cannot be swept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kit.specs import document

from sweep_controller.errors import SpecError
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import spec_hash
from sweep_controller.spec.parameters import SWEEPABLE


def lines_of(doc: object) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_sweep(doc, "sweep.yaml")
    return str(info.value).splitlines()


def with_spec(**spec: Any) -> dict[str, Any]:
    return document("demo", {"simulator": {"agents": 20}, **spec})


# --- a plain list is values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("whale_ratio", [0.05, 0.1]),
        ("cascade_rounds", [1, 2, 4]),
        ("influence_model", ["small_world"]),
    ],
)
def test_a_list_means_values_with_the_same_hash(name: str, values: list[Any]) -> None:
    short = parse_sweep(with_spec(parameters={name: values}))
    full = parse_sweep(with_spec(parameters={name: {"values": values}}))
    assert short.spec.parameters[name].values == values
    assert short == full
    assert spec_hash(short) == spec_hash(full)


def test_list_shorthand_works_in_zip_and_as_choices_of_a_sampled_method() -> None:
    zipped = parse_sweep(
        with_spec(
            parameters={"whale_ratio": [0.1, 0.2], "quorum": [0.3, 0.4]},
            zip=[["whale_ratio", "quorum"]],
        )
    )
    assert zipped.spec.n_points == 2
    sampled = parse_sweep(
        with_spec(method="random", samples=7, parameters={"rules": ["v0.4", "v0.5"]})
    )
    assert sampled.spec.parameters["rules"].values == ["v0.4", "v0.5"]


def test_list_shorthand_is_checked_like_values() -> None:
    assert lines_of(with_spec(parameters={"whale_ratio": [0.1, 1.5]})) == [
        "sweep.yaml: spec.parameters.whale_ratio.values.1: 1.5 is outside [0, 1]"
    ]
    assert lines_of(with_spec(parameters={"whale_ratio": []})) == [
        "sweep.yaml: spec.parameters.whale_ratio.values: List should have at least 1 item after "
        "validation, not 0"
    ]


def test_one_value_for_a_swept_parameter_points_to_the_simulator() -> None:
    assert lines_of(with_spec(parameters={"whale_ratio": 0.1})) == [
        "sweep.yaml: spec.parameters.whale_ratio: one value does not sweep; give a list of "
        "values (or min and max), or set it under spec.simulator (got 0.1)"
    ]


# --- every error at once ------------------------------------------------------------------------


def test_every_field_error_is_its_own_line_in_document_order() -> None:
    doc = with_spec(
        simulator={"agents": 0, "influence_model": "small_wrld"},
        parameters={"whale_ratoi": [0.1], "quorum": [0.1, 0.5]},
        replicates=0,
        method="grids",
        seed=True,
        output=5,
    )
    del doc["kind"]
    assert lines_of(doc) == [
        "sweep.yaml: kind: required",
        "sweep.yaml: spec.simulator.agents: 0 is outside [1, 50000000]",
        "sweep.yaml: spec.simulator.influence_model: 'small_wrld' is not one of erdos_renyi, "
        "small_world; did you mean small_world?",
        "sweep.yaml: spec.parameters.whale_ratoi: unknown parameter; did you mean whale_ratio?",
        "sweep.yaml: spec.method: 'grids' is not one of grid, random, latin_hypercube, sobol, "
        "optuna; did you mean grid?",
        "sweep.yaml: spec.replicates: 0 is outside [1, 2147483647]",
        "sweep.yaml: spec.seed: true is not an integer",
        "sweep.yaml: spec.output: must be a mapping (got 5)",
    ]


def test_every_bad_parameter_is_reported() -> None:
    doc = with_spec(
        parameters={
            "whale_ratio": [0.1, 2],
            "agents": {"values": [10, 2.5]},
            "rules": ["v0.4", "v0.6"],
            "whales": [1],
        }
    )
    assert lines_of(doc) == [
        "sweep.yaml: spec.parameters.whale_ratio.values.1: 2 is outside [0, 1]",
        "sweep.yaml: spec.parameters.agents.values.1: 2.5 is not an integer",
        "sweep.yaml: spec.parameters.rules.values.1: 'v0.6' is not one of v0.4, v0.5; did you "
        "mean v0.5?",
        "sweep.yaml: spec.parameters.whales: unknown parameter; valid names: "
        + ", ".join(SWEEPABLE),
    ]


def test_cross_field_errors_come_together() -> None:
    # a zip of an unswept name, samples under grid and a swept parameter also fixed: three lines
    doc = with_spec(
        simulator={"agents": 20, "quorum": 0.2},
        parameters={"whale_ratio": [0.1, 0.2], "quorum": [0.3, 0.4]},
        zip=[["whale_ratio", "agents"]],
        samples=8,
    )
    assert lines_of(doc) == [
        "sweep.yaml: spec.simulator.quorum: also swept in spec.parameters.quorum; set it in one "
        "place",
        "sweep.yaml: spec.zip.0.1: 'agents' is not in spec.parameters",
        "sweep.yaml: spec.samples: only used by sampled methods (random, latin_hypercube, sobol)",
    ]


def test_no_line_shows_pydantic_internals() -> None:
    doc = with_spec(
        parameters={"whale_ratio": {"values": [0.1], "min": "x", "scale": "logg"}},
        zip="whale_ratio",
        output={"uri": 3},
        objective=[],
    )
    doc["metadata"] = "demo"
    lines = lines_of(doc)
    assert len(lines) >= 4
    for line in lines:
        assert line.startswith("sweep.yaml: ")
        for internal in ("validation error", "type=", "input_value", "https://", "For further"):
            assert internal not in line, line
    assert "sweep.yaml: metadata: must be a mapping (got demo)" in lines
    assert "sweep.yaml: spec.zip: must be a list (got whale_ratio)" in lines
    assert "sweep.yaml: spec.output.uri: must be a string (got 3)" in lines
    assert "sweep.yaml: spec.objective: must be a mapping (got [])" in lines


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("apiVersion: govsim.io/v1alpha1\nkind: Sweep\nspec:\n  replicates: [1,\n")
    with pytest.raises(SpecError, match=r"sweep\.yaml: line 5, column 1: invalid YAML: "):
        load_sweep(path)


# --- did you mean -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        ({"metdata": {"name": "demo"}}, "metdata: unknown key; did you mean metadata?"),
        ({"spec": {"replicats": 2}}, "spec.replicats: unknown key; did you mean replicates?"),
        (
            {"spec": {"runs_per_task": 2}},
            "spec.runs_per_task: unknown key; did you mean runsPerTask?",
        ),
        (
            {"spec": {"simulator": {"agnets": 20}}},
            "spec.simulator.agnets: unknown key; did you mean agents?",
        ),
        (
            {"spec": {"simulator": {"archetype_mix": {"retial": 1}}}},
            "spec.simulator.archetype_mix.retial: unknown key; did you mean retail?",
        ),
        (
            {"spec": {"parameters": {"whale_ratio": {"vales": [0.1]}}}},
            "spec.parameters.whale_ratio.vales: unknown key; did you mean values?",
        ),
        (
            {"spec": {"parameters": {"whale_ratio": {"min": 0.1, "max": 0.2, "stesp": 2}}}},
            "spec.parameters.whale_ratio.stesp: unknown key; did you mean steps?",
        ),
        (
            {"spec": {"parameters": {"conformity_treshold": [0.1]}}},
            "spec.parameters.conformity_treshold: unknown parameter; did you mean "
            "conformity_threshold?",
        ),
        (
            {"spec": {"order": "shuffle"}},
            "spec.order: 'shuffle' is not one of sequential, shuffled; did you mean shuffled?",
        ),
        ({"kind": "Sweeps"}, "kind: 'Sweeps' is not one of Sweep; did you mean Sweep?"),
        (
            {
                "spec": {
                    "parameters": {
                        "whale_ratio": {"min": 0.1, "max": 0.2, "steps": 2, "scale": "lin"}
                    }
                }
            },
            "spec.parameters.whale_ratio.scale: 'lin' is not one of linear, log",
        ),
    ],
)
def test_misspellings_get_the_nearest_name(edit: dict[str, Any], line: str) -> None:
    doc = with_spec()
    for key, value in edit.items():
        if key == "metdata":
            del doc["metadata"]
        if key == "spec":
            doc["spec"] = {**doc["spec"], **value}
        else:
            doc[key] = value
    assert f"sweep.yaml: {line}" in lines_of(doc)


def test_nothing_close_lists_the_valid_keys() -> None:
    assert lines_of(with_spec(colour="red")) == [
        "sweep.yaml: spec.colour: unknown key; valid keys: simulator, parameters, zip, method, "
        "samples, design, replicates, seed, runsPerTask, order, traces, output, parallelism, "
        "backoffLimitPerIndex, maxFailedIndexes, queueName, objective, rounds, pointsPerRound"
    ]


# --- what cannot be swept -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "archetype_mix",
            "cannot be swept (a mapping of archetype weights, not one value); set it under "
            "spec.simulator",
        ),
        (
            "agent_records",
            "cannot be swept: sweeps write no per-agent records (it is a flag of govsim)",
        ),
        (
            "seed",
            "cannot be swept: run seeds derive from spec.seed and each run's index; set spec.seed",
        ),
        ("traces", "cannot be swept: a setting of the whole sweep; set spec.traces"),
        ("replicates", "cannot be swept: a setting of the whole sweep; set spec.replicates"),
    ],
)
def test_a_name_that_cannot_be_swept_says_why(name: str, reason: str) -> None:
    assert lines_of(with_spec(parameters={name: [1, 2]})) == [
        f"sweep.yaml: spec.parameters.{name}: {reason}"
    ]

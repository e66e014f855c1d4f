"""The Sweep spec: valid documents, one-line errors with their path, hashing, JSON schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kit.paths import EXAMPLES
from kit.specs import sweep_doc

from simulator.params import SimParams
from sweep_controller.errors import SpecError
from sweep_controller.spec.loading import load_sweep, parse_sweep, sweep_from_resource
from sweep_controller.spec.models import Method, Order, Sweep, spec_hash
from sweep_controller.spec.parameters import (
    PARAM_KINDS,
    Bounds,
    ParamKind,
    param_bounds,
)

DELETE = object()


def edited(doc: dict[str, Any], *edits: tuple[str, Any]) -> dict[str, Any]:
    """``doc`` with dotted paths set (or removed with DELETE); creates missing mappings."""
    for path, value in edits:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def error_of(doc: object) -> str:
    with pytest.raises(SpecError) as info:
        parse_sweep(doc, "sweep.yaml")
    return str(info.value)


# --- valid specs --------------------------------------------------------------------------------


def test_default_document_is_valid_and_sized() -> None:
    sweep = parse_sweep(sweep_doc())
    assert sweep.name == "demo"
    assert sweep.spec.method is Method.GRID
    assert sweep.spec.order is Order.SEQUENTIAL
    assert (sweep.spec.n_points, sweep.spec.n_runs, sweep.spec.n_tasks) == (12, 24, 5)
    assert sweep.spec.runs_per_task == 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    sweep = load_sweep(path)
    assert sweep.spec.n_runs == sweep.spec.n_points * sweep.spec.replicates
    assert sweep.spec.output.uri.startswith("file://")


def test_example_sizes() -> None:
    sizes = {p.stem: load_sweep(p).spec for p in EXAMPLES}
    assert (sizes["whale-vs-conformity"].n_points, sizes["whale-vs-conformity"].n_runs) == (16, 800)
    assert (sizes["sobol-sensitivity"].n_points, sizes["sobol-sensitivity"].n_runs) == (64, 128)
    assert sizes["zipped"].n_points == 6  # 3 zipped pairs x 2 network families


@pytest.mark.parametrize("beside_alias", [False, True])
def test_python_names_of_camel_case_keys_are_unknown_keys(beside_alias: bool) -> None:
    # The CRD knows only the camelCase keys; a Python name would be dropped on the cluster.
    doc = sweep_doc()
    doc["spec"]["runs_per_task"] = doc["spec"]["runsPerTask"] + 1
    if not beside_alias:
        del doc["spec"]["runsPerTask"]
    assert error_of(doc) == "sweep.yaml: spec.runs_per_task: unknown key; did you mean runsPerTask?"
    assert (
        parse_sweep(edited(sweep_doc(), ("spec.maxFailedIndexes", 3))).spec.max_failed_indexes == 3
    )


def test_zip_groups_form_one_axis_each() -> None:
    doc = sweep_doc(
        parameters={
            "whale_ratio": {"values": [0.1, 0.2, 0.3]},
            "agents": {"values": [100, 200]},
            "conformity_threshold": {"min": 0.2, "max": 0.8, "steps": 3},
        },
        zip=[["whale_ratio", "conformity_threshold"]],
        simulator={},
    )
    spec = parse_sweep(doc).spec
    assert spec.axes() == (("whale_ratio", "conformity_threshold"), ("agents",))
    assert spec.n_points == 6


def test_no_parameters_means_one_point() -> None:
    spec = parse_sweep(sweep_doc(parameters={}, replicates=7)).spec
    assert (spec.n_points, spec.n_runs) == (1, 7)


# --- bad specs: one line, the path, the value and what is allowed -------------------------------

BAD: list[tuple[str, tuple[tuple[str, Any], ...], str]] = [
    (
        "unknown top-level key",
        (("color", "red"),),
        "color: unknown key; valid keys: apiVersion, kind, metadata, spec",
    ),
    (
        "unknown spec key",
        (("spec.colour", 3),),
        "spec.colour: unknown key; valid keys: simulator, parameters, zip, method, samples, "
        "design, replicates, seed, runsPerTask, order, traces, output, parallelism, "
        "backoffLimitPerIndex, maxFailedIndexes, queueName, objective, rounds, pointsPerRound",
    ),
    (
        "unknown key in a parameter",
        (("spec.parameters.whale_ratio.count", [1]),),
        "spec.parameters.whale_ratio.count: unknown key; valid keys: values, min, max, steps, "
        "scale",
    ),
    (
        "unknown simulator key",
        (("spec.simulator.size", 3),),
        "spec.simulator.size: unknown key; valid keys: agents, conformity_threshold, whale_ratio, "
        "influence_model, network_density, mean_degree, rewire_prob, cascade_rounds, rules, "
        "schedule, update_fraction, archetype_mix, calibration, stake_tail, "
        "proposal_favourability, quorum, coalition_rule, coalition_size, coalition_span, "
        "coalition_revision, delegation_rate, delegation_mode, delegate_share, "
        "delegation_attachment, delegation_override, attack_target, attack_budget, "
        "attack_borrowed_share, attack_sybils, mev_share, mev_value, mev_distribution, "
        "mev_targeting, mev_against_share",
    ),
    (
        "unknown output key",
        (("spec.output.bucket", "x"),),
        "spec.output.bucket: unknown key; valid keys: uri",
    ),
    (
        "not a simulator parameter",
        (("spec.parameters.whales", {"values": [1]}),),
        "spec.parameters.whales: unknown parameter; valid names: agents, "
        "attack_borrowed_share, attack_budget, attack_sybils, attack_target, calibration, "
        "cascade_rounds, coalition_revision, coalition_rule, coalition_size, coalition_span, "
        "conformity_threshold, delegate_share, delegation_attachment, delegation_mode, "
        "delegation_override, delegation_rate, influence_model, mean_degree, mev_against_share, "
        "mev_distribution, mev_share, mev_targeting, mev_value, network_density, "
        "proposal_favourability, quorum, rewire_prob, rules, schedule, stake_tail, "
        "update_fraction, whale_ratio",
    ),
    (
        "range above the field's maximum",
        (("spec.parameters.whale_ratio", {"min": 0.1, "max": 1.7, "steps": 3}),),
        "spec.parameters.whale_ratio.max: 1.7 is outside [0, 1]",
    ),
    (
        "value below the field's minimum",
        (("spec.parameters.whale_ratio.values", [0.1, -0.2]),),
        "spec.parameters.whale_ratio.values.1: -0.2 is outside [0, 1]",
    ),
    (
        "open lower bound",
        (("spec.parameters.mean_degree", {"values": [0, 4]}),),
        "spec.parameters.mean_degree.values.0: 0 is outside (0, inf)",
    ),
    (
        "fixed parameter out of range",
        (("spec.simulator.rewire_prob", 2),),
        "spec.simulator.rewire_prob: 2 is outside [0, 1]",
    ),
    (
        "fixed agents zero",
        (("spec.simulator.agents", 0),),
        "spec.simulator.agents: 0 is outside [1, 50000000]",
    ),
    (
        "grid range without steps",
        (("spec.parameters.whale_ratio", {"min": 0.1, "max": 0.7}),),
        "spec.parameters.whale_ratio.steps: required by method grid (or give values)",
    ),
    (
        "zip of unequal lengths",
        (("spec.zip", [["whale_ratio", "conformity_threshold"]]),),
        "spec.zip.0: zipped parameters need equal lengths: whale_ratio has 3, "
        "conformity_threshold has 4",
    ),
    (
        "zip of an unswept name",
        (("spec.zip", [["whale_ratio", "agents"]]),),
        "spec.zip.0.1: 'agents' is not in spec.parameters",
    ),
    (
        "zip of one name",
        (("spec.zip", [["whale_ratio"]]),),
        "spec.zip.0: a zip group needs at least two parameters",
    ),
    (
        "a name in two zip groups",
        (
            ("spec.parameters.agents", {"values": [10, 20, 30]}),
            ("spec.simulator", {}),
            ("spec.zip", [["whale_ratio", "agents"], ["agents", "whale_ratio"]]),
        ),
        "spec.zip.1.0: agents is already in zip group 0",
    ),
    (
        "samples with grid",
        (("spec.samples", 8),),
        "spec.samples: only used by sampled methods (random, latin_hypercube, sobol)",
    ),
    (
        "sampled method without samples",
        (("spec.method", "latin_hypercube"),),
        "spec.samples: required by method latin_hypercube",
    ),
    (
        "steps with a sampled method",
        (("spec.method", "random"), ("spec.samples", 10)),
        "spec.parameters.conformity_threshold.steps: only used by method grid, not random",
    ),
    (
        "sobol needs a power of two",
        (
            ("spec.method", "sobol"),
            ("spec.samples", 100),
            ("spec.parameters.conformity_threshold.steps", DELETE),
        ),
        "spec.samples: 100 is not a power of 2 (sobol needs one: 64 or 128)",
    ),
    (
        "sampled method without parameters",
        (("spec.method", "sobol"), ("spec.samples", 8), ("spec.parameters", {})),
        "spec.parameters: method sobol needs at least one parameter",
    ),
    (
        "unknown method",
        (("spec.method", "halton"),),
        "spec.method: 'halton' is not one of grid, random, latin_hypercube, sobol, optuna",
    ),
    (
        "values and a range together",
        (("spec.parameters.whale_ratio.min", 0.1),),
        "spec.parameters.whale_ratio.min: give either values or min/max, not both",
    ),
    (
        "scale with values",
        (("spec.parameters.whale_ratio.scale", "log"),),
        "spec.parameters.whale_ratio.scale: log applies to min/max ranges, not to values",
    ),
    (
        "half a range",
        (("spec.parameters.whale_ratio", {"min": 0.1, "steps": 2}),),
        "spec.parameters.whale_ratio.max: required with a range (give both min and max)",
    ),
    (
        "neither values nor range",
        (("spec.parameters.whale_ratio", {"steps": 2}),),
        "spec.parameters.whale_ratio.values: give values, or min and max",
    ),
    (
        "min above max",
        (("spec.parameters.whale_ratio", {"min": 0.5, "max": 0.1, "steps": 3}),),
        "spec.parameters.whale_ratio.max: 0.1 is below min 0.5",
    ),
    (
        "log scale from zero",
        (("spec.parameters.whale_ratio", {"min": 0, "max": 0.5, "steps": 3, "scale": "log"}),),
        "spec.parameters.whale_ratio.min: 0 must be > 0 for scale log",
    ),
    (
        "fractional value of an integer parameter",
        (("spec.simulator", {}), ("spec.parameters.agents", {"values": [100, 150.5]})),
        "spec.parameters.agents.values.1: 150.5 is not an integer",
    ),
    (
        "integer grid with repeated values",
        (("spec.parameters.cascade_rounds", {"min": 1, "max": 3, "steps": 5}),),
        "spec.parameters.cascade_rounds.steps: steps 5 over [1, 3] repeat integers after "
        "rounding; at most 3",
    ),
    (
        "integer log grid with repeated values",
        (
            ("spec.simulator", {}),
            ("spec.parameters.agents", {"min": 1, "max": 100, "steps": 20, "scale": "log"}),
        ),
        "spec.parameters.agents.steps: steps 20 over [1, 100] repeat integers after rounding",
    ),
    (
        "categorical parameter given a range",
        (("spec.parameters.influence_model", {"min": 1, "max": 2, "steps": 2}),),
        "spec.parameters.influence_model: takes values only (any of erdos_renyi, small_world)",
    ),
    (
        "unknown category",
        (("spec.parameters.influence_model", {"values": ["erdos_renyi", "ring"]}),),
        "spec.parameters.influence_model.values.1: 'ring' is not one of erdos_renyi, small_world",
    ),
    (
        "swept and fixed at once",
        (("spec.simulator.whale_ratio", 0.2),),
        "spec.simulator.whale_ratio: also swept in spec.parameters.whale_ratio; "
        "set it in one place",
    ),
    (
        "merged point invalid (density and degree)",
        (
            ("spec.simulator.network_density", 0.1),
            ("spec.parameters.mean_degree", {"values": [4, 8]}),
        ),
        "spec.parameters.mean_degree: give either network_density or mean_degree, not both",
    ),
    (
        "string for a number",
        (("spec.parameters.whale_ratio.values", ["a"]),),
        "spec.parameters.whale_ratio.values.0: 'a' is not a number",
    ),
    (
        "mapping as a value",
        (("spec.parameters.whale_ratio.values", [{"a": 1}]),),
        "spec.parameters.whale_ratio.values.0: {'a': 1} is not a number or a string",
    ),
    (
        "empty values",
        (("spec.parameters.whale_ratio.values", []),),
        "spec.parameters.whale_ratio.values: List should have at least 1 item after validation, "
        "not 0",
    ),
    (
        "bad sweep name",
        (("metadata.name", "Whale_Sweep"),),
        "metadata.name: 'Whale_Sweep' must be a DNS-1123 label: lowercase letters, digits and "
        "'-', starting and ending with a letter or digit",
    ),
    (
        "name too long for Job names",
        (("metadata.name", "a" * 53),),
        f"metadata.name: String should have at most 52 characters (got '{'a' * 53}')",
    ),
    ("wrong kind", (("kind", "Job"),), "kind: 'Job' is not one of Sweep"),
    (
        "wrong apiVersion",
        (("apiVersion", "v1"),),
        "apiVersion: 'v1' is not one of govsim.io/v1alpha1",
    ),
    ("zero replicates", (("spec.replicates", 0),), "spec.replicates: 0 is outside [1, 2147483647]"),
    ("negative seed", (("spec.seed", -1),), "spec.seed: -1 is outside [0, 9223372036854775807]"),
    (
        "zero runs per task",
        (("spec.runsPerTask", 0),),
        "spec.runsPerTask: 0 is outside [1, 2147483647]",
    ),
    (
        "unsupported output scheme",
        (("spec.output.uri", "http://x"),),
        "spec.output.uri: 'http://x' must be file://PATH or s3://BUCKET[/PREFIX]",
    ),
    (
        "too many runs",
        (
            ("spec.simulator", {}),
            ("spec.parameters.agents", {"min": 1, "max": 1000000, "steps": 1000000}),
            ("spec.parameters.rewire_prob", {"min": 0, "max": 1, "steps": 1000000}),
        ),
        "spec.replicates: the sweep has 24000000000000 runs; at most 1000000000000",
    ),
    ("missing spec", (("spec", DELETE),), "spec: required"),
    ("missing name", (("metadata.name", DELETE),), "metadata.name: required"),
]


@pytest.mark.parametrize(("edits", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_spec_is_one_line_with_path(edits: tuple[tuple[str, Any], ...], expected: str) -> None:
    message = error_of(edited(sweep_doc(), *edits))
    assert message == f"sweep.yaml: {expected}"
    assert "\n" not in message


def test_several_errors_are_one_line_each() -> None:
    message = error_of(edited(sweep_doc(), ("spec.replicates", 0), ("spec.seed", -1)))
    assert message.splitlines() == [
        "sweep.yaml: spec.replicates: 0 is outside [1, 2147483647]",
        "sweep.yaml: spec.seed: -1 is outside [0, 9223372036854775807]",
    ]


def test_top_level_must_be_a_mapping() -> None:
    assert error_of([1, 2]) == "sweep.yaml: expected a Sweep mapping at the top level, got list"


# --- files ---------------------------------------------------------------------------------------


def test_load_reports_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(edited(sweep_doc(), ("spec.replicates", 0))))
    with pytest.raises(
        SpecError, match=rf"^{path}: spec.replicates: 0 is outside \[1, 2147483647\]$"
    ):
        load_sweep(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope.yaml: cannot read: No such file or directory$"):
        load_sweep(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spec: [1, 2\n", "line 2, column 1: invalid YAML"),
        ("kind: Sweep\nkind: Job\n", "line 2, column 1: invalid YAML: duplicate key 'kind'"),
        ("", "expected a Sweep mapping at the top level, got an empty document"),
        ("- 1\n", "expected a Sweep mapping at the top level, got list"),
    ],
)
def test_unreadable_yaml(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value)


def test_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    doc = edited(sweep_doc(), ("spec.parameters.whale_ratio.values", ["__"]))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc).replace("__", "5e-2"))
    assert load_sweep(path).spec.parameters["whale_ratio"].values == [0.05]


def test_resource_from_the_api_drops_server_fields() -> None:
    body = sweep_doc()
    body["metadata"].update(uid="1234", resourceVersion="7", generation=2, namespace="lab")
    body["status"] = {"phase": "Running"}
    sweep = sweep_from_resource(body)
    assert sweep.metadata.namespace == "lab"
    assert spec_hash(sweep) == spec_hash(parse_sweep(sweep_doc()))


# --- parameters are derived from SimParams -----------------------------------------------------


def test_sweepable_parameters_and_kinds_come_from_simparams() -> None:
    assert PARAM_KINDS == {
        "agents": ParamKind.INT,
        "conformity_threshold": ParamKind.FLOAT,
        "whale_ratio": ParamKind.FLOAT,
        "influence_model": ParamKind.CHOICE,
        "network_density": ParamKind.FLOAT,
        "mean_degree": ParamKind.FLOAT,
        "rewire_prob": ParamKind.FLOAT,
        "cascade_rounds": ParamKind.INT,
        "rules": ParamKind.CHOICE,
        "schedule": ParamKind.CHOICE,
        "update_fraction": ParamKind.FLOAT,
        "calibration": ParamKind.CHOICE,
        "stake_tail": ParamKind.FLOAT,
        "proposal_favourability": ParamKind.FLOAT,
        "quorum": ParamKind.FLOAT,
        "coalition_rule": ParamKind.CHOICE,
        "coalition_size": ParamKind.INT,
        "coalition_span": ParamKind.FLOAT,
        "coalition_revision": ParamKind.CHOICE,
        "delegation_rate": ParamKind.FLOAT,
        "delegation_mode": ParamKind.CHOICE,
        "delegate_share": ParamKind.FLOAT,
        "delegation_attachment": ParamKind.FLOAT,
        "delegation_override": ParamKind.FLOAT,
        "attack_target": ParamKind.CHOICE,
        "attack_budget": ParamKind.FLOAT,
        "attack_borrowed_share": ParamKind.FLOAT,
        "attack_sybils": ParamKind.INT,
        "mev_share": ParamKind.FLOAT,
        "mev_value": ParamKind.FLOAT,
        "mev_distribution": ParamKind.CHOICE,
        "mev_targeting": ParamKind.CHOICE,
        "mev_against_share": ParamKind.FLOAT,
    }
    assert set(PARAM_KINDS) < set(SimParams.model_fields)


@pytest.mark.parametrize(
    ("name", "bounds", "text"),
    [
        ("whale_ratio", Bounds(0, 1), "[0, 1]"),
        ("agents", Bounds(1, 50_000_000), "[1, 50000000]"),
        ("mean_degree", Bounds(0, None, low_open=True), "(0, inf)"),
        ("cascade_rounds", Bounds(1, 10_000), "[1, 10000]"),
    ],
)
def test_bounds_come_from_field_metadata(name: str, bounds: Bounds, text: str) -> None:
    assert param_bounds(name) == bounds
    assert str(bounds) == text


def test_bounds_membership_respects_open_ends() -> None:
    assert 0 not in Bounds(0, None, low_open=True)
    assert 1e-9 in Bounds(0, None, low_open=True)
    assert 1 in Bounds(0, 1) and 1.0000001 not in Bounds(0, 1)


# --- hashing --------------------------------------------------------------------------------------


def test_spec_hash_is_stable_and_canonical() -> None:
    doc = sweep_doc()
    reordered = sweep_doc()
    reordered["spec"] = dict(reversed(list(reordered["spec"].items())))
    explicit = edited(sweep_doc(), ("spec.order", "sequential"), ("spec.method", "grid"))
    digest = spec_hash(parse_sweep(doc))
    assert len(digest) == 64
    assert spec_hash(parse_sweep(reordered)) == digest
    assert spec_hash(parse_sweep(explicit)) == digest


@pytest.mark.parametrize(
    ("path", "value", "changes"),
    [
        ("spec.seed", 43, True),
        ("spec.replicates", 3, True),
        ("spec.runsPerTask", 6, True),
        ("spec.order", "shuffled", True),
        ("spec.simulator.agents", 201, True),
        ("spec.parameters.whale_ratio.values", [0.05, 0.15, 0.31], True),
        ("spec.traces", "parquet", True),
        ("spec.traces", "none", False),
        ("spec.design", "plain", False),
        ("spec.parallelism", 7, False),
        ("spec.maxFailedIndexes", 1, False),
        ("spec.output.uri", "s3://bucket/elsewhere", False),
        ("metadata.name", "renamed", False),
    ],
)
def test_spec_hash_covers_exactly_result_fields(path: str, value: Any, changes: bool) -> None:
    before = spec_hash(parse_sweep(sweep_doc()))
    after = spec_hash(parse_sweep(edited(sweep_doc(), (path, value))))
    assert (before != after) is changes


# --- JSON schema friendliness (the CRD schema is generated from these models) -------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_satisfy_the_generated_json_schema(path: Path) -> None:
    schema = Sweep.model_json_schema(by_alias=True)
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))] == []


def test_generated_json_schema_rejects_unknown_keys() -> None:
    schema = Sweep.model_json_schema(by_alias=True)
    doc = edited(sweep_doc(), ("spec.parameters.whale_ratio.vals", [1]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    assert "runsPerTask" in schema["$defs"]["SweepSpec"]["properties"]

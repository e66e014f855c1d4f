"""The generated Sweep CRD: current on disk, a valid and structural manifest, and in agreement with
the pydantic model on every example and on a table of broken documents."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kit.kube import example, strict_jsonschema
from kit.paths import EXAMPLES
from kit.paths import REPO as ROOT

from sweep_controller.errors import SpecDeprecationWarning, SpecError
from sweep_controller.k8s import crd
from sweep_controller.k8s.status import SweepStatus
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import full_form, spec_hash

K8S_VERSION = "1.31.0"
CHECKED_IN = ROOT / "charts" / "govsim" / "crds" / "sweeps.govsim.io.yaml"
SCHEMA = crd.openapi_v3_schema()


VALIDATOR = jsonschema.Draft4Validator(strict_jsonschema(SCHEMA))


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node with its path (``/spec/parameters/*/values/[]``)."""
    if not isinstance(node, Mapping):
        return
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}/{name}")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from walk(node["additionalProperties"], f"{path}/*")
    if "items" in node:
        yield from walk(node["items"], f"{path}/[]")


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it: fill missing keys that have a default."""
    if isinstance(value, dict):
        out = dict(value)
        for name, child in (schema.get("properties") or {}).items():
            if name not in out and "default" in child:
                out[name] = copy.deepcopy(child["default"])
            if name in out:
                out[name] = apply_defaults(child, out[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            out = {k: apply_defaults(extra, v) for k, v in out.items()}
        return out
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], v) for v in value]
    return value


# --- the file on disk ---------------------------------------------------------------------------


def test_checked_in_crd_is_current() -> None:
    on_disk = CHECKED_IN.read_text(encoding="utf-8") if CHECKED_IN.exists() else ""
    assert on_disk == crd.render_crd(), (
        f"{CHECKED_IN.relative_to(ROOT)} is out of date with sweep_controller/spec/models.py or "
        "status.py; regenerate it with: python -m sweep_controller.k8s.crd --write"
    )


def test_check_flag_reports_drift(tmp_path: Path) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text(crd.render_crd().replace("shortNames", "shortNamez"))
    cmd = [sys.executable, "-m", "sweep_controller.k8s.crd", "--check", "--output", str(stale)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "python -m sweep_controller.k8s.crd --write" in proc.stderr
    crd.main(["--write", "--output", str(stale)])
    assert crd.main(["--check", "--output", str(stale)]) == 0


# --- the manifest -------------------------------------------------------------------------------


def test_crd_manifest_validates_against_kubernetes_1_31() -> None:
    document = yaml.safe_load(CHECKED_IN.read_text())
    assert kubernetes_validate.validate(document, K8S_VERSION, strict=True) == "1.31"


def test_crd_names_scope_and_subresources() -> None:
    spec = crd.build_crd()["spec"]
    assert spec["group"] == "govsim.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["plural"] == "sweeps"
    assert spec["names"]["shortNames"] == ["sw"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Done", "Failed", "Total", "Age"]
    status_props = SCHEMA["properties"]["status"]["properties"]
    for column in columns.values():
        head, _, leaf = column["jsonPath"].lstrip(".").partition(".")
        if head == "status":
            assert leaf in status_props, column


def test_spec_is_immutable() -> None:
    rules = SCHEMA["properties"]["spec"]["x-kubernetes-validations"]
    assert rules[0] == {"rule": "self == oldSelf", "message": crd.IMMUTABLE_MESSAGE}


def test_deprecated_points_per_task_still_applies_and_means_runs_per_task() -> None:
    properties = SCHEMA["properties"]["spec"]["properties"]
    assert properties["pointsPerTask"]["description"] == "Deprecated: use runsPerTask."
    assert "default" not in properties["runsPerTask"]  # else an old resource would get both
    document = example()
    document["spec"]["pointsPerTask"] = document["spec"].pop("runsPerTask")
    defaulted = apply_defaults(SCHEMA, document)
    assert VALIDATOR.is_valid(defaulted)
    assert "runsPerTask" not in defaulted["spec"]
    with pytest.warns(SpecDeprecationWarning, match="spec.pointsPerTask is deprecated"):
        old = parse_sweep(defaulted)
    assert old == parse_sweep(apply_defaults(SCHEMA, example()))


def test_both_task_size_names_are_refused_by_crd_rule_and_model() -> None:
    rules = SCHEMA["properties"]["spec"]["x-kubernetes-validations"]
    assert rules[1]["rule"] == "!(has(self.pointsPerTask) && has(self.runsPerTask))"
    assert "spec.pointsPerTask" in rules[1]["message"]
    with pytest.raises(SpecError, match=r"^<sweep>: spec\.pointsPerTask: deprecated name"):
        parse_sweep(_broken(pointsPerTask=2))


# --- structural schema rules (what the API server checks when the CRD is applied) ---------------

_NOT_STRUCTURAL = ("$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "const", "title")


@pytest.mark.parametrize("path_node", list(walk(SCHEMA)), ids=lambda pn: pn[0] or "/")
def test_every_node_is_structural(path_node: tuple[str, Mapping[str, Any]]) -> None:
    path, node = path_node
    assert not set(_NOT_STRUCTURAL) & set(node), path
    assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), path
    if node.get("type") == "array":
        assert "items" in node, path
    if "properties" in node:
        assert "additionalProperties" not in node, path
    if "exclusiveMinimum" in node:
        assert node["exclusiveMinimum"] is True and "minimum" in node, path
    if "default" in node and node.get("type") == "object":
        pytest.fail(f"{path}: object defaults are not generated")


def test_root_metadata_restricts_only_the_name() -> None:
    metadata = SCHEMA["properties"]["metadata"]
    assert metadata["type"] == "object"
    assert set(metadata["properties"]) == {"name"}
    assert metadata["properties"]["name"]["maxLength"] == 52
    assert "additionalProperties" not in SCHEMA


def test_no_defaults_under_spec_simulator() -> None:
    simulator = SCHEMA["properties"]["spec"]["properties"]["simulator"]
    defaults = [p for p, node in walk(simulator, "/spec/simulator") if "default" in node]
    assert defaults == []
    # ...while elsewhere pydantic's defaults are kept, so `kubectl get -o yaml` shows them.
    assert SCHEMA["properties"]["spec"]["properties"]["method"]["default"] == "grid"


def test_optional_fields_are_nullable_and_mixed_values_preserved() -> None:
    params = SCHEMA["properties"]["spec"]["properties"]["parameters"]["additionalProperties"]
    assert params["properties"]["min"] == {
        "type": "number",
        "description": "Lower end of the range (inclusive).",
        "nullable": True,
    }
    assert params["properties"]["values"]["items"] == {"x-kubernetes-preserve-unknown-fields": True}
    mean_degree = SCHEMA["properties"]["spec"]["properties"]["simulator"]["properties"][
        "mean_degree"
    ]
    assert (mean_degree["minimum"], mean_degree["exclusiveMinimum"]) == (0, True)


def test_status_conditions_are_a_map_list_keyed_by_type() -> None:
    conditions = SCHEMA["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]


def test_untranslatable_construct_is_an_error() -> None:
    with pytest.raises(crd.SchemaTranslationError, match="oneOf"):
        crd.openapi_schema({"oneOf": [{"type": "string"}]}, {})
    with pytest.raises(crd.SchemaTranslationError, match="non-scalar"):
        crd.openapi_schema({"anyOf": [{"type": "object"}, {"type": "string"}]}, {})


# --- examples and agreement with the pydantic model ---------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_crd_and_model(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    errors = [e.message for e in VALIDATOR.iter_errors(document)]
    assert errors == []
    parse_sweep(document, str(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_server_side_defaults_do_not_change_the_sweep(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    defaulted = apply_defaults(SCHEMA, document)
    assert VALIDATOR.is_valid(defaulted)
    before, after = parse_sweep(document), parse_sweep(defaulted)
    assert after == before
    assert spec_hash(after) == spec_hash(before)


def test_defaults_never_mark_a_swept_parameter_as_fixed() -> None:
    # whale_ratio is swept; a server default under spec.simulator would fix it too (rejected).
    document = yaml.safe_load((ROOT / "examples" / "whale-vs-conformity.yaml").read_text())
    document["spec"]["simulator"] = {}
    defaulted = apply_defaults(SCHEMA, document)
    assert "whale_ratio" not in defaulted["spec"]["simulator"]
    sweep = parse_sweep(defaulted)
    assert set(sweep.spec.parameters) == {"whale_ratio", "conformity_threshold"}


def _broken(**spec: Any) -> dict[str, Any]:
    document = example()
    document["spec"] = {**document["spec"], **spec}
    return document


@pytest.mark.parametrize(
    "document",
    [
        _broken(methd="grid"),
        _broken(method="hypercube"),
        _broken(replicates=0),
        _broken(seed=-1),
        _broken(simulator={"whale_ratio": 1.7}),
        _broken(simulator={"agents": "many"}),
        _broken(simulator={"influence_model": "scale_free"}),
        _broken(simulator={"mean_degree": 0}),
        _broken(simulator={"archetype_mix": {"pirates": 1}}),
        _broken(parameters={"whale_ratio": {"values": []}}),
        _broken(parameters={"whale_ratio": {"min": 0.1, "max": 0.2, "steps": 0}}),
        _broken(parameters={"whale_ratio": {"min": 0.1, "max": 0.2, "scale": "cubic"}}),
        _broken(output={"uri": "gs://bucket"}),
        _broken(queueName="Not_A_Label"),
        _broken(zip=[["whale_ratio", 3]]),
    ],
    ids=[
        "unknown-key",
        "bad-method",
        "zero-replicates",
        "negative-seed",
        "out-of-range",
        "wrong-type",
        "bad-enum",
        "exclusive-minimum",
        "unknown-nested-key",
        "empty-values",
        "zero-steps",
        "bad-scale",
        "bad-uri",
        "bad-queue",
        "zip-member-type",
    ],
)
def test_crd_and_model_both_reject_structural_errors(document: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(document)
    with pytest.raises(SpecError, match=r"^<sweep>: spec\."):
        parse_sweep(document)


def test_the_unbroken_document_passes_both() -> None:
    assert VALIDATOR.is_valid(_broken())
    parse_sweep(_broken())


def test_semantic_errors_pass_the_crd_and_are_left_to_the_controller() -> None:
    # Cross-field rules (a sobol sample count must be a power of 2) are pydantic's alone; the
    # controller reports them as a Failed status with the message.
    document = _broken(
        method="sobol", samples=100, parameters={"whale_ratio": {"min": 0, "max": 1}}
    )
    assert VALIDATOR.is_valid(document)
    with pytest.raises(SpecError, match="power of 2"):
        parse_sweep(document)


def test_list_shorthand_is_the_models_alone_and_full_form_is_what_the_crd_takes() -> None:
    # kubectl users write values in full; sweepctl submit sends full_form of what it read.
    document = _broken(parameters={"whale_ratio": [0.1, 0.2], "cascade_rounds": {"values": [1, 2]}})
    assert not VALIDATOR.is_valid(document)
    sweep = parse_sweep(document)
    sent = full_form(document, sweep)
    assert sent["spec"]["parameters"] == {
        "whale_ratio": {"values": [0.1, 0.2]},
        "cascade_rounds": {"values": [1, 2]},
    }
    assert VALIDATOR.is_valid(sent)
    assert {k: v for k, v in sent["spec"].items() if k != "parameters"} == {
        k: v for k, v in document["spec"].items() if k != "parameters"
    }
    assert spec_hash(parse_sweep(sent)) == spec_hash(sweep)


def test_mixed_type_values_pass_the_crd_and_pydantic_checks_types() -> None:
    document = _broken(parameters={"influence_model": {"values": ["small_world", {"x": 1}]}})
    assert VALIDATOR.is_valid(document)
    with pytest.raises(SpecError):
        parse_sweep(document)


def test_controller_status_validates_against_the_status_schema() -> None:
    status = SweepStatus.model_validate(
        {
            "phase": "Running",
            "tasksTotal": 8,
            "tasksDone": 3,
            "tasksFailed": 1,
            "failedIndexes": "4",
            "startTime": "2025-01-01T00:10:00Z",
            "resultsUri": "s3://b/p/x/",
            "message": "3 of 8 tasks done",
            "observedGeneration": 1,
            "conditions": [
                {
                    "type": "Started",
                    "status": "True",
                    "reason": "Started",
                    "lastTransitionTime": "2025-01-01T00:10:00Z",
                }
            ],
        }
    )
    document = {**_broken(), "status": status.to_api()}
    assert [e.message for e in VALIDATOR.iter_errors(document)] == []
    document["status"]["phase"] = "Exploded"
    assert not VALIDATOR.is_valid(document)


# --- integer maxima and the schema version --------------------------------------------------------


def integer_nodes(node: Mapping[str, Any], path: str = "spec") -> Iterator[tuple[str, Any]]:
    """Every integer property under ``node`` with its path."""
    if node.get("type") == "integer":
        yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from integer_nodes(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            yield from integer_nodes(node[key], f"{path}[]")


def test_every_spec_integer_has_a_maximum_within_int32_or_int64() -> None:
    schema = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    found = dict(integer_nodes(schema["spec"]))
    assert {"spec.parallelism", "spec.backoffLimitPerIndex", "spec.maxFailedIndexes"} <= set(found)
    missing = sorted(path for path, node in found.items() if "maximum" not in node)
    assert missing == []
    assert found["spec.backoffLimitPerIndex"]["maximum"] == 2**31 - 1
    assert found["spec.parallelism"]["maximum"] == 100_000  # Indexed Jobs with per-index limits
    assert found["spec.maxFailedIndexes"]["maximum"] == 100_000


@pytest.mark.parametrize(
    ("key", "value"),
    [("backoffLimitPerIndex", 2**31), ("parallelism", 100_001), ("maxFailedIndexes", 100_001)],
)
def test_model_refuses_integers_the_job_cannot_hold(key: str, value: int) -> None:
    document = example()
    document["spec"][key] = value
    with pytest.raises(SpecError, match=f"spec.{key}"):
        parse_sweep(document)


def test_generated_schema_matches_the_hash_of_its_version() -> None:
    """Changing the schema needs a new SCHEMA_VERSION with its hash (never an edited one)."""
    assert crd.schema_digest() == crd.SCHEMA_HASHES[crd.SCHEMA_VERSION], (
        "the CRD schema changed: raise SCHEMA_VERSION in sweep_controller/k8s/crd.py and record "
        "the new schema_digest() for it"
    )
    assert sorted(crd.SCHEMA_HASHES) == list(range(1, crd.SCHEMA_VERSION + 1))
    assert len(set(crd.SCHEMA_HASHES.values())) == len(crd.SCHEMA_HASHES)
    annotations = crd.build_crd()["metadata"]["annotations"]
    assert annotations == {"govsim.io/schema-version": str(crd.SCHEMA_VERSION)}


@pytest.mark.parametrize(
    ("crd_body", "outcome"),
    [
        (None, "is not installed; install it: kubectl apply --server-side --force-conflicts"),
        ({"metadata": {}}, "has schema version 1; this controller needs"),
        ({"metadata": {"annotations": {"govsim.io/schema-version": "x"}}}, "is not an integer"),
        ({"metadata": {"annotations": {"govsim.io/schema-version": "99"}}}, 99),
    ],
)
def test_installed_schema_version(crd_body: dict[str, Any] | None, outcome: str | int) -> None:
    if isinstance(outcome, int):
        assert crd.installed_schema_version(crd_body) == outcome
        return
    with pytest.raises(crd.CrdVersionError, match=outcome):
        crd.installed_schema_version(crd_body)
    assert crd.installed_schema_version(crd.build_crd()) == crd.SCHEMA_VERSION

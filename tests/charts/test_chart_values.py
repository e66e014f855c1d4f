"""The chart's values: values.schema.json and values.yaml declare the same keys; bad values fail.

values.yaml is the documented default of every key and values.schema.json its type; a key in one
and not the other is drift (a typo in a user's values would then be silently ignored, or a
documented key rejected). Every object in the schema forbids unknown keys. Helm applies the schema
on install and template, so each bad value below must stop a render with a message naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from kit.charts import CHART_DIR, CLUSTER_VALUES, EKS_VALUES, NAMESPACE, RELEASE, chart, helm
from kit.paths import REPO

from sweep_controller.k8s.config import ControllerConfig

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
HELM_ONLY = {"global"}  # injected by Helm for parent charts; not a value of ours


def schema_paths(node: dict[str, Any], path: str = "") -> Iterator[str]:
    """Dotted path of every declared property, descending into objects with properties."""
    for key, sub in node.get("properties", {}).items():
        if not path and key in HELM_ONLY:
            continue
        yield f"{path}{key}"
        if "properties" in sub:
            yield from schema_paths(sub, f"{path}{key}.")


def value_paths(node: dict[str, Any], schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Dotted path of every key of values.yaml, down to where the schema stops listing keys."""
    for key, value in node.items():
        yield f"{path}{key}"
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and "properties" in sub:
            yield from value_paths(value, sub, f"{path}{key}.")


def object_schemas(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema that lists properties, with its location."""
    if isinstance(node, dict):
        if "properties" in node:
            yield path, node
        for key, value in node.items():
            yield from object_schemas(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from object_schemas(item, f"{path}[{i}]")


def test_schema_is_valid_draft_7() -> None:
    """values.schema.json is itself a valid JSON Schema (draft 7, as Helm 3 reads it)."""
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_values_yaml_validates_against_the_schema() -> None:
    """The defaults satisfy the schema on their own, with jsonschema and with Helm."""
    assert [e.message for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(VALUES)] == []
    chart().validate_schema({})  # raises HelmValuesError naming the key when invalid
    assert chart().merge_values({}) == VALUES


def test_schema_and_values_declare_the_same_keys() -> None:
    """Every key of values.yaml is in the schema and every schema property in values.yaml."""
    declared = set(schema_paths(SCHEMA))
    present = set(value_paths(VALUES, SCHEMA))
    assert present - declared == set(), "keys in values.yaml missing from values.schema.json"
    assert declared - present == set(), "schema properties without a default in values.yaml"


def test_every_schema_object_forbids_unknown_keys_and_documents_its_fields() -> None:
    """additionalProperties: false wherever properties are listed; each of our keys described."""
    for where, node in object_schemas(SCHEMA):
        if where == "$.properties.controller.properties.extraEnv.items":
            continue  # an EnvVar: Kubernetes validates it
        assert node.get("additionalProperties") is False, where
    undocumented = [
        path
        for path, node in object_schemas(SCHEMA)
        for key, sub in node["properties"].items()
        if "description" not in sub and ".items" not in path  # list items: Kubernetes types
    ]
    assert not undocumented, undocumented


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"s3": {"addressing": "sideways"}}, "/s3/addressing"),
        ({"s3": {"bucket": "Not_A_Bucket"}}, "/s3/bucket"),
        ({"s3": {"endpoint": "seaweedfs:8333"}}, "/s3/endpoint"),
        ({"image": {"tga": "0.4.0"}}, "'tga' not allowed"),
        ({"image": {"digest": "sha256:abc"}}, "/image/digest"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"worker": {"parallelism": 0}}, "/worker/parallelism"),
        ({"worker": {"resources": {"requests": {"cpu": "lots"}}}}, "/worker/resources"),
        ({"worker": {"tolerations": [{"key": "k", "effect": "Sometimes"}]}}, "/worker/tolerations"),
        ({"worker": {"nodeSelector": {"govsim.io/pool": 1}}}, "/worker/nodeSelector"),
        ({"serviceAccounts": {"worker": {"roleArn": "govsim-worker"}}}, "roleArn"),
        (
            {"serviceAccounts": {"worker": {"name": "Govsim_Worker"}}},
            "/serviceAccounts/worker/name",
        ),
        ({"controller": {"metricsPort": 8080}}, "/controller/metricsPort"),
        ({"controller": {"watchAllNamespaces": "yes"}}, "/controller/watchAllNamespaces"),
        ({"pushgateway": {"url": "pushgateway:9091"}}, "/pushgateway/url"),
        ({"pushgateway": {"cleanupGraceSeconds": -1}}, "/pushgateway/cleanupGraceSeconds"),
        ({"pushgateway": {"cleanupBudgetSeconds": 0}}, "/pushgateway/cleanupBudgetSeconds"),
        ({"kueue": {"queueName": "Batch Queue"}}, "/kueue/queueName"),
        ({"metrics": {"serviceMonitor": {"interval": "30"}}}, "/metrics/serviceMonitor/interval"),
        ({"replicas": 2}, "'replicas' not allowed"),
        ({"controller": {"workerNamespaces": ["Team_A"]}}, "/controller/workerNamespaces/0"),
        ({"controller": {"workerNamespaces": ["a", "a"]}}, "/controller/workerNamespaces"),
        ({"controller": {"workerNamespaces": "team-a"}}, "/controller/workerNamespaces"),
        ({"worker": {"activeDeadlineSeconds": 2_147_483_648}}, "/worker/activeDeadlineSeconds"),
        ({"worker": {"activeDeadlineSeconds": -1}}, "/worker/activeDeadlineSeconds"),
        ({"worker": {"podLabels": {"team": "a b"}}}, "/worker/podLabels"),
        ({"worker": {"podAnnotations": {"sidecar.istio.io/inject": False}}}, "/worker/podAnnot"),
        ({"worker": {"priorityClassName": "Low Priority"}}, "/worker/priorityClassName"),
        ({"worker": {"imagePullSecrets": [{"name": "x"}]}}, "'imagePullSecrets' not allowed"),
        ({"podSecurity": {"runAsUser": 0}}, "/podSecurity/runAsUser"),
        ({"podSecurity": {"runAsUser": "10001"}}, "/podSecurity/runAsUser"),
        ({"serviceAccounts": {"worker": {"create": "no"}}}, "/serviceAccounts/worker/create"),
    ],
)
def test_bad_values_stop_the_render(values: dict[str, Any], message: str) -> None:
    """Helm refuses the values, and its message names the offending key."""
    errors = helm().errors
    with pytest.raises(errors.HelmValuesError) as raised:
        chart().render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(raised.value)


@pytest.mark.parametrize("values", [EKS_VALUES, CLUSTER_VALUES], ids=["eks", "cluster"])
def test_override_sets_are_accepted(values: dict[str, Any]) -> None:
    """The EKS-like and cluster-wide overrides pass the schema and reach the merged values."""
    chart().validate_schema(values)  # raises HelmValuesError naming the key when invalid
    merged = chart().merge_values(values)
    assert [e.message for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(merged)] == []
    assert overrides_kept(values, merged) == []


def overrides_kept(values: Any, merged: Any, path: str = "") -> list[str]:
    """Paths of the override values that the merged values do not carry unchanged."""
    if isinstance(values, dict) and isinstance(merged, dict):
        return [
            lost
            for key, value in values.items()
            for lost in overrides_kept(value, merged.get(key), f"{path}.{key}")
        ]
    return [] if values == merged else [path]


def terraform_local(name: str) -> dict[str, str]:
    """A `name = { key = "..", value = "..", ... }` local of infra/terraform/locals.tf."""
    text = (REPO / "infra" / "terraform" / "locals.tf").read_text()
    match = re.search(rf"^\s*{name}\s*=\s*\{{([^}}]*)\}}", text, re.MULTILINE)
    if match is None:
        pytest.fail(f"infra/terraform/locals.tf has no local {name}")
    return dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', match.group(1)))


def test_worker_scheduling_is_off_by_default_and_terraform_turns_it_on() -> None:
    """Defaults pin workers nowhere; the EKS values (Terraform's shape) select the batch pool."""
    assert VALUES["worker"]["nodeSelector"] == {}
    assert VALUES["worker"]["tolerations"] == []
    label = terraform_local("batch_label")
    taint = terraform_local("batch_taint")
    assert EKS_VALUES["worker"]["nodeSelector"] == {label["key"]: label["value"]}
    assert EKS_VALUES["worker"]["tolerations"] == [
        {
            "key": taint["key"],
            "operator": "Equal",
            "value": taint["value"],
            "effect": taint["effect"],
        }
    ]
    outputs = (REPO / "infra" / "terraform" / "outputs.tf").read_text()
    assert "nodeSelector = { (local.batch_label.key) = local.batch_label.value }" in outputs
    assert "key      = local.batch_taint.key" in outputs


def test_worker_resources_have_one_default() -> None:
    """`sweepctl render` and `validate` use the chart's worker resources when no chart is there."""
    assert VALUES["worker"]["resources"] == ControllerConfig().worker_resources


def test_service_account_names_match_the_irsa_trust() -> None:
    """The service account names are those the IRSA trust policies name."""
    text = (REPO / "infra" / "terraform" / "locals.tf").read_text()
    for account in ("controller", "worker"):
        match = re.search(rf'{account}_service_account\s*=\s*"([^"]+)"', text)
        assert match, account
        assert VALUES["serviceAccounts"][account]["name"] == match.group(1)

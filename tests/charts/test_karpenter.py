"""The chart's Karpenter NodePool and EC2NodeClass, and the worker requests sized to fill a node.

The NodePool and EC2NodeClass are validated against strict models of Karpenter's v1 API
(tests/kit/karpenter_api.py) and, where they are cached, the openAPIV3Schema of the CRDs of the
Karpenter version infra/terraform pins (tests/kit/karpenter.py); their batch label, taint, AMI,
IMDS and disk settings are asserted as behaviour. The sizing test recomputes, from the formulas
documented in docs/aws.md ("Batch scaling"), how many workers fit on every instance type the
NodePool allows, and fails when the worker requests, the NodePool or the documented table drift.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
import yaml
from kit.charts import CHART_DIR, render_text
from kit.karpenter import (
    KARPENTER_VERSION,
    cached,
    served_schema,
    terraform_pinned_version,
)
from kit.karpenter_api import MODELS
from kit.kube import strict_jsonschema
from kit.paths import REPO
from pydantic import ValidationError

from bench import cost

VALUES: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
AWS_DOC = REPO / "docs" / "aws.md"
ENABLED = {
    "karpenter": {
        "enabled": True,
        "clusterName": "govsim",
        "instanceProfile": "govsim-karpenter-node",
    }
}


def karpenter_objects(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Kind -> object of what the chart renders under templates/karpenter/."""
    found: dict[str, dict[str, Any]] = {}
    for path, text in render_text(values).items():
        if "/karpenter/" in path:
            for doc in yaml.safe_load_all(text):
                if doc:
                    found[doc["kind"]] = doc
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    """The NodePool and EC2NodeClass with the values Terraform's helm_values give."""
    return karpenter_objects(ENABLED)


def test_terraform_and_the_crd_schemas_pin_one_karpenter_version() -> None:
    """The CRDs the objects are checked against are those of the chart version Terraform pins."""
    assert terraform_pinned_version() == KARPENTER_VERSION


def test_nothing_is_rendered_by_default() -> None:
    """Karpenter is off by default: the chart installs on clusters without its CRDs."""
    assert VALUES["karpenter"]["enabled"] is False
    assert karpenter_objects({}) == {}


@pytest.mark.parametrize("missing", ["clusterName", "instanceProfile"])
def test_enabling_without_the_cluster_names_fails(missing: str) -> None:
    """An EC2NodeClass without discovery tag or instance profile would launch nothing: refuse."""
    values = {"karpenter": {**ENABLED["karpenter"], missing: ""}}
    with pytest.raises(Exception, match=missing):
        karpenter_objects(values)


def schema_errors(kind: str, obj: dict[str, Any]) -> list[str]:
    """What the Karpenter API refuses in `obj`: the pinned CRD's schema where it is cached, and
    always the strict models of the fields the chart sets (tests/kit/karpenter_api.py)."""
    errors = []
    try:
        MODELS[kind].model_validate(obj)
    except ValidationError as exc:
        errors += [
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        ]
    if cached():
        validator = jsonschema.Draft4Validator(strict_jsonschema(served_schema(kind)))
        errors += [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
    return errors


@pytest.mark.parametrize(
    ("kind", "api_version"),
    [("NodePool", "karpenter.sh/v1"), ("EC2NodeClass", "karpenter.k8s.aws/v1")],
)
def test_objects_validate_against_the_karpenter_v1_api(
    rendered: dict[str, dict[str, Any]], kind: str, api_version: str
) -> None:
    """Each object is valid for Karpenter's v1 API, unknown (pruned) fields included."""
    obj = rendered[kind]
    assert obj["apiVersion"] == api_version
    errors = schema_errors(kind, obj)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "disruption", "consolidateAftr"), "1m"),  # a typo'd field would be pruned
        (("spec", "disruption", "consolidateAfter"), "1 minute"),  # not a Karpenter duration
        (("spec", "disruption", "consolidationPolicy"), "WhenIdle"),
        (("spec", "template", "spec", "taints", 0, "effect"), "NoScheduling"),
    ],
)
def test_the_schema_check_catches_a_wrong_field(
    rendered: dict[str, dict[str, Any]], path: tuple[str | int, ...], value: str
) -> None:
    """The check refuses a misspelt field and values outside the API's enums and patterns."""
    obj = yaml.safe_load(yaml.safe_dump(rendered["NodePool"]))
    node: Any = obj
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert schema_errors("NodePool", obj)


def test_an_ec2nodeclass_needs_exactly_one_identity(rendered: dict[str, dict[str, Any]]) -> None:
    """Karpenter takes a role or an instance profile, not both."""
    obj = yaml.safe_load(yaml.safe_dump(rendered["EC2NodeClass"]))
    obj["spec"]["role"] = "govsim-karpenter-node"
    assert schema_errors("EC2NodeClass", obj)


def test_nodepool_makes_batch_nodes_for_workers_and_removes_them_when_empty(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """Label and taint match the workers' selector and toleration; empty nodes go after 1 min."""
    pool = rendered["NodePool"]["spec"]
    template = pool["template"]
    assert template["metadata"]["labels"] == {"govsim.io/pool": "batch"}
    assert template["spec"]["taints"] == [
        {"key": "govsim.io/batch", "value": "true", "effect": "NoSchedule"}
    ]
    assert template["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": rendered["EC2NodeClass"]["metadata"]["name"],
    }
    assert pool["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "1m"}
    assert template["spec"]["expireAfter"] == "168h"
    assert pool["limits"] == {"cpu": "320", "memory": "2560Gi"}
    requirements = {r["key"]: r for r in template["spec"]["requirements"]}
    assert requirements["karpenter.sh/capacity-type"]["values"] == ["spot", "on-demand"]
    families = requirements["karpenter.k8s.aws/instance-family"]["values"]
    assert {f[0] for f in families} == {"c", "m", "r"}, "several instance families"
    assert all(r["operator"] == "In" for r in requirements.values())


def test_the_terraform_values_schedule_workers_onto_the_nodepool(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """The worker selector/toleration Terraform emits select and tolerate exactly these nodes."""
    outputs = (REPO / "infra" / "terraform" / "locals.tf").read_text()
    assert 'batch_label = { key = "govsim.io/pool", value = "batch" }' in outputs
    assert (
        'batch_taint = { key = "govsim.io/batch", value = "true", effect = "NoSchedule" }'
        in outputs
    )
    taint = rendered["NodePool"]["spec"]["template"]["spec"]["taints"][0]
    assert (taint["key"], taint["value"], taint["effect"]) == (
        "govsim.io/batch",
        "true",
        "NoSchedule",
    )


def test_ec2nodeclass_is_hardened_and_finds_the_cluster(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """IMDSv2 with hop limit 1, encrypted root volume, AL2023 alias, discovery tags, our profile."""
    spec = rendered["EC2NodeClass"]["spec"]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (root,) = spec["blockDeviceMappings"]
    assert root["rootVolume"] is True
    assert root["ebs"]["encrypted"] is True and root["ebs"]["volumeType"] == "gp3"
    assert re.fullmatch(r"al2023@v\d{8}", spec["amiSelectorTerms"][0]["alias"])
    discovery = [{"tags": {"karpenter.sh/discovery": "govsim"}}]
    assert spec["subnetSelectorTerms"] == discovery
    assert spec["securityGroupSelectorTerms"] == discovery
    assert spec["instanceProfile"] == "govsim-karpenter-node"
    assert "role" not in spec, "the instance profile is Terraform's; Karpenter must not make one"


# --- sizing ----------------------------------------------------------------------------------

# vCPUs and the EC2 ENI limits per size, the same for every family of the NodePool (amazon-eks-ami
# nodeadm/internal/kubelet/instance-info.jsonl: defaultMaxENIs, ipv4AddressesPerInterface).
SIZES = {"2xlarge": (8, 4, 15), "4xlarge": (16, 8, 30)}
# Memory per vCPU in GiB by family class (EC2 instance types: compute, general purpose, memory).
GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8}
FAMILIES = {"c6i", "c6a", "c7i", "c7a", "m6i", "m6a", "m7i", "m7a", "r6i", "r6a", "r7i", "r7a"}

VM_OVERHEAD = 0.075  # Karpenter's vmMemoryOverheadPercent default (pkg/operator/options).
EVICTION_MIB = 100  # memory.available hard eviction threshold (nodeadm, Karpenter).
# Requests of the DaemonSets on every node, with room for add-on version changes: aws-node 25m,
# kube-proxy 100m, ebs-csi-node 3 x (10m, 40Mi), eks-pod-identity-agent none.
DAEMONSET_BUDGET = (250, 512)  # millicores, MiB


@dataclass(frozen=True)
class Fit:
    """How one instance type is split between reservations, DaemonSets and workers."""

    family_class: str
    size: str
    vcpus: int
    memory_mib: int
    max_pods: int
    reserved_cpu_m: int
    reserved_mib: int
    allocatable_cpu_m: int
    allocatable_mib: int
    workers: int
    unused_cpu_m: int
    unused_mib: int


def kube_reserved_cpu_m(vcpus: int) -> int:
    """EKS kube-reserved CPU: 6% of core 1, 1% of core 2, 0.5% of cores 3-4, 0.25% above."""
    total = vcpus * 1000
    tiers = ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, total, 25))
    return sum((min(total, end) - start) * bp // 10000 for start, end, bp in tiers if total > start)


def quantity_m(value: str) -> int:
    """A CPU quantity in millicores."""
    return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)


def quantity_mib(value: str) -> int:
    """A memory quantity in MiB (Mi or Gi)."""
    units = {"Mi": 1, "Gi": 1024}
    return int(value[:-2]) * units[value[-2:]]


def fit(family_class: str, size: str, cpu_m: int, mem_mib: int) -> Fit:
    """Workers of (cpu_m, mem_mib) that fit an instance, after Karpenter's allocatable estimate."""
    vcpus, enis, ips = SIZES[size]
    memory = vcpus * GIB_PER_VCPU[family_class] * 1024
    max_pods = enis * (ips - 1) + 2
    reserved_cpu = kube_reserved_cpu_m(vcpus)
    reserved_mib = 11 * max_pods + 255
    allocatable_cpu = vcpus * 1000 - reserved_cpu
    allocatable_mib = memory - math.ceil(memory * VM_OVERHEAD) - reserved_mib - EVICTION_MIB
    free_cpu = allocatable_cpu - DAEMONSET_BUDGET[0]
    free_mib = allocatable_mib - DAEMONSET_BUDGET[1]
    workers = min(free_cpu // cpu_m, free_mib // mem_mib, max_pods - 5)
    return Fit(
        family_class,
        size,
        vcpus,
        memory,
        max_pods,
        reserved_cpu,
        reserved_mib,
        allocatable_cpu,
        allocatable_mib,
        workers,
        free_cpu - workers * cpu_m,
        free_mib - workers * mem_mib,
    )


def worker_request() -> tuple[int, int]:
    """The chart's default worker request (millicores, MiB)."""
    requests = VALUES["worker"]["resources"]["requests"]
    return quantity_m(requests["cpu"]), quantity_mib(requests["memory"])


def fits() -> list[Fit]:
    """The fit of every family class and size the NodePool allows."""
    cpu_m, mem_mib = worker_request()
    return [fit(c, s, cpu_m, mem_mib) for c in GIB_PER_VCPU for s in SIZES]


def test_kube_reserved_cpu_matches_the_published_examples() -> None:
    """The tiered formula (nodeadm getCPUMillicoresToReserve) at 1, 2, 4, 8 and 16 vCPUs."""
    assert [kube_reserved_cpu_m(n) for n in (1, 2, 4, 8, 16)] == [60, 70, 80, 90, 110]


def test_the_nodepool_allows_only_sized_instance_types() -> None:
    """Every family and size of the NodePool is one the fit below covers."""
    assert set(VALUES["karpenter"]["instanceFamilies"]) == FAMILIES
    assert set(VALUES["karpenter"]["instanceSizes"]) == set(SIZES)


@pytest.mark.parametrize("row", fits(), ids=lambda f: f"{f.family_class}.{f.size}")
def test_one_worker_per_vcpu_fills_every_node_with_little_waste(row: Fit) -> None:
    """As many workers as vCPUs fit, and under 5% of the node's CPU is left unrequested."""
    assert row.workers == row.vcpus
    assert row.unused_cpu_m >= 0 and row.unused_mib >= 0
    assert row.unused_cpu_m < 0.05 * row.vcpus * 1000


def test_the_cost_table_prices_the_workers_a_node_holds() -> None:
    """bench.cost bills its instance (c 2xlarge) at the workers the chart's request fits on it."""
    (row,) = [f for f in fits() if (f.family_class, f.size) == ("c", cost.INSTANCE.split(".")[1])]
    assert cost.INSTANCE.startswith("c") and row.workers == cost.WORKERS_PER_NODE


def test_worker_limits_match_the_single_threaded_worker() -> None:
    """One CPU of limit (one process), memory limit equal to the request (no overcommit)."""
    resources = VALUES["worker"]["resources"]
    assert resources["limits"]["cpu"] == "1"
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    assert quantity_m(resources["requests"]["cpu"]) <= quantity_m(resources["limits"]["cpu"])


def documented_table() -> list[list[str]]:
    """Rows of the sizing table in docs/aws.md (between its two marker comments)."""
    text = AWS_DOC.read_text()
    match = re.search(r"<!-- sizing-table -->\n(.*?)<!-- /sizing-table -->", text, re.DOTALL)
    assert match, "docs/aws.md lost its sizing table markers"
    lines = [ln for ln in match.group(1).splitlines() if ln.startswith("|")][2:]
    return [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines]


def table_row(f: Fit) -> list[str]:
    """A row of the documented table, as the docs write it."""
    return [
        f"{f.family_class} {f.size}",
        f"{f.vcpus} / {f.memory_mib // 1024} GiB",
        str(f.max_pods),
        f"{f.reserved_cpu_m}m / {f.reserved_mib} MiB",
        f"{f.allocatable_cpu_m}m / {f.allocatable_mib} MiB",
        str(f.workers),
        f"{f.unused_cpu_m}m / {f.unused_mib} MiB",
    ]


def test_the_documented_table_is_what_the_formulas_give() -> None:
    """docs/aws.md's table equals the recomputation, so requests and docs cannot drift apart."""
    assert documented_table() == [table_row(f) for f in fits()]

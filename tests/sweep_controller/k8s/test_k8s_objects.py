"""The ConfigMap and Job builders, ControllerConfig, and ``sweepctl render`` built on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kit.kube import example
from kit.paths import EXAMPLES
from kit.paths import REPO as ROOT
from kit.specs import size_warnings_only
from pydantic import ValidationError

from sweep_controller.commands import main as cli
from sweep_controller.errors import SpecError
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import (
    MAX_COMPLETIONS,
    MAX_PARALLELISM,
    SINGLE_THREADED_ENV,
    Owner,
    SweepTooLarge,
    build_configmap,
    build_job,
    job_results_uri,
    resolved_spec,
    worker_env,
)
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import spec_hash

K8S_VERSION = "1.31.0"
AFFINITY = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 50,
                "preference": {
                    "matchExpressions": [
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": ["c7i.2xlarge"],
                        }
                    ]
                },
            }
        ]
    }
}
CONFIG = ControllerConfig(s3_bucket="govsim-results", s3_prefix="sweeps")


def sweep_with(**spec: Any) -> Any:
    document = example()
    document["spec"] = {**document["spec"], **spec}
    return parse_sweep(document)


def enum_errors(job: dict[str, Any]) -> list[str]:
    """kubernetes-validate does not check enums; these are the Job's closed vocabularies."""
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    checks = [
        ("completionMode", spec["completionMode"], {"Indexed", "NonIndexed"}),
        ("podReplacementPolicy", spec["podReplacementPolicy"], {"Failed", "TerminatingOrFailed"}),
        ("restartPolicy", pod["restartPolicy"], {"Never", "OnFailure", "Always"}),
    ]
    for rule in spec["podFailurePolicy"]["rules"]:
        checks.append(("action", rule["action"], {"FailJob", "FailIndex", "Ignore", "Count"}))
        if "onExitCodes" in rule:
            checks.append(("operator", rule["onExitCodes"]["operator"], {"In", "NotIn"}))
        for cond in rule.get("onPodConditions", []):
            checks.append(("status", cond["status"], {"True", "False", "Unknown"}))
    for container in pod["containers"]:
        policy = container["imagePullPolicy"]
        checks.append(("imagePullPolicy", policy, {"Always", "IfNotPresent", "Never"}))
        profile = container["securityContext"]["seccompProfile"]["type"]
        checks.append(("seccompProfile", profile, {"RuntimeDefault", "Localhost", "Unconfined"}))
    for tol in pod.get("tolerations", []):
        checks.append(("effect", tol["effect"], {"NoSchedule", "PreferNoSchedule", "NoExecute"}))
    return [f"{name}: {value!r}" for name, value, allowed in checks if value not in allowed]


# --- every example renders into valid Kubernetes objects ----------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_objects_validate_against_kubernetes(path: Path) -> None:
    sweep = load_sweep(path)
    owner = Owner(sweep.name, "0000-uid")
    for obj in (build_configmap(sweep, CONFIG, owner), build_job(sweep, CONFIG, owner)):
        assert kubernetes_validate.validate(obj, K8S_VERSION, strict=True) == "1.31"
    assert enum_errors(build_job(sweep, CONFIG)) == []


def test_job_follows_the_contract() -> None:
    sweep = sweep_with(parallelism=4, backoffLimitPerIndex=3, maxFailedIndexes=2)
    job = build_job(sweep, CONFIG, Owner(sweep.name, "u-1"))
    spec = job["spec"]
    assert job["metadata"]["name"] == "whale-vs-conformity"
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == sweep.spec.n_tasks == 8
    assert spec["parallelism"] == 4
    assert spec["backoffLimitPerIndex"] == 3
    assert spec["maxFailedIndexes"] == 2
    assert "backoffLimit" not in spec  # per-index limits replace the Job-wide one
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {
            "action": "FailIndex",
            "onExitCodes": {"containerName": "worker", "operator": "In", "values": [2]},
        },
    ]
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["ttlSecondsAfterFinished"] == 86_400
    assert "suspend" not in spec
    (ref,) = job["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "name": "whale-vs-conformity",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "govsim"
    assert labels["app.kubernetes.io/component"] == "worker"
    assert labels["govsim.io/sweep"] == "whale-vs-conformity"
    assert job["metadata"]["annotations"]["govsim.io/spec-hash"] == spec_hash(sweep)


def test_pod_template_follows_the_contract() -> None:
    pod = build_job(sweep_with(), CONFIG)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "worker"
    assert container["command"] == ["sweepctl"]
    assert container["args"] == ["worker", "/etc/govsim/sweep.yaml"]
    assert pod["serviceAccountName"] == "govsim-worker"
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    for unset in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        assert unset not in pod, unset  # schedules on any node unless the cluster says otherwise
    assert "imagePullSecrets" not in pod
    assert "activeDeadlineSeconds" not in build_job(sweep_with(), CONFIG)["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == 10001
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (10001, 10001)
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["/etc/govsim"]["readOnly"] is True
    assert volumes[mounts["/etc/govsim"]["name"]]["configMap"]["name"] == "whale-vs-conformity-spec"
    assert volumes[mounts["/tmp"]["name"]] == {"name": "tmp", "emptyDir": {}}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    assert env["MPLCONFIGDIR"] == "/tmp/matplotlib"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "PUSHGATEWAY_URL" not in env and "AWS_ENDPOINT_URL_S3" not in env


@pytest.mark.parametrize(
    ("spec", "config", "expected"),
    [
        ({"parallelism": 4}, CONFIG, 4),
        ({"parallelism": 500}, CONFIG, 8),  # never more than the tasks
        ({"parallelism": None}, CONFIG, 8),  # default 10, capped by the 8 tasks
        (
            {"parallelism": None},
            ControllerConfig(s3_bucket="govsim-results", default_parallelism=3),
            3,
        ),
    ],
)
def test_parallelism(spec: dict[str, Any], config: ControllerConfig, expected: int) -> None:
    assert build_job(sweep_with(**spec), config)["spec"]["parallelism"] == expected


def test_parallelism_cap_and_max_failed_indexes_bounded_by_tasks() -> None:
    big = sweep_with(parameters={}, replicates=50_000, runsPerTask=1, parallelism=20_000)
    assert build_job(big, CONFIG)["spec"]["parallelism"] == MAX_PARALLELISM
    few = sweep_with(maxFailedIndexes=50)
    assert build_job(few, CONFIG)["spec"]["maxFailedIndexes"] == few.spec.n_tasks


def test_oversize_sweep_is_refused_naming_runs_per_task() -> None:
    big = sweep_with(parameters={}, replicates=MAX_COMPLETIONS + 1, runsPerTask=1)
    with pytest.raises(SweepTooLarge, match=r"spec\.runsPerTask: .* at least 2$"):
        build_job(big, CONFIG)
    edge = sweep_with(parameters={}, replicates=MAX_COMPLETIONS, runsPerTask=1)
    assert build_job(edge, CONFIG)["spec"]["completions"] == MAX_COMPLETIONS


# --- the resolved spec --------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_configmap_spec_is_the_same_sweep_with_a_cluster_output(path: Path) -> None:
    sweep = load_sweep(path)
    text = build_configmap(sweep, CONFIG)["data"]["sweep.yaml"]
    mounted = parse_sweep(yaml.safe_load(text))
    assert mounted.spec.output.uri == "s3://govsim-results/sweeps"
    assert spec_hash(mounted) == spec_hash(sweep)
    assert mounted.spec.simulator.model_fields_set == sweep.spec.simulator.model_fields_set
    assert mounted.spec.model_copy(update={"output": sweep.spec.output}) == sweep.spec


def test_s3_output_is_kept_and_file_output_needs_a_bucket() -> None:
    own = sweep_with(output={"uri": "s3://team-bucket/x"})
    assert resolved_spec(own, ControllerConfig())["spec"]["output"] == {"uri": "s3://team-bucket/x"}
    assert job_results_uri(own, ControllerConfig()) == "s3://team-bucket/x/whale-vs-conformity/"
    with pytest.raises(SpecError, match=r"spec\.output\.uri: 'file://results' .*GOVSIM_S3_BUCKET"):
        build_job(sweep_with(), ControllerConfig())


@pytest.mark.parametrize(
    ("bucket", "prefix", "uri"),
    [
        ("b-1.example", "", "s3://b-1.example"),
        ("results", "/team/sweeps/", "s3://results/team/sweeps"),
        (None, "ignored", None),
    ],
)
def test_default_output_uri(bucket: str | None, prefix: str, uri: str | None) -> None:
    assert ControllerConfig(s3_bucket=bucket, s3_prefix=prefix).default_output_uri == uri


# --- ControllerConfig from the environment ------------------------------------------------------


def test_config_from_env_reads_every_field() -> None:
    environ = {
        "GOVSIM_WORKER_IMAGE": "123.dkr.ecr.eu-west-1.amazonaws.com/govsim:0.4.0",
        "GOVSIM_WORKER_IMAGE_PULL_POLICY": "Always",
        "GOVSIM_WORKER_SERVICE_ACCOUNT": "runner",
        "GOVSIM_S3_BUCKET": "results",
        "GOVSIM_S3_PREFIX": "sweeps",
        "GOVSIM_S3_ENDPOINT": "http://seaweedfs.govsim:8333",
        "GOVSIM_S3_REGION": "eu-west-1",
        "GOVSIM_S3_ADDRESSING": "path",
        "GOVSIM_S3_CREDENTIALS_SECRET": "s3-keys",
        "GOVSIM_PUSHGATEWAY_URL": "http://pushgateway:9091",
        "GOVSIM_WORKER_RESOURCES": '{"requests": {"cpu": "2"}, "limits": {"memory": "4Gi"}}',
        "GOVSIM_WORKER_NODE_SELECTOR": '{"pool": "spot"}',
        "GOVSIM_WORKER_TOLERATIONS": '[{"key": "spot", "operator": "Exists"}]',
        "GOVSIM_DEFAULT_PARALLELISM": "7",
        "GOVSIM_JOB_TTL_SECONDS": "60",
        "GOVSIM_DEFAULT_QUEUE": "team-a",
        "GOVSIM_PUSHGATEWAY_CLEANUP_GRACE_SECONDS": "30",
        "GOVSIM_WORKER_IMAGE_PULL_SECRETS": '["regcred", "mirror"]',
        "GOVSIM_WORKER_POD_ANNOTATIONS": '{"sidecar.istio.io/inject": "false"}',
        "GOVSIM_WORKER_POD_LABELS": '{"team": "research"}',
        "GOVSIM_WORKER_PRIORITY_CLASS_NAME": "batch-low",
        "GOVSIM_WORKER_AFFINITY": json.dumps(AFFINITY),
        "GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS": "7200",
        "GOVSIM_WORKER_RUN_AS_USER": "null",
        "GOVSIM_PUSHGATEWAY_CLEANUP_BUDGET_SECONDS": "45",
        "GOVSIM_POD_CREATION_TIMEOUT_SECONDS": "120",
    }
    assert set(environ) == set(ControllerConfig.ENV.values())
    config = ControllerConfig.from_env(environ)
    assert config.image.endswith("govsim:0.4.0")
    assert config.worker_resources == {"requests": {"cpu": "2"}, "limits": {"memory": "4Gi"}}
    assert config.tolerations == ({"key": "spot", "operator": "Exists"},)
    assert (config.default_parallelism, config.ttl_seconds_after_finished) == (7, 60)
    assert config.pushgateway_cleanup_budget_seconds == 45
    assert config.pod_creation_timeout_seconds == 120
    assert config.default_output_uri == "s3://results/sweeps"
    job = build_job(sweep_with(), config)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == environ["GOVSIM_WORKER_IMAGE"]
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == config.worker_resources
    assert pod["serviceAccountName"] == "runner"
    assert pod["nodeSelector"] == {"pool": "spot"}
    assert pod["tolerations"] == [{"key": "spot", "operator": "Exists"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    assert pod["priorityClassName"] == "batch-low"
    assert pod["affinity"] == AFFINITY
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    template = job["spec"]["template"]["metadata"]
    assert template["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert template["labels"]["team"] == "research"
    assert template["labels"]["govsim.io/sweep"] == "whale-vs-conformity"
    # null UID: the platform assigns one; the pod still refuses to run as root
    for holder in (pod, container):
        assert holder["securityContext"]["runAsNonRoot"] is True
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(holder["securityContext"])
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["spec"]["suspend"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["PUSHGATEWAY_URL"]["value"] == "http://pushgateway:9091"
    # The pod's own namespace keys its metrics (downward API).
    namespace_ref = {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["GOVSIM_NAMESPACE"]["valueFrom"] == namespace_ref
    # Metric slots: claimed from index mod the Job's parallelism, carried on within the Job.
    assert env["GOVSIM_PARALLELISM"]["value"] == str(job["spec"]["parallelism"])
    job_uid_ref = {
        "fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/controller-uid']"}
    }
    assert env["GOVSIM_JOB_UID"]["valueFrom"] == job_uid_ref
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://seaweedfs.govsim:8333"
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["GOVSIM_S3_ADDRESSING"]["value"] == "path"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "s3-keys", "key": key}}
    assert kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_empty_env_values_are_unset_and_overrides_win() -> None:
    config = ControllerConfig.from_env(
        {"GOVSIM_S3_BUCKET": "  ", "GOVSIM_WORKER_IMAGE": "a:1"}, image="b:2", s3_region=None
    )
    assert config.s3_bucket is None
    assert config.image == "b:2"
    assert config.s3_region == "us-east-1"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "GOVSIM_DEFAULT_PARALLELISM",
            "ten",
            "GOVSIM_DEFAULT_PARALLELISM: 'ten' is not an integer",
        ),
        ("GOVSIM_DEFAULT_PARALLELISM", "0", "GOVSIM_DEFAULT_PARALLELISM: 0 is outside [1, inf)"),
        ("GOVSIM_WORKER_RESOURCES", "{cpu: 1}", "GOVSIM_WORKER_RESOURCES: not valid JSON"),
        ("GOVSIM_WORKER_TOLERATIONS", "{}", "GOVSIM_WORKER_TOLERATIONS: must be a JSON list"),
        ("GOVSIM_WORKER_NODE_SELECTOR", "[]", "GOVSIM_WORKER_NODE_SELECTOR: must be a JSON object"),
        ("GOVSIM_S3_ADDRESSING", "sideways", "GOVSIM_S3_ADDRESSING: 'sideways' is not one of"),
        ("GOVSIM_WORKER_IMAGE_PULL_POLICY", "Sometimes", "'Sometimes' is not one of Always"),
        ("GOVSIM_S3_BUCKET", "s3://results", "GOVSIM_S3_BUCKET: 's3://results'"),
        ("GOVSIM_JOB_TTL_SECONDS", "-1", "GOVSIM_JOB_TTL_SECONDS: -1 is outside [0, inf)"),
        (
            "GOVSIM_PUSHGATEWAY_CLEANUP_GRACE_SECONDS",
            "-5",
            "GOVSIM_PUSHGATEWAY_CLEANUP_GRACE_SECONDS: -5 is outside [0, inf)",
        ),
        (
            "GOVSIM_PUSHGATEWAY_CLEANUP_BUDGET_SECONDS",
            "0",
            "GOVSIM_PUSHGATEWAY_CLEANUP_BUDGET_SECONDS: 0 is outside [1, inf)",
        ),
        (
            "GOVSIM_WORKER_NODE_SELECTOR",
            '{"pool": 1}',
            "GOVSIM_WORKER_NODE_SELECTOR.pool: Input should be a valid string (got 1)",
        ),
        (
            "GOVSIM_WORKER_POD_LABELS",
            '{"govsim.io/sweep": "other"}',
            "GOVSIM_WORKER_POD_LABELS: 'govsim.io/sweep' is a label the controller sets",
        ),
        (
            "GOVSIM_WORKER_POD_LABELS",
            '{"app.kubernetes.io/component": "x"}',
            "GOVSIM_WORKER_POD_LABELS: 'app.kubernetes.io/component' is a label the controller",
        ),
        (
            "GOVSIM_WORKER_POD_ANNOTATIONS",
            '{"sidecar.istio.io/inject": false}',
            "GOVSIM_WORKER_POD_ANNOTATIONS.sidecar.istio.io/inject: Input should be a valid string",
        ),
        (
            "GOVSIM_WORKER_IMAGE_PULL_SECRETS",
            '{"name": "regcred"}',
            "GOVSIM_WORKER_IMAGE_PULL_SECRETS: must be a JSON list",
        ),
        ("GOVSIM_WORKER_AFFINITY", "[]", "GOVSIM_WORKER_AFFINITY: must be a JSON object"),
        (
            "GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS",
            "0",
            "GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS: 0 is outside [1, inf)",
        ),
        (
            "GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS",
            "2147483648",
            "GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS: 2147483648 is above the maximum 2147483647",
        ),
        ("GOVSIM_WORKER_RUN_AS_USER", "0", "GOVSIM_WORKER_RUN_AS_USER: 0 is outside [1, inf)"),
        ("GOVSIM_WORKER_RUN_AS_USER", "root", "GOVSIM_WORKER_RUN_AS_USER: not valid JSON"),
        (
            "GOVSIM_WORKER_RUN_AS_USER",
            "[1000]",
            "GOVSIM_WORKER_RUN_AS_USER: must be a JSON integer or null",
        ),
    ],
)
def test_bad_config_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        ControllerConfig.from_env({name: value})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_empty_image_override_names_the_variable() -> None:
    with pytest.raises(SpecError, match=r"^GOVSIM_WORKER_IMAGE: empty; set the worker image$"):
        ControllerConfig.from_env({}, image=" ")


def test_config_refuses_unknown_fields_and_changes() -> None:
    with pytest.raises(SpecError, match=r"^s3_buckt: Extra inputs are not permitted"):
        ControllerConfig.from_env({}, s3_buckt="results")
    with pytest.raises(ValidationError, match="default_parallelism"):
        ControllerConfig(default_parallelism=0)
    with pytest.raises(ValidationError, match="frozen"):
        CONFIG.s3_bucket = "other"  # type: ignore[misc]
    assert CONFIG.s3_bucket == "govsim-results"


def test_worker_env_has_only_configured_optionals() -> None:
    names = [e["name"] for e in worker_env(ControllerConfig())]
    assert names == [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "HOME",
        "TMPDIR",
        "MPLCONFIGDIR",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    ]


_THREADS_AFTER_BLAS = (
    "import os, numpy as np; np.dot(np.ones(10**6), np.ones(10**6)); "
    "print(len(os.listdir('/proc/self/task')))"
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_worker_env_keeps_numpys_blas_to_the_one_thread_of_its_cpu_limit() -> None:
    """In the worker's environment numpy runs no BLAS threads beside the main one; without it,
    BLAS starts one per core it sees (on a node, the node's cores, whatever the pod's limit)."""
    base = {k: v for k, v in os.environ.items() if k not in SINGLE_THREADED_ENV}
    pinned = base | {e["name"]: e["value"] for e in worker_env(ControllerConfig())}

    def threads(env: dict[str, str]) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _THREADS_AFTER_BLAS],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return int(done.stdout)

    assert threads(pinned) == 1
    if (os.cpu_count() or 1) > 1:
        assert threads(base) > 1  # what the setting prevents


# --- sweepctl render ----------------------------------------------------------------------------


def render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["render", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_prints_the_builders_objects_without_owner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ControllerConfig.ENV.values():
        monkeypatch.delenv(name, raising=False)
    path = ROOT / "examples" / "sobol-sensitivity.yaml"
    code, out, err = render(
        capsys,
        str(path),
        "--image",
        "registry.example/govsim:0.4.0",
        "--namespace",
        "research",
        "--output-uri",
        "s3://lab-results/2025",
    )
    assert code == 0 and size_warnings_only(err)
    documents = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job"]
    configmap, job = documents
    sweep = parse_sweep(
        {
            **yaml.safe_load(path.read_text()),
            "metadata": {"name": "sobol-sensitivity", "namespace": "research"},
        }
    )
    sweep = sweep.model_copy(
        update={
            "spec": sweep.spec.model_copy(
                update={
                    "output": sweep.spec.output.model_copy(update={"uri": "s3://lab-results/2025"})
                }
            )
        }
    )
    config = ControllerConfig(image="registry.example/govsim:0.4.0")
    assert job == json.loads(json.dumps(build_job(sweep, config)))
    assert configmap["data"] == build_configmap(sweep, config)["data"]
    for doc in documents:
        assert "ownerReferences" not in doc["metadata"]
        assert doc["metadata"]["namespace"] == "research"
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert enum_errors(job) == []
    assert "sweep.yaml: |" in out  # the embedded spec stays readable


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "spec.output.uri: 'file://results' is a local path"),
        (["--output-uri", "gs://x"], "--output-uri: spec.output.uri: 'gs://x' must be"),
        (["--output-uri", "s3://results", "--namespace", "Bad_NS"], "--namespace: metadata."),
    ],
)
def test_render_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    for name in ControllerConfig.ENV.values():
        monkeypatch.delenv(name, raising=False)
    code, out, err = render(capsys, str(ROOT / "examples" / "zipped.yaml"), *args)
    assert code == 2
    assert out == ""
    assert err.startswith("sweepctl: error: ") and message in err
    assert err.count("\n") == 1


def test_render_uses_the_default_bucket_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVSIM_S3_BUCKET", "cluster-results")
    code, out, _ = render(capsys, str(ROOT / "examples" / "zipped.yaml"))
    assert code == 0
    configmap = next(yaml.safe_load_all(out))
    assert "uri: s3://cluster-results\n" in configmap["data"]["sweep.yaml"]


def test_render_applies_the_worker_pod_settings_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sweepctl render` reads the worker pod variables the chart sets for the controller."""
    for name in ControllerConfig.ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVSIM_WORKER_POD_ANNOTATIONS", '{"sidecar.istio.io/inject": "false"}')
    monkeypatch.setenv("GOVSIM_WORKER_PRIORITY_CLASS_NAME", "batch-low")
    monkeypatch.setenv("GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS", "3600")
    monkeypatch.setenv("GOVSIM_WORKER_IMAGE_PULL_SECRETS", '["regcred"]')
    code, out, err = render(
        capsys, str(ROOT / "examples" / "zipped.yaml"), "--output-uri", "s3://results"
    )
    assert code == 0 and size_warnings_only(err)
    job = list(yaml.safe_load_all(out))[1]
    assert job["spec"]["activeDeadlineSeconds"] == 3600
    assert job["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/inject": "false"
    }
    pod = job["spec"]["template"]["spec"]
    assert (pod["priorityClassName"], pod["imagePullSecrets"]) == (
        "batch-low",
        [{"name": "regcred"}],
    )
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert kubernetes_validate.validate(job, K8S_VERSION, strict=True)

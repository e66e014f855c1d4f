"""From chart values to worker pods: the controller's env, its config, and the Jobs it builds.

The chart configures the controller only through environment variables, which the controller
reads into ``ControllerConfig`` and passes on to every Job it creates. These tests close that loop
offline: render the chart, feed the Deployment's env to ``ControllerConfig.from_env``, build the
ConfigMap and Job of an example sweep with the controller's own builders, and check the objects
against Kubernetes 1.31 and against the rest of the chart (service account, network policy,
values). ``sweepctl render`` output gets the same validation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.charts import (
    NAMESPACE,
    VALUE_SET_NAMES,
    find,
    manifests,
    pod_labels,
    pod_spec,
    schema_errors,
    selects,
    sweepctl_render,
    value_sets,
)
from kit.paths import REPO

from sweep_controller.errors import SpecError
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import (
    Owner,
    build_configmap,
    build_job,
    with_namespace,
)
from sweep_controller.spec.loading import load_sweep

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
EXAMPLE = REPO / "examples" / "whale-vs-conformity.yaml"


def merged_values(value_set: str) -> dict[str, Any]:
    """The chart's defaults with a value set's overrides (what the templates saw)."""
    from kit.charts import chart

    return dict(chart().merge_values(value_sets()[value_set]))


def controller_env(value_set: str) -> dict[str, str]:
    """The controller container's environment (plain values only) for a value set."""
    (container,) = pod_spec(find(manifests(value_set), "Deployment"))["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def config_for(value_set: str) -> ControllerConfig:
    """The ControllerConfig the controller reads from the rendered env."""
    return ControllerConfig.from_env(controller_env(value_set))


def built_objects(value_set: str, spec: Path = EXAMPLE) -> list[dict[str, Any]]:
    """ConfigMap and Job the controller builds for an example sweep in the release namespace."""
    sweep = with_namespace(load_sweep(spec), NAMESPACE)
    config = config_for(value_set)
    owner = Owner(name=sweep.name, uid="0b7c4a6e-2f1d-4c3b-9a8e-5d6f7a8b9c0d")
    return [build_configmap(sweep, config, owner), build_job(sweep, config, owner)]


def test_every_controller_config_variable_is_set_and_no_other() -> None:
    """The Deployment sets each ControllerConfig variable; no GOVSIM_* name the config ignores."""
    env = controller_env("default")
    expected = set(ControllerConfig.ENV.values())
    assert expected <= set(env), sorted(expected - set(env))
    assert {name for name in env if name.startswith("GOVSIM_")} == expected


@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_rendered_env_gives_the_configured_controller(value_set: str) -> None:
    """ControllerConfig.from_env(rendered env) holds exactly what the values say."""
    values = merged_values(value_set)
    config = config_for(value_set)
    image = values["image"]
    expected_image = (
        f"{image['repository']}@{image['digest']}"
        if image["digest"]
        else f"{image['repository']}:{image['tag'] or '0.4.0'}"
    )
    s3 = values["s3"]
    assert config.image == expected_image
    assert config.image_pull_policy == image["pullPolicy"]
    assert config.worker_service_account == values["serviceAccounts"]["worker"]["name"]
    assert config.default_output_uri == f"s3://{s3['bucket']}/{s3['prefix'].strip('/')}"
    assert config.s3_endpoint == (s3["endpoint"] or None)
    assert config.s3_region == s3["region"]
    assert config.s3_addressing == (s3["addressing"] or None)
    assert config.credentials_secret == (s3["credentialsSecret"] or None)
    assert config.pushgateway_url == (values["pushgateway"]["url"] or None)
    assert config.pushgateway_cleanup_grace_seconds == values["pushgateway"]["cleanupGraceSeconds"]
    budget = values["pushgateway"]["cleanupBudgetSeconds"]
    assert config.pushgateway_cleanup_budget_seconds == budget
    worker = values["worker"]
    assert json.loads(json.dumps(config.worker_resources)) == worker["resources"]
    assert dict(config.node_selector) == worker["nodeSelector"]
    assert [dict(t) for t in config.tolerations] == worker["tolerations"]
    assert config.default_parallelism == worker["parallelism"]
    assert config.ttl_seconds_after_finished == worker["ttlSecondsAfterFinished"]
    assert config.default_queue == (values["kueue"]["queueName"] or None)
    assert list(config.image_pull_secrets) == [s["name"] for s in values["imagePullSecrets"]]
    assert dict(config.pod_annotations) == worker["podAnnotations"]
    assert dict(config.pod_labels) == worker["podLabels"]
    assert config.priority_class_name == (worker["priorityClassName"] or None)
    assert json.loads(json.dumps(config.affinity)) == worker["affinity"]
    assert config.active_deadline_seconds == (worker["activeDeadlineSeconds"] or None)
    assert config.run_as_user == values.get("podSecurity", {}).get("runAsUser")


WORKER_POD_VALUES: dict[str, Any] = {
    "imagePullSecrets": [{"name": "regcred"}],
    "worker": {
        "podAnnotations": {"sidecar.istio.io/inject": "false"},
        "podLabels": {"team": "research"},
        "priorityClassName": "batch-low",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
                            ]
                        }
                    ]
                }
            }
        },
        "activeDeadlineSeconds": 2_147_483_647,
    },
    "podSecurity": {"runAsUser": 20000},
}


def test_worker_pod_values_reach_the_controller_built_job() -> None:
    """worker.* pod settings go through the controller's env into a valid Job."""
    from kit.charts import chart, render_text

    deployment = yaml.safe_load(render_text(WORKER_POD_VALUES)["govsim/templates/deployment.yaml"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    config = ControllerConfig.from_env(env)
    sweep = with_namespace(load_sweep(EXAMPLE), NAMESPACE)
    job = build_job(sweep, config)
    assert schema_errors(job) == []
    pod = pod_spec(job)
    worker = WORKER_POD_VALUES["worker"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["priorityClassName"] == "batch-low"
    assert pod["affinity"] == worker["affinity"]
    assert job["spec"]["activeDeadlineSeconds"] == 2_147_483_647
    assert job["spec"]["template"]["metadata"]["annotations"] == worker["podAnnotations"]
    assert pod_labels(job)["team"] == "research"
    assert pod["securityContext"]["runAsUser"] == 20000
    assert pod_spec(deployment)["securityContext"]["runAsUser"] == 20000
    merged = chart().merge_values(WORKER_POD_VALUES)
    assert merged["worker"]["podLabels"] == {"team": "research"}


def test_a_reserved_worker_label_stops_the_controller_with_one_line() -> None:
    """worker.podLabels may not override the controller's labels: from_env names the key."""
    from kit.charts import render_text

    text = render_text({"worker": {"podLabels": {"govsim.io/sweep": "x"}}})
    deployment = yaml.safe_load(text["govsim/templates/deployment.yaml"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    with pytest.raises(SpecError) as info:
        ControllerConfig.from_env(env)
    assert str(info.value).startswith("GOVSIM_WORKER_POD_LABELS: 'govsim.io/sweep' is a label")
    assert "\n" not in str(info.value)


def test_large_integers_survive_the_render() -> None:
    """Helm reads numbers as floats; the env still holds plain integers (1e+08 would not parse)."""
    from kit.charts import render_text

    text = render_text({"worker": {"ttlSecondsAfterFinished": 100_000_000}})
    deployment = yaml.safe_load(text["govsim/templates/deployment.yaml"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOVSIM_JOB_TTL_SECONDS"] == "100000000"
    assert ControllerConfig.from_env(env).ttl_seconds_after_finished == 100_000_000


@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_controller_built_objects_are_valid_and_fit_the_chart(value_set: str) -> None:
    """The Job the controller would create validates and uses the chart's worker objects."""
    configmap, job = built_objects(value_set)
    errors = schema_errors(configmap) + schema_errors(job)
    assert not errors, "\n".join(errors)
    values = merged_values(value_set)
    chart_docs = manifests(value_set)
    pod = pod_spec(job)
    in_namespace = [d for d in chart_docs if d["metadata"].get("namespace") == NAMESPACE]
    worker_sa = find(in_namespace, "ServiceAccount", pod["serviceAccountName"])
    assert worker_sa["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False
    if values["networkPolicy"]["enabled"]:
        policy = find(in_namespace, "NetworkPolicy", "govsim-worker")
        assert selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels(job))
    (container,) = pod["containers"]
    assert container["image"] == config_for(value_set).image
    assert container["resources"] == values["worker"]["resources"]
    worker = values["worker"]
    if value_set == "default":  # any cluster: the Job pins its pods to no node
        assert not {"nodeSelector", "tolerations", "affinity"} & set(pod)
    assert pod.get("nodeSelector", {}) == worker["nodeSelector"]
    assert pod.get("tolerations", []) == worker["tolerations"]
    assert pod.get("affinity", {}) == worker["affinity"]
    assert pod.get("priorityClassName", "") == worker["priorityClassName"]
    assert pod.get("imagePullSecrets", []) == values["imagePullSecrets"]
    assert job["spec"].get("activeDeadlineSeconds", 0) == worker["activeDeadlineSeconds"]
    template = job["spec"]["template"]["metadata"]
    assert template.get("annotations", {}) == worker["podAnnotations"]
    assert worker["podLabels"].items() <= template["labels"].items()
    uid = values.get("podSecurity", {}).get("runAsUser")
    assert pod["securityContext"].get("runAsUser") == uid
    assert pod["securityContext"].get("fsGroup") == uid
    assert pod["securityContext"]["runAsNonRoot"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_REGION"]["value"] == values["s3"]["region"]
    secret = values["s3"]["credentialsSecret"]
    if secret:
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == secret
    else:
        assert "AWS_SECRET_ACCESS_KEY" not in env
    if values["s3"]["endpoint"]:
        assert env["AWS_ENDPOINT_URL_S3"]["value"] == values["s3"]["endpoint"]
    resolved = yaml.safe_load(configmap["data"]["sweep.yaml"])
    s3 = values["s3"]
    assert resolved["spec"]["output"]["uri"] == f"s3://{s3['bucket']}/{s3['prefix'].strip('/')}"
    queue = values["kueue"]["queueName"]
    assert job["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == (queue or None)
    assert job["spec"].get("suspend", False) is bool(queue)


def assert_job_contract(job: dict[str, Any]) -> None:
    """The Indexed Job fields whose enums and shapes kubernetes-validate does not check."""
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert rules[1] == {
        "action": "FailIndex",
        "onExitCodes": {"containerName": "worker", "operator": "In", "values": [2]},
    }
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] == "worker"
    assert container["command"] == ["sweepctl"]
    # an adaptive sweep's Job runs one round: its pods pass the round (the label says which)
    round_label = job["metadata"]["labels"].get("govsim.io/round")
    extra = ["--round", round_label] if round_label is not None else []
    assert container["args"] == ["worker", "/etc/govsim/sweep.yaml", *extra]
    assert 1 <= spec["parallelism"] <= spec["completions"] <= 100_000


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_sweepctl_render_output_is_valid(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sweepctl render` prints a ConfigMap and an Indexed Job that validate for 1.31."""
    for name in list(os.environ):
        if name.startswith("GOVSIM_"):
            monkeypatch.delenv(name)
    docs = sweepctl_render(
        example,
        "--image",
        "govsim:0.4.0",
        "--namespace",
        NAMESPACE,
        "--output-uri",
        "s3://govsim-results/sweeps",
    )
    assert [d["kind"] for d in docs] == ["ConfigMap", "Job"]
    errors = [e for doc in docs for e in schema_errors(doc)]
    assert not errors, "\n".join(errors)
    configmap, job = docs
    assert "ownerReferences" not in job["metadata"]
    assert "nodeSelector" not in pod_spec(job) and "tolerations" not in pod_spec(job)
    assert_job_contract(job)
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    assert volumes["spec"]["configMap"]["name"] == configmap["metadata"]["name"]


@pytest.mark.parametrize("value_set", ["default", "kind"])
def test_controller_built_job_meets_the_job_contract(value_set: str) -> None:
    """The controller's Job has the Indexed Job contract and is owned by its Sweep."""
    _, job = built_objects(value_set)
    assert_job_contract(job)
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner["kind"] == "Sweep" and owner["controller"] is True


@pytest.mark.parametrize("value_set", ["default", "cluster"])
def test_controller_cli_accepts_the_deployment_args(value_set: str) -> None:
    """`sweepctl controller` parses the Deployment's args into the chart's scope and ports."""
    from sweep_controller.commands.main import build_parser

    (container,) = pod_spec(find(manifests(value_set), "Deployment"))["containers"]
    args = build_parser().parse_args(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert args.metrics_port == ports["metrics"]
    assert args.metrics_address == "0.0.0.0"  # the Service reaches the pod on its own IP
    assert args.health_port == ports["health"]
    if value_set == "cluster":
        assert args.all_namespaces is True
    else:
        assert args.namespace == [NAMESPACE]

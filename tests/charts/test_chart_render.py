"""The Helm chart rendered offline: every manifest valid for Kubernetes 1.31, and wired as intended.

Rendered with helm-python-sdk for four value sets (defaults, EKS-like, cluster-wide watch, the kind
end-to-end values). Each object passes kubernetes-validate in strict mode plus the enum table of
kit.charts; then the tests check what the schemas cannot: names fixed by the IRSA contract,
least-privilege RBAC, selectors that select, ports that exist, the controller's hardening, and the
alert rules and dashboard copied verbatim.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest
import yaml
from kit.charts import (
    CHART_DIR,
    CUSTOM_KINDS,
    EKS_VALUES,
    NAMESPACE,
    VALUE_SET_NAMES,
    chart,
    crd_manifests,
    find,
    helm,
    ident,
    ident_list,
    manifests,
    pod_labels,
    pod_spec,
    render_text,
    rendered,
    schema_errors,
    selects,
    value_sets,
)
from kit.paths import REPO

CONTROLLER = "govsim-controller"


def all_objects() -> list[tuple[str, dict[str, Any]]]:
    """(value set, object) for every rendered object, plus the CRD once."""
    objects = [(name, doc) for name in VALUE_SET_NAMES for doc in manifests(name)]
    return objects + [("crds", doc) for doc in crd_manifests()]


def test_chart_metadata_matches_the_project() -> None:
    """Chart.yaml is API v2, and its version and appVersion are the package's version."""
    meta = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "govsim"
    assert meta["version"] == version
    assert meta["appVersion"] == version


@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_helm_lint_strict_passes(value_set: str) -> None:
    """`helm lint --strict` (values schema included) reports no warning or error."""
    if value_set not in value_sets():
        pytest.skip(f"value set {value_set} is not available")
    report = helm().lint(str(CHART_DIR), value_sets()[value_set], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
    assert not problems, problems


@pytest.mark.slow
def test_every_rendered_manifest_is_valid_for_kubernetes_1_31() -> None:
    """Every object of every value set (and the CRD) passes strict schema and enum checks."""
    objects = all_objects()
    errors = []
    checked = 0
    for value_set, doc in objects:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        checked += 1
        errors += [f"[{value_set}] {e}" for e in schema_errors(doc)]
    print(f"validated {checked} manifests against Kubernetes 1.31 (strict)")
    assert checked >= 30, ident_list([d for _, d in objects])
    assert not errors, "\n".join(errors)


def test_every_object_is_namespaced_in_the_release_namespace() -> None:
    """Namespaced objects name their namespace (govsim), except the dashboard's optional one."""
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    for value_set in VALUE_SET_NAMES:
        worker_namespaces = value_sets()[value_set].get("controller", {}).get("workerNamespaces")
        for doc in manifests(value_set):
            if doc["kind"] in cluster_scoped:
                assert "namespace" not in doc["metadata"], ident(doc)
                continue
            expected = {NAMESPACE}
            if doc["kind"] == "ConfigMap" and value_set == "eks":
                expected = {EKS_VALUES["dashboards"]["namespace"]}
            if doc["metadata"]["labels"].get("app.kubernetes.io/component") == "worker":
                expected |= set(worker_namespaces or ())
            assert doc["metadata"].get("namespace") in expected, f"[{value_set}] {ident(doc)}"


@pytest.mark.parametrize(
    ("value_set", "expected"),
    [
        (
            "default",
            [
                "ServiceAccount/govsim-controller",
                "ServiceAccount/govsim-worker",
                "Role/govsim-controller",
                "RoleBinding/govsim-controller",
                "ClusterRole/govsim-controller-govsim-crd",
                "ClusterRoleBinding/govsim-controller-govsim-crd",
                "Deployment/govsim-controller",
                "Service/govsim-controller-metrics",
                "ConfigMap/govsim-dashboards",
                "NetworkPolicy/govsim-controller",
                "NetworkPolicy/govsim-worker",
                "ServiceAccount/govsim-test",
                "Role/govsim-test",
                "RoleBinding/govsim-test",
                "Pod/govsim-test",
                "NetworkPolicy/govsim-test",
            ],
        ),
        (
            "eks",
            [
                "ServiceAccount/govsim-controller",
                "ServiceAccount/govsim-worker",
                "Role/govsim-controller",
                "RoleBinding/govsim-controller",
                "ClusterRole/govsim-controller-govsim-crd",
                "ClusterRoleBinding/govsim-controller-govsim-crd",
                "Deployment/govsim-controller",
                "Service/govsim-controller-metrics",
                "ServiceMonitor/govsim-controller",
                "PrometheusRule/govsim-rules",
                "ConfigMap/govsim-dashboards",
                "NetworkPolicy/govsim-controller",
                "NetworkPolicy/govsim-worker",
                "ServiceAccount/govsim-test",
                "Role/govsim-test",
                "RoleBinding/govsim-test",
                "Pod/govsim-test",
                "NetworkPolicy/govsim-test",
            ],
        ),
        (
            "cluster",
            [
                "ServiceAccount/govsim-controller",
                "ServiceAccount/govsim-worker",  # govsim, team-a, team-b
                "ServiceAccount/govsim-worker",
                "ServiceAccount/govsim-worker",
                "ClusterRole/govsim-controller-govsim",
                "ClusterRoleBinding/govsim-controller-govsim",
                "ClusterRole/govsim-controller-govsim-crd",
                "ClusterRoleBinding/govsim-controller-govsim-crd",
                "Deployment/govsim-controller",
                "Service/govsim-controller-metrics",
                "ServiceAccount/govsim-test",
                "Role/govsim-test",
                "RoleBinding/govsim-test",
                "Pod/govsim-test",
                "NetworkPolicy/govsim-test",
            ],
        ),
    ],
)
def test_value_set_renders_exactly_these_objects(value_set: str, expected: list[str]) -> None:
    """Optional objects appear only when their values turn them on."""
    assert sorted(ident_list(manifests(value_set))) == sorted(expected)


def test_crds_are_installed_from_the_crds_directory() -> None:
    """The Sweep CRD ships under crds/ (installed first, never templated)."""
    crds = crd_manifests()
    assert [c["metadata"]["name"] for c in crds] == ["sweeps.govsim.io"]
    loaded = [c["name"] for c in chart().crds]
    assert any("sweeps.govsim.io" in name for name in loaded), loaded


# --- service accounts and RBAC -------------------------------------------------------------------


def test_service_accounts_have_the_contract_names_and_no_irsa_by_default() -> None:
    """govsim-controller and govsim-worker exist; without role ARNs they carry no annotation."""
    docs = manifests("default")
    controller = find(docs, "ServiceAccount", CONTROLLER)
    worker = find(docs, "ServiceAccount", "govsim-worker")
    assert "annotations" not in controller["metadata"]
    assert "annotations" not in worker["metadata"]
    assert worker["automountServiceAccountToken"] is False


def test_irsa_role_arns_become_service_account_annotations() -> None:
    """Each service account carries its own IAM role (EKS values)."""
    docs = manifests("eks")
    for account in ("controller", "worker"):
        sa = find(docs, "ServiceAccount", f"govsim-{account}")
        arn = EKS_VALUES["serviceAccounts"][account]["roleArn"]
        assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}


# The whole of the controller's access: what reconcile and kopf use, nothing more.
EXPECTED_RULES = [
    (("govsim.io",), ("sweeps",), ("get", "list", "watch", "patch")),
    (("govsim.io",), ("sweeps/status",), ("get", "patch")),
    (("govsim.io",), ("sweeps/finalizers",), ("update",)),
    (("batch",), ("jobs",), ("create", "get", "list", "watch")),
    (("",), ("configmaps",), ("create", "get", "list", "watch")),
    (("",), ("events",), ("create", "patch", "list")),
    (("events.k8s.io",), ("events",), ("create", "patch")),
]


def rules_of(role: dict[str, Any]) -> list[tuple[tuple[str, ...], ...]]:
    """A role's rules as comparable tuples."""
    return [
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]
    ]


@pytest.mark.parametrize(
    ("value_set", "kind", "name"),
    [("default", "Role", CONTROLLER), ("cluster", "ClusterRole", f"{CONTROLLER}-{NAMESPACE}")],
)
def test_rbac_is_least_privilege(value_set: str, kind: str, name: str) -> None:
    """Exactly the expected rules: no wildcard, no secrets, no delete, update only finalizers."""
    docs = manifests(value_set)
    role = find(docs, kind, name)
    assert rules_of(role) == EXPECTED_RULES
    flat = json.dumps(role["rules"])
    for forbidden in ('"*"', "secrets", "delete", "pods", "escalate", "bind", "namespaces"):
        assert forbidden not in flat
    updates = [r["resources"] for r in role["rules"] if "update" in r["verbs"]]
    assert updates == [["sweeps/finalizers"]]
    binding = find(docs, f"{kind}Binding", name)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": kind,
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": CONTROLLER, "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("value_set", ["default", "cluster"])
def test_controller_may_read_only_the_sweep_crd_in_both_modes(value_set: str) -> None:
    """get on the one CRD sweeps.govsim.io (the schema-version check), nothing else."""
    docs = manifests(value_set)
    name = f"{CONTROLLER}-{NAMESPACE}-crd"
    role = find(docs, "ClusterRole", name)
    assert role["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "resourceNames": ["sweeps.govsim.io"],
            "verbs": ["get"],
        }
    ]
    binding = find(docs, "ClusterRoleBinding", name)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": name,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": CONTROLLER, "namespace": NAMESPACE}
    ]


# --- the controller Deployment --------------------------------------------------------------------


def controller_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The controller's one container."""
    (container,) = pod_spec(find(docs, "Deployment", CONTROLLER))["containers"]
    return dict(container)


def test_controller_deployment_is_a_single_hardened_replica() -> None:
    """One replica, Recreate, probes, resources, restricted security context, /tmp emptyDir."""
    docs = manifests("default")
    deployment = find(docs, "Deployment", CONTROLLER)
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = pod_spec(deployment)
    assert pod["serviceAccountName"] == CONTROLLER
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = controller_container(docs)
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 8080}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert selects(spec["selector"]["matchLabels"], pod_labels(deployment))


@pytest.mark.parametrize(
    ("value_set", "scope_args"),
    [("default", ["--namespace", NAMESPACE]), ("cluster", ["--all-namespaces"])],
)
def test_controller_command_matches_the_watch_scope(value_set: str, scope_args: list[str]) -> None:
    """`sweepctl controller` watches the release namespace, or all namespaces with a ClusterRole."""
    container = controller_container(manifests(value_set))
    assert container["command"] == ["sweepctl"]
    assert container["args"] == [
        "controller",
        *scope_args,
        "--metrics-port",
        "9090",
        "--metrics-address",
        "0.0.0.0",
        "--health-port",
        "8080",
    ]


def test_image_reference_uses_tag_app_version_or_digest() -> None:
    """Tag defaults to appVersion; a digest pins repository@digest."""
    assert controller_container(manifests("default"))["image"] == "govsim:0.4.0"
    eks = EKS_VALUES["image"]
    assert controller_container(manifests("eks"))["image"] == f"{eks['repository']}:{eks['tag']}"
    assert controller_container(manifests("cluster"))["image"] == "govsim@sha256:" + "ab" * 32


def test_controller_pods_schedule_from_values() -> None:
    """controller.nodeSelector reaches the pod; the default pins it nowhere."""
    assert "nodeSelector" not in pod_spec(find(manifests("default"), "Deployment"))
    eks_pod = pod_spec(find(manifests("eks"), "Deployment"))
    assert eks_pod["nodeSelector"] == {"govsim.io/pool": "system"}


# --- metrics: Service, ServiceMonitor, PrometheusRule, dashboard ---------------------------------


def alert_job_regex() -> str:
    """The job regex the controller-down alert selects the controller's scrape target by."""
    text = (CHART_DIR / "alerts" / "govsim-rules.yaml").read_text()
    match = re.search(r'up\{job=~"([^"]+)"\}', text)
    assert match, "GovsimControllerDown no longer selects up{job=~...}"
    return match.group(1)


def test_metrics_service_selects_the_controller_port() -> None:
    """The Service selects the controller's pods and targets its named metrics port."""
    docs = manifests("default")
    service = find(docs, "Service")
    deployment = find(docs, "Deployment", CONTROLLER)
    assert selects(service["spec"]["selector"], pod_labels(deployment))
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    assert "metrics" in {p["name"] for p in controller_container(docs)["ports"]}


def test_service_monitor_scrapes_the_service_as_the_alerted_job() -> None:
    """The ServiceMonitor selects the Service, its port, and names the job the alert expects."""
    docs = manifests("eks")
    monitor = find(docs, "ServiceMonitor")
    service = find(docs, "Service")
    spec = monitor["spec"]
    assert selects(spec["selector"]["matchLabels"], service["metadata"]["labels"])
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert re.fullmatch(r"[0-9]+(ms|s|m|h)", endpoint["interval"])
    job = service["metadata"]["labels"][spec["jobLabel"]]
    assert re.fullmatch(alert_job_regex(), job), (job, alert_job_regex())
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_prometheus_rule_holds_the_alert_file_verbatim() -> None:
    """spec.groups is alerts/govsim-rules.yaml unchanged (Prometheus templates not evaluated)."""
    rule = find(manifests("eks"), "PrometheusRule")
    expected = yaml.safe_load((CHART_DIR / "alerts" / "govsim-rules.yaml").read_text())
    assert rule["spec"] == expected
    assert "{{ $labels.sweep }}" in json.dumps(rule["spec"])


def test_alert_unit_tests_are_not_shipped() -> None:
    """.helmignore keeps the promtool test file out of the chart package."""
    names = [f["name"] for f in chart().files]
    assert "alerts/govsim-rules.yaml" in names
    assert not [n for n in names if n.endswith(".test.yaml")], names


def test_dashboard_configmap_is_labelled_for_the_grafana_sidecar() -> None:
    """The dashboard JSON ships unchanged with grafana_dashboard: "1"."""
    for value_set, namespace in (("default", NAMESPACE), ("eks", "monitoring")):
        configmap = find(manifests(value_set), "ConfigMap")
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["metadata"]["namespace"] == namespace
        dashboard = (CHART_DIR / "dashboards" / "govsim-sweeps.json").read_text()
        assert json.loads(configmap["data"]["govsim-sweeps.json"]) == json.loads(dashboard)


# --- network policies ----------------------------------------------------------------------------


def test_network_policies_admit_only_the_controller_ports() -> None:
    """The controller admits its named ports only; worker pods admit nothing."""
    docs = manifests("default")
    controller_policy = find(docs, "NetworkPolicy", CONTROLLER)
    deployment = find(docs, "Deployment", CONTROLLER)
    assert selects(controller_policy["spec"]["podSelector"]["matchLabels"], pod_labels(deployment))
    ports = {p["port"] for rule in controller_policy["spec"]["ingress"] for p in rule["ports"]}
    assert ports == {p["name"] for p in controller_container(docs)["ports"]}
    worker_policy = find(docs, "NetworkPolicy", "govsim-worker")
    assert worker_policy["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in worker_policy["spec"]
    assert worker_policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "govsim",
        "app.kubernetes.io/component": "worker",
    }


def test_metrics_peers_restrict_the_metrics_port() -> None:
    """networkPolicy.metricsFrom becomes the `from` of the metrics rule only."""
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    docs = [
        d
        for path, text in render_text({"networkPolicy": {"metricsFrom": [peer]}}).items()
        if not path.endswith("NOTES.txt")
        for d in yaml.safe_load_all(text)
        if isinstance(d, dict) and d.get("kind") == "NetworkPolicy"
    ]
    policy = find(docs, "NetworkPolicy", CONTROLLER)
    metrics_rule, health_rule = policy["spec"]["ingress"]
    assert metrics_rule["from"][0] == peer
    assert len(metrics_rule["from"]) == 2  # the peer and the chart's helm test pod
    assert "from" not in health_rule


# --- NOTES.txt -----------------------------------------------------------------------------------


def test_notes_tell_how_to_submit_and_watch() -> None:
    """NOTES.txt names the namespace, the output location and the kubectl commands."""
    notes = rendered("default")["govsim/templates/NOTES.txt"]
    assert "kubectl -n govsim get sweeps" in notes
    assert "s3://govsim-results/sweeps/<sweep name>/" in notes
    assert "WARNING" in notes  # no credentials configured by default
    eks_notes = rendered("eks")["govsim/templates/NOTES.txt"]
    assert "IRSA" in eks_notes and "WARNING" not in eks_notes


def test_notes_say_where_workers_schedule() -> None:
    """Any schedulable node by default; the batch pool's label and taint with the EKS values."""
    notes = rendered("default")["govsim/templates/NOTES.txt"]
    assert "Worker pods schedule on any schedulable node" in notes
    eks_notes = rendered("eks")["govsim/templates/NOTES.txt"]
    assert (
        "Worker pods schedule on nodes labelled govsim.io/pool=batch, "
        "tolerating govsim.io/batch=true:NoSchedule." in eks_notes
    )
    assert "helm test govsim -n govsim" in notes


# --- workers run on any cluster by default -------------------------------------------------------


def test_default_workers_have_no_node_selector_or_tolerations() -> None:
    """The defaults pin workers nowhere: GOVSIM_WORKER_NODE_SELECTOR/TOLERATIONS are empty."""
    (container,) = pod_spec(find(manifests("default"), "Deployment"))["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOVSIM_WORKER_NODE_SELECTOR"] == "{}"
    assert env["GOVSIM_WORKER_TOLERATIONS"] == "[]"


# --- worker namespaces ---------------------------------------------------------------------------


def objects_in(docs: list[dict[str, Any]], namespace: str) -> list[str]:
    """KIND/NAME of the objects rendered into one namespace."""
    return sorted(ident(d) for d in docs if d["metadata"].get("namespace") == namespace)


def test_worker_namespaces_get_the_worker_account_and_policy() -> None:
    """Each controller.workerNamespaces entry gets the worker SA (IRSA included) and policy."""
    arn = EKS_VALUES["serviceAccounts"]["worker"]["roleArn"]
    values = {
        "controller": {"watchAllNamespaces": True, "workerNamespaces": ["team-a", "team-b"]},
        "serviceAccounts": {"worker": {"roleArn": arn}},
        "s3": {"credentialsSecret": "s3-keys"},
    }
    docs = [
        d
        for path, text in render_text(values).items()
        if not path.endswith("NOTES.txt")
        for d in yaml.safe_load_all(text)
        if d
    ]
    errors = [e for d in docs for e in schema_errors(d)]
    assert not errors, errors
    for namespace in ("team-a", "team-b"):
        assert objects_in(docs, namespace) == [
            "NetworkPolicy/govsim-worker",
            "ServiceAccount/govsim-worker",
        ]
        (account,) = [
            d
            for d in docs
            if d["kind"] == "ServiceAccount" and d["metadata"]["namespace"] == namespace
        ]
        assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
        assert account["automountServiceAccountToken"] is False
    notes = render_text(values)["govsim/templates/NOTES.txt"]
    assert 'Secret "s3-keys"' in notes and "it must exist in govsim, team-a, team-b" in notes


def test_worker_namespaces_need_the_cluster_wide_watch() -> None:
    """A namespace list with the namespaced watch is refused, naming both values."""
    with pytest.raises(Exception, match=r"controller\.workerNamespaces needs controller\.watchAll"):
        render_text({"controller": {"workerNamespaces": ["team-a"]}})


# --- service accounts ----------------------------------------------------------------------------


def test_service_accounts_can_be_brought_by_the_user() -> None:
    """create: false renders no ServiceAccount, and every reference uses the given names."""
    values = {
        "serviceAccounts": {
            "controller": {"create": False, "name": "ops-controller"},
            "worker": {"create": False, "name": "ops-worker"},
        }
    }
    text = render_text(values)
    docs = [
        d
        for p, t in text.items()
        if not p.endswith("NOTES.txt")
        for d in yaml.safe_load_all(t)
        if d
    ]
    accounts = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    assert accounts == ["govsim-test"]  # only the helm test's own
    deployment = find(docs, "Deployment")
    assert pod_spec(deployment)["serviceAccountName"] == "ops-controller"
    binding = find(docs, "RoleBinding", CONTROLLER)
    assert binding["subjects"][0]["name"] == "ops-controller"
    (container,) = pod_spec(deployment)["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOVSIM_WORKER_SERVICE_ACCOUNT"] == "ops-worker"
    assert (
        'no worker service account: "ops-worker" must exist' in text["govsim/templates/NOTES.txt"]
    )


# --- UID: fixed by default, assigned by the platform on OpenShift ---------------------------------


def test_openshift_values_set_no_uid_and_stay_non_root() -> None:
    """The OpenShift example sets no runAsUser/runAsGroup/fsGroup anywhere; runAsNonRoot stays."""
    docs = manifests("openshift")
    pods = [d for d in docs if d["kind"] in ("Deployment", "Pod")]
    assert len(pods) == 2
    for doc in pods:
        pod = pod_spec(doc)
        holders = [pod["securityContext"]] + [c["securityContext"] for c in pod["containers"]]
        for holder in holders:
            assert holder["runAsNonRoot"] is True, ident(doc)
            assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(holder), ident(doc)
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    (container,) = pod_spec(find(docs, "Deployment"))["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOVSIM_WORKER_RUN_AS_USER"] == "null"


# --- helm test -----------------------------------------------------------------------------------


def test_helm_test_pod_checks_the_controller_and_the_crd_with_least_privilege() -> None:
    """Hook objects: a pod that GETs /metrics through the Service and lists Sweeps, nothing more."""
    docs = manifests("default")
    hooks = [d for d in docs if (d["metadata"].get("annotations") or {}).get("helm.sh/hook")]
    assert sorted(ident_list(hooks)) == [
        "NetworkPolicy/govsim-test",
        "Pod/govsim-test",
        "Role/govsim-test",
        "RoleBinding/govsim-test",
        "ServiceAccount/govsim-test",
    ]
    for hook in hooks:
        annotations = hook["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "test"
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    role = find(docs, "Role", "govsim-test")
    assert rules_of(role) == [(("govsim.io",), ("sweeps",), ("list",))]
    binding = find(docs, "RoleBinding", "govsim-test")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "govsim-test", "namespace": NAMESPACE}
    ]
    pod = find(docs, "Pod", "govsim-test")
    spec = pod_spec(pod)
    assert spec["serviceAccountName"] == "govsim-test"
    assert spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]
    assert container["image"] == controller_container(docs)["image"]
    env = {e["name"]: e["value"] for e in container["env"]}
    service = find(docs, "Service")
    port = service["spec"]["ports"][0]["port"]
    assert env["METRICS_URL"] == (
        f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{port}/metrics"
    )
    script = container["args"][0]
    compile(script, "helm-test", "exec")  # the check is valid Python
    assert "list_namespaced_custom_object" in script and '"sweeps"' in script
    assert "govsim_controller_" in script


def test_helm_test_pod_may_reach_metrics_when_peers_are_restricted() -> None:
    """With networkPolicy.metricsFrom set, the metrics rule also admits the test pod."""
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    text = render_text({"networkPolicy": {"metricsFrom": [peer]}})
    docs = [
        d
        for p, t in text.items()
        if not p.endswith("NOTES.txt")
        for d in yaml.safe_load_all(t)
        if d
    ]
    policy = find(docs, "NetworkPolicy", CONTROLLER)
    test_pod = find(docs, "Pod", "govsim-test")
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers[0] == peer
    assert any(
        "podSelector" in p and selects(p["podSelector"]["matchLabels"], pod_labels(test_pod))
        for p in peers
    )

"""Offline checks of Kubernetes manifests: render the chart, validate schemas and enums, checkov.

No API server runs here, so a manifest is checked in three ways before any cluster sees it:
kubernetes-validate (the API's OpenAPI schema of the oldest supported version, strict: unknown
fields are errors), a table of enum fields (the schemas do not carry enums), and the structural
facts the tests assert on. The chart is rendered in-process by helm-python-sdk for a few value
sets (defaults, EKS-like, cluster-wide, the kind end-to-end values, the OpenShift example).
Renders are cached: many tests read the same output.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from kit.paths import REPO
from kit.require import find_tool, require_or_skip

CHART_DIR = REPO / "charts" / "govsim"
E2E_DIR = REPO / "scripts" / "e2e"
KIND_VALUES = E2E_DIR / "values-kind.yaml"
OPENSHIFT_VALUES = CHART_DIR / "examples" / "values-openshift.yaml"
KUBE_VERSION = "1.31.0"
RELEASE = "govsim"
NAMESPACE = "govsim"

# Value sets the chart is rendered with. "eks" has the shape of infra/terraform's helm_values
# output plus the monitoring add-ons an EKS install turns on.
ACCOUNT = "123456789012"
EKS_VALUES: dict[str, Any] = {
    "image": {"repository": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/govsim", "tag": "0.4.0"},
    "s3": {
        "bucket": f"govsim-results-{ACCOUNT}-us-east-1",
        "prefix": "sweeps",
        "region": "us-east-1",
    },
    "serviceAccounts": {
        "controller": {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/govsim-controller"},
        "worker": {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/govsim-worker"},
    },
    "worker": {
        "nodeSelector": {"govsim.io/pool": "batch"},
        "tolerations": [
            {"key": "govsim.io/batch", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        ],
    },
    "pushgateway": {"url": "http://prometheus-pushgateway.monitoring:9091"},
    "kueue": {"queueName": "batch"},
    "controller": {"nodeSelector": {"govsim.io/pool": "system"}},
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    },
    "dashboards": {"namespace": "monitoring"},
}
CLUSTER_VALUES: dict[str, Any] = {
    "controller": {"watchAllNamespaces": True, "workerNamespaces": ["team-a", "team-b"]},
    "image": {"digest": "sha256:" + "ab" * 32},
    "networkPolicy": {"enabled": False},
    "dashboards": {"enabled": False},
}


def value_sets() -> dict[str, dict[str, Any]]:
    """Name -> values the chart is rendered with (the kind set is the end-to-end values file)."""
    sets: dict[str, dict[str, Any]] = {"default": {}, "eks": EKS_VALUES, "cluster": CLUSTER_VALUES}
    sets["openshift"] = yaml.safe_load(OPENSHIFT_VALUES.read_text())
    if KIND_VALUES.is_file():
        sets["kind"] = yaml.safe_load(KIND_VALUES.read_text())
    return sets


VALUE_SET_NAMES = ("default", "eks", "cluster", "kind", "openshift")


def helm() -> Any:
    """The helm_python module, or skip (fail in CI) when helm-python-sdk is not installed."""
    try:
        import helm_python
    except ImportError:
        require_or_skip("helm-python-sdk is not installed (pip install -e '.[test]')")
    return helm_python


@functools.cache
def chart() -> Any:
    """The chart loaded once by helm-python-sdk."""
    return helm().Chart.load(str(CHART_DIR))


def render_text(values: Mapping[str, Any]) -> dict[str, str]:
    """Template path -> rendered text (empty renders dropped) for the release govsim/govsim."""
    rendered = chart().render(dict(values), name=RELEASE, namespace=NAMESPACE)
    return {path: text for path, text in rendered.items() if text.strip()}


@functools.cache
def _render_set(name: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(render_text(value_sets()[name]).items()))


def rendered(name: str) -> dict[str, str]:
    """Template path -> text for a named value set (cached)."""
    if name not in value_sets():
        require_or_skip(f"value set {name!r} is missing ({KIND_VALUES} not written yet?)")
    return dict(_render_set(name))


def manifests(name: str) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders for a value set (NOTES.txt excluded)."""
    docs: list[dict[str, Any]] = []
    for path, text in rendered(name).items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def crd_manifests() -> list[dict[str, Any]]:
    """The objects under the chart's crds/ (installed by helm before the templates)."""
    docs: list[dict[str, Any]] = []
    for path in sorted((CHART_DIR / "crds").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of a kind (and name); fails listing what there is."""
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {ident_list(docs)}"
    return found[0]


def ident(doc: Mapping[str, Any]) -> str:
    """KIND/NAME of an object."""
    return f"{doc['kind']}/{doc['metadata']['name']}"


def ident_list(docs: list[dict[str, Any]]) -> list[str]:
    """KIND/NAME of every object."""
    return [ident(d) for d in docs]


# --- schema and enum validation ------------------------------------------------------------------

# Kinds kubernetes-validate has no schema for; the tests check these objects field by field.
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("govsim.io/v1alpha1", "Sweep"),
}


def schema_errors(doc: Mapping[str, Any]) -> list[str]:
    """kubernetes-validate (strict, oldest supported version) plus enum checks; [] when valid."""
    import kubernetes_validate

    errors: list[str] = []
    try:
        kubernetes_validate.validate(dict(doc), KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        errors.append(f"{ident(doc)}: {where}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError:
        errors.append(f"{ident(doc)}: no Kubernetes {KUBE_VERSION} schema for {doc['apiVersion']}")
    return errors + enum_errors(doc)


# Enum fields, matched on the end of a field's path (list positions left out). The values are
# those of the Kubernetes 1.31 API reference.
ENUMS: dict[tuple[str, ...], frozenset[str]] = {
    ("imagePullPolicy",): frozenset({"Always", "IfNotPresent", "Never"}),
    ("restartPolicy",): frozenset({"Always", "OnFailure", "Never"}),
    ("ports", "protocol"): frozenset({"TCP", "UDP", "SCTP"}),
    ("strategy", "type"): frozenset({"Recreate", "RollingUpdate"}),
    ("seccompProfile", "type"): frozenset({"RuntimeDefault", "Localhost", "Unconfined"}),
    ("tolerations", "operator"): frozenset({"Equal", "Exists"}),
    ("tolerations", "effect"): frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"}),
    ("policyTypes",): frozenset({"Ingress", "Egress"}),
    ("completionMode",): frozenset({"NonIndexed", "Indexed"}),
    ("podReplacementPolicy",): frozenset({"TerminatingOrFailed", "Failed"}),
    ("podFailurePolicy", "rules", "action"): frozenset({"FailJob", "FailIndex", "Ignore", "Count"}),
    ("onExitCodes", "operator"): frozenset({"In", "NotIn"}),
    ("onPodConditions", "status"): frozenset({"True", "False", "Unknown"}),
    ("onPodConditions", "type"): frozenset(
        {"DisruptionTarget", "PodScheduled", "Initialized", "ContainersReady", "Ready"}
    ),
    ("capabilities", "drop"): frozenset({"ALL", "NET_RAW", "NET_ADMIN", "SYS_ADMIN"}),
    ("terminationMessagePolicy",): frozenset({"File", "FallbackToLogsOnError"}),
    ("httpGet", "scheme"): frozenset({"HTTP", "HTTPS"}),
    ("emptyDir", "medium"): frozenset({"", "Memory"}),
    ("rules", "verbs"): frozenset(
        {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    ),
    ("roleRef", "kind"): frozenset({"Role", "ClusterRole"}),
    ("subjects", "kind"): frozenset({"ServiceAccount", "User", "Group"}),
    ("scope",): frozenset({"Namespaced", "Cluster"}),
}
SERVICE_TYPES = frozenset({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path of keys, value) for every scalar in a document; list items share their list's path."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, path)
    else:
        yield path, node


def enum_errors(doc: Mapping[str, Any]) -> list[str]:
    """Enum fields whose value is not one the API accepts."""
    errors = []
    if doc.get("kind") == "Service":
        kind_type = doc.get("spec", {}).get("type", "ClusterIP")
        if kind_type not in SERVICE_TYPES:
            errors.append(f"{ident(doc)}: spec.type: {kind_type!r} not in {sorted(SERVICE_TYPES)}")
    skip_subtree = ("openAPIV3Schema",)  # a CRD's schema has its own vocabulary
    for path, value in walk(doc):
        if any(part in skip_subtree for part in path):
            continue
        for suffix, allowed in ENUMS.items():
            if path[-len(suffix) :] == suffix and value not in allowed:
                errors.append(f"{ident(doc)}: {'.'.join(path)}: {value!r} not in {sorted(allowed)}")
    return errors


# --- pods ----------------------------------------------------------------------------------------


def pod_spec(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of a Deployment, Job or Pod."""
    if doc["kind"] == "Pod":
        return dict(doc["spec"])
    return dict(doc["spec"]["template"]["spec"])


def pod_labels(doc: Mapping[str, Any]) -> dict[str, str]:
    """The labels of a workload's pods."""
    if doc["kind"] == "Pod":
        return dict(doc["metadata"].get("labels", {}))
    return dict(doc["spec"]["template"]["metadata"].get("labels", {}))


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """True when every matchLabels entry of the selector is among the labels."""
    return all(labels.get(key) == value for key, value in selector.items())


# --- tools ---------------------------------------------------------------------------------------


def venv_tool(name: str) -> str:
    """A console script beside this interpreter or on PATH, or skip (fail in CI)."""
    return find_tool(name)


def sweepctl_render(spec: Path, *args: str) -> list[dict[str, Any]]:
    """The objects `sweepctl render SPEC ARGS` prints (skips when the command does not exist)."""
    sweepctl = venv_tool("sweepctl")
    done = subprocess.run(
        [sweepctl, "render", str(spec), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if done.returncode != 0 and "invalid choice: 'render'" in done.stderr:
        require_or_skip(
            "`sweepctl render` does not exist yet (sweep_controller/commands/render.py)"
        )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def write_manifests(docs: list[dict[str, Any]], directory: Path) -> list[Path]:
    """Write each object to DIRECTORY/KIND-NAME.yaml (KIND-NAMESPACE-NAME.yaml outside the
    release namespace) for tools that read files."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        where = f"{namespace}-" if namespace not in (None, NAMESPACE) else ""
        path = directory / f"{doc['kind'].lower()}-{where}{doc['metadata']['name']}.yaml"
        assert not path.exists(), f"two objects would share {path.name}"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths

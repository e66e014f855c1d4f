"""Helpers for the Kubernetes tests: Sweep resources as the API returns them, Job statuses as the
Job controller writes them, a merge-patch applier, and the fake API server's resources."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import yaml
from kubernetes import client as k8s

from kit.paths import REPO
from sweep_controller.k8s.api import KubeApi

UID = "6f1c2e4a-0000-4000-8000-000000000001"
NAMESPACE = "research"


# The tests count tasks of the default example: pin its size (16 points x 5 replicates = 80 runs,
# 10 per task = 8 tasks) so the user-facing example may grow without changing them.
PINNED_SIZE: dict[str, dict[str, int]] = {
    "whale-vs-conformity": {"replicates": 5, "runsPerTask": 10},
}


def example(name: str = "whale-vs-conformity") -> dict[str, Any]:
    """An example Sweep document from examples/, at the size the tests count on."""
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    data["spec"].update(PINNED_SIZE.get(name, {}))
    return data


def resource(
    name: str = "whale-vs-conformity",
    *,
    spec: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    uid: str = UID,
    generation: int = 1,
    deleting: bool = False,
) -> dict[str, Any]:
    """A Sweep custom resource as read from the API (server metadata included)."""
    doc = example(name)
    if spec is not None:
        doc["spec"] = {**doc["spec"], **spec}
    doc["metadata"] = {
        "name": doc["metadata"]["name"],
        "namespace": NAMESPACE,
        "uid": uid,
        "generation": generation,
        "resourceVersion": "1001",
        "creationTimestamp": "2025-01-01T00:00:00Z",
    }
    if deleting:
        doc["metadata"]["deletionTimestamp"] = "2025-01-02T00:00:00Z"
    if status is not None:
        doc["status"] = copy.deepcopy(dict(status))
    return doc


def with_job_status(job: Mapping[str, Any], **status: Any) -> dict[str, Any]:
    """A built Job with a status block as the Job controller would write it."""
    out = copy.deepcopy(dict(job))
    out["status"] = status
    return out


def condition(kind: str, reason: str = "", message: str = "", at: str = "2025-01-01T01:00:00Z"):
    """A Job condition that is True."""
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": at,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what the API server does with a merge-patch body)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def declare(kmock: Any) -> None:
    """The API resources the operator discovers."""
    info = kmock.ResourceInfo
    kmock.resources["govsim.io/v1alpha1/sweeps"] = info(
        kind="Sweep",
        singular="sweep",
        namespaced=True,
        verbs=["get", "list", "watch", "patch"],
        subresources=["status"],
    )
    kmock.resources["batch/v1/jobs"] = info(
        kind="Job", singular="job", namespaced=True, verbs=["get", "list", "watch", "create"]
    )
    kmock.resources["v1/configmaps"] = info(
        kind="ConfigMap", singular="configmap", namespaced=True, verbs=["get", "create"]
    )
    kmock.resources["v1/events"] = info(
        kind="Event", singular="event", namespaced=True, verbs=["create"]
    )
    # Present in every cluster's discovery; kopf waits for them even with scanning disabled.
    kmock.resources["v1/namespaces"] = info(
        kind="Namespace", singular="namespace", namespaced=False
    )
    kmock.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = info(
        kind="CustomResourceDefinition", singular="customresourcedefinition", namespaced=False
    )


def live(kmock: Any, kind: str, name: str) -> dict[str, Any] | None:
    for (res, ns, obj_name), obj in kmock.objects.items():
        plural = f"{res.group}/{res.version}/{res.plural}".lstrip("/")
        if plural == kind and ns == NAMESPACE and obj_name == name and not obj.deleted:
            return dict(obj.raw)
    return None


T = TypeVar("T")


def api_for(kmock: Any) -> KubeApi:
    """The controller's API seam bound to the fake server."""
    return KubeApi(k8s.ApiClient(k8s.Configuration(host=str(kmock.url).rstrip("/"))))


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call in a thread (the fake server needs the event loop)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def requests(kmock: Any, method: str, pattern: str) -> list[Any]:
    """Requests the fake server received with this method whose path matches ``pattern``."""
    return [
        r
        for r in list(kmock)
        if r.method.value == method and re.fullmatch(pattern, r.url.path) is not None
    ]


def strict_jsonschema(node: Any, *, root: bool = True) -> Any:
    """A CRD's openAPIV3Schema as Draft 4 JSON Schema that rejects what the API server would prune.

    Every object with ``properties`` gets ``additionalProperties: false`` (root metadata excepted),
    ``nullable`` becomes a ``null`` type. CEL rules (x-kubernetes-validations) are not evaluated.
    """
    if not isinstance(node, Mapping):
        return node
    out = {k: strict_jsonschema(v, root=False) for k, v in node.items() if k != "properties"}
    if "properties" in node:
        out["properties"] = {
            name: (
                copy.deepcopy(child)
                if root and name == "metadata"
                else strict_jsonschema(child, root=False)
            )
            for name, child in node["properties"].items()
        }
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), Mapping):
        out["additionalProperties"] = strict_jsonschema(node["additionalProperties"], root=False)
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
        out.pop("nullable")
    return out

"""Kubernetes objects of a sweep: the ConfigMap with its resolved spec and one Indexed Job.

Pure builders (plain dicts in, plain dicts out; no API calls) shared by the controller
(``sweep_controller.k8s.reconcile``) and ``sweepctl render``, so what a user renders is exactly what
the controller creates. What the cluster decides rather than the sweep (worker image, service
account, default S3 location, Pushgateway, scheduling, limits) comes in a
``sweep_controller.k8s.config.ControllerConfig``.

Semantics worth knowing:

* Job index ``i`` runs task ``i`` of the sweep (``JOB_COMPLETION_INDEX``); a finished task is
  skipped on retry, so a re-created Job only runs what is missing.
* ``podFailurePolicy``: pod disruptions (spot reclaim, eviction, preemption: condition
  ``DisruptionTarget``) are ignored and retried for free; ``ExitCode.PERMANENT`` (2: bad spec,
  index out of range) fails the index at once; any other failure, including SIGTERM's 143 and
  the retryable 75, counts against ``backoffLimitPerIndex``. ``podReplacementPolicy: Failed``
  starts a replacement only once the old pod has stopped, so two pods never write one task at
  once.
* A ``file://`` output means nothing inside a pod (its filesystem vanishes): the ConfigMap's spec
  gets the cluster's default ``s3://BUCKET/PREFIX`` instead, and without one the sweep is refused.
* Kueue: with a queue name (``spec.queueName``, else ``GOVSIM_DEFAULT_QUEUE``) the Job carries the
  label ``kueue.x-k8s.io/queue-name`` and is created suspended; Kueue un-suspends it when the
  queue admits it, and until then the sweep stays Pending.
* One Job takes at most ``MAX_COMPLETIONS`` tasks; larger sweeps are refused (raise
  ``runsPerTask``).
* An adaptive sweep (``method: optuna``) has one Indexed Job per round, ``<sweep>-r<k>``: index
  ``i`` of round ``k``'s Job runs task ``k * tasks_per_round + i`` (``sweepctl worker --round
  k``), and the Job carries the label ``govsim.io/round``. The controller creates round ``k``'s Job
  once round ``k - 1``'s has finished and round ``k``'s points are stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sweep_controller.env import (
    ADDRESSING_ENV,
    JOB_UID_ENV,
    JOB_UID_LABEL,
    NAMESPACE_ENV,
    PARALLELISM_ENV,
    PUSHGATEWAY_ENV,
)
from sweep_controller.errors import SpecError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.config import (
    APP_LABEL,
    COMPONENT_LABEL,
    MANAGED_BY_LABEL,
    QUEUE_LABEL,
    SWEEP_LABEL,
    ControllerConfig,
)
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import API_VERSION, KIND, Method, Sweep, spec_hash

MAX_COMPLETIONS = 100_000
MAX_PARALLELISM = 10_000
CONTAINER_NAME = "worker"
SPEC_MOUNT_DIR = "/etc/govsim"
SPEC_KEY = "sweep.yaml"
SPEC_PATH = f"{SPEC_MOUNT_DIR}/{SPEC_KEY}"
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

SPEC_HASH_ANNOTATION = "govsim.io/spec-hash"
ROUND_LABEL = "govsim.io/round"
"""The round of an adaptive sweep's Job (and its pods)."""


@dataclass(frozen=True)
class Owner:
    """The Sweep that owns the objects (its ``metadata.name`` and ``metadata.uid``)."""

    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """An ownerReference: deleting the Sweep deletes the object (garbage collection)."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


class SweepTooLarge(SpecError):
    """The sweep has more tasks than one Indexed Job should run."""


def job_name(sweep: Sweep, round_index: int = 0) -> str:
    """Name of the sweep's Job: ``<sweep>``, or ``<sweep>-r<k>`` for round k of an adaptive one."""
    if sweep.spec.method is Method.OPTUNA:
        return f"{sweep.name}-r{round_index}"
    return sweep.name


def configmap_name(sweep_name: str) -> str:
    """Name of the ConfigMap holding a sweep's resolved spec."""
    return f"{sweep_name}-spec"


def resolve_output_uri(sweep: Sweep, config: ControllerConfig) -> str:
    """The output URI pods write to: the sweep's ``s3://``, or the default for ``file://``."""
    uri = sweep.spec.output.uri
    if uri.startswith("s3://"):
        return uri
    default = config.default_output_uri
    if default is None:
        raise SpecError(
            f"spec.output.uri: {uri!r} is a local path, which pods cannot share; use "
            f"s3://BUCKET/PREFIX, or set a default bucket ({config.ENV['s3_bucket']})"
        )
    return default


def job_results_uri(sweep: Sweep, config: ControllerConfig) -> str:
    """Where a sweep's results land: ``<output uri>/<sweep name>/``."""
    return f"{resolve_output_uri(sweep, config).rstrip('/')}/{sweep.name}/"


def check_job_size(sweep: Sweep) -> None:
    """Raise ``SweepTooLarge`` when the sweep needs more than ``MAX_COMPLETIONS`` Job indexes."""
    spec = sweep.spec
    if spec.tasks_per_round > MAX_COMPLETIONS:
        runs = spec.n_runs // (spec.rounds or 1)
        needed = math.ceil(runs / MAX_COMPLETIONS)
        what = "tasks a round" if spec.method is Method.OPTUNA else "tasks"
        raise SweepTooLarge(
            f"spec.runsPerTask: {spec.runs_per_task} gives {spec.tasks_per_round} {what}; one "
            f"Job runs at most {MAX_COMPLETIONS}: set runsPerTask to at least {needed}"
        )


def resolved_spec(sweep: Sweep, config: ControllerConfig) -> dict[str, Any]:
    """The Sweep document pods read: as written, with the output URI resolved for the cluster."""
    spec = sweep.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    spec["output"] = {"uri": resolve_output_uri(sweep, config)}
    metadata: dict[str, Any] = {"name": sweep.name}
    if sweep.metadata.namespace:
        metadata["namespace"] = sweep.metadata.namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def resolved_spec_yaml(sweep: Sweep, config: ControllerConfig) -> str:
    """``resolved_spec`` as YAML, checked to parse back into the same sweep."""
    document = resolved_spec(sweep, config)
    text = yaml.safe_dump(document, sort_keys=False)
    parse_sweep(yaml.safe_load(text), f"ConfigMap {configmap_name(sweep.name)}")
    return text


def labels(sweep: Sweep) -> dict[str, str]:
    """Labels on every object of a sweep; ``govsim.io/sweep`` routes Job events to the Sweep."""
    return {
        APP_LABEL: "govsim",
        COMPONENT_LABEL: "worker",
        MANAGED_BY_LABEL: "govsim-controller",
        SWEEP_LABEL: sweep.name,
    }


def _metadata(
    name: str, sweep: Sweep, owner: Owner | None, extra_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if sweep.metadata.namespace:
        meta["namespace"] = sweep.metadata.namespace
    meta["labels"] = {**labels(sweep), **(extra_labels or {})}
    meta["annotations"] = {SPEC_HASH_ANNOTATION: spec_hash(sweep)}
    if owner is not None:
        meta["ownerReferences"] = [owner.reference()]
    return meta


def build_configmap(
    sweep: Sweep, config: ControllerConfig, owner: Owner | None = None
) -> dict[str, Any]:
    """The ConfigMap ``<sweep>-spec`` with key ``sweep.yaml``: the resolved spec."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(configmap_name(sweep.name), sweep, owner),
        "data": {SPEC_KEY: resolved_spec_yaml(sweep, config)},
    }


def queue_name(sweep: Sweep, config: ControllerConfig) -> str | None:
    """The Kueue LocalQueue of the sweep's Job: the spec's, else the cluster default."""
    return sweep.spec.queue_name or config.default_queue


SINGLE_THREADED_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread counts of the numerical libraries, set to 1 in worker pods."""


def worker_env(config: ControllerConfig, *, parallelism: int = 1) -> list[dict[str, Any]]:
    """Environment of the worker container (optional entries only when configured)."""
    env: list[dict[str, Any]] = []
    if config.pushgateway_url:
        env.append({"name": PUSHGATEWAY_ENV, "value": config.pushgateway_url})
        # The pod's namespace keys its metrics: same-named sweeps of two namespaces stay apart.
        namespace_ref = {"fieldRef": {"fieldPath": "metadata.namespace"}}
        env.append({"name": NAMESPACE_ENV, "valueFrom": namespace_ref})
        # Metric slots: tried from index mod parallelism; totals carried within one Job.
        env.append({"name": PARALLELISM_ENV, "value": str(parallelism)})
        job_uid_ref = {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_UID_LABEL}']"}}
        env.append({"name": JOB_UID_ENV, "valueFrom": job_uid_ref})
    if config.s3_endpoint:
        env.append({"name": "AWS_ENDPOINT_URL_S3", "value": config.s3_endpoint})
    env.append({"name": "AWS_REGION", "value": config.s3_region})
    env.append({"name": "AWS_DEFAULT_REGION", "value": config.s3_region})
    if config.s3_addressing:
        env.append({"name": ADDRESSING_ENV, "value": config.s3_addressing})
    if config.credentials_secret:
        env += [
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": config.credentials_secret, "key": key}},
            }
            for key in CREDENTIAL_KEYS
        ]
    env += [
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
    ]
    # One process on one CPU (the worker's limit): numpy's BLAS would otherwise start a thread
    # per core of the node, which the CPU limit throttles (docs/kubernetes.md, "Worker threads").
    env += [{"name": name, "value": "1"} for name in SINGLE_THREADED_ENV]
    return env


def _identity(config: ControllerConfig, *, fs_group: bool) -> dict[str, Any]:
    """runAsUser/runAsGroup (and fsGroup) from ``config.run_as_user``; none when the platform
    assigns the UID (runAsNonRoot still holds: the image's USER is numeric and not root)."""
    uid = config.run_as_user
    if uid is None:
        return {}
    ids = {"runAsUser": uid, "runAsGroup": uid}
    return ids | {"fsGroup": uid} if fs_group else ids


def _pod_spec(
    sweep: Sweep, config: ControllerConfig, round_index: int, *, parallelism: int
) -> dict[str, Any]:
    args = ["worker", SPEC_PATH]
    if sweep.spec.method is Method.OPTUNA:
        args += ["--round", str(round_index)]
    container = {
        "name": CONTAINER_NAME,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["sweepctl"],
        "args": args,
        "env": worker_env(config, parallelism=parallelism),
        "resources": json.loads(json.dumps(config.worker_resources)),
        "securityContext": {
            "runAsNonRoot": True,
            **_identity(config, fs_group=False),
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "spec", "mountPath": SPEC_MOUNT_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod: dict[str, Any] = {
        "serviceAccountName": config.worker_service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            **_identity(config, fs_group=True),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "spec", "configMap": {"name": configmap_name(sweep.name)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return pod | _pod_placement(config)


def _pod_placement(config: ControllerConfig) -> dict[str, Any]:
    """Optional pod fields, present only when configured (an empty nodeSelector: any node)."""
    optional: dict[str, Any] = {
        "nodeSelector": dict(config.node_selector),
        "tolerations": [dict(t) for t in config.tolerations],
        "affinity": json.loads(json.dumps(config.affinity)),
        "priorityClassName": config.priority_class_name,
        "imagePullSecrets": [{"name": name} for name in config.image_pull_secrets],
    }
    return {key: value for key, value in optional.items() if value}


def build_job(
    sweep: Sweep, config: ControllerConfig, owner: Owner | None = None, *, round_index: int = 0
) -> dict[str, Any]:
    """The Indexed Job ``<sweep>``: one index per task (raises ``SweepTooLarge``, ``SpecError``).

    For an adaptive sweep, the Job ``<sweep>-r<k>`` of round ``round_index``, one index per task
    of the round.
    """
    check_job_size(sweep)
    resolve_output_uri(sweep, config)  # refuse a file:// output without a default bucket
    spec = sweep.spec
    n_tasks = spec.tasks_per_round
    adaptive = spec.method is Method.OPTUNA
    if adaptive and not 0 <= round_index < (spec.rounds or 0):
        raise ValueError(f"round {round_index} is outside [0, {(spec.rounds or 0) - 1}]")
    round_labels = {ROUND_LABEL: str(round_index)} if adaptive else {}
    queue = queue_name(sweep, config)
    parallelism = min(spec.parallelism or config.default_parallelism, n_tasks, MAX_PARALLELISM)
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": n_tasks,
        "parallelism": parallelism,
        "backoffLimitPerIndex": spec.backoff_limit_per_index,
    }
    if spec.max_failed_indexes is not None:
        job_spec["maxFailedIndexes"] = min(spec.max_failed_indexes, n_tasks)
    job_spec |= {
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
                {
                    "action": "FailIndex",
                    "onExitCodes": {
                        "containerName": CONTAINER_NAME,
                        "operator": "In",
                        "values": [int(ExitCode.PERMANENT)],
                    },
                },
            ]
        },
        "podReplacementPolicy": "Failed",
        "ttlSecondsAfterFinished": config.ttl_seconds_after_finished,
    }
    if config.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = config.active_deadline_seconds
    if queue:
        job_spec["suspend"] = True
    template_meta: dict[str, Any] = {
        "labels": {**config.pod_labels, **labels(sweep), **round_labels}
    }
    if config.pod_annotations:
        template_meta["annotations"] = dict(config.pod_annotations)
    pod_spec = _pod_spec(sweep, config, round_index, parallelism=parallelism)
    job_spec["template"] = {"metadata": template_meta, "spec": pod_spec}
    extra = {QUEUE_LABEL: queue} if queue else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(job_name(sweep, round_index), sweep, owner, extra | round_labels),
        "spec": job_spec,
    }


def with_namespace(sweep: Sweep, namespace: str | None) -> Sweep:
    """The sweep placed in ``namespace`` (unchanged when None); the namespace is validated."""
    if namespace is None:
        return sweep
    data = sweep.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["metadata"]["namespace"] = namespace
    return parse_sweep(data, "--namespace")


__all__ = [
    "APP_LABEL",
    "COMPONENT_LABEL",
    "MANAGED_BY_LABEL",
    "MAX_COMPLETIONS",
    "QUEUE_LABEL",
    "ROUND_LABEL",
    "SINGLE_THREADED_ENV",
    "SWEEP_LABEL",
    "Owner",
    "SweepTooLarge",
    "build_configmap",
    "build_job",
    "check_job_size",
    "configmap_name",
    "job_name",
    "job_results_uri",
    "labels",
    "resolve_output_uri",
    "resolved_spec",
    "with_namespace",
    "worker_env",
]

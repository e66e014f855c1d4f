"""Kubernetes objects of a sweep: the ConfigMap with its resolved spec and one Indexed Job.

Pure builders (plain dicts in, plain dicts out; no API calls) shared by the controller
(``sweep_controller.k8s.reconcile``) and ``sweepctl render``, so what a user renders is exactly what
the controller creates. ``ControllerConfig`` carries what the cluster decides rather than the
sweep: worker image, service account, default S3 location, Pushgateway, scheduling, limits.

Semantics worth knowing:

* Job index ``i`` runs task ``i`` of the sweep (``JOB_COMPLETION_INDEX``); a finished task is
  skipped on retry, so a re-created Job only runs what is missing.
* ``podFailurePolicy``: pod disruptions (spot reclaim, eviction, preemption: condition
  ``DisruptionTarget``) are ignored and retried for free; exit code 2 (bad spec, index out of
  range) fails the index at once; any other failure, including SIGTERM's 143 and the retryable
  75, counts against ``backoffLimitPerIndex``. ``podReplacementPolicy: Failed`` starts a
  replacement only once the old pod has stopped, so two pods never write one task at once.
* A ``file://`` output means nothing inside a pod (its filesystem vanishes): the ConfigMap's spec
  gets the cluster's default ``s3://BUCKET/PREFIX`` instead, and without one the sweep is refused.
* Kueue: with a queue name (``spec.queueName``, else ``GOVSIM_DEFAULT_QUEUE``) the Job carries the
  label ``kueue.x-k8s.io/queue-name`` and is created suspended; Kueue un-suspends it when the
  queue admits it, and until then the sweep stays Pending.
* One Job takes at most ``MAX_COMPLETIONS`` tasks; larger sweeps are refused (raise
  ``pointsPerTask``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import yaml

import simulator
from sweep_controller.env import ADDRESSING_ENV, PUSHGATEWAY_ENV
from sweep_controller.errors import SpecError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import API_VERSION, KIND, OUTPUT_URI_PATTERN, Sweep, spec_hash

MAX_COMPLETIONS = 100_000
MAX_PARALLELISM = 10_000
CONTAINER_NAME = "worker"
SPEC_MOUNT_DIR = "/etc/govsim"
SPEC_KEY = "sweep.yaml"
SPEC_PATH = f"{SPEC_MOUNT_DIR}/{SPEC_KEY}"
WORKER_UID = 10001
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SWEEP_LABEL = "govsim.io/sweep"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
SPEC_HASH_ANNOTATION = "govsim.io/spec-hash"

DEFAULT_NODE_SELECTOR: Mapping[str, str] = {"govsim.io/pool": "batch"}
DEFAULT_TOLERATIONS: tuple[Mapping[str, str], ...] = (
    {"key": "govsim.io/batch", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
)
DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "1", "memory": "1Gi"},
    "limits": {"cpu": "1", "memory": "2Gi"},
}


@dataclass(frozen=True)
class ControllerConfig:
    """What the cluster decides for every sweep; read from ``GOVSIM_*`` variables (``ENV``)."""

    image: str = f"govsim:{simulator.__version__}"
    image_pull_policy: str = "IfNotPresent"
    worker_service_account: str = "govsim-worker"
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_addressing: str | None = None
    credentials_secret: str | None = None
    pushgateway_url: str | None = None
    worker_resources: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    node_selector: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_NODE_SELECTOR))
    tolerations: tuple[Mapping[str, Any], ...] = DEFAULT_TOLERATIONS
    default_parallelism: int = 10
    ttl_seconds_after_finished: int = 86_400
    default_queue: str | None = None
    pushgateway_cleanup_grace_seconds: int = 600

    ENV: ClassVar[Mapping[str, str]] = {
        "image": "GOVSIM_WORKER_IMAGE",
        "image_pull_policy": "GOVSIM_WORKER_IMAGE_PULL_POLICY",
        "worker_service_account": "GOVSIM_WORKER_SERVICE_ACCOUNT",
        "s3_bucket": "GOVSIM_S3_BUCKET",
        "s3_prefix": "GOVSIM_S3_PREFIX",
        "s3_endpoint": "GOVSIM_S3_ENDPOINT",
        "s3_region": "GOVSIM_S3_REGION",
        "s3_addressing": "GOVSIM_S3_ADDRESSING",
        "credentials_secret": "GOVSIM_S3_CREDENTIALS_SECRET",
        "pushgateway_url": "GOVSIM_PUSHGATEWAY_URL",
        "worker_resources": "GOVSIM_WORKER_RESOURCES",
        "node_selector": "GOVSIM_WORKER_NODE_SELECTOR",
        "tolerations": "GOVSIM_WORKER_TOLERATIONS",
        "default_parallelism": "GOVSIM_DEFAULT_PARALLELISM",
        "ttl_seconds_after_finished": "GOVSIM_JOB_TTL_SECONDS",
        "default_queue": "GOVSIM_DEFAULT_QUEUE",
        "pushgateway_cleanup_grace_seconds": "GOVSIM_PUSHGATEWAY_CLEANUP_GRACE_SECONDS",
    }
    """Environment variable of each field. JSON for resources, node selector and tolerations."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> ControllerConfig:
        """The config from ``environ`` (empty values are unset), then ``overrides`` (not None)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = cls.ENV[f.name]
            raw = environ.get(name, "").strip()
            if raw:
                values[f.name] = _parse(name, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Raise ``SpecError`` naming the variable of the first invalid value."""
        env = self.ENV
        if not self.image.strip():
            raise SpecError(f"{env['image']}: empty; set the worker image")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise SpecError(
                f"{env['image_pull_policy']}: {self.image_pull_policy!r} is not one of "
                "Always, IfNotPresent, Never"
            )
        for name in ("default_parallelism", "pushgateway_cleanup_grace_seconds"):
            if getattr(self, name) < (1 if name == "default_parallelism" else 0):
                raise SpecError(f"{env[name]}: {getattr(self, name)} is outside [1, inf)")
        if self.ttl_seconds_after_finished < 0:
            raise SpecError(f"{env['ttl_seconds_after_finished']}: must be >= 0")
        if self.s3_addressing not in (None, "auto", "path", "virtual"):
            raise SpecError(
                f"{env['s3_addressing']}: {self.s3_addressing!r} is not one of auto, path, virtual"
            )
        uri = self.default_output_uri
        if uri is not None and not re.fullmatch(OUTPUT_URI_PATTERN, uri):
            raise SpecError(
                f"{env['s3_bucket']}: {self.s3_bucket!r} (prefix {self.s3_prefix!r}) does not make "
                "a valid s3://BUCKET/PREFIX: a bucket is 3-63 lowercase letters, digits, '.', '-'"
            )

    @property
    def default_output_uri(self) -> str | None:
        """``s3://BUCKET/PREFIX`` that replaces a sweep's ``file://`` output, or None."""
        if not self.s3_bucket:
            return None
        prefix = self.s3_prefix.strip("/")
        return f"s3://{self.s3_bucket}" + (f"/{prefix}" if prefix else "")


_INT_FIELDS = frozenset(
    {"default_parallelism", "ttl_seconds_after_finished", "pushgateway_cleanup_grace_seconds"}
)
_JSON_FIELDS = {"worker_resources": dict, "node_selector": dict, "tolerations": list}


def _parse(env_name: str, raw: str, field_name: str) -> Any:
    if field_name in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            raise SpecError(f"{env_name}: {raw!r} is not an integer") from None
    if field_name in _JSON_FIELDS:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"{env_name}: not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        kind = _JSON_FIELDS[field_name]
        if not isinstance(value, kind):
            want = "object" if kind is dict else "list"
            raise SpecError(f"{env_name}: must be a JSON {want}, got {type(value).__name__}")
        return tuple(value) if kind is list else value
    return raw


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


def results_uri(sweep: Sweep, config: ControllerConfig) -> str:
    """Where a sweep's results land: ``<output uri>/<sweep name>/``."""
    return f"{resolve_output_uri(sweep, config).rstrip('/')}/{sweep.name}/"


def check_size(sweep: Sweep) -> None:
    """Raise ``SweepTooLarge`` when the sweep needs more than ``MAX_COMPLETIONS`` Job indexes."""
    spec = sweep.spec
    if spec.n_tasks > MAX_COMPLETIONS:
        needed = math.ceil(spec.n_runs / MAX_COMPLETIONS)
        raise SweepTooLarge(
            f"spec.pointsPerTask: {spec.runs_per_task} gives {spec.n_tasks} tasks; one Job runs "
            f"at most {MAX_COMPLETIONS}: set pointsPerTask to at least {needed}"
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


def worker_env(config: ControllerConfig) -> list[dict[str, Any]]:
    """Environment of the worker container (optional entries only when configured)."""
    env: list[dict[str, Any]] = []
    if config.pushgateway_url:
        env.append({"name": PUSHGATEWAY_ENV, "value": config.pushgateway_url})
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
    return env


def _pod_spec(sweep: Sweep, config: ControllerConfig) -> dict[str, Any]:
    container = {
        "name": CONTAINER_NAME,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["sweepctl"],
        "args": ["worker", SPEC_PATH],
        "env": worker_env(config),
        "resources": json.loads(json.dumps(config.worker_resources)),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
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
    return {
        "serviceAccountName": config.worker_service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "nodeSelector": dict(config.node_selector),
        "tolerations": [dict(t) for t in config.tolerations],
        "containers": [container],
        "volumes": [
            {"name": "spec", "configMap": {"name": configmap_name(sweep.name)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }


def build_job(sweep: Sweep, config: ControllerConfig, owner: Owner | None = None) -> dict[str, Any]:
    """The Indexed Job ``<sweep>``: one index per task (raises ``SweepTooLarge``, ``SpecError``)."""
    check_size(sweep)
    resolve_output_uri(sweep, config)  # refuse a file:// output without a default bucket
    spec = sweep.spec
    n_tasks = spec.n_tasks
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
    if queue:
        job_spec["suspend"] = True
    job_spec["template"] = {
        "metadata": {"labels": labels(sweep)},
        "spec": _pod_spec(sweep, config),
    }
    extra = {QUEUE_LABEL: queue} if queue else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(sweep.name, sweep, owner, extra),
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
    "MAX_COMPLETIONS",
    "ControllerConfig",
    "Owner",
    "SweepTooLarge",
    "build_configmap",
    "build_job",
    "configmap_name",
    "labels",
    "resolve_output_uri",
    "resolved_spec",
    "results_uri",
    "with_namespace",
    "worker_env",
]

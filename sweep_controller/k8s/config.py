"""What the cluster decides for every sweep, read from the controller's ``GOVSIM_*`` variables.

A Sweep says what to run; the cluster decides where and how: the worker image, its service
account, the default ``s3://`` location for sweeps that name a local output, the Pushgateway,
scheduling (resources, node selector, tolerations, affinity, priority class, Kueue queue), the
worker pods' extra annotations and labels, pull secrets and UID, and Job limits. By default
workers may run on any node and as UID 10001 (the image's USER). The Helm chart
sets these as environment variables of the controller's Deployment, and ``sweepctl render`` reads
the same ones. ``ControllerConfig`` is the trust boundary for them: a pydantic model that refuses
unknown fields and bad values, and ``from_env`` reports the first problem as one line naming the
variable (``GOVSIM_DEFAULT_PARALLELISM: 'ten' is not an integer``). Pure: no client library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

import simulator
from simulator.messages import ErrorText, Location
from sweep_controller.errors import SpecError
from sweep_controller.spec.models import OUTPUT_URI_PATTERN

DEFAULT_NODE_SELECTOR: Mapping[str, str] = {}
"""No node selector: workers schedule on any node (the Terraform values pin the batch pool)."""
DEFAULT_TOLERATIONS: tuple[Mapping[str, str], ...] = ()
DEFAULT_RUN_AS_USER = 10001
"""The image's USER; ``None`` leaves the UID to the platform (OpenShift assigns one)."""
INT32_MAX = 2**31 - 1

# Labels the controller sets on a worker pod (objects.labels) or Kubernetes' Job controller adds;
# GOVSIM_WORKER_POD_LABELS may not set them.
APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SWEEP_LABEL = "govsim.io/sweep"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
RESERVED_POD_LABELS = frozenset(
    {
        APP_LABEL,
        COMPONENT_LABEL,
        MANAGED_BY_LABEL,
        SWEEP_LABEL,
        QUEUE_LABEL,
        "job-name",
        "controller-uid",
    }
)
RESERVED_LABEL_PREFIXES = ("govsim.io/", "batch.kubernetes.io/")
# The chart's worker.resources (a test holds the two equal): just under one vCPU requested, so
# that whole numbers of workers fill the batch instance types (docs/aws.md, "Batch scaling").
DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "950m", "memory": "1600Mi"},
    "limits": {"cpu": "1", "memory": "1600Mi"},
}
_JSON_KINDS = {
    "worker_resources": dict,
    "node_selector": dict,
    "tolerations": list,
    "image_pull_secrets": list,
    "pod_annotations": dict,
    "pod_labels": dict,
    "affinity": dict,
    "run_as_user": int,
}


class ControllerConfig(BaseModel):
    """What the cluster decides for every sweep; read from ``GOVSIM_*`` variables (``ENV``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = f"govsim:{simulator.__version__}"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    worker_service_account: str = "govsim-worker"
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_addressing: Literal["auto", "path", "virtual"] | None = None
    credentials_secret: str | None = None
    pushgateway_url: str | None = None
    worker_resources: Mapping[str, Any] = Field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    node_selector: Mapping[str, str] = Field(default_factory=lambda: dict(DEFAULT_NODE_SELECTOR))
    tolerations: tuple[Mapping[str, Any], ...] = DEFAULT_TOLERATIONS
    default_parallelism: int = Field(10, ge=1)
    ttl_seconds_after_finished: int = Field(86_400, ge=0)
    default_queue: str | None = None
    pushgateway_cleanup_grace_seconds: int = Field(600, ge=0)
    image_pull_secrets: tuple[str, ...] = ()
    pod_annotations: Mapping[str, str] = Field(default_factory=dict)
    pod_labels: Mapping[str, str] = Field(default_factory=dict)
    priority_class_name: str | None = None
    affinity: Mapping[str, Any] = Field(default_factory=dict)
    active_deadline_seconds: int | None = Field(None, ge=1, le=INT32_MAX)
    run_as_user: int | None = Field(DEFAULT_RUN_AS_USER, ge=1, le=INT32_MAX)
    pushgateway_cleanup_budget_seconds: int = Field(30, ge=1)
    pod_creation_timeout_seconds: int = Field(900, ge=0)

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
        "image_pull_secrets": "GOVSIM_WORKER_IMAGE_PULL_SECRETS",
        "pod_annotations": "GOVSIM_WORKER_POD_ANNOTATIONS",
        "pod_labels": "GOVSIM_WORKER_POD_LABELS",
        "priority_class_name": "GOVSIM_WORKER_PRIORITY_CLASS_NAME",
        "affinity": "GOVSIM_WORKER_AFFINITY",
        "active_deadline_seconds": "GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS",
        "run_as_user": "GOVSIM_WORKER_RUN_AS_USER",
        "pushgateway_cleanup_budget_seconds": "GOVSIM_PUSHGATEWAY_CLEANUP_BUDGET_SECONDS",
        "pod_creation_timeout_seconds": "GOVSIM_POD_CREATION_TIMEOUT_SECONDS",
    }
    """Environment variable of each field. JSON for resources, node selector, tolerations, image
    pull secrets (a list of names), pod annotations and labels, affinity and the UID (``null``:
    the platform assigns one)."""

    @field_validator("image")
    @classmethod
    def _image_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty; set the worker image")
        return value

    @field_validator("pod_labels")
    @classmethod
    def _labels_not_reserved(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        for key in value:
            if key in RESERVED_POD_LABELS or key.startswith(RESERVED_LABEL_PREFIXES):
                raise ValueError(
                    f"{key!r} is a label the controller sets on worker pods; choose another key"
                )
        return value

    @model_validator(mode="after")
    def _default_output_is_valid(self) -> ControllerConfig:
        uri = self.default_output_uri
        if uri is not None and not re.fullmatch(OUTPUT_URI_PATTERN, uri):
            raise PydanticCustomError(
                "controller_config",
                "{path}: {reason}",
                {
                    "path": "s3_bucket",
                    "reason": f"{self.s3_bucket!r} (prefix {self.s3_prefix!r}) does not make a "
                    "valid s3://BUCKET/PREFIX: a bucket is 3-63 lowercase letters, digits, "
                    "'.', '-'",
                },
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> ControllerConfig:
        """The config from ``environ`` (empty values are unset), then ``overrides`` (not None).

        Raises ``SpecError`` with one line naming the variable of the first invalid value.
        """
        values: dict[str, Any] = {}
        for field, name in cls.ENV.items():
            raw = environ.get(name, "").strip()
            if raw:
                values[field] = _from_json(name, raw) if field in _JSON_KINDS else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SpecError(_TEXT.line(exc.errors(include_url=False)[0])) from None

    @property
    def default_output_uri(self) -> str | None:
        """``s3://BUCKET/PREFIX`` that replaces a sweep's ``file://`` output, or None."""
        if not self.s3_bucket:
            return None
        prefix = self.s3_prefix.strip("/")
        return f"s3://{self.s3_bucket}" + (f"/{prefix}" if prefix else "")


def _from_json(name: str, raw: str) -> Any:
    """A JSON-valued variable decoded (its type is left to the model)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{name}: not valid JSON: {exc.msg} at column {exc.colno}") from None


def _config_reason(error: ErrorDetails, loc: Location) -> str:
    """A config value's problem: the value and what is allowed."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "int_parsing":
        return f"{value!r} is not an integer"
    if kind == "greater_than_equal":
        return f"{value} is outside [{ctx['ge']}, inf)"
    if kind == "less_than_equal":
        return f"{value} is above the maximum {ctx['le']}"
    if kind == "int_type" and len(loc) == 1:
        return f"must be a JSON integer or null, got {value!r}"
    if kind == "literal_error":
        allowed = str(ctx["expected"]).replace("'", "").replace(" or ", ", ")
        return f"{value!r} is not one of {allowed}"
    if kind in ("dict_type", "tuple_type") and len(loc) == 1:
        want = "object" if kind == "dict_type" else "list"
        return f"must be a JSON {want}, got {type(value).__name__}"
    reason = str(error["msg"]).removeprefix("Value error, ")
    if kind != "value_error" and isinstance(value, (str, int, float)):
        reason += f" (got {value!r})"
    return reason


def _variable_path(loc: Location) -> str:
    """A field location named by its environment variable: ``GOVSIM_WORKER_RESOURCES.limits``."""
    parts = [str(part) for part in loc]
    if parts:
        parts[0] = ControllerConfig.ENV.get(parts[0], parts[0])
    return ".".join(parts)


_TEXT = ErrorText(root="(config)", location=_variable_path, reason=_config_reason)
"""Config errors name the environment variable, the value and what is allowed."""


__all__ = ["RESERVED_POD_LABELS", "ControllerConfig"]

"""The controller's edge: read what exists, call the pure reconcile, carry out its actions.

``sweep_controller.k8s.reconcile`` decides; this module only acts. ``KubeApi`` is the one seam to
the
API server (the official ``kubernetes`` client): it reads objects as plain JSON dicts, treats
"already exists" on create as success, merge-patches the ``status`` subresource, posts Events, and
translates every ``ApiException`` or connection error there, at the seam, into kopf's retry
policy: ``kopf.TemporaryError`` (throttling, 5xx, network, RBAC or quota refusals that an admin
may fix) or ``kopf.PermanentError`` (an object the API server rejects as invalid).

``build_registry`` wires the handlers on kopf:

* Sweep create and resume (controller start): reconcile, retried on temporary errors;
* Sweep update of ``spec``: the CRD makes the spec immutable, so this only fires on an API server
  that does not enforce the rule; the change is ignored with a Warning Event;
* Sweep DELETED events: the Pushgateway groups of the sweep are deleted (best effort; no finalizer
  is added, so a controller that is down never blocks ``kubectl delete``);
* Job events, routed to the owning Sweep by the ``govsim.io/sweep`` label: reconcile;
* a timer per Sweep (``RESYNC_SECONDS``): reconcile, which catches missed events and deletes the
  Pushgateway groups once the grace period after the end has passed.

Persistence: kopf keeps its handler progress and diff base in annotations on the Sweep (prefix
``govsim.io``), not in ``status``, because the CRD's structural schema would prune unknown status
fields. Watches set server and client timeouts, so a silently dead watch is re-established.
Scanning of CRDs and namespaces is off (the chart installs the CRD first), so the controller needs
no cluster-wide read access; peering is off (one replica, ``Recreate`` rollout).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import kopf
import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from sweep_controller.k8s.crd import GROUP, PLURAL, VERSION
from sweep_controller.k8s.objects import SWEEP_LABEL, ControllerConfig
from sweep_controller.k8s.reconcile import (
    Action,
    CreateConfigMap,
    CreateJob,
    DeletePushgatewayGroups,
    EmitEvent,
    EventType,
    Observed,
    UpdateStatus,
    reconcile,
)
from sweep_controller.k8s.status import Phase, parse_status
from sweep_controller.metrics import (
    ControllerMetrics,
    ErrorKind,
    delete_sweep_groups,
)
from sweep_controller.spec.models import API_VERSION, KIND

log = logging.getLogger(__name__)

RESYNC_SECONDS = 60.0
WATCH_SERVER_TIMEOUT_SECONDS = 300.0
WATCH_CLIENT_TIMEOUT_SECONDS = 330.0
CONNECT_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
COMPONENT = "govsim-controller"
MAX_EVENT_MESSAGE = 1024
_TEMPORARY_DELAY = {401: 60.0, 403: 60.0, 429: 10.0}


def _describe(exc: ApiException) -> str:
    """The API's own message from an error response, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return f"{exc.status} {exc.reason}: {message or exc.reason}"


def translate(exc: Exception, what: str) -> kopf.TemporaryError | kopf.PermanentError:
    """The kopf error (and so the retry policy) for a failed API call about ``what``."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        text = f"{what}: {_describe(exc)}"
        if status in _TEMPORARY_DELAY or status >= 500 or status == 0:
            return kopf.TemporaryError(text, delay=_TEMPORARY_DELAY.get(status, 10.0))
        return kopf.PermanentError(text)
    return kopf.TemporaryError(f"{what}: {type(exc).__name__}: {exc}", delay=10.0)


_API_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


class KubeApi:
    """The seam to the Kubernetes API; every foreign exception is translated here."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(response.data)
        return data

    def _read(self, what: str, call: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        try:
            return self._json(call(*args, _preload_content=False, **_timeout()))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate(exc, f"read {what}") from exc
        except _API_ERRORS as exc:
            raise translate(exc, f"read {what}") from exc

    def read_sweep(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Sweep as the API returns it, or None."""
        return self._read(
            f"Sweep {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
        )

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job, or None."""
        return self._read(
            f"Job {namespace}/{name}", self.batch.read_namespaced_job, name, namespace
        )

    def read_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap, or None."""
        return self._read(
            f"ConfigMap {namespace}/{name}", self.core.read_namespaced_config_map, name, namespace
        )

    def create(self, body: Mapping[str, Any]) -> bool:
        """Create a ConfigMap or Job; True if created, False if it already existed."""
        kind, meta = body["kind"], body["metadata"]
        namespace, what = (
            meta["namespace"],
            f"create {body['kind']} {meta['namespace']}/{meta['name']}",
        )
        calls = {
            "ConfigMap": self.core.create_namespaced_config_map,
            "Job": self.batch.create_namespaced_job,
        }
        try:
            calls[kind](namespace, dict(body), _preload_content=False, **_timeout())
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise translate(exc, what) from exc
        except _API_ERRORS as exc:
            raise translate(exc, what) from exc
        return True

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
        """Merge-patch the Sweep's status subresource; False if the Sweep is gone."""
        what = f"patch status of Sweep {namespace}/{name}"
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": dict(patch)},
                _preload_content=False,
                **_timeout(),
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise translate(exc, what) from exc
        except _API_ERRORS as exc:
            raise translate(exc, what) from exc
        return True

    def post_event(self, sweep: Mapping[str, Any], event: EmitEvent, now: datetime) -> bool:
        """Post an Event about the Sweep; best effort (False, logged, when the API refuses)."""
        meta = sweep["metadata"]
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        nanos = int(now.timestamp() * 1e9)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{nanos:x}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": str(event.type),
            "reason": event.reason,
            "message": event.message[:MAX_EVENT_MESSAGE],
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "source": {"component": COMPONENT},
            "reportingComponent": f"{GROUP}/controller",
            "reportingInstance": COMPONENT,
        }
        try:
            self.core.create_namespaced_event(
                meta["namespace"], body, _preload_content=False, **_timeout()
            )
        except _API_ERRORS as exc:
            status = getattr(exc, "status", None)
            if status == 409:
                return True
            log.warning(
                "event %s on Sweep %s/%s not posted: %s",
                event.reason,
                meta["namespace"],
                meta["name"],
                exc,
            )
            return False
        return True


def _timeout() -> dict[str, Any]:
    return {"_request_timeout": (CONNECT_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS)}


def observe(api: KubeApi, sweep: Mapping[str, Any]) -> Observed:
    """The Sweep's children as they exist now."""
    meta = sweep["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    return Observed(
        configmap=api.read_configmap(namespace, f"{name}-spec"),
        job=api.read_job(namespace, name),
    )


class Controller:
    """Reconciles one Sweep at a time per name: observe, decide (pure), carry out."""

    def __init__(
        self,
        api: KubeApi,
        config: ControllerConfig,
        *,
        metrics: ControllerMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self._locks: dict[tuple[str, str], threading.Lock] = collections.defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._phases: dict[tuple[str, str], str] = {}

    @contextmanager
    def _serialised(self, key: tuple[str, str]) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks[key]
        with lock:
            yield

    def reconcile_named(self, namespace: str, name: str) -> list[Action]:
        """Reconcile the Sweep ``namespace/name`` read afresh (nothing if it is gone)."""
        body = self.api.read_sweep(namespace, name)
        return [] if body is None else self.reconcile_resource(body)

    def reconcile_resource(
        self, sweep: Mapping[str, Any], *, deleted: bool = False
    ) -> list[Action]:
        """Observe, reconcile and carry out for one Sweep; returns the actions taken."""
        meta = sweep["metadata"]
        key = (meta["namespace"], meta["name"])
        with self._serialised(key), self._timed():
            observed = Observed(deleted=True) if deleted else observe(self.api, sweep)
            now = self.clock()
            actions = reconcile(sweep, observed, now, config=self.config)
            self.carry_out(sweep, actions, now)
            self._record(sweep, actions, deleted=deleted)
        return actions

    @contextmanager
    def _timed(self) -> Iterator[None]:
        if self.metrics is None:
            yield
            return
        try:
            with self.metrics.reconcile_timer():
                yield
        except kopf.PermanentError:
            self.metrics.record_error(ErrorKind.PERMANENT)
            raise
        except kopf.TemporaryError:
            self.metrics.record_error(ErrorKind.TEMPORARY)
            raise

    def carry_out(self, sweep: Mapping[str, Any], actions: list[Action], now: datetime) -> None:
        """Execute the actions in order; an API failure stops here (the next reconcile resumes)."""
        meta = sweep["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        for action in actions:
            if isinstance(action, (CreateConfigMap, CreateJob)):
                created = self.api.create(action.body)
                log.info(
                    "%s %s/%s %s",
                    action.body["kind"],
                    namespace,
                    action.body["metadata"]["name"],
                    "created" if created else "exists",
                )
            elif isinstance(action, UpdateStatus):
                self.api.patch_status(namespace, name, action.patch)
            elif isinstance(action, EmitEvent):
                self.api.post_event(sweep, action, now)
            elif isinstance(action, DeletePushgatewayGroups):
                self._cleanup(namespace, name, action)

    def _cleanup(self, namespace: str, name: str, action: DeletePushgatewayGroups) -> None:
        url = self.config.pushgateway_url
        if not url:
            return
        result = delete_sweep_groups(url, action.sweep, action.indexes)
        if self.metrics is not None:
            self.metrics.record_group_deletions(result)
        if result.failed:
            log.warning(
                "Sweep %s/%s: %d Pushgateway groups not deleted; retrying later",
                namespace,
                name,
                len(result.failed),
            )
        elif action.mark_done:
            self.api.patch_status(namespace, name, {"pushgatewayCleanedUp": True})

    def _record(self, sweep: Mapping[str, Any], actions: list[Action], *, deleted: bool) -> None:
        """Update the phase and task gauges from the status the actions leave behind."""
        if self.metrics is None:
            return
        meta = sweep["metadata"]
        key = (meta["namespace"], meta["name"])
        if deleted:
            self._phases.pop(key, None)
            with self._locks_guard:
                self._locks.pop(key, None)
            self.metrics.forget_sweep(meta["name"])
        else:
            raw = dict(sweep.get("status") or {})
            for action in actions:
                if isinstance(action, UpdateStatus):
                    raw = {k: v for k, v in {**raw, **action.patch}.items() if v is not None}
            status = parse_status(raw)
            if status.phase is not None:
                self._phases[key] = status.phase.value
            if status.tasks_total is not None:
                self.metrics.set_sweep_tasks(
                    meta["name"],
                    total=status.tasks_total,
                    done=status.tasks_done or 0,
                    failed=status.tasks_failed or 0,
                )
        counts = collections.Counter(self._phases.values())
        self.metrics.set_sweeps_by_phase({p.value: counts.get(p.value, 0) for p in Phase})

    def spec_changed(self, sweep: Mapping[str, Any]) -> None:
        """Warn that a spec change is ignored (only reachable where CEL rules are not enforced)."""
        event = EmitEvent(
            EventType.WARNING,
            "SpecChangeIgnored",
            "spec is immutable; the change is ignored: delete the Sweep and apply it again",
        )
        self.api.post_event(sweep, event, self.clock())


def operator_settings() -> kopf.OperatorSettings:
    """kopf settings: watch timeouts, annotation persistence, no scanning, no peering."""
    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT_SECONDS
    settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT_SECONDS
    settings.watching.connect_timeout = CONNECT_TIMEOUT_SECONDS
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = COMPONENT
    settings.scanning.disabled = True
    settings.peering.standalone = True
    return settings


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep plain-dict copy of a kopf body (kopf's views are live)."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(body), default=str))
    return plain


def build_registry(controller: Controller, *, login: bool = True) -> kopf.OperatorRegistry:
    """The kopf handlers of the controller, in a registry of their own.

    A registry of its own does not get kopf's default login handlers, so ``login`` adds the one
    that reuses the official client's configuration (in-cluster service account, else
    kubeconfig); tests pass False and add their own.
    """
    registry = kopf.OperatorRegistry()
    sweeps = (GROUP, VERSION, PLURAL)

    if login:
        kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.resume(*sweeps, registry=registry)
    @kopf.on.create(*sweeps, registry=registry)
    def sweep_created(body: kopf.Body, **_: Any) -> None:
        controller.reconcile_resource(_plain(body))

    @kopf.on.update(*sweeps, field="spec", registry=registry)
    def sweep_spec_changed(body: kopf.Body, **_: Any) -> None:
        controller.spec_changed(_plain(body))

    @kopf.on.event(*sweeps, registry=registry)
    def sweep_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            controller.reconcile_resource(_plain(body), deleted=True)

    @kopf.on.event("batch", "v1", "jobs", labels={SWEEP_LABEL: kopf.PRESENT}, registry=registry)
    def job_event(body: kopf.Body, **_: Any) -> None:
        meta = body.get("metadata") or {}
        sweep = (meta.get("labels") or {}).get(SWEEP_LABEL)
        if sweep and meta.get("namespace"):
            controller.reconcile_named(meta["namespace"], sweep)

    @kopf.timer(*sweeps, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS, registry=registry)
    def resync(body: kopf.Body, **_: Any) -> None:
        controller.reconcile_resource(_plain(body))

    return registry

"""The one seam between the controller and the Kubernetes API server.

The controller must tell a failure worth retrying (throttling, a 5xx, a dropped connection, an RBAC
or quota refusal an admin may fix) from one that never succeeds (an object the API server rejects
as invalid), and kopf's retry policy is carried by its exception type. ``KubeApi`` wraps the
official ``kubernetes`` client: it reads objects as plain JSON dicts, treats "already exists" on
create as success, merge-patches the ``status`` subresource and posts Events. Every call goes
through ``KubeApi._call``, the one place where an ``ApiException`` or a connection error becomes
``kopf.TemporaryError`` or ``kopf.PermanentError`` (``raise ... from exc``), so no foreign exception
leaves this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from sweep_controller.k8s.crd import CRD_NAME, GROUP, PLURAL, VERSION
from sweep_controller.k8s.objects import SWEEP_LABEL
from sweep_controller.k8s.reconcile import EmitEvent, FailedCreate
from sweep_controller.k8s.responses import server_message
from sweep_controller.spec.models import API_VERSION, KIND

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
COMPONENT = "govsim-controller"
MAX_EVENT_MESSAGE = 1024
_TEMPORARY_DELAY = {401: 60.0, 403: 60.0, 429: 10.0}
_API_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)
WATCH_SLACK_SECONDS = 5.0
"""How long past its server-side timeout a watch may stay silent before the client gives up."""
LEGACY_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
"""The finalizer older controllers (a kopf timer per Sweep) left on every Sweep."""


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


def _describe(exc: ApiException) -> str:
    """The API's own message from an error response, else the HTTP reason."""
    return f"{exc.status} {exc.reason}: {server_message(exc.body) or exc.reason}"


def translate(exc: Exception, what: str) -> kopf.TemporaryError | kopf.PermanentError:
    """The kopf error (and so the retry policy) for a failed API call about ``what``."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        text = f"{what}: {_describe(exc)}"
        if status in _TEMPORARY_DELAY or status >= 500 or status == 0:
            return kopf.TemporaryError(text, delay=_TEMPORARY_DELAY.get(status, 10.0))
        return kopf.PermanentError(text)
    return kopf.TemporaryError(f"{what}: {type(exc).__name__}: {exc}", delay=10.0)


class KubeApi:
    """The seam to the Kubernetes API; every foreign exception is translated here."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)

    @staticmethod
    def _call(
        what: str,
        call: Callable[..., Any],
        *args: Any,
        expected: int | None = None,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        **params: Any,
    ) -> Any | None:
        """The raw response of ``call``; None when the API answers the ``expected`` status.

        Any other ``ApiException`` or connection error is raised as kopf's retry policy.
        """
        try:
            return call(
                *args,
                **params,
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT_SECONDS, request_timeout),
            )
        except ApiException as exc:
            if expected is not None and exc.status == expected:
                return None
            raise translate(exc, what) from exc
        except _API_ERRORS as exc:
            raise translate(exc, what) from exc

    def _read(self, what: str, call: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        response = self._call(f"read {what}", call, *args, expected=404)
        if response is None:
            return None
        data: dict[str, Any] = json.loads(response.data)
        return data

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

    def list_sweeps(self, namespace: str | None) -> list[dict[str, Any]]:
        """The Sweeps of ``namespace`` (None: of every namespace)."""
        if namespace is None:
            args: tuple[Any, ...] = (self.custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        else:
            args = (self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL)
        response: Any = self._call(f"list Sweeps in {namespace or 'all namespaces'}", *args)
        items: list[dict[str, Any]] = json.loads(response.data).get("items") or []
        return items

    def read_crd(self) -> dict[str, Any] | None:
        """The CustomResourceDefinition of the Sweep kind, or None if it is not installed."""
        extensions = k8s.ApiextensionsV1Api(self.custom.api_client)
        return self._read(
            f"CustomResourceDefinition {CRD_NAME}",
            extensions.read_custom_resource_definition,
            CRD_NAME,
        )

    def remove_legacy_finalizer(self, sweep: Mapping[str, Any]) -> bool:
        """Remove ``LEGACY_FINALIZER`` from the Sweep (a JSON patch of that entry only).

        The patch tests that the entry is still at its index, so a concurrent change of the
        finalizers makes it fail (422) instead of removing another one; False then, or when the
        Sweep has no such finalizer or is gone.
        """
        meta = sweep["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if LEGACY_FINALIZER not in finalizers:
            return False
        index = finalizers.index(LEGACY_FINALIZER)
        patch = [
            {"op": "test", "path": f"/metadata/finalizers/{index}", "value": LEGACY_FINALIZER},
            {"op": "remove", "path": f"/metadata/finalizers/{index}"},
        ]
        what = f"remove finalizer {LEGACY_FINALIZER} of Sweep {meta['namespace']}/{meta['name']}"
        try:
            response = self._call(
                what,
                self._json_patch,
                f"/apis/{GROUP}/{VERSION}/namespaces/{meta['namespace']}/{PLURAL}/{meta['name']}",
                patch,
                expected=404,
            )
        except kopf.PermanentError as exc:
            log.warning("%s (not retried)", exc)
            return False
        return response is not None

    def _json_patch(self, path: str, patch: list[dict[str, Any]], **kwargs: Any) -> Any:
        """PATCH ``path`` with a JSON patch (the generated client sends merge patches for dicts)."""
        return self.custom.api_client.call_api(
            path,
            "PATCH",
            header_params={
                "Content-Type": "application/json-patch+json",
                "Accept": "application/json",
            },
            body=patch,
            auth_settings=["BearerToken"],
            **kwargs,
        )

    def list_job_failures(self, job: Mapping[str, Any]) -> tuple[FailedCreate, ...]:
        """The Job's ``FailedCreate`` Events (best effort: none, logged, if they cannot be read)."""
        meta = job["metadata"]
        selector = (
            f"involvedObject.kind=Job,involvedObject.name={meta['name']},"
            f"involvedObject.uid={meta.get('uid', '')},reason=FailedCreate"
        )
        what = f"list FailedCreate Events of Job {meta['namespace']}/{meta['name']}"
        try:
            response: Any = self._call(
                what, self.core.list_namespaced_event, meta["namespace"], field_selector=selector
            )
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            log.warning("%s (retried at the next reconcile)", exc)
            return ()
        failures = []
        for event in json.loads(response.data).get("items") or []:
            involved = event.get("involvedObject") or {}
            if event.get("reason") != "FailedCreate" or involved.get("kind") != "Job":
                continue
            if involved.get("name") != meta["name"] or involved.get("uid") != meta.get("uid"):
                continue
            first = _stamp(event.get("firstTimestamp") or event.get("eventTime"))
            first = first or _stamp((event.get("metadata") or {}).get("creationTimestamp"))
            last = _stamp(event.get("lastTimestamp")) or first
            if first is not None and last is not None:
                failures.append(FailedCreate(first, last, str(event.get("message") or "")))
        return tuple(failures)

    def list_jobs(self, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        """The Jobs of sweeps (label ``govsim.io/sweep``, selected by the server) and the list's
        resourceVersion, to watch from."""
        response: Any = self._call(
            f"list Jobs in {namespace or 'all namespaces'}",
            *self._job_lister(namespace),
            label_selector=SWEEP_LABEL,
        )
        data = json.loads(response.data)
        return list(data.get("items") or []), str(
            (data.get("metadata") or {}).get("resourceVersion") or ""
        )

    def watch_jobs(
        self, namespace: str | None, resource_version: str, *, timeout_seconds: int
    ) -> Iterator[dict[str, Any]]:
        """Watch events of the sweeps' Jobs from ``resource_version`` (label selected by the
        server; bookmarks included); raises ``WatchExpired`` on 410 Gone."""
        what = f"watch Jobs in {namespace or 'all namespaces'}"
        try:
            response = self._call(
                what,
                *self._job_lister(namespace),
                label_selector=SWEEP_LABEL,
                # Lower-case, as kubectl sends them (the client would send "True").
                watch="true",
                allow_watch_bookmarks="true",
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                request_timeout=timeout_seconds + WATCH_SLACK_SECONDS,
            )
            for line in iter_resp_lines(response):
                event: dict[str, Any] = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired(str(obj.get("message") or "410 Gone"))
                    raise kopf.TemporaryError(f"{what}: {obj.get('message')}", delay=10.0)
                yield event
        except ApiException as exc:
            if exc.status == 410:
                raise WatchExpired(str(exc.reason)) from exc
            raise translate(exc, what) from exc
        except _API_ERRORS as exc:
            raise translate(exc, what) from exc

    def _job_lister(self, namespace: str | None) -> tuple[Any, ...]:
        if namespace is None:
            return (self.batch.list_job_for_all_namespaces,)
        return (self.batch.list_namespaced_job, namespace)

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
        calls = {
            "ConfigMap": self.core.create_namespaced_config_map,
            "Job": self.batch.create_namespaced_job,
        }
        what = f"create {kind} {meta['namespace']}/{meta['name']}"
        return (
            self._call(what, calls[kind], meta["namespace"], dict(body), expected=409) is not None
        )

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
        """Merge-patch the Sweep's status subresource; False if the Sweep is gone."""
        response = self._call(
            f"patch status of Sweep {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": dict(patch)},
            expected=404,
        )
        return response is not None

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
        what = f"post event {event.reason} on Sweep {meta['namespace']}/{meta['name']}"
        try:
            # 409: an Event of this name exists already, which is what was wanted.
            self._call(
                what, self.core.create_namespaced_event, meta["namespace"], body, expected=409
            )
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            log.warning("%s (not retried)", exc)
            return False
        return True


def _stamp(value: object) -> datetime | None:
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


__all__ = ["COMPONENT", "LEGACY_FINALIZER", "KubeApi", "WatchExpired", "translate"]

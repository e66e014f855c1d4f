"""A user's view of a cluster for ``sweepctl``: the kubeconfig, Sweeps and their worker pods.

``sweepctl submit``, ``list``, ``watch``, ``logs`` and ``delete`` talk to the API server the way
``kubectl`` does: the kubeconfig from ``--kubeconfig``, else ``KUBECONFIG`` (a list of files,
merged), else ``~/.kube/config``, else the in-cluster service account when running in a pod; the
context from ``--context``, else the current one. ``Cluster`` wraps the official ``kubernetes``
client and reads objects as plain JSON dicts. Every call goes through ``Cluster._call``, the one
place where an ``ApiException`` or a connection error becomes a one-line ``ClusterError`` naming
the object and the server (``raise ... from exc``); the controller's seam (``k8s.api``) is a
different one because kopf wants its own retry policy, not a message for a person.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3.exceptions
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from sweep_controller.errors import ClusterError, ClusterUnreachable, KubeconfigError
from sweep_controller.k8s.crd import GROUP, PLURAL, VERSION
from sweep_controller.k8s.responses import server_message

CONNECT_TIMEOUT_SECONDS = 10.0
REQUEST_TIMEOUT_SECONDS = 60.0
DEFAULT_NAMESPACE = "default"
DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
RESOURCE = f"{PLURAL}.{GROUP}/{VERSION}"
_API_ERRORS = (urllib3.exceptions.HTTPError, OSError)
_CONFIG_ERRORS = (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, KeyError)


class SweepNotFound(ClusterError):
    """The Sweep does not exist in the namespace."""


class SweepExists(ClusterError):
    """A Sweep of that name exists already."""


@dataclass(frozen=True)
class Connection:
    """Where ``sweepctl`` talks to: a configured client, the context and its namespace."""

    api_client: k8s.ApiClient
    context: str
    """The kubeconfig context, or ``in-cluster``."""
    namespace: str
    """The context's namespace (or the pod's), else ``default``."""

    @property
    def server(self) -> str:
        """The API server's URL."""
        return str(self.api_client.configuration.host)


def _kubeconfig_path(kubeconfig: str | None) -> tuple[str, str] | None:
    """The kubeconfig to read and which setting named it; None: none is configured."""
    if kubeconfig:
        where, value = "--kubeconfig", kubeconfig
    elif os.environ.get("KUBECONFIG"):
        where, value = "KUBECONFIG", os.environ["KUBECONFIG"]
    elif Path(DEFAULT_KUBECONFIG).expanduser().is_file():
        return str(Path(DEFAULT_KUBECONFIG).expanduser()), DEFAULT_KUBECONFIG
    else:
        return None
    files = [f for f in value.split(os.pathsep) if f]
    present = [f for f in files if Path(f).expanduser().is_file()]
    if not present:
        raise KubeconfigError(f"{where}: {value!r}: no such file")
    return os.pathsep.join(present), where


def _in_cluster(context: str | None) -> Connection:
    """The pod's service account, when ``sweepctl`` runs inside the cluster."""
    if context is not None:
        raise KubeconfigError(f"--context: {context!r}: no kubeconfig to find it in")
    configuration = k8s.Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    except _CONFIG_ERRORS as exc:
        raise KubeconfigError(f"in-cluster configuration: {exc}") from exc
    return Connection(k8s.ApiClient(configuration), "in-cluster", namespace)


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """A client configured like ``kubectl`` from the kubeconfig (or in-cluster); no request yet."""
    found = _kubeconfig_path(kubeconfig)
    if found is None:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster(context)
        raise KubeconfigError(
            f"no kubeconfig: {DEFAULT_KUBECONFIG} does not exist and KUBECONFIG is not set; "
            "pass --kubeconfig FILE"
        )
    path, where = found
    try:
        contexts, current = kube_config.list_kube_config_contexts(config_file=path)
    except _CONFIG_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KubeconfigError(f"{where}: {path}: {reason}") from exc
    names = [str(c.get("name")) for c in contexts or []]
    chosen = context or (current or {}).get("name")
    if not chosen:
        raise KubeconfigError(
            f"{where}: {path}: no current context; pass --context (one of: {', '.join(names)})"
        )
    if chosen not in names:
        flag = "--context" if context else f"{where}: current-context"
        raise KubeconfigError(
            f"{flag}: {chosen!r} is not a context in {path} "
            f"(contexts: {', '.join(names) or 'none'})"
        )
    entry = next(c for c in contexts if c.get("name") == chosen)
    namespace = (entry.get("context") or {}).get("namespace") or DEFAULT_NAMESPACE
    try:
        api_client = kube_config.new_client_from_config(
            config_file=path, context=chosen, persist_config=False
        )
    except _CONFIG_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KubeconfigError(f"context {chosen!r} in {path}: {reason}") from exc
    return Connection(api_client, chosen, namespace)


def _server_message(exc: ApiException) -> str:
    """The API's own message from an error response, else the HTTP reason."""
    return server_message(exc.body) or str(exc.reason or "no message")


def _connection_reason(exc: Exception) -> str:
    """Why a connection failed, without urllib3's object reprs (``Connection refused``)."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason) or type(reason).__name__
    text = re.sub(r"<[^>]*>:\s*", "", text)
    errno_text = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    return errno_text.group(0) if errno_text else text.splitlines()[0]


def pod_index(pod: dict[str, Any]) -> int | None:
    """A Job pod's completion index, from its label (1.28+) or annotation."""
    meta = pod.get("metadata") or {}
    for where in ("labels", "annotations"):
        value = (meta.get(where) or {}).get(INDEX_KEY)
        if value is not None and str(value).isdigit():
            return int(value)
    return None


class Cluster:
    """Sweeps and their worker pods on one cluster; errors are one-line ``ClusterError``s."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.core = k8s.CoreV1Api(connection.api_client)
        self.custom = k8s.CustomObjectsApi(connection.api_client)

    # --- the one place where client exceptions are translated ------------------------------

    def _call(
        self,
        what: str,
        call: Callable[..., Any],
        *args: Any,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        when: Mapping[int, Callable[[], ClusterError | None]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The raw response of ``call``; failures become ``ClusterError`` about ``what``.

        ``when`` maps an HTTP status to the error it means for this call (None: the usual one).
        """
        try:
            return call(
                *args,
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT_SECONDS, timeout),
                **kwargs,
            )
        except ApiException as exc:
            special = (when or {}).get(int(exc.status or 0))
            raise ((special() if special else None) or self.translate(exc, what)) from exc
        except _API_ERRORS as exc:
            raise self.unreachable(exc) from exc

    def _not_found(self, namespace: str, name: str) -> Callable[[], ClusterError | None]:
        """A 404 on a named Sweep: ``SweepNotFound`` where the CRD is served (else no CRD)."""

        def error() -> ClusterError | None:
            if not self.crd_installed():
                return None
            return SweepNotFound(f"Sweep {name!r} not found in namespace {namespace}")

        return error

    def unreachable(self, exc: Exception) -> ClusterUnreachable:
        """A connection failure as one line naming the server."""
        return ClusterUnreachable(
            f"cannot reach the cluster at {self.connection.server} (context "
            f"{self.connection.context}): {_connection_reason(exc)}"
        )

    def translate(self, exc: ApiException, what: str) -> ClusterError:
        """An error response as one line naming the object and what to do."""
        status = int(exc.status or 0)
        message = _server_message(exc)
        context = self.connection.context
        if status == 401:
            return ClusterError(
                f"{what}: unauthorized (401): the cluster at {self.connection.server} refused "
                f"the credentials of context {context}: {message}"
            )
        if status == 403:
            return ClusterError(f"{what}: forbidden (403): {message}")
        if status == 404 and not self.crd_installed():
            return self.no_crd()
        if status == 429 or status >= 500 or status == 0:
            return ClusterUnreachable(f"{what}: the API server answered {status}: {message}")
        return ClusterError(f"{what}: {status}: {message}")

    def crd_installed(self) -> bool:
        """Whether the API server serves the sweeps resource (discovery, not an object read)."""
        try:
            found = self.custom.get_api_resources(
                GROUP, VERSION, _request_timeout=(CONNECT_TIMEOUT_SECONDS, 30.0)
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise self.translate(exc, f"discover {GROUP}/{VERSION}") from exc
        except _API_ERRORS as exc:
            raise self.unreachable(exc) from exc
        return any(r.name == PLURAL for r in found.resources or [])

    def no_crd(self) -> ClusterError:
        """The error for a cluster without the Sweep CRD."""
        return ClusterError(
            f"the cluster at {self.connection.server} does not serve {RESOURCE}: the Sweep CRD "
            "is not installed (helm install govsim charts/govsim)"
        )

    def _json(self, response: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(response.data)
        return data

    # --- Sweeps ---------------------------------------------------------------------------

    def get_sweep(self, namespace: str, name: str) -> dict[str, Any]:
        """The Sweep as the API returns it; ``SweepNotFound`` if there is none."""
        response = self._call(
            f"get Sweep {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            when={404: self._not_found(namespace, name)},
        )
        return self._json(response)

    def find_sweep(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Sweep, or None if there is none."""
        try:
            return self.get_sweep(namespace, name)
        except SweepNotFound:
            return None

    def create_sweep(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create the Sweep; ``SweepExists`` if one of that name exists."""
        name = body["metadata"]["name"]
        response = self._call(
            f"create Sweep {namespace}/{name}",
            self.custom.create_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            body,
            when={409: lambda: SweepExists(f"Sweep {name!r} exists in namespace {namespace}")},
        )
        return self._json(response)

    def list_sweeps(self, namespace: str | None) -> list[dict[str, Any]]:
        """The Sweeps of a namespace, or of every namespace (None)."""
        if namespace is None:
            response = self._call(
                "list Sweeps in all namespaces",
                self.custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                PLURAL,
            )
        else:
            response = self._call(
                f"list Sweeps in namespace {namespace}",
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
            )
        items: list[dict[str, Any]] = self._json(response).get("items") or []
        return items

    def watch_sweep(
        self, namespace: str, name: str, *, resource_version: str | None, seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events ``(type, object)`` of one Sweep for at most ``seconds`` (one watch request).

        A field selector on ``metadata.name`` keeps the server from sending the namespace's other
        Sweeps; the name is checked here too. Errors are ``ClusterError``s like every other call.
        """
        what = f"watch Sweep {namespace}/{name}"
        kwargs: dict[str, Any] = {
            "watch": "true",  # the client would send Python's "True"; "true" is the documented form
            "field_selector": f"metadata.name={name}",
            "timeout_seconds": seconds,
        }
        if resource_version:
            kwargs["resource_version"] = resource_version
        response = self._call(
            what,
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            timeout=seconds + 10.0,
            **kwargs,
        )
        try:
            for line in iter_resp_lines(response):
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") if isinstance(event, dict) else None
                if not isinstance(obj, dict):
                    continue
                if event.get("type") == "ERROR":
                    raise ClusterError(f"{what}: {obj.get('code')}: {obj.get('message')}")
                if (obj.get("metadata") or {}).get("name") == name:
                    yield str(event.get("type")), obj
        except ValueError as exc:
            raise ClusterError(f"{what}: unreadable event: {exc}") from exc
        except _API_ERRORS as exc:
            raise self.unreachable(exc) from exc
        finally:
            response.release_conn()

    def delete_sweep(self, namespace: str, name: str) -> None:
        """Delete the Sweep in the background (its Job, pods and ConfigMap follow by owner)."""
        self._call(
            f"delete Sweep {namespace}/{name}",
            self.custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            propagation_policy="Background",
            when={404: self._not_found(namespace, name)},
        )

    # --- worker pods ----------------------------------------------------------------------

    def job_pods(self, namespace: str, job: str) -> list[dict[str, Any]]:
        """The pods of a Job (by its job-name label), oldest first."""
        response = self._call(
            f"list pods of Job {namespace}/{job}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"{JOB_NAME_LABEL}={job}",
        )
        pods = [
            p
            for p in self._json(response).get("items") or []
            if ((p.get("metadata") or {}).get("labels") or {}).get(JOB_NAME_LABEL) == job
        ]
        return sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))

    def pod_log(self, namespace: str, pod: str, *, tail: int | None) -> str:
        """A pod's log (its only container's), the last ``tail`` lines if given."""
        kwargs: dict[str, Any] = {} if tail is None else {"tail_lines": tail}
        response = self._call(
            f"read the log of pod {namespace}/{pod}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            **kwargs,
        )
        return bytes(response.data).decode("utf-8", errors="replace")

    def follow_pod_log(self, namespace: str, pod: str, *, tail: int | None) -> Iterator[str]:
        """A pod's log lines as they are written, until the container ends."""
        kwargs: dict[str, Any] = {"follow": "true"}  # as kubectl sends it
        if tail is not None:
            kwargs["tail_lines"] = tail
        response = self._call(
            f"follow the log of pod {namespace}/{pod}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            timeout=24 * 3600.0,
            **kwargs,
        )
        try:
            yield from iter_resp_lines(response)
        except _API_ERRORS as exc:
            raise self.unreachable(exc) from exc
        finally:
            response.release_conn()


__all__ = [
    "INDEX_KEY",
    "JOB_NAME_LABEL",
    "Cluster",
    "Connection",
    "SweepExists",
    "SweepNotFound",
    "connect",
    "pod_index",
]

"""The kopf wiring of the controller: which events run a reconcile, the background loops, health.

``build_registry`` puts the handlers in a registry of their own:

* Sweep create and resume (controller start): two handlers with their own ids, each reconciling the
  Sweep as read afresh under its lock (kopf's body may be stale), retried on temporary errors;
* Sweep update of ``spec``: the CRD makes the spec immutable, so this only fires on an API server
  that does not enforce the rule; the change is ignored with a Warning Event;
* Sweep DELETED events: the Pushgateway groups of the sweep are deleted (best effort);
* startup: the finalizer older controllers left on Sweeps (``kopf.zalando.org/KopfFinalizerMarker``,
  added by their per-Sweep kopf timer) is removed, then two loops start in threads of their own
  (``sweep_controller.k8s.loops``): the resync every ``RESYNC_SECONDS``, which catches missed
  events and runs the Pushgateway cleanup after the grace period, and the watch of the sweeps'
  Jobs, label-selected by the API server, which reconciles a Job's Sweep on each event; cleanup
  stops both;
* a liveness probe: ``/healthz`` fails when the resync loop has made no progress within
  ``STALE_PASSES`` intervals, so a stuck controller is restarted.

No handler needs a finalizer (there is no timer, daemon or delete handler), so no finalizer is
added and a controller that is gone never blocks ``kubectl delete``, a namespace deletion or the
CRD's deletion.

Persistence: kopf keeps its handler progress and diff base in annotations on the Sweep (prefix
``govsim.io``), not in ``status``, because the CRD's structural schema would prune unknown status
fields. Watches set server and client timeouts, so a silently dead watch is re-established.
Scanning of CRDs and namespaces is off (the chart installs the CRD first; the controller checks its
schema version before kopf starts), and peering is off (one replica, ``Recreate`` rollout).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import kopf

from sweep_controller.k8s.api import COMPONENT, CONNECT_TIMEOUT_SECONDS, LEGACY_FINALIZER, KubeApi
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.crd import GROUP, PLURAL, VERSION
from sweep_controller.k8s.loops import STALE_PASSES, JobWatch, ResyncLoop

log = logging.getLogger(__name__)

RESYNC_SECONDS = 60.0
WATCH_SERVER_TIMEOUT_SECONDS = 300.0
WATCH_CLIENT_TIMEOUT_SECONDS = 330.0
STOP_WAIT_SECONDS = 5.0


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


def remove_legacy_finalizers(api: KubeApi, namespaces: Sequence[str]) -> int:
    """Remove ``LEGACY_FINALIZER`` from the Sweeps of ``namespaces`` (empty: all); how many."""
    removed = 0
    targets: list[str | None] = [*namespaces] or [None]
    for namespace in targets:
        try:
            sweeps = api.list_sweeps(namespace)
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            log.warning("legacy finalizers not removed: %s", exc)
            continue
        for sweep in sweeps:
            removed += api.remove_legacy_finalizer(sweep)
    if removed:
        log.info("removed the legacy finalizer %s from %d Sweeps", LEGACY_FINALIZER, removed)
    return removed


class Background:
    """The resync loop and the Job watches, in threads started at startup and stopped at cleanup."""

    def __init__(
        self,
        controller: Controller,
        namespaces: Sequence[str],
        *,
        resync_seconds: float,
        watch_timeout_seconds: int,
    ) -> None:
        self.controller = controller
        self.namespaces = list(namespaces)
        self.resync = ResyncLoop(controller, namespaces, interval=resync_seconds)
        targets: list[str | None] = [*namespaces] or [None]
        self.watches = [
            JobWatch(
                controller.api,
                controller.reconcile_named,
                namespace,
                timeout_seconds=watch_timeout_seconds,
            )
            for namespace in targets
        ]
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the loops (each in a daemon thread)."""
        runs: list[tuple[str, Callable[[threading.Event], None]]] = [
            ("govsim-resync", self.resync.run)
        ]
        runs += [(f"govsim-job-watch-{w.namespace or 'all'}", w.run) for w in self.watches]
        for name, run in runs:
            thread = threading.Thread(target=run, args=(self.stop,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def shutdown(self) -> None:
        """Stop the loops; a watch blocked on the network is left to exit with the process."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=STOP_WAIT_SECONDS)

    def health(self) -> dict[str, float]:
        """The resync loop's state; raises (the probe fails) when it is stuck."""
        age = self.resync.seconds_since_pass()
        if not self.resync.healthy():
            stalled = self.resync.seconds_since_progress()
            raise kopf.PermanentError(
                f"the resync loop made no progress for {stalled:.0f} s "
                f"(more than {STALE_PASSES} intervals of {self.resync.interval:.0f} s)"
            )
        return {"secondsSinceResync": round(age, 1)}


def build_registry(
    controller: Controller,
    *,
    namespaces: Sequence[str] = (),
    resync_seconds: float = RESYNC_SECONDS,
    watch_timeout_seconds: int = int(WATCH_SERVER_TIMEOUT_SECONDS),
    login: bool = True,
) -> kopf.OperatorRegistry:
    """The kopf handlers of the controller, in a registry of their own.

    ``namespaces`` are those kopf watches (empty: the whole cluster); the background loops list
    and watch the same. A registry of its own does not get kopf's default login handlers, so
    ``login`` adds the one that reuses the official client's configuration (in-cluster service
    account, else kubeconfig); tests pass False and add their own.
    """
    registry = kopf.OperatorRegistry()
    sweeps = (GROUP, VERSION, PLURAL)
    background = Background(
        controller,
        namespaces,
        resync_seconds=resync_seconds,
        watch_timeout_seconds=watch_timeout_seconds,
    )

    if login:
        kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.startup(registry=registry)
    def start_loops(**_: Any) -> None:
        remove_legacy_finalizers(controller.api, namespaces)
        background.start()

    @kopf.on.cleanup(registry=registry)
    def stop_loops(**_: Any) -> None:
        background.shutdown()

    @kopf.on.probe(id="resync", registry=registry)
    def resync_health(**_: Any) -> dict[str, float]:
        return background.health()

    # Sweeps are namespaced, so kopf always passes both names (its types allow None).
    @kopf.on.create(*sweeps, id="sweep_created", registry=registry)
    def sweep_created(namespace: str | None, name: str | None, **_: Any) -> None:
        controller.reconcile_named(namespace or "", name or "")

    @kopf.on.resume(*sweeps, id="sweep_resumed", registry=registry)
    def sweep_resumed(namespace: str | None, name: str | None, **_: Any) -> None:
        controller.reconcile_named(namespace or "", name or "")

    @kopf.on.update(*sweeps, field="spec", registry=registry)
    def sweep_spec_changed(namespace: str | None, name: str | None, **_: Any) -> None:
        body = controller.api.read_sweep(namespace or "", name or "")
        if body is not None:
            controller.spec_changed(body)

    @kopf.on.event(*sweeps, registry=registry)
    def sweep_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            # The object is gone: its last body is all there is to read.
            controller.reconcile_resource(_plain(body), deleted=True)

    return registry


def _plain(body: kopf.Body) -> dict[str, Any]:
    """A deep plain-dict copy of a kopf body (kopf's views are live)."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(body), default=str))
    return plain


__all__ = [
    "RESYNC_SECONDS",
    "Background",
    "build_registry",
    "operator_settings",
    "remove_legacy_finalizers",
]

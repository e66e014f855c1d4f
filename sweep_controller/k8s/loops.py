"""The controller's background loops: the periodic resync of every Sweep and the Job watch.

Both run in threads of their own, started when the operator starts and stopped when it stops.

``ResyncLoop`` replaces a per-object kopf timer (kopf adds a finalizer to every object a timer
serves, and deletion then hangs once the controller is gone): every ``interval`` seconds it lists
the Sweeps of the watched namespaces (or of the cluster) and reconciles each one that is not
settled, which catches missed events and runs the Pushgateway cleanup once its grace period has
passed. A finished Sweep whose cleanup is done costs nothing beyond the listing. The loop records
when its last pass completed and when it last made progress (a listing or one Sweep reconciled);
``healthy`` turns False when it made no progress within ``STALE_PASSES`` intervals (the liveness
probe reports it, so a stuck loop restarts the pod). Progress, not whole passes, is what counts:
every step is bounded (API calls by their timeouts, a Pushgateway cleanup by its budget), so a
long pass over many sweeps whose cleanups each wait out their budget is slow, not stuck.

``JobWatch`` watches the Jobs that carry the ``govsim.io/sweep`` label, selected by the API
server (``labelSelector``), so watching every namespace does not stream every Job of the cluster:
list, then watch from the list's resourceVersion with a server timeout, resume from the last
version seen, list again on 410 Gone, and back off (doubling up to ``MAX_BACKOFF_SECONDS``) on
errors. Each event reconciles the Sweep named by the Job's label.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kopf

from sweep_controller.k8s.api import KubeApi, WatchExpired
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.objects import SWEEP_LABEL

log = logging.getLogger(__name__)

STALE_PASSES = 3
MAX_BACKOFF_SECONDS = 60.0
_ERRORS = (kopf.TemporaryError, kopf.PermanentError)


class ResyncLoop:
    """Every ``interval`` seconds, reconcile the unsettled Sweeps of ``namespaces`` (empty: all)."""

    def __init__(
        self,
        controller: Controller,
        namespaces: Sequence[str],
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controller = controller
        self.namespaces: list[str | None] = list(namespaces) or [None]
        self.interval = interval
        self.clock = clock
        self.last_pass = clock()
        """When the last pass completed (the loop's start before the first)."""
        self.last_progress = self.last_pass
        """When the loop last listed the Sweeps or finished reconciling one."""

    def run(self, stop: threading.Event) -> None:
        """Run passes until ``stop`` is set."""
        self.last_pass = self.last_progress = self.clock()
        while not stop.wait(self.interval):
            self.run_pass()

    def run_pass(self) -> None:
        """One pass over every Sweep (errors are logged; one Sweep's failure stops no other)."""
        for namespace in self.namespaces:
            try:
                sweeps = self.controller.api.list_sweeps(namespace)
            except _ERRORS as exc:
                log.warning("resync: %s", exc)
                continue
            self.last_progress = self.clock()
            for sweep in sweeps:
                try:
                    self.controller.resync(sweep)
                except _ERRORS as exc:
                    log.warning("resync: %s", exc)
                except Exception:
                    log.exception("resync of a Sweep failed")
                self.last_progress = self.clock()
        self.last_pass = self.last_progress = self.clock()

    def healthy(self) -> bool:
        """Whether the loop made progress within the last ``STALE_PASSES`` intervals."""
        return self.clock() - self.last_progress <= STALE_PASSES * self.interval

    def seconds_since_pass(self) -> float:
        """Seconds since the last completed pass."""
        return self.clock() - self.last_pass

    def seconds_since_progress(self) -> float:
        """Seconds since the loop last listed the Sweeps or finished reconciling one."""
        return self.clock() - self.last_progress


class JobWatch:
    """Watch the sweeps' Jobs in one namespace (None: all) and reconcile their Sweeps."""

    def __init__(
        self,
        api: KubeApi,
        route: Callable[[str, str], object],
        namespace: str | None,
        *,
        timeout_seconds: int = 300,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.api = api
        self.route = route
        self.namespace = namespace
        self.timeout_seconds = timeout_seconds
        self.backoff_seconds = backoff_seconds

    def run(self, stop: threading.Event) -> None:
        """List and watch until ``stop`` is set."""
        version: str | None = None
        backoff = self.backoff_seconds
        while not stop.is_set():
            try:
                if version is None:
                    jobs, version = self.api.list_jobs(self.namespace)
                    for job in jobs:
                        self._route(job)
                for event in self.api.watch_jobs(
                    self.namespace, version, timeout_seconds=self.timeout_seconds
                ):
                    if stop.is_set():
                        return
                    obj = event.get("object") or {}
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if event.get("type") != "BOOKMARK":
                        self._route(obj)
                backoff = self.backoff_seconds
            except WatchExpired:
                log.info("Job watch in %s expired; listing again", self.namespace or "all")
                version = None
            except _ERRORS as exc:
                log.warning("Job watch: %s; retrying in %.0f s", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:
                log.exception("Job watch failed; retrying in %.0f s", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _route(self, job: Mapping[str, Any]) -> None:
        meta = job.get("metadata") or {}
        sweep = (meta.get("labels") or {}).get(SWEEP_LABEL)
        if not sweep or not meta.get("namespace"):
            return
        try:
            self.route(meta["namespace"], sweep)
        except _ERRORS as exc:
            log.warning("Sweep %s/%s: %s", meta["namespace"], sweep, exc)
        except Exception:
            log.exception("reconcile of Sweep %s/%s failed", meta["namespace"], sweep)


__all__ = ["MAX_BACKOFF_SECONDS", "STALE_PASSES", "JobWatch", "ResyncLoop"]

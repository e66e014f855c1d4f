"""The controller's act step: observe a Sweep's children, call the pure reconcile, carry it out.

``sweep_controller.k8s.reconcile`` decides what must change and touches nothing; this module turns
its actions into calls on the API seam (``sweep_controller.k8s.api.KubeApi``) and nothing more. One
Sweep is reconciled by one thread at a time (kopf may run handlers of the same object
concurrently: an event, the timer and a Job event), the clock is passed in, and the controller's
Prometheus metrics (phase counts, task gauges, errors by retry policy) are updated from the status
the actions leave behind. An API failure stops the list of actions where it happened; the next
reconcile reads the world again and resumes, because every action is idempotent.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import kopf

from sweep_controller.k8s.api import KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import configmap_name
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
from sweep_controller.metrics import ControllerMetrics, ErrorKind, delete_sweep_groups

log = logging.getLogger(__name__)


def observe(api: KubeApi, sweep: Mapping[str, Any]) -> Observed:
    """The Sweep's children as they exist now."""
    meta = sweep["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    return Observed(
        configmap=api.read_configmap(namespace, configmap_name(name)),
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
        result = delete_sweep_groups(
            url,
            namespace,
            action.sweep,
            action.indexes,
            budget_seconds=self.config.pushgateway_cleanup_budget_seconds,
        )
        if self.metrics is not None:
            self.metrics.record_group_deletions(result)
        if result.not_deleted:
            log.warning(
                "Sweep %s/%s: %d Pushgateway groups not deleted; retrying later",
                namespace,
                name,
                len(result.not_deleted),
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
            self.metrics.forget_sweep(meta["namespace"], meta["name"])
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
                    meta["namespace"],
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


__all__ = ["Controller", "observe"]

"""The controller's act step: observe a Sweep's children, call the pure reconcile, carry it out.

``sweep_controller.k8s.reconcile`` decides what must change and touches nothing; this module turns
its actions into calls on the API seam (``sweep_controller.k8s.api.KubeApi``) and nothing more. One
Sweep is reconciled by one thread at a time (kopf handlers, the resync loop and the Job watch may
reach the same Sweep at once), and always from the Sweep as read afresh under that lock, never from
a cached copy (except after deletion, when only the last body is left). The clock is passed in,
and the controller's Prometheus metrics (phase counts, task gauges, errors by retry policy) are
updated from the status the actions leave behind.

A create the API server refuses is fed back to the pure reconcile (``Observed.create_error``),
which decides the status: Failed for a permanent rejection, Pending with the message for a
temporary one, whose error is then raised again so the caller retries. Any other API failure stops
the list of actions where it happened; the next reconcile reads the world again and resumes,
because every action is idempotent. Deleting the Pushgateway groups (the sweep's slot groups, as
the Pushgateway lists them) happens after the lock is released (a slow Pushgateway never blocks
the Sweep's reconciles), once at a time per Sweep, and is recorded in the status with a patch of
its own.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf

from sweep_controller.k8s.api import KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import configmap_name
from sweep_controller.k8s.reconcile import (
    Action,
    CreateConfigMap,
    CreateError,
    CreateJob,
    DeletePushgatewayGroups,
    EmitEvent,
    EventType,
    Observed,
    UpdateStatus,
    needs_pod_events,
    reconcile,
    settled,
)
from sweep_controller.k8s.status import Phase, parse_status
from sweep_controller.metrics import (
    ControllerMetrics,
    ErrorKind,
    delete_sweep_groups,
    list_sweep_slots,
)

log = logging.getLogger(__name__)


def observe(api: KubeApi, sweep: Mapping[str, Any]) -> Observed:
    """The Sweep's children as they exist now (and the Job's FailedCreate Events while podless)."""
    meta = sweep["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    job = api.read_job(namespace, name)
    failures = api.list_job_failures(job) if job is not None and needs_pod_events(job) else ()
    return Observed(
        configmap=api.read_configmap(namespace, configmap_name(name)),
        job=job,
        failed_create=failures,
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
        self._cleaning: set[tuple[str, str]] = set()

    @contextmanager
    def _serialised(self, key: tuple[str, str]) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks[key]
        with lock:
            yield

    def reconcile_named(self, namespace: str, name: str) -> list[Action]:
        """Reconcile the Sweep ``namespace/name`` read afresh under its lock (nothing if gone)."""
        key = (namespace, name)
        cleanups: list[DeletePushgatewayGroups] = []
        with self._serialised(key), self._timed():
            body = self.api.read_sweep(namespace, name)
            if body is None:
                return []
            actions = self._reconcile_locked(body, observe(self.api, body), cleanups)
        self._run_cleanups(body, cleanups)
        return actions

    def reconcile_resource(
        self, sweep: Mapping[str, Any], *, deleted: bool = False
    ) -> list[Action]:
        """Reconcile the Sweep that ``sweep`` names, read afresh; returns the actions taken.

        With ``deleted`` (a DELETED watch event: the object is gone) the given body is the last
        state there is, and only the Pushgateway cleanup of a deleted sweep is left to do.
        """
        meta = sweep["metadata"]
        if not deleted:
            return self.reconcile_named(meta["namespace"], meta["name"])
        cleanups: list[DeletePushgatewayGroups] = []
        with self._serialised((meta["namespace"], meta["name"])), self._timed():
            actions = self._reconcile_locked(sweep, Observed(deleted=True), cleanups)
        self._run_cleanups(sweep, cleanups)
        return actions

    def resync(self, listed: Mapping[str, Any]) -> list[Action]:
        """Reconcile a Sweep seen in a periodic listing; a settled one costs no API call."""
        if settled(listed, self.config):
            return []
        meta = listed["metadata"]
        return self.reconcile_named(meta["namespace"], meta["name"])

    def _reconcile_locked(
        self,
        sweep: Mapping[str, Any],
        observed: Observed,
        cleanups: list[DeletePushgatewayGroups],
    ) -> list[Action]:
        """Decide and carry out under the Sweep's lock; cleanups are collected, not run."""
        now = self.clock()
        actions = reconcile(sweep, observed, now, config=self.config)
        try:
            self.carry_out(sweep, actions, now, cleanups=cleanups)
        except CreateFailed as failure:
            # The refusal is an observation: the pure reconcile decides the status it leaves.
            retry = reconcile(
                sweep, replace(observed, create_error=failure.error), now, config=self.config
            )
            actions = [a for a in retry if not isinstance(a, (CreateConfigMap, CreateJob))]
            self.carry_out(sweep, actions, now, cleanups=cleanups)
            self._record(sweep, actions, deleted=observed.deleted)
            if not failure.error.permanent:
                raise failure.cause from failure.cause.__cause__
            log.warning(
                "Sweep %s/%s: %s",
                sweep["metadata"]["namespace"],
                sweep["metadata"]["name"],
                failure.error.message,
            )
            return actions
        self._record(sweep, actions, deleted=observed.deleted)
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

    def carry_out(
        self,
        sweep: Mapping[str, Any],
        actions: list[Action],
        now: datetime,
        *,
        cleanups: list[DeletePushgatewayGroups] | None = None,
    ) -> None:
        """Execute the actions in order; an API failure stops here (the next reconcile resumes).

        A refused create raises ``CreateFailed``. Pushgateway cleanups go to ``cleanups`` when
        given (to run after the lock is released), else they run here.
        """
        meta = sweep["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        for action in actions:
            if isinstance(action, (CreateConfigMap, CreateJob)):
                try:
                    created = self.api.create(action.body)
                except (kopf.PermanentError, kopf.TemporaryError) as exc:
                    permanent = isinstance(exc, kopf.PermanentError)
                    error = CreateError(action.body["kind"], permanent, str(exc))
                    raise CreateFailed(error, exc) from exc
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
                if cleanups is None:
                    self._cleanup(namespace, name, action)
                else:
                    cleanups.append(action)

    def _run_cleanups(
        self, sweep: Mapping[str, Any], cleanups: list[DeletePushgatewayGroups]
    ) -> None:
        """Run the collected cleanups outside the lock; one at a time per Sweep."""
        if not cleanups:
            return
        meta = sweep["metadata"]
        key = (meta["namespace"], meta["name"])
        with self._locks_guard:
            if key in self._cleaning:
                return  # another thread is deleting this sweep's groups right now
            self._cleaning.add(key)
        try:
            for action in cleanups:
                self._cleanup(key[0], key[1], action)
        finally:
            with self._locks_guard:
                self._cleaning.discard(key)

    def _cleanup(self, namespace: str, name: str, action: DeletePushgatewayGroups) -> None:
        url = self.config.pushgateway_url
        if not url:
            return
        try:  # the slot groups that exist: about the parallelism, not one per task
            slots = list_sweep_slots(url, namespace, action.sweep)
        except Exception as exc:
            log.warning(
                "Sweep %s/%s: listing Pushgateway groups failed: %s: %s; retrying later",
                namespace,
                name,
                type(exc).__name__,
                exc,
            )
            return
        result = delete_sweep_groups(
            url,
            namespace,
            action.sweep,
            slots,
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


class CreateFailed(Exception):
    """Creating a child failed; ``error`` is what reconcile is told, ``cause`` the kopf error."""

    def __init__(self, error: CreateError, cause: kopf.PermanentError | kopf.TemporaryError):
        super().__init__(error.message)
        self.error = error
        self.cause = cause


__all__ = ["Controller", "CreateFailed", "observe"]

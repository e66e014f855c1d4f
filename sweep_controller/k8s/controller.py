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

An adaptive sweep (``method: optuna``) is also observed in its store: the planned rounds, and the
values of the finished ones when the decision needs them (``sweep_controller.k8s.rounds``). The
store is opened with the cluster's S3 settings (``store_opener``; credentials from the
controller's environment or IRSA). A store that cannot be read is a temporary error (the
reconcile is retried); one that holds another sweep's round file is told to reconcile, which
fails the sweep. ``WriteRound`` stores a round's points (the first writer wins).
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

import boto3
import kopf

from sweep_controller.errors import OutputConflict, ResultsError, SpecError, StorageError
from sweep_controller.execution.rounds import (
    evaluate_rounds,
    new_round_file,
    read_rounds,
    write_round,
)
from sweep_controller.k8s.api import KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import configmap_name, job_name, resolve_output_uri
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
    WriteRound,
    needs_pod_events,
    reconcile,
    settled,
)
from sweep_controller.k8s.rounds import SearchObserved, rounds_to_evaluate
from sweep_controller.k8s.status import TERMINAL_PHASES, Phase, parse_status
from sweep_controller.metrics import (
    ControllerMetrics,
    ErrorKind,
    delete_sweep_groups,
    list_sweep_slots,
)
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import sweep_from_resource
from sweep_controller.spec.models import Method, Sweep
from sweep_controller.store import S3Store, Store, make_s3_client, open_store

log = logging.getLogger(__name__)
STORE_RETRY_SECONDS = 30.0
"""How soon a reconcile that could not read an adaptive sweep's store is tried again."""

StoreOpener = Callable[[str], Store]


def store_opener(config: ControllerConfig) -> StoreOpener:
    """Opens result stores with the cluster's S3 endpoint, region and addressing (GOVSIM_S3_*)."""

    def open_for(uri: str) -> Store:
        if not uri.startswith("s3://"):
            return open_store(uri)
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        session = boto3.session.Session(region_name=config.s3_region)
        client = make_s3_client(
            endpoint_url=config.s3_endpoint, addressing=config.s3_addressing, session=session
        )
        return S3Store(bucket, prefix, client=client)

    return open_for


def _adaptive(body: Mapping[str, Any], config: ControllerConfig) -> tuple[Sweep, str] | None:
    """The sweep and its output URI, when it is an unfinished adaptive sweep (else None)."""
    if parse_status(body.get("status") or {}).phase in TERMINAL_PHASES:
        return None
    meta = body["metadata"]
    try:
        sweep = sweep_from_resource(body, f"Sweep {meta['namespace']}/{meta['name']}")
        if sweep.spec.method is not Method.OPTUNA:
            return None
        return sweep, resolve_output_uri(sweep, config)
    except SpecError:  # reconcile reports it
        return None


def observe_search(
    api: KubeApi, body: Mapping[str, Any], sweep: Sweep, store: Store
) -> tuple[SearchObserved, dict[str, Any] | None]:
    """An adaptive sweep's store (rounds, and values when needed) and its latest round's Job."""
    namespace = body["metadata"]["namespace"]
    status = parse_status(body.get("status") or {})
    try:
        files = read_rounds(store, sweep)
        job = api.read_job(namespace, job_name(sweep, max(len(files) - 1, 0)))
        count = rounds_to_evaluate(len(files), job, status)
        rounds = tuple(tuple(f.points) for f in files)
        if not count:
            return SearchObserved(rounds), job
        plan = SweepPlan(sweep, round_points=lambda k: files[k].points)
        results = evaluate_rounds(store, sweep, plan, range(count))
    except (OutputConflict, ResultsError) as exc:
        return SearchObserved(error=str(exc)), None
    except StorageError as exc:
        raise kopf.TemporaryError(
            f"Sweep {namespace}/{sweep.name}: reading {store.uri}: {exc}",
            delay=STORE_RETRY_SECONDS,
        ) from exc
    return SearchObserved(rounds, results.evaluated, results.not_done), job


def observe(
    api: KubeApi,
    sweep: Mapping[str, Any],
    *,
    config: ControllerConfig | None = None,
    stores: StoreOpener | None = None,
) -> Observed:
    """The Sweep's children as they exist now (and the Job's FailedCreate Events while podless);
    for an unfinished adaptive sweep, its store and its latest round's Job."""
    meta = sweep["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    adaptive = _adaptive(sweep, config) if config is not None else None
    search = None
    if adaptive is not None:
        parsed, uri = adaptive
        opener = stores or store_opener(config or ControllerConfig())
        search, job = observe_search(api, sweep, parsed, opener(uri))
    else:
        job = api.read_job(namespace, name)
    failures = api.list_job_failures(job) if job is not None and needs_pod_events(job) else ()
    return Observed(
        configmap=api.read_configmap(namespace, configmap_name(name)),
        job=job,
        failed_create=failures,
        search=search,
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
        stores: StoreOpener | None = None,
    ) -> None:
        self.api = api
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.stores = stores or store_opener(config)
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
            observed = observe(self.api, body, config=self.config, stores=self.stores)
            actions = self._reconcile_locked(body, observed, cleanups)
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
            elif isinstance(action, WriteRound):
                self._write_round(namespace, action)

    def _write_round(self, namespace: str, action: WriteRound) -> None:
        """Store a round's points (if absent); a store error stops here, to be retried."""
        file = new_round_file(action.sweep, action.round_index, action.points)
        store = self.stores(action.uri)
        try:
            write_round(store, file, action.sweep)
        except (StorageError, ResultsError) as exc:
            raise kopf.TemporaryError(
                f"Sweep {namespace}/{action.sweep.name}: writing round {action.round_index} to "
                f"{store.uri}: {exc}",
                delay=STORE_RETRY_SECONDS,
            ) from exc
        log.info("Sweep %s/%s: round %d planned (%d points) in %s", namespace,
                 action.sweep.name, action.round_index, len(action.points), store.uri)  # fmt: skip

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


__all__ = [
    "STORE_RETRY_SECONDS",
    "Controller",
    "CreateFailed",
    "StoreOpener",
    "observe",
    "observe_search",
    "store_opener",
]

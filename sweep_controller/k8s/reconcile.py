"""Decide what a Sweep needs: pure reconcile from the resource and what exists to a list of actions.

``reconcile`` has no side effects: it reads no API, no clock and no environment; the caller passes
the Sweep resource as read, the children it observed, the time and the cluster config, and
``sweep_controller.k8s.controller`` carries the returned actions out ("decide, then act").
Everything the controller does goes through here, so the table-driven tests of this function
cover its logic.

The rules:

* Children are a ConfigMap ``<sweep>-spec`` and an Indexed Job ``<sweep>``, both owned by the
  Sweep. What is missing is created; creating an existing object is success, so a controller
  restarted at any point never makes a second Job.
* The phase follows the Job: no Job yet, or suspended (Kueue) or not started: Pending; started:
  Running; condition Complete: Succeeded; condition Failed: Failed (for example more failed
  indexes than ``maxFailedIndexes``). An invalid spec, a sweep over ``MAX_COMPLETIONS`` tasks or a
  ``file://`` output without a default bucket is Failed at once and nothing is created.
* Succeeded and Failed are final. A Job that disappears later (``ttlSecondsAfterFinished``) is
  not re-created. A Job deleted by hand before the sweep finished is re-created; the worker skips
  the tasks already done, so only the missing ones run again.
* A child with the right name owned by something else (an older Sweep of the same name still
  being garbage-collected) is never adopted: the sweep waits, Pending.
* Status is patched only when it changes; an Event is emitted only when the phase changes.
* When the Job is first created, each task-size warning (``sweep_controller.spec.sizing``: too
  little or too much work per task, memory over the worker limit) is one Warning Event
  ``TaskSize``, after the Job's create; a Job re-created later warns no more.
* A create the API server rejects for good (400, 422, another non-retryable 4xx) makes the sweep
  Failed (``JobRejected``, or ``ConfigMapRejected``) with the server's message; a temporary failure
  (403, 429, 5xx, no connection) keeps it Pending with the message in its status while the
  create is retried (``CreateRetrying``).
* A Job none of whose pods could be created (a missing ServiceAccount or Secret, a PodSecurity
  rejection, an exhausted quota) reports ``FailedCreate`` Events; the sweep stays Pending with the
  condition ``PodsCreated`` False and the latest message, and is Failed (``PodsNotCreated``)
  ``pod_creation_timeout_seconds`` after the first failure (0: never). A suspended Job (waiting for
  Kueue) never times out.
* Once finished and ``pushgateway_cleanup_grace_seconds`` later (or when the Sweep is deleted),
  the sweep's Pushgateway task groups are deleted, once.
* An adaptive sweep (``method: optuna``) has one Job per round, ``<sweep>-r<k>``, and its
  observation includes the store (``sweep_controller.k8s.rounds``). Round 0 is planned and
  written (``WriteRound``) before its Job is created. The rules above apply to the latest
  planned round's Job; when it has finished (Complete, or Failed within ``maxFailedIndexes``)
  and rounds remain, round ``k + 1`` is planned from the stored results of rounds ``0 .. k``,
  written, and its Job created, in one reconcile. The sweep succeeds when the last round's Job
  does, and fails when a round's Job fails. ``status.search`` holds the round, the best point so
  far and, for a target, the boundary; the task counts cover every round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sweep_controller.errors import SpecError
from sweep_controller.intervals import parse_intervals
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import (
    QUEUE_LABEL,
    Owner,
    SweepTooLarge,
    build_configmap,
    build_job,
    check_job_size,
    configmap_name,
    job_name,
    job_results_uri,
    queue_name,
    resolve_output_uri,
)
from sweep_controller.k8s.rounds import (
    SearchObserved,
    WriteRound,
    merge_indexes,
    round_summary,
    search_status,
)
from sweep_controller.k8s.status import (
    TERMINAL_PHASES,
    Condition,
    ConditionType,
    Phase,
    SearchStatus,
    SweepStatus,
    parse_status,
)
from sweep_controller.spec.loading import sweep_from_resource
from sweep_controller.spec.models import Method, Sweep
from sweep_controller.spec.search import plan_round
from sweep_controller.spec.sizing import job_sizing_warnings


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class FailedCreate:
    """A ``FailedCreate`` Event of the Job: pods could not be created since ``first``."""

    first: datetime
    last: datetime
    message: str


@dataclass(frozen=True)
class CreateError:
    """Creating a child failed: ``permanent`` when the API server rejected it for good."""

    kind: str
    permanent: bool
    message: str


@dataclass(frozen=True)
class Observed:
    """What the adapter found for one Sweep: its children as read (None: absent) and deletion.

    ``failed_create`` holds the Job's ``FailedCreate`` Events (read only while no pod of the Job
    exists), ``create_error`` a failed create of a child in this reconcile. For an adaptive
    sweep, ``job`` is the Job of the latest planned round and ``search`` what the store holds.
    """

    configmap: Mapping[str, Any] | None = None
    job: Mapping[str, Any] | None = None
    deleted: bool = False
    failed_create: tuple[FailedCreate, ...] = ()
    create_error: CreateError | None = None
    search: SearchObserved | None = None


@dataclass(frozen=True)
class CreateConfigMap:
    """Create the ConfigMap with the resolved spec ("already exists" is success)."""

    body: Mapping[str, Any]


@dataclass(frozen=True)
class CreateJob:
    """Create the Indexed Job ("already exists" is success)."""

    body: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateStatus:
    """Merge-patch the Sweep's status subresource (a None value deletes a key)."""

    patch: Mapping[str, Any]


@dataclass(frozen=True)
class EmitEvent:
    """Post an Event about the Sweep."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class DeletePushgatewayGroups:
    """Delete the sweep's slot groups (the ones the Pushgateway lists); when ``mark_done``, record
    it in the status afterwards."""

    sweep: str
    mark_done: bool = True


Action = (
    CreateConfigMap | CreateJob | UpdateStatus | EmitEvent | DeletePushgatewayGroups | WriteRound
)


@dataclass(frozen=True)
class _Decision:
    """The status a sweep should have, with the reason for its phase."""

    phase: Phase
    reason: str
    message: str
    tasks_total: int | None = None
    tasks_done: int | None = None
    tasks_failed: int | None = None
    failed_indexes: str | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    results_uri: str | None = None
    creates: list[Action] = field(default_factory=list)
    pods_created: tuple[bool, str, str] | None = None
    """The PodsCreated condition (true?, reason, message); None keeps the one there is."""
    search: SearchStatus | None = None


def count_indexes(intervals: str | None) -> int:
    """Number of indexes in a Job's interval list such as ``'1,3-5,7'`` (5)."""
    return sum(len(r) for r in parse_intervals(intervals))


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def needs_pod_events(job: Mapping[str, Any]) -> bool:
    """Whether the Job is unfinished, not suspended and podless (its FailedCreate Events matter)."""
    status = job.get("status") or {}
    if _condition(job, "Complete") or _condition(job, "Failed") or _condition(job, "Suspended"):
        return False
    if (job.get("spec") or {}).get("suspend"):
        return False
    counts = ("active", "ready", "succeeded", "failed", "terminating")
    return not any(status.get(key) for key in counts) and not status.get("completedIndexes")


def _pods_not_created(
    sweep: Sweep,
    failures: tuple[FailedCreate, ...],
    old: SweepStatus,
    now: datetime,
    config: ControllerConfig,
    base: _Decision,
    name: str,
) -> _Decision:
    """Pending with the latest FailedCreate message, or Failed once the timeout has passed."""
    latest = max(failures, key=lambda f: f.last).message
    first = min(f.first for f in failures)
    before = old.condition(ConditionType.PODS_CREATED)
    if before is not None and before.status == "False":
        first = min(first, before.last_transition_time)
    timeout = config.pod_creation_timeout_seconds
    if timeout and now >= first + timedelta(seconds=timeout):
        message = (
            f"no pod of Job {name} could be created for {timeout} s "
            f"(pod_creation_timeout_seconds): {latest}"
        )
        return replace(
            base,
            phase=Phase.FAILED,
            reason="PodsNotCreated",
            message=message,
            completion_time=now,
            pods_created=(False, "PodsNotCreated", latest),
        )
    message = f"pods of Job {name} cannot be created: {latest}"
    if timeout:
        message += f"; the sweep fails at {(first + timedelta(seconds=timeout)).isoformat()}"
    return replace(
        base,
        reason="FailedCreate",
        message=message,
        pods_created=(False, "FailedCreate", latest),
    )


def _from_job(
    sweep: Sweep,
    job: Mapping[str, Any],
    old: SweepStatus,
    now: datetime,
    uri: str,
    *,
    observed: Observed,
    config: ControllerConfig,
) -> _Decision:
    """The sweep's phase and counts from its Job's status and conditions (for an adaptive sweep,
    the latest round's Job, with counts of that Job alone)."""
    status = job.get("status") or {}
    total = sweep.spec.tasks_per_round
    name = (job.get("metadata") or {}).get("name") or sweep.name
    done = (
        count_indexes(status["completedIndexes"])
        if "completedIndexes" in status
        else int(status.get("succeeded") or 0)
    )
    failed_indexes = status.get("failedIndexes") or None
    failed = count_indexes(failed_indexes)
    start = old.start_time or _time(status.get("startTime"))
    base = _Decision(
        Phase.PENDING,
        "",
        "",
        tasks_total=total,
        tasks_done=done,
        tasks_failed=failed,
        failed_indexes=failed_indexes,
        start_time=start,
        results_uri=uri,
    )
    if old.condition(ConditionType.PODS_CREATED) is not None and not needs_pod_events(job):
        base = replace(base, pods_created=(True, "PodsCreated", "the Job's pods were created"))
    if complete := _condition(job, "Complete"):
        end = (
            old.completion_time
            or _time(status.get("completionTime"))
            or _time(complete.get("lastTransitionTime"))
            or now
        )
        message = f"{done} of {total} tasks succeeded; results in {uri}"
        if failed:
            message = f"{done} of {total} tasks succeeded, {failed} failed ({failed_indexes}); "
            message += f"results in {uri}"
        return replace(
            base, phase=Phase.SUCCEEDED, reason="Succeeded", message=message, completion_time=end
        )
    if failure := _condition(job, "Failed"):
        end = old.completion_time or _time(failure.get("lastTransitionTime")) or now
        why = failure.get("reason") or "Failed"
        tolerated = sweep.spec.max_failed_indexes
        if why == "FailedIndexes" and tolerated is not None and failed <= tolerated:
            # Every index ran and no more failed than spec.maxFailedIndexes allows: the Job
            # controller still marks the Job Failed, but the sweep tolerates it (docs/sweeps.md).
            message = (
                f"{done} of {total} tasks succeeded, {failed} failed ({failed_indexes}; "
                f"maxFailedIndexes tolerates {tolerated}); results in {uri}"
            )
            return replace(
                base,
                phase=Phase.SUCCEEDED,
                reason="SucceededWithFailedTasks",
                message=message,
                completion_time=end,
            )
        detail = failure.get("message") or "the Job failed"
        message = f"{why}: {detail}; {done} of {total} tasks done, {failed} failed"
        if failed_indexes:
            message += f" (indexes {failed_indexes}; see the worker logs of those pods)"
        return replace(base, phase=Phase.FAILED, reason=why, message=message, completion_time=end)
    if observed.failed_create and needs_pod_events(job):
        return _pods_not_created(sweep, observed.failed_create, old, now, config, base, name)
    suspended = _condition(job, "Suspended") or (job.get("spec") or {}).get("suspend")
    if suspended or not status.get("startTime"):
        queue = ((job.get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL)
        reason = "Queued" if suspended else "Created"
        return replace(base, reason=reason, message=_waiting(name, total, queue))
    message = f"{done} of {total} tasks done, {failed} failed, {status.get('active') or 0} running"
    return replace(base, phase=Phase.RUNNING, reason="Started", message=message)


def _waiting(name: str, tasks: int, queue: str | None) -> str:
    what = f"Job {name} with {tasks} tasks created"
    if queue:
        return f"{what}; waiting for admission by Kueue queue {queue}"
    return f"{what}; waiting for it to start"


def _first_creation(old: SweepStatus) -> bool:
    """Whether no Job of this sweep was created yet (none before, or only refused creates)."""
    if old.start_time is not None or old.phase is Phase.RUNNING:
        return False
    started = old.condition(ConditionType.STARTED)
    return old.phase is None or started is None or started.reason == "CreateRetrying"


def _size_events(sweep: Sweep, config: ControllerConfig) -> list[Action]:
    """One Warning Event per task-size warning of the sweep."""
    lines = job_sizing_warnings(sweep, config.worker_resources)
    return [EmitEvent(EventType.WARNING, "TaskSize", line) for line in lines]


def _decide(
    resource: Mapping[str, Any],
    observed: Observed,
    old: SweepStatus,
    now: datetime,
    config: ControllerConfig,
) -> _Decision | None:
    """What the sweep's status and children should be; None keeps a final status as it is."""
    meta = resource.get("metadata") or {}
    name, namespace, uid = meta.get("name", ""), meta.get("namespace", ""), meta.get("uid", "")
    try:
        sweep = sweep_from_resource(resource, f"Sweep {namespace}/{name}")
    except SpecError as exc:
        return _Decision(
            Phase.FAILED, "InvalidSpec", str(exc), completion_time=old.completion_time or now
        )
    if sweep.spec.method is Method.OPTUNA:
        return _decide_search(sweep, Owner(name, uid), namespace, observed, old, now, config)
    return _decide_job(sweep, Owner(name, uid), namespace, observed, old, now, config)


def _decide_job(
    sweep: Sweep,
    owner: Owner,
    namespace: str,
    observed: Observed,
    old: SweepStatus,
    now: datetime,
    config: ControllerConfig,
    *,
    round_index: int = 0,
) -> _Decision | None:
    """The decision about the sweep's Job (an adaptive sweep's latest round's): follow it when
    it exists, else create it; None keeps a final status as it is."""
    name, uid = owner.name, owner.uid
    current = job_name(sweep, round_index)
    job = observed.job
    if job is not None and _owned_by(job, uid):
        failed = old.condition(ConditionType.FAILED)
        if old.phase is Phase.FAILED and failed is not None and failed.reason == "PodsNotCreated":
            return None  # final, even if the Job's pods appear later
        try:  # the cluster config may have changed since the Job was created
            uri = old.results_uri or job_results_uri(sweep, config)
            configmap = build_configmap(sweep, config, Owner(name, uid))
        except SpecError:
            uri, configmap = old.results_uri or "", None
        decision = _from_job(sweep, job, old, now, uri, observed=observed, config=config)
        if observed.configmap is None and configmap and decision.phase not in TERMINAL_PHASES:
            decision.creates.append(CreateConfigMap(configmap))
        return decision
    if old.phase in TERMINAL_PHASES:
        return None
    try:
        check_job_size(sweep)
        resolve_output_uri(sweep, config)
    except SpecError as exc:
        reason = "TooLarge" if isinstance(exc, SweepTooLarge) else "InvalidOutput"
        end = old.completion_time or now
        total = sweep.spec.n_tasks
        return _Decision(Phase.FAILED, reason, str(exc), tasks_total=total, completion_time=end)
    uri = job_results_uri(sweep, config)
    for kind, child in (("Job", job), ("ConfigMap", observed.configmap)):
        if child is not None and not _owned_by(child, uid):
            child_name = current if kind == "Job" else configmap_name(sweep.name)
            message = (
                f"{kind} {namespace}/{child_name} exists and is not owned by this Sweep (an older "
                "Sweep of the same name may still be deleting); waiting for it to go away"
            )
            return _Decision(Phase.PENDING, "Blocked", message, tasks_total=sweep.spec.n_tasks)
    if (error := observed.create_error) is not None:
        if error.permanent:
            message = f"the API server rejected the {error.kind}: {error.message}"
            return _Decision(
                Phase.FAILED,
                f"{error.kind}Rejected",
                message,
                tasks_total=sweep.spec.n_tasks,
                completion_time=old.completion_time or now,
            )
        message = f"creating the {error.kind} failed; retrying: {error.message}"
        return replace(
            _Decision(Phase.PENDING, "CreateRetrying", message, tasks_total=sweep.spec.n_tasks),
            tasks_done=old.tasks_done or 0,
            tasks_failed=old.tasks_failed or 0,
            failed_indexes=old.failed_indexes,
            start_time=old.start_time,
            results_uri=uri,
        )
    creates: list[Action] = []
    if observed.configmap is None:
        creates.append(CreateConfigMap(build_configmap(sweep, config, owner)))
    creates.append(CreateJob(build_job(sweep, config, owner, round_index=round_index)))
    if _first_creation(old):
        creates += _size_events(sweep, config)
    if old.start_time is not None:
        reason = "JobRecreated"
        message = (
            f"Job {current} was deleted before the sweep finished; re-created it "
            "(tasks already done are skipped)"
        )
    else:
        queue = queue_name(sweep, config)
        reason = "Queued" if queue else "Created"
        message = _waiting(current, sweep.spec.tasks_per_round, queue)
    return _Decision(
        Phase.PENDING,
        reason,
        message,
        tasks_total=sweep.spec.n_tasks,
        tasks_done=old.tasks_done or 0,
        tasks_failed=old.tasks_failed or 0,
        failed_indexes=old.failed_indexes,
        start_time=old.start_time,
        results_uri=uri,
        creates=creates,
    )


def _decide_search(
    sweep: Sweep,
    owner: Owner,
    namespace: str,
    observed: Observed,
    old: SweepStatus,
    now: datetime,
    config: ControllerConfig,
) -> _Decision | None:
    """The decision about an adaptive sweep: its latest round's Job, then the next round."""
    if old.phase in TERMINAL_PHASES:
        return None
    spec = sweep.spec
    search = observed.search or SearchObserved()
    if search.error is not None:
        end = old.completion_time or now
        return _Decision(
            Phase.FAILED,
            "OutputConflict",
            search.error,
            tasks_total=spec.n_tasks,
            completion_time=end,
        )
    k = max(search.planned - 1, 0)
    decision = _decide_job(sweep, owner, namespace, observed, old, now, config, round_index=k)
    if decision is None:
        return None
    at = next((i for i, a in enumerate(decision.creates) if isinstance(a, CreateJob)), None)
    if search.planned == 0 and at is not None:  # round 0 depends on nothing: stored before its Job
        uri = resolve_output_uri(sweep, config)
        decision.creates.insert(at, WriteRound(sweep, uri, 0, tuple(plan_round(spec, 0, ()))))
    job = observed.job
    from_job = job is not None and _owned_by(job, owner.uid)
    status = search_status(sweep, k, search, old.search)
    before_failed = count_indexes(status.failed_indexes_before)
    decision = replace(
        decision,
        tasks_total=spec.n_tasks,
        tasks_done=status.tasks_done_before + ((decision.tasks_done or 0) if from_job else 0),
        tasks_failed=before_failed + ((decision.tasks_failed or 0) if from_job else 0),
        failed_indexes=merge_indexes(
            status.failed_indexes_before,
            decision.failed_indexes if from_job else None,
            k * spec.tasks_per_round,
        ),
        message=f"round {k} (of {spec.rounds}): {decision.message}",
        search=status,
    )
    if not from_job or decision.phase is not Phase.SUCCEEDED:
        if decision.phase is Phase.PENDING and (k > 0 or old.start_time is not None):
            decision = replace(decision, phase=Phase.RUNNING)  # the sweep runs; this round waits
        return decision
    return _round_finished(sweep, owner, decision, k, search, config)


def _round_finished(
    sweep: Sweep,
    owner: Owner,
    decision: _Decision,
    k: int,
    search: SearchObserved,
    config: ControllerConfig,
) -> _Decision:
    """Round ``k``'s Job succeeded: plan and launch round ``k + 1``, or finish the sweep."""
    spec = sweep.spec
    rounds, ppr = spec.rounds or 0, spec.points_per_round or 1
    if search.evaluated_rounds(ppr) <= k:  # the values were not read: the next reconcile reads
        message = f"round {k} (of {rounds}) finished; reading its results"
        return replace(decision, phase=Phase.RUNNING, reason="ReadingResults", message=message,
                       completion_time=None)  # fmt: skip
    if k == rounds - 1:
        final = search_status(sweep, k, search, decision.search, final=True)
        message = (
            f"{rounds} rounds done: {round_summary(sweep, final)}; results in "
            f"{decision.results_uri}"
        )
        return replace(decision, message=message, search=final)
    evaluated = (search.evaluated or ())[: (k + 1) * ppr]
    points = tuple(plan_round(spec, k + 1, evaluated))
    uri = resolve_output_uri(sweep, config)
    nxt = search_status(sweep, k + 1, search, None)
    message = (
        f"round {k} (of {rounds}) finished: {round_summary(sweep, nxt)}; round {k + 1} planned: "
        f"Job {job_name(sweep, k + 1)} with {spec.tasks_per_round} tasks created"
    )
    creates: list[Action] = [
        WriteRound(sweep, uri, k + 1, points),
        CreateJob(build_job(sweep, config, owner, round_index=k + 1)),
        EmitEvent(EventType.NORMAL, "RoundPlanned", message),
    ]
    return replace(
        decision,
        phase=Phase.RUNNING,
        reason="RoundPlanned",
        message=message,
        tasks_done=nxt.tasks_done_before,
        tasks_failed=count_indexes(nxt.failed_indexes_before),
        failed_indexes=nxt.failed_indexes_before,
        completion_time=None,
        creates=[*decision.creates, *creates],
        search=nxt,
    )


def _conditions(
    decision: _Decision, old: SweepStatus, now: datetime, generation: int | None
) -> list[Condition]:
    """Started, Complete, Failed (and PodsCreated once it was False); a transition time changes only
    when the status does."""
    phase = decision.phase
    started = decision.start_time is not None or phase in (Phase.RUNNING, Phase.SUCCEEDED)
    states = {
        # type: (true?, reason, message)
        ConditionType.STARTED: (
            started,
            "Started" if started else decision.reason,
            "the Job started" if started else decision.message,
        ),
        ConditionType.COMPLETE: (
            phase is Phase.SUCCEEDED,
            "Succeeded" if phase is Phase.SUCCEEDED else "NotComplete",
            decision.message if phase is Phase.SUCCEEDED else "",
        ),
        ConditionType.FAILED: (
            phase is Phase.FAILED,
            decision.reason if phase is Phase.FAILED else "NotFailed",
            decision.message if phase is Phase.FAILED else "",
        ),
    }
    if decision.pods_created is not None:
        states[ConditionType.PODS_CREATED] = decision.pods_created
    elif (kept := old.condition(ConditionType.PODS_CREATED)) is not None:
        states[ConditionType.PODS_CREATED] = (kept.status == "True", kept.reason, kept.message)
    result = []
    for kind, (true, reason, message) in states.items():
        value = "True" if true else "False"
        before = old.condition(kind)
        since = before.last_transition_time if before and before.status == value else now
        result.append(
            Condition(
                type=kind,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return result


def _cleanup(
    name: str, status: SweepStatus, now: datetime, config: ControllerConfig, *, deleted: bool
) -> list[Action]:
    """Delete the slot groups once the sweep is over and past the grace period, or deleted."""
    if not config.pushgateway_url or status.pushgateway_cleaned_up:
        return []
    if status.start_time is None or not status.tasks_total:
        return []  # no Job ever ran, so no worker pushed anything
    if not deleted:
        if status.phase not in TERMINAL_PHASES or status.completion_time is None:
            return []
        grace = timedelta(seconds=config.pushgateway_cleanup_grace_seconds)
        if now < status.completion_time + grace:
            return []
    return [DeletePushgatewayGroups(name, mark_done=not deleted)]


def settled(resource: Mapping[str, Any], config: ControllerConfig) -> bool:
    """Whether a Sweep, as listed, is finished with nothing left to do (a resync skips it)."""
    meta = resource.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    status = parse_status(resource.get("status") or {})
    if status.phase not in TERMINAL_PHASES:
        return False
    cleanup_due = (
        config.pushgateway_url
        and not status.pushgateway_cleaned_up
        and status.start_time is not None
        and status.tasks_total
    )
    return not cleanup_due


_WARNINGS = frozenset({"CreateRetrying", "Blocked"})


def _status_patch(old_raw: Mapping[str, Any], new: SweepStatus) -> dict[str, Any]:
    """A merge patch turning ``old_raw`` into ``new`` (keys that disappear are set to None)."""
    target = new.to_api()
    patch: dict[str, Any] = {k: None for k in old_raw if k not in target}
    patch.update({k: v for k, v in target.items() if old_raw.get(k) != v})
    return patch


def reconcile(
    resource: Mapping[str, Any],
    observed: Observed,
    now: datetime,
    *,
    config: ControllerConfig,
) -> list[Action]:
    """The actions that bring a Sweep and its children to where they should be (pure)."""
    meta = resource.get("metadata") or {}
    raw_status = resource.get("status") or {}
    old = parse_status(raw_status)
    now = now.replace(microsecond=0)
    if observed.deleted or meta.get("deletionTimestamp"):
        return _cleanup(meta.get("name", ""), old, now, config, deleted=True)
    decision = _decide(resource, observed, old, now, config)
    if decision is None:
        return _cleanup(meta.get("name", ""), old, now, config, deleted=False)
    generation = meta.get("generation")
    new = SweepStatus(
        phase=decision.phase,
        tasks_total=decision.tasks_total,
        tasks_done=decision.tasks_done,
        tasks_failed=decision.tasks_failed,
        failed_indexes=decision.failed_indexes,
        start_time=decision.start_time,
        completion_time=decision.completion_time,
        results_uri=decision.results_uri,
        message=decision.message,
        observed_generation=generation,
        conditions=_conditions(decision, old, now, generation),
        search=decision.search,
        pushgateway_cleaned_up=old.pushgateway_cleaned_up,
    )
    actions: list[Action] = list(decision.creates)
    patch = _status_patch(dict(raw_status), new)
    if patch:
        actions.append(UpdateStatus(patch))
    if new.phase != old.phase:
        warn = new.phase is Phase.FAILED or decision.reason in _WARNINGS
        kind = EventType.WARNING if warn else EventType.NORMAL
        actions.append(EmitEvent(kind, decision.reason, decision.message))
    actions += _cleanup(meta.get("name", ""), new, now, config, deleted=False)
    return actions


__all__ = [
    "Action",
    "CreateConfigMap",
    "CreateError",
    "CreateJob",
    "DeletePushgatewayGroups",
    "EmitEvent",
    "EventType",
    "FailedCreate",
    "Observed",
    "UpdateStatus",
    "WriteRound",
    "count_indexes",
    "needs_pod_events",
    "reconcile",
    "settled",
]

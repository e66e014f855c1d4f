"""The controller's task-size warnings: one Warning Event per problem when the Job is created."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kit.kube import resource, with_job_status

from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import Owner, build_configmap, build_job
from sweep_controller.k8s.reconcile import (
    Action,
    EmitEvent,
    EventType,
    Observed,
    UpdateStatus,
    reconcile,
)
from sweep_controller.spec.loading import sweep_from_resource
from sweep_controller.spec.sizing import estimate_task, sizing_warnings

NOW = datetime(2025, 1, 1, 2, 0, 0, tzinfo=UTC)
CONFIG = ControllerConfig(s3_bucket="govsim-results")
# 10^5-agent runs (~0.15 s each): 2,000 runs per task is about 5 min, inside the targets.
WELL_SIZED = {
    "simulator": {"agents": 100_000, "mean_degree": 10},
    "replicates": 10_000,
    "runsPerTask": 5_000,  # runs of ~56 ms: about 5 min of work per task
}


def size_events(actions: list[Action]) -> list[EmitEvent]:
    return [a for a in actions if isinstance(a, EmitEvent) and a.reason == "TaskSize"]


def applied(res: dict[str, Any], actions: list[Action]) -> dict[str, Any]:
    out = dict(res)
    for action in actions:
        if isinstance(action, UpdateStatus):
            out["status"] = {**(out.get("status") or {}), **action.patch}
    return out


def test_tiny_tasks_warn_once_when_the_job_is_created() -> None:
    res = resource()
    actions = reconcile(res, Observed(), NOW, config=CONFIG)
    (event,) = size_events(actions)
    expected = sizing_warnings(estimate_task(sweep_from_resource(res)), memory_limit_bytes=2**31)
    assert event == EmitEvent(EventType.WARNING, "TaskSize", expected[0])
    assert event.message.startswith("spec.runsPerTask: 10 runs of ~")
    # After the create: the Job is there, and the next reconciles say nothing more about size.
    sweep = sweep_from_resource(res)
    owner = Owner(res["metadata"]["name"], res["metadata"]["uid"])
    configmap, job = build_configmap(sweep, CONFIG, owner), build_job(sweep, CONFIG, owner)
    pending = applied(res, actions)
    assert size_events(reconcile(pending, Observed(configmap, job), NOW, config=CONFIG)) == []
    running = with_job_status(job, active=1, startTime="2025-01-01T02:00:00Z")
    later = reconcile(pending, Observed(configmap, running), NOW, config=CONFIG)
    assert size_events(later) == []
    # A Job deleted by hand after the start is re-created without a second warning.
    started = applied(pending, later)
    assert started["status"].get("startTime")
    recreated = reconcile(started, Observed(configmap, None), NOW, config=CONFIG)
    assert any(type(a).__name__ == "CreateJob" for a in recreated)
    assert size_events(recreated) == []


def test_a_well_sized_sweep_gets_no_warning() -> None:
    res = resource(spec=WELL_SIZED)
    assert size_events(reconcile(res, Observed(), NOW, config=CONFIG)) == []


def test_memory_is_checked_against_the_configured_worker_limit() -> None:
    small = CONFIG.model_copy(
        update={
            "worker_resources": {"requests": {"memory": "256Mi"}, "limits": {"memory": "300Mi"}}
        }
    )
    (event,) = size_events(reconcile(resource(spec=WELL_SIZED), Observed(), NOW, config=small))
    assert event.message.startswith("spec.simulator/spec.parameters: a task needs ~")
    assert "over the worker memory limit 300 MiB" in event.message

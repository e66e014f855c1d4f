"""The controller's kopf handlers, run by kopf itself against the fake API server (kmock).

kopf lists and watches Sweeps and Jobs on the fake server and calls the handlers of
``build_registry``; the handlers reconcile through the real client. This checks the wiring (which
events reach which handler, and that a Job event finds its Sweep by label), not Kubernetes
semantics: the fake has no Job controller, so the test plays it by patching the Job's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest
from kit.kube import NAMESPACE, declare, live, resource
from kit.waiting import until
from kubernetes import client as k8s

from sweep_controller.k8s.api import KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.operator import build_registry, operator_settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NAME = "whale-vs-conformity"
CONFIG = ControllerConfig(s3_bucket="govsim-results", s3_prefix="sweeps")


@contextlib.asynccontextmanager
async def operator(kmock: Any, config: ControllerConfig = CONFIG) -> AsyncIterator[None]:
    """kopf running our registry against the fake server until the block ends."""
    api = KubeApi(k8s.ApiClient(k8s.Configuration(host=str(kmock.url).rstrip("/"))))
    controller = Controller(api, config, clock=lambda: datetime.now(UTC))
    registry = build_registry(
        controller, namespaces=[NAMESPACE], resync_seconds=60, watch_timeout_seconds=1, login=False
    )

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=str(kmock.url).rstrip("/"))

    settings = operator_settings()
    settings.watching.server_timeout = 5.0
    settings.watching.client_timeout = 10.0
    stop = asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings,
            standalone=True,
            namespaces=[NAMESPACE],
            stop_flag=stop,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


@pytest.mark.slow
async def test_operator_creates_the_job_and_follows_it_to_success(kmock: Any) -> None:
    declare(kmock)
    kmock.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, NAME] = resource()
    async with operator(kmock):
        await until(lambda: live(kmock, "batch/v1/jobs", NAME) is not None, "the Job")
        assert live(kmock, "v1/configmaps", f"{NAME}-spec") is not None

        def phase() -> str | None:
            sweep = live(kmock, "govsim.io/v1alpha1/sweeps", NAME) or {}
            return (sweep.get("status") or {}).get("phase")

        await until(lambda: phase() == "Pending", "phase Pending")

        # Play the Job controller: the Job finishes; its event must reach the Sweep by label.
        batch = k8s.BatchV1Api(k8s.ApiClient(k8s.Configuration(host=str(kmock.url).rstrip("/"))))
        done = {
            "status": {
                "startTime": "2025-01-01T00:10:00Z",
                "completionTime": "2025-01-01T01:00:00Z",
                "completedIndexes": "0-7",
                "conditions": [
                    {
                        "type": "Complete",
                        "status": "True",
                        "lastTransitionTime": "2025-01-01T01:00:00Z",
                    }
                ],
            }
        }
        await asyncio.to_thread(batch.patch_namespaced_job_status, NAME, NAMESPACE, done)
        await until(lambda: phase() == "Succeeded", "phase Succeeded")

    sweep = live(kmock, "govsim.io/v1alpha1/sweeps", NAME) or {}
    assert sweep["status"]["tasksDone"] == 8
    annotations = sweep["metadata"].get("annotations") or {}
    assert any(key.startswith("govsim.io/") for key in annotations), annotations  # kopf progress
    assert not any(key.startswith("kopf.zalando.org") for key in annotations)
    assert "kopf" not in sweep["status"]
    job_posts = [
        r for r in list(kmock) if r.method.value == "POST" and r.url.path.endswith("/jobs")
    ]
    assert len(job_posts) == 1
    # The Job watch is ours and selects on the server: no request lists every Job.
    job_gets = [r for r in list(kmock) if r.method.value == "GET" and r.url.path.endswith("/jobs")]
    assert job_gets and all(r.params.get("labelSelector") == "govsim.io/sweep" for r in job_gets)


@pytest.mark.slow
async def test_created_sweep_gets_no_finalizer_one_event_and_one_transition(kmock: Any) -> None:
    declare(kmock)
    kmock.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, NAME] = resource()

    def sweep() -> dict[str, Any]:
        return live(kmock, "govsim.io/v1alpha1/sweeps", NAME) or {}

    def handled() -> bool:
        annotations = sweep().get("metadata", {}).get("annotations") or {}
        return any("last-handled-configuration" in key for key in annotations)

    def job_routed() -> bool:  # the Job's ADDED event reconciled the Sweep once more
        reads = [r for r in list(kmock) if r.method.value == "GET" and r.url.path.endswith(NAME)]
        return len(reads) >= 2

    async with operator(kmock):
        await until(lambda: (sweep().get("status") or {}).get("phase") == "Pending", "Pending")
        await until(handled, "kopf's record of the handled create")
        await until(job_routed, "a second reconcile")
        assert sweep()["metadata"].get("finalizers") in (None, [])

    events = [
        json.loads(r.body)
        for r in list(kmock)
        if r.method.value == "POST" and r.url.path.endswith("/events")
    ]
    ours = [e for e in events if e.get("source", {}).get("component") == "govsim-controller"]
    # The example's tiny tasks warn once, when the Job is created, not on the second reconcile.
    assert [e["reason"] for e in ours] == ["TaskSize", "Created"]
    assert ours[0]["type"] == "Warning" and ours[0]["message"].startswith("spec.runsPerTask: ")
    transitions = [
        r
        for r in list(kmock)
        if r.method.value == "PATCH"
        and r.url.path.endswith("/status")
        and "phase" in (json.loads(r.body).get("status") or {})
    ]
    assert len(transitions) == 1


@pytest.mark.slow
async def test_deleting_a_sweep_deletes_its_pushgateway_groups(kmock: Any) -> None:
    declare(kmock)
    kmock["delete", re.compile(r"/metrics/job/govsim-worker/.*")] << 202
    # The Pushgateway's group listing: the sweep's two slot groups (of 8 tasks).
    groups = [
        {"labels": {"job": "govsim-worker", "sweep": NAME, "sweep_namespace": NAMESPACE,
                    "slot": str(slot)}}
        for slot in (0, 1)
    ]  # fmt: skip
    kmock["get", "/api/v1/metrics"] << {"status": "success", "data": groups}
    config = ControllerConfig(s3_bucket="govsim-results", pushgateway_url=str(kmock.url))
    running = {"phase": "Running", "tasksTotal": 8, "startTime": "2025-01-01T00:10:00Z"}
    kmock.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, NAME] = resource(status=running)
    custom = k8s.CustomObjectsApi(k8s.ApiClient(k8s.Configuration(host=str(kmock.url))))

    def deletes() -> list[str]:
        return [
            r.url.path
            for r in list(kmock)
            if r.method.value == "DELETE" and "/metrics/" in r.url.path
        ]

    async with operator(kmock, config):
        await until(lambda: live(kmock, "batch/v1/jobs", NAME) is not None, "the Job")
        assert deletes() == []
        await asyncio.to_thread(
            custom.delete_namespaced_custom_object,
            "govsim.io",
            "v1alpha1",
            NAMESPACE,
            "sweeps",
            NAME,
        )
        await until(lambda: len(deletes()) == 2, "2 group deletions")
    assert sorted(deletes()) == [
        f"/metrics/job/govsim-worker/slot/{slot}/sweep/{NAME}/sweep_namespace/{NAMESPACE}"
        for slot in (0, 1)
    ]

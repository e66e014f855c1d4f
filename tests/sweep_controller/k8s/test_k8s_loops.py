"""The controller's loops and its act step against the fake API server (kmock).

The resync pass, the label-selected Job watch, the removal of the legacy kopf finalizer, the
status a refused create leaves, FailedCreate Events on the Sweep, the CRD schema-version check,
the Pushgateway cleanup outside the Sweep's lock and the health of the resync loop. The client
is synchronous, so its calls run in threads while kmock serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from kit.kube import NAMESPACE, UID, api_for, call, declare, live, requests, resource
from kit.waiting import until
from kubernetes import client as k8s

from sweep_controller.commands.controller import ControllerStartError, check_crd
from sweep_controller.k8s import crd
from sweep_controller.k8s.api import LEGACY_FINALIZER, KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.loops import JobWatch, ResyncLoop
from sweep_controller.k8s.objects import Owner, build_job
from sweep_controller.k8s.operator import Background, remove_legacy_finalizers
from sweep_controller.spec.loading import sweep_from_resource

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NAME = "whale-vs-conformity"
SWEEPS = "govsim.io/v1alpha1/sweeps"
JOBS = "batch/v1/jobs"
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"
NOW = datetime(2025, 1, 1, 2, 0, 0, tzinfo=UTC)
CONFIG = ControllerConfig(s3_bucket="govsim-results", s3_prefix="sweeps")


def status(kmock: Any) -> dict[str, Any]:
    return dict((live(kmock, SWEEPS, NAME) or {}).get("status") or {})


def posted_events(kmock: Any) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in requests(kmock, "POST", r"/api/v1/namespaces/.*/events")]


# --- the resync pass ------------------------------------------------------------------------------


async def test_resync_pass_reconciles_a_sweep_that_got_no_event(kmock: Any) -> None:
    declare(kmock)
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource()
    loop = ResyncLoop(Controller(api_for(kmock), CONFIG), [NAMESPACE], interval=60)
    await call(loop.run_pass)
    assert live(kmock, JOBS, NAME) is not None
    assert status(kmock)["phase"] == "Pending"


async def test_settled_sweep_costs_only_the_listing(kmock: Any) -> None:
    declare(kmock)
    done = {
        "phase": "Succeeded",
        "tasksTotal": 8,
        "startTime": "2025-01-01T00:10:00Z",
        "completionTime": "2025-01-01T01:00:00Z",
        "pushgatewayCleanedUp": True,
    }
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource(status=done)
    config = CONFIG.model_copy(update={"pushgateway_url": "http://pushgateway:9091"})
    loop = ResyncLoop(Controller(api_for(kmock), config), [NAMESPACE], interval=60)
    before = len(list(kmock))
    await call(loop.run_pass)
    made = [(r.method.value, r.url.path) for r in list(kmock)[before:]]
    assert made == [("GET", f"/apis/govsim.io/v1alpha1/namespaces/{NAMESPACE}/sweeps")]


async def test_resync_loop_health_turns_red_when_it_makes_no_progress() -> None:
    now = [0.0]
    loop = ResyncLoop(Controller(api_for_nothing(), CONFIG), [], interval=60, clock=lambda: now[0])
    background = Background(
        Controller(api_for_nothing(), CONFIG), [], resync_seconds=60, watch_timeout_seconds=1
    )
    background.resync = loop
    now[0] = 170.0
    assert loop.healthy()
    assert background.health() == {"secondsSinceResync": 170.0}
    now[0] = 181.0  # more than 3 intervals without progress
    assert not loop.healthy()
    with pytest.raises(kopf.PermanentError, match="made no progress for 181 s"):
        background.health()


def api_for_nothing() -> KubeApi:
    return KubeApi(k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9")))


# --- the legacy finalizer -------------------------------------------------------------------------


async def test_startup_removes_only_the_legacy_finalizer(kmock: Any) -> None:
    declare(kmock)
    body = resource()
    body["metadata"]["finalizers"] = ["example.com/keep", LEGACY_FINALIZER]
    kmock.objects[SWEEPS, NAMESPACE, NAME] = body
    other = resource("whale-vs-conformity", uid="other")
    other["metadata"]["name"] = "untouched"
    kmock.objects[SWEEPS, NAMESPACE, "untouched"] = other
    assert await call(remove_legacy_finalizers, api_for(kmock), [NAMESPACE]) == 1
    assert live(kmock, SWEEPS, NAME)["metadata"]["finalizers"] == ["example.com/keep"]  # type: ignore[index]
    (patch,) = requests(kmock, "PATCH", r".*/sweeps/.*")
    assert patch.headers["Content-Type"] == "application/json-patch+json"
    assert json.loads(patch.body) == [
        {"op": "test", "path": "/metadata/finalizers/1", "value": LEGACY_FINALIZER},
        {"op": "remove", "path": "/metadata/finalizers/1"},
    ]


# --- the Job watch --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_job_watch_selects_on_the_server_and_routes_events(kmock: Any) -> None:
    declare(kmock)
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource()
    routed: list[tuple[str, str]] = []
    watch = JobWatch(
        api_for(kmock), lambda ns, name: routed.append((ns, name)), NAMESPACE, timeout_seconds=1
    )
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    try:
        await until(lambda: bool(requests(kmock, "GET", r".*/jobs")), "a Job listing")
        job = build_job(sweep_from_resource(resource()), CONFIG, Owner(NAME, UID))
        batch = k8s.BatchV1Api(api_for(kmock).batch.api_client)
        await call(batch.create_namespaced_job, NAMESPACE, job)
        await until(lambda: (NAMESPACE, NAME) in routed, "the Job's event routed to its Sweep")
    finally:
        stop.set()
        await call(thread.join, 15)  # the fake ignores timeoutSeconds: the client's slack ends it
    assert not thread.is_alive()
    gets = requests(kmock, "GET", rf"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")
    assert gets and all(r.params.get("labelSelector") == "govsim.io/sweep" for r in gets)
    assert any(r.params.get("watch") == "true" for r in gets)
    assert all("labelSelector" in r.params for r in requests(kmock, "GET", r".*/jobs"))


# --- a create the API server refuses --------------------------------------------------------------


async def test_job_rejected_by_the_api_server_fails_the_sweep(kmock: Any) -> None:
    declare(kmock)
    reply = {"kind": "Status", "code": 422, "message": 'Job.batch "x" is invalid: spec.parallelism'}
    kmock["post", re.compile(r"/apis/batch/v1/namespaces/.*/jobs")] << 422 << reply
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource()
    controller = Controller(api_for(kmock), CONFIG, clock=lambda: NOW)
    await call(controller.reconcile_named, NAMESPACE, NAME)
    got = status(kmock)
    assert got["phase"] == "Failed"
    assert "is invalid: spec.parallelism" in got["message"]
    failed = next(c for c in got["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "JobRejected"
    (event,) = posted_events(kmock)
    assert (event["type"], event["reason"]) == ("Warning", "JobRejected")
    # Final: a later reconcile does not post the Job again.
    await call(controller.reconcile_named, NAMESPACE, NAME)
    assert len(requests(kmock, "POST", r"/apis/batch/v1/namespaces/.*/jobs")) == 1


async def test_temporary_refusal_is_retried_with_its_message_on_the_status(kmock: Any) -> None:
    declare(kmock)
    reply = {"kind": "Status", "code": 403, "message": "exceeded quota: count/jobs.batch=0"}
    kmock["post", re.compile(r"/apis/batch/v1/namespaces/.*/jobs")] << 403 << reply
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource()
    controller = Controller(api_for(kmock), CONFIG, clock=lambda: NOW)
    with pytest.raises(kopf.TemporaryError):
        await call(controller.reconcile_named, NAMESPACE, NAME)
    got = status(kmock)
    assert got["phase"] == "Pending"
    assert "retrying" in got["message"] and "exceeded quota" in got["message"]


# --- pods that are never created ------------------------------------------------------------------


async def test_failed_create_events_reach_the_sweep_then_fail_it(kmock: Any) -> None:
    declare(kmock)
    kmock.resources["v1/events"] = kmock.ResourceInfo(
        kind="Event", singular="event", namespaced=True, verbs=["create", "list"]
    )
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource()
    job_uid = "7a0c1d2e-0000-4000-8000-000000000002"
    job = build_job(sweep_from_resource(resource()), CONFIG, Owner(NAME, UID))
    job["metadata"]["uid"] = job_uid
    job["status"] = {"startTime": "2025-01-01T01:58:00Z"}  # processed, but no pod exists
    kmock.objects[JOBS, NAMESPACE, NAME] = job
    clock = [NOW]
    controller = Controller(api_for(kmock), CONFIG, clock=lambda: clock[0])
    message = 'Error creating: pods "x-0-" is forbidden: error looking up service account'
    kmock.objects["v1/events", NAMESPACE, f"{NAME}.1"] = {
        "metadata": {"name": f"{NAME}.1", "namespace": NAMESPACE},
        "involvedObject": {"kind": "Job", "name": NAME, "namespace": NAMESPACE, "uid": job_uid},
        "reason": "FailedCreate",
        "type": "Warning",
        "message": message,
        "firstTimestamp": "2025-01-01T01:59:00Z",
        "lastTimestamp": "2025-01-01T02:00:00Z",
    }
    # Events of other objects or reasons are ignored (the fake ignores field selectors).
    kmock.objects["v1/events", NAMESPACE, "other.1"] = {
        "metadata": {"name": "other.1", "namespace": NAMESPACE},
        "involvedObject": {"kind": "Job", "name": "other", "namespace": NAMESPACE, "uid": "u"},
        "reason": "FailedCreate",
        "message": "not ours",
        "firstTimestamp": "2025-01-01T00:00:00Z",
    }
    await call(controller.reconcile_named, NAMESPACE, NAME)
    got = status(kmock)
    assert got["phase"] == "Pending"
    assert message in got["message"]
    pods = next(c for c in got["conditions"] if c["type"] == "PodsCreated")
    assert (pods["status"], pods["reason"], pods["message"]) == ("False", "FailedCreate", message)
    (listing,) = requests(kmock, "GET", rf"/api/v1/namespaces/{NAMESPACE}/events")
    selector = listing.params["fieldSelector"]
    assert "reason=FailedCreate" in selector and f"involvedObject.uid={job_uid}" in selector

    clock[0] = NOW + timedelta(seconds=CONFIG.pod_creation_timeout_seconds)
    await call(controller.reconcile_named, NAMESPACE, NAME)
    got = status(kmock)
    assert got["phase"] == "Failed"
    assert next(c for c in got["conditions"] if c["type"] == "Failed")["reason"] == (
        "PodsNotCreated"
    )


# --- the CRD's schema version ---------------------------------------------------------------------


def crd_with(version: int | None) -> dict[str, Any]:
    body = crd.build_crd()
    if version is None:
        del body["metadata"]["annotations"]
    else:
        body["metadata"]["annotations"] = {crd.SCHEMA_VERSION_ANNOTATION: str(version)}
    return body


@pytest.mark.parametrize(
    ("installed", "outcome"),
    [
        ("missing", "CRD sweeps.govsim.io is not installed"),
        (None, f"has schema version 1; this controller needs {crd.SCHEMA_VERSION}: kubectl apply"),
        (crd.SCHEMA_VERSION - 1, "kubectl apply --server-side --force-conflicts -f charts/govsim"),
        (crd.SCHEMA_VERSION, crd.SCHEMA_VERSION),
        (crd.SCHEMA_VERSION + 1, crd.SCHEMA_VERSION + 1),
    ],
)
async def test_controller_checks_the_installed_crd(
    kmock: Any, installed: int | str | None, outcome: int | str
) -> None:
    declare(kmock)
    if installed != "missing":
        kmock.objects[CRDS, None, crd.CRD_NAME] = crd_with(installed)  # type: ignore[arg-type]
    api = api_for(kmock)
    if isinstance(outcome, int):
        assert await call(check_crd, api) == outcome
        return
    with pytest.raises(crd.CrdVersionError, match=re.escape(outcome)):
        await call(check_crd, api)


async def test_unreadable_crd_is_a_start_error(kmock: Any) -> None:
    kmock["get", re.compile(r"/apis/apiextensions.k8s.io/.*")] << 403 << {"message": "forbidden"}
    with pytest.raises(ControllerStartError, match="403"):
        await call(check_crd, api_for(kmock))


# --- the Pushgateway cleanup runs outside the Sweep's lock ----------------------------------------


class _SlowPushgateway(http.server.BaseHTTPRequestHandler):
    release = threading.Event()
    entered = threading.Event()

    def do_GET(self) -> None:
        """The group listing: the sweep's one slot group."""
        labels = {"job": "govsim-worker", "sweep": NAME, "sweep_namespace": NAMESPACE, "slot": "0"}
        body = json.dumps({"status": "success", "data": [{"labels": labels}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self) -> None:
        type(self).entered.set()
        type(self).release.wait(20)
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def slow_pushgateway() -> Iterator[str]:
    _SlowPushgateway.release = threading.Event()
    _SlowPushgateway.entered = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowPushgateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _SlowPushgateway.release.set()
    server.shutdown()


async def test_slow_pushgateway_does_not_hold_the_sweeps_lock(
    kmock: Any, slow_pushgateway: str
) -> None:
    declare(kmock)
    finished = {
        "phase": "Succeeded",
        "tasksTotal": 1,
        "startTime": "2025-01-01T00:10:00Z",
        "completionTime": "2025-01-01T00:20:00Z",
    }
    kmock.objects[SWEEPS, NAMESPACE, NAME] = resource(status=finished)
    config = CONFIG.model_copy(
        update={"pushgateway_url": slow_pushgateway, "pushgateway_cleanup_grace_seconds": 0}
    )
    controller = Controller(api_for(kmock), config, clock=lambda: NOW)
    first = asyncio.ensure_future(call(controller.reconcile_named, NAMESPACE, NAME))
    await until(_SlowPushgateway.entered.is_set, "the first DELETE")
    # While that DELETE hangs, the same Sweep reconciles at once (its lock is free), and does not
    # start a second cleanup of its own.
    second = await asyncio.wait_for(call(controller.reconcile_named, NAMESPACE, NAME), 10)
    assert second is not None
    assert status(kmock).get("pushgatewayCleanedUp") is None
    _SlowPushgateway.release.set()
    await asyncio.wait_for(first, 20)
    assert status(kmock)["pushgatewayCleanedUp"] is True

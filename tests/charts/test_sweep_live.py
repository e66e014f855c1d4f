"""Issue 6's acceptance test: a real local sweep, pushed and scraped, read through the dashboard.

`sweepctl run` runs a small sweep as a subprocess with `--pushgateway` (each task pushes its
metrics to a real Pushgateway that a real Prometheus scrapes) and `--metrics-port` (the runner's
own /metrics, a Prometheus target while it runs). Then every query of every dashboard panel built
on govsim metrics runs against Prometheus's HTTP API, and each must agree with the sweep's own
records: tasks done equal the task count, no failures, as many runs as the sweep has, the pass
rate and mean agents of the records, their cascade sizes bucket for bucket, the bytes stored.

Rows:

- the sweep rows (above the first row) read the pushed task metrics, after the run;
- the local runner row exists only while `sweepctl run` lives (it stops serving when the sweep
  ends). Task 0 is much heavier than the others, so the runner lives on for seconds after they
  finish; the test polls Prometheus during the run and checks the row when it shows every task
  but the heavy one done and that one running;
- the controller row needs the Kubernetes controller; test_dashboard_live.py checks its panels
  against a served ControllerMetrics. Here the controller's Pushgateway cleanup runs for real:
  reconcile decides to delete a finished sweep's groups once the grace period has passed, and
  the controller carries that out against the real Pushgateway (the Kubernetes API where it
  records the cleanup is kmock's fake, the one part that cannot run here).
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kit.cli import sweepctl as run_sweepctl
from kit.cli import sweepctl_process
from kit.dashboard import (
    PanelQuery,
    PanelResult,
    assert_every_query_returns_finite_series,
    govsim_metric_names,
    incomplete_results,
    load_dashboard,
    panel_queries,
    run_panel_queries,
    wait_for_complete_results,
)
from kit.live_sweeps import cumulative_counts, slot_groups, sweep_doc
from kit.promstack import Prometheus, PrometheusAPI, Pushgateway
from kit.runs import read_output
from kit.servers import free_port
from kit.specs import write_spec
from kubernetes import client as k8s
from prometheus_client import CollectorRegistry

from sweep_controller.k8s.api import KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.reconcile import (
    Action,
    CreateConfigMap,
    CreateJob,
    DeletePushgatewayGroups,
    Observed,
    UpdateStatus,
    reconcile,
)
from sweep_controller.metrics import (
    FLIP_BUCKETS,
    FLIPPED_RATIO_BUCKETS,
    RUN_DURATION_BUCKETS,
    TASK_DURATION_BUCKETS,
    ControllerMetrics,
)

pytestmark = pytest.mark.integration

HEAVY_AGENTS = 500_000  # task 0: about 4 s here, while the five light tasks take well under 1 s
TASK_AGENTS = (HEAVY_AGENTS, 60, 90, 120, 150, 180)
REPLICATES = 16
TASKS = len(TASK_AGENTS)
RUNS = TASKS * REPLICATES
WORKERS = 2
WAIT_SECONDS = 60.0  # upper bound of every wait for a scrape
SWEEP_ROW = None  # panels above the first row: the sweep's pushed task metrics
RUNNER_PANEL = "Local runner tasks"


def row_of(queries: list[PanelQuery], prefix: str) -> str | None:
    """The one dashboard row whose queries use metrics named ``prefix...``."""
    rows = {
        q.row
        for q in queries
        if any(name.startswith(prefix) for name in govsim_metric_names(q.expr))
    }
    assert len(rows) == 1, f"{prefix} metrics are in rows {rows}"
    return rows.pop()


def values(results: Mapping[tuple[str, str], PanelResult], panel: str, ref: str) -> list[float]:
    return [s.value for s in results[(panel, ref)].series]


def by_label(result: PanelResult, label: str) -> dict[str, float]:
    return {s.labels[label]: s.value for s in result.series}


def bucket_bound(value: float, bounds: Sequence[float]) -> float:
    """The upper bound of the histogram bucket that holds ``value``."""
    return min((b for b in bounds if b >= value), default=math.inf)


def buckets(result: PanelResult) -> dict[float, float]:
    """A histogram panel's cumulative counts by bucket bound (``le`` as a float)."""
    return {float(le): value for le, value in by_label(result, "le").items()}


def read_runner_row(
    api: PrometheusAPI, queries: list[PanelQuery], sweep: str
) -> dict[tuple[str, str], PanelResult] | None:
    """The runner row's answers now, or None while some query has no series yet."""
    results = run_panel_queries(api, queries, sweep_regex=sweep)
    if incomplete_results(results):
        return None
    return {(r.query.panel, r.query.ref_id): r for r in results}


def check_runner_view(view: Mapping[tuple[str, str], PanelResult]) -> tuple[float, float]:
    """Assert what holds at every moment of the run; return (succeeded, running)."""
    assert values(view, RUNNER_PANEL, "A") == [TASKS]
    (running,) = values(view, RUNNER_PANEL, "B")
    assert 0 <= running <= TASKS
    statuses = by_label(view[(RUNNER_PANEL, "C")], "status")
    assert set(statuses) == {"succeeded", "failed", "skipped"}
    assert statuses["failed"] == statuses["skipped"] == 0
    assert 0 <= statuses["succeeded"] <= TASKS
    return statuses["succeeded"], running


def test_a_local_sweep_feeds_every_dashboard_panel(
    prometheus: Prometheus,
    prom_api: PrometheusAPI,
    pushgateway: Pushgateway,
    unique_sweep: str,
    tmp_path: Path,
) -> None:
    sweep = unique_sweep
    doc = sweep_doc(sweep, f"file://{tmp_path}/results", agents=TASK_AGENTS, replicates=REPLICATES)
    spec = write_spec(tmp_path / "sweep.yaml", doc)
    queries = panel_queries(load_dashboard())
    runner_row = row_of(queries, "govsim_runner_")
    controller_row = row_of(queries, "govsim_controller_")
    # A new row on govsim metrics must be covered here (or its absence explained above).
    assert {q.row for q in queries} == {SWEEP_ROW, runner_row, controller_row}
    sweep_queries = [q for q in queries if q.row == SWEEP_ROW]
    runner_queries = [q for q in queries if q.row == runner_row]

    port = free_port()
    prometheus.set_targets("govsim-runner", [f"127.0.0.1:{port}"])
    # Prometheus applies new targets only every few seconds; wait until it scrapes this one
    # (failing: nothing listens yet), so the runner is scraped from its first second on.
    prom_api.wait_for(
        f'up{{job="govsim-runner",instance="127.0.0.1:{port}"}}', timeout=WAIT_SECONDS
    )
    started, started_wall = time.monotonic(), time.time()
    seen: list[tuple[float, float]] = []
    last_light_done: dict[tuple[str, str], PanelResult] | None = None
    try:
        with sweepctl_process(
            "run", spec, "--workers", str(WORKERS), "--no-progress",
            "--pushgateway", pushgateway.url, "--metrics-port", str(port),
            log=tmp_path / "run.log",
        ) as proc:  # fmt: skip
            while proc.poll() is None and last_light_done is None:
                view = read_runner_row(prom_api, runner_queries, sweep)
                if view is not None:
                    seen.append(check_runner_view(view))
                    if seen[-1] == (TASKS - 1, 1):
                        last_light_done = view
                time.sleep(0.1)
            code = proc.wait(timeout=300)
    finally:
        prometheus.set_targets("govsim-runner", [])
    log = (tmp_path / "run.log").read_text()
    assert code == 0, log
    assert f"{TASKS}/{TASKS} tasks done" in log and "failed" not in log, log

    # Local runner row, read while the heavy task was the only one left.
    assert last_light_done is not None, (
        f"the runner ended before Prometheus showed {TASKS - 1} tasks done and 1 running "
        f"(seen (succeeded, running): {seen}); make task 0 heavier than {HEAVY_AGENTS} agents"
    )
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)  # done tasks never go back
    statuses = by_label(last_light_done[(RUNNER_PANEL, "C")], "status")
    assert statuses == {"succeeded": TASKS - 1, "failed": 0, "skipped": 0}

    # The sweep rows, once Prometheus has scraped every task's last push.
    output = read_output(spec)
    assert output.tasks_done == TASKS and len(output.records) == RUNS
    prom_api.wait_for_value(
        f'sum(govsim_tasks_total{{sweep="{sweep}",status="succeeded"}})',
        TASKS,
        timeout=WAIT_SECONDS,
    )
    # Throughput samples the runs at whole-second steps ($__interval): wait for a step that
    # sees the last push as well, or the panel's last point can still miss it.
    prom_api.wait_for_value(
        f'last_over_time(sum(govsim_runs_total{{sweep="{sweep}",outcome="ok"}})[1s:1s])',
        RUNS,
        timeout=WAIT_SECONDS,
    )
    window = f"{max(60, math.ceil(time.monotonic() - started) + 30)}s"  # spans the whole run
    answers = wait_for_complete_results(
        prom_api, sweep_queries, sweep_regex=sweep, rate_interval=window, timeout=WAIT_SECONDS
    )
    assert_every_query_returns_finite_series(answers)
    wall = time.time() - started_wall
    results = {(r.query.panel, r.query.ref_id): r for r in answers}
    for result in answers:
        assert all(s.labels.get("sweep", sweep) == sweep for s in result.series), result.expr

    records = output.records
    assert values(results, "Progress (tasks done / total)", "A") == [1.0]
    panel = "Tasks done / total / failed"
    assert [values(results, panel, ref) for ref in "ABC"] == [[TASKS], [TASKS], [0]]
    (since_progress,) = values(results, "Time since last progress", "A")
    assert 0 <= since_progress <= wall
    (throughput,) = values(results, "Throughput (runs/s)", "A")
    assert throughput > 0
    assert [values(results, "Failure rate", ref) for ref in "AB"] == [[0], [0]]
    (pass_rate,) = values(results, "Pass rate", "A")
    assert 0 <= pass_rate <= 1
    assert pass_rate == pytest.approx(sum(r.votes.passed for r in records) / RUNS)
    # Quantiles interpolate within a bucket, so they are bounded by the bucket holding ``wall``.
    run_p50, run_p90, run_p99 = (values(results, "Run duration quantiles", r)[0] for r in "ABC")
    assert 0 < run_p50 <= run_p90 <= run_p99 <= bucket_bound(wall, RUN_DURATION_BUCKETS)
    assert run_p50 < run_p99  # a heavy run takes far longer than a light one
    task_p50, task_p90, task_p99 = (values(results, "Task duration quantiles", r)[0] for r in "ABC")
    assert 0 < task_p50 <= task_p90 <= task_p99 <= bucket_bound(wall, TASK_DURATION_BUCKETS)
    (mean_agents,) = values(results, "Agents per run (mean) and runs", "A")
    assert mean_agents == pytest.approx(sum(r.params.agents for r in records) / RUNS)
    assert values(results, "Agents per run (mean) and runs", "B") == [RUNS]
    flips = buckets(results[("Cascade size distribution (flips per run)", "A")])
    assert flips == cumulative_counts([r.flips.total for r in records], FLIP_BUCKETS)
    shares = buckets(results[("Cascade size distribution (share of agents flipped)", "A")])
    flipped = [r.agents_flipped_total / r.params.agents for r in records]
    assert shares == cumulative_counts(flipped, FLIPPED_RATIO_BUCKETS)
    storage = "Storage and Pushgateway"
    assert values(results, storage, "A") == [output.bytes_written]
    assert values(results, storage, "B") == [0]  # a local directory needs no retries
    assert values(results, storage, "C") == [0]  # every push reached the gateway


# --- the controller's Pushgateway cleanup -------------------------------------------------------

NAMESPACE = "research"
UID = "0b6c1f0e-0000-4000-8000-00000000c1ea"
SWEEPS = "govsim.io/v1alpha1/sweeps"
GRACE = timedelta(seconds=600)
CREATED = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
ENDED = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


def as_resource(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Sweep document as the API server returns it once applied."""
    body = copy.deepcopy(dict(doc))
    body["metadata"] = {
        "name": doc["metadata"]["name"],
        "namespace": NAMESPACE,
        "uid": UID,
        "generation": 1,
        "resourceVersion": "7",
        "creationTimestamp": "2025-03-01T09:00:00Z",
    }
    return body


def applied(body: Mapping[str, Any], actions: list[Action]) -> dict[str, Any]:
    """The Sweep after the status patches among ``actions`` (merge patch: None deletes)."""
    out = copy.deepcopy(dict(body))
    status = dict(out.get("status") or {})
    for action in actions:
        if isinstance(action, UpdateStatus):
            status = {k: v for k, v in {**status, **action.patch}.items() if v is not None}
    out["status"] = status
    return out


def finished(doc: Mapping[str, Any], config: ControllerConfig) -> tuple[dict[str, Any], Observed]:
    """The Sweep with the status reconcile gave it: Job created, run, Complete at ``ENDED``."""
    body = as_resource(doc)
    actions = reconcile(body, Observed(), CREATED, config=config)
    configmap = next(a.body for a in actions if isinstance(a, CreateConfigMap))
    job = copy.deepcopy(dict(next(a.body for a in actions if isinstance(a, CreateJob))))
    body = applied(body, actions)
    end = ENDED.isoformat().replace("+00:00", "Z")
    n_tasks = len(doc["spec"]["parameters"]["agents"]["values"])
    job["status"] = {
        "startTime": "2025-03-01T09:00:05Z",
        "completionTime": end,
        "completedIndexes": f"0-{n_tasks - 1}",
        "succeeded": n_tasks,
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": end}],
    }
    observed = Observed(configmap=configmap, job=job)
    body = applied(body, reconcile(body, observed, ENDED, config=config))
    assert body["status"]["phase"] == "Succeeded"
    return body, observed


def live_status(kmock: Any, name: str) -> dict[str, Any]:
    for (resource, namespace, obj_name), obj in kmock.objects.items():
        kind = f"{resource.group}/{resource.version}/{resource.plural}".lstrip("/")
        if kind == SWEEPS and namespace == NAMESPACE and obj_name == name and not obj.deleted:
            return dict(dict(obj.raw).get("status") or {})
    raise AssertionError(f"Sweep {NAMESPACE}/{name} is not on the fake API server")


@pytest.mark.asyncio
async def test_the_controller_deletes_a_finished_sweeps_groups_after_the_grace_period(
    kmock: Any,
    pushgateway: Pushgateway,
    prom_api: PrometheusAPI,
    unique_sweep: str,
    tmp_path: Path,
) -> None:
    sweep = unique_sweep
    doc = sweep_doc(sweep, f"file://{tmp_path}/results", agents=(60, 80, 100), replicates=2)
    spec = write_spec(tmp_path / "sweep.yaml", doc)
    # Each task runs as a Job's pod would: `sweepctl worker` with the pod's namespace and the
    # Job's parallelism, so each task claims the metric slot its index points at.
    env = {**os.environ, "GOVSIM_NAMESPACE": NAMESPACE, "GOVSIM_PARALLELISM": "3"}
    for index in range(3):
        done = await asyncio.to_thread(
            run_sweepctl,
            "worker",
            spec,
            "--index",
            str(index),
            "--pushgateway",
            pushgateway.url,
            env=env,
        )
        assert done.returncode == 0, done.stderr
    assert slot_groups(pushgateway, sweep) == [0, 1, 2]
    assert {g.get("sweep_namespace") for g in pushgateway.groups() if g.get("sweep") == sweep} == {
        NAMESPACE
    }
    await asyncio.to_thread(
        prom_api.wait_for_value,
        f'count(govsim_sweep_tasks{{sweep="{sweep}"}})',
        3,
        timeout=WAIT_SECONDS,
    )

    config = ControllerConfig(
        s3_bucket="govsim-results",
        pushgateway_url=pushgateway.url,
        pushgateway_cleanup_grace_seconds=int(GRACE.total_seconds()),
    )
    body, observed = finished(doc, config)
    kmock.objects[SWEEPS, NAMESPACE, sweep] = body
    # Within the grace period the groups stay, so the dashboard still shows the finished sweep.
    assert reconcile(body, observed, ENDED + GRACE - timedelta(seconds=1), config=config) == []
    actions = reconcile(body, observed, ENDED + GRACE, config=config)
    assert actions == [DeletePushgatewayGroups(sweep)]

    metrics = ControllerMetrics(CollectorRegistry())
    api = KubeApi(k8s.ApiClient(k8s.Configuration(host=str(kmock.url).rstrip("/"))))
    controller = Controller(api, config, metrics=metrics)
    await asyncio.to_thread(controller.carry_out, body, actions, ENDED + GRACE)

    await asyncio.to_thread(
        pushgateway.wait_for_groups, lambda groups: all(g.get("sweep") != sweep for g in groups)
    )
    # Prometheus's next scrape of the gateway lacks them, so they leave the dashboard too.
    await asyncio.to_thread(
        prom_api.wait_for,
        f'{{__name__=~"govsim_.+", sweep="{sweep}"}}',
        lambda answer: answer == [],
        timeout=WAIT_SECONDS,
    )
    sample = metrics.registry.get_sample_value
    name = "govsim_controller_pushgateway_group_deletions_total"
    assert (sample(name, {"result": "ok"}), sample(name, {"result": "failed"})) == (3, 0)
    status = live_status(kmock, sweep)
    assert status["pushgatewayCleanedUp"] is True
    # Recorded in the status, the cleanup is not repeated.
    later = ENDED + GRACE + timedelta(days=1)
    assert reconcile({**body, "status": status}, observed, later, config=config) == []

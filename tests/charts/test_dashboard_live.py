"""Every dashboard query against a real Prometheus fed by real pushes and real /metrics servers.

A fake sweep of three tasks records its runs with the real WorkerMetrics and pushes to a real
Pushgateway (at task start, periodically, and at the end), a ControllerMetrics and a
RunnerMetrics are served with serve_metrics and scraped; then each panel's queries run against
Prometheus's HTTP API and must return finite series whose values match what was recorded.

Nothing here depends on how fast the machine is: every step waits for the state it needs (a
scrape that shows a value, a deleted group that is gone), and rates are read over a window that
spans the whole test, so a slow run cannot push the increases it asserts out of the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from kit.dashboard import (
    PanelResult,
    assert_every_query_returns_finite_series,
    load_dashboard,
    panel_queries,
    wait_for_complete_results,
)
from kit.promstack import Prometheus, PrometheusAPI, Pushgateway
from prometheus_client import CollectorRegistry

from sweep_controller.metrics import (
    ControllerMetrics,
    ErrorKind,
    MetricsServer,
    PeriodicPusher,
    RunnerMetrics,
    WorkerMetrics,
    delete_sweep_groups,
    push_task_metrics,
    serve_metrics,
)
from sweep_controller.outcomes import TaskOutcome

pytestmark = pytest.mark.integration

TASKS = 3
RUNS_PER_TASK = 5
NAMESPACE = "lab"
WAIT_SECONDS = 60.0  # upper bound of each wait for a scrape; a busy machine needs more than 20 s


@dataclass
class Recorded:
    """What the fake sweep recorded, to compare the queries with."""

    runs: int = 0
    passed: int = 0
    agents: list[int] = field(default_factory=list)
    bytes_written: int = 0
    retries: int = 0


def run_fake_task(
    gateway: str,
    sweep: str,
    index: int,
    rng: np.random.Generator,
    api: PrometheusAPI,
    recorded: Recorded,
) -> None:
    """One task: push at start, runs under a PeriodicPusher, finish, final push, await scrape."""
    metrics = WorkerMetrics(
        CollectorRegistry(), sweep=sweep, namespace=NAMESPACE, total_tasks=TASKS
    )
    assert push_task_metrics(gateway, metrics, slot=index)
    api.wait_for(
        f'govsim_task_started_timestamp_seconds{{sweep="{sweep}",slot="{index}"}}',
        timeout=WAIT_SECONDS,
    )
    with PeriodicPusher(
        lambda: push_task_metrics(gateway, metrics, slot=index), interval_seconds=0.05
    ):
        for _ in range(RUNS_PER_TASK):
            agents = int(rng.integers(50, 5000))
            flipped = int(rng.integers(0, agents + 1))
            passed = bool(rng.random() < 0.6)
            metrics.observe_run(
                duration_seconds=float(rng.uniform(0.001, 0.5)),
                agents=agents,
                flips=flipped + int(rng.integers(0, 10)),
                agents_flipped=flipped,
                passed=passed,
            )
            recorded.runs += 1
            recorded.passed += passed
            recorded.agents.append(agents)
        nbytes = int(rng.integers(1000, 100_000))
        metrics.add_storage_written(nbytes)
        recorded.bytes_written += nbytes
        if index == 1:
            metrics.add_storage_retry()
            recorded.retries += 1
    metrics.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=float(rng.uniform(1, 100)))
    assert push_task_metrics(gateway, metrics, slot=index)
    api.wait_for_value(
        f'govsim_tasks_total{{sweep="{sweep}",slot="{index}",status="succeeded"}}',
        1,
        timeout=WAIT_SECONDS,
    )


@dataclass(frozen=True)
class Served:
    """A controller's and a runner's registry, each on its own /metrics server."""

    controller: ControllerMetrics
    controller_server: MetricsServer
    runner: RunnerMetrics


@pytest.fixture
def served(prometheus: Prometheus) -> Iterator[Served]:
    """A controller and a runner registry on /metrics, registered as Prometheus targets."""
    controller = ControllerMetrics(CollectorRegistry(), phases=["Pending", "Running"])
    runner = RunnerMetrics(CollectorRegistry())
    servers = {
        "govsim-controller": serve_metrics(controller.registry, 0, addr="127.0.0.1"),
        "govsim-runner": serve_metrics(runner.registry, 0, addr="127.0.0.1"),
    }
    for job, server in servers.items():
        prometheus.set_targets(job, [f"127.0.0.1:{server.port}"])
    yield Served(controller, servers["govsim-controller"], runner)
    for job, server in servers.items():
        prometheus.set_targets(job, [])
        server.close()


def one(results: dict[tuple[str, str], PanelResult], panel: str, ref: str) -> list[float]:
    return [s.value for s in results[(panel, ref)].series]


def test_every_panel_query_returns_plausible_values(
    pushgateway: Pushgateway,
    prom_api: PrometheusAPI,
    served: Served,
    unique_sweep: str,
) -> None:
    started = time.monotonic()
    sweep = unique_sweep
    controller, runner = served.controller, served.runner
    controller_instance = f'instance="127.0.0.1:{served.controller_server.port}"'

    # The controller reconciles between scrapes, so rates over the window are positive.
    def reconcile_and_wait(expected: int) -> None:
        with controller.reconcile_timer():
            controller.set_sweeps_by_phase({"Running": 1})
            controller.set_sweep_tasks(NAMESPACE, sweep, total=TASKS, done=expected - 1, failed=0)
        prom_api.wait_for_value(
            f'govsim_controller_reconciles_total{{result="ok",{controller_instance}}}',
            expected,
            timeout=WAIT_SECONDS,
        )

    reconcile_and_wait(1)
    controller.record_error(ErrorKind.TEMPORARY)
    reconcile_and_wait(2)

    # An old sweep's groups, deleted the way the controller cleans up after the grace period.
    old = WorkerMetrics(
        CollectorRegistry(), sweep=f"{sweep}-old", namespace=NAMESPACE, total_tasks=2
    )
    for index in (0, 1):
        assert push_task_metrics(pushgateway.url, old, slot=index)
    deleted = delete_sweep_groups(pushgateway.url, NAMESPACE, f"{sweep}-old", range(2))
    controller.record_group_deletions(deleted)
    assert deleted.deleted == (0, 1)
    # The gateway answers a DELETE before applying it: wait for the groups to go.
    pushgateway.wait_for_groups(
        lambda groups: all(g.get("sweep") != f"{sweep}-old" for g in groups),
        timeout=WAIT_SECONDS,
    )

    recorded = Recorded()
    rng = np.random.default_rng(2024)
    # The runner's loop, one task at a time: the running count, then each task's outcome.
    runner.start_sweep(sweep, total_tasks=TASKS)
    for index in range(TASKS):
        runner.set_tasks_running(sweep, 1)
        run_fake_task(pushgateway.url, sweep, index, rng, prom_api, recorded)
        runner.record_task_finished(sweep, TaskOutcome.SUCCEEDED)
        runner.set_tasks_running(sweep, 0)
    reconcile_and_wait(3)
    prom_api.wait_for_value(
        f'govsim_runner_tasks_total{{sweep="{sweep}",status="succeeded"}}',
        TASKS,
        timeout=WAIT_SECONDS,
    )

    queries = panel_queries(load_dashboard())
    assert len(queries) >= 20
    # Rates must see this test's increases however long it took: a window spanning the test
    # (Grafana's $__rate_interval grows with the time range shown, too).
    window = f"{max(60, math.ceil(time.monotonic() - started) + 30)}s"
    results = wait_for_complete_results(
        prom_api,
        queries,
        sweep_regex=sweep,
        namespace_regex=NAMESPACE,
        rate_interval=window,
        timeout=WAIT_SECONDS,
    )
    assert_every_query_returns_finite_series(results)
    by_key = {(r.query.panel, r.query.ref_id): r for r in results}

    # Every worker panel shows exactly our sweep (the regex selects it alone).
    for result in results:
        for series in result.series:
            if "sweep" in series.labels:
                assert series.labels["sweep"] == sweep, result.query.label
            if "sweep_namespace" in series.labels:
                assert series.labels["sweep_namespace"] == NAMESPACE, result.query.label

    assert one(by_key, "Progress (tasks done / total)", "A") == [1.0]
    panel = "Tasks done / total / failed"
    assert (one(by_key, panel, "A"), one(by_key, panel, "B"), one(by_key, panel, "C")) == (
        [TASKS],
        [TASKS],
        [0],
    )
    assert 0 <= one(by_key, "Time since last progress", "A")[0] < 120
    assert one(by_key, "Throughput (runs/s)", "A")[0] > 0
    assert one(by_key, "Failure rate", "A") == [0] and one(by_key, "Failure rate", "B") == [0]
    assert one(by_key, "Pass rate", "A")[0] == pytest.approx(recorded.passed / recorded.runs)
    for panel in ("Run duration quantiles", "Task duration quantiles"):
        p50, p90, p99 = (one(by_key, panel, ref)[0] for ref in "ABC")
        assert 0 < p50 <= p90 <= p99
    assert one(by_key, "Run duration quantiles", "C")[0] <= 0.5
    assert 1 <= one(by_key, "Task duration quantiles", "A")[0] <= 120
    mean_agents = one(by_key, "Agents per run (mean) and runs", "A")[0]
    assert mean_agents == pytest.approx(float(np.mean(recorded.agents)))
    assert one(by_key, "Agents per run (mean) and runs", "B") == [recorded.runs]
    for panel in (
        "Cascade size distribution (share of agents flipped)",
        "Cascade size distribution (flips per run)",
    ):
        buckets = {s.labels["le"]: s.value for s in by_key[(panel, "A")].series}
        assert buckets["+Inf"] == recorded.runs
        cumulative = [buckets[le] for le in sorted(buckets, key=float)]
        assert cumulative == sorted(cumulative)
    storage = "Storage and Pushgateway"
    assert one(by_key, storage, "A") == [recorded.bytes_written]
    assert one(by_key, storage, "B") == [recorded.retries]
    assert one(by_key, storage, "C") == [0]

    # Controller row.
    phases = {s.labels["phase"]: s.value for s in by_key[("Sweeps by phase", "A")].series}
    assert phases["Running"] >= 1 and "Pending" in phases
    states = {
        s.labels["state"]: s.value for s in by_key[("Tasks per sweep (Job status)", "A")].series
    }
    assert states == {"total": TASKS, "done": 2, "failed": 0}
    rates = {
        tuple(sorted(s.labels.items())): s.value
        for s in by_key[("Reconciles and errors", "A")].series
        + by_key[("Reconciles and errors", "B")].series
    }
    assert rates[(("result", "ok"),)] > 0
    assert rates[(("kind", "temporary"),)] > 0
    assert rates[(("kind", "permanent"),)] == 0
    p50, p90, p99 = (one(by_key, "Reconcile duration quantiles", ref)[0] for ref in "ABC")
    assert 0 < p50 <= p90 <= p99
    deletions = {
        s.labels["result"]: s.value for s in by_key[("Pushgateway groups deleted", "A")].series
    }
    assert deletions["ok"] >= 2 and "failed" in deletions

    # Local runner row.
    runner_panel = "Local runner tasks"
    assert one(by_key, runner_panel, "A") == [TASKS]
    assert one(by_key, runner_panel, "B") == [0]
    statuses = {s.labels["status"]: s.value for s in by_key[(runner_panel, "C")].series}
    assert statuses == {"succeeded": TASKS, "failed": 0, "skipped": 0}
    assert all(math.isfinite(v) for v in statuses.values())


def push_finished_tasks(gateway: str, namespace: str, sweep: str, *, total: int, done: int) -> None:
    """``done`` of the sweep's ``total`` tasks succeeded (one run each), pushed in ``namespace``."""
    for index in range(done):
        metrics = WorkerMetrics(
            CollectorRegistry(), sweep=sweep, namespace=namespace, total_tasks=total
        )
        metrics.observe_run(
            duration_seconds=0.1, agents=100, flips=3, agents_flipped=2, passed=bool(index % 2)
        )
        metrics.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=2.0)
        assert push_task_metrics(gateway, metrics, slot=index)


def test_same_named_sweeps_of_two_namespaces_stay_apart_on_the_dashboard(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str
) -> None:
    sweep = unique_sweep
    push_finished_tasks(pushgateway.url, "x", sweep, total=4, done=4)
    push_finished_tasks(pushgateway.url, "y", sweep, total=4, done=1)
    prom_api.wait_for(
        f'govsim_tasks_total{{sweep="{sweep}",status="succeeded"}}',
        lambda answer: sum(s.value for s in answer) == 5,
        timeout=WAIT_SECONDS,
    )
    queries = [
        q
        for q in panel_queries(load_dashboard(), rows=[None])
        if q.panel in ("Progress (tasks done / total)", "Tasks done / total / failed")
    ]

    def progress(namespace_regex: str) -> dict[tuple[str, str, str], float]:
        results = wait_for_complete_results(
            prom_api,
            queries,
            sweep_regex=sweep,
            namespace_regex=namespace_regex,
            timeout=WAIT_SECONDS,
        )
        assert_every_query_returns_finite_series(results)
        return {
            (r.query.ref_id if r.query.panel.startswith("Tasks") else "P", *key): s.value
            for r in results
            for s in r.series
            for key in [(s.labels["sweep_namespace"], s.labels["sweep"])]
        }

    # "All" shows both sweeps side by side, never added together.
    assert progress(".*") == {
        ("P", "x", sweep): 1.0,
        ("P", "y", sweep): 0.25,
        ("A", "x", sweep): 4,
        ("A", "y", sweep): 1,
        ("B", "x", sweep): 4,
        ("B", "y", sweep): 4,
        ("C", "x", sweep): 0,
        ("C", "y", sweep): 0,
    }
    # One namespace chosen: only its sweep.
    assert progress("y") == {
        ("P", "y", sweep): 0.25,
        ("A", "y", sweep): 1,
        ("B", "y", sweep): 4,
        ("C", "y", sweep): 0,
    }
    for namespace in ("x", "y"):
        delete_sweep_groups(pushgateway.url, namespace, sweep, range(4))

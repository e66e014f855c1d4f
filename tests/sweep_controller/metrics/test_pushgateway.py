"""Push and delete semantics against a real Pushgateway, and the labels Prometheus keeps."""

from __future__ import annotations

import pytest
from kit.promstack import PrometheusAPI, Pushgateway
from kit.servers import free_port
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sweep_controller.metrics import (
    DeleteResult,
    WorkerMetrics,
    delete_sweep_groups,
    push_task_metrics,
)
from sweep_controller.outcomes import TaskOutcome

pytestmark = pytest.mark.integration


def gateway_samples(gateway: Pushgateway, name: str, sweep: str) -> dict[tuple[str, str], float]:
    """(index, outcome/status or '') -> value of the gateway's samples of ``name`` for a sweep."""
    found = {}
    for family in text_string_to_metric_families(gateway.metrics_text()):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("sweep") == sweep:
                kind = sample.labels.get("outcome") or sample.labels.get("status") or ""
                found[(sample.labels["index"], kind)] = sample.value
                assert sample.labels["job"] == "govsim-worker"
    return found


def task(sweep: str, runs: int) -> WorkerMetrics:
    metrics = WorkerMetrics(CollectorRegistry(), sweep=sweep, total_tasks=2)
    for _ in range(runs):
        metrics.observe_run(
            duration_seconds=0.01, agents=10, flips=2, agents_flipped=1, passed=True
        )
    return metrics


def test_a_retried_index_replaces_its_group(pushgateway: Pushgateway, unique_sweep: str) -> None:
    first = task(unique_sweep, runs=3)
    first.finish_task(TaskOutcome.FAILED, duration_seconds=5)
    assert push_task_metrics(pushgateway.url, first, index=0)
    assert push_task_metrics(pushgateway.url, task(unique_sweep, runs=1), index=1)
    runs = gateway_samples(pushgateway, "govsim_runs_total", unique_sweep)
    assert runs[("0", "ok")] == 3 and runs[("1", "ok")] == 1
    # The retry of index 0 starts from zero and pushes: the group mirrors the new attempt only.
    retry = task(unique_sweep, runs=0)
    assert push_task_metrics(pushgateway.url, retry, index=0)
    runs = gateway_samples(pushgateway, "govsim_runs_total", unique_sweep)
    assert runs[("0", "ok")] == 0 and runs[("1", "ok")] == 1
    tasks = gateway_samples(pushgateway, "govsim_tasks_total", unique_sweep)
    assert tasks[("0", "failed")] == 0
    # Its run histogram from the failed attempt is gone too (PUT replaces every family).
    counts = gateway_samples(pushgateway, "govsim_run_duration_seconds_count", unique_sweep)
    assert set(counts) == {("1", "")}


def test_a_failed_push_is_counted_and_sent_with_the_next_push(
    pushgateway: Pushgateway, unique_sweep: str
) -> None:
    metrics = task(unique_sweep, runs=1)
    assert not push_task_metrics(f"http://127.0.0.1:{free_port()}", metrics, index=0, timeout=2)
    assert push_task_metrics(pushgateway.url, metrics, index=0)
    failures = gateway_samples(pushgateway, "govsim_pushgateway_push_failures_total", unique_sweep)
    assert failures == {("0", ""): 1}


def test_delete_removes_only_the_sweeps_groups_and_is_idempotent(
    pushgateway: Pushgateway, unique_sweep: str
) -> None:
    other = f"{unique_sweep}-other"
    for index in (0, 1):
        assert push_task_metrics(pushgateway.url, task(unique_sweep, runs=1), index=index)
    assert push_task_metrics(pushgateway.url, task(other, runs=1), index=0)
    result = delete_sweep_groups(pushgateway.url, unique_sweep, [0, 1, 2])
    assert result == DeleteResult(deleted=(0, 1, 2), failed=())
    # A DELETE is answered (202) before the gateway applies it: wait for the groups to go.
    pushgateway.wait_for_groups(lambda groups: all(g.get("sweep") != unique_sweep for g in groups))
    assert gateway_samples(pushgateway, "govsim_runs_total", unique_sweep) == {}
    assert gateway_samples(pushgateway, "govsim_runs_total", other) != {}
    again = delete_sweep_groups(pushgateway.url, unique_sweep, [0, 1])
    assert again == DeleteResult(deleted=(0, 1), failed=())


def test_prometheus_keeps_pushed_job_and_index_labels(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str
) -> None:
    assert push_task_metrics(pushgateway.url, task(unique_sweep, runs=2), index=4)
    series = prom_api.wait_for(f'govsim_runs_total{{sweep="{unique_sweep}",outcome="ok"}}')
    assert [(s.labels["job"], s.labels["index"], s.value) for s in series] == [
        ("govsim-worker", "4", 2.0)
    ]
    assert "exported_job" not in series[0].labels

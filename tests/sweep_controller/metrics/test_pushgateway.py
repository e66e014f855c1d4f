"""Push and delete semantics against a real Pushgateway, and the labels Prometheus keeps.

Cleanup is also run against a :class:`Blackhole` (a port that accepts and never answers): it must
come back within its budget, report what it did not delete, and have had several requests in
flight at once. The only time bound here is a loose one; the speed-up is measured in
``bench/pushgateway_cleanup.py``.
"""

from __future__ import annotations

import time

import pytest
from kit.promstack import Blackhole, PrometheusAPI, Pushgateway
from kit.servers import free_port
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sweep_controller.metrics import (
    DeleteResult,
    SlotTotals,
    WorkerMetrics,
    compose_slot,
    delete_sweep_groups,
    list_sweep_slots,
    push_task_metrics,
)
from sweep_controller.outcomes import TaskOutcome

pytestmark = pytest.mark.integration


def gateway_samples(
    gateway: Pushgateway, name: str, sweep: str, namespace: str = ""
) -> dict[tuple[str, str], float]:
    """(slot, outcome/status or '') -> value of the gateway's samples of ``name`` for a sweep."""
    found = {}
    for family in text_string_to_metric_families(gateway.metrics_text()):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == name
                and labels.get("sweep") == sweep
                and labels.get("sweep_namespace", "") == namespace
            ):
                kind = sample.labels.get("outcome") or sample.labels.get("status") or ""
                found[(sample.labels["slot"], kind)] = sample.value
                assert sample.labels["job"] == "govsim-worker"
    return found


def task(sweep: str, runs: int, namespace: str = "") -> WorkerMetrics:
    metrics = WorkerMetrics(CollectorRegistry(), sweep=sweep, namespace=namespace, total_tasks=2)
    for _ in range(runs):
        metrics.observe_run(
            duration_seconds=0.01, agents=10, flips=2, agents_flipped=1, passed=True
        )
    return metrics


def test_a_push_replaces_the_slots_group_whole(pushgateway: Pushgateway, unique_sweep: str) -> None:
    first = task(unique_sweep, runs=3)
    first.finish_task(TaskOutcome.FAILED, duration_seconds=5)
    assert push_task_metrics(pushgateway.url, first, slot=0)
    assert push_task_metrics(pushgateway.url, task(unique_sweep, runs=1), slot=1)
    runs = gateway_samples(pushgateway, "govsim_runs_total", unique_sweep)
    assert runs[("0", "ok")] == 3 and runs[("1", "ok")] == 1
    # A push is a PUT: the group mirrors the latest push only (a slot's pushes carry its totals).
    retry = task(unique_sweep, runs=0)
    assert push_task_metrics(pushgateway.url, retry, slot=0)
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
    assert not push_task_metrics(f"http://127.0.0.1:{free_port()}", metrics, slot=0, timeout=2)
    assert push_task_metrics(pushgateway.url, metrics, slot=0)
    failures = gateway_samples(pushgateway, "govsim_pushgateway_push_failures_total", unique_sweep)
    assert failures == {("0", ""): 1}


def test_a_slots_push_carries_its_totals_and_no_created_samples(
    pushgateway: Pushgateway, unique_sweep: str
) -> None:
    earlier = task(unique_sweep, runs=3)
    base = compose_slot(earlier.registry, base=SlotTotals(), already=SlotTotals()).totals
    holder = task(unique_sweep, runs=2)
    composed = compose_slot(holder.registry, base=base, already=SlotTotals())
    assert push_task_metrics(pushgateway.url, holder, slot=5, families=composed.families)
    assert gateway_samples(pushgateway, "govsim_runs_total", unique_sweep)[("5", "ok")] == 5
    counts = gateway_samples(pushgateway, "govsim_run_duration_seconds_count", unique_sweep)
    assert counts == {("5", ""): 5}
    assert gateway_samples(pushgateway, "govsim_runs_created", unique_sweep) == {}


def test_list_sweep_slots_names_only_the_sweeps_groups_of_its_namespace(
    pushgateway: Pushgateway, unique_sweep: str
) -> None:
    for namespace, slot in (("x", 0), ("x", 11), ("x", 2), ("y", 3)):
        metrics = task(unique_sweep, runs=1, namespace=namespace)
        assert push_task_metrics(pushgateway.url, metrics, slot=slot)
    assert push_task_metrics(pushgateway.url, task(f"{unique_sweep}-b", 1, "x"), slot=7)
    assert list_sweep_slots(pushgateway.url, "x", unique_sweep) == [0, 2, 11]
    assert list_sweep_slots(pushgateway.url, "", unique_sweep) == []
    with pytest.raises(OSError):
        list_sweep_slots(f"http://127.0.0.1:{free_port()}", "x", unique_sweep, timeout=2)


def test_delete_removes_only_the_sweeps_groups_and_is_idempotent(
    pushgateway: Pushgateway, unique_sweep: str
) -> None:
    other = f"{unique_sweep}-other"
    for slot in (0, 1):
        assert push_task_metrics(pushgateway.url, task(unique_sweep, runs=1), slot=slot)
    assert push_task_metrics(pushgateway.url, task(other, runs=1), slot=0)
    result = delete_sweep_groups(pushgateway.url, "", unique_sweep, [0, 1, 2])
    assert result == DeleteResult(deleted=(0, 1, 2), failed=())
    # A DELETE is answered (202) before the gateway applies it: wait for the groups to go.
    pushgateway.wait_for_groups(lambda groups: all(g.get("sweep") != unique_sweep for g in groups))
    assert gateway_samples(pushgateway, "govsim_runs_total", unique_sweep) == {}
    assert gateway_samples(pushgateway, "govsim_runs_total", other) != {}
    again = delete_sweep_groups(pushgateway.url, "", unique_sweep, [0, 1])
    assert again == DeleteResult(deleted=(0, 1), failed=())


def test_prometheus_keeps_pushed_job_and_slot_labels(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str
) -> None:
    assert push_task_metrics(pushgateway.url, task(unique_sweep, runs=2), slot=4)
    series = prom_api.wait_for(f'govsim_runs_total{{sweep="{unique_sweep}",outcome="ok"}}')
    assert [(s.labels["job"], s.labels["slot"], s.value) for s in series] == [
        ("govsim-worker", "4", 2.0)
    ]
    assert "exported_job" not in series[0].labels


def sweep_groups(groups: list[dict[str, str]], sweep: str) -> set[tuple[str, str]]:
    """(sweep_namespace, slot) of each group of ``sweep`` the gateway holds."""
    return {(g.get("sweep_namespace", ""), g["slot"]) for g in groups if g.get("sweep") == sweep}


def test_same_named_sweeps_of_two_namespaces_are_kept_apart(
    pushgateway: Pushgateway, unique_sweep: str
) -> None:
    for namespace, runs in (("x", 1), ("y", 4)):
        for slot in (0, 1):
            metrics = task(unique_sweep, runs=runs, namespace=namespace)
            assert push_task_metrics(pushgateway.url, metrics, slot=slot)
    groups = sweep_groups(pushgateway.groups(), unique_sweep)
    assert groups == {("x", "0"), ("x", "1"), ("y", "0"), ("y", "1")}
    # Each namespace's group holds its own counts, not the other's.
    assert gateway_samples(pushgateway, "govsim_runs_total", unique_sweep, "y")[("1", "ok")] == 4

    result = delete_sweep_groups(pushgateway.url, "x", unique_sweep, range(2))
    assert result == DeleteResult(deleted=(0, 1), failed=())
    remaining = pushgateway.wait_for_groups(
        lambda groups: all(ns != "x" for ns, _ in sweep_groups(groups, unique_sweep))
    )
    assert sweep_groups(remaining, unique_sweep) == {("y", "0"), ("y", "1")}
    assert gateway_samples(pushgateway, "govsim_runs_total", unique_sweep, "y")[("0", "ok")] == 4


def test_many_groups_are_deleted_concurrently(pushgateway: Pushgateway, unique_sweep: str) -> None:
    n = 120
    metrics = task(unique_sweep, runs=1, namespace="ns-a")
    for slot in range(n):
        assert push_task_metrics(pushgateway.url, metrics, slot=slot)
    assert len(sweep_groups(pushgateway.groups(), unique_sweep)) == n
    result = delete_sweep_groups(
        pushgateway.url, "ns-a", unique_sweep, range(n), concurrency=16, budget_seconds=60
    )
    assert result == DeleteResult(deleted=tuple(range(n)), failed=(), timed_out=())
    pushgateway.wait_for_groups(lambda groups: not sweep_groups(groups, unique_sweep))


def test_cleanup_against_a_blackholed_gateway_returns_within_its_budget() -> None:
    n, concurrency = 1000, 16
    with Blackhole() as blackhole:
        started = time.monotonic()
        result = delete_sweep_groups(
            blackhole.url, "ns", "s", range(n), budget_seconds=2, concurrency=concurrency
        )
        elapsed = time.monotonic() - started
    assert result.deleted == ()
    assert result.not_deleted == tuple(range(n))
    # The first wave was in flight together and nothing else was started after the budget.
    assert blackhole.max_open == concurrency
    assert len(result.timed_out) >= n - blackhole.accepted
    # Loose on purpose (one timeout per group, in sequence, would take over 30 minutes).
    assert elapsed < 60, elapsed


def test_a_request_outliving_the_budget_does_not_hold_the_caller() -> None:
    """The per-request timeout is longer than the budget: the call still returns at the budget."""
    with Blackhole() as blackhole:
        started = time.monotonic()
        result = delete_sweep_groups(
            blackhole.url, "ns", "s", range(3), budget_seconds=1, timeout=120
        )
        elapsed = time.monotonic() - started
        assert blackhole.accepted == 3
    assert result == DeleteResult(deleted=(), failed=(), timed_out=(0, 1, 2))
    assert elapsed < 60, elapsed


def test_cleanup_reports_a_refused_gateway_as_failed() -> None:
    result = delete_sweep_groups(
        f"http://127.0.0.1:{free_port()}", "ns", "s", range(40), budget_seconds=30, timeout=2
    )
    assert result == DeleteResult(deleted=(), failed=tuple(range(40)), timed_out=())


@pytest.mark.parametrize(("budget", "concurrency"), [(0, 4), (-1, 4), (5, 0)])
def test_cleanup_refuses_a_bad_budget_or_concurrency(budget: float, concurrency: int) -> None:
    with pytest.raises(ValueError, match=r"budget_seconds|concurrency"):
        delete_sweep_groups(
            "http://127.0.0.1:9", "ns", "s", [0], budget_seconds=budget, concurrency=concurrency
        )


def test_prometheus_keeps_the_pushed_sweep_namespace_label(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str
) -> None:
    for namespace in ("x", "y"):
        metrics = task(unique_sweep, runs=1, namespace=namespace)
        assert push_task_metrics(pushgateway.url, metrics, slot=0)
    series = prom_api.wait_for(
        f'govsim_runs_total{{sweep="{unique_sweep}",outcome="ok"}}', lambda answer: len(answer) == 2
    )
    assert sorted(s.labels["sweep_namespace"] for s in series) == ["x", "y"]
    assert all("exported_sweep_namespace" not in s.labels for s in series)

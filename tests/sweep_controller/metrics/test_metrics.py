"""Unit tests of sweep_controller.metrics against fresh registries (no server needed)."""

from __future__ import annotations

import logging
import threading
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from kit.servers import free_port
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from simulator.model import simulate
from simulator.params import SimParams
from simulator.records.building import record_fields, utc_now
from simulator.records.schema import RunRecord
from sweep_controller.metrics import (
    ControllerMetrics,
    DeleteResult,
    ErrorKind,
    PeriodicPusher,
    RunnerMetrics,
    WorkerMetrics,
    delete_sweep_groups,
    push_task_metrics,
    resolve_pushgateway_url,
    serve_metrics,
    slot_grouping_key,
)
from sweep_controller.outcomes import REPORTED_TASK_OUTCOMES, TaskOutcome

ALLOWED_LABELS = {
    "sweep_namespace",
    "sweep",
    "outcome",
    "result",
    "status",
    "le",
    "state",
    "phase",
    "kind",
}


class FakeClock:
    """A settable clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def worker(clock: Callable[[], float] | None = None, total: int = 4) -> WorkerMetrics:
    return WorkerMetrics(
        CollectorRegistry(),
        sweep="s1",
        namespace="ns1",
        total_tasks=total,
        clock=clock or FakeClock(),
    )


def value(m: WorkerMetrics | ControllerMetrics | RunnerMetrics, name: str, **labels: str) -> float:
    """A sample's value; a worker's samples are read in its own namespace."""
    if isinstance(m, WorkerMetrics) and "sweep" in labels:
        labels = {"sweep_namespace": m.namespace, **labels}
    got = m.registry.get_sample_value(name, labels)
    assert got is not None, f"no sample {name}{labels}"
    return got


def all_families() -> list[Metric]:
    registry = CollectorRegistry()
    WorkerMetrics(registry, sweep="s", total_tasks=1)
    ControllerMetrics(registry, phases=["Pending"])
    RunnerMetrics(registry).start_sweep("s", total_tasks=1)
    return list(registry.collect())


# --- names and labels -------------------------------------------------------------------------


def test_all_metric_classes_share_one_registry_without_name_clashes() -> None:
    names = [family.name for family in all_families()]
    assert len(names) == len(set(names))
    assert all(name.startswith("govsim_") for name in names)


@pytest.mark.parametrize("family", all_families(), ids=lambda f: f.name)
def test_names_follow_prometheus_conventions(family: Metric) -> None:
    if family.type == "counter":
        assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
    else:
        assert not family.name.endswith("_total")
    if "duration" in family.name or "timestamp" in family.name:
        assert family.name.endswith("_seconds")
    if "bytes" in family.name:
        assert family.name.endswith("_bytes")


@pytest.mark.parametrize("family", all_families(), ids=lambda f: f.name)
def test_labels_are_low_cardinality_kinds_only(family: Metric) -> None:
    for sample in family.samples:
        assert set(sample.labels) <= ALLOWED_LABELS, sample


# --- WorkerMetrics ----------------------------------------------------------------------------


def test_worker_creates_every_series_at_zero_and_records_start() -> None:
    m = worker(FakeClock(1234.5), total=7)
    for outcome in ("ok", "failed"):
        assert value(m, "govsim_runs_total", sweep="s1", outcome=outcome) == 0
    for result in ("passed", "rejected"):
        assert value(m, "govsim_run_outcomes_total", sweep="s1", result=result) == 0
    for status in ("succeeded", "failed", "skipped"):
        assert value(m, "govsim_tasks_total", sweep="s1", status=status) == 0
    assert value(m, "govsim_sweep_tasks", sweep="s1") == 7
    assert value(m, "govsim_task_started_timestamp_seconds", sweep="s1") == 1234.5
    assert value(m, "govsim_pushgateway_push_failures_total", sweep="s1") == 0
    assert (
        m.registry.get_sample_value(
            "govsim_task_progress_timestamp_seconds", {"sweep_namespace": "ns1", "sweep": "s1"}
        )
        is None
    )


def test_observe_run_counts_outcomes_and_fills_histograms() -> None:
    clock = FakeClock(50.0)
    m = worker(clock)
    m.observe_run(duration_seconds=0.03, agents=200, flips=7, agents_flipped=5, passed=True)
    clock.now = 60.0
    m.observe_run(duration_seconds=2.0, agents=200, flips=0, agents_flipped=0, passed=False)
    s = {"sweep": "s1"}
    assert value(m, "govsim_runs_total", outcome="ok", **s) == 2
    assert value(m, "govsim_run_outcomes_total", result="passed", **s) == 1
    assert value(m, "govsim_run_outcomes_total", result="rejected", **s) == 1
    # Flips: 0 lands in the le="0" bucket, 7 between 5 and 10.
    assert value(m, "govsim_run_flips_bucket", le="0.0", **s) == 1
    assert value(m, "govsim_run_flips_bucket", le="5.0", **s) == 1
    assert value(m, "govsim_run_flips_bucket", le="10.0", **s) == 2
    assert value(m, "govsim_run_flips_sum", **s) == 7
    # Share flipped: 5/200 = 0.025 is in (0.02, 0.05].
    assert value(m, "govsim_run_flipped_agents_ratio_bucket", le="0.02", **s) == 1
    assert value(m, "govsim_run_flipped_agents_ratio_bucket", le="0.05", **s) == 2
    assert value(m, "govsim_run_duration_seconds_bucket", le="0.05", **s) == 1
    assert value(m, "govsim_run_duration_seconds_bucket", le="2.5", **s) == 2
    assert value(m, "govsim_run_duration_seconds_sum", **s) == pytest.approx(2.03)
    assert value(m, "govsim_run_agents_count", **s) == 2
    assert value(m, "govsim_run_agents_sum", **s) == 400
    assert value(m, "govsim_task_progress_timestamp_seconds", **s) == 60.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agents": 0}, "agents: 0 is below 1"),
        ({"agents_flipped": 11}, "agents_flipped: 11 is outside [0, 10]"),
        ({"agents_flipped": -1}, "agents_flipped: -1 is outside [0, 10]"),
        ({"flips": -2}, "flips -2"),
        ({"duration_seconds": -0.5}, "duration -0.5"),
    ],
)
def test_observe_run_rejects_impossible_values(kwargs: dict[str, float], message: str) -> None:
    args = {"duration_seconds": 0.1, "agents": 10, "flips": 1, "agents_flipped": 1, "passed": True}
    m = worker()
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        m.observe_run(**{**args, **kwargs})  # type: ignore[arg-type]
    assert value(m, "govsim_runs_total", sweep="s1", outcome="ok") == 0


def test_observe_record_reads_the_run_record() -> None:
    result = simulate(SimParams(agents=40), 7)
    fields = record_fields(
        result, run_id=uuid.uuid4(), timestamp=utc_now(), base_seed=7, run_index=0
    )
    record = RunRecord.model_validate(fields)
    m = worker()
    m.observe_record(fields, duration_seconds=0.2)
    s = {"sweep": "s1"}
    outcome = "passed" if record.votes.passed else "rejected"
    assert value(m, "govsim_run_outcomes_total", result=outcome, **s) == 1
    assert value(m, "govsim_run_flips_sum", **s) == record.flips.total
    assert value(m, "govsim_run_flipped_agents_ratio_sum", **s) == record.agents_flipped_total / 40
    assert value(m, "govsim_run_agents_sum", **s) == 40


def test_failures_storage_and_retries() -> None:
    m = worker()
    m.observe_run_failure()
    m.add_storage_written(1500)
    m.add_storage_written(500)
    m.add_storage_retry()
    m.add_storage_retry(2)
    s = {"sweep": "s1"}
    assert value(m, "govsim_runs_total", outcome="failed", **s) == 1
    assert value(m, "govsim_storage_written_bytes_total", **s) == 2000
    assert value(m, "govsim_storage_retries_total", **s) == 3
    with pytest.raises(ValueError, match="nbytes: -1 is negative"):
        m.add_storage_written(-1)


@pytest.mark.parametrize(
    ("outcome", "status", "progress"),
    [
        (TaskOutcome.SUCCEEDED, "succeeded", True),
        (TaskOutcome.SKIPPED, "skipped", True),
        (TaskOutcome.FAILED, "failed", False),
        (TaskOutcome.INTERRUPTED, "failed", False),
    ],
)
def test_finish_task(outcome: TaskOutcome, status: str, progress: bool) -> None:
    clock = FakeClock(10.0)
    m = worker(clock)
    clock.now = 99.0
    m.finish_task(outcome, duration_seconds=42.0)
    s = {"sweep_namespace": "ns1", "sweep": "s1"}
    for other in REPORTED_TASK_OUTCOMES:
        assert value(m, "govsim_tasks_total", status=other.value, **s) == (other == status)
    assert m.registry.get_sample_value("govsim_tasks_total", {"status": "interrupted", **s}) is None
    assert value(m, "govsim_task_duration_seconds_bucket", le="30.0", **s) == 0
    assert value(m, "govsim_task_duration_seconds_bucket", le="60.0", **s) == 1
    got = m.registry.get_sample_value("govsim_task_progress_timestamp_seconds", s)
    assert got == (99.0 if progress else None)


@pytest.mark.parametrize(
    ("sweep", "total", "message"),
    [("", 3, "sweep label: '' is empty"), ("s", 0, "total_tasks: 0 is below 1")],
)
def test_worker_rejects_bad_construction(sweep: str, total: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkerMetrics(CollectorRegistry(), sweep=sweep, total_tasks=total)


# --- RunnerMetrics and ControllerMetrics ------------------------------------------------------


def test_runner_tracks_running_and_finished_tasks() -> None:
    m = RunnerMetrics(CollectorRegistry())
    m.start_sweep("s1", total_tasks=3)
    for status in ("succeeded", "failed", "skipped"):
        assert value(m, "govsim_runner_tasks_total", sweep="s1", status=status) == 0
    m.set_tasks_running("s1", 2)
    m.record_task_finished("s1", TaskOutcome.SUCCEEDED)
    m.record_task_finished("s1", TaskOutcome.INTERRUPTED)
    m.set_tasks_running("s1", 1)
    assert value(m, "govsim_runner_sweep_tasks", sweep="s1") == 3
    assert value(m, "govsim_runner_tasks_running", sweep="s1") == 1
    assert value(m, "govsim_runner_tasks_total", sweep="s1", status="succeeded") == 1
    assert value(m, "govsim_runner_tasks_total", sweep="s1", status="failed") == 1
    assert value(m, "govsim_runner_tasks_total", sweep="s1", status="skipped") == 0


def test_controller_phases_drop_to_zero_when_absent() -> None:
    m = ControllerMetrics(CollectorRegistry(), phases=["Pending", "Running", "Succeeded"])
    assert value(m, "govsim_controller_sweeps", phase="Running") == 0
    m.set_sweeps_by_phase({"Running": 2, "Failed": 1})
    assert value(m, "govsim_controller_sweeps", phase="Running") == 2
    assert value(m, "govsim_controller_sweeps", phase="Failed") == 1
    m.set_sweeps_by_phase({"Succeeded": 3})
    assert value(m, "govsim_controller_sweeps", phase="Running") == 0
    assert value(m, "govsim_controller_sweeps", phase="Failed") == 0
    assert value(m, "govsim_controller_sweeps", phase="Succeeded") == 3


def test_controller_sweep_tasks_and_forget() -> None:
    m = ControllerMetrics(CollectorRegistry())
    m.set_sweep_tasks("x", "s1", total=10, done=4, failed=1)
    m.set_sweep_tasks("y", "s1", total=3, done=3, failed=0)
    labels = {"sweep_namespace": "x", "sweep": "s1"}
    assert value(m, "govsim_controller_sweep_tasks", **labels, state="done") == 4
    assert value(m, "govsim_controller_sweep_tasks", **labels, state="failed") == 1
    m.forget_sweep("x", "s1")
    m.forget_sweep("x", "never-seen")
    got = m.registry.get_sample_value("govsim_controller_sweep_tasks", {**labels, "state": "total"})
    assert got is None
    # The same-named sweep of another namespace keeps its series.
    other = {"sweep_namespace": "y", "sweep": "s1", "state": "total"}
    assert value(m, "govsim_controller_sweep_tasks", **other) == 3


def test_reconcile_timer_times_and_counts_errors() -> None:
    clock = FakeClock(0.0)
    m = ControllerMetrics(CollectorRegistry(), clock=clock)
    with m.reconcile_timer():
        clock.now = 0.2
    with pytest.raises(RuntimeError), m.reconcile_timer():
        clock.now = 3.2
        raise RuntimeError("api down")
    m.record_error(ErrorKind.TEMPORARY)
    assert value(m, "govsim_controller_reconciles_total", result="ok") == 1
    assert value(m, "govsim_controller_reconciles_total", result="error") == 1
    assert value(m, "govsim_controller_reconcile_duration_seconds_sum") == pytest.approx(3.2)
    assert value(m, "govsim_controller_reconcile_duration_seconds_bucket", le="0.25") == 1
    assert value(m, "govsim_controller_errors_total", kind="temporary") == 1
    assert value(m, "govsim_controller_errors_total", kind="permanent") == 0


def test_controller_counts_group_deletions() -> None:
    m = ControllerMetrics(CollectorRegistry())
    m.record_group_deletions(DeleteResult(deleted=(0, 1, 2), failed=(3,)))
    assert value(m, "govsim_controller_pushgateway_group_deletions_total", result="ok") == 3
    assert value(m, "govsim_controller_pushgateway_group_deletions_total", result="failed") == 1


# --- Pushgateway helpers without a gateway ----------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, {}, None),
        (None, {"PUSHGATEWAY_URL": "http://pg:9091"}, "http://pg:9091"),
        ("http://flag:9091", {"PUSHGATEWAY_URL": "http://env:9091"}, "http://flag:9091"),
        ("  ", {"PUSHGATEWAY_URL": " http://env:9091 "}, "http://env:9091"),
        (None, {"PUSHGATEWAY_URL": ""}, None),
    ],
)
def test_resolve_pushgateway_url(
    flag: str | None, env: dict[str, str], expected: str | None
) -> None:
    assert resolve_pushgateway_url(flag, env) == expected


def test_grouping_key_is_namespace_sweep_and_slot() -> None:
    assert slot_grouping_key("x", "s1", 7) == {"sweep_namespace": "x", "sweep": "s1", "slot": "7"}
    # Outside Kubernetes there is no namespace: the key leaves the label out.
    assert slot_grouping_key("", "s1", 7) == {"sweep": "s1", "slot": "7"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}", "not a url::"])
def test_push_never_raises_when_the_gateway_is_unreachable(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    m = worker()
    gateway = url.format(port=free_port())  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="sweep_controller.metrics"):
        assert push_task_metrics(gateway, m, slot=3, timeout=2) is False
        assert push_task_metrics(gateway, m, slot=3, timeout=2) is False
    assert value(m, "govsim_pushgateway_push_failures_total", sweep="s1") == 2
    assert "push of sweep ns1/s1 slot 3 failed" in caplog.text


def test_delete_never_raises_when_the_gateway_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = delete_sweep_groups(url, "ns1", "s1", [0, 1], timeout=2)
    assert result == DeleteResult(deleted=(), failed=(0, 1))
    assert result.not_deleted == (0, 1)


# --- PeriodicPusher ---------------------------------------------------------------------------


def test_periodic_pusher_pushes_until_stopped_and_survives_errors() -> None:
    calls = []
    third = threading.Event()

    def push() -> None:
        calls.append(1)
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("first push explodes")

    with PeriodicPusher(push, interval_seconds=0.005) as pusher:
        assert third.wait(5), "pusher did not push three times"
    stopped_at = len(calls)
    assert stopped_at >= 3
    assert pusher.pushes == stopped_at
    assert not pusher._thread.is_alive()
    assert len(calls) == stopped_at  # joined: nothing after stop


def test_periodic_pusher_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval_seconds: 0 must be above 0"):
        PeriodicPusher(lambda: None, interval_seconds=0)


# --- serve_metrics ----------------------------------------------------------------------------


def test_serve_metrics_exposes_the_injected_registry_only() -> None:
    m = ControllerMetrics(CollectorRegistry(), phases=["Running"])
    m.set_sweeps_by_phase({"Running": 2})
    server = serve_metrics(m.registry, 0, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        server.close()
    assert 'govsim_controller_sweeps{phase="Running"} 2.0' in text
    assert "python_gc_objects_collected_total" not in text  # not the global default registry

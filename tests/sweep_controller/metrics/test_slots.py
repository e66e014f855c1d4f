"""A slot's totals: holders add up, gauges carry over, and counters never go backwards.

Pure: WorkerMetrics over fresh registries, composed with ``compose_slot``; no server.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from sweep_controller.metrics import SlotTotals, WorkerMetrics, compose_slot
from sweep_controller.outcomes import TaskOutcome

KEY = {"sweep_namespace": "ns", "sweep": "s"}
EMPTY = SlotTotals()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def task(started: float = 100.0, total: int = 10) -> tuple[WorkerMetrics, Clock]:
    clock = Clock(started)
    m = WorkerMetrics(
        CollectorRegistry(), sweep="s", namespace="ns", total_tasks=total, clock=clock
    )
    return m, clock


def run(m: WorkerMetrics, duration: float = 0.02, flips: int = 3, passed: bool = True) -> None:
    m.observe_run(
        duration_seconds=duration, agents=100, flips=flips, agents_flipped=2, passed=passed
    )


def get(totals: SlotTotals, name: str, **labels: str) -> float | None:
    return totals.sample_value(name, {**KEY, **labels})


def test_a_fresh_slot_pushes_the_holders_own_metrics() -> None:
    m, _ = task()
    run(m)
    composed = compose_slot(m.registry, base=EMPTY, already=EMPTY)
    assert composed.totals == composed.own
    assert get(composed.totals, "govsim_runs_total", outcome="ok") == 1
    # _created is the holder's registry's own creation time, not the slot's: never pushed.
    assert not [s for f in composed.families for s in f.samples if s.name.endswith("_created")]
    assert {f.name for f in composed.families} == {f.name for f in m.registry.collect()}


def test_a_second_holder_adds_to_the_first_and_keeps_the_earliest_start() -> None:
    first, clock = task(started=100.0)
    run(first, duration=0.02)
    run(first, duration=7.0, passed=False)
    clock.now = 130.0
    run(first, duration=0.02)
    first.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=30.0)
    base = compose_slot(first.registry, base=EMPTY, already=EMPTY).totals

    second, clock2 = task(started=200.0, total=12)
    clock2.now = 120.0  # a clock behind the first holder's: the slot keeps the latest progress
    run(second, duration=0.02)
    run(second, duration=0.02)
    second.finish_task(TaskOutcome.FAILED, duration_seconds=5.0)
    slot = compose_slot(second.registry, base=base, already=EMPTY).totals

    assert get(slot, "govsim_runs_total", outcome="ok") == 5
    assert get(slot, "govsim_run_outcomes_total", result="rejected") == 1
    assert get(slot, "govsim_tasks_total", status="succeeded") == 1
    assert get(slot, "govsim_tasks_total", status="failed") == 1
    assert get(slot, "govsim_run_duration_seconds_count") == 5
    assert get(slot, "govsim_run_duration_seconds_bucket", le="0.025") == 4
    assert get(slot, "govsim_run_duration_seconds_bucket", le="5.0") == 4
    assert get(slot, "govsim_run_duration_seconds_bucket", le="10.0") == 5
    assert get(slot, "govsim_run_duration_seconds_sum") == pytest.approx(7.08)
    assert get(slot, "govsim_task_duration_seconds_count") == 2
    assert get(slot, "govsim_task_started_timestamp_seconds") == 100.0
    assert get(slot, "govsim_task_progress_timestamp_seconds") == 130.0
    assert get(slot, "govsim_sweep_tasks") == 12  # the holder's


def test_gauges_and_histograms_the_holder_has_not_set_yet_come_from_the_slot() -> None:
    first, clock = task(started=100.0)
    clock.now = 140.0
    run(first)
    base = compose_slot(first.registry, base=EMPTY, already=EMPTY).totals
    second, _ = task(started=300.0)  # no run yet: no progress time, no run histograms
    assert second.registry.get_sample_value("govsim_run_flips_count", KEY) is None
    slot = compose_slot(second.registry, base=base, already=EMPTY).totals
    assert get(slot, "govsim_task_progress_timestamp_seconds") == 140.0
    assert get(slot, "govsim_run_flips_count") == 1
    assert get(slot, "govsim_task_started_timestamp_seconds") == 100.0
    # A slot nobody has progressed in has no progress time at all (the stall alert needs that).
    fresh = compose_slot(second.registry, base=EMPTY, already=EMPTY).totals
    assert get(fresh, "govsim_task_progress_timestamp_seconds") is None


def test_what_a_holder_already_counted_elsewhere_is_not_counted_again() -> None:
    m, _ = task()
    run(m)
    run(m)
    lost_slot = compose_slot(m.registry, base=EMPTY, already=EMPTY)
    run(m)
    other = SlotTotals.of(compose_slot(task()[0].registry, base=EMPTY, already=EMPTY).families)
    moved = compose_slot(m.registry, base=other, already=lost_slot.own).totals
    assert get(moved, "govsim_runs_total", outcome="ok") == 1
    assert get(moved, "govsim_run_flips_count") == 1


def test_a_family_the_code_no_longer_has_is_dropped() -> None:
    m, _ = task()
    old = SlotTotals.model_validate(
        {"families": {"govsim_gone": [{"name": "govsim_gone_total", "labels": KEY, "value": 3}]}}
    )
    composed = compose_slot(m.registry, base=old, already=EMPTY)
    assert "govsim_gone" not in composed.totals.families


def test_totals_survive_their_json_form() -> None:
    m, _ = task()
    run(m)
    totals = compose_slot(m.registry, base=EMPTY, already=EMPTY).totals
    assert SlotTotals.model_validate_json(totals.model_dump_json()) == totals
    with pytest.raises(ValueError, match="extra"):
        SlotTotals.model_validate({"families": {}, "extra": 1})


def test_holders_in_turn_add_up_to_one_registry_and_never_go_backwards() -> None:
    """Ten tasks take turns on a slot, pushing after every run: the slot's counters and
    buckets only grow, and end equal to one registry that saw every run."""
    rng = np.random.default_rng(7)
    everything, _ = task()
    base, pushed = EMPTY, []
    for _ in range(10):
        holder, _ = task()
        for _ in range(int(rng.integers(0, 5))):
            kw = {"duration": float(rng.exponential(0.5)), "flips": int(rng.integers(0, 300))}
            for m in (holder, everything):
                run(m, **kw)
            pushed.append(compose_slot(holder.registry, base=base, already=EMPTY).totals)
        for m in (holder, everything):
            m.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=1.0)
        base = compose_slot(holder.registry, base=base, already=EMPTY).totals
        pushed.append(base)
    cumulative = [
        {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for name, samples in p.families.items()
            if not name.endswith("timestamp_seconds") and name != "govsim_sweep_tasks"
            for s in samples
        }
        for p in pushed
    ]
    for before, after in itertools.pairwise(cumulative):
        assert all(after[k] >= v - 1e-9 for k, v in before.items()), "a counter went backwards"
    single = compose_slot(everything.registry, base=EMPTY, already=EMPTY).totals
    final = cumulative[-1]
    expected = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for name, samples in single.families.items()
        if not name.endswith("timestamp_seconds") and name != "govsim_sweep_tasks"
        for s in samples
    }
    assert final.keys() == expected.keys()
    assert all(final[k] == pytest.approx(v) for k, v in expected.items())
    assert (
        final[("govsim_tasks_total", tuple(sorted({**KEY, "status": "succeeded"}.items())))] == 10
    )

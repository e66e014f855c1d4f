"""The series a sweep costs Prometheus grow with its parallelism, not its task count.

Real Pushgateway and Prometheus (``kit.promstack``), real slot claims in a file store.
``kit.cardinality.measure_sweep`` pushes what a sweep's workers push (the task held, a periodic
push, the final push; waves of P tasks) through the real worker code (``SlotReporter``), and
counts two things: the series Prometheus holds for the sweep while its last wave runs
(``count({sweep="..."})``), and the series its TSDB head gained while the sweep was driven
(``headStats.numSeries`` before and after). The head keeps every series ever scraped until head
compaction (hours), so it is the one that a per-task label makes grow with the tasks. Pushed by
task index (how workers pushed before slots) the same sweep costs a hundred-odd series per task
in both counts. The dashboard's main queries must read the driven totals from the slots' groups.
The counts are printed; ``bench/metrics_cardinality.py`` runs the same at 10^3 and 10^4 tasks.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from kit.cardinality import SeriesCount, delete_index_groups, drive_sweep, measure_sweep
from kit.dashboard import load_dashboard, panel_queries, run_panel_queries
from kit.live_sweeps import slot_groups
from kit.promstack import PrometheusAPI, Pushgateway

from sweep_controller.store import FileStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMESPACE = "lab-card"


def measure(
    gateway: Pushgateway,
    api: PrometheusAPI,
    sweep: str,
    tmp_path: Path,
    *,
    tasks: int,
    parallelism: int,
    by_slot: bool = True,
) -> SeriesCount:
    store = FileStore(tmp_path / sweep) if by_slot else None
    count = measure_sweep(
        gateway.url, api, NAMESPACE, sweep, tasks=tasks, parallelism=parallelism, store=store
    )
    if not by_slot:  # every later push of the session would check itself against them
        delete_index_groups(gateway.url, NAMESPACE, sweep, tasks)
    how = "slots" if by_slot else "index"
    print(
        f"{how}: tasks {tasks} P {parallelism}: live {count.live}, head +{count.head_added} "
        f"(the sweep's: {count.head_sweep}), driven in {count.seconds:.1f} s"
    )
    return count


def test_series_follow_parallelism_not_tasks(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str, tmp_path: Path
) -> None:
    # A first small sweep: the Pushgateway's own metrics gain the series of its first requests.
    measure(pushgateway, prom_api, unique_sweep + "-0", tmp_path, tasks=4, parallelism=2)
    few = measure(pushgateway, prom_api, unique_sweep + "-a", tmp_path, tasks=300, parallelism=15)
    many = measure(pushgateway, prom_api, unique_sweep + "-b", tmp_path, tasks=1200, parallelism=15)
    wide = measure(pushgateway, prom_api, unique_sweep + "-c", tmp_path, tasks=300, parallelism=60)
    by_index = measure(
        pushgateway, prom_api, unique_sweep + "-d", tmp_path, tasks=300, parallelism=15,
        by_slot=False,
    )  # fmt: skip
    # Waves of P tasks in turn: every task took the slot its index points at.
    assert few.driven.slots == many.driven.slots == frozenset(range(15))
    assert wide.driven.slots == frozenset(range(60))
    # Four times the tasks: the same groups, so the same series, live and in the head. The
    # head may gain a few series of the Pushgateway's own meanwhile: "the same" is within 2 %.
    assert many.live == few.live
    assert many.head_sweep == few.head_sweep == few.live  # no series ever went stale
    assert abs(many.head_added - few.head_added) <= 0.02 * few.head_added
    # Four times the parallelism: about four times the series.
    assert 3.5 * few.live < wide.live < 4.5 * few.live
    assert 3.5 * few.head_sweep < wide.head_sweep < 4.5 * few.head_sweep
    assert 3.5 * few.head_added < wide.head_added < 4.5 * few.head_added
    # By task index the head grows with every task (a hundred-odd series each).
    assert by_index.head_sweep > 100 * 300
    assert by_index.head_added > 15 * few.head_added


# It drives 10^4 tasks through the worker's code against a real Pushgateway and Prometheus:
# about 6.5 minutes on 2 cores alone, more when other suites share them.
@pytest.mark.timeout(1800)
def test_a_ten_thousand_task_sweep_costs_what_its_parallelism_does(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str, tmp_path: Path
) -> None:
    """10^4 tasks at P = 15 hold, live and in the head, the series 300 tasks at P = 15 hold (by
    task index they would be some 1.3 M: ``bench/metrics_cardinality.py`` measures that side)."""
    measure(pushgateway, prom_api, unique_sweep + "-0", tmp_path, tasks=4, parallelism=2)
    small = measure(pushgateway, prom_api, unique_sweep + "-s", tmp_path, tasks=300, parallelism=15)
    large = measure(
        pushgateway, prom_api, unique_sweep + "-l", tmp_path, tasks=10_000, parallelism=15
    )
    assert large.driven.tasks == 10_000
    assert large.driven.slots == small.driven.slots == frozenset(range(15))
    assert large.live == small.live
    assert large.head_sweep == small.head_sweep == small.live


def test_dashboard_reads_a_sweep_pushed_by_slot(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str, tmp_path: Path
) -> None:
    driven = drive_sweep(
        pushgateway.url,
        NAMESPACE,
        unique_sweep,
        tasks=200,
        parallelism=20,
        store=FileStore(tmp_path / "results"),
    )
    assert slot_groups(pushgateway, unique_sweep) == list(range(20))
    expected = {
        ("Progress (tasks done / total)", "A"): driven.tasks_succeeded / driven.tasks,
        ("Tasks done / total / failed", "A"): driven.tasks_succeeded,
        ("Tasks done / total / failed", "B"): driven.tasks,
        ("Tasks done / total / failed", "C"): driven.tasks_failed,
        ("Agents per run (mean) and runs", "B"): driven.runs_ok,
        ("Failure rate", "A"): driven.runs_failed / (driven.runs_ok + driven.runs_failed),
    }
    queries = [q for q in panel_queries(load_dashboard()) if (q.panel, q.ref_id) in expected]
    assert len(queries) == len(expected)
    regex = unique_sweep

    def settled() -> bool:
        results = run_panel_queries(prom_api, queries, sweep_regex=regex)
        return all(
            len(r.series) == 1
            and math.isclose(r.series[0].value, expected[(r.query.panel, r.query.ref_id)])
            for r in results
        )

    prom_api.wait_for("vector(1)", lambda _answer: settled(), timeout=30)
    # Quantiles: every task observed runs of 10, 20 and 30 ms, so the median is in (10, 25] ms.
    (median,) = [
        q
        for q in panel_queries(load_dashboard())
        if q.panel == "Run duration quantiles" and "0.5," in q.expr
    ]
    answer = run_panel_queries(prom_api, [median], sweep_regex=regex)[0].series
    assert len(answer) == 1 and 0.01 < answer[0].value <= 0.025
    # Throughput: the slots' run counters only grow, so the slope is finite and not negative.
    (throughput,) = [q for q in panel_queries(load_dashboard()) if q.panel == "Throughput (runs/s)"]
    answer = run_panel_queries(prom_api, [throughput], sweep_regex=regex)[0].series
    assert len(answer) == 1 and math.isfinite(answer[0].value) and answer[0].value >= 0

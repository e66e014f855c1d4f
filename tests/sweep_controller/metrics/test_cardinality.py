"""The series a sweep costs Prometheus grow with its parallelism, not its task count.

Real Pushgateway and Prometheus (``kit.promstack``). ``kit.cardinality.drive_sweep`` pushes what
a sweep's workers push (start, a periodic push, the final push; waves of P tasks) through the real
worker code, and the controller's fold (``fold_finished_groups``) runs after each wave, as the
controller's reconciles do when pods end. While the last wave runs, Prometheus is asked how many
series it holds for the sweep (``count({sweep="..."})``): that is the most the sweep ever holds.
Without folding (how groups were kept before), the same count grows with every task. The
dashboard's main queries must read the driven totals from the folded group plus the running ones.
The counts are printed for comparison; ``bench/metrics_cardinality.py`` runs the same at 10^4.
"""

from __future__ import annotations

import math

import pytest
from kit.cardinality import drive_sweep
from kit.cardinality import series_while_running as kit_series_while_running
from kit.dashboard import load_dashboard, panel_queries, run_panel_queries
from kit.promstack import PrometheusAPI, Pushgateway

from sweep_controller.metrics import FOLDED_INDEX, fold_finished_groups, read_sweep_groups

pytestmark = pytest.mark.integration

NAMESPACE = "lab-card"


def series_while_running(
    gateway: Pushgateway,
    api: PrometheusAPI,
    sweep: str,
    *,
    tasks: int,
    parallelism: int,
    fold: bool,
) -> int:
    """Drive the sweep; the series Prometheus holds for it while its last wave runs."""
    return kit_series_while_running(
        gateway.url, api, NAMESPACE, sweep, tasks=tasks, parallelism=parallelism, fold=fold
    )


def test_series_follow_parallelism_not_tasks(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str
) -> None:
    few = series_while_running(
        pushgateway, prom_api, unique_sweep + "-a", tasks=300, parallelism=15, fold=True
    )
    many = series_while_running(
        pushgateway, prom_api, unique_sweep + "-b", tasks=1200, parallelism=15, fold=True
    )
    wide = series_while_running(
        pushgateway, prom_api, unique_sweep + "-c", tasks=300, parallelism=60, fold=True
    )
    kept = series_while_running(
        pushgateway, prom_api, unique_sweep + "-d", tasks=300, parallelism=15, fold=False
    )
    print(f"series: tasks 300 P 15: {few}; tasks 1200 P 15: {many}; tasks 300 P 60: {wide}")
    print(f"series without folding: tasks 300 P 15: {kept}")
    # Four times the tasks: the same groups (15 running and the folded one). The series of a
    # running group depend on what it has observed so far, so "the same" is within 20 %.
    assert many <= 1.2 * few
    assert wide > 3 * few  # four times the parallelism: about four times the series
    assert kept > 15 * few  # every task's group kept: grows with the tasks


def test_dashboard_reads_a_folded_sweep(
    pushgateway: Pushgateway, prom_api: PrometheusAPI, unique_sweep: str
) -> None:
    driven = drive_sweep(
        pushgateway.url,
        NAMESPACE,
        unique_sweep,
        tasks=200,
        parallelism=20,
        after_wave=lambda wave: fold_finished_groups(pushgateway.url, NAMESPACE, unique_sweep),
    )
    assert list(read_sweep_groups(pushgateway.url, NAMESPACE, unique_sweep).groups) == [
        FOLDED_INDEX
    ]
    expected = {
        ("Progress (tasks done / total)", "A"): driven.tasks_succeeded / driven.tasks,
        ("Tasks done / total / failed", "A"): driven.tasks_succeeded,
        ("Tasks done / total / failed", "B"): driven.tasks,
        ("Tasks done / total / failed", "C"): driven.tasks_failed,
        ("Agents per run (mean) and runs", "B"): driven.runs_ok,
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
    # Throughput: folding PUTs the folded group before deleting the groups it holds, so a scrape
    # in between may count those tasks twice for a moment (clamped by the panel); the count never
    # ends above the runs driven.
    runs = f'sum(govsim_runs_total{{sweep="{regex}", outcome="ok"}})'
    assert prom_api.query(runs)[0].value == driven.runs_ok
    (throughput,) = [q for q in panel_queries(load_dashboard()) if q.panel == "Throughput (runs/s)"]
    answer = run_panel_queries(prom_api, [throughput], sweep_regex=regex)[0].series
    assert len(answer) == 1 and math.isfinite(answer[0].value) and answer[0].value >= 0

"""The Grafana dashboard's queries as data: extract, substitute variables, run against Prometheus.

Tests use this to check that every panel built on govsim metrics returns plausible series from a
real Prometheus. Grafana variables are replaced the simple way Grafana does for a Prometheus data
source: ``$sweep`` and ``$namespace`` by regexes (``sweep=~"$sweep"``,
``sweep_namespace=~"$namespace"``), ``$__rate_interval`` and ``$__interval`` by
durations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kit.paths import REPO
from kit.promstack import PrometheusAPI, Series
from kit.waiting import PollTimeout, poll

__all__ = [
    "DASHBOARD_PATH",
    "PanelQuery",
    "PanelResult",
    "assert_every_query_returns_finite_series",
    "defined_series_names",
    "govsim_metric_names",
    "incomplete_results",
    "iter_panels",
    "load_dashboard",
    "panel_queries",
    "run_panel_queries",
    "substitute",
    "wait_for_complete_results",
]

DASHBOARD_PATH = REPO / "charts" / "govsim" / "dashboards" / "govsim-sweeps.json"
MAIN_ROW: str | None = None  # panels above the first row
_GOVSIM_NAME = re.compile(r"\bgovsim_[a-z0-9_]*[a-z0-9]")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel: the row it sits in (None above the first row), title, expr."""

    row: str | None
    panel: str
    ref_id: str
    expr: str
    legend: str

    @property
    def label(self) -> str:
        """Return 'panel title [refId]' for messages."""
        return f"{self.panel} [{self.ref_id}]"


@dataclass(frozen=True)
class PanelResult:
    """A query as sent (variables substituted) and the series Prometheus returned."""

    query: PanelQuery
    expr: str
    series: list[Series]


def load_dashboard(path: Path = DASHBOARD_PATH) -> dict[str, Any]:
    """Read the dashboard JSON."""
    return dict(json.loads(path.read_text()))


def iter_panels(dashboard: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Yield (row title, panel) for every non-row panel, including those inside collapsed rows."""
    row: str | None = MAIN_ROW
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            row = panel.get("title")
            for inner in panel.get("panels", []):
                yield row, inner
        else:
            yield row, panel


def govsim_metric_names(expr: str) -> set[str]:
    """Names beginning with govsim_ that an expression refers to."""
    return set(_GOVSIM_NAME.findall(expr))


def panel_queries(
    dashboard: dict[str, Any], *, rows: Collection[str | None] | None = None
) -> list[PanelQuery]:
    """Every target built on govsim_ metrics, optionally only in the given rows."""
    found = []
    for row, panel in iter_panels(dashboard):
        if rows is not None and row not in rows:
            continue
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if govsim_metric_names(expr):
                found.append(
                    PanelQuery(
                        row=row,
                        panel=panel["title"],
                        ref_id=target["refId"],
                        expr=expr,
                        legend=target.get("legendFormat", ""),
                    )
                )
    return found


def substitute(
    expr: str,
    *,
    sweep_regex: str = ".+",
    namespace_regex: str = ".*",
    rate_interval: str = "1m",
    interval: str = "1s",
) -> str:
    """Replace Grafana's variables the way its Prometheus data source does."""
    out = expr.replace("$__rate_interval", rate_interval).replace("$__interval", interval)
    out = out.replace("${sweep}", sweep_regex).replace("$sweep", sweep_regex)
    out = out.replace("${namespace}", namespace_regex).replace("$namespace", namespace_regex)
    if "$" in out.replace("$labels", ""):
        raise ValueError(f"unsubstituted variable left in: {out}")
    return out


def run_panel_queries(
    api: PrometheusAPI,
    queries: list[PanelQuery],
    *,
    sweep_regex: str = ".+",
    namespace_regex: str = ".*",
    rate_interval: str = "1m",
    interval: str = "1s",
) -> list[PanelResult]:
    """Run each query now; a rejected query raises PromQLError naming the expression."""
    results = []
    for query in queries:
        expr = substitute(
            query.expr,
            sweep_regex=sweep_regex,
            namespace_regex=namespace_regex,
            rate_interval=rate_interval,
            interval=interval,
        )
        results.append(PanelResult(query=query, expr=expr, series=api.query(expr)))
    return results


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def defined_series_names() -> dict[str, set[str]]:
    """Every series name the metrics module exposes, mapped to its label names.

    Built from registries with every metric class instantiated and each labelled family given a
    child, so names come from the code, not from a list kept by hand.
    """
    from prometheus_client import CollectorRegistry

    from sweep_controller.metrics import (
        ControllerMetrics,
        DeleteResult,
        RunnerMetrics,
        WorkerMetrics,
    )
    from sweep_controller.outcomes import TaskOutcome

    registry = CollectorRegistry()
    worker = WorkerMetrics(registry, sweep="s", namespace="ns", total_tasks=1)
    worker.observe_run(duration_seconds=0.1, agents=10, flips=1, agents_flipped=1, passed=True)
    worker.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=1.0)
    controller = ControllerMetrics(registry, phases=["Running"])
    controller.set_sweep_tasks("ns", "s", total=1, done=1, failed=0)
    controller.observe_reconcile(duration_seconds=0.1, ok=True)
    controller.record_group_deletions(DeleteResult(deleted=(0,), failed=()))
    RunnerMetrics(registry).start_sweep("s", total_tasks=1)
    names: dict[str, set[str]] = {}
    for family in registry.collect():
        labels = {k for sample in family.samples for k in sample.labels} - {"le"}
        for suffix in _SUFFIXES[family.type]:
            names[family.name + suffix] = labels
    return names


def incomplete_results(results: list[PanelResult]) -> list[str]:
    """One line per query that returned no series or a NaN/infinite value."""
    import math

    problems = []
    for result in results:
        if not result.series:
            problems.append(f"{result.query.label}: no series for {result.expr}")
        for series in result.series:
            if not math.isfinite(series.value):
                problems.append(f"{result.query.label}: {series.value} for {series.labels}")
    return problems


def assert_every_query_returns_finite_series(results: list[PanelResult]) -> None:
    """Fail naming each query that returned no series or a NaN/infinite value."""
    problems = incomplete_results(results)
    assert not problems, "\n".join(problems)


def wait_for_complete_results(
    api: PrometheusAPI,
    queries: list[PanelQuery],
    *,
    sweep_regex: str = ".+",
    namespace_regex: str = ".*",
    rate_interval: str = "1m",
    interval: str = "1s",
    timeout: float = 20.0,
) -> list[PanelResult]:
    """Run every query until each returns finite series or ``timeout`` passes; the last answers.

    When one scrape of a target fails (a scrape timeout on a busy machine), Prometheus marks the
    target's series stale and instant queries see none of them until the next good scrape, so
    one reading can miss series that are there a second later. Assert on the returned results
    (``assert_every_query_returns_finite_series`` names what is still missing at the timeout).
    """
    try:
        return poll(
            lambda: run_panel_queries(
                api,
                queries,
                sweep_regex=sweep_regex,
                namespace_regex=namespace_regex,
                rate_interval=rate_interval,
                interval=interval,
            ),
            lambda results: not incomplete_results(results),
            timeout=timeout,
            interval=0.2,
            what="the dashboard's queries",
        )
    except PollTimeout as exc:
        return cast(list[PanelResult], exc.last)

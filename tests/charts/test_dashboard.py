"""Lint of the Grafana dashboard: importable by hand, every query on defined metrics and valid."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.dashboard import (
    DASHBOARD_PATH,
    defined_series_names,
    govsim_metric_names,
    iter_panels,
    load_dashboard,
    panel_queries,
    substitute,
)
from kit.promstack import PROMTOOL, require_prometheus_binaries

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
KUBE_ROW = "Kubernetes (kube-state-metrics)"
SELECTOR = re.compile(r"\b(govsim_[a-z0-9_]*[a-z0-9])\s*(\{[^}]*\})?")
BY = re.compile(r"\bby \(([^)]*)\)")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def test_dashboard_is_json_with_a_stable_uid(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "govsim-sweeps"
    assert DASHBOARD_PATH.read_text().endswith("}\n")


def test_datasource_namespace_and_sweep_variables(dashboard: dict[str, Any]) -> None:
    found = variables(dashboard)
    assert list(found) == ["datasource", "namespace", "sweep"]  # Grafana resolves in order
    assert found["datasource"]["type"] == "datasource"
    assert found["datasource"]["query"] == "prometheus"
    namespace, sweep = found["namespace"], found["sweep"]
    for variable in (namespace, sweep):
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] is True and variable["includeAll"] is True
    assert namespace["query"]["query"] == "label_values(govsim_sweep_tasks, sweep_namespace)"
    # "All" must match the empty namespace of a sweep run outside Kubernetes too.
    assert namespace["allValue"] == ".*"
    assert sweep["query"]["query"] == (
        'label_values(govsim_sweep_tasks{sweep_namespace=~"$namespace"}, sweep)'
    )
    assert {"sweep_namespace", "sweep"} <= defined_series_names()["govsim_sweep_tasks"]


def test_every_panel_has_targets_on_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    panels = list(iter_panels(dashboard))
    assert len(panels) >= 12
    for _, panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_panel_ids_unique(dashboard: dict[str, Any]) -> None:
    all_ids = [p["id"] for p in dashboard["panels"]] + [
        inner["id"] for p in dashboard["panels"] for inner in p.get("panels", [])
    ]
    assert len(all_ids) == len(set(all_ids))


def test_required_panels_exist(dashboard: dict[str, Any]) -> None:
    titles = " | ".join(p["title"].lower() for _, p in iter_panels(dashboard))
    for words in ("progress", "throughput", "failure rate", "run duration", "task duration"):
        assert words in titles
    assert "cascade size" in titles and "pass rate" in titles


def test_kube_state_metrics_panels_sit_in_their_own_collapsed_row(
    dashboard: dict[str, Any],
) -> None:
    rows = {p["title"]: p for p in dashboard["panels"] if p["type"] == "row"}
    assert rows[KUBE_ROW]["collapsed"] is True
    for row, panel in iter_panels(dashboard):
        exprs = " ".join(t["expr"] for t in panel["targets"])
        if "kube_" in exprs:
            assert row == KUBE_ROW and "kube-state-metrics" in panel["title"]
        if row == KUBE_ROW:
            assert not govsim_metric_names(exprs)


def test_every_govsim_metric_in_a_query_is_defined_in_the_metrics_module(
    dashboard: dict[str, Any],
) -> None:
    defined = defined_series_names()
    used: set[str] = set()
    for query in panel_queries(dashboard):
        unknown = govsim_metric_names(query.expr) - defined.keys()
        assert not unknown, f"{query.label}: {sorted(unknown)} not defined in metrics.py"
        used |= govsim_metric_names(query.expr)
    # The dashboard shows every family's main series somewhere (histograms via _bucket or _sum).
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in defined}
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}
    assert families - shown <= {"govsim_task_started_timestamp_seconds"}


def test_every_selector_of_a_sweep_labelled_metric_filters_on_the_variables(
    dashboard: dict[str, Any],
) -> None:
    defined = defined_series_names()
    for query in panel_queries(dashboard):
        for name, matchers in SELECTOR.findall(query.expr):
            if "sweep" in defined[name]:
                assert 'sweep=~"$sweep"' in matchers, f"{query.label}: {name}{matchers}"
            if "sweep_namespace" in defined[name]:
                namespaced = 'sweep_namespace=~"$namespace"'
                assert namespaced in matchers, f"{query.label}: {name}{matchers}"


def test_no_query_merges_same_named_sweeps_of_two_namespaces(dashboard: dict[str, Any]) -> None:
    """Grouping by sweep without its namespace would add x/a and y/a together."""
    defined = defined_series_names()
    for query in panel_queries(dashboard):
        names = govsim_metric_names(query.expr)
        if not any("sweep_namespace" in defined[name] for name in names):
            continue  # the local runner's metrics have no namespace
        for grouping in BY.findall(query.expr):
            labels = {label.strip() for label in grouping.split(",")}
            if "sweep" in labels:
                assert "sweep_namespace" in labels, f"{query.label}: by ({grouping})"
        if "{{sweep}}" in query.legend:
            assert "{{sweep_namespace}}/{{sweep}}" in query.legend, query.label


def test_kube_state_metrics_panels_filter_and_group_by_namespace(
    dashboard: dict[str, Any],
) -> None:
    for _, panel in iter_panels(dashboard):
        for target in panel["targets"]:
            if "kube_job" in target["expr"]:
                assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
                assert "by (namespace, job_name)" in target["expr"], panel["title"]


def test_every_query_parses_as_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    promtool = require_prometheus_binaries(PROMTOOL)[PROMTOOL]
    rules = []
    for i, (_, panel) in enumerate(iter_panels(dashboard)):
        for target in panel["targets"]:
            expr = substitute(
                target["expr"], sweep_regex="(a|b)", namespace_regex="(x|y)", rate_interval="5m"
            )
            rules.append({"record": f"check:panel{i}:{target['refId']}", "expr": expr})
    path = tmp_path / "panels.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('x{sweep=~"$sweep"}[$__rate_interval:$__interval]', 'x{sweep=~"(a|b)"}[5m:1s]'),
        ('x{job_name=~".*(${sweep}).*"}', 'x{job_name=~".*((a|b)).*"}'),
    ],
)
def test_substitute(expr: str, expected: str) -> None:
    assert substitute(expr, sweep_regex="(a|b)", rate_interval="5m") == expected


def test_substitute_refuses_unknown_variables() -> None:
    with pytest.raises(ValueError, match="unsubstituted variable"):
        substitute("x{a=~'$cluster'}")

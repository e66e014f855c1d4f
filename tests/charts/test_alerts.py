"""The alert rules: promtool check and unit tests, and metric names that the code defines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from kit.dashboard import defined_series_names, govsim_metric_names
from kit.paths import REPO
from kit.promstack import PROMTOOL, require_prometheus_binaries

ALERTS = REPO / "charts" / "govsim" / "alerts"
RULES = ALERTS / "govsim-rules.yaml"
RULE_TESTS = ALERTS / "govsim-rules.test.yaml"
EXPECTED = {"GovsimSweepStalled", "GovsimSweepFailureRateHigh", "GovsimControllerDown"}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_prometheus_binaries(PROMTOOL)[PROMTOOL]
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", str(RULES), cwd=ALERTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(EXPECTED)} rules found" in done.stdout


def test_promtool_test_rules() -> None:
    done = promtool("test", "rules", RULE_TESTS.name, cwd=ALERTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == EXPECTED
    assert quiet == EXPECTED


def test_alerts_use_only_metrics_the_code_defines() -> None:
    assert {rule["alert"] for rule in alerts()} == EXPECTED
    defined = defined_series_names()
    for rule in alerts():
        names = govsim_metric_names(str(rule["expr"]))
        assert names <= defined.keys(), (rule["alert"], names - defined.keys())
        assert rule["labels"]["severity"] in ("warning", "critical")  # type: ignore[index]

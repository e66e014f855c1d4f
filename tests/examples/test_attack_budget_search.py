"""examples/attack-budget-search.yaml: an adaptive (Optuna) sweep finds the bribe budget that flips
half the proposals, and that budget does so when measured on its own.

The example runs as its comment says (`sweepctl run`, in a copy's folder). Its boundary is then
checked independently: a grid sweep of 200 fresh runs (another seed) at the found budget must
give a success rate whose 95% Wilson interval holds 0.5, the stated tolerance (docs/model.md,
section 11.3, "Smallest flipping budget"). `sweepctl render` prints round 0 as an Indexed Job.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
import yaml
from kit.cli import sweepctl
from kit.paths import REPO
from kit.specs import write_spec

from sweep_controller.analysis.stats import wilson_ci

EXAMPLE = REPO / "examples" / "attack-budget-search.yaml"
BOUNDARY = re.compile(r"^sweepctl run: boundary: .* at attack_budget ~ (\S+) ", re.M)

pytestmark = pytest.mark.slow


def test_the_found_budget_flips_half_the_proposals(tmp_path: Path) -> None:
    spec = shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    done = sweepctl("run", spec, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    found = BOUNDARY.findall(done.stdout + done.stderr)
    assert found, done.stderr[-2000:]
    budget = float(found[-1])
    doc = yaml.safe_load(EXAMPLE.read_text())
    check = write_spec(
        tmp_path / "check.yaml",
        {
            **doc,
            "metadata": {"name": "attack-budget-check"},
            "spec": {
                "simulator": doc["spec"]["simulator"],
                "parameters": {"attack_budget": {"values": [budget]}},
                "method": "grid",
                "replicates": 200,
                "seed": doc["spec"]["seed"] + 1,
                "runsPerTask": 100,
                "output": {"uri": "file://results"},
            },
        },
    )
    assert sweepctl("run", check, cwd=tmp_path).returncode == 0
    table = tmp_path / "check.csv"
    assert sweepctl("collect", check, "--out", table, cwd=tmp_path).returncode == 0
    with table.open() as f:
        won = [row["attack_succeeded"].lower() == "true" for row in csv.DictReader(f)]
    rate = wilson_ci(sum(won), len(won))
    assert len(won) == 200
    assert rate.low <= 0.5 <= rate.high, (budget, rate)


def test_render_prints_round_0_as_an_indexed_job() -> None:
    out = sweepctl("render", EXAMPLE, "--output-uri", "s3://results/sweeps")
    assert out.returncode == 0, out.stderr
    _, job = yaml.safe_load_all(out.stdout)
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert job["metadata"]["name"] == "attack-budget-search-r0"
    assert job["spec"]["completions"] == 4  # 8 points x 60 replicates / 120 runs per task

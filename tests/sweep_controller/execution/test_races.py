"""Runners and workers racing on one sweep leave every task absent or valid, and say so truly.

Each trial starts three ``sweepctl run`` (pools of 2, 1 and 2) and two ``sweepctl worker`` on a
fresh 60-task sweep at once, then checks the store with ``scan_tasks`` and ``collect``, and adds
up what each process says it wrote (``kit.races``). ``GOVSIM_RACE_TRIALS`` sets the trials per
store (default 2); ``python -m bench.races`` runs many more.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kit.races import race_doc, race_trial, standard_racers
from kit.specs import write_spec

pytestmark = pytest.mark.slow  # five processes per trial, several seconds each

TRIALS = int(os.environ.get("GOVSIM_RACE_TRIALS", "2"))
TASKS = 60


def race(tmp_path: Path, outputs: list[str]) -> None:
    """Run one trial per output; fail listing every problem of every trial."""
    failures = []
    for trial, output in enumerate(outputs):
        spec = write_spec(tmp_path / f"trial-{trial}.yaml", race_doc("race", output, tasks=TASKS))
        report = race_trial(spec, standard_racers(spec, TASKS))
        if not report.ok:
            failures.append(f"trial {trial}: " + "; ".join(report.problems + report.invalid[:3]))
    assert failures == []


def test_racing_runners_and_workers_on_a_file_store(tmp_path: Path) -> None:
    race(tmp_path, [f"file://{tmp_path}/out-{t}" for t in range(TRIALS)])


@pytest.mark.integration
def test_racing_runners_and_workers_on_s3(tmp_path: Path, s3_uri: str) -> None:
    race(tmp_path, [f"{s3_uri}/trial-{t}" for t in range(TRIALS)])

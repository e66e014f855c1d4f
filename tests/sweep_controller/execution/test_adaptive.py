"""Adaptive sweeps run locally: rounds in the store, the worker's points, reruns, and the answer.

The boundary test states the tolerance of the example: ``examples/quorum-boundary.yaml`` (6 rounds
of 8 quorums, 60 replicates, seed 7) must find where the pass rate crosses 0.5 within
``TOLERANCE`` of the crossing that a dense grid sweep of the same population shows. The tolerance
is set by replicate noise: a pass rate over 60 runs has a standard error of about 0.065, and the
pass rate falls by about 3 per unit of quorum near the crossing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kit.cli import sweepctl
from kit.paths import REPO
from kit.specs import document, write_spec

from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.results import collect
from sweep_controller.commands import main as cli
from sweep_controller.errors import OutputConflict
from sweep_controller.execution.adaptive import SearchSummary, run_search
from sweep_controller.execution.layout import round_key
from sweep_controller.execution.rounds import (
    new_round_file,
    read_round,
    read_search,
    round_json,
    write_round,
)
from sweep_controller.execution.runner import run_sweep
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.exit_codes import ExitCode
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep
from sweep_controller.spec.search import plan_round
from sweep_controller.store import FileStore, Store, open_store

TOLERANCE = 0.03
"""How far (in quorum) the example's boundary may lie from the dense grid's crossing."""


def small(output: str, **spec: Any) -> Sweep:
    """3 rounds of 4 quorums, 5 replicates of 40 agents: 60 runs, 2 tasks a round."""
    return parse_sweep(small_doc(output, **spec))


def small_doc(output: str, **spec: Any) -> dict[str, Any]:
    """The document of ``small``."""
    base: dict[str, Any] = {
        "simulator": {"agents": 40},
        "parameters": {"quorum": {"min": 0.3, "max": 0.95}},
        "method": "optuna",
        "objective": {"outcome": "passed", "target": 0.5},
        "rounds": 3,
        "pointsPerRound": 4,
        "replicates": 5,
        "runsPerTask": 10,
        "seed": 3,
        "output": {"uri": output},
    }
    return document("search", base | spec)


def search(sweep: Sweep, store: Store) -> SearchSummary:
    return run_search(
        sweep, store=store, workers=1, progress=False, handle_signals=False, out=io.StringIO()
    )


def round_files(store: Store, sweep: Sweep) -> list[bytes]:
    return [store.get_bytes(round_key(sweep.name, k)) for k in range(sweep.spec.rounds or 0)]


# --- the same seed, the same rounds -------------------------------------------------------------


def test_same_seed_reruns_to_the_same_rounds_and_answer(tmp_path: Path) -> None:
    first, again, other = (FileStore(tmp_path / name) for name in ("first", "again", "other"))
    sweep = small("file://unused", rounds=2)
    a, b = search(sweep, first), search(sweep, again)
    assert a.finished and b.finished and a.exit_code == ExitCode.OK
    assert round_files(first, sweep) == round_files(again, sweep)  # byte for byte
    assert a.answer == b.answer and a.evaluated == b.evaluated
    assert a.answer.best is not None and a.answer.evaluated == 8
    c = search(small("file://unused", rounds=2, seed=4), other)
    assert [e.params for e in c.evaluated[:4]] != [e.params for e in a.evaluated[:4]]
    assert [e.params for e in c.evaluated[4:]] != [e.params for e in a.evaluated[4:]]


def test_rounds_are_planned_from_the_stored_results_of_the_rounds_before(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    sweep = small("file://unused")
    summary = search(sweep, store)
    state = read_search(store, sweep)
    assert state.evaluated == summary.evaluated
    for k in range(3):
        history = state.evaluated[: 4 * k]
        assert state.rounds[k].points == plan_round(sweep.spec, k, history)
    # every run of every round went through the worker and is in the results table
    table = collect(sweep, store=store, require_complete=True)
    assert table.n_rows == 60
    assert sorted(set(table.columns["point_index"])) == list(range(12))
    for e in state.evaluated:
        passed = table.columns["passed"][table.columns["point_index"] == e.point_index]
        assert e.value == pytest.approx(float(np.mean(passed)))
        assert e.runs == 5


@pytest.mark.slow
def test_report_draws_an_adaptive_sweep_as_a_sampled_design(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    two = {"quorum": {"min": 0.3, "max": 0.95}, "whale_ratio": {"min": 0.05, "max": 0.3}}
    sweep = small("file://unused", parameters=two)
    search(sweep, store)
    write_report(collect(sweep, store=store), tmp_path / "report")
    names = sorted(path.name for path in (tmp_path / "report").iterdir())
    # one figure per parameter and no heatmap: 12 distinct points are no grid (each figure as
    # PNG and SVG)
    figures = ["param-quorum", "param-whale_ratio", "sensitivity"]
    assert names == sorted(["index.html", "index.md", *(f"{f}.{kind}" for f in figures
                                                        for kind in ("png", "svg"))])  # fmt: skip
    assert "| method | optuna |" in (tmp_path / "report" / "index.md").read_text()


def test_a_stored_round_is_never_planned_again(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    sweep = small("file://unused", rounds=2)
    chosen = [{"quorum": q} for q in (0.31, 0.5, 0.7, 0.94)]
    write_round(store, new_round_file(sweep, 0, chosen), sweep)
    summary = search(sweep, store)
    assert [e.params for e in summary.evaluated[:4]] == chosen
    assert [e.params for e in summary.evaluated[4:]] == plan_round(
        sweep.spec, 1, summary.evaluated[:4]
    )


def test_another_sweeps_round_file_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    sweep, other = small("file://unused"), small("file://unused", seed=99)
    write_round(store, new_round_file(other, 0, plan_round(other.spec, 0, ())), other)
    with pytest.raises(OutputConflict, match="belongs to another sweep"):
        search(sweep, store)
    ctx = TaskContext.open(sweep, store=store)
    attempt = execute_task(ctx, 0)
    assert (attempt.outcome, attempt.exit_code) == (TaskOutcome.FAILED, ExitCode.PERMANENT)


# --- the worker ---------------------------------------------------------------------------------


def test_worker_runs_stored_points_and_plans_nothing_but_round_0(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    sweep = small("file://unused")
    ctx = TaskContext.open(sweep, store=store)
    # round 0 is a function of the spec alone: the first worker stores it
    assert execute_task(ctx, 1).outcome is TaskOutcome.SUCCEEDED
    stored = read_round(store, sweep, 0)
    assert stored is not None and stored.points == plan_round(sweep.spec, 0, ())
    # round 1 depends on results: a task of it fails for good until the round is planned
    attempt = execute_task(TaskContext.open(sweep, store=store), 2)
    assert (attempt.outcome, attempt.exit_code) == (TaskOutcome.FAILED, ExitCode.PERMANENT)
    assert "round 1 of sweep search is not planned yet" in (attempt.error or "")
    chosen = [{"quorum": q} for q in (0.4, 0.45, 0.5, 0.55)]
    write_round(store, new_round_file(sweep, 1, chosen), sweep)
    assert execute_task(TaskContext.open(sweep, store=store), 2).outcome is TaskOutcome.SUCCEEDED
    table = collect(sweep, store=store)
    quorums = table.columns["quorum"][table.columns["point_index"] >= 4]
    assert sorted(set(quorums)) == [0.4, 0.45]  # task 2: the first 10 runs of round 1


def test_round_file_bytes_round_trip_exactly(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    sweep = small("file://unused")
    points = plan_round(sweep.spec, 0, ())
    file = new_round_file(sweep, 0, points)
    write_round(store, file, sweep)
    again = read_round(store, sweep, 0)
    assert again == file and round_json(again) == store.get_bytes(round_key("search", 0))
    assert again.planner.startswith("optuna ")
    # the first writer wins: a second write of other points leaves the stored file
    other = new_round_file(sweep, 0, [{"quorum": 0.5}] * 4)
    assert write_round(store, other, sweep) == file


# --- the command --------------------------------------------------------------------------------


@pytest.mark.slow
def test_sweepctl_run_shows_rounds_and_prints_the_answer(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "search.yaml", small_doc("file://results"))
    done = sweepctl("run", spec, "--workers", "1", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    for k in range(3):
        assert f"sweepctl run: search round {k} (of 3): 2 tasks, 20 runs" in err
        assert f"sweepctl run: round {k} (of 3): best: quorum=" in err
    assert "sweepctl run: search: 3/3 rounds done; simulated 60 runs" in err
    assert "sweepctl run: boundary: mean passed crosses 0.5 at quorum ~ " in err
    again = sweepctl("run", spec, "--workers", "1", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and "simulated 0 runs" in again.stderr

    def answer_lines(text: str) -> list[str]:
        return [x for x in text.splitlines() if x.startswith(("sweepctl run: best:", "sweepctl "
                                                              "run: boundary:"))]  # fmt: skip

    assert answer_lines(err) == answer_lines(again.stderr) and len(answer_lines(err)) == 2


# --- stores -------------------------------------------------------------------------------------


def test_adaptive_sweep_on_s3_matches_the_file_store(s3_uri: str, tmp_path: Path) -> None:
    sweep = small(s3_uri, rounds=2)
    on_s3 = search(sweep, open_store(s3_uri))
    on_files = search(sweep, FileStore(tmp_path))
    assert on_s3.finished and on_s3.evaluated == on_files.evaluated
    assert round_files(open_store(s3_uri), sweep) == round_files(FileStore(tmp_path), sweep)


# --- the example finds its boundary -------------------------------------------------------------


def grid_crossing(tmp_path: Path) -> float:
    """Where the pass rate of the example's population crosses 0.5, from a dense grid sweep.

    11 quorums from 0.59 to 0.69, 200 replicates each; a straight line fitted by least squares to
    the pass rates (the curve is close to straight over that window) gives the crossing.
    """
    doc = yaml.safe_load((REPO / "examples" / "quorum-boundary.yaml").read_text())
    spec = doc["spec"]
    grid = {
        "simulator": spec["simulator"],
        "parameters": {"quorum": {"min": 0.59, "max": 0.69, "steps": 11}},
        "replicates": 200,
        "runsPerTask": 400,
        "seed": 1234,
        "output": {"uri": f"file://{tmp_path / 'grid'}"},
    }
    sweep = parse_sweep(document("quorum-grid", grid))
    store = FileStore(tmp_path / "grid")
    summary = run_sweep(sweep, store=store, workers=1, progress=False, handle_signals=False,
                        out=io.StringIO())  # fmt: skip
    assert summary.exit_code == ExitCode.OK
    table = collect(sweep, store=store, require_complete=True)
    xs = np.unique(table.columns["quorum"])
    rates = np.array([table.columns["passed"][table.columns["quorum"] == x].mean() for x in xs])
    assert rates[0] > 0.5 > rates[-1]  # the crossing lies inside the grid
    slope, intercept = np.polyfit(xs, rates, 1)
    return float((0.5 - intercept) / slope)


@pytest.mark.slow
def test_example_finds_the_quorum_boundary_within_the_tolerance(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "examples" / "quorum-boundary.yaml").read_text())
    sweep = parse_sweep(doc)
    found = search(sweep, FileStore(tmp_path / "search"))
    assert found.finished
    boundary = found.answer.boundary
    assert boundary is not None and boundary.parameter == "quorum"
    truth = grid_crossing(tmp_path)
    assert abs(boundary.estimate - truth) <= TOLERANCE, (boundary, truth)
    assert boundary.low <= boundary.estimate <= boundary.high
    # later rounds gathered at the crossing: half the last two rounds lie within 0.1 of it,
    # where uniform draws over [0.3, 0.95] would put under a third
    late = [e.params["quorum"] for e in found.evaluated[32:]]
    assert sum(abs(float(q) - truth) <= 0.1 for q in late) >= 8


def test_status_shows_the_rounds_and_the_answer_so_far(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "search.yaml", small_doc(f"file://{tmp_path / 'out'}", rounds=2))
    sweep = parse_sweep(yaml.safe_load(spec.read_text()))
    summary = search(sweep, FileStore(tmp_path / "out"))
    assert cli.main(["status", str(spec), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["done"], doc["search"]["rounds_planned"], doc["search"]["rounds"]) == (4, 2, 2)
    best = summary.answer.best
    assert best is not None and doc["search"]["best"]["point_index"] == best.point_index
    assert doc["search"]["best"]["value"] == best.value
    assert cli.main(["status", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "rounds planned: 2 of 2\nsearch: best: quorum=" in out

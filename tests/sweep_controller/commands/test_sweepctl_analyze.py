"""``sweepctl analyze`` on real local sweeps: the indices, the files, the table and the report.

The main sweep varies two parameters of which the model provably uses one: under the
Erdos-Renyi network, ``rewire_prob`` (the small world's rewiring) is never read, so each run
depends on ``agents`` and its seed only. The seed's noise stays in the point means, though
smaller with 8 replicates, so the test asks what the acceptance asks: ``agents`` explains at
least 90% of the variance of the outcome it drives most (the turnout), alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from kit.cli import sweepctl
from kit.runs import open_output
from kit.specs import document, write_spec
from matplotlib.image import imread
from pydantic_core import to_json

from simulator.model import simulate
from simulator.params import SimParams
from simulator.records.building import record_fields, utc_now
from simulator.records.schema import AgentRecords
from sweep_controller.analysis.results import OUTCOME_COLUMNS, outcome_row
from sweep_controller.execution.layout import manifest_key
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.loading import load_sweep

pytestmark = pytest.mark.slow  # local sweeps of hundreds of runs and CLI subprocesses

ONE_PARAMETER: dict[str, Any] = {
    "simulator": {"influence_model": "erdos_renyi"},
    "parameters": {
        "agents": {"min": 20, "max": 400, "scale": "log"},
        "rewire_prob": {"min": 0.0, "max": 0.5},
    },
    "method": "latin_hypercube",
    "samples": 128,
    "replicates": 8,
    "seed": 3,
    "runsPerTask": 256,
}


def finished(root: Path, name: str, spec: dict[str, Any]) -> Path:
    path = write_spec(
        root / f"{name}.yaml", document(name, {**spec, "output": {"uri": f"file://{root}/out"}})
    )
    result = run_sweep(load_sweep(path), workers=1, progress=False, handle_signals=False)
    assert result.exit_code == 0
    return path


@pytest.fixture(scope="module")
def one_parameter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished(tmp_path_factory.mktemp("one"), "one-parameter", ONE_PARAMETER)


def rows_of(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    table = pq.read_table(path).to_pylist()
    return {(row["outcome"], row["parameter"]): row for row in table}


def same(row: dict[str, Any]) -> dict[str, Any]:
    """A row as CSV and Parquet both read it: NaN and an empty note as None."""
    return {
        key: None if value == "" or (isinstance(value, float) and np.isnan(value)) else value
        for key, value in row.items()
    }


def outcomes(params: dict[str, Any], seed: int) -> dict[str, Any]:
    result = simulate(SimParams.model_validate(params), seed)
    fields = record_fields(
        result, run_id=__import__("uuid").uuid4(), timestamp=utc_now(), base_seed=0,
        run_index=0, agent_records=AgentRecords.NONE,
    )  # fmt: skip
    return outcome_row(json.loads(to_json(fields, by_alias=True)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_model_ignores_rewire_prob_on_an_erdos_renyi_network(seed: int) -> None:
    base = {"influence_model": "erdos_renyi", "agents": 150}
    assert outcomes({**base, "rewire_prob": 0.0}, seed) == outcomes(
        {**base, "rewire_prob": 0.5}, seed
    )
    small_world = {**base, "influence_model": "small_world"}
    assert outcomes({**small_world, "rewire_prob": 0.0}, seed) != outcomes(
        {**small_world, "rewire_prob": 0.5}, seed
    )  # where it is read, it matters


def test_the_one_parameter_that_matters_explains_the_outcome(
    one_parameter: Path, tmp_path: Path
) -> None:
    out = tmp_path / "indices"
    result = sweepctl("analyze", one_parameter, "--out", out)
    assert result.returncode == 0, result.stderr
    rows = rows_of(out / "sobol-indices.parquet")
    agents, rewire = rows[("turnout_share", "agents")], rows[("turnout_share", "rewire_prob")]
    assert agents["estimator"] == "rbd_fast+nearest_neighbour" and agents["points"] == 128
    assert agents["S1"] >= 0.9, agents
    assert abs(rewire["S1"]) <= rewire["S1_conf"], rewire  # no main effect: 0 is in its interval
    # what rewire_prob's total index holds is the seed's noise, not an effect of its own
    assert rewire["ST"] < 0.2 and rewire["ST"] < agents["ST"] - agents["ST_conf"]
    assert agents["noise_share"] < 0.1
    # every outcome has a row per parameter; cascade_ending is one outcome per ending
    expected = [c for c in OUTCOME_COLUMNS if c != "cascade_ending"]
    expected += ["cascade_ending=converged", "cascade_ending=cycle", "cascade_ending=round_cap"]
    assert {outcome for outcome, _ in rows} == set(expected)
    assert len(rows) == 2 * len(expected)
    # the CSV holds the same table; the printed table shows it
    from_csv = pacsv.read_csv(out / "sobol-indices.csv").to_pylist()
    assert [same(row) for row in from_csv] == [same(row) for row in rows.values()]
    line = next(line for line in result.stdout.splitlines() if line.startswith("turnout_share "))
    assert "agents" in line and f"{agents['S1']:.3f} ± {agents['S1_conf']:.3f}" in line
    assert result.stdout.startswith("Sobol indices of one-parameter: RBD-FAST (S1) and nearest")


def test_analyze_is_reproducible(one_parameter: Path, tmp_path: Path) -> None:
    first = sweepctl("analyze", one_parameter, "--out", tmp_path / "a", "--resamples", "300")
    # without --out: the folder `sensitivity` beside the results, from any working directory
    again = sweepctl("analyze", one_parameter, "--resamples", "300", cwd=tmp_path)
    assert first.returncode == again.returncode == 0
    beside = one_parameter.parent / "out" / "one-parameter" / "sensitivity"
    assert f"wrote {beside}/sobol-indices.csv" in again.stderr
    a = (tmp_path / "a" / "sobol-indices.csv").read_bytes()
    assert a == (beside / "sobol-indices.csv").read_bytes()
    assert first.stdout == again.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "a"]


def test_the_report_of_a_sampled_sweep_shows_sobol_indices(
    one_parameter: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = sweepctl("report", one_parameter, "--out", out)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.glob("*.png")} == {
        "param-agents.png",
        "param-rewire_prob.png",
        "sobol-indices.png",
    }
    image = imread(out / "sobol-indices.png")
    assert image.shape[0] > 300 and float(np.std(image[..., :3])) > 0.05
    md = (out / "index.md").read_text()
    section = md.split("\n## Sensitivity\n")[1].split("\n## Points\n")[0]
    assert "| parameter | outcome | S1 ± 95% | ST ± 95% | noise share | note |" in section
    assert "![Sobol indices](sobol-indices.png)" in section
    assert section.count("| agents |") == section.count("| rewire_prob |") == 6  # one per measure
    assert "sobol-indices.png" in (out / "index.html").read_text()


def test_a_saltelli_sweep_gets_salibs_estimator_and_needs_complete_base_samples(
    tmp_path: Path,
) -> None:
    spec = {
        **ONE_PARAMETER,
        "method": "sobol",
        "design": "saltelli",
        "samples": 32,
        "replicates": 2,
        "runsPerTask": 64,
    }
    path = finished(tmp_path, "salt", spec)
    result = sweepctl("analyze", path, "--out", tmp_path / "indices")
    assert result.returncode == 0, result.stderr
    rows = rows_of(tmp_path / "indices" / "sobol-indices.parquet")
    agents, rewire = rows[("turnout_share", "agents")], rows[("turnout_share", "rewire_prob")]
    assert agents["estimator"] == "saltelli" and agents["points"] == 32 * 4
    assert agents["ST"] - agents["ST_conf"] > rewire["ST"] + rewire["ST_conf"]
    assert "SALib's Sobol estimator on the Saltelli design" in result.stdout
    # without task 1 (points 32-63: base samples 8-15), too few base samples are complete
    _, store = open_output(path)
    store.delete(manifest_key("salt", 1))
    partial = sweepctl("analyze", path, "--out", tmp_path / "partial")
    assert partial.returncode == 1
    assert partial.stderr.splitlines()[-1] == (
        "sweepctl: error: salt: 24 of 32 base samples have all their 4 points finished; Sobol "
        "indices need at least 32; run `sweepctl run` to finish the sweep"
    )
    assert "1 of 4 tasks are not done" in partial.stderr

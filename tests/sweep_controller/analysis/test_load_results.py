"""``load_results``: a finished sweep as one DataFrame, from its spec or from its results alone."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from kit.cli import sweepctl
from kit.paths import REPO
from kit.runs import manifests, task_lines
from kit.specs import grid_doc, write_spec

import sweep_controller
from simulator.params import SimParams
from sweep_controller import load_results
from sweep_controller.analysis import Provenance
from sweep_controller.analysis.loading import load_results as loading_load_results
from sweep_controller.analysis.results import BASE_COLUMNS, OUTCOME_COLUMNS, outcome_row
from sweep_controller.errors import FlagError, IncompleteResultsWarning, ResultsError, SpecError
from sweep_controller.execution.layout import manifest_key
from sweep_controller.execution.runner import run_sweep
from sweep_controller.execution.spec_copy import spec_document
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.location import load_local_sweep
from sweep_controller.store import FileStore, open_store

SWEPT = ("whale_ratio", "conformity_threshold")


@dataclass(frozen=True)
class Finished:
    """A sweep run to the end: its spec (output ``file://results``, relative) and its folders."""

    spec: Path
    output: Path
    """The output root, ``<spec folder>/results``."""
    name: str

    @property
    def folder(self) -> Path:
        """The sweep's results folder, ``<output>/<name>``."""
        return self.output / self.name


def run_to_end(spec: Path) -> None:
    summary = run_sweep(load_local_sweep(spec), workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """The 18-run grid of ``grid_doc`` (5 tasks), fixed agents and rounds, run once."""
    root = tmp_path_factory.mktemp("finished") / "specs"
    root.mkdir()
    spec = write_spec(root / "lr.yaml", grid_doc("lr", "file://results"))
    run_to_end(spec)
    return Finished(spec, root / "results", "lr")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is not the spec's folder."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def copy_of(finished: Finished, tmp_path: Path) -> Finished:
    """The spec and its results copied to a fresh folder (for tests that change them)."""
    specs = tmp_path / "copy"
    shutil.copytree(finished.spec.parent, specs)
    return Finished(specs / finished.spec.name, specs / "results", finished.name)


def records_by_run(finished: Finished) -> dict[int, dict[str, Any]]:
    sweep = load_local_sweep(finished.spec)
    store = open_store(sweep.spec.output.uri)
    return {
        (record := json.loads(line))["run_index"]: record
        for lines in task_lines(store, sweep).values()
        for line in lines
    }


def fixed_names() -> list[str]:
    """Every SimParams field but the swept ones, flattened as the table names them."""
    names: list[str] = []
    for name, info in SimParams.model_fields.items():
        if name in SWEPT:
            continue
        nested = info.annotation
        if isinstance(nested, type) and hasattr(nested, "model_fields"):
            names += [f"{name}.{sub}" for sub in nested.model_fields]
        else:
            names.append(name)
    return names


def test_from_a_spec_one_row_per_run_with_every_parameter_and_the_outcomes(
    finished: Finished, elsewhere: Path
) -> None:
    runs = load_results(finished.spec)
    assert list(runs.columns) == [*BASE_COLUMNS, *SWEPT, *fixed_names(), *OUTCOME_COLUMNS]
    assert runs["run_index"].tolist() == list(range(18))
    records = records_by_run(finished)
    for row in runs.to_dict("records"):
        record = records[row["run_index"]]
        params = record["params"]
        assert (row["point_index"], row["replicate"]) == divmod(row["run_index"], 3)
        assert row["seed"] == record["seed"] and row["sweep"] == "lr"
        for name in SWEPT:
            assert row[name] == params[name]
        # fixed by the spec, resolved by the simulator, or left out of the record at a default
        assert row["agents"] == params["agents"] == 60
        assert row["cascade_rounds"] == params["cascade_rounds"] == 3
        assert row["rules"] == params["rules"] == record["rules"]
        assert row["mean_degree"] == params["mean_degree"]
        assert row["calibration"] == record["calibration"] and "calibration" not in params
        assert row["archetype_mix.retail"] == params["archetype_mix"]["retail"]
        assert row["stake_tail"] is None
        outcomes = outcome_row(record)
        for name, value in outcomes.items():
            if isinstance(value, float) and value != value:  # NaN
                assert row[name] != row[name]
            else:
                assert row[name] == value, name
    # a user can filter on any parameter, fixed or swept
    assert len(runs[(runs["agents"] == 60) & (runs["whale_ratio"] == 0.15)]) == 6


def test_the_provenance_is_the_manifests_and_the_records(
    finished: Finished, tmp_path: Path
) -> None:
    """Code versions come from the tasks' manifests, never from the reading process."""
    mine = copy_of(finished, tmp_path)
    sweep = load_local_sweep(mine.spec)
    store = FileStore(mine.output)
    key = manifest_key("lr", 2)
    manifest = json.loads(store.get_bytes(key))
    manifest["code_version"] = "0.3.9"  # a task committed by an older release
    store.put_bytes(key, json.dumps(manifest).encode())
    found = manifests(store, sweep)
    lines = [line for task in task_lines(store, sweep).values() for line in task]
    schema_versions = {json.loads(line)["schema_version"] for line in lines}

    runs = load_results(mine.spec)
    assert runs.attrs == {
        "sweep": "lr",
        "spec_hash": next(iter({m.spec_hash for m in found.values()})),
        "code_versions": sorted({m.code_version for m in found.values()}),
        "schema_versions": sorted(schema_versions),
        "results_uri": f"file://{mine.folder}/",
        "tasks": 5,
        "tasks_read": 5,
        "runs": 18,
    }
    assert "0.3.9" in runs.attrs["code_versions"] and len(runs.attrs["code_versions"]) == 2
    assert len({m.spec_hash for m in found.values()}) == 1


def test_collect_s_parquet_is_the_same_table_with_the_same_provenance(
    finished: Finished, tmp_path: Path
) -> None:
    out = tmp_path / "runs.parquet"
    assert sweepctl("collect", finished.spec, "--out", out, cwd=tmp_path).returncode == 0
    table = pq.read_table(out)
    runs = load_results(finished.spec)
    provenance = Provenance.from_metadata(table.schema.metadata)
    assert provenance is not None and provenance.attrs() == runs.attrs
    pd.testing.assert_frame_equal(table.to_pandas(), runs, check_like=False)


def test_the_results_folder_describes_itself(
    finished: Finished, tmp_path: Path, elsewhere: Path
) -> None:
    from_spec = load_results(finished.spec)
    for source, sweep in [
        (finished.folder, None),  # the folder `sweepctl run` prints
        (f"file://{finished.folder}/", None),
        (f"file://{finished.output}", None),  # the output root: one sweep in it
        (finished.output, "lr"),
        (finished.folder, "lr"),
    ]:
        runs = load_results(source, sweep=sweep)
        pd.testing.assert_frame_equal(runs, from_spec)
        assert runs.attrs == from_spec.attrs
    # copied elsewhere (downloaded, archived), it reads the same, from where it now is
    moved = tmp_path / "archive" / "lr"
    shutil.copytree(finished.folder, moved)
    relative = load_results(Path("..") / "archive" / "lr")
    pd.testing.assert_frame_equal(relative, from_spec)
    assert relative.attrs["results_uri"] == f"file://{moved}/"


def test_an_output_of_several_sweeps_needs_the_sweep_s_name(
    finished: Finished, tmp_path: Path
) -> None:
    mine = copy_of(finished, tmp_path)
    other = write_spec(mine.spec.parent / "other.yaml", grid_doc("other", "file://results", seed=3))
    run_to_end(other)
    with pytest.raises(ResultsError, match=r"results/ holds 2 sweeps \(lr, other\); name one"):
        load_results(mine.output)
    assert load_results(mine.output, sweep="other").attrs["sweep"] == "other"
    assert load_results(mine.output, sweep="lr")["seed"].tolist() == (
        load_results(mine.spec)["seed"].tolist()
    )
    with pytest.raises(ResultsError, match=r"results/nope/sweep\.json: not found"):
        load_results(mine.output, sweep="nope")


def test_results_without_a_spec_copy_need_the_spec(finished: Finished, tmp_path: Path) -> None:
    mine = copy_of(finished, tmp_path)
    (mine.folder / "sweep.json").unlink()  # results written before copies were stored
    with pytest.raises(ResultsError, match=r"no sweep results found in file://.*/results/ "):
        load_results(mine.output)
    with pytest.raises(ResultsError, match=r"lr/sweep\.json: not found, .* give the spec file"):
        load_results(mine.output, sweep="lr")
    assert len(load_results(mine.spec)) == 18  # the spec still reads them


def test_a_stale_spec_copy_is_refused_not_trusted(finished: Finished, tmp_path: Path) -> None:
    mine = copy_of(finished, tmp_path)
    changed = load_sweep(write_spec(tmp_path / "c.yaml", grid_doc("lr", "file://x", seed=99)))
    (mine.folder / "sweep.json").write_text(json.dumps(spec_document(changed)))
    with pytest.raises(ResultsError, match=r"task 0: .* another sweep's results"):
        load_results(mine.folder)


def test_missing_tasks_are_a_warning_or_an_error(finished: Finished, tmp_path: Path) -> None:
    mine = copy_of(finished, tmp_path)
    FileStore(mine.output).delete(manifest_key("lr", 1))
    with pytest.warns(IncompleteResultsWarning, match=r"1 of 5 tasks are not done \(indexes 1\)"):
        runs = load_results(mine.spec)
    assert len(runs) == 14 and (runs.attrs["tasks_read"], runs.attrs["tasks"]) == (4, 5)
    with pytest.raises(ResultsError, match=r"1 of 5 tasks are not done"):
        load_results(mine.spec, require_complete=True)


def test_nothing_there_says_where_it_looked(tmp_path: Path, elsewhere: Path) -> None:
    spec = write_spec(tmp_path / "never.yaml", grid_doc("never", "file://results"))
    with pytest.raises(ResultsError) as caught:
        load_results(spec)
    message = str(caught.value)
    assert message.startswith(f"never: no runs found in file://{tmp_path}/results/never/ ")
    assert "(0 of 5 tasks are done)" in message and "\n" not in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResultsError, match=rf"^no sweep results found in file://{empty}/ "):
        load_results(empty)
    with pytest.raises(ResultsError, match=r"^nowhere: no such spec file or results folder"):
        load_results("nowhere")
    with pytest.raises(SpecError, match=r"^missing\.yaml: cannot read"):
        load_results("missing.yaml")
    assert not (tmp_path / "results").exists() and list(elsewhere.iterdir()) == []


def test_a_sweep_object_and_an_output_override(
    finished: Finished, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(finished.spec.parent.parent)
    relative = Path(finished.spec.parent.name) / "results"
    as_written = load_sweep(finished.spec)  # file://results: the working directory's
    from_object = load_results(as_written, output=str(relative))
    pd.testing.assert_frame_equal(from_object, load_results(finished.spec))
    moved = tmp_path / "moved"
    shutil.copytree(finished.output, moved)
    assert load_results(finished.spec, output=f"file://{moved}").attrs["results_uri"] == (
        f"file://{moved}/lr/"
    )
    with pytest.raises(FlagError, match=r"^output: 'x' goes with a spec"):
        load_results(finished.folder, output="x")
    with pytest.raises(FlagError, match=r"^sweep: 'other' is not the spec's sweep, 'lr'"):
        load_results(finished.spec, sweep="other")


@pytest.mark.integration
def test_results_on_s3_from_the_spec_and_from_the_uri(tmp_path: Path, s3_uri: str) -> None:
    spec = write_spec(tmp_path / "s3.yaml", grid_doc("on-s3", s3_uri, order="shuffled"))
    run_to_end(spec)
    from_spec = load_results(spec)
    assert len(from_spec) == 18 and from_spec.attrs["results_uri"] == f"{s3_uri}/on-s3/"
    for source in (f"{s3_uri}/on-s3", f"{s3_uri}/on-s3/", s3_uri):
        runs = load_results(source)
        pd.testing.assert_frame_equal(runs, from_spec)
        assert runs.attrs == from_spec.attrs
    local = tmp_path / "local.yaml"
    write_spec(local, grid_doc("on-s3", "file://results", order="shuffled"))
    pd.testing.assert_frame_equal(load_results(local, output=s3_uri), from_spec)


def test_the_public_name_loads_lazily() -> None:
    assert load_results is loading_load_results and "load_results" in sweep_controller.__all__
    code = (
        "import sys\n"
        "import sweep_controller\n"
        "import sweep_controller.spec.models\n"
        "before = sorted(m for m in ('pandas', 'boto3', 'matplotlib') if m in sys.modules)\n"
        "from sweep_controller import load_results\n"
        "print(before, 'pandas' in sys.modules or callable(load_results))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] True"


def docs_example() -> str:
    """The five-line example of docs/sweeps.md, "Results in Python"."""
    text = (REPO / "docs" / "sweeps.md").read_text()
    section = text.split("## Results in Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_documented_example_runs(
    finished: Finished, capsys: pytest.CaptureFixture[str]
) -> None:
    code = docs_example()
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    doc = load_results.__doc__ or ""
    assert all(line.strip() in doc for line in code.splitlines())  # the docstring's example too
    # the example's spec and its agents, swapped for the small sweep's
    assert "examples/whale-vs-conformity.yaml" in code and '["agents"] == 2000' in code
    code = code.replace("examples/whale-vs-conformity.yaml", str(finished.spec))
    exec(code.replace('["agents"] == 2000', '["agents"] == 60'), {})
    printed = capsys.readouterr().out
    runs = load_results(finished.spec)
    assert runs.attrs["spec_hash"] in printed
    rates = runs.groupby(list(SWEPT))["passed"].mean().unstack()
    assert rates.shape == (3, 2) and str(rates) in printed

"""``runsPerTask`` and its deprecated old name ``pointsPerTask``: same sweep, hash; one warning."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.paths import REPO

from sweep_controller.errors import SpecDeprecationWarning, SpecError
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import legacy_spec_hash, spec_hash

V04_EXAMPLES = Path(__file__).parent / "fixtures" / "v04-examples"
"""The examples as they were under rules v0.4 (then the default), with ``rules: v0.4`` stated."""
# Hashes of those examples as computed before the rename and before the rule set was a parameter:
# finished results must keep matching.
HASHES_BEFORE_THE_RENAME = {
    "sobol-sensitivity": "022d5777d0b82ffe24d451da41b942711c8b24c7cca74910f78b4e333e37f158",
    "whale-vs-conformity": "ab5ba6deab44f90f168e2292ea25f8d3e6c860936321760a9a918e20002584b2",
    "zipped": "68f136c302b9183c16fff3fd56cbf08b9511069a6f9a554dddd0b9a9c4e77576",
}
WARNING = "spec.pointsPerTask is deprecated; use spec.runsPerTask"


def legacy(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with ``runsPerTask`` spelled by its old name."""
    spec = {("pointsPerTask" if k == "runsPerTask" else k): v for k, v in doc["spec"].items()}
    return {**doc, "spec": spec}


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((V04_EXAMPLES / f"{name}.yaml").read_text())
    return doc


def sweepctl(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweep_controller", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE_THE_RENAME))
def test_the_rename_changes_no_spec_hash(name: str) -> None:
    """Results written with run-index seeds are recognised by the legacy hash (the seeding tag
    of content-seeded sweeps makes the current hash another)."""
    sweep = load_sweep(V04_EXAMPLES / f"{name}.yaml")
    assert legacy_spec_hash(sweep) == HASHES_BEFORE_THE_RENAME[name]
    assert spec_hash(sweep) != HASHES_BEFORE_THE_RENAME[name]


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE_THE_RENAME))
def test_the_default_rule_set_v05_is_a_different_sweep(name: str) -> None:
    doc = example(name)
    del doc["spec"]["simulator"]["rules"]
    v05 = parse_sweep(doc, "sweep.yaml")
    assert v05.spec.simulator.rules == "v0.5"
    assert spec_hash(v05) != HASHES_BEFORE_THE_RENAME[name]
    doc["spec"]["simulator"]["rules"] = "v0.5"
    assert spec_hash(parse_sweep(doc, "sweep.yaml")) == spec_hash(v05)


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE_THE_RENAME))
def test_old_name_gives_the_same_sweep_with_a_warning(name: str) -> None:
    doc = example(name)
    assert "runsPerTask" in doc["spec"]
    with pytest.warns(SpecDeprecationWarning) as caught:
        old = parse_sweep(legacy(doc), "sweep.yaml")
    assert [str(w.message) for w in caught] == [f"sweep.yaml: {WARNING}"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = parse_sweep(doc, "sweep.yaml")
    assert old == new
    assert spec_hash(old) == spec_hash(new)
    dumped = old.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped["runsPerTask"] == doc["spec"]["runsPerTask"]
    assert "pointsPerTask" not in dumped


@pytest.mark.parametrize("current", ["runsPerTask", "runs_per_task"])
def test_both_names_are_an_error_naming_the_field(current: str) -> None:
    doc = example("zipped")
    doc["spec"]["pointsPerTask"] = 3
    doc["spec"][current] = doc["spec"].pop("runsPerTask")
    with pytest.raises(SpecError) as info:
        parse_sweep(doc, "sweep.yaml")
    assert str(info.value) == (
        "sweep.yaml: spec.pointsPerTask: deprecated name of spec.runsPerTask; "
        "set only spec.runsPerTask"
    )


def test_old_name_is_range_checked_like_the_new_one() -> None:
    doc = legacy(example("zipped"))
    doc["spec"]["pointsPerTask"] = 0
    with pytest.warns(SpecDeprecationWarning), pytest.raises(SpecError) as info:
        parse_sweep(doc, "sweep.yaml")
    assert str(info.value) == "sweep.yaml: spec.runsPerTask: 0 is outside [1, 2147483647]"


def test_validate_prints_one_warning_line(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(legacy(example("whale-vs-conformity")), sort_keys=False))
    result = sweepctl("validate", path)
    assert result.returncode == 0, result.stderr
    deprecation, *others = result.stderr.splitlines()
    assert deprecation == f"sweepctl: warning: {path}: {WARNING}"
    # The example's tasks are tiny: the rest is the task-size warning, once.
    assert [line.split(": ")[:3] for line in others] == [
        ["sweepctl", "warning", "spec.runsPerTask"]
    ]
    assert "tasks: 16 (20 runs per task)" in result.stdout


def test_run_prints_one_warning_line_and_runs(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": "legacy"},
        "spec": {
            "simulator": {"agents": 30},
            "replicates": 4,
            "pointsPerTask": 2,
            "output": {"uri": f"file://{tmp_path / 'out'}"},
        },
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = sweepctl("run", path, "--workers", "2", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warning_lines = [x for x in result.stderr.splitlines() if x.startswith("sweepctl: warning")]
    assert warning_lines == [f"sweepctl: warning: {path}: {WARNING}"]
    assert len(list((tmp_path / "out" / "legacy" / "tasks").glob("*.manifest.json"))) == 2


def test_both_names_on_the_command_line_exit_2(tmp_path: Path) -> None:
    doc = example("zipped")
    doc["spec"]["pointsPerTask"] = 3
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = sweepctl("validate", path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"sweepctl: error: {path}: spec.pointsPerTask: deprecated name of spec.runsPerTask; "
        "set only spec.runsPerTask\n"
    )

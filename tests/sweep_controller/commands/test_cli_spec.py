"""``sweepctl validate`` and ``sweepctl expand`` as a user runs them: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.cli import sweepctl
from kit.paths import EXAMPLES, REPO
from kit.specs import sweep_doc

from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import load_sweep

pytestmark = pytest.mark.slow  # subprocess sweeps and CLI runs: seconds each

EXAMPLE = REPO / "examples" / "whale-vs-conformity.yaml"


def write(tmp_path: Path, doc: dict[str, Any], name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_validate_prints_the_size() -> None:
    result = sweepctl("validate", EXAMPLE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in (
        "sweep: whale-vs-conformity",
        "method: grid",
        "points: 16",
        "replicates: 50",
        "runs: 800",
        "tasks: 16 (50 runs per task)",
        f"output: file://results (local commands: file://{REPO}/examples/results)",
        "memory per task: ~289 MiB",
    ):
        assert expected in lines
    assert "work per task: ~0.11 s (50 runs of ~2.3 ms; up to ~0.11 s)" in lines
    # A laptop-sized example: its tasks are far too small for pods, which is a warning only.
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("sweepctl: warning: spec.runsPerTask: 50 runs of ~2.3 ms each")


def test_validate_strict_fails_on_a_warning_and_passes_a_well_sized_sweep(
    tmp_path: Path,
) -> None:
    tiny = write(tmp_path, sweep_doc(replicates=100_000, runsPerTask=10), "tiny.yaml")
    assert sweepctl("validate", tiny).returncode == 0
    strict = sweepctl("validate", "--strict", tiny)
    assert strict.returncode == 1
    assert strict.stderr.startswith("sweepctl: warning: spec.runsPerTask: 10 runs of ~")
    assert "raise runsPerTask to >= " in strict.stderr
    # 10^5-agent runs of ~56 ms: 3,000 of them are about 3 min of work.
    good = sweep_doc(simulator={"agents": 100_000, "mean_degree": 10}, replicates=1000,
                     runsPerTask=3000)  # fmt: skip
    result = sweepctl("validate", "--strict", write(tmp_path, good, "good.yaml"))
    assert (result.returncode, result.stderr) == (0, "")


def test_render_warns_as_validate_does_and_a_well_sized_sweep_renders_quietly(
    tmp_path: Path,
) -> None:
    tiny = write(tmp_path, sweep_doc(replicates=2_000, runsPerTask=10), "tiny.yaml")
    validated = sweepctl("validate", tiny)
    rendered = sweepctl("render", tiny, "--output-uri", "s3://results/sweeps")
    assert rendered.returncode == 0 and yaml.safe_load_all(rendered.stdout)
    warnings = [line for line in validated.stderr.splitlines() if "runsPerTask" in line]
    assert warnings and rendered.stderr.splitlines() == warnings
    good = sweep_doc(simulator={"agents": 100_000, "mean_degree": 10}, replicates=1000,
                     runsPerTask=3000)  # fmt: skip
    quiet = sweepctl("render", write(tmp_path, good, "good.yaml"), "--output-uri", "s3://results/s")
    assert (quiet.returncode, quiet.stderr) == (0, "")


def test_validate_memory_limit(tmp_path: Path) -> None:
    doc = sweep_doc(simulator={"agents": 100_000, "mean_degree": 10}, replicates=1000,
                    runsPerTask=1000)  # fmt: skip
    path = write(tmp_path, doc)
    result = sweepctl("validate", "--strict", "--memory-limit", "256Mi", path)
    assert result.returncode == 1
    assert "over the worker memory limit 256 MiB" in result.stderr
    bad = sweepctl("validate", "--memory-limit", "lots", path)
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == (
        "sweepctl: error: --memory-limit: 'lots' is not a memory quantity (for example 2Gi, "
        "512Mi, 4G)\n"
    )


def test_validate_every_example() -> None:
    for path in EXAMPLES:
        result = sweepctl("validate", path)
        assert result.returncode == 0, result.stderr


def test_validate_bad_spec_is_one_line_exit_2(tmp_path: Path) -> None:
    doc = sweep_doc()
    doc["spec"]["parameters"]["whale_ratio"] = {"min": 0.1, "max": 1.7, "steps": 3}
    path = write(tmp_path, doc)
    result = sweepctl("validate", path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"sweepctl: error: {path}: spec.parameters.whale_ratio.max: 1.7 is outside [0, 1]\n"
    )


def test_validate_unknown_parameter_lists_valid_names(tmp_path: Path) -> None:
    doc = sweep_doc()
    doc["spec"]["parameters"]["whale_share"] = {"values": [0.1]}
    result = sweepctl("validate", write(tmp_path, doc))
    assert result.returncode == 2
    assert "spec.parameters.whale_share: unknown parameter; valid names: agents," in (result.stderr)
    assert "Traceback" not in result.stderr


def test_validate_missing_file(tmp_path: Path) -> None:
    result = sweepctl("validate", tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("sweepctl: error: ")
    assert "cannot read" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_expand_jsonl_matches_the_library() -> None:
    result = sweepctl("expand", EXAMPLE, "--format", "jsonl", "--task", "3")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = SweepPlan(load_sweep(EXAMPLE)).task_runs(3)
    assert [r["run_index"] for r in rows] == [r.run_index for r in expected]
    assert [r["seed"] for r in rows] == [r.seed for r in expected]
    assert [r["swept"] for r in rows] == [r.swept for r in expected]
    assert {r["task"] for r in rows} == {3}
    assert rows[0]["params"]["agents"] == 2000
    assert rows[0]["params"]["rules"] == "v0.5" and rows[0]["params"]["mean_degree"] == 10


def test_expand_table_with_limit() -> None:
    result = sweepctl("expand", EXAMPLE, "--limit", "3")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "task",
        "run",
        "point",
        "replicate",
        "seed",
        "whale_ratio",
        "conformity_threshold",
    ]
    assert [row.split()[:4] for row in rows] == [
        ["0", "0", "0", "0"],
        ["0", "1", "0", "1"],
        ["0", "2", "0", "2"],
    ]
    assert [row.split()[5:] for row in rows] == [["0.01", "0.3"]] * 3


def test_expand_whole_sweep_lists_every_run_once() -> None:
    path = REPO / "examples" / "sobol-sensitivity.yaml"
    result = sweepctl("expand", path, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["run_index"] for r in rows) == list(range(128))
    assert [r["position"] for r in rows] == list(range(128))
    assert [r["task"] for r in rows] == [p // 16 for p in range(128)]


def test_validate_warns_when_a_sweep_is_too_large_for_one_job(tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"]["parameters"]["whale_ratio"] = {"min": 0.0, "max": 1.0, "steps": 1000}
    doc["spec"]["parameters"]["conformity_threshold"] = {"min": 0.0, "max": 1.0, "steps": 100}
    doc["spec"]["replicates"] = 2
    doc["spec"]["runsPerTask"] = 1
    result = sweepctl("validate", write(tmp_path, doc))
    assert result.returncode == 0, result.stderr
    assert "tasks: 200000 (1 runs per task)" in result.stdout.splitlines()
    size, jobs = result.stderr.splitlines()  # tiny tasks, and too many of them
    assert size.startswith("sweepctl: warning: spec.runsPerTask: 1 runs of ~")
    assert jobs == (
        "sweepctl: warning: too large for Kubernetes: spec.runsPerTask: 1 gives 200000 tasks; "
        "one Job runs at most 100000: set runsPerTask to at least 2"
    )
    doc["spec"]["runsPerTask"] = 2
    assert "too large for Kubernetes" not in sweepctl("validate", write(tmp_path, doc)).stderr


def test_expand_task_out_of_range_exit_2() -> None:
    result = sweepctl("expand", EXAMPLE, "--task", "16")
    assert result.returncode == 2
    assert result.stderr == (
        "sweepctl: error: task index 16 is outside [0, 15] "
        "(sweep whale-vs-conformity has 16 tasks)\n"
    )


def test_expand_rejects_a_negative_limit() -> None:
    result = sweepctl("expand", EXAMPLE, "--limit", "-1")
    assert result.returncode == 2
    assert "argument --limit: -1 is outside [0, inf)" in result.stderr


def test_expand_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    doc = sweep_doc(parameters={"rewire_prob": {"min": 0, "max": 1, "steps": 100_000}})
    path = write(tmp_path, doc)
    with subprocess.Popen(
        [sys.executable, "-m", "sweep_controller", "expand", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().split()[0] == "task"
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    assert "Traceback" not in stderr


def test_help_lists_the_subcommands() -> None:
    result = sweepctl("--help")
    assert result.returncode == 0
    assert "validate" in result.stdout and "expand" in result.stdout
    bare = sweepctl()
    assert bare.returncode == 2

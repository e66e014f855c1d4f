"""The command line's manners: --version, user commands apart from internal ones, 'did you mean'
for flags and commands, every spec error on its own line, and ``--set`` on run, validate and
render."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml
from kit.cli import sweepctl
from kit.paths import REPO
from kit.specs import grid_doc, sweep_doc, write_spec

import simulator
from sweep_controller.commands.main import INTERNAL_COMMANDS, main
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import spec_hash

USER_COMMANDS = (
    "analyze", "collect", "delete", "expand", "list", "logs", "render", "report", "run", "status",
    "submit", "validate", "watch",
)  # fmt: skip


def run_main(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_version_is_the_package_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = sweepctl("--version")
    assert (result.returncode, result.stdout) == (0, f"sweepctl {project}\n")
    assert project == simulator.__version__


def test_help_lists_user_commands_apart_from_internal_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    user, _, internal = out.partition("internal commands:")
    assert "the cluster's pods run these" in internal
    for name in USER_COMMANDS:
        assert f"\n    {name} " in user and f"\n  {name} " not in internal
    for name in INTERNAL_COMMANDS:
        assert f"\n  {name} " in internal and f"\n    {name} " not in user
    for name in INTERNAL_COMMANDS:  # still commands, as the Job and the chart call them
        assert run_main(capsys, name, "--help")[0] == 0


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (("valdate", "x.yaml"), "; did you mean validate? (see sweepctl --help)"),
        (("--versoin",), "unrecognized arguments: --versoin; did you mean --version?"),
        (("run", "x.yaml", "--no-progres", "--wrokers", "2"), "; did you mean --workers?"),
    ],
)
def test_misspelt_command_or_flag_gets_the_nearest(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], hint: str
) -> None:
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    assert len(err.splitlines()) == 1 and hint in err


def test_every_spec_error_is_a_line_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = sweep_doc(replicates=0, method="grids")
    doc["spec"]["parameters"]["whale_ratoi"] = [0.1]
    path = write_spec(tmp_path / "x.yaml", doc)
    code, out, err = run_main(capsys, "validate", path)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"sweepctl: error: {path}: spec.parameters.whale_ratoi: unknown parameter; did you mean "
        "whale_ratio?",
        f"sweepctl: error: {path}: spec.method: 'grids' is not one of grid, random, "
        "latin_hypercube, sobol, optuna; did you mean grid?",
        f"sweepctl: error: {path}: spec.replicates: 0 is outside [1, 2147483647]",
    ]


def test_validate_with_set_sizes_the_overridden_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_spec(tmp_path / "x.yaml", sweep_doc())
    code, out, _ = run_main(
        capsys, "validate", path, "--set", "replicates=5", "--set", "quorum=[0, 0.5]"
    )
    assert code == 0
    assert "replicates: 5\n" in out and "runs: 120\n" in out  # 12 points x 2 quorums x 5
    assert "  quorum: values 0, 0.5\n" in out
    code, _, err = run_main(capsys, "validate", path, "--set", "spec.replicates=0")
    assert code == 2
    assert err == (
        f"sweepctl: error: {path}: --set spec.replicates=0: spec.replicates: 0 is outside "
        "[1, 2147483647]\n"
    )


def test_render_with_set_embeds_the_overridden_spec_in_full_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVSIM_S3_BUCKET", "results")
    path = write_spec(tmp_path / "x.yaml", sweep_doc())
    code, out, _ = run_main(
        capsys,
        "render",
        path,
        "--image",
        "govsim:t",
        "--set",
        "seed=7",
        "--set",
        "cascade_rounds=[1, 2]",
    )
    assert code == 0
    configmap = next(yaml.safe_load_all(out))
    embedded = yaml.safe_load(configmap["data"]["sweep.yaml"])
    assert embedded["spec"]["seed"] == 7
    assert embedded["spec"]["parameters"]["cascade_rounds"] == {"values": [1, 2]}


def test_run_with_set_writes_and_hashes_the_effective_spec(tmp_path: Path) -> None:
    doc = grid_doc("tiny", "file://out", simulator={"agents": 20, "cascade_rounds": 1})
    path = write_spec(tmp_path / "x.yaml", doc)
    overrides = ("--set", "replicates=1", "--set", "whale_ratio=[0.1, 0.2]")
    result = sweepctl("run", path, "--workers", "1", "--no-progress", *overrides, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    copy = json.loads((tmp_path / "out" / "tiny" / "sweep.json").read_text())
    assert copy["spec"]["replicates"] == 1
    assert copy["spec"]["parameters"]["whale_ratio"] == {"values": [0.1, 0.2]}
    effective = parse_sweep(copy)
    assert "4/4 runs" in result.stderr  # 2 whale ratios x 2 conformity thresholds x 1 replicate
    # an override that changes the runs already there (a fixed parameter) makes another sweep,
    # whose results cannot go where these are
    again = sweepctl(
        "run", path, "--workers", "1", "--no-progress", *overrides, "--set", "agents=30",
        cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 2 and spec_hash(effective)[:12] in again.stderr, again.stderr
    assert "belongs to another sweep" in again.stderr

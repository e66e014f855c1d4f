"""The core install: local sweeps work without the optional extras, and each feature that needs
one says so in one line (exit 2); pyproject.toml's extras and ``sweep_controller.extras`` agree."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from kit.cli import sweepctl
from kit.extras import BLOCKED, without_extras
from kit.paths import REPO
from kit.specs import sweep_doc, write_spec

from sweep_controller.extras import DISTRIBUTION, EXTRAS, installed, require

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
OPTIONAL = PROJECT["optional-dependencies"]
NOT_FEATURES = {"all", "test", "bench"}
"""Extras that are not one feature's libraries: every feature, the test and the bench tools."""
MOVED = {"boto3", "botocore", "kubernetes", "kopf", "prometheus-client", "optuna", "networkx"}
"""Distributions the core install must not pull (features' libraries and a test dependency)."""
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
ONE_LINE = re.compile(
    r"^sweepctl: error: .+ needs the [a-z0-9]+((, [a-z0-9]+)* and [a-z0-9]+ extras|"
    r" extra): pip install 'govsim\[[a-z0-9,]+\]'\n$"
)


def name_and_extras(requirement: str) -> tuple[str, set[str]]:
    """The normalized distribution name of a requirement string and the extras it asks for."""
    match = REQUIREMENT_NAME.match(requirement)
    assert match is not None, requirement
    extras = {e.strip() for e in (match[2] or "").split(",") if e.strip()}
    return re.sub(r"[-_.]+", "-", match[1]).lower(), extras


# --- pyproject.toml and sweep_controller.extras do not drift apart ---------------------------


def test_the_core_dependencies_leave_out_every_moved_package() -> None:
    core = {name_and_extras(r)[0] for r in PROJECT["dependencies"]}
    assert core & MOVED == set()
    assert {"numpy", "scipy", "pydantic", "pyarrow", "pandas", "matplotlib"} <= core


def test_every_feature_extra_is_known_to_the_code_and_all_holds_each_one() -> None:
    features = set(OPTIONAL) - NOT_FEATURES
    assert features == set(EXTRAS)
    ((project, extras),) = [name_and_extras(r) for r in OPTIONAL["all"]]
    assert project == DISTRIBUTION == PROJECT["name"]
    assert extras == features


def test_the_test_extra_brings_every_feature() -> None:
    own = [extras for name, extras in map(name_and_extras, OPTIONAL["test"]) if name == "govsim"]
    assert own == [{"all"}]


def test_networkx_is_a_test_and_bench_dependency_only() -> None:
    for extra in ("test", "bench"):
        assert "networkx" in {name_and_extras(r)[0] for r in OPTIONAL[extra]}
    for extra in EXTRAS:
        assert "networkx" not in {name_and_extras(r)[0] for r in OPTIONAL[extra]}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_each_extra_installs_the_modules_the_code_checks_for(extra: str) -> None:
    """Every module ``require`` looks for comes from a distribution the extra declares, or from
    one of their own requirements (botocore through boto3)."""
    declared = {name_and_extras(r)[0] for r in OPTIONAL[extra]}
    reachable = set(declared)
    for name in declared:
        reachable |= {name_and_extras(r)[0] for r in metadata.requires(name) or []}
    providers = metadata.packages_distributions()
    for module in EXTRAS[extra]:
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in providers[module]}
        assert names & reachable, (module, names, reachable)


# --- require --------------------------------------------------------------------------------


def test_require_passes_when_the_extras_are_installed() -> None:
    assert all(installed(extra) for extra in EXTRAS)  # the test install has every extra
    require("sweepctl controller", *EXTRAS)


def test_require_refuses_an_extra_nobody_declared() -> None:
    with pytest.raises(KeyError):
        require("something", "no-such-extra")


# --- a Python without the extras --------------------------------------------------------------


def loaded_optional(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The blocked top-level modules in ``sys.modules`` after running ``code`` in a new Python."""
    tops = "{m.partition('.')[0] for m in sys.modules}"
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({tops} & {set(BLOCKED)!r})))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.splitlines()[-1]))


def test_importing_the_packages_and_the_cli_loads_no_optional_library() -> None:
    """With every extra installed: nothing imports them until a feature needs them."""
    code = (
        "import simulator, simulator.cli, sweep_controller, sweep_controller.store, "
        "sweep_controller.metrics, sweep_controller.execution, sweep_controller.analysis\n"
        "from sweep_controller.commands.main import build_parser\n"
        "build_parser()"
    )
    assert loaded_optional(code) == []


def test_the_probe_sees_a_loaded_library() -> None:
    assert loaded_optional("import sweep_controller.store.s3") == ["boto3", "botocore"]


def test_the_blocked_python_cannot_import_an_extra(tmp_path: Path) -> None:
    env = without_extras(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "import boto3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'boto3'" in result.stderr


@pytest.mark.slow
def test_a_local_sweep_runs_collects_and_reports_without_the_extras(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    env = without_extras(tmp_path / "site")
    doc = sweep_doc("core", replicates=1, runsPerTask=6, output={"uri": "file://results"})
    spec = write_spec(tmp_path / "sweep.yaml", doc)
    for args in (
        ("run", spec, "--no-progress"),
        ("collect", spec, "--out", tmp_path / "runs.csv"),
        ("report", spec, "--out", tmp_path / "report"),
        ("status", spec),
    ):
        result = sweepctl(*args, env=env, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
    with (tmp_path / "runs.csv").open() as table:
        assert len(list(csv.DictReader(table))) == 12  # 3 x 4 points, one replicate each
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "results" / "core").is_dir()


def optuna_spec(tmp_path: Path) -> Path:
    """An adaptive (method: optuna) sweep spec, from the examples."""
    target = tmp_path / "adaptive.yaml"
    target.write_text((REPO / "examples" / "quorum-boundary.yaml").read_text())
    return target


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "extras"),
    [
        (("run", "{spec}", "--output", "s3://bucket/sweeps"), "s3"),
        (("status", "{spec}", "--output", "s3://bucket/sweeps"), "s3"),
        (("run", "{spec}", "--pushgateway", "http://127.0.0.1:9"), "metrics"),
        (("run", "{spec}", "--metrics-port", "0"), "metrics"),
        (("controller",), "k8s,s3,metrics"),
        (("submit", "{spec}"), "k8s"),
        (("list",), "k8s"),
        (("delete", "core"), "k8s"),
        (("validate", "{adaptive}"), "optuna"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_a_feature_without_its_extra_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], extras: str
) -> None:
    (tmp_path / "site").mkdir()
    env = without_extras(tmp_path / "site")
    spec = write_spec(tmp_path / "sweep.yaml", sweep_doc("core"))
    adaptive = optuna_spec(tmp_path)
    argv = [a.format(spec=spec, adaptive=adaptive) for a in args]
    result = sweepctl(*argv, env=env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert ONE_LINE.match(result.stderr), result.stderr
    assert result.stderr.endswith(f"pip install 'govsim[{extras}]'\n")

"""The pure Kubernetes modules stay pure: the import-linter contract catches a violation, and
importing them loads no client library."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from kit.paths import REPO as ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PURE_MODULES = ("reconcile", "objects", "crd", "status", "config", "rounds")
CLIENT_LIBRARIES = ("kubernetes", "kopf", "boto3", "botocore", "prometheus_client")


def contract_name(prefix: str) -> str:
    """The full name of the import-linter contract in pyproject.toml that starts with ``prefix``."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (name,) = [c["name"] for c in contracts["contracts"] if c["name"].startswith(prefix)]
    return str(name)


CONTRACT = contract_name("Decide, then act")


def copy_project(destination: Path) -> Path:
    """The packages and pyproject.toml (with its contracts) copied to ``destination``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("simulator", "sweep_controller"):
        shutil.copytree(ROOT / package, destination / package, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def lint_imports(project: Path) -> tuple[int, str]:
    """``lint-imports`` on the copy (which shadows the installed packages): exit code, output.

    The output's words are joined by single spaces, since lint-imports wraps long lines.
    """
    env = {**os.environ, "PYTHONPATH": str(project)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, " ".join((result.stdout + result.stderr).split())


@pytest.mark.slow
def test_lint_imports_fails_when_a_pure_module_imports_boto3(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    code, output = lint_imports(project)
    assert code == 0, output
    assert f"{CONTRACT} KEPT" in output and "BROKEN" not in output

    reconcile = project / "sweep_controller" / "k8s" / "reconcile.py"
    reconcile.write_text(reconcile.read_text() + "\nimport boto3  # noqa\n")
    code, output = lint_imports(project)
    assert code != 0
    assert f"{CONTRACT} BROKEN" in output
    assert "sweep_controller.k8s.reconcile is not allowed to import boto3" in output
    # every other contract still holds: one broken, all the rest kept
    kept = int(re.search(r"Contracts: (\d+) kept, 1 broken\.", output).group(1))  # type: ignore[union-attr]
    assert kept == len(re.findall(r" KEPT", output)) >= 2


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_loads_no_client_library(module: str) -> None:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module('sweep_controller.k8s.{module}')\n"
        f"roots = {{name.partition('.')[0] for name in sys.modules}}\n"
        f"print(json.dumps(sorted(roots & set({list(CLIENT_LIBRARIES)!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout) == []

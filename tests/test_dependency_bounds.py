"""constraints/lowest.txt is pyproject.toml's lower bounds, and every dependency declares one.

`make test-lowest` installs with that file, so a bound changed in pyproject.toml without
`make constraints` would silently test versions nobody declared.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_script() -> ModuleType:
    """Import scripts/dependency_bounds.py (a script, not a package module) by path."""
    spec = importlib.util.spec_from_file_location(
        "dependency_bounds", REPO / "scripts" / "dependency_bounds.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bounds = load_script()


def test_constraints_file_matches_pyproject() -> None:
    """The checked-in file is exactly what the script renders from pyproject.toml today."""
    expected = bounds.render(bounds.declared())
    actual = (REPO / "constraints" / "lowest.txt").read_text()
    assert actual == expected, (
        "constraints/lowest.txt drifted from pyproject.toml: make constraints"
    )


def test_check_command_agrees() -> None:
    """`dependency_bounds.py check` exits 0 on the checked-in file."""
    assert bounds.main(["check"]) == 0


def test_every_runtime_and_test_dependency_is_pinned() -> None:
    """Each requirement of the runtime and test sets has one line in the constraints file."""
    lines = (REPO / "constraints" / "lowest.txt").read_text().splitlines()
    pinned = {line.split("==")[0] for line in lines if line and not line.startswith("#")}
    assert pinned == set(bounds.declared())
    assert {"numpy", "scipy", "pydantic", "pytest", "ruff", "mypy", "pytest-xdist"} <= pinned


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("numpy>=1.26", ("numpy", "1.26")),
        ("PyYAML>=6.0.1", ("pyyaml", "6.0.1")),
        ("moto[s3]>=5.0", ("moto", "5.0")),
        ("kubernetes>=33.1,<37", ("kubernetes", "33.1")),
        ("kubernetes <37 , >= 33.1", ("kubernetes", "33.1")),
        ("types_PyYAML>=6.0.12", ("types-pyyaml", "6.0.12")),
    ],
)
def test_lower_bound_of_a_requirement(requirement: str, expected: tuple[str, str]) -> None:
    """The name is normalized, extras dropped and the `>=` version taken."""
    assert bounds.lower_bound(requirement, "project.dependencies") == expected


@pytest.mark.parametrize(
    "requirement",
    [
        "types-tqdm",
        "numpy<3",
        "numpy==1.26",
        "numpy>=1.26,>=1.27",
        "numpy>=",
        "numpy>=1.26; python_version < '3.12'",
    ],
)
def test_requirement_without_one_lower_bound_is_refused(requirement: str) -> None:
    """A dependency without exactly one `>=` bound cannot be pinned at its bottom: an error."""
    with pytest.raises(bounds.BoundError, match=r"project\.dependencies"):
        bounds.lower_bound(requirement, "project.dependencies")


def test_conflicting_bounds_for_one_dependency_are_refused(tmp_path: Path) -> None:
    """The same dependency in runtime and test sets must declare the same lower bound."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["networkx>=3.2"]\n'
        '[project.optional-dependencies]\ntest = ["NetworkX>=3.3"]\n'
    )
    with pytest.raises(bounds.BoundError, match=r"disagrees with the lower bound 3\.2"):
        bounds.declared(pyproject)


@pytest.mark.parametrize(
    ("installed", "low", "at_bound"),
    [
        ("1.26.0", "1.26", True),
        ("2.11.0", "2.11", True),
        ("1.26.4", "1.26", False),
        ("33.1.0", "33.1", True),
    ],
)
def test_release_comparison_ignores_trailing_zeros(
    installed: str, low: str, at_bound: bool
) -> None:
    """The gate header marks a package `(lowest)` when its version equals the bound."""
    assert (bounds._release(installed) == bounds._release(low)) is at_bound

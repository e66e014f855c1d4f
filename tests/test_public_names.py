"""One vocabulary: no two public classes or functions share a name across the packages.

The only names allowed in several modules are the conventions that tools look up by name: each
command module's ``register``/``run`` (found by ``sweepctl``) and ``main`` (``python -m``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from kit.paths import REPO

CONVENTIONS = frozenset({"main", "register", "run"})


def public_definitions(root: Path) -> dict[str, list[str]]:
    """Public top-level classes and functions of every module under ``root``, by name."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                found[node.name].append(f"{root.name}/{path.relative_to(root)}")
    return found


def test_no_public_name_is_defined_twice() -> None:
    found: dict[str, list[str]] = defaultdict(list)
    for package in ("simulator", "sweep_controller"):
        for name, paths in public_definitions(REPO / package).items():
            found[name] += paths
    twice = {n: p for n, p in found.items() if len(p) > 1 and n not in CONVENTIONS}
    assert twice == {}


def test_the_check_sees_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("class Proposal:\n    pass\n")
    (tmp_path / "b.py").write_text("def Proposal():\n    pass\n\ndef _private():\n    pass\n")
    found = public_definitions(tmp_path)
    assert sorted(found) == ["Proposal"] and len(found["Proposal"]) == 2

"""charts/govsim/README.md is generated from values.yaml's comments and must be current.

scripts/chart_readme.py turns the comment block above each key into its description; the drift
test fails when someone edits values.yaml (or the README) without regenerating.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml
from kit.charts import CHART_DIR
from kit.paths import REPO

SCRIPT = REPO / "scripts" / "chart_readme.py"


def generator() -> ModuleType:
    """scripts/chart_readme.py imported as a module."""
    spec = importlib.util.spec_from_file_location("chart_readme", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_readme_is_the_generated_one() -> None:
    """`chart_readme.py --check` passes: run `make chart-readme` after editing values.yaml."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_every_value_has_a_row_with_a_description() -> None:
    """Each leaf of values.yaml (down to where the schema stops listing keys) is documented."""
    text = (CHART_DIR / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    keys = [row.split("`")[1] for row in rows]
    for key in ("worker.nodeSelector", "controller.workerNamespaces", "podSecurity.runAsUser"):
        assert key in keys
    assert "serviceAccounts.worker.create" in keys
    undocumented = [row for row in rows if row.rstrip().endswith("|  |")]
    assert not undocumented, undocumented
    assert len(keys) == len(set(keys))


def test_a_changed_comment_makes_the_readme_stale(tmp_path: Path) -> None:
    """The generator reads the comment above a key, so editing it changes the README."""
    chart = tmp_path / "govsim"
    shutil.copytree(CHART_DIR, chart)
    module = generator()
    before = module.readme(chart)
    values = (chart / "values.yaml").read_text()
    edited = values.replace(
        "  # PriorityClass of the worker pods; empty: the cluster default.\n",
        "  # Pods of this PriorityClass preempt lower ones.\n",
    )
    assert edited != values
    (chart / "values.yaml").write_text(edited)
    after = module.readme(chart)
    assert "Pods of this PriorityClass preempt lower ones." in after
    assert before != after
    assert yaml.safe_load(edited) == yaml.safe_load(values)


def test_comment_blocks_attach_to_the_key_below_only() -> None:
    """A blank line ends a block; a nested key gets its own block, not its parent's."""
    text = "# header\n\n# A section.\na:\n  # The b.\n  b: 1\n  c: [x]\n# The d.\nd:\n  - 1\n"
    assert generator().comments_by_path(text) == {
        ("a",): "A section.",
        ("a", "b"): "The b.",
        ("d",): "The d.",
    }

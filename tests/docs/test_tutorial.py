"""docs/tutorial.md runs exactly as written.

Every ```console block's ``$ `` lines are run in order by bash, in a fresh folder whose ``.venv``
is the environment running the tests, and every block fenced as ```LANG file=PATH is written to
PATH first (the tutorial tells the reader to save it there) before the commands after it. Each
command must exit 0; then the files the tutorial promises must exist. The commands run as on the
core install the tutorial starts from (``make install``): no extra can be imported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from kit.extras import without_extras
from kit.paths import REPO

TUTORIAL = REPO / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\S*)(?:[ \t]+file=(\S+))?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def steps(text: str) -> list[tuple[str, str]]:
    """("run", command) and ("file", path + NUL + content) in the order of the page."""
    out: list[tuple[str, str]] = []
    for match in FENCE.finditer(text):
        lang, path, body = match.group(1), match.group(2), match.group(3)
        if path:
            out.append(("file", f"{path}\0{body}"))
        elif lang == "console":
            out += [("run", line[2:]) for line in body.splitlines() if line.startswith("$ ")]
    return out


def test_the_page_has_commands_and_files() -> None:
    kinds = [kind for kind, _ in steps(TUTORIAL.read_text())]
    assert kinds.count("run") >= 8 and kinds.count("file") == 3
    # a block the reader saves comes before the first command that uses it
    assert kinds.index("file") < len(kinds) - 1


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    site = tmp_path / "site"
    site.mkdir()
    env = {k: v for k, v in without_extras(site).items() if not k.startswith(("GOVSIM_", "AWS_"))}
    env["MPLBACKEND"] = "Agg"
    printed: list[str] = []
    errors: dict[str, str] = {}
    for kind, what in steps(TUTORIAL.read_text()):
        if kind == "file":
            path, body = what.split("\0", 1)
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(body)
            continue
        done = subprocess.run(
            ["bash", "-c", what], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"$ {what}\n{done.stdout}\n{done.stderr}"
        printed.append(done.stdout)
        errors[what] = done.stderr
    out = tmp_path / "tutorial"
    assert (out / "report" / "index.html").is_file() and (out / "report" / "index.md").is_file()
    assert (out / "results" / "tutorial-whales" / "sweep.json").is_file()
    assert (out / "flipped.png").stat().st_size > 5_000
    assert len((out / "runs.csv").read_text().splitlines()) == 181  # header and 180 runs
    assert len((out / "runs.jsonl").read_text().splitlines()) == 10
    # analyse.py printed the run count and a 3 x 3 table of pass rates
    analysis = next(text for text in printed if "runs; spec hash" in text)
    assert analysis.startswith("180 runs; spec hash ")
    assert "conformity_threshold" in analysis and "0.3" in analysis
    assert "kind: Job" in (out / "job.yaml").read_text()
    # the grown sweep simulated only its 180 new runs, and its report covers all 360
    grown = errors[".venv/bin/sweepctl run tutorial/whales-more.yaml"]
    assert "180 runs reused from an earlier plan of this sweep" in grown, grown
    assert "| runs collected | 360 of 360 |" in (out / "report-more" / "index.md").read_text()

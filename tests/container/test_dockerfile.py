"""The Dockerfile and the image build scripts, checked without building: linters and the rules
the image must keep (pinned base, multi-stage, no build tools in the final stage, numeric
non-root user, wheelhouse-only build context)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from kit.paths import REPO
from kit.require import require_or_skip

DOCKERFILE = REPO / "Dockerfile"
SCRIPTS = [REPO / "scripts" / f"image-{name}.sh" for name in ("base", "build", "test")]
EXACT_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction (continuation lines joined, comments dropped)."""

    keyword: str
    value: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Return the instructions of a Dockerfile, in order."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, value = full.partition(" ")
            instructions.append(Instruction(keyword.upper(), value.strip()))
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Split instructions into build stages (each starts with FROM; global ARGs dropped)."""
    result: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            result.append([ins])
        elif result:
            result[-1].append(ins)
    return result


def tool(name: str) -> str:
    """Return the path of a linter installed with the test extra, or skip/fail."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        require_or_skip(f"{name} not found (pip install the test extra)")
    return str(found)


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_parser_joins_continuations_and_drops_comments() -> None:
    text = "# c\nARG A=1\nRUN a \\\n    # inside\n    && b\nFROM x AS y\n"
    assert parse_dockerfile(text) == [
        Instruction("ARG", "A=1"),
        Instruction("RUN", "a && b"),
        Instruction("FROM", "x AS y"),
    ]


def test_hadolint_is_clean() -> None:
    proc = subprocess.run(
        [tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_build_scripts_are_shellcheck_clean(script: Path) -> None:
    proc = subprocess.run(
        [tool("shellcheck"), str(script)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_is_an_argument_pinned_to_an_exact_tag(instructions: list[Instruction]) -> None:
    first_from = next(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    global_args = dict(
        ins.value.split("=", 1) for ins in instructions[:first_from] if ins.keyword == "ARG"
    )
    assert EXACT_BASE.match(global_args.get("BASE", "")), global_args
    froms = [ins.value.split()[0] for ins in instructions if ins.keyword == "FROM"]
    # Every stage starts from BASE or an earlier stage, so the venv's python resolves.
    stage_names = {ins.value.split()[-1] for ins in instructions if " AS " in ins.value.upper()}
    assert all(f == "${BASE}" or f in stage_names for f in froms), froms


def test_multi_stage_and_final_stage_copies_only_built_files(
    instructions: list[Instruction],
) -> None:
    all_stages = stages(instructions)
    assert len(all_stages) >= 2
    final = all_stages[-1]
    assert final[0].value == "${BASE}"
    copies = [ins.value for ins in final if ins.keyword in ("COPY", "ADD")]
    assert copies and all(c.startswith("--from=") for c in copies), copies
    for ins in final:
        if ins.keyword == "RUN":
            assert not re.search(r"\b(apt-get|apt|gcc|cc|make|pip|curl|wget)\b", ins.value), ins


def test_final_user_is_numeric_and_not_root(instructions: list[Instruction]) -> None:
    final = stages(instructions)[-1]
    users = [ins.value for ins in final if ins.keyword == "USER"]
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert gid == "" or (gid.isdigit() and int(gid) != 0), users[-1]


def test_entrypoint_is_sweepctl_in_exec_form(instructions: list[Instruction]) -> None:
    final = stages(instructions)[-1]
    entrypoint = [json.loads(ins.value) for ins in final if ins.keyword == "ENTRYPOINT"]
    assert entrypoint == [["sweepctl"]]
    env = " ".join(ins.value for ins in final if ins.keyword == "ENV")
    for setting in ("HOME=/tmp", "TMPDIR=/tmp", "MPLCONFIGDIR=/tmp/", "PYTHONDONTWRITEBYTECODE=1"):
        assert setting in env


def test_build_context_is_the_wheelhouse_only() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert "!wheels/" in lines

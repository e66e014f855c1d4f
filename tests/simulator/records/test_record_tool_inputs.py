"""Bad input to the record tools, ``python -m simulator.validate`` and ``simulator.migrate``.

One table: each row sets up files, runs the tool as a user would (a subprocess), and expects an
exit code, exactly one stderr line matching a pattern (or none), optionally one stdout line, and
never a traceback. Then the faults a table cannot hold: a full disk and SIGTERM mid-migration.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kit.cli import python_module
from kit.mounts import fill, tmpfs
from kit.paths import REPO
from kit.records import Record, build_record, dumps
from kit.require import require_or_skip
from kit.waiting import wait_until

from simulator.atomic import TEMP_MARKER

LEGACY = Path(__file__).parent / "fixtures" / "legacy"


def record() -> Record:
    """A valid v0.5 record with inline agents (rules given explicitly)."""
    return build_record(seed=3, agents=6, rules="v0.5")


def with_repeated_key(path: tuple[str | int, ...], key: str, value: object) -> str:
    """One JSON line of ``record()`` whose object at ``path`` gives ``key`` a second time."""
    rec = record()
    target: object = rec
    for part in path:
        target = target[part]  # type: ignore[index]
    assert isinstance(target, dict) and key in target
    target["__second__"] = value
    line = json.dumps(rec)
    assert line.count('"__second__"') == 1
    return line.replace('"__second__"', json.dumps(key)) + "\n"


def legacy_with_repeated_seed() -> str:
    """The first v0.1 fixture line with its ``seed`` given twice, the same value both times."""
    first = (LEGACY / "v0_1.jsonl").read_text().splitlines()[0]
    obj = json.loads(first)
    return "{" + f'"seed": {json.dumps(obj["seed"])}, ' + first.lstrip()[1:] + "\n"


def write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def link(tmp: Path, target: str) -> str:
    os.symlink(target, tmp / "link")
    return str(tmp / "link")


def fifo(tmp: Path, name: str) -> str:
    os.mkfifo(tmp / name)
    return str(tmp / name)


def char_device(tmp: Path, name: str) -> str:
    """A character device node like /dev/null (1, 3), in ``tmp`` (mknod needs root)."""
    try:
        os.mknod(tmp / name, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        require_or_skip("creating a device node needs root")
    return str(tmp / name)


def directory(tmp: Path, name: str) -> str:
    (tmp / name).mkdir()
    return str(tmp / name)


def old_v01(tmp: Path) -> str:
    return write(tmp, "old.jsonl", (LEGACY / "v0_1.jsonl").read_text())


def still(kind: Callable[[int], bool], name: str) -> Callable[[Path], None]:
    """A check that ``name`` is still what it was (never replaced by a regular file)."""

    def check(tmp: Path) -> None:
        assert kind(os.lstat(tmp / name).st_mode), f"{name} was replaced"

    return check


@dataclass(frozen=True)
class Case:
    """One row: files to set up and argv, then what the tool must answer."""

    id: str
    module: str
    argv: Callable[[Path], list[str]]
    code: int
    stderr: str | None
    """Regex for the single stderr line; None: stderr must be empty."""
    stdout: str | None = None
    """Regex that some stdout line must match."""
    after: Callable[[Path], None] | None = None


VALIDATE = "simulator.validate"
MIGRATE = "simulator.migrate"
REPEATED = "key given more than once"

CASES = [
    # validate: a key given twice is invalid, whichever value a parser would keep
    Case(
        "validate-repeated-top-level-key",
        VALIDATE,
        lambda t: ["--file", write(t, "r.jsonl", with_repeated_key((), "seed", 3))],
        1,
        None,
        rf"r\.jsonl:1: seed: {REPEATED}$",
    ),
    Case(
        "validate-repeated-nested-key",
        VALIDATE,
        lambda t: ["--file", write(t, "r.jsonl", with_repeated_key(("votes", "final"), "yes", 5))],
        1,
        None,
        rf"r\.jsonl:1: votes\.final\.yes: {REPEATED}$",
    ),
    Case(
        "validate-repeated-key-in-an-agent",
        VALIDATE,
        lambda t: [
            "--file",
            write(t, "r.jsonl", with_repeated_key(("agents", 3), "final_vote", "yes")),
        ],
        1,
        None,
        rf"r\.jsonl:1: agents\.3\.final_vote: {REPEATED}$",
    ),
    Case(
        "validate-valid-through-a-symlink",
        VALIDATE,
        lambda t: ["--file", link(t, write(t, "r.jsonl", dumps(record())))],
        0,
        None,
        r"link: 1 lines, 1 valid, 0 invalid$",
    ),
    Case(
        "validate-fifo",
        VALIDATE,
        lambda t: ["--file", fifo(t, "pipe")],
        2,
        r"^validate: --file .*/pipe: not a regular file \(a FIFO\)$",
    ),
    Case(
        "validate-device",
        VALIDATE,
        lambda t: ["--file", "/dev/null"],
        2,
        r"^validate: --file /dev/null: not a regular file \(a character device\)$",
    ),
    Case(
        "validate-directory",
        VALIDATE,
        lambda t: ["--file", str(t)],
        2,
        r"^validate: --file .*: not a regular file \(a directory\)$",
    ),
    Case(
        "validate-missing",
        VALIDATE,
        lambda t: ["--file", str(t / "nope.jsonl")],
        2,
        r"^validate: --file .*/nope\.jsonl: no such file$",
    ),
    # migrate: repeated keys, in a legacy line or a current one
    Case(
        "migrate-repeated-key-in-a-legacy-line",
        MIGRATE,
        lambda t: [write(t, "old.jsonl", legacy_with_repeated_seed()), str(t / "new.jsonl")],
        1,
        rf"^.*/old\.jsonl:1: seed: {REPEATED}$",
        r"old\.jsonl: 1 lines, 0 written to .*new\.jsonl, 1 not migrated$",
    ),
    Case(
        "migrate-repeated-key-in-a-current-line",
        MIGRATE,
        lambda t: [
            write(t, "old.jsonl", with_repeated_key(("flips",), "total", 0)),
            str(t / "new.jsonl"),
        ],
        1,
        rf"^.*/old\.jsonl:1: flips\.total: {REPEATED}$",
    ),
    # migrate: OLD and NEW must be regular files; a device or FIFO is never replaced
    Case(
        "migrate-old-fifo",
        MIGRATE,
        lambda t: [fifo(t, "pipe"), str(t / "new.jsonl")],
        2,
        r"^migrate: .*/pipe: not a regular file \(a FIFO\)$",
        after=lambda t: None if not (t / "new.jsonl").exists() else pytest.fail("NEW written"),
    ),
    Case(
        "migrate-old-device",
        MIGRATE,
        lambda t: ["/dev/null", str(t / "new.jsonl")],
        2,
        r"^migrate: /dev/null: not a regular file \(a character device\)$",
    ),
    Case(
        "migrate-old-directory",
        MIGRATE,
        lambda t: [directory(t, "d"), str(t / "new.jsonl")],
        2,
        r"^migrate: .*/d: not a regular file \(a directory\)$",
    ),
    Case(
        "migrate-old-missing",
        MIGRATE,
        lambda t: [str(t / "nope.jsonl"), str(t / "new.jsonl")],
        2,
        r"^migrate: .*/nope\.jsonl: no such file$",
    ),
    Case(
        "migrate-new-fifo-with-force",
        MIGRATE,
        lambda t: [old_v01(t), fifo(t, "pipe"), "--force"],
        2,
        r"^migrate: .*/pipe: not a regular file \(a FIFO\); migrate writes regular files only$",
        after=still(stat.S_ISFIFO, "pipe"),
    ),
    Case(
        "migrate-new-device-with-force",
        MIGRATE,
        lambda t: [old_v01(t), char_device(t, "null"), "--force"],
        2,
        r"^migrate: .*/null: not a regular file \(a character device\); "
        r"migrate writes regular files only$",
        after=still(stat.S_ISCHR, "null"),
    ),
    Case(
        "migrate-new-directory-with-force",
        MIGRATE,
        lambda t: [old_v01(t), directory(t, "d"), "--force"],
        2,
        r"^migrate: .*/d: not a regular file \(a directory\); migrate writes regular files only$",
        after=still(stat.S_ISDIR, "d"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_record_tool_input(tmp_path: Path, case: Case) -> None:
    argv = case.argv(tmp_path)
    result = python_module(case.module, *argv, timeout=60)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == case.code, result.stderr
    lines = result.stderr.splitlines()
    if case.stderr is None:
        assert lines == []
    else:
        assert len(lines) == 1 and re.search(case.stderr, lines[0]), result.stderr
    if case.stdout is not None:
        assert any(re.search(case.stdout, line) for line in result.stdout.splitlines()), (
            result.stdout
        )
    if case.after is not None:
        case.after(tmp_path)
    leftovers = [p.name for p in tmp_path.rglob(f"*{TEMP_MARKER}*")]
    assert leftovers == []


def test_repeated_keys_are_invalid_for_the_library_too() -> None:
    from simulator.records.validate import check_json, check_record

    line = with_repeated_key(("turnout",), "quorum", 0.5)
    assert check_json(line) == [f"turnout.quorum: {REPEATED}"]
    assert check_json(dumps(record())) == [] == check_record(record())
    # the same value twice is still refused: a reader cannot know that without looking
    same = copy.deepcopy(record())
    assert check_json(with_repeated_key((), "run_id", same["run_id"])) == [f"run_id: {REPEATED}"]


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_migrate_onto_a_full_disk_leaves_no_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="256k") as disk:
        fill(disk)
        new = disk / "out" / "new.jsonl"
        result = python_module(MIGRATE, LEGACY / "mixed.jsonl", new)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [f"migrate: {new}: No space left on device"]
        assert sorted(p.name for p in disk.rglob("*") if p.is_file()) == ["padding"]


@pytest.mark.slow
def test_sigterm_mid_migration_leaves_no_temporary_file(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text((LEGACY / "v0_1.jsonl").read_text() * 10_000)  # 30,000 lines: seconds
    before = old.read_bytes()
    new = tmp_path / "new.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", MIGRATE, str(old), str(new)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        wait_until(
            lambda: (
                any(TEMP_MARKER in p.name for p in tmp_path.iterdir()) or proc.poll() is not None
            ),
            timeout=60,
            what="the temporary file of NEW",
        )
        assert proc.poll() is None, "the migration ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert err.splitlines() == [f"migrate: stopped by SIGTERM; {new} was not written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.jsonl"]
    assert old.read_bytes() == before

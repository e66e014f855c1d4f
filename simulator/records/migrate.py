"""Migrate a JSONL results file of any supported schema version to v0.6.

``python -m simulator.migrate OLD NEW [--force]`` reads OLD line by line, lifts each record through
the per-version migrators in ``simulator.records.legacy`` (0.1 -> ... -> 0.5 -> 0.6), validates
the result exactly as ``python -m simulator.validate`` would, and writes NEW. Guarantees:

- OLD is only read. NEW is written atomically (``simulator.atomic``: a temporary file beside it,
  renamed into place), so NEW is either the old content or the complete new one, never partial.
- An existing NEW is not overwritten without ``--force``; NEW may never be OLD itself. OLD and
  NEW must be regular files: a FIFO, device, socket or directory is refused, even with
  ``--force`` and even as root (replacing ``/dev/null`` would destroy it).
- SIGTERM (and Ctrl-C) stops the migration and removes the temporary file: NEW is left as it was.
- A valid 0.6 line is copied byte for byte, so migrating a migrated file changes nothing. Side
  files (per-agent Parquet, flip traces) must stay inside the folder of their JSONL file, so when
  NEW is in another directory they are copied beside NEW under the same relative paths.
- A line that cannot be migrated is reported as ``OLD:LINE: reason`` and left out of NEW; the other
  lines are still written, and the exit code is 1. It is 0 when every line migrated, 2 on a usage
  error (missing OLD, NEW exists, NEW is OLD, not a regular file) or when writing NEW fails (a
  full disk), and 143 when stopped by SIGTERM (130 by Ctrl-C).

Migration is deterministic: filled-in values (see docs/schema.md) depend only on the line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic_core

from simulator.atomic import sigterm_raises, write_atomic
from simulator.entry import was_interrupted
from simulator.errors import MigrationError
from simulator.records.io import REGULAR_FILE, file_kind, file_sha256, iter_lines, resolve_side_file
from simulator.records.legacy import detect_version, upgrade
from simulator.records.schema import SCHEMA_VERSION
from simulator.records.validate import (
    TRUNCATED,
    Problem,
    check_json,
    duplicate_key_problem,
    parse_record,
)

__all__ = ["MigrationReport", "main", "migrate_file", "migrate_line"]


@dataclass(frozen=True)
class MigrationReport:
    """What a migration read, wrote and could not migrate."""

    old: str
    new: str
    lines: int
    written: int
    by_version: tuple[tuple[str, int], ...]
    """Lines written, by the schema version they had in OLD."""
    failures: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Every line of OLD was migrated."""
        return not self.failures

    def summary(self) -> str:
        """The one-line summary the CLI prints."""
        parts = [
            f"{count} already {v}" if v == SCHEMA_VERSION else f"{count} from {v}"
            for v, count in self.by_version
        ]
        detail = f" ({', '.join(parts)})" if parts else ""
        return (
            f"{self.old}: {self.lines} lines, {self.written} written to {self.new}{detail}, "
            f"{len(self.failures)} not migrated"
        )


def _first(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return problems[0] + more


def migrate_line(
    body: bytes, *, old_dir: Path | None = None, new_dir: Path | None = None
) -> tuple[bytes, str]:
    """One JSON line (without its newline) as a current-version line, and the version it had.

    Raises ``MigrationError`` naming the field when the line cannot be migrated. ``old_dir`` and
    ``new_dir`` are the directories of the source and target files (for Parquet side files).
    """
    if not body.strip():
        raise MigrationError("empty line")
    duplicate = duplicate_key_problem(body)  # which value would win is anyone's guess
    if duplicate is not None:
        raise MigrationError(duplicate)
    try:
        obj: Any = pydantic_core.from_json(body)
    except ValueError as exc:
        message = str(exc).replace(" at line 1 column ", " at column ")
        raise MigrationError(f"invalid JSON: {message}") from exc
    if not isinstance(obj, dict):
        raise MigrationError(f"expected a JSON object, got {type(obj).__name__}")
    version = detect_version(obj)
    if version == SCHEMA_VERSION:
        problems = check_json(body, base_dir=old_dir)
        if problems:
            raise MigrationError(f"invalid {SCHEMA_VERSION} record: {_first(problems)}")
        _carry_side_files(obj, old_dir, new_dir)
        return body, version
    upgraded = upgrade(obj)
    text = json.dumps(upgraded, allow_nan=True)
    record, problems = parse_record(text)
    if record is not None:
        problems = check_json(text, base_dir=old_dir)
    if problems:
        raise MigrationError(f"migrated {version} record is not valid: {_first(problems)}")
    assert record is not None
    _carry_side_files(upgraded, old_dir, new_dir)  # a 0.5 record may have them
    return record.model_dump_json(by_alias=True).encode(), version


def _carry_side_files(obj: dict[str, Any], old_dir: Path | None, new_dir: Path | None) -> None:
    """Copy a valid record's side files to the same relative paths under NEW's directory.

    A side file (per-agent Parquet, flip trace) must stay inside its JSONL file's folder, so it
    moves with the line, which then needs no change.
    """
    if old_dir is None or new_dir is None or old_dir.resolve() == new_dir.resolve():
        return
    agents = obj.get("agent_records") or {}
    refs = [agents] if agents.get("mode") == "parquet" else []
    if obj.get("traces"):
        refs.append(obj["traces"])
    for ref in refs:
        target = resolve_side_file(new_dir, ref["path"])
        if target.is_file() and file_sha256(target) == ref["sha256"]:
            continue
        write_atomic(target, resolve_side_file(old_dir, ref["path"]).read_bytes())


class NotARegularFile(OSError):
    """A record tool was given a directory, FIFO, device or socket where it needs a file."""


def _check_paths(old: Path, new: Path, force: bool) -> None:
    kind = file_kind(old)
    if kind is None:
        raise FileNotFoundError(f"{old}: no such file")
    if kind != REGULAR_FILE:
        raise NotARegularFile(f"{old}: not a regular file ({kind})")
    kind = file_kind(new)
    if kind is not None:
        if kind != REGULAR_FILE:
            raise NotARegularFile(
                f"{new}: not a regular file ({kind}); migrate writes regular files only"
            )
        if os.path.samefile(old, new):
            raise FileExistsError(f"{new}: is OLD itself; OLD is never modified")
        if not force:
            raise FileExistsError(f"{new}: exists; pass --force to overwrite")


def migrate_file(old: str | Path, new: str | Path, *, force: bool = False) -> MigrationReport:
    """Migrate every line of OLD into NEW atomically; lines that cannot migrate are reported.

    Raises ``FileNotFoundError`` for a missing OLD, ``FileExistsError`` when NEW exists (without
    ``force``) or is OLD, ``NotARegularFile`` when either is not a regular file, before anything
    is written.
    """
    old_path, new_path = Path(old), Path(new)
    _check_paths(old_path, new_path, force)
    lines = written = 0
    versions: Counter[str] = Counter()
    failures: list[Problem] = []

    def migrated() -> Iterator[bytes]:
        nonlocal lines, written
        for lines, raw in iter_lines(old_path):
            truncated = not raw.endswith(b"\n")
            body = raw if truncated else raw[:-1]
            try:
                line, version = migrate_line(body, old_dir=old_path.parent, new_dir=new_path.parent)
            except MigrationError as exc:
                reason = f"{TRUNCATED}; {exc}" if truncated else str(exc)
                failures.append(Problem(str(old), lines, reason))
                continue
            written += 1
            versions[version] += 1
            yield line + b"\n"

    write_atomic(new_path, migrated())
    order = sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")))
    return MigrationReport(
        str(old),
        str(new),
        lines,
        written,
        tuple((v, versions[v]) for v in order),
        tuple(failures),
    )


def _os_error_text(exc: OSError) -> str:
    """One line for an OS error: our own messages as they are, the system's as ``PATH: reason``."""
    if len(exc.args) == 1:
        return str(exc.args[0])
    if exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc.strerror or exc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.migrate",
        description=f"Migrate a JSONL results file of schema 0.1-0.5 to {SCHEMA_VERSION}.",
    )
    parser.add_argument("old", metavar="OLD", help="JSONL file to read (never modified)")
    parser.add_argument("new", metavar="NEW", help="JSONL file to write (atomically)")
    parser.add_argument("--force", action="store_true", help="overwrite NEW if it exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m simulator.migrate``; returns the exit code."""
    args = _parser().parse_args(argv)
    report: MigrationReport | None = None
    try:
        with sigterm_raises() as termination:
            report = migrate_file(args.old, args.new, force=args.force)
    except OSError as exc:
        if not termination.requested:
            print(f"migrate: {_os_error_text(exc)}", file=sys.stderr)
            return 2
    except BaseException as exc:
        # Ctrl-C, or an error a C callback (pydantic's serializer) made of it.
        if isinstance(exc, KeyboardInterrupt) or was_interrupted():
            print(f"migrate: interrupted; {args.new} was not written", file=sys.stderr)
            return 130
        if not termination.requested:  # Terminated, or an error a C callback made of it
            raise
    if termination.requested or report is None:
        print(f"migrate: stopped by SIGTERM; {args.new} was not written", file=sys.stderr)
        return 143
    for failure in report.failures:
        print(failure, file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Validate JSONL files of v0.5 run records, line by line.

A results file is appended to by many runs and read by analyses that trust it, so every line must
be a complete, well-typed and internally consistent record.
``python -m simulator.validate --file F`` streams each file (one line in memory at a time) and
prints one ``F:LINE: reason`` line per problem, then ``F: N lines, V valid, I invalid``. It exits
0 only when every line of every file is valid, 1 when some line is not, and 2 on a usage error such
as a missing file.

Types are checked strictly (a string is not a number, 1 is not ``true``) by the pydantic model in
``simulator.records.schema`` and worded by ``simulator.messages``; a key given twice in one
object is an error (JSON parsers disagree on which value wins); the rules between fields are in
``simulator.records.consistency`` and ``simulator.records.agent_rows``. The library API
(``check_record``, ``check_json``, ``validate_file``, ``check_consistency``) is what the engine
and the sweep worker call before they write or upload a record.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from simulator.messages import ErrorText, Location, dotted, shown
from simulator.records.consistency import check_consistency
from simulator.records.io import REGULAR_FILE, file_kind, iter_lines
from simulator.records.schema import SCHEMA_VERSION, RunRecord

__all__ = [
    "LineResult",
    "Problem",
    "ValidationReport",
    "check_consistency",
    "check_json",
    "check_record",
    "duplicate_key_problem",
    "iter_file",
    "main",
    "parse_record",
    "validate_file",
]

MAX_PROBLEMS_PER_LINE = 20
"""Problems reported for one line; the rest are counted in the last message."""
TRUNCATED = "truncated last line (no trailing newline)"


@dataclass(frozen=True)
class Problem:
    """One problem of one line of one file."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class LineResult:
    """The problems of one line (none when it is a valid record)."""

    line: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ValidationReport:
    """Counts and problems of one validated file."""

    path: str
    lines: int
    valid: int
    invalid: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Every line is a valid record."""
        return self.invalid == 0

    def summary(self) -> str:
        """The one-line count summary the CLI prints."""
        return f"{self.path}: {self.lines} lines, {self.valid} valid, {self.invalid} invalid"


def _record_reason(err: ErrorDetails, loc: Location) -> str | None:
    if err["type"] == "model_type" and not loc:
        return f"wrong type: expected a JSON object, got {shown(err['input'])}"
    return None


_TEXT = ErrorText(root="record", reason=_record_reason)
"""How run records word pydantic errors: ``field.path: reason``."""


def _version_problem(errors: Sequence[Mapping[str, Any]]) -> str | None:
    """The schema_version problem, if any: it makes every other field error noise."""
    for error in errors:
        if error["loc"] != ("schema_version",):
            continue
        hint = "; migrate with python -m simulator.migrate"
        if error["type"] == "missing":
            return f"schema_version: missing field, expected {SCHEMA_VERSION!r}{hint}"
        return f"schema_version: found {shown(error['input'])}, expected {SCHEMA_VERSION!r}" + (
            hint if isinstance(error["input"], str) else ""
        )
    return None


def _cap(problems: list[str]) -> tuple[str, ...]:
    if len(problems) <= MAX_PROBLEMS_PER_LINE:
        return tuple(problems)
    kept = problems[: MAX_PROBLEMS_PER_LINE - 1]
    rest = len(problems) - len(kept)
    return (*kept, f"... and {rest} more problems on this line")


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it was given more than once."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        counts = Counter(key for key, _ in pairs) if len(self) != len(pairs) else Counter()
        self.repeated = [key for key in self if counts[key] > 1]


def _first_repeated(value: Any, loc: tuple[str | int, ...] = ()) -> Location | None:
    """The location of the first repeated key in a tree of ``_Object``, depth first."""
    if isinstance(value, _Object):
        if value.repeated:
            return (*loc, value.repeated[0])
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        found = _first_repeated(child, (*loc, key))
        if found is not None:
            return found
    return None


def duplicate_key_problem(text: str | bytes) -> str | None:
    """``field.path: key given more than once``, for the first such key in ``text``, or None.

    JSON parsers disagree on which of two values for one key wins (Python's and pydantic's keep
    the last, others the first), so such a record means different things to different readers.
    Text that is not JSON gives None: the schema check reports it.
    """
    repeated = False

    def plain(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        obj = dict(pairs)
        repeated = repeated or len(obj) != len(pairs)
        return obj

    try:
        json.loads(text, object_pairs_hook=plain)  # the fast pass: only counts
        if not repeated:
            return None
        loc = _first_repeated(json.loads(text, object_pairs_hook=_Object))
    except (ValueError, RecursionError):
        return None
    return None if loc is None else f"{dotted(loc)}: key given more than once"


def parse_record(text: str | bytes) -> tuple[RunRecord | None, list[str]]:
    """Parse one JSON text strictly as a v0.5 record; the record, or None and the problems."""
    duplicate = duplicate_key_problem(text)
    if duplicate is not None:
        return None, [duplicate]
    try:
        record = RunRecord.model_validate_json(text, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        version = _version_problem(exc.errors(include_url=False))
        if version is not None:
            return None, [version]
        return None, _TEXT.lines(exc)
    return record, []


def check_json(text: str | bytes, *, base_dir: Path | None = None) -> list[str]:
    """Problems of one JSON text as a schema 0.6 run record (types, then consistency); [] if valid.

    At most ``MAX_PROBLEMS_PER_LINE`` are listed; the last one then counts the rest.
    """
    record, problems = parse_record(text)
    if record is None:
        return list(_cap(problems))
    return list(_cap(check_consistency(record, base_dir=base_dir)))


def check_record(obj: Mapping[str, Any], *, base_dir: Path | None = None) -> list[str]:
    """Problems of a JSON-shaped record (as ``json.loads`` returns it); empty when valid.

    Checks exactly what ``check_json`` checks for the same record written as JSON. ``base_dir``
    is where a Parquet side file is resolved (see ``check_consistency``).
    """
    try:
        text = json.dumps(obj, allow_nan=True)
    except (TypeError, ValueError) as exc:
        return [f"record: not JSON-serialisable: {exc}"]
    return check_json(text, base_dir=base_dir)


def _check_raw(raw: bytes, *, base_dir: Path) -> list[str]:
    """Problems of one raw line; only the last line of a file can lack its newline."""
    truncated = not raw.endswith(b"\n")
    body = raw if truncated else raw[:-1]
    if not body.strip():
        return [TRUNCATED] if truncated else ["empty line"]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8: byte {body[exc.start]:#04x} at column {exc.start + 1}"
        return [f"{TRUNCATED}; {reason}"] if truncated else [reason]
    problems = check_json(body, base_dir=base_dir)
    if not truncated:
        return problems
    if problems and problems[0].startswith("invalid JSON"):
        return [f"{TRUNCATED}; {problems[0]}", *problems[1:]]
    return [TRUNCATED, *problems]


def iter_file(path: str | Path) -> Iterator[LineResult]:
    """Check a JSONL file line by line; yields one result per line, holding one line at a time."""
    base_dir = Path(path).parent
    for line_no, raw in iter_lines(path):
        yield LineResult(line_no, _cap(_check_raw(raw, base_dir=base_dir)))


def validate_file(path: str | Path) -> ValidationReport:
    """Validate every line of a JSONL file and collect the problems."""
    lines = invalid = 0
    problems: list[Problem] = []
    for result in iter_file(path):
        lines += 1
        if result.problems:
            invalid += 1
            problems += [Problem(str(path), result.line, reason) for reason in result.problems]
    return ValidationReport(str(path), lines, lines - invalid, invalid, tuple(problems))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.validate",
        description="Validate JSONL files of run records (schema 0.6); "
        "exit 0 only when every line is valid.",
    )
    parser.add_argument(
        "--file", action="append", required=True, metavar="F", help="JSONL file (repeatable)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m simulator.validate``; returns the exit code."""
    args = _parser().parse_args(argv)
    for name in args.file:
        kind = file_kind(name)
        if kind != REGULAR_FILE:
            reason = "no such file" if kind is None else f"not a regular file ({kind})"
            print(f"validate: --file {name}: {reason}", file=sys.stderr)
            return 2
    all_ok = True
    try:
        for name in args.file:
            all_ok &= _report(name)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the reader went away
            return 1
        print(f"validate: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0 if all_ok else 1


def _report(name: str) -> bool:
    """Print the problems and the summary of one file; whether it is valid."""
    lines = invalid = 0
    for result in iter_file(name):
        lines += 1
        if result.problems:
            invalid += 1
            for reason in result.problems:
                print(Problem(name, result.line, reason))
    print(ValidationReport(name, lines, lines - invalid, invalid, ()).summary())
    return invalid == 0


if __name__ == "__main__":
    raise SystemExit(main())

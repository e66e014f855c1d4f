"""checkov over infra/terraform: zero failed checks, and every skip explained where it is made.

A deliberate exception is written next to the resource as `#checkov:skip=CKV_ID:reason`; a skip
without a reason, or any failed check, fails this test.
"""

from __future__ import annotations

import re
from pathlib import Path

from kit.checkov import checkov_report
from kit.infra import TERRAFORM_DIR

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
MIN_REASON_CHARS = 30


def inline_skips() -> list[tuple[str, str, str]]:
    """Return (file:line, check id, reason) for every inline checkov skip in infra/terraform."""
    found = []
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP.search(line)
            if match:
                found.append(
                    (f"{path.name}:{number}", match.group(1), (match.group(2) or "").strip())
                )
    return found


def test_checkov_finds_no_failures(checkov_script: Path) -> None:
    """checkov passes on every resource except the inline, explained skips."""
    report = checkov_report(TERRAFORM_DIR, checkov_script, framework="terraform", timeout=600)
    summary = report["summary"]
    print(
        f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped over {summary['resource_count']} resources"
    )
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): "
        f"{c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert summary["failed"] == 0, "\n".join(failures)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 40, "checkov saw fewer resources than the configuration has"
    assert summary["skipped"] == len(inline_skips()), "every skip must be an inline, explained one"


def test_every_skip_gives_a_reason() -> None:
    """Each `#checkov:skip=ID:reason` carries a real sentence of justification."""
    vague = [
        f"{where} {check}: {reason!r}"
        for where, check, reason in inline_skips()
        if len(reason) < MIN_REASON_CHARS
    ]
    assert not vague, "checkov skips need a reason:\n" + "\n".join(vague)

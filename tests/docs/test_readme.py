"""The README's quickstart holds exactly the two commands a fresh machine runs: the demo and the
contributor check (the fresh-clone check and CI read them from there)."""

from __future__ import annotations

import re

from kit.paths import REPO


def quickstart_commands(text: str) -> list[str]:
    """Non-empty, non-comment lines of the fenced blocks between the Quickstart heading and the
    next heading."""
    section = re.search(r"^#+ [^\n]*quick ?start[^\n]*\n(.*?)(?=^#+ )", text, re.I | re.M | re.S)
    assert section is not None, "README.md has no Quickstart section"
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section.group(1), re.M | re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line.removeprefix("$ ") for line in lines if line and not line.startswith("#")]


def test_the_quickstart_has_the_two_commands() -> None:
    assert quickstart_commands((REPO / "README.md").read_text()) == ["make demo", "make test"]


def test_a_third_command_in_the_quickstart_is_seen() -> None:
    text = (
        "# T\n## Quickstart\n```\nmake demo\n```\n```\npip install .\n```\n## Next\n```\nx\n```\n"
    )
    assert quickstart_commands(text) == ["make demo", "pip install ."]

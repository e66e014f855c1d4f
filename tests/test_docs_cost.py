"""docs/aws.md's cost table is what ``python -m bench.cost`` prints from the measured figures."""

from __future__ import annotations

import re

from kit.paths import REPO

from bench.cost import SWEEPS, cost, table

DOC = REPO / "docs" / "aws.md"


def test_the_cost_table_in_the_docs_is_the_scripts_output() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- cost-table:begin -->\n(.*?)<!-- cost-table:end -->", text, re.S)
    assert match is not None, "docs/aws.md: the cost-table markers are missing"
    assert match.group(1) == table(), "rerun python -m bench.cost and paste its table"


def test_the_cap_row_is_dominated_by_pod_overhead_and_sizing_removes_it() -> None:
    sized, capped = cost(SWEEPS[0]), cost(SWEEPS[1])
    assert SWEEPS[0].runs == SWEEPS[1].runs
    assert capped.tasks == 100_000
    assert capped.overhead_hours > 50 * capped.work_hours
    assert sized.overhead_hours < 0.06 * sized.work_hours
    assert sized.spot < sized.on_demand < capped.on_demand

"""The results table's columns of the research scenarios, from their record blocks.

A scenario's record block (``mev``, ``trace_stats``; docs/schema.md) is written only when the
scenario is on, so its columns are added to a sweep's table only when some record of the sweep has
the block: the tables of sweeps without scenarios keep their columns. A run of such a sweep
without the block (a point with ``mev_share`` 0) gets the values the scenario implies when it is
off (no extractor: the honest counterfactual is the run itself), or NaN where it implies none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "MEV_COLUMNS",
    "SCENARIO_COLUMNS",
    "TRACE_COLUMNS",
    "format_counts",
    "mev_row",
    "parse_counts",
    "scenario_row",
    "trace_row",
]

MEV_COLUMNS: dict[str, str] = {
    "mev_extractors": "agents with extractable value (0 when mev_share is 0)",
    "mev_votes_changed": "voters whose round-0 vote the extractable value changed",
    "mev_stake_changed_share": "their stake / stake cast",
    "passed_honest": "the honest counterfactual (no extractable value) passed",
    "outcome_changed_by_mev": "passed differs from passed_honest",
    "mev_pass_change": "passed - passed_honest: 1 (the value made it pass), -1 (fail) or 0",
    "welfare_pass": "the voters' honest welfare of a pass, sum(stake × utility) / "
    "sum(stake × |utility|) (NaN when mev_share is 0)",
    "welfare_loss": "welfare of the honest outcome minus that of the realised outcome",
    "welfare_regret": "welfare of the better outcome minus that of the realised outcome "
    "(NaN when mev_share is 0)",
    "mev_value_scale": "mean extractable value in utility units (mev_value × utility spread)",
}
"""Columns from the ``mev`` block."""

TRACE_COLUMNS: dict[str, str] = {
    "cascades": "cascade trees (flips without a parent flip)",
    "cascade_size_mean": "flips per cascade tree (NaN without flips)",
    "cascade_size_max": "flips in the largest tree (0 without flips)",
    "cascade_depth_max": "generations below the root in the deepest tree (-1 without flips)",
    "whale_signal_cascades": "trees rooted at a whale follower's flip",
    "top_influence": "most flips triggered by one agent (credit shared among candidate parents)",
    "whale_signal_share": "share of the stake whose final vote the rounds changed that "
    "descends from a whale-signal flip (NaN when no final vote changed)",
    "whale_signal_decisive": "reverting those voters to their round-0 votes changes the outcome",
    "cascade_sizes": "the size distribution as 'size:trees' pairs, e.g. '1:40 2:7 9:1'",
    "cascade_depths": "trees of depth 0, 1, ... as counts, e.g. '40 6 2'",
}
"""Columns from the ``trace_stats`` block."""

SCENARIO_COLUMNS: dict[str, dict[str, str]] = {"mev": MEV_COLUMNS, "trace_stats": TRACE_COLUMNS}
"""Record block -> its columns and what each means."""


def mev_row(record: dict[str, Any]) -> dict[str, Any]:
    m = record.get("mev")
    passed = bool(record["votes"]["passed"])
    if m is None:  # no extractor: the honest counterfactual is the run itself
        return {
            "mev_extractors": 0,
            "mev_votes_changed": 0,
            "mev_stake_changed_share": 0.0,
            "passed_honest": passed,
            "outcome_changed_by_mev": False,
            "mev_pass_change": 0,
            "welfare_pass": math.nan,
            "welfare_loss": 0.0,
            "welfare_regret": math.nan,
            "mev_value_scale": 0.0,
        }
    cast = record["turnout"]["stake_cast"]
    return {
        "mev_extractors": int(m["extractors"]),
        "mev_votes_changed": int(m["votes_changed"]),
        "mev_stake_changed_share": m["stake_changed"] / cast if cast > 0 else math.nan,
        "passed_honest": bool(m["passed_honest"]),
        "outcome_changed_by_mev": bool(m["outcome_changed_by_mev"]),
        "mev_pass_change": int(passed) - int(m["passed_honest"]),
        "welfare_pass": float(m["welfare_pass"]),
        "welfare_loss": float(m["welfare_loss"]),
        "welfare_regret": float(m["welfare_regret"]),
        "mev_value_scale": float(m["value_scale"]),
    }


def trace_row(record: dict[str, Any]) -> dict[str, Any]:
    t = record.get("trace_stats") or {
        "cascades": 0,
        "size_counts": [],
        "depth_counts": [],
        "whale_signal_cascades": 0,
        "top_influence": math.nan,
        "whale_signal_share": None,
        "whale_signal_decisive": False,
    }
    sizes = [(int(s), int(c)) for s, c in t["size_counts"]]
    events = sum(s * c for s, c in sizes)
    share = t["whale_signal_share"]
    return {
        "cascades": int(t["cascades"]),
        "cascade_size_mean": events / t["cascades"] if t["cascades"] else math.nan,
        "cascade_size_max": sizes[-1][0] if sizes else 0,
        "cascade_depth_max": len(t["depth_counts"]) - 1,
        "whale_signal_cascades": int(t["whale_signal_cascades"]),
        "top_influence": float(t["top_influence"]),
        "whale_signal_share": math.nan if share is None else float(share),
        "whale_signal_decisive": bool(t["whale_signal_decisive"]),
        "cascade_sizes": format_counts(sizes),
        "cascade_depths": " ".join(str(int(c)) for c in t["depth_counts"]),
    }


_ROWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "mev": mev_row,
    "trace_stats": trace_row,
}


def scenario_row(block: str, record: dict[str, Any]) -> dict[str, Any]:
    """The columns of scenario ``block`` for one record (with or without the block)."""
    return _ROWS[block](record)


def format_counts(pairs: list[tuple[int, int]]) -> str:
    """``[(1, 40), (2, 7)]`` -> ``'1:40 2:7'``."""
    return " ".join(f"{size}:{count}" for size, count in pairs)


def parse_counts(text: str) -> list[tuple[int, int]]:
    """``'1:40 2:7'`` -> ``[(1, 40), (2, 7)]`` (the inverse of :func:`format_counts`)."""
    return [(int(s), int(c)) for s, _, c in (item.partition(":") for item in text.split())]

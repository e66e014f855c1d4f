"""The outcome columns of a run: their names, what each means, and how a run record yields them.

Several readers turn run records into outcomes: the results table (``sweepctl collect``, the
report) and the adaptive search, whose objective names one of these columns and which plans each
round from the outcomes of the rounds before it (``sweep_controller.spec.search``). The spec layer
validates that name, so the columns are defined here, once, below every reader. A new outcome is
a new entry in ``OUTCOME_COLUMNS`` and in ``outcome_row``; it is then a column of the results
table and a valid ``spec.objective.outcome`` (if numeric) at once.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CATEGORICAL_OUTCOMES",
    "OBJECTIVE_OUTCOMES",
    "OUTCOME_COLUMNS",
    "RATE_OUTCOMES",
    "SCENARIO_COLUMNS",
    "outcome_range",
    "outcome_row",
]

OUTCOME_COLUMNS: dict[str, str] = {
    "passed": "quorum met and final stake-weighted yes exceeds no (over votes cast)",
    "passed_initial": "the same test on the round-0 votes",
    "outcome_changed_by_cascade": "passed differs from passed_initial",
    "quorum_met": "the stake cast reaches the quorum",
    "turnout_share": "votes cast / agents",
    "stake_turnout_share": "stake cast / total stake",
    "yes_share_weighted_initial": "round-0 yes stake / stake cast",
    "yes_share_weighted_final": "final yes stake / stake cast",
    "yes_share_initial": "round-0 yes head count / votes cast",
    "yes_share_final": "final yes head count / votes cast",
    "flips_total": "vote flip events over all rounds",
    "agents_flipped_total": "agents that flipped at least once",
    "agents_flipped_share": "agents_flipped_total / agents",
    "rounds_run": "influence rounds actually run",
    "cascade_ending": "how the cascade ended: converged, cycle or round_cap",
    "whale_signal_follow_events": "agent-rounds that followed the whale majority against its vote",
    "gini_cast": "Gini coefficient of the voting power cast (NaN if not recorded)",
    "nakamoto_cast": "Nakamoto count of the voting power cast (-1 if not recorded)",
}
"""Outcome columns and what each means."""

SCENARIO_COLUMNS: dict[str, tuple[str, Any]] = {
    "coalition_blocs": ("whale blocs of two or more whales", -1),
    "coalition_members": ("whales in blocs", -1),
    "coalition_overruled_stake_share": (
        "stake of voting bloc members overruled by their bloc in round 0 / stake cast",
        float("nan"),
    ),
    "coalition_switches": ("bloc switches over the influence rounds", -1),
    "largest_bloc_members": ("whales in the largest bloc (1: an independent whale)", -1),
    "largest_bloc_stake_share": ("stake cast by the largest bloc / stake cast", float("nan")),
    "largest_bloc_decisive": (
        "the largest bloc alone decides the tally: it cast more than half the stake cast, and "
        "at least the quorum",
        False,
    ),
    "largest_bloc_dictates": (
        "largest_bloc_decisive, and its final vote is its round-0 vote: the outcome is that "
        "vote whatever everyone else does",
        False,
    ),
    "largest_bloc_initial_vote": ("the largest bloc's round-0 vote (true: yes)", False),
    "largest_bloc_final_vote": ("the largest bloc's final vote", False),
    "outcome_follows_largest_bloc": ("passed equals the largest bloc's round-0 vote", False),
}
"""Outcome columns of research scenarios, each with its value in runs without the scenario. A
column is in a sweep's table only when some run of the sweep has the scenario on, so the tables of
sweeps without scenarios keep their columns. Whale coalitions (docs/model.md, 11.1): the largest
bloc is the bloc, or independent whale, with the most stake cast; runs without coalitions (or
without a voting whale) hold the fill value, and ``largest_bloc_members`` is -1 there."""


def outcome_row(record: dict[str, Any]) -> dict[str, Any]:
    """The outcome columns of one run record (as ``json.loads`` returns it), and the scenario
    columns of the scenarios it has on."""
    votes, flips, turnout = record["votes"], record["flips"], record["turnout"]
    weighted = votes["weighted"]
    cast, voters = turnout["stake_cast"], turnout["votes_cast"]
    agents = record["params"]["agents"]
    concentration = record["concentration"] or {"gini": float("nan"), "nakamoto": -1}

    def share(value: float, whole: float) -> float:
        return value / whole if whole > 0 else float("nan")

    return {
        "passed": bool(votes["passed"]),
        "passed_initial": bool(votes["passed_initial"]),
        "outcome_changed_by_cascade": bool(record["outcome_changed_by_cascade"]),
        "quorum_met": bool(turnout["quorum_met"]),
        "turnout_share": share(voters, agents),
        "stake_turnout_share": share(cast, weighted["total_stake"]),
        "yes_share_weighted_initial": share(weighted["initial"]["yes"], cast),
        "yes_share_weighted_final": share(weighted["final"]["yes"], cast),
        "yes_share_initial": share(votes["initial"]["yes"], voters),
        "yes_share_final": share(votes["final"]["yes"], voters),
        "flips_total": int(flips["total"]),
        "agents_flipped_total": int(record["agents_flipped_total"]),
        "agents_flipped_share": share(record["agents_flipped_total"], agents),
        "rounds_run": int(record["cascade_rounds"]),
        "cascade_ending": str(record["cascade"]["ending"]),
        "whale_signal_follow_events": int(flips["whale_signal_follow_events"]),
        "gini_cast": float(concentration["gini"]),
        "nakamoto_cast": int(concentration["nakamoto"]),
        **_coalition_columns(record),
    }


RATE_OUTCOMES: frozenset[str] = frozenset(
    {"passed", "passed_initial", "outcome_changed_by_cascade", "quorum_met"}
    | {name for name, (_, fill) in SCENARIO_COLUMNS.items() if isinstance(fill, bool)}
)
"""Boolean outcomes: their mean over runs is a rate in [0, 1] (the pass rate for ``passed``)."""
CATEGORICAL_OUTCOMES: frozenset[str] = frozenset({"cascade_ending"})
"""Outcomes that are labels, not numbers: they have no mean."""
OBJECTIVE_OUTCOMES: tuple[str, ...] = tuple(
    name for name in (*OUTCOME_COLUMNS, *SCENARIO_COLUMNS) if name not in CATEGORICAL_OUTCOMES
)
"""Outcomes an objective may name: the numeric ones (booleans count as 0 and 1), scenario
columns included (a sweep has them when its runs switch the scenario on)."""


def outcome_range(name: str) -> tuple[float, float] | None:
    """The interval the mean of outcome ``name`` lies in: [0, 1] for rates and shares, else None."""
    if name in RATE_OUTCOMES or "share" in name or name == "gini_cast":
        return 0.0, 1.0
    return None


_LARGEST_BLOC_COLUMNS = (
    "largest_bloc_members",
    "largest_bloc_stake_share",
    "largest_bloc_decisive",
    "largest_bloc_dictates",
    "largest_bloc_initial_vote",
    "largest_bloc_final_vote",
    "outcome_follows_largest_bloc",
)


def _coalition_columns(record: dict[str, Any]) -> dict[str, Any]:
    """Whale-coalition columns of a record with a ``coalitions`` block; none without it."""
    block = record.get("coalitions")
    if block is None:
        return {}
    cast = record["turnout"]["stake_cast"]
    largest = block["largest"]
    row = {name: SCENARIO_COLUMNS[name][1] for name in _LARGEST_BLOC_COLUMNS}  # no whale voted
    if largest is not None:
        share = largest["stake_cast"] / cast
        quorum = record["turnout"]["quorum"] * record["votes"]["weighted"]["total_stake"]
        decisive = share > 0.5 and largest["stake_cast"] >= quorum
        row = {
            "largest_bloc_members": int(largest["members"]),
            "largest_bloc_stake_share": share,
            "largest_bloc_decisive": decisive,
            "largest_bloc_dictates": decisive and largest["initial_vote"] == largest["final_vote"],
            "largest_bloc_initial_vote": bool(largest["initial_vote"]),
            "largest_bloc_final_vote": bool(largest["final_vote"]),
            "outcome_follows_largest_bloc": (
                bool(record["votes"]["passed"]) == bool(largest["initial_vote"])
            ),
        }
    return {
        "coalition_blocs": int(block["blocs"]),
        "coalition_members": int(block["members"]),
        "coalition_overruled_stake_share": (
            block["overruled_stake"] / cast if cast > 0 else float("nan")
        ),
        "coalition_switches": int(block["switches"]),
        **row,
    }

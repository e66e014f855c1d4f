"""The outcome columns of a run: their names, what each means, and how a run record yields them.

Several readers turn run records into outcomes: the results table (``sweepctl collect``, the
report) and the adaptive search, whose objective names one of these columns and which plans each
round from the outcomes of the rounds before it (``sweep_controller.spec.search``). The spec layer
validates that name, so the columns are defined here, once, below every reader. A new outcome is
a new entry in ``OUTCOME_COLUMNS`` and in ``outcome_row``; it is then a column of the results
table and a valid ``spec.objective.outcome`` (if numeric) at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.params import (
    ATTACK_FIELDS,
    COALITION_FIELDS,
    DELEGATION_FIELDS,
    MEV_FIELDS,
    SimParams,
)
from sweep_controller.spec.scenario_columns import MEV_COLUMNS, TRACE_COLUMNS, mev_row, trace_row

__all__ = [
    "ATTACK_COLUMNS",
    "CATEGORICAL_OUTCOMES",
    "COALITION_COLUMNS",
    "DELEGATION_COLUMNS",
    "OBJECTIVE_OUTCOMES",
    "OUTCOME_COLUMNS",
    "RATE_OUTCOMES",
    "SCENARIOS",
    "SCENARIO_COLUMNS",
    "ScenarioColumns",
    "delegation_row",
    "outcome_range",
    "outcome_row",
    "run_row",
    "used_scenarios",
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

COALITION_COLUMNS: dict[str, tuple[str, Any]] = {
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
"""Whale-coalition columns (docs/model.md, 11.1), each with its value in runs without coalitions.
The largest bloc is the bloc, or independent whale, with the most stake cast; runs without
coalitions (or without a voting whale) hold the fill value (``largest_bloc_members`` is -1)."""


def outcome_row(record: dict[str, Any]) -> dict[str, Any]:
    """The outcome columns of one run record (as ``json.loads`` returns it); the research
    scenarios' columns are ``SCENARIOS``' rows."""
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
    }


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
    """Whale-coalition columns of a record: read off its ``coalitions`` block, or the fill values
    without one."""
    block = record.get("coalitions")
    if block is None:
        return {name: fill for name, (_, fill) in COALITION_COLUMNS.items()}
    cast = record["turnout"]["stake_cast"]
    largest = block["largest"]
    row = {name: COALITION_COLUMNS[name][1] for name in _LARGEST_BLOC_COLUMNS}  # no whale voted
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


DELEGATION_COLUMNS: dict[str, str] = {
    "delegators_share": "agents that delegated / agents",
    "delegated_stake_share": "stake of the delegators / total stake",
    "delegated_power_cast_share": "delegated power cast / power cast",
    "active_delegates": "delegates that voted",
    "overrides": "delegators that voted themselves instead",
    "top10_share_cast": "top-10 share of the voting power cast (NaN without delegation)",
    "top10_share_cast_without": "top-10 share of the stake cast without delegation (NaN: off)",
    "nakamoto_cast_without": "Nakamoto count of the stake cast without delegation",
    "gini_cast_without": "Gini coefficient of the stake cast without delegation",
    "stake_turnout_share_without": "stake cast without delegation / total stake",
}
"""Columns of a sweep that uses delegation (docs/model.md 11.2); a run without delegation
(``delegation_rate`` 0) has no delegation, so its "without" columns are its own outcomes and
its delegation counts 0, but its top-10 shares are not recorded (NaN)."""


def delegation_row(record: dict[str, Any]) -> dict[str, Any]:
    """The delegation columns of one run record (as ``json.loads`` returns it)."""
    d = record.get("delegation")
    cast, total = record["turnout"]["stake_cast"], record["votes"]["weighted"]["total_stake"]
    if d is None:
        concentration = record["concentration"] or {"gini": float("nan"), "nakamoto": -1}
        return {
            "delegators_share": 0.0,
            "delegated_stake_share": 0.0,
            "delegated_power_cast_share": 0.0,
            "active_delegates": 0,
            "overrides": 0,
            "top10_share_cast": float("nan"),
            "top10_share_cast_without": float("nan"),
            "nakamoto_cast_without": int(concentration["nakamoto"]),
            "gini_cast_without": float(concentration["gini"]),
            "stake_turnout_share_without": cast / total if total > 0 else float("nan"),
        }
    without = d["without_delegation"]
    return {
        "delegators_share": d["delegators"] / record["params"]["agents"],
        "delegated_stake_share": d["delegated_stake"] / total if total > 0 else float("nan"),
        "delegated_power_cast_share": (
            d["delegated_power_cast"] / cast if cast > 0 else float("nan")
        ),
        "active_delegates": int(d["active_delegates"]),
        "overrides": int(d["overrides"]),
        "top10_share_cast": float(d["with_delegation"]["top10_share"]),
        "top10_share_cast_without": float(without["top10_share"]),
        "nakamoto_cast_without": int(without["nakamoto"]),
        "gini_cast_without": float(without["gini"]),
        "stake_turnout_share_without": (
            d["stake_cast_without"] / total if total > 0 else float("nan")
        ),
    }


@dataclass(frozen=True)
class ScenarioColumns:
    """The results-table columns of one research scenario (docs/model.md, section 11).

    A sweep's table has them when the sweep uses the scenario: it sweeps one of its parameters or
    fixes one off its default. Then every run has them: ``row`` reads them off the record's
    scenario block, or gives the values of the scenario switched off (a run at the off value of a
    swept parameter). A sweep without scenarios keeps exactly ``OUTCOME_COLUMNS``.
    """

    name: str
    fields: tuple[str, ...]
    """The scenario's simulator parameters."""
    columns: dict[str, str]
    """Column -> meaning."""
    row: Callable[[dict[str, Any]], dict[str, Any]]
    uses: Callable[[Any], bool] | None = None
    """Whether a spec uses the scenario, for a scenario switched by something else than its
    simulator parameters (flip traces: the spec's ``traces``)."""

    def used_by(self, spec: Any) -> bool:
        """The sweep spec varies one of the scenario's parameters or fixes one off its default."""
        if self.uses is not None:
            return self.uses(spec)
        defaults = SimParams.model_fields
        return any(name in spec.parameters for name in self.fields) or any(
            getattr(spec.simulator, name) != defaults[name].default for name in self.fields
        )


ATTACK_COLUMNS: dict[str, tuple[str, Any]] = {
    "attack_resolved_target": ("the attacker's target, pass or fail (an auto one resolved)", ""),
    "attack_passed_without": ("passed of the same run without the attack", False),
    "attack_succeeded": (
        "the attack flipped the outcome: passed is the target, attack_passed_without is not",
        False,
    ),
    "attack_spent_share": ("tokens paid for votes / the holders' total voting power", math.nan),
    "attack_bribed_share": ("voting power bought / the holders' total voting power", math.nan),
    "attack_bribed": ("holders bought", -1),
}
"""Governance-attack columns (docs/model.md, 11.3), each with its value in a run without an
attack. No name is a simulator parameter's (a swept parameter is a column of its own)."""


def _attack_columns(record: dict[str, Any]) -> dict[str, Any]:
    """Governance-attack columns of a record: read off its ``attack`` block, or the fill values
    without one."""
    attack = record.get("attack")
    if attack is None:
        return {name: fill for name, (_, fill) in ATTACK_COLUMNS.items()}
    holders = attack["holders_stake"]
    return {
        "attack_resolved_target": str(attack["target"]),
        "attack_passed_without": bool(attack["passed_without_attack"]),
        "attack_succeeded": bool(attack["succeeded"]),
        "attack_spent_share": attack["spent"] / holders if holders > 0 else math.nan,
        "attack_bribed_share": attack["bribed_stake"] / holders if holders > 0 else math.nan,
        "attack_bribed": int(attack["bribed"]),
    }


SCENARIOS: tuple[ScenarioColumns, ...] = (
    ScenarioColumns(
        "coalitions",
        COALITION_FIELDS,
        {name: meaning for name, (meaning, _) in COALITION_COLUMNS.items()},
        _coalition_columns,
    ),
    ScenarioColumns("delegation", DELEGATION_FIELDS, DELEGATION_COLUMNS, delegation_row),
    ScenarioColumns(
        "attack",
        ATTACK_FIELDS,
        {name: meaning for name, (meaning, _) in ATTACK_COLUMNS.items()},
        _attack_columns,
    ),
    ScenarioColumns("mev", MEV_FIELDS, MEV_COLUMNS, mev_row),
    ScenarioColumns(
        "traces", (), TRACE_COLUMNS, trace_row, uses=lambda spec: spec.traces.value != "none"
    ),
)
"""Every research scenario's columns, in table order."""

SCENARIO_COLUMNS: dict[str, str] = {
    name: meaning for scenario in SCENARIOS for name, meaning in scenario.columns.items()
}
"""Every scenario column and what it means."""


def used_scenarios(spec: Any) -> tuple[ScenarioColumns, ...]:
    """The scenarios whose columns a sweep spec's table has."""
    return tuple(scenario for scenario in SCENARIOS if scenario.used_by(spec))


def run_row(record: dict[str, Any], used: tuple[ScenarioColumns, ...]) -> dict[str, Any]:
    """The outcome columns of one run record, then those of the scenarios ``used``."""
    row = outcome_row(record)
    for scenario in used:
        row |= scenario.row(record)
    return row


RATE_OUTCOMES: frozenset[str] = frozenset(
    {"passed", "passed_initial", "outcome_changed_by_cascade", "quorum_met"}
    | {
        name
        for columns in (COALITION_COLUMNS, ATTACK_COLUMNS)
        for name, (_, fill) in columns.items()
        if isinstance(fill, bool)
    }
)
"""Boolean outcomes: their mean over runs is a rate in [0, 1] (the pass rate for ``passed``)."""
CATEGORICAL_OUTCOMES: frozenset[str] = frozenset(
    {"cascade_ending", "attack_resolved_target", "cascade_sizes", "cascade_depths"}
)
"""Outcomes that are labels, not numbers: they have no mean."""
OBJECTIVE_OUTCOMES: tuple[str, ...] = tuple(
    name for name in (*OUTCOME_COLUMNS, *SCENARIO_COLUMNS) if name not in CATEGORICAL_OUTCOMES
)
"""Outcomes an objective may name: the numeric ones (booleans count as 0 and 1), scenario
columns included (a sweep has them when its runs switch the scenario on)."""

"""What each outcome and swept parameter is, in the words, units and range a reader needs.

A figure's axis, a table's header and a sentence of the report all name outcomes and print their
values. Each outcome column of the results table (``sweep_controller.spec.columns``) has one
:class:`Quantity` here: a label, a unit and the range its mean over runs can take (a share lies
in [0, 1], a count is at least 0, a Nakamoto count at least 1). Intervals are clipped to that
range, axes are labelled ``label (unit)``, and every value is printed by :func:`format_share`
or :func:`format_number`, the only two number formats of a report:

* a share or a rate is a percentage rounded to 0.1 point with a trailing ``.0`` dropped
  (``37.5%``, ``20%``); exactly 0 is ``0%`` and exactly 1 ``100%``; a share that is not 0 but
  rounds to it is ``<0.1%`` (and one that rounds to 100% ``>99.9%``), so a printed 0 is a true 0;
* any other number has a fixed number of decimals for its quantity; exactly 0 is ``0``, and a
  minus sign is never printed in front of a zero.

Swept parameters get a short unit for their axis (``whale_ratio (share of agents)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "PARAMETER_UNITS",
    "QUANTITIES",
    "Kind",
    "Quantity",
    "format_number",
    "format_share",
    "parameter_label",
    "quantity",
]


class Kind(StrEnum):
    """What sort of number a quantity is, which decides how it is printed."""

    RATE = "rate"
    """A yes/no outcome of a run: its mean over runs is a share of the runs, printed as %."""
    SHARE = "share"
    """A ratio of two amounts in [0, 1] (or a difference of two), printed as %."""
    COUNT = "count"
    """A number of things (agents, flips, rounds); its mean is printed with one decimal."""
    INDEX = "index"
    """A dimensionless index (Gini, welfare), printed with two or three decimals."""
    LABEL = "label"
    """A category or a text summary: no mean, no unit."""


@dataclass(frozen=True)
class Quantity:
    """One outcome: its label, unit, kind and the range [low, high] of its mean over runs."""

    label: str
    unit: str
    kind: Kind
    low: float = -math.inf
    high: float = math.inf
    decimals: int = 1

    @property
    def percent(self) -> bool:
        """Printed as a percentage (rates and shares)."""
        return self.kind in (Kind.RATE, Kind.SHARE)

    @property
    def axis_label(self) -> str:
        """``label (unit)``, or the label alone for a quantity without a unit."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def format(self, value: float) -> str:
        """``value`` as the report prints this quantity."""
        if self.percent:
            return format_share(value)
        return format_number(value, self.decimals)


def format_share(value: float) -> str:
    """A share (0.375) as a percentage (``37.5%``): the report's one format for shares."""
    if value is None or math.isnan(value):
        return "n/a"
    if value == 0:
        return "0%"
    if value == 1:
        return "100%"
    if abs(value) < 0.0005:
        return "<0.1%" if value > 0 else ">-0.1%"
    if 0.9995 <= value < 1:
        return ">99.9%"
    text = f"{100 * value:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def format_number(value: float, decimals: int = 2) -> str:
    """``value`` with ``decimals`` decimals; exactly 0 is ``0``, and no zero has a minus sign."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _rate(label: str) -> Quantity:
    return Quantity(label, "% of runs", Kind.RATE, 0.0, 1.0)


def _share(label: str, unit: str) -> Quantity:
    return Quantity(label, unit, Kind.SHARE, 0.0, 1.0)


def _count(label: str, unit: str, low: float = 0.0) -> Quantity:
    return Quantity(label, unit, Kind.COUNT, low)


def _label(label: str) -> Quantity:
    return Quantity(label, "", Kind.LABEL, decimals=0)


QUANTITIES: dict[str, Quantity] = {
    # the outcomes of every run (spec.columns.OUTCOME_COLUMNS)
    "passed": _rate("pass rate"),
    "passed_initial": _rate("pass rate before influence"),
    "outcome_changed_by_cascade": _rate("outcome changed by the cascade"),
    "quorum_met": _rate("quorum met"),
    "turnout_share": _share("turnout", "% of agents"),
    "stake_turnout_share": _share("stake turnout", "% of total stake"),
    "yes_share_weighted_initial": _share("round-0 weighted yes share", "% of stake cast"),
    "yes_share_weighted_final": _share("final weighted yes share", "% of stake cast"),
    "yes_share_initial": _share("round-0 yes share", "% of votes cast"),
    "yes_share_final": _share("final yes share", "% of votes cast"),
    "flips_total": _count("flips per run", "flips"),
    "agents_flipped_total": _count("agents flipped", "agents"),
    "agents_flipped_share": _share("agents flipped", "% of agents"),
    "rounds_run": _count("cascade rounds run", "rounds"),
    "cascade_ending": _label("how the cascade ended"),
    "whale_signal_follow_events": _count("whale-signal follows", "agent-rounds"),
    "gini_cast": Quantity("Gini of the voting power cast", "0-1", Kind.INDEX, 0.0, 1.0, 2),
    "nakamoto_cast": _count("Nakamoto count of the power cast", "voters", 1.0),
    # whale coalitions (docs/model.md 11.1)
    "coalition_blocs": _count("whale blocs", "blocs"),
    "coalition_members": _count("whales in blocs", "whales"),
    "coalition_overruled_stake_share": _share("stake overruled by its bloc", "% of stake cast"),
    "coalition_switches": _count("bloc switches", "switches"),
    "largest_bloc_members": _count("whales in the largest bloc", "whales"),
    "largest_bloc_stake_share": _share("largest bloc's stake", "% of stake cast"),
    "largest_bloc_decisive": _rate("largest bloc decides the tally alone"),
    "largest_bloc_dictates": _rate("largest bloc dictates the outcome"),
    "largest_bloc_initial_vote": _rate("largest bloc votes yes in round 0"),
    "largest_bloc_final_vote": _rate("largest bloc votes yes at the end"),
    "outcome_follows_largest_bloc": _rate("outcome = largest bloc's round-0 vote"),
    # delegation (11.2)
    "delegators_share": _share("delegators", "% of agents"),
    "delegated_stake_share": _share("delegated stake", "% of total stake"),
    "delegated_power_cast_share": _share("delegated power cast", "% of power cast"),
    "active_delegates": _count("delegates that voted", "delegates"),
    "overrides": _count("overrides", "delegators"),
    "top10_share_cast": _share("top-10 share of the power cast", "% of power cast"),
    "top10_share_cast_without": _share("top-10 share without delegation", "% of stake cast"),
    "nakamoto_cast_without": _count("Nakamoto count without delegation", "voters", 1.0),
    "gini_cast_without": Quantity("Gini without delegation", "0-1", Kind.INDEX, 0.0, 1.0, 2),
    "stake_turnout_share_without": _share("stake turnout without delegation", "% of total stake"),
    # governance attack (11.3)
    "attack_resolved_target": _label("the attack's target"),
    "attack_passed_without": _rate("pass rate without the attack"),
    "attack_succeeded": _rate("attack success"),
    "attack_spent_share": _share("tokens paid", "% of holders' voting power"),
    "attack_bribed_share": _share("voting power bought", "% of holders' voting power"),
    "attack_bribed": _count("holders bought", "holders"),
    # MEV-aware voting (11.4)
    "mev_extractors": _count("extractors", "agents"),
    "mev_votes_changed": _count("votes changed by extractable value", "voters"),
    "mev_stake_changed_share": _share("stake whose vote the value changed", "% of stake cast"),
    "passed_honest": _rate("honest pass rate"),
    "outcome_changed_by_mev": _rate("outcome changed by extractable value"),
    "mev_pass_change": Quantity("net change in pass rate", "% of runs", Kind.SHARE, -1.0, 1.0),
    "welfare_pass": Quantity("welfare of a pass", "of welfare at stake", Kind.INDEX, -1, 1, 3),
    "welfare_loss": Quantity("welfare loss", "of welfare at stake", Kind.INDEX, -1, 1, 3),
    "welfare_regret": Quantity("welfare regret", "of welfare at stake", Kind.INDEX, 0, 1, 3),
    "mev_value_scale": Quantity("extractable value", "utility units", Kind.INDEX, 0, math.inf, 3),
    # flip traces (11.5)
    "cascades": _count("cascade trees", "trees"),
    "cascade_size_mean": _count("flips per cascade tree", "flips", 1.0),
    "cascade_size_max": _count("flips in the largest tree", "flips"),
    "cascade_depth_max": _count("depth of the deepest tree", "generations"),
    "whale_signal_cascades": _count("trees rooted at a whale follower", "trees"),
    "top_influence": _count("most flips triggered by one agent", "flips"),
    "whale_signal_share": _share("changed stake from the whale signal", "% of changed stake"),
    "whale_signal_decisive": _rate("whale signal decisive"),
    "cascade_sizes": _label("cascade size distribution"),
    "cascade_depths": _label("cascade depth distribution"),
}
"""Every outcome column of the results table and what it is (a test keeps it complete)."""


def quantity(column: str) -> Quantity:
    """The quantity of outcome ``column``; a column without an entry is a programming error."""
    return QUANTITIES[column]


PARAMETER_UNITS: dict[str, str] = {
    "agents": "agents",
    "conformity_threshold": "conformity, 0-1",
    "whale_ratio": "share of agents",
    "network_density": "edge probability",
    "mean_degree": "neighbours",
    "rewire_prob": "probability",
    "cascade_rounds": "rounds",
    "update_fraction": "probability",
    "stake_tail": "Pareto tail index",
    "proposal_favourability": "probability",
    "quorum": "share of total stake",
    "coalition_size": "whales per bloc",
    "coalition_span": "preference cell width",
    "delegation_rate": "share of non-delegates",
    "delegate_share": "share of agents",
    "delegation_attachment": "exponent",
    "delegation_override": "probability",
    "attack_budget": "share of holders' voting power",
    "attack_borrowed_share": "share of holders' voting power",
    "attack_sybils": "accounts",
    "mev_share": "share of agents",
    "mev_value": "× utility spread",
    "mev_against_share": "share of extractors",
}
"""The unit (or scale) of each numeric simulator parameter, for axis labels."""


def parameter_label(name: str) -> str:
    """An axis label for parameter ``name``: ``name (unit)``, or the name when it has none."""
    unit = PARAMETER_UNITS.get(name)
    return f"{name} ({unit})" if unit else name

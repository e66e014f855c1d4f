"""Consistency rules of a run record's ``coalitions`` block (whale coalitions, model 11.1).

Two kinds. Between run-level fields (:func:`check_coalition_block`): the block is present exactly
when the parameters switch coalitions on, its counts fit together (a bloc has two whales or more,
and at most ``coalition_size``), and the largest bloc's votes, switches and stake agree with each
other and with the turnout. Against the per-agent rows (:class:`CoalitionRows`): the blocs are
formed again from the whales' risk tolerances, and every voting member must cast its bloc's
round-0 vote (the bloc's rule over the members' own votes, read from their utilities), the voting
members of a bloc must end on one vote and have flipped equally often (only their bloc flips
them), independent whales vote their utility's sign, and the block's counts must be those of the
rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simulator.agents import archetype_counts
from simulator.coalition import Blocs, CoalitionSummary, align_votes, form_blocs, summarize
from simulator.messages import shown
from simulator.params import Archetype, CoalitionRevision, CoalitionRule
from simulator.records.schema import CoalitionRecord, RunRecord

__all__ = ["CoalitionRows", "check_coalition_block"]

REL_TOL = 1e-9
"""Relative tolerance of stake comparisons (stakes are exact sums; JSON keeps them exactly)."""


def check_coalition_block(r: RunRecord) -> list[str]:
    """The rules between the ``coalitions`` block and the record's other run-level fields."""
    on = r.params.coalition_rule is not CoalitionRule.NONE
    c = r.coalitions
    if c is None:
        rule = r.params.coalition_rule.value
        return [f"coalitions: missing, but params.coalition_rule = {rule!r}"] if on else []
    if not on:
        return ["coalitions: present, but params.coalition_rule is none (coalitions are off)"]
    p: list[str] = []
    if c.rule is not r.params.coalition_rule:
        p.append(
            f"coalitions.rule: {c.rule.value!r}, but params.coalition_rule = "
            f"{r.params.coalition_rule.value!r}"
        )
    whales = archetype_counts(r.params)[Archetype.WHALE]
    size = r.params.coalition_size
    if c.members > whales:
        p.append(f"coalitions.members: {c.members} exceeds the {whales} whales of the parameters")
    if c.members < 2 * c.blocs:
        p.append(
            f"coalitions.members: {c.members}, but {c.blocs} blocs need at least "
            f"{2 * c.blocs} (a bloc has two whales or more)"
        )
    if c.blocs == 0 and c.members:
        p.append(f"coalitions.members: {c.members}, but there are no blocs")
    if size and c.members > size * c.blocs:
        p.append(
            f"coalitions.members: {c.members} exceeds blocs × params.coalition_size = "
            f"{c.blocs} × {size}"
        )
    if c.voting_blocs > c.blocs:
        p.append(f"coalitions.voting_blocs: {c.voting_blocs} exceeds coalitions.blocs = {c.blocs}")
    if c.overruled > min(c.members, r.turnout.votes_cast):
        p.append(
            f"coalitions.overruled: {c.overruled} exceeds the voting members (at most "
            f"{min(c.members, r.turnout.votes_cast)})"
        )
    if (c.overruled == 0) != (c.overruled_stake == 0):
        p.append(
            f"coalitions.overruled_stake: {c.overruled_stake}, but {c.overruled} members were "
            "overruled (every stake is positive)"
        )
    if _exceeds(c.overruled_stake, r.turnout.stake_cast):
        p.append(
            f"coalitions.overruled_stake: {c.overruled_stake} exceeds turnout.stake_cast = "
            f"{r.turnout.stake_cast}"
        )
    if r.params.coalition_revision is CoalitionRevision.NEVER and c.switches:
        p.append(
            f"coalitions.switches: {c.switches}, but params.coalition_revision is never "
            "(blocs keep their round-0 vote)"
        )
    if c.switches > c.voting_blocs * r.cascade_rounds:
        p.append(
            f"coalitions.switches: {c.switches} exceeds voting_blocs × cascade_rounds = "
            f"{c.voting_blocs} × {r.cascade_rounds} (a bloc switches at most once a round)"
        )
    return p + _check_largest(r, c)


def _check_largest(r: RunRecord, c: CoalitionRecord) -> list[str]:
    big = c.largest
    if big is None:
        return []
    p: list[str] = []
    if big.voters > big.members:
        p.append(f"coalitions.largest.voters: {big.voters} exceeds its members = {big.members}")
    if big.members > 1 and c.blocs == 0:
        p.append(f"coalitions.largest.members: {big.members}, but there are no blocs")
    if big.members > max(c.members, 1):
        p.append(
            f"coalitions.largest.members: {big.members} exceeds coalitions.members = {c.members}"
        )
    if r.params.coalition_size and big.members > r.params.coalition_size:
        p.append(
            f"coalitions.largest.members: {big.members} exceeds params.coalition_size = "
            f"{r.params.coalition_size}"
        )
    if big.stake_cast <= 0 or _exceeds(big.stake_cast, r.turnout.stake_cast):
        p.append(
            f"coalitions.largest.stake_cast: {big.stake_cast} is outside (0, turnout.stake_cast "
            f"= {r.turnout.stake_cast}]"
        )
    if big.switches > r.cascade_rounds:
        p.append(
            f"coalitions.largest.switches: {big.switches} exceeds cascade_rounds = "
            f"{r.cascade_rounds} (at most one a round)"
        )
    if big.members > 1 and big.switches > c.switches:
        p.append(
            f"coalitions.largest.switches: {big.switches} exceeds coalitions.switches = "
            f"{c.switches}"
        )
    if (big.initial_vote != big.final_vote) != (big.switches % 2 == 1):
        p.append(
            f"coalitions.largest: {big.switches} switches cannot turn initial_vote "
            f"{shown(big.initial_vote)} into final_vote {shown(big.final_vote)}"
        )
    return p


def _exceeds(a: float, b: float) -> bool:
    """``a > b`` beyond the relative tolerance."""
    return a > b * (1 + REL_TOL)


class CoalitionRows:
    """The per-agent rules of whale coalitions, over the rows of one run, batch by batch.

    Blocs are formed from all the whales' risk tolerances, so the whales' rows are kept (a few
    arrays of one entry per whale) and checked at :meth:`finish`.
    """

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.parts: dict[str, list[np.ndarray]] = {
            k: []
            for k in (
                "row", "id", "rho", "stake", "voted", "utility", "initial", "final", "flips",
            )
        }  # fmt: skip

    def add(
        self,
        offset: int,
        *,
        whale: np.ndarray,
        ids: np.ndarray,
        risk_tolerance: np.ndarray,
        stake: np.ndarray,
        participated: np.ndarray,
        utility: np.ndarray,
        initial_vote: np.ndarray,
        final_vote: np.ndarray,
        flip_count: np.ndarray,
    ) -> None:
        """Keep the whales' rows of one batch (``offset``: the batch's first row)."""
        at = np.flatnonzero(whale)
        for key, values in (
            ("row", at + offset),
            ("id", ids[at]),
            ("rho", risk_tolerance[at]),
            ("stake", stake[at]),
            ("voted", participated[at]),
            ("utility", utility[at]),
            ("initial", initial_vote[at]),
            ("final", final_vote[at]),
            ("flips", flip_count[at]),
        ):
            self.parts[key].append(values)

    def finish(self, label: Callable[[int], str]) -> list[str]:
        """Every disagreement between the whales' rows and the ``coalitions`` block."""
        r, c = self.record, self.record.coalitions
        if c is None:
            return []
        w = {k: np.concatenate(v) if v else np.empty(0) for k, v in self.parts.items()}
        order = np.argsort(w["id"], kind="stable")
        w = {k: v[order] for k, v in w.items()}
        row = w["row"].astype(np.int64)
        voted = w["voted"].astype(bool)
        initial, final = w["initial"].astype(bool), w["final"].astype(bool)
        bloc, count = form_blocs(
            w["rho"], np.ones(len(order), dtype=bool),
            span=r.params.coalition_span, size=r.params.coalition_size,
        )  # fmt: skip
        blocs = Blocs(bloc, count, r.params.coalition_rule, r.params.coalition_revision)
        own = w["utility"] > 0.0
        expected = align_votes(blocs, w["stake"], voted, own)
        known = ~np.isnan(w["utility"])
        p = _rows(
            label, row, known & voted & (initial != expected),
            lambda i: (
                f"initial_vote: {shown(bool(initial[i]))}, but "
                + (f"its bloc {bloc[i]} decides {shown(bool(expected[i]))} in round 0 "
                   f"(coalition_rule {blocs.rule.value})" if bloc[i] >= 0 else
                   f"utility {w['utility'][i]} (an independent whale votes its utility's sign)")
            ),
        )  # fmt: skip
        member = (bloc >= 0) & voted
        first = _first_of_bloc(bloc, member, count)
        has = first >= 0
        lead = np.arange(len(bloc))  # each voting member's bloc's first voting member
        lead[member] = first[bloc[member]]
        ids = w["id"].astype(np.int64)
        for name, values in (("final_vote", final), ("flip_count", w["flips"])):
            p += _rows(
                label, row, member & (values != values[lead]),
                _apart(name, values, lead, ids, bloc),
            )  # fmt: skip
        if p:
            return p
        switches = np.zeros(count, dtype=np.int32)
        switches[has] = w["flips"][first[has]]
        summary = summarize(
            blocs,
            is_whale=np.ones(len(order), dtype=bool),
            stake=w["stake"],
            voting=voted,
            utility=np.where(known, w["utility"], np.where(initial, 1.0, -1.0)),
            initial_votes=initial,
            final_votes=final,
            flip_count=w["flips"].astype(np.int64),
            bloc_switches=switches,
        )
        return _compare(c, summary)


def _apart(
    name: str, values: np.ndarray, lead: np.ndarray, ids: np.ndarray, bloc: np.ndarray
) -> Callable[[int], str]:
    """The message for a voting member whose ``name`` differs from its bloc's first voter's."""

    def say(i: int) -> str:
        return (
            f"{name}: {shown(values[i].item())}, but agent {int(ids[lead[i]])} of the same bloc "
            f"{bloc[i]} has {shown(values[lead[i]].item())} (a bloc's voters flip together)"
        )

    return say


def _first_of_bloc(bloc: np.ndarray, member: np.ndarray, count: int) -> np.ndarray:
    """Position of each bloc's first voting member (-1: none)."""
    first = np.full(count, -1, dtype=np.int64)
    at = np.flatnonzero(member)[::-1]  # the last write wins: the first position
    first[bloc[at]] = at
    return first


def _rows(
    label: Callable[[int], str], row: np.ndarray, mask: np.ndarray, say: Callable[[int], str]
) -> list[str]:
    """Messages for the first three offending whale rows and a count of the rest."""
    bad = np.flatnonzero(mask)
    out = [f"{label(int(row[i]))}.{say(int(i))}" for i in bad[:3]]
    if len(bad) > 3:
        out[-1] += f" (and {len(bad) - 3} more rows)"
    return out


def _compare(c: CoalitionRecord, rows: CoalitionSummary) -> list[str]:
    """The block's fields against those computed from the rows."""
    p: list[str] = []
    for name in ("blocs", "members", "voting_blocs", "overruled", "switches"):
        recorded, computed = getattr(c, name), getattr(rows, name)
        if recorded != computed:
            p.append(f"coalitions.{name}: {recorded}, but the agents' rows give {computed}")
    if not _close(c.overruled_stake, rows.overruled_stake):
        p.append(
            f"coalitions.overruled_stake: {c.overruled_stake}, but the agents' rows give "
            f"{rows.overruled_stake}"
        )
    big, computed = c.largest, rows.largest
    if big is None or computed is None:
        if (big is None) != (computed is None):
            p.append(
                f"coalitions.largest: {'null' if big is None else 'given'}, but the agents' "
                f"rows have {'voting whales' if computed is not None else 'no voting whale'}"
            )
        return p
    for name in ("members", "voters", "initial_vote", "final_vote", "switches"):
        if getattr(big, name) != getattr(computed, name):
            p.append(
                f"coalitions.largest.{name}: {shown(getattr(big, name))}, but the agents' rows "
                f"give {shown(getattr(computed, name))}"
            )
    if not _close(big.stake_cast, computed.stake_cast):
        p.append(
            f"coalitions.largest.stake_cast: {big.stake_cast}, but the agents' rows give "
            f"{computed.stake_cast}"
        )
    return p


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b))

"""Whale coalitions: whales with similar preferences form blocs that vote together.

On-chain governance is decided by a few large holders (docs/model.md, section 10), and large holders
coordinate: Messias et al. find voting coalitions among Compound and Uniswap voters. This module
holds the rules of the coalition scenario (docs/model.md, section 11.1), all of them vectorized:

* formation (:func:`form_blocs`): the whales are ordered by their preference (risk tolerance, the
  only preference term in which whales differ), cut into cells of width ``coalition_span`` and
  each cell into consecutive groups of at most ``coalition_size``; a group of two or more whales is
  a bloc, a group of one an independent whale;
* round 0 (:func:`align_votes`): each bloc's vote is its rule (``stake_majority`` or ``leader``)
  applied to its voting members' own votes, and every voting member casts it;
* influence rounds (:class:`BlocRounds`): a member that the threshold rule would flip is leaving its
  bloc's vote; the bloc switches (all its voting members flip together) when its rule says so;
* the whale signal of followers (:func:`signal_sources`): a bloc counts once, with the stake of all
  its voting members.

Nothing here draws from a run's main generator: bloc switches under the ``random_fraction``
schedule draw from ``simulator.seeding.scenario_rng(seed, SCENARIO)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from simulator.params import CoalitionRevision, CoalitionRule, SimParams

if TYPE_CHECKING:  # the model imports this module
    from simulator.model import RunResult

__all__ = [
    "NO_BLOC",
    "SCENARIO",
    "BlocRounds",
    "Blocs",
    "CoalitionSummary",
    "LargestUnit",
    "align_votes",
    "bloc_leaders",
    "form_blocs",
    "round_zero_blocs",
    "signal_sources",
    "summarize",
]

SCENARIO = "coalitions"
"""The name of this scenario's random substream (``scenario_rng``)."""
NO_BLOC = -1
"""Bloc id of an agent in no bloc (every non-whale, and every independent whale)."""


@dataclass(frozen=True, eq=False)
class Blocs:
    """Bloc membership of a population: a bloc id per agent (``NO_BLOC`` outside), and the rule."""

    bloc: np.ndarray
    """int32 bloc id per agent, 0 .. count-1, or ``NO_BLOC``."""
    count: int
    """Number of blocs (each has at least two whales in the whole population)."""
    rule: CoalitionRule
    revision: CoalitionRevision = CoalitionRevision.EVERY_ROUND

    def take(self, index: np.ndarray) -> Blocs:
        """The membership of the agents ``index`` (bloc ids unchanged)."""
        return Blocs(self.bloc[index], self.count, self.rule, self.revision)

    @property
    def member(self) -> np.ndarray:
        """bool per agent: in a bloc."""
        return self.bloc != NO_BLOC


def form_blocs(
    risk_tolerance: np.ndarray, is_whale: np.ndarray, *, span: float, size: int
) -> tuple[np.ndarray, int]:
    """Bloc id per agent (int32, ``NO_BLOC`` outside) and the number of blocs.

    The whales, ordered by risk tolerance (equal ones by id), fall into cells
    ``floor(rho / span)``; each cell is cut, in that order, into groups of ``size`` whales (0: one
    group per cell), the last one taking the rest. Groups of two or more whales are blocs,
    numbered in that order; a group of one whale is an independent whale.
    """
    n = len(risk_tolerance)
    bloc = np.full(n, NO_BLOC, dtype=np.int32)
    whales = np.flatnonzero(is_whale)
    if len(whales) < 2 or size == 1:
        return bloc, 0
    rho = risk_tolerance[whales]
    order = np.argsort(rho, kind="stable")  # whales are in id order, so ties go by id
    ranked = whales[order]
    cell = np.floor(rho[order] / span)
    new_cell = np.r_[True, cell[1:] != cell[:-1]]
    first = new_cell
    if size > 0:
        starts = np.flatnonzero(new_cell)
        rank = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
        first = new_cell | (rank % size == 0)
    group_id = np.cumsum(first) - 1
    group_size = np.bincount(group_id)
    in_bloc = group_size[group_id] >= 2
    # blocs are the groups of two or more, renumbered 0, 1, ... in preference order
    is_bloc_group = group_size >= 2
    renumber = np.cumsum(is_bloc_group) - 1
    bloc[ranked[in_bloc]] = renumber[group_id[in_bloc]].astype(np.int32)
    return bloc, int(is_bloc_group.sum())


def bloc_leaders(blocs: Blocs, stake: np.ndarray, voting: np.ndarray) -> np.ndarray:
    """Agent id of each bloc's leader: its voting member with the largest stake (equal stakes:
    the lowest id); -1 for a bloc without a voting member."""
    leader = np.full(blocs.count, -1, dtype=np.int64)
    ids = np.flatnonzero(blocs.member & voting)
    if len(ids) == 0:
        return leader
    b = blocs.bloc[ids]
    order = np.lexsort((ids, -stake[ids], b))
    first = np.r_[True, b[order][1:] != b[order][:-1]]
    leader[b[order][first]] = ids[order][first]
    return leader


def align_votes(
    blocs: Blocs, stake: np.ndarray, voting: np.ndarray, votes: np.ndarray
) -> np.ndarray:
    """Round 0: every voting member casts its bloc's vote, decided from the members' own votes.

    ``stake_majority``: yes when the voting members' yes stake exceeds their no stake, no when it
    falls short, the leader's vote on a tie; ``leader``: the leader's vote. Abstaining members and
    everyone else keep their entries.
    """
    out = votes.copy()
    members = np.flatnonzero(blocs.member & voting)
    if len(members) == 0:
        return out
    b = blocs.bloc[members]
    leader = bloc_leaders(blocs, stake, voting)
    led = leader >= 0
    decided = np.zeros(blocs.count, dtype=bool)
    decided[led] = votes[leader[led]]
    if blocs.rule is CoalitionRule.STAKE_MAJORITY:
        s = stake[members]
        yes = np.bincount(b, weights=np.where(votes[members], s, 0.0), minlength=blocs.count)
        no = np.bincount(b, weights=np.where(votes[members], 0.0, s), minlength=blocs.count)
        decided = np.where(yes != no, yes > no, decided)  # exact: stakes are quantum multiples
    out[members] = decided[b]
    return out


def round_zero_blocs(
    params: SimParams,
    risk_tolerance: np.ndarray,
    is_whale: np.ndarray,
    stake: np.ndarray,
    voting: np.ndarray,
    votes: np.ndarray,
) -> tuple[Blocs | None, np.ndarray]:
    """The run's blocs (None when coalitions are off) and its round-0 votes with blocs aligned."""
    if params.coalition_rule is CoalitionRule.NONE:
        return None, votes
    bloc, count = form_blocs(
        risk_tolerance, is_whale, span=params.coalition_span, size=params.coalition_size
    )
    blocs = Blocs(bloc, count, params.coalition_rule, params.coalition_revision)
    return blocs, align_votes(blocs, stake, voting, votes)


class BlocRounds:
    """The blocs' decisions in the influence rounds, among the agents taking part in them.

    Members never flip on their own: each round, a member that the threshold rule would flip is
    leaving its bloc's vote, and :meth:`switching` says which blocs change side: the bloc's rule
    applied to what its members would vote (``stake_majority``: the leaving members hold more
    stake than the others, or as much and the leader is leaving; ``leader``: the leader is
    leaving). With revision ``never`` no bloc changes side.
    :meth:`flips` gives the members of the blocs that do (all of them flip together) and counts
    the switch. Every agent here takes part in the rounds, so every member present is a voter.
    """

    def __init__(self, blocs: Blocs, stake: np.ndarray) -> None:
        self.rule = blocs.rule
        self.revising = blocs.revision is CoalitionRevision.EVERY_ROUND
        self.count = blocs.count
        ids = np.flatnonzero(blocs.member)
        of = blocs.bloc[ids]
        order = np.argsort(of, kind="stable")  # grouped by bloc, in id order within a bloc
        self.ids, self.of = ids[order], of[order]
        self.bounds = np.searchsorted(self.of, np.arange(self.count + 1))
        self.stake = stake[self.ids]
        self.total = np.bincount(self.of, weights=self.stake, minlength=self.count)
        leader = bloc_leaders(blocs, stake, np.ones(len(stake), dtype=bool))
        self.led = leader >= 0
        position = np.zeros(len(stake), dtype=np.int64)
        position[self.ids] = np.arange(len(self.ids))
        self.leader_at = position[np.where(self.led, leader, 0)]
        """Position in ``ids`` of each bloc's leader (0 for a bloc without members here)."""
        self.switches = np.zeros(self.count, dtype=np.int32)

    def switching(self, would: np.ndarray) -> np.ndarray:
        """Blocs (ascending) whose rule says to change side; clears the members from ``would``."""
        leaving = would[self.ids]
        would[self.ids] = False
        if not self.revising or len(self.ids) == 0:  # no member votes: no bloc to switch
            return np.empty(0, dtype=np.int64)
        switch = self.led & leaving[self.leader_at]
        if self.rule is CoalitionRule.STAKE_MAJORITY:
            out = np.bincount(self.of, weights=np.where(leaving, self.stake, 0.0),
                              minlength=self.count)  # fmt: skip
            stay = self.total - out  # exact: stakes are quantum multiples
            switch = np.where(out != stay, out > stay, switch)
        return np.flatnonzero(switch)

    def flips(self, switched: np.ndarray) -> np.ndarray:
        """The members (agent ids, ascending) of the blocs ``switched``; counts their switches."""
        self.switches[switched] += 1
        starts, ends = self.bounds[switched], self.bounds[switched + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return np.sort(self.ids[np.arange(int(lengths.sum())) + offsets])


def signal_sources(
    toward: sparse.csr_array, whale_bloc: np.ndarray, whale_stake: np.ndarray
) -> tuple[sparse.csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """The whale signal with blocs: each bloc counts once, with the stake of all its voters.

    ``toward`` has a row per whale (weighted by its stake) and a column per follower;
    ``whale_bloc`` and ``whale_stake`` are per whale row. A source is a bloc or an independent
    whale. Returns the source-by-follower matrix (an entry, the source's stake, where any of its
    whales is next to the follower), each whale row's source, each source's first whale row (its
    vote is the source's) and each source's stake.
    """
    independent = whale_bloc < 0
    key = np.where(independent, whale_bloc.max(initial=-1) + 1 + np.arange(len(whale_bloc)),
                   whale_bloc)  # fmt: skip
    _, first, source = np.unique(key, return_index=True, return_inverse=True)
    weight = np.bincount(source, weights=whale_stake, minlength=len(first))
    rows = np.repeat(source, np.diff(toward.indptr))
    pattern = sparse.coo_array(
        (np.ones(len(rows)), (rows, toward.indices)), shape=(len(first), toward.shape[1])
    ).tocsr()
    pattern.sum_duplicates()
    pattern.sort_indices()
    entries = np.repeat(weight, np.diff(pattern.indptr))
    collapsed = sparse.csr_array((entries, pattern.indices, pattern.indptr), shape=pattern.shape)
    return collapsed, source, first, weight


@dataclass(frozen=True)
class LargestUnit:
    """The whale bloc, or independent whale, with the largest stake cast."""

    members: int
    """Whales in it (1: an independent whale)."""
    voters: int
    """Its members that voted."""
    stake_cast: float
    """Stake of its voting members."""
    initial_vote: bool
    """Its round-0 vote (a bloc's vote, or the independent whale's own)."""
    final_vote: bool
    switches: int
    """Influence rounds in which it changed its vote."""


@dataclass(frozen=True)
class CoalitionSummary:
    """What a run's whale coalitions did: the content of a run record's ``coalitions`` block."""

    rule: CoalitionRule
    blocs: int
    members: int
    """Whales in blocs."""
    voting_blocs: int
    """Blocs with at least one voting member."""
    overruled: int
    """Voting members whose own round-0 vote (utility > 0) differs from their bloc's vote."""
    overruled_stake: float
    switches: int
    """Bloc switches over the influence rounds (a bloc changing side in a round counts once)."""
    largest: LargestUnit | None
    """None when no whale voted."""


def summarize(
    blocs: Blocs,
    *,
    is_whale: np.ndarray,
    stake: np.ndarray,
    voting: np.ndarray,
    utility: np.ndarray,
    initial_votes: np.ndarray,
    final_votes: np.ndarray,
    flip_count: np.ndarray,
    bloc_switches: np.ndarray,
) -> CoalitionSummary:
    """A run's coalition summary from its arrays.

    The largest unit is the bloc (over its voting members) or independent voting whale with the
    most stake cast; equal stakes: blocs in bloc order, then independent whales in id order.
    """
    member = blocs.member
    voting_member = member & voting
    b = blocs.bloc[voting_member]
    overruled = voting_member & ((utility > 0.0) != initial_votes)
    cast = np.bincount(b, weights=stake[voting_member], minlength=blocs.count)
    voters = np.bincount(b, minlength=blocs.count)
    largest: LargestUnit | None = None
    alone = np.flatnonzero(is_whale & ~member & voting)
    best_bloc = int(np.argmax(cast)) if blocs.count and voters.max() > 0 else -1
    best_alone = int(alone[np.argmax(stake[alone])]) if len(alone) else -1
    if best_bloc >= 0 and (best_alone < 0 or cast[best_bloc] >= stake[best_alone]):
        first = int(np.flatnonzero(voting_member & (blocs.bloc == best_bloc))[0])
        largest = LargestUnit(
            members=int(np.count_nonzero(blocs.bloc == best_bloc)),
            voters=int(voters[best_bloc]),
            stake_cast=float(cast[best_bloc]),
            initial_vote=bool(initial_votes[first]),
            final_vote=bool(final_votes[first]),
            switches=int(bloc_switches[best_bloc]),
        )
    elif best_alone >= 0:
        largest = LargestUnit(
            members=1,
            voters=1,
            stake_cast=float(stake[best_alone]),
            initial_vote=bool(initial_votes[best_alone]),
            final_vote=bool(final_votes[best_alone]),
            switches=int(flip_count[best_alone]),
        )
    return CoalitionSummary(
        rule=blocs.rule,
        blocs=blocs.count,
        members=int(np.count_nonzero(member)),
        voting_blocs=int(np.count_nonzero(voters)),
        overruled=int(np.count_nonzero(overruled)),
        overruled_stake=float(stake[overruled].sum()),
        switches=int(bloc_switches.sum()),
        largest=largest,
    )


def summarize_run(result: RunResult) -> CoalitionSummary:
    """The coalition summary of a run with coalitions on (``result.blocs`` set)."""
    a, f = result.agents, result.influence
    assert result.blocs is not None and f.bloc_switches is not None
    return summarize(
        result.blocs,
        is_whale=a.is_whale,
        stake=a.stake,
        voting=result.participated,
        utility=result.utility,
        initial_votes=result.initial_votes,
        final_votes=f.final_votes,
        flip_count=f.flip_count,
        bloc_switches=f.bloc_switches,
    )

"""The engine: one run is a pure function of (SimParams, seed).

A run draws, from one generator and in this order, the proposal, the agents and the influence
network (under rules v0.5 then who votes); round 0 is each agent's own vote from an
archetype-specific utility; then up to ``cascade_rounds`` synchronous influence rounds, each
computed from the previous round's votes with the shared sparse kernel
:func:`simulator.cascade.neighbour_sum`. Under v0.5 only the agents who vote take part in the
rounds: an abstainer shows no vote, so the rounds run on the network among voters.
docs/model.md states every rule with equations; :mod:`simulator.reference` restates them in plain
Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from simulator.agents import CONTRARIAN, WHALE, Agents, draw_agents
from simulator.cascade import as_pattern, count_dtype, need_counts, neighbour_sum
from simulator.errors import ParameterError
from simulator.network import build_network, check_size
from simulator.params import ARCHETYPES, Archetype, RuleSet, SimParams
from simulator.population import (
    draw_participation,
    draw_population,
    population_utilities,
    resolve_population,
)
from simulator.proposal import Proposal, draw_proposal, draw_vetted_proposal
from simulator.seeding import make_rng

__all__ = [
    "OPTIMIZER_HURDLE",
    "Influence",
    "RunResult",
    "influence_among_voters",
    "initial_votes",
    "run_influence",
    "simulate",
    "utilities",
    "whale_followers",
]

OPTIMIZER_HURDLE = 0.25
"""Risk-adjusted yield an optimizer (also retail, contrarian) needs before it votes yes."""


def utilities(agents: Agents, proposal: Proposal) -> np.ndarray:
    """Round-0 utility of the proposal for every agent; the agent votes yes when it is > 0.

    Every archetype's formula is evaluated for all agents (cheaper than gathering per archetype)
    and each agent takes its own; the operation order is docs/model.md's, term for term.
    """
    r, y, c = proposal.risk, proposal.yield_, proposal.complexity
    rho = agents.risk_tolerance
    optimizer = y - (1.0 - rho) * r - OPTIMIZER_HURDLE
    by_archetype = {
        Archetype.OPTIMIZER: optimizer,
        Archetype.REPUTATION_SEEKER: (proposal.appeal - 0.5) + (1.0 - rho) * (0.5 - c),
        Archetype.CONTRARIAN: -optimizer,
        Archetype.INSTITUTIONAL: y - (1.0 - rho) * r - 0.5 * c,
        Archetype.RETAIL: optimizer + agents.noise,
        Archetype.WHALE: (y - 0.5) + (rho - 0.5) * r,
    }
    return np.choose(agents.archetype, [by_archetype[a] for a in ARCHETYPES])


def initial_votes(agents: Agents, proposal: Proposal) -> np.ndarray:
    """Round-0 votes: yes (True) exactly when the agent's utility is strictly positive."""
    return utilities(agents, proposal) > 0.0


def whale_followers(
    degree_to_whales: np.ndarray, agents: Agents, conformity_threshold: float
) -> np.ndarray:
    """Agents governed by the whale signal: conformity >= threshold, a whale neighbour, and
    neither a whale nor a contrarian."""
    return (
        (agents.conformity >= conformity_threshold)
        & (degree_to_whales > 0)
        & (agents.archetype != WHALE)
        & (agents.archetype != CONTRARIAN)
    )


@dataclass(frozen=True, eq=False)
class Influence:
    """Outcome of the influence phase."""

    final_votes: np.ndarray
    flip_count: np.ndarray
    """int32 flips per agent."""
    flip_round: np.ndarray
    """int32 round of the agent's first flip; 0 = never flipped."""
    flips_per_round: np.ndarray
    """int64 flip events in each round run; a trailing 0 means the votes converged."""
    yes_to_no: int
    no_to_yes: int
    whale_signal_followers: int
    """Agent-rounds in which a follower changed its vote to the whale majority."""

    @property
    def rounds_run(self) -> int:
        """Influence rounds run (a final round without flips included)."""
        return len(self.flips_per_round)


class _WhaleSignal:
    """Which followers the stake-weighted whale majority of their neighbours would flip.

    Holds, for the follower rows only, the adjacency restricted to whale columns and weighted by
    the whale's stake; the yes-stake each follower sees is one product with the vote vector (the
    shared kernel), recomputed only after a round in which some whale flipped.
    """

    def __init__(self, a: sparse.csr_array, agents: Agents, follower: np.ndarray) -> None:
        self.rows = np.flatnonzero(follower)
        sub = a[self.rows]
        keep = agents.is_whale[sub.indices]
        ends = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        indices = sub.indices[keep]
        self.adjacency = sparse.csr_array(
            (agents.stake[indices], indices, ends[sub.indptr].astype(sub.indptr.dtype)),
            shape=(len(self.rows), a.shape[1]),
        )
        self.seen_stake = neighbour_sum(self.adjacency, np.ones(a.shape[1]))
        self.is_whale = agents.is_whale
        self.yes_wins = self.no_wins = np.zeros(len(self.rows), dtype=bool)
        self.stale = True

    def flips(self, votes: np.ndarray) -> np.ndarray:
        """Followers whose vote differs from a strict whale majority (ties: keep the vote)."""
        if self.stale:
            yes_stake = neighbour_sum(self.adjacency, votes.astype(np.float64))
            no_stake = self.seen_stake - yes_stake  # exact: stakes are multiples of a quantum
            self.yes_wins = yes_stake > no_stake
            self.no_wins = no_stake > yes_stake
            self.stale = False
        follow = np.zeros(len(votes), dtype=bool)
        follow[self.rows] = np.where(votes[self.rows], self.no_wins, self.yes_wins)
        return follow

    def update(self, flip: np.ndarray) -> None:
        """Note this round's flips; the signal changes only if some whale flipped."""
        self.stale = self.stale or bool((flip & self.is_whale).any())


def run_influence(
    adjacency: sparse.sparray | sparse.spmatrix,
    agents: Agents,
    votes: np.ndarray,
    *,
    conformity_threshold: float,
    max_rounds: int,
    check: bool = True,
) -> Influence:
    """Run influence rounds 1..max_rounds from round-0 ``votes``; stop after a round without flips.

    Each round, from the previous round's votes (synchronous update):

    * a whale follower (see :func:`whale_followers`) takes the side with the larger stake among
      its whale neighbours; on an exact tie it keeps its vote;
    * a contrarian flips when the share of its neighbours that vote as it does is > its threshold;
    * every other agent (whales included) flips when the share of its neighbours voting the other
      way is > its threshold.

    Isolated agents never flip. ``check`` validates the adjacency (see ``as_pattern``).
    """
    a = as_pattern(adjacency, check=check)
    n = a.shape[0]
    votes = np.asarray(votes)
    if len(agents) != n or votes.shape != (n,) or votes.dtype != np.bool_:
        raise ParameterError(
            f"influence: {n} nodes, {len(agents)} agents and votes {votes.dtype} {votes.shape} "
            "must agree (votes a bool array)"
        )
    if max_rounds < 0:
        raise ParameterError(f"cascade_rounds: {max_rounds} is outside [0, inf)")
    degree = np.diff(a.indptr)
    dtype = count_dtype(degree)
    # An agent flips when its tested count (neighbours voting otherwise; for a contrarian,
    # neighbours voting as it does) reaches need. In terms of yes-neighbours that is
    # yes >= need when the tested count is the yes count, else yes <= degree - need.
    need = need_counts(degree, agents.threshold, strict=True).astype(dtype)
    need_low = degree.astype(dtype) - need
    contrarian = agents.archetype == CONTRARIAN
    whales_seen = neighbour_sum(a, agents.is_whale.astype(dtype))
    follower = whale_followers(whales_seen, agents, conformity_threshold)
    by_threshold = ~follower
    signal = _WhaleSignal(a, agents, follower) if follower.any() else None

    flip_count = np.zeros(n, dtype=np.int32)
    flip_round = np.zeros(n, dtype=np.int32)
    per_round: list[int] = []
    yes_to_no = no_to_yes = followed = 0
    for t in range(1, max_rounds + 1):
        yes = neighbour_sum(a, votes.astype(dtype))
        tests_yes = votes == contrarian
        flip = np.where(tests_yes, yes >= need, yes <= need_low)
        flip &= by_threshold
        if signal is not None:
            follow = signal.flips(votes)
            followed += int(np.count_nonzero(follow))
            flip |= follow
        n_flips = int(np.count_nonzero(flip))
        per_round.append(n_flips)
        if n_flips == 0:
            break
        down = int(np.count_nonzero(flip & votes))
        yes_to_no += down
        no_to_yes += n_flips - down
        flip_count += flip
        flip_round[flip & (flip_round == 0)] = t
        votes = votes ^ flip
        if signal is not None:
            signal.update(flip)
    return Influence(
        final_votes=votes,
        flip_count=flip_count,
        flip_round=flip_round,
        flips_per_round=np.asarray(per_round, dtype=np.int64),
        yes_to_no=yes_to_no,
        no_to_yes=no_to_yes,
        whale_signal_followers=followed,
    )


@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything one run produced (arrays indexed by agent)."""

    params: SimParams
    seed: int
    agents: Agents
    proposal: Proposal
    degree: np.ndarray
    initial_votes: np.ndarray
    influence: Influence
    """Final votes, flips and rounds run."""
    participated: np.ndarray
    """bool: the agent cast its vote (always True under rules v0.4)."""
    utility: np.ndarray
    """float64 round-0 utility of the proposal; ``initial_votes`` is ``utility > 0``."""


def influence_among_voters(
    adjacency: sparse.csr_array,
    agents: Agents,
    votes: np.ndarray,
    participated: np.ndarray,
    *,
    conformity_threshold: float,
    max_rounds: int,
) -> Influence:
    """Influence rounds on the network among voters; abstainers keep their entries and never flip.

    An abstainer shows no vote, so it counts neither as a yes nor as a no neighbour (nor in a
    voter's degree): the rounds run on the subgraph induced by the voters, and the result is
    spread back over all agents (an abstainer's final vote is its round-0 vote, unflipped).
    """
    if participated.all():
        return run_influence(
            adjacency,
            agents,
            votes,
            conformity_threshold=conformity_threshold,
            max_rounds=max_rounds,
            check=False,
        )
    voters = np.flatnonzero(participated)
    inner = run_influence(
        adjacency[voters][:, voters],
        agents.take(voters),
        votes[voters],
        conformity_threshold=conformity_threshold,
        max_rounds=max_rounds,
        check=False,
    )
    final = votes.copy()
    final[voters] = inner.final_votes
    flip_count = np.zeros(len(votes), dtype=np.int32)
    flip_count[voters] = inner.flip_count
    flip_round = np.zeros(len(votes), dtype=np.int32)
    flip_round[voters] = inner.flip_round
    return Influence(
        final_votes=final,
        flip_count=flip_count,
        flip_round=flip_round,
        flips_per_round=inner.flips_per_round,
        yes_to_no=inner.yes_to_no,
        no_to_yes=inner.no_to_yes,
        whale_signal_followers=inner.whale_signal_followers,
    )


def simulate(params: SimParams, seed: int) -> RunResult:
    """One run: proposal, agents, network, round-0 votes, influence rounds (in that draw order).

    Under rules v0.5 the proposal and the population are the v0.5 ones
    (:mod:`simulator.population`), and after the network one uniform per agent decides who votes.
    """
    if seed < 0:
        raise ParameterError(f"seed: {seed} is outside [0, inf)")
    check_size(params)
    rng = make_rng(seed)
    if params.rules is RuleSet.V0_5:
        population = resolve_population(params)
        proposal = draw_vetted_proposal(rng, population.favourability)
        agents = draw_population(params, population, rng)
        adjacency = build_network(params, rng)
        participated = draw_participation(agents, rng)
        utility = population_utilities(agents, proposal)
    else:
        proposal = draw_proposal(rng)
        agents = draw_agents(params, rng)
        adjacency = build_network(params, rng)
        participated = np.ones(params.agents, dtype=bool)
        utility = utilities(agents, proposal)
    votes0 = utility > 0.0
    influence = influence_among_voters(
        adjacency,
        agents,
        votes0,
        participated,
        conformity_threshold=params.conformity_threshold,
        max_rounds=params.cascade_rounds,
    )
    return RunResult(
        params=params,
        seed=seed,
        agents=agents,
        proposal=proposal,
        degree=np.diff(adjacency.indptr).astype(np.int32),
        initial_votes=votes0,
        influence=influence,
        participated=participated,
        utility=utility,
    )

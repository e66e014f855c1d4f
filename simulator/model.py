"""The engine: one run is a pure function of (SimParams, seed).

A run draws, from one generator and in this order, the proposal, the agents and the influence
network (under rules v0.5 then who votes); round 0 is each agent's own vote from an
archetype-specific utility; then up to ``cascade_rounds`` influence rounds, each computed from the
previous round's votes with the shared sparse kernel :func:`simulator.cascade.neighbour_sum`, under
the run's rule set (v0.4 or v0.5) and update schedule (v0.5: synchronous, or a random fraction of
the agents that would flip, drawn from the same generator after who votes). Under v0.5 only the
agents who vote take part in the rounds: an abstainer shows no vote, so the rounds run on the
network among voters. docs/model.md states every rule with equations; :mod:`simulator.reference`
restates them in plain Python.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

import numpy as np
from scipy import sparse

from simulator.agents import CONTRARIAN, WHALE, Agents, draw_agents
from simulator.attack import Attack, run_attack
from simulator.cascade import as_pattern, count_dtype, need_counts, neighbour_sum
from simulator.cascade_tree import CascadeForest, cascade_forest
from simulator.coalition import SCENARIO as COALITIONS
from simulator.coalition import BlocRounds, Blocs, round_zero_blocs, signal_sources
from simulator.delegation import Delegation, delegate, delegation_on
from simulator.errors import ParameterError
from simulator.mev import MevRun, draw_extractable_value, mev_on
from simulator.network import (
    build_network,
    check_network_size,
    induced_subgraph,
    kept_entries,
)
from simulator.params import (
    ARCHETYPES,
    DEFAULT_UPDATE_FRACTION,
    Archetype,
    AttackTarget,
    RuleSet,
    Schedule,
    SimParams,
)
from simulator.population import (
    draw_participation,
    draw_population,
    participation_draws,
    population_utilities,
    resolve_population,
)
from simulator.proposal import Proposal, draw_proposal, draw_vetted_proposal
from simulator.seeding import make_rng, scenario_rng
from simulator.trace import Trace, TraceBuilder

__all__ = [
    "OPTIMIZER_HURDLE",
    "Ending",
    "Influence",
    "RunResult",
    "effective_thresholds",
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
    and each agent takes its own; the operation order is docs/model.md's, term for term. The
    formulas share their arrays where they can (at 10^7 agents each is 80 MB).
    """
    r, y, c = proposal.risk, proposal.yield_, proposal.complexity
    rho = agents.risk_tolerance
    code = agents.archetype
    rest = 1.0 - rho
    # optimizer: y - (1 - rho) r - hurdle; institutional: y - (1 - rho) r - c / 2
    institutional = np.multiply(rest, r)
    np.subtract(y, institutional, out=institutional)
    utility = institutional - OPTIMIZER_HURDLE
    np.subtract(institutional, 0.5 * c, out=institutional)
    # reputation seeker: (appeal - 1/2) + (1 - rho)(1/2 - c)
    reputation = np.multiply(rest, 0.5 - c, out=rest)
    np.add(proposal.appeal - 0.5, reputation, out=reputation)
    # whale: (y - 1/2) + (rho - 1/2) r
    whale = rho - 0.5
    whale *= r
    np.add(y - 0.5, whale, out=whale)
    # each agent takes its archetype's value; ``utility`` holds the optimizer's so far
    kind = {a: code == ARCHETYPES.index(a) for a in ARCHETYPES}
    np.negative(utility, out=utility, where=kind[Archetype.CONTRARIAN])
    np.add(utility, agents.noise, out=utility, where=kind[Archetype.RETAIL])
    np.copyto(utility, reputation, where=kind[Archetype.REPUTATION_SEEKER])
    np.copyto(utility, institutional, where=kind[Archetype.INSTITUTIONAL])
    np.copyto(utility, whale, where=kind[Archetype.WHALE])
    return utility


def initial_votes(agents: Agents, proposal: Proposal) -> np.ndarray:
    """Round-0 votes: yes (True) exactly when the agent's utility is strictly positive."""
    return utilities(agents, proposal) > 0.0


def whale_followers(
    degree_to_whales: np.ndarray, agents: Agents, conformity_threshold: float
) -> np.ndarray:
    """Agents governed by the whale signal: conformity >= threshold, a whale neighbour, and
    neither a whale nor a contrarian. ``degree_to_whales`` counts each agent's whale neighbours
    (or marks the agents that have one)."""
    return (
        (agents.conformity >= conformity_threshold)
        & (degree_to_whales > 0)
        & (agents.archetype != WHALE)
        & (agents.archetype != CONTRARIAN)
    )


class Ending(StrEnum):
    """How the influence phase ended."""

    CONVERGED = "converged"
    """No agent would flip: the votes are a fixed point."""
    CYCLE = "cycle"
    """Synchronous rules v0.5: the votes returned to those of two rounds before (period 2)."""
    ROUND_CAP = "round_cap"
    """``cascade_rounds`` rounds ran and neither of the above was seen."""


def effective_thresholds(thresholds: np.ndarray, rules: RuleSet) -> np.ndarray:
    """Thresholds the flip rule uses: theta under v0.4, max(theta, 1/2) under v0.5."""
    if rules is RuleSet.V0_4:
        return thresholds
    return np.maximum(thresholds, 0.5)


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
    whale_follows: np.ndarray
    """int32 per agent: rounds in which it changed its vote to the whale majority."""
    ending: Ending
    period: int
    """Period of the final state: 1 converged (a fixed point), 2 cycle, 0 round cap."""
    trace: Trace | None = None
    """Every flip (agent, round, previous vote, cause) when the run collected a trace."""
    bloc_switches: np.ndarray | None = None
    """int32 per bloc: rounds in which the bloc changed its vote (whale coalitions); else None."""

    @property
    def rounds_run(self) -> int:
        """Influence rounds run (a final round without flips included)."""
        return len(self.flips_per_round)

    @property
    def whale_signal_followers(self) -> int:
        """Agent-rounds in which a follower changed its vote to the whale majority."""
        return int(self.whale_follows.sum())

    @property
    def converged_round(self) -> int | None:
        """Converged runs: the last round that changed a vote (0: none did); else None."""
        if self.ending is not Ending.CONVERGED:
            return None
        changed = np.flatnonzero(self.flips_per_round)
        return int(changed[-1]) + 1 if len(changed) else 0


def _whale_rows(a: sparse.csr_array, agents: Agents) -> sparse.csr_array:
    """The whales' rows of the adjacency, in id order.

    The adjacency is symmetric, so these rows also hold the whale columns: agent ``i`` has as
    many whale neighbours as it has entries in them.
    """
    return a[np.flatnonzero(agents.is_whale)]


class _WhaleSignal:
    """Which followers the stake-weighted whale majority of their neighbours would flip.

    Holds, for the follower rows only, the adjacency restricted to whale columns (both renumbered
    in id order) and weighted by the whale's stake; the yes-stake each follower sees is one
    product with the whales' votes (the shared kernel). After a round in which whales flipped,
    each flipped whale's stake moves between its followers' yes and no sides instead: exact,
    since stakes are multiples of a quantum, so the stakes are those the product would give.
    """

    def __init__(
        self,
        whale_rows: sparse.csr_array,
        agents: Agents,
        follower: np.ndarray,
        blocs: Blocs | None = None,
    ) -> None:
        self.rows = np.flatnonzero(follower)
        self.whales = np.flatnonzero(agents.is_whale)
        self.all_whales = self.whales
        self.is_whale = agents.is_whale
        self.stake = agents.stake[self.whales]
        # whale -> follower entries, followers numbered by their position in ``rows``
        kept, indptr = kept_entries(whale_rows.indptr, follower[whale_rows.indices])
        position = np.zeros(len(follower), dtype=whale_rows.indices.dtype)
        position[self.rows] = np.arange(len(self.rows), dtype=position.dtype)
        self.toward = sparse.csr_array(
            (np.repeat(self.stake, np.diff(indptr)), position[whale_rows.indices[kept]], indptr),
            shape=(len(self.whales), len(self.rows)),
        )
        del position
        self.source: np.ndarray | None = None
        if blocs is not None:  # a bloc is one source, weighted by all its voters' stake
            self.toward, self.source, first, self.stake = signal_sources(
                self.toward, blocs.bloc[self.whales], self.stake
            )
            self.whales = self.whales[first]
        # transposed: row f lists its whales in increasing order
        self.adjacency = self.toward.T.tocsr()
        self.seen_stake = neighbour_sum(self.adjacency, np.ones(len(self.whales)))
        self.yes_stake: np.ndarray | None = None
        self.flipped: list[np.ndarray] = []  # whales (positions) flipped since yes_stake was set
        self.yes_wins = self.no_wins = np.zeros(len(self.rows), dtype=bool)
        self.stale = True

    def follows(self, votes: np.ndarray) -> np.ndarray:
        """Followers (agent ids, ascending) whose vote differs from a strict whale majority."""
        if self.yes_stake is None:
            self.yes_stake = neighbour_sum(self.adjacency, votes[self.whales].astype(np.float64))
        elif self.flipped:
            flipped = np.concatenate(self.flipped)
            self.flipped.clear()
            moved = np.where(votes[self.whales[flipped]], self.stake[flipped], -self.stake[flipped])
            entries, lengths = _row_entries(self.toward, flipped)
            np.add.at(self.yes_stake, self.toward.indices[entries], np.repeat(moved, lengths))
        if self.stale:
            no_stake = self.seen_stake - self.yes_stake  # exact: stakes are multiples of a quantum
            self.yes_wins = self.yes_stake > no_stake
            self.no_wins = no_stake > self.yes_stake
            self.stale = False
        return self.rows[np.where(votes[self.rows], self.no_wins, self.yes_wins)]

    def update(self, flipped: np.ndarray) -> None:
        """Note this round's flips (agent ids); the signal changes only if some whale flipped."""
        whales = flipped[self.is_whale[flipped]]
        if len(whales):
            moved = np.searchsorted(self.all_whales, whales)
            if self.source is not None:  # a bloc's voters flip together: its stake moves once
                moved = np.unique(self.source[moved])
            self.flipped.append(moved)
            self.stale = True


def _row_entries(a: sparse.csr_array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a.indices`` of the entries of ``rows`` (row by row), and each row's length."""
    starts = a.indptr[rows]
    lengths = a.indptr[rows + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(len(offsets)) + offsets, lengths


def _shift_counts(
    a: sparse.csr_array,
    yes: np.ndarray,
    flipped: np.ndarray,
    change: np.ndarray,
    votes: np.ndarray,
    dtype: type[np.floating],
) -> None:
    """Update the yes-neighbour counts after ``flipped`` changed their votes by ``change`` (+-1).

    Adds each change to the flipped agents' neighbours (the adjacency is symmetric, so row i
    lists the agents that count i). When the flips touch a large part of the graph, one product
    with the new votes is cheaper; both give the same integers.
    """
    if int((a.indptr[flipped + 1] - a.indptr[flipped]).sum()) > a.nnz // 4:
        yes[:] = neighbour_sum(a, votes.astype(dtype))
        return
    entries, lengths = _row_entries(a, flipped)
    np.add.at(yes, a.indices[entries], np.repeat(change, lengths))


def run_influence(
    adjacency: sparse.sparray | sparse.spmatrix,
    agents: Agents,
    votes: np.ndarray,
    *,
    conformity_threshold: float,
    max_rounds: int,
    rules: RuleSet = RuleSet.V0_4,
    schedule: Schedule = Schedule.SYNCHRONOUS,
    update_fraction: float = DEFAULT_UPDATE_FRACTION,
    rng: np.random.Generator | None = None,
    check: bool = True,
    trace: bool = False,
    blocs: Blocs | None = None,
    bloc_rng: np.random.Generator | None = None,
) -> Influence:
    """Run influence rounds 1..max_rounds from round-0 ``votes`` until the cascade ends.

    Each round, from the previous round's votes, the agents that would flip are:

    * a whale follower (see :func:`whale_followers`) whose vote differs from the side with the
      larger stake among its whale neighbours (on an exact tie it keeps its vote);
    * a contrarian when the share of its neighbours that vote as it does is > its threshold;
    * every other agent (whales included) when the share of its neighbours voting the other way
      is > its threshold.

    Under rules v0.5 the threshold is max(theta, 1/2) (:func:`effective_thresholds`), so nobody
    flips into its local minority, and a contrarian flips at most once. Schedule ``synchronous``:
    all of them flip; ``random_fraction`` (v0.5): each flips when its draw from ``rng`` (one
    ``rng.random(k)`` call per round for the k agents that would flip, in agent order) is
    < ``update_fraction``. The run stops after a round
    in which nobody would flip (converged) and, under synchronous v0.5, after a round whose flips
    repeat the previous round's (a 2-cycle). Isolated agents never flip. ``check`` validates the
    adjacency (see ``as_pattern``). ``trace`` also returns every flip (:mod:`simulator.trace`):
    a whale follower's flip is caused by the whale signal, every other flip by the neighbours.

    ``blocs`` (whale coalitions, :mod:`simulator.coalition`): bloc members never flip on their
    own; a bloc whose rule says so switches, all its members together (under ``random_fraction``
    with one draw per bloc from ``bloc_rng``), and followers see each bloc once, with its stake.
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
    randomised = schedule is Schedule.RANDOM_FRACTION
    if rules is RuleSet.V0_4 and randomised:
        raise ParameterError("schedule: random_fraction needs rules v0.5")
    if randomised and rng is None:
        raise ParameterError("schedule: random_fraction needs a generator (rng)")
    detect_cycle = rules is RuleSet.V0_5 and not randomised
    degree = np.diff(a.indptr)
    dtype = count_dtype(degree)
    # Counts are int32 from here on. An agent whose tested count (neighbours voting otherwise;
    # for a contrarian, neighbours voting as it does) reaches need would flip; in yes-neighbours,
    # yes >= need when the tested count is the yes count, else yes <= degree - need. Each agent
    # keeps the one bound its current vote makes live in ``hi`` or ``lo`` (the other is off).
    theta = effective_thresholds(agents.threshold, rules)
    need = need_counts(degree, theta, strict=True).astype(np.int32)
    need_low = degree.astype(np.int32) - need
    off_hi = degree.astype(np.int32) + 1
    contrarian = agents.archetype == CONTRARIAN
    whale_rows = _whale_rows(a, agents)
    next_to_whale = np.zeros(n, dtype=bool)
    next_to_whale[whale_rows.indices] = True
    follower = whale_followers(next_to_whale, agents, conformity_threshold)
    by_threshold = ~follower
    signal = _WhaleSignal(whale_rows, agents, follower, blocs) if follower.any() else None
    del whale_rows
    # v0.5: a contrarian dissents once; after its flip it drops out of the threshold rule
    committing = rules is RuleSet.V0_5 and bool(contrarian.any())
    together = None if blocs is None or blocs.count == 0 else BlocRounds(blocs, agents.stake)
    if together is not None and randomised and bloc_rng is None:
        raise ParameterError("schedule: random_fraction with blocs needs a generator (bloc_rng)")

    votes = votes.copy()
    yes = neighbour_sum(a, votes.astype(dtype)).astype(np.int32)
    hi = np.empty(n, dtype=np.int32)
    lo = np.empty(n, dtype=np.int32)

    def set_bounds(idx: np.ndarray | slice) -> None:
        tests_yes = votes[idx] == contrarian[idx]
        live = by_threshold[idx]
        hi[idx] = np.where(tests_yes & live, need[idx], off_hi[idx])
        lo[idx] = np.where(~tests_yes & live, need_low[idx], -1)

    set_bounds(slice(None))
    flip_count = np.zeros(n, dtype=np.int32)
    flip_round = np.zeros(n, dtype=np.int32)
    whale_follows = np.zeros(n, dtype=np.int32)
    per_round: list[int] = []
    yes_to_no = no_to_yes = 0
    ending, period = Ending.ROUND_CAP, 0
    previous: np.ndarray | None = None
    rows = TraceBuilder() if trace else None
    for t in range(1, max_rounds + 1):
        would = yes >= hi
        would |= yes <= lo
        if signal is not None:
            would[signal.follows(votes)] = True
        switching = None if together is None else together.switching(would)
        idx = np.flatnonzero(would)  # the would-flip set, in agent order
        if randomised and rng is not None:
            if len(idx) == 0 and (switching is None or len(switching) == 0):
                per_round.append(0)
                ending, period = Ending.CONVERGED, 1
                break
            idx = idx[rng.random(len(idx)) < update_fraction]
            if switching is not None and bloc_rng is not None:
                switching = switching[bloc_rng.random(len(switching)) < update_fraction]
        if switching is not None and together is not None and len(switching):
            idx = np.union1d(idx, together.flips(switching))
        if signal is not None:
            whale_follows[idx[follower[idx]]] += 1
        n_flips = len(idx)
        per_round.append(n_flips)
        if n_flips == 0:
            if not randomised:
                ending, period = Ending.CONVERGED, 1
                break
            continue
        was_yes = votes[idx]
        if rows is not None:
            rows.add(t, idx, was_yes, follower[idx])
        down = int(np.count_nonzero(was_yes))
        yes_to_no += down
        no_to_yes += n_flips - down
        flip_count[idx] += 1
        flip_round[idx[flip_round[idx] == 0]] = t
        votes[idx] = ~was_yes
        _shift_counts(a, yes, idx, np.where(was_yes, -1, 1).astype(np.int32), votes, dtype)
        if committing:
            by_threshold[idx[contrarian[idx]]] = False
        set_bounds(idx)
        if signal is not None:
            signal.update(idx)
        if detect_cycle:
            # votes(t) == votes(t-2) != votes(t-1) exactly when round t flips round t-1's agents
            if previous is not None and np.array_equal(idx, previous):
                ending, period = Ending.CYCLE, 2
                break
            previous = idx
    return Influence(
        final_votes=votes,
        flip_count=flip_count,
        flip_round=flip_round,
        flips_per_round=np.asarray(per_round, dtype=np.int64),
        yes_to_no=yes_to_no,
        no_to_yes=no_to_yes,
        whale_follows=whale_follows,
        ending=ending,
        period=period,
        trace=None if rows is None else rows.build(),
        bloc_switches=None if blocs is None else _switches(together, blocs),
    )


def _switches(together: BlocRounds | None, blocs: Blocs) -> np.ndarray:
    """Switches per bloc (zeros when no bloc took part in the rounds)."""
    return np.zeros(blocs.count, dtype=np.int32) if together is None else together.switches


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
    """float64 round-0 utility of the proposal; ``initial_votes`` is ``utility > 0`` (with whale
    coalitions, a bloc member's initial vote is its bloc's)."""
    blocs: Blocs | None = None
    """Whale coalitions: the bloc of every agent; None when the scenario is off."""
    delegation: Delegation | None = None
    """Who delegated to whom, when the run delegates (docs/model.md 11.2)."""

    @property
    def voting_power(self) -> np.ndarray:
        """float64 power each agent's vote carries in the tally: its stake, or with delegation
        its own (unless delegated) plus delegated power."""
        return self.agents.stake if self.delegation is None else self.delegation.power

    attack: Attack | None = None
    """The governance attack, when the run has one (docs/model.md, section 11.3)."""
    mev: MevRun | None = None
    """MEV-aware voting (``mev_share`` > 0): the extractable value and the honest counterfactual."""
    cascades: CascadeForest | None = None
    """With a trace: who flipped whom (:mod:`simulator.cascade_tree`)."""


def influence_among_voters(
    adjacency: sparse.csr_array,
    agents: Agents,
    votes: np.ndarray,
    participated: np.ndarray,
    *,
    conformity_threshold: float,
    max_rounds: int,
    rules: RuleSet = RuleSet.V0_4,
    schedule: Schedule = Schedule.SYNCHRONOUS,
    update_fraction: float = DEFAULT_UPDATE_FRACTION,
    rng: np.random.Generator | None = None,
    trace: bool = False,
    blocs: Blocs | None = None,
    bloc_rng: np.random.Generator | None = None,
) -> Influence:
    """Influence rounds on the network among voters; abstainers keep their entries and never flip.

    An abstainer shows no vote, so it counts neither as a yes nor as a no neighbour (nor in a
    voter's degree): the rounds (:func:`run_influence`, under the given rule set and schedule) run
    on the subgraph induced by the voters, and the result is spread back over all agents (an
    abstainer's final vote is its round-0 vote, unflipped). The voters keep their relative order,
    so a ``random_fraction`` schedule draws for the would-flip voters in agent order. A ``trace``
    names agents by their ids among all agents. ``adjacency`` must be symmetric and loop-free (it
    is not checked again). ``blocs`` are whale coalitions, over all agents.
    """

    def rounds(
        among: sparse.csr_array, who: Agents, start: np.ndarray, present: Blocs | None
    ) -> Influence:
        return run_influence(
            among,
            who,
            start,
            conformity_threshold=conformity_threshold,
            max_rounds=max_rounds,
            rules=rules,
            schedule=schedule,
            update_fraction=update_fraction,
            rng=rng,
            check=False,
            trace=trace,
            blocs=present,
            bloc_rng=bloc_rng,
        )

    if participated.all():
        return rounds(adjacency, agents, votes, blocs)
    voters = np.flatnonzero(participated)
    inner = rounds(
        induced_subgraph(adjacency, voters),
        agents.take(voters),
        votes[voters],
        None if blocs is None else blocs.take(voters),
    )

    def spread(values: np.ndarray, fill: np.ndarray) -> np.ndarray:
        out = fill.copy()
        out[voters] = values
        return out

    zeros = np.zeros(len(votes), dtype=np.int32)
    return Influence(
        final_votes=spread(inner.final_votes, votes),
        flip_count=spread(inner.flip_count, zeros),
        flip_round=spread(inner.flip_round, zeros),
        flips_per_round=inner.flips_per_round,
        yes_to_no=inner.yes_to_no,
        no_to_yes=inner.no_to_yes,
        whale_follows=spread(inner.whale_follows, zeros),
        ending=inner.ending,
        period=inner.period,
        trace=None if inner.trace is None else inner.trace.relabel(voters),
        bloc_switches=inner.bloc_switches,
    )


def simulate(params: SimParams, seed: int, *, trace: bool = False) -> RunResult:
    """One run: proposal, agents, network, round-0 votes, influence rounds (in that draw order).

    Under rules v0.5 the proposal and the population are the v0.5 ones
    (:mod:`simulator.population`), and after the network one uniform per agent decides who votes;
    with delegation (``delegation_rate > 0``, :mod:`simulator.delegation`) the same uniforms and
    the delegation substream decide who votes with whose power. ``trace`` keeps every flip in
    ``influence.trace``; it draws nothing and changes no result.
    """
    if seed < 0:
        raise ParameterError(f"seed: {seed} is outside [0, inf)")
    check_network_size(params)
    rng = make_rng(seed)
    delegation: Delegation | None = None
    if params.rules is RuleSet.V0_5:
        population = resolve_population(params)
        proposal = draw_vetted_proposal(rng, population.favourability)
        agents = draw_population(params, population, rng)
        adjacency = build_network(params, rng)
        utility = population_utilities(agents, proposal)
        if delegation_on(params):
            draws = participation_draws(agents, rng)
            delegation = delegate(params, seed, agents, draws, utility > 0.0)
            participated = delegation.participated
        else:
            participated = draw_participation(agents, rng)
    else:
        proposal = draw_proposal(rng)
        agents = draw_agents(params, rng)
        adjacency = build_network(params, rng)
        participated = np.ones(params.agents, dtype=bool)
        utility = utilities(agents, proposal)
    honest_utility, extractable = utility, None
    if mev_on(params):  # extractors add their value; drawn from the scenario's own substream
        extractable = draw_extractable_value(params, agents.stake, utility, seed)
        utility = extractable.apply(utility)
    blocs, votes0 = round_zero_blocs(
        params, agents.risk_tolerance, agents.is_whale, agents.stake, participated, utility > 0.0
    )
    rounds = partial(
        influence_among_voters,
        conformity_threshold=params.conformity_threshold,
        max_rounds=params.cascade_rounds,
        rules=params.rules,
        schedule=params.schedule,
        update_fraction=params.update_fraction,
        blocs=blocs,
        bloc_rng=None if blocs is None else scenario_rng(seed, COALITIONS),
    )
    mev = None
    if extractable is not None:  # the honest counterfactual: the same rounds without the value
        honest = rounds(
            adjacency, agents, honest_utility > 0.0, participated, rng=copy.deepcopy(rng)
        )
        mev = MevRun(extractable=extractable, honest_utility=honest_utility, honest=honest)
    degree = np.diff(adjacency.indptr).astype(np.int32, copy=False)
    attack = None
    if params.attack_target is AttackTarget.NONE:
        # the schedule's draws come after who votes
        influence = rounds(adjacency, agents, votes0, participated, rng=rng, trace=trace)
    else:
        attacked = run_attack(
            params, seed, adjacency=adjacency, agents=agents, votes=votes0,
            participated=participated, utility=utility, rounds=rounds, rng=rng, trace=trace,
            power=agents.stake if delegation is None else delegation.power,
        )  # fmt: skip
        votes0, participated, degree = (
            attacked.initial_votes,
            attacked.participated,
            attacked.degree,
        )
        influence, attack = attacked.influence, attacked.attack
        if delegation is not None:  # a bribed delegate votes, with what it carries
            delegation = replace(delegation, participated=participated)
    cascades = None
    if influence.trace is not None and attack is None:  # sybils are not in the network's rows
        cascades = cascade_forest(influence.trace, adjacency, agents)
    return RunResult(
        params=params,
        seed=seed,
        agents=agents,
        proposal=proposal,
        degree=degree,
        initial_votes=votes0,
        influence=influence,
        participated=participated,
        utility=utility,
        blocs=blocs,
        delegation=delegation,
        attack=attack,
        mev=mev,
        cascades=cascades,
    )

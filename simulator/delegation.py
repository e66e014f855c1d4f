"""Delegation, as in Compound, Uniswap and ENS: holders lend their voting power to delegates.

In these protocols (Compound's COMP, OpenZeppelin's ERC20Votes behind Uniswap's and ENS's
governors) a holder delegates all of its votes to one address, possibly itself; delegation is not
transitive, and a delegate votes with its own and its delegators' tokens. A few delegates end up
with most of the power. This module decides, for one run, who delegates to whom and what that
does to who votes and with how much power:

* the delegates are the ``delegate_share`` largest holders; every other holder delegates with
  probability ``delegation_rate``;
* a delegator picks one delegate, either preferentially (probability proportional to the
  delegate's power so far, to the exponent ``delegation_attachment``, in batches) or by
  similarity (the delegate whose utility coefficients are closest to its own);
* a delegate's turnout reads its own and delegated power; a delegator does not vote, unless it
  would have voted and its delegate votes otherwise or abstains, when it overrides with
  probability ``delegation_override`` (as Snapshot's override strategies allow);
* the voting power the tally uses is the stake of each holder voting for itself plus, for a
  delegate, the stake of its delegators that did not override.

Every draw comes from the run's delegation substream (``simulator.seeding.scenario_rng``), so a
run with delegation off is the engine's run bit for bit. docs/model.md (section 11.2) states the
rules with equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.agents import Agents
from simulator.concentration import PowerProfile, power_profile
from simulator.params import ARCHETYPES, DelegationMode, SimParams, delegate_count
from simulator.population import (
    PREFERENCES,
    participation_probability,
    top_mask,
    turnout_probability,
)
from simulator.proposal import DIMENSIONS
from simulator.seeding import scenario_rng

__all__ = [
    "DELEGATION_BATCHES",
    "SCENARIO",
    "Delegation",
    "DelegationSummary",
    "delegate",
    "delegation_on",
    "preference_gaps",
    "preferential_choice",
    "risk_coefficients",
    "similarity_choice",
]

SCENARIO = "delegation"
"""The name of the scenario's random substream."""
DELEGATION_BATCHES = 64
"""Preferential delegation runs in this many batches of delegators (docs/model.md 11.2)."""
_RISK = DIMENSIONS.index("risk")


def delegation_on(params: SimParams) -> bool:
    """Whether a run delegates: ``delegation_rate > 0``."""
    return params.delegation_rate > 0


@dataclass(frozen=True, eq=False)
class Delegation:
    """Who delegates to whom in one run, and the voting power and turnout that result."""

    delegate: np.ndarray
    """int64 per agent: the agent whose vote carries its power (itself when self-delegated)."""
    is_delegate: np.ndarray
    """bool: the agent is one of the delegates (the largest holders)."""
    overrode: np.ndarray
    """bool: a delegator that voted itself, with its own stake."""
    delegated_power: np.ndarray
    """float64: stake of the agent's delegators that did not override (0 for non-delegates)."""
    power: np.ndarray
    """float64 voting power: own stake unless delegated and not overridden, plus delegated."""
    participated: np.ndarray
    """bool: who votes with delegation."""
    participated_alone: np.ndarray
    """bool: who would vote without delegation (every holder for itself): the engine's turnout."""

    @property
    def delegating(self) -> np.ndarray:
        """bool: the agent delegated to another (overriding or not)."""
        return self.delegate != np.arange(len(self.delegate))


@dataclass(frozen=True)
class DelegationSummary:
    """Run-level totals of a run's delegation, with and without it."""

    delegates: int
    active_delegates: int
    """Delegates that voted."""
    delegators: int
    overrides: int
    delegated_stake: float
    """Stake of every delegator."""
    overridden_stake: float
    """Stake of the delegators that overrode."""
    delegated_power_cast: float
    """Delegated power of the delegates that voted."""
    votes_cast_without: int
    stake_cast_without: float
    with_delegation: PowerProfile
    """Concentration of the voting power cast."""
    without_delegation: PowerProfile
    """Concentration of the stake the holders would cast each for itself."""

    @classmethod
    def of(
        cls, d: Delegation, stake: np.ndarray, attacker: np.ndarray | None = None
    ) -> DelegationSummary:
        """The totals of ``d`` over agents holding ``stake``; ``attacker`` is the voting power
        of each vote a governance attacker casts itself (docs/model.md 11.3), which joins the
        power cast with delegation. ``d.participated`` is who voted in the run (an attack's
        bribed abstainers included); the totals without delegation are the holders' own."""
        delegating = d.delegating
        active = d.is_delegate & d.participated
        return cls(
            delegates=int(np.count_nonzero(d.is_delegate)),
            active_delegates=int(np.count_nonzero(active)),
            delegators=int(np.count_nonzero(delegating)),
            overrides=int(np.count_nonzero(d.overrode)),
            delegated_stake=float(stake[delegating].sum()),
            overridden_stake=float(stake[d.overrode].sum()),
            delegated_power_cast=float(d.delegated_power[active].sum()),
            votes_cast_without=int(np.count_nonzero(d.participated_alone)),
            stake_cast_without=float(stake[d.participated_alone].sum()),
            with_delegation=power_profile(
                d.power[d.participated]
                if attacker is None
                else np.concatenate([d.power[d.participated], attacker])
            ),
            without_delegation=power_profile(stake[d.participated_alone]),
        )


def preferential_choice(
    pool_power: np.ndarray,
    stake: np.ndarray,
    attachment: float,
    rng: np.random.Generator,
    batches: int = DELEGATION_BATCHES,
) -> np.ndarray:
    """Each delegator's delegate (a position in the pool), picked in proportion to power^a.

    The delegators (``stake``, in id order) arrive in one random order
    (``rng.permutation``) split into ``batches`` consecutive batches: the k-th holds positions
    ``floor(k m / B)`` to ``floor((k + 1) m / B) - 1`` of the order. A batch's delegators pick
    independently with probability proportional to ``w_j = (P_j)^a``, ``P_j`` the delegate's own
    stake plus the stake delegated to it by earlier batches: one ``rng.random(size)`` call per
    batch gives uniforms ``u``, and a delegator picks the first ``j`` whose running sum of
    ``w`` exceeds ``u · sum(w)``. Then the batch's stakes join its delegates' power.
    """
    m, pool = len(stake), len(pool_power)
    order = rng.permutation(m)
    power = np.array(pool_power, dtype=np.float64)
    picked = np.empty(m, dtype=np.int64)
    bounds = (np.arange(batches + 1, dtype=np.int64) * m) // batches
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi == lo:
            continue
        running = np.cumsum(np.power(power, attachment))
        u = rng.random(hi - lo)
        chosen = np.searchsorted(running, u * running[-1], side="right")
        np.minimum(chosen, pool - 1, out=chosen)
        members = order[lo:hi]
        picked[members] = chosen
        power += np.bincount(chosen, weights=stake[members], minlength=pool)
    return picked


def risk_coefficients(agents: Agents) -> np.ndarray:
    """Each agent's utility coefficient on the centred risk: ``w_a,risk + (rho - 0.5)``."""
    risk = np.array([PREFERENCES[a].weights[_RISK] for a in ARCHETYPES])
    return risk[agents.archetype] + (agents.risk_tolerance - 0.5)


def preference_gaps() -> np.ndarray:
    """``C[a, b]``: squared distance between archetypes a and b over every utility coefficient
    but the risk one: the other dimensions' weights in ``DIMENSIONS`` order, then the hurdle."""
    table = np.zeros((len(ARCHETYPES), len(ARCHETYPES)))
    for i, a in enumerate(ARCHETYPES):
        for j, b in enumerate(ARCHETYPES):
            pa, pb = PREFERENCES[a], PREFERENCES[b]
            total = 0.0
            for k, (wa, wb) in enumerate(zip(pa.weights, pb.weights, strict=True)):
                if k != _RISK:
                    total += (wa - wb) ** 2
            table[i, j] = total + (pa.hurdle - pb.hurdle) ** 2
    return table


def similarity_choice(agents: Agents, pool: np.ndarray, delegators: np.ndarray) -> np.ndarray:
    """Each delegator's delegate (a position in ``pool``): the closest utility coefficients.

    The squared distance between agents i and j is ``C[a_i, a_j] + (r_i - r_j)^2``
    (:func:`preference_gaps`, :func:`risk_coefficients`); each delegator takes the delegate at the
    smallest distance, the lower id on a tie. Within one delegate archetype the nearest risk
    coefficient is found by binary search over the sorted coefficients; then the archetypes are
    compared. ``pool`` is in increasing id order.
    """
    gaps = preference_gaps()
    r = risk_coefficients(agents)
    kind = agents.archetype
    best = np.full(len(delegators), np.inf)
    best_at = np.full(len(delegators), len(pool), dtype=np.int64)  # position in the pool
    by_kind = [np.flatnonzero(kind[delegators] == a) for a in range(len(ARCHETYPES))]
    for b in np.unique(kind[pool]).tolist():
        group = np.flatnonzero(kind[pool] == b)  # positions in the pool
        order = np.lexsort((group, r[pool[group]]))  # by coefficient, then id
        values, at = r[pool[group]][order], group[order]
        first = np.searchsorted(values, values, side="left")  # first of each run of equal values
        for a, rows in enumerate(by_kind):
            if not len(rows):
                continue
            ri = r[delegators[rows]]
            right = np.searchsorted(values, ri, side="left")  # the first of its run, too
            below, above = right > 0, right < len(values)
            for cand, ok in (
                (first[np.maximum(right - 1, 0)], below),
                (np.minimum(right, len(values) - 1), above),
            ):
                dist = gaps[a, b] + (ri - values[cand]) ** 2
                who = at[cand]
                better = ok & ((dist < best[rows]) | ((dist == best[rows]) & (who < best_at[rows])))
                best[rows[better]] = dist[better]
                best_at[rows[better]] = who[better]
    return best_at


def delegate(
    params: SimParams,
    seed: int,
    agents: Agents,
    draws: np.ndarray,
    votes: np.ndarray,
) -> Delegation:
    """One run's delegation (``delegation_rate > 0``), from its participation uniforms
    ``draws`` (:func:`simulator.population.participation_draws`) and round-0 ``votes``.

    Draws from the delegation substream, in this order: one uniform per agent (it delegates when
    below ``delegation_rate`` and it is not a delegate), one uniform per agent (a delegator
    overrides when below ``delegation_override``), then the preferential picks.
    """
    rng = scenario_rng(seed, SCENARIO)
    n, stake = len(agents), agents.stake
    is_delegate = top_mask(stake, delegate_count(params.delegate_share, n))
    delegating = rng.random(n) < params.delegation_rate
    delegating &= ~is_delegate
    override_draws = rng.random(n)
    pool, d = np.flatnonzero(is_delegate), np.flatnonzero(delegating)
    if params.delegation_mode is DelegationMode.PREFERENTIAL:
        picked = preferential_choice(stake[pool], stake[d], params.delegation_attachment, rng)
    else:
        picked = similarity_choice(agents, pool, d)
    target = pool[picked]
    # a delegate's turnout reads its own and all its delegators' stake
    offered = stake[pool] + np.bincount(picked, weights=stake[d], minlength=len(pool))
    alone = draws < participation_probability(agents)
    present = alone.copy()
    assert agents.turnout is not None  # rules v0.5
    present[pool] = draws[pool] < turnout_probability(
        agents.turnout[pool], offered, float(stake.sum())
    )
    # a delegator that would vote, whose delegate abstains or votes otherwise, may override
    differs = ~present[target] | (votes[d] != votes[target])
    overriding = alone[d] & differs & (override_draws[d] < params.delegation_override)
    carried = ~overriding
    received = np.bincount(picked[carried], weights=stake[d[carried]], minlength=len(pool))
    delegate_of = np.arange(n, dtype=np.int64)
    delegate_of[d] = target
    overrode = np.zeros(n, dtype=bool)
    overrode[d[overriding]] = True
    delegated = np.zeros(n)
    delegated[pool] = received
    power = stake.copy()
    power[d[carried]] = 0.0
    power[pool] += received
    participated = present
    participated[d] = overriding
    return Delegation(
        delegate=delegate_of,
        is_delegate=is_delegate,
        overrode=overrode,
        delegated_power=delegated,
        power=power,
        participated=participated,
        participated_alone=alone,
    )

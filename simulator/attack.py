"""Governance attacks: vote buying with a budget, borrowed voting power and sybil accounts.

An attacker wants one outcome of the vote (``attack_target``: pass or fail, or ``auto``, the
opposite of what the same run gives without the attack) and has three means, each a parameter:

* **vote buying**: every holder whose counted round-0 vote is not already for the target (a voter
  on the other side, or an abstainer) has a price, its voting power times ``1 + o``, where ``o`` is
  how strongly it prefers the other side (its utility against the target, 0 when it does not
  oppose). The attacker goes down the list in ascending price per unit of voting power (ties:
  the smaller holder first, then the lower id) and buys every holder it can still afford with
  what is left of its budget. A bought holder votes for the target from round 0 and never
  changes its vote; it shows that vote to its neighbours, so the bribes act before the cascade
  and can spread;
* **borrowed voting power** (a flash loan): voting power that exists only during the vote, added
  to the target's side, to the stake cast and to the total, and to no agent;
* **sybil accounts**: agents of negligible stake (one stake quantum) that vote for the target,
  never change their vote, and join the influence network, each linked to each holder
  independently with the probability that gives them the network's mean degree.

The run also gives the outcome *without* the attack: the influence rounds run once on the
unattacked votes from a copy of the generator's state, then on the attacked ones from the state
itself, so both see the same schedule draws (common random numbers) and the difference between
them is the attack's doing. Sybil links come from the scenario's own stream
(``scenario_rng(seed, "attack")``), so the population, the network and the schedule draws are those
of the same run without the attack. Prices and purchases are a pure function of the run's voting
power and utilities; a delegation scenario composes by passing each holder's voting power (own
plus delegated) as ``power``. docs/model.md, section 11.3, states every rule and its sources.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy import sparse

from simulator.agents import STAKE_QUANTUM, Agents, quantize_stake
from simulator.outcome import Tally, tally_votes
from simulator.params import ARCHETYPES, Archetype, AttackTarget, SimParams
from simulator.population import resolve_population
from simulator.seeding import scenario_rng

if TYPE_CHECKING:
    from simulator.model import Influence

__all__ = [
    "ATTACK_STREAM",
    "SYBIL_STAKE",
    "Attack",
    "AttackedVote",
    "attach_sybils",
    "bribe_prices",
    "committed",
    "purchase",
    "run_attack",
    "sybil_links",
]

ATTACK_STREAM = "attack"
"""Name of the scenario's random substream (``simulator.seeding.scenario_rng``)."""
SYBIL_STAKE = STAKE_QUANTUM
"""Voting power of each sybil account: one stake quantum, negligible in every stake tally."""
RETAIL = ARCHETYPES.index(Archetype.RETAIL)


class Rounds(Protocol):
    """The run's influence rounds (``simulator.model.influence_among_voters`` with the run's
    settings bound), applied to one set of inputs."""

    def __call__(
        self,
        adjacency: sparse.csr_array,
        agents: Agents,
        votes: np.ndarray,
        participated: np.ndarray,
        *,
        rng: np.random.Generator,
        trace: bool,
    ) -> Influence: ...


@dataclass(frozen=True, eq=False)
class Attack:
    """What the attacker did in one run, and the outcome the same run gives without it."""

    target_yes: bool
    """The outcome the attacker wants: True pass, False fail."""
    passed_without: bool
    """The run's outcome without the attack (same draws, unattacked votes)."""
    quorum_met_without: bool
    holders_stake: float
    """Total voting power of the holders (the run's agents), the unit of budget and loan."""
    budget: float
    """Tokens the attacker may pay for votes."""
    spent: float
    """Tokens it paid: the prices of the holders it bought (at most ``budget``)."""
    bribed: np.ndarray
    """bool per holder: bought (votes for the target from round 0 and never flips)."""
    bribed_abstainers: int
    """Bought holders that would not have voted."""
    borrowed_power: float
    """Voting power borrowed for the vote (tokens)."""
    sybils: int
    sybil_edges: int
    """Links between sybils and holders."""

    @property
    def sybil_stake(self) -> float:
        """Voting power of each sybil."""
        return SYBIL_STAKE

    @property
    def attacker_voters(self) -> int:
        """Votes the attacker casts itself: its sybils and, when it borrows, the borrowing
        account."""
        return self.sybils + (1 if self.borrowed_power > 0 else 0)

    @property
    def attacker_power(self) -> float:
        """Voting power the attacker casts itself (exact: a sum of stake quanta)."""
        return self.borrowed_power + self.sybils * SYBIL_STAKE

    def attacker_stakes(self) -> np.ndarray:
        """The voting power of each vote the attacker casts itself (loan first, then sybils)."""
        loan = [self.borrowed_power] if self.borrowed_power > 0 else []
        return np.concatenate([np.asarray(loan), np.full(self.sybils, SYBIL_STAKE)])

    def with_attacker(self, t: Tally) -> Tally:
        """The holders' tally ``t`` plus the attacker's own votes, all on the target's side."""
        extra = self.attacker_power
        yes, no = (t.yes + extra, t.no) if self.target_yes else (t.yes, t.no + extra)
        return Tally(yes=yes, no=no, cast=yes + no, total=t.total + extra, quorum=t.quorum)

    def succeeded(self, passed: bool) -> bool:
        """The attack flipped the outcome: it is the target, and the run without it is not."""
        return passed == self.target_yes and self.passed_without != self.target_yes


@dataclass(frozen=True, eq=False)
class AttackedVote:
    """The holders' votes under attack: inputs and result of the influence rounds, per holder."""

    initial_votes: np.ndarray
    """Round-0 votes; a bought holder's is the target."""
    participated: np.ndarray
    """Who voted; bought abstainers vote."""
    degree: np.ndarray
    """Neighbours in the network the rounds ran on (sybils included)."""
    influence: Influence
    attack: Attack


def bribe_prices(
    power: np.ndarray, utility: np.ndarray, target_yes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Price per unit of voting power, ``1 + max(0, o)``, and price, ``power * (1 + max(0, o))``.

    ``o`` is the holder's utility against the target: ``-u`` when the target is pass, ``u`` when
    it is fail. A holder that favours the target (or is indifferent) costs one token per unit
    of voting power, the price of its turning out for the target.
    """
    opposition = -utility if target_yes else utility.copy()
    unit = np.maximum(opposition, 0.0, out=opposition)
    unit += 1.0
    return unit, power * unit


def purchase(
    power: np.ndarray, unit: np.ndarray, candidate: np.ndarray, budget: float
) -> tuple[np.ndarray, float]:
    """The holders bought (ids ascending) and the tokens spent.

    Candidates with voting power are taken in ascending ``unit`` price (ties: smaller ``power``
    first, then lower id), and the attacker buys each one it can still afford: with ``paid`` the
    running total (from 0), holder ``k`` is bought when ``paid + price_k <= budget`` (in float64,
    in this order), and then ``paid`` becomes ``paid + price_k``; a holder it cannot afford is
    skipped and the next one considered. ``price = power * unit``.

    The same as that loop, vectorized in passes: a pass takes the running totals of the holders
    still affordable (an accumulation from ``paid``, so the sums round as the loop's do) and buys
    up to the first that no longer fits; the holders after it that are still affordable make the
    next pass. A holder unaffordable at a pass stays so, since ``paid`` only grows.

    The unit price is at least 1, and most candidates (those that do not oppose the target) are
    at exactly 1, ordered by power alone: within them, once one does not fit, no later (larger)
    one does. So they are sorted by power only, and of the others only those still affordable
    after them are sorted, by unit price: at a small budget that is a few, not every holder.
    """
    ids = np.flatnonzero(candidate & (power > 0))
    price = power[ids] * unit[ids]
    affordable = price <= budget  # paid starts at 0 and only grows
    ids, price = ids[affordable], price[affordable]
    flat = unit[ids] == 1.0
    bought: list[np.ndarray] = []
    paid = 0.0
    for group in (flat, ~flat):
        who, cost = ids[group], price[group]
        still = paid + cost <= budget
        who, cost = who[still], cost[still]
        # stable sorts: equal keys keep id order; at unit price 1 the price is the power
        if group is flat:
            order = np.argsort(cost, kind="stable")
        else:
            order = np.lexsort((power[who], unit[who]))
        taken, paid = _fill(cost[order], paid, budget)
        bought.append(who[order[taken]])
    return np.sort(np.concatenate(bought)), paid


def _fill(price: np.ndarray, paid: float, budget: float) -> tuple[np.ndarray, float]:
    """Positions in ``price`` (in buying order) the attacker buys from ``paid`` on, and what it
    has paid then: each one while ``paid + price <= budget``, in passes (see ``purchase``)."""
    left = np.arange(len(price))
    bought: list[np.ndarray] = []
    while len(left):
        left = left[paid + price[left] <= budget]
        if not len(left):
            break
        running = np.add.accumulate(np.concatenate([[paid], price[left]]))[1:]
        k = int(np.searchsorted(running, budget, side="right"))  # running is non-decreasing
        bought.append(left[:k])
        paid = float(running[k - 1])
        left = left[k + 1 :]  # left[k] no longer fits
    return (np.concatenate(bought) if bought else np.zeros(0, dtype=np.int64)), paid


def sybil_links(
    holders: int, sybils: int, mean_degree: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sybil-holder links as (sybil, holder) arrays, sorted by sybil, then holder.

    Each of the ``sybils * holders`` pairs is a link independently with probability
    ``p = min(1, mean_degree / holders)``, so a sybil has Binomial(holders, p) links, mean
    ``mean_degree`` (while it is below ``holders``). Sampled as the Erdos-Renyi network is: the
    gaps between the ranks ``s * holders + h`` of consecutive links are Geometric(p), drawn in
    chunks of ``E + 8 sqrt(E) + 64`` (``E`` the expected count), then of an eighth of the last
    chunk until the ranks pass the last pair.
    """
    pairs = holders * sybils
    p = min(1.0, mean_degree / holders) if holders else 0.0
    if pairs == 0 or p <= 0.0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if p >= 1.0:
        ranks = np.arange(pairs, dtype=np.int64)
    else:
        expected = p * pairs
        size = int(expected + 8.0 * expected**0.5 + 64)
        chunks: list[np.ndarray] = []
        last = -1
        while last < pairs - 1:
            chunk = last + np.cumsum(rng.geometric(p, size))
            chunks.append(chunk)
            last = int(chunk[-1])
            size = max(64, size // 8)
        ranks = np.concatenate(chunks)
        ranks = ranks[ranks < pairs]
    return ranks // holders, ranks % holders


def attach_sybils(
    adjacency: sparse.csr_array, sybils: int, sybil: np.ndarray, holder: np.ndarray
) -> sparse.csr_array:
    """The network with ``sybils`` nodes appended (ids ``n .. n + sybils - 1``) and linked.

    ``(sybil, holder)`` lists each link once, sorted by sybil then holder (:func:`sybil_links`).
    The result is canonical CSR: a holder's row keeps its entries and then lists its sybils (their
    ids are above every holder's); a sybil's row lists its holders. Built in linear time without
    a COO round trip.
    """
    n = adjacency.shape[0]
    size = n + sybils
    degree = np.diff(adjacency.indptr)
    extra = np.bincount(holder, minlength=n)
    new_degree = np.concatenate([degree + extra, np.bincount(sybil, minlength=sybils)])
    nnz = int(new_degree.sum())
    index = np.int32 if max(size, nnz) < 2**31 else np.int64
    indptr = np.zeros(size + 1, dtype=index)
    np.cumsum(new_degree, out=indptr[1:])
    indices = np.empty(nnz, dtype=index)
    # a holder's old entries move right by the sybil entries of the rows before it
    shift = indptr[:n] - adjacency.indptr[:n]
    indices[np.arange(adjacency.nnz) + np.repeat(shift, degree)] = adjacency.indices
    # then its sybils, in increasing id (the links are sorted by sybil; a stable sort keeps that)
    by_holder = np.argsort(holder, kind="stable")
    h = holder[by_holder]
    within = np.arange(len(h)) - (np.cumsum(extra) - extra)[h]
    indices[indptr[h] + degree[h] + within] = n + sybil[by_holder]
    indices[indptr[n] :] = holder  # the sybils' rows
    out = sparse.csr_array(
        (np.ones(nnz, dtype=np.float32), indices, indptr), shape=(size, size), copy=False
    )
    out.has_canonical_format = True
    return out


def committed(agents: Agents, mask: np.ndarray) -> Agents:
    """``agents`` with those of ``mask`` unable to change their vote.

    Their threshold becomes 1, which no share of neighbours exceeds (the v0.5 rule tests
    ``share > max(theta, 1/2)``, for contrarians too), and their conformity -inf, below any
    ``conformity_threshold``, so none follows the whale signal. Nothing else reads either.
    """
    return replace(
        agents,
        threshold=np.where(mask, 1.0, agents.threshold),
        conformity=np.where(mask, -np.inf, agents.conformity),
    )


def _sybil_agents(count: int, like: Agents) -> Agents:
    """``count`` retail accounts of one stake quantum that never change their vote."""
    return Agents(
        archetype=np.full(count, RETAIL, dtype=like.archetype.dtype),
        stake=np.full(count, SYBIL_STAKE),
        risk_tolerance=np.full(count, 0.5),
        conformity=np.full(count, -np.inf),
        threshold=np.ones(count),
        noise=np.zeros(count),
        turnout=None if like.turnout is None else np.ones(count),
    )


def _joined(a: Agents, b: Agents) -> Agents:
    """The agents of ``a``, then those of ``b``."""
    columns: dict[str, Any] = {}
    for f in fields(a):
        first, second = getattr(a, f.name), getattr(b, f.name)
        columns[f.name] = None if first is None else np.concatenate([first, second])
    return Agents(**columns)


def run_attack(
    params: SimParams,
    seed: int,
    *,
    adjacency: sparse.csr_array,
    agents: Agents,
    votes: np.ndarray,
    participated: np.ndarray,
    utility: np.ndarray,
    rounds: Rounds,
    rng: np.random.Generator,
    trace: bool = False,
    power: np.ndarray | None = None,
) -> AttackedVote:
    """The run's vote under the attack ``params`` describe, and the same vote without it.

    ``votes`` are the round-0 votes (``utility > 0``) and ``participated`` who votes, without the
    attack; ``rng`` is the run's generator where the influence rounds start drawing. The rounds run
    first without the attack (from a copy of ``rng``), which decides an ``auto`` target, then under
    it (from ``rng``). The voting power bought and priced is ``power``: the agents' stake, or
    with delegation each holder's own plus delegated power (a delegator that delegated has none
    and cannot be bought; buying a delegate buys every vote it carries).
    """
    n = len(agents)
    power = agents.stake if power is None else power
    quorum = resolve_population(params).quorum
    without = rounds(adjacency, agents, votes, participated, rng=copy.deepcopy(rng), trace=False)
    before = tally_votes(power, without.final_votes, participated, quorum)
    target = params.attack_target
    target_yes = (not before.passed) if target is AttackTarget.AUTO else target is AttackTarget.PASS

    holders_stake = float(power.sum())
    budget = params.attack_budget * holders_stake
    unit, _ = bribe_prices(power, utility, target_yes)
    counted_for_target = participated & (votes == target_yes)
    bought, spent = purchase(power, unit, ~counted_for_target, budget)
    bribed = np.zeros(n, dtype=bool)
    bribed[bought] = True
    attacked_votes = np.where(bribed, target_yes, votes)
    attacked_participation = participated | bribed
    voting = committed(agents, bribed)

    sybils = params.attack_sybils
    sybil = holder = np.zeros(0, dtype=np.int64)
    network = adjacency
    if sybils:
        sybil, holder = sybil_links(
            n, sybils, params.expected_degree(), scenario_rng(seed, ATTACK_STREAM)
        )
        network = attach_sybils(adjacency, sybils, sybil, holder)
        voting = _joined(voting, _sybil_agents(sybils, agents))
        attacked_votes = np.concatenate([attacked_votes, np.full(sybils, target_yes)])
        attacked_participation = np.concatenate(
            [attacked_participation, np.ones(sybils, dtype=bool)]
        )
    influence = rounds(
        network, voting, attacked_votes, attacked_participation, rng=rng, trace=trace
    )
    if sybils:  # sybils never flip: the counters and the trace are the holders' already
        f = influence
        influence = replace(
            f,
            final_votes=f.final_votes[:n],
            flip_count=f.flip_count[:n],
            flip_round=f.flip_round[:n],
            whale_follows=f.whale_follows[:n],
        )
    share = params.attack_borrowed_share
    borrowed = float(quantize_stake(np.asarray([share * holders_stake]))[0]) if share > 0 else 0.0
    attack = Attack(
        target_yes=target_yes,
        passed_without=before.passed,
        quorum_met_without=before.quorum_met,
        holders_stake=holders_stake,
        budget=budget,
        spent=spent,
        bribed=bribed,
        bribed_abstainers=int(np.count_nonzero(bribed & ~participated)),
        borrowed_power=borrowed,
        sybils=sybils,
        sybil_edges=len(sybil),
    )
    return AttackedVote(
        initial_votes=attacked_votes[:n],
        participated=attacked_participation[:n],
        degree=np.diff(network.indptr)[:n].astype(np.int32, copy=False),
        influence=influence,
        attack=attack,
    )

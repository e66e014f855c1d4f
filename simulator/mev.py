"""MEV-aware voting: proposals that carry extractable value for some agents (docs/model.md 11.4).

A proposal can be worth more to some holders than its face value: a searcher profits from the
liquidations or arbitrage it triggers, an insider from a grant or a parameter that favours a
position it holds (the value that Daian et al., *Flash Boys 2.0*, 2019, call miner extractable
value, and Qin, Zhou and Gervais, 2022, measure as heavy-tailed across extractors). Such agents
weigh that value in their vote. This module draws who they are and what the proposal is worth to
them, from the run's own "mev" substream (:func:`simulator.seeding.scenario_rng`), so the main
stream, and with it the population, network, turnout and schedule, stays as it was:

1. ``K = round(mev_share N)`` extractors, drawn without replacement in proportion to a weight (1
   for ``uniform``, the stake for ``stake``), by the largest keys ``log(1 - U_i) / w_i`` of one
   uniform per agent (Efraimidis and Spirakis 2006);
2. one uniform per extractor, in increasing id: the extractor loses its value if the proposal
   passes when it is below ``mev_against_share``;
3. one draw per extractor of the value's law (mean 1), scaled by ``mev_value`` times the run's
   utility spread (the standard deviation of every agent's honest utility).

An extractor's utility is its honest utility plus its value. The engine runs the influence
rounds twice from the same state (the same generator state for the schedule's draws): once from
the round-0 votes with the extractable value (the realised run) and once with every value zero
(the honest counterfactual). :func:`summarise` compares their outcomes and prices the difference
with the voters' honest, stake-weighted welfare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator.params import MevDistribution, MevTargeting, SimParams
from simulator.seeding import scenario_rng

if TYPE_CHECKING:
    from simulator.model import Influence, RunResult
    from simulator.outcome import Tally

__all__ = [
    "LOGNORMAL_SIGMA",
    "MEV_STREAM",
    "PARETO_TAIL",
    "ExtractableValue",
    "MevOutcome",
    "MevRun",
    "choose_weighted",
    "draw_extractable_value",
    "extractor_count",
    "mev_on",
    "summarise",
    "value_law",
    "welfare_difference",
    "welfare_of_passing",
]

MEV_STREAM = "mev"
"""Name of the scenario's random substream."""
LOGNORMAL_SIGMA = 1.0
"""Log-scale sigma of the ``lognormal`` law, exp(Normal(-sigma^2 / 2, sigma)): mean 1."""
PARETO_TAIL = 1.5
"""Tail index of the ``pareto`` law: classical Pareto with minimum (alpha - 1) / alpha, mean 1."""


def mev_on(params: SimParams) -> bool:
    """Whether the run has extractors: ``mev_share`` > 0."""
    return params.mev_share > 0


def extractor_count(share: float, n: int) -> int:
    """``round(share N)``, halves up, at most N (the whale count's rule)."""
    return min(n, math.floor(share * n + 0.5))


def choose_weighted(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``len(weights)`` items without replacement, each draw in proportion to its weight.

    One uniform per item; the items with the ``k`` largest keys ``log(1 - U) / w`` are chosen
    (Efraimidis and Spirakis 2006: successive weighted draws without replacement), equal keys
    going to the lower index. Weights must be positive. Returns the indexes in increasing order.
    """
    n = len(weights)
    keys = np.log1p(-rng.random(n))
    keys /= weights
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    kth = np.partition(keys, n - k)[n - k]  # the k-th largest key
    above = np.flatnonzero(keys > kth)
    tied = np.flatnonzero(keys == kth)[: k - len(above)]
    return np.union1d(above, tied).astype(np.int64)


def value_law(law: MevDistribution, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` draws of the extractable value's law, each of mean 1 (``constant`` draws nothing)."""
    if law is MevDistribution.CONSTANT:
        return np.ones(k)
    if law is MevDistribution.LOGNORMAL:
        return np.exp(rng.normal(-0.5 * LOGNORMAL_SIGMA**2, LOGNORMAL_SIGMA, k))
    floor = (PARETO_TAIL - 1.0) / PARETO_TAIL
    return floor * (1.0 + rng.pareto(PARETO_TAIL, k))


@dataclass(frozen=True, eq=False)
class ExtractableValue:
    """Who can extract value from the proposal, and how much (utility units, if it passes)."""

    extractors: np.ndarray
    """int64 agent ids, increasing."""
    value: np.ndarray
    """float64 value of each extractor if the proposal passes; negative for those who lose it."""
    spread: float
    """Standard deviation of every agent's honest utility (the unit of ``mev_value``)."""
    scale: float
    """``mev_value`` times ``spread``: the mean absolute value, in utility units."""

    def apply(self, utility: np.ndarray) -> np.ndarray:
        """The utilities with the extractable value added (a new array)."""
        out = utility.copy()
        out[self.extractors] += self.value
        return out


def draw_extractable_value(
    params: SimParams, stake: np.ndarray, utility: np.ndarray, seed: int
) -> ExtractableValue:
    """The extractors and their values, from the run's "mev" substream (module docstring)."""
    rng = scenario_rng(seed, MEV_STREAM)
    n = len(stake)
    weights = stake if params.mev_targeting is MevTargeting.STAKE else np.ones(n)
    extractors = choose_weighted(weights, extractor_count(params.mev_share, n), rng)
    against = rng.random(len(extractors)) < params.mev_against_share
    spread = float(np.std(utility)) if n else 0.0
    scale = params.mev_value * spread
    value = scale * value_law(params.mev_distribution, len(extractors), rng)
    np.negative(value, out=value, where=against)
    return ExtractableValue(extractors=extractors, value=value, spread=spread, scale=scale)


@dataclass(frozen=True, eq=False)
class MevRun:
    """What a run with extractors keeps beside its realised result: the honest counterfactual."""

    extractable: ExtractableValue
    honest_utility: np.ndarray
    """float64 round-0 utility without extractable value; the counterfactual votes yes when > 0."""
    honest: Influence
    """The influence rounds from the honest round-0 votes (same network, voters and generator
    state as the realised rounds)."""


def welfare_of_passing(stake: np.ndarray, utility: np.ndarray, voters: np.ndarray) -> float:
    """The voters' stake-weighted honest welfare of a pass, over the most it could be.

    ``sum(s u) / sum(s |u|)`` over the voters, in [-1, 1]: 1 when every voter gains from the
    proposal, -1 when every voter loses; failing is worth 0 (the status quo). 0 without voters.
    """
    s, u = stake[voters], utility[voters]
    at_stake = float(np.sum(s * np.abs(u)))
    return float(np.sum(s * u)) / at_stake if at_stake > 0 else 0.0


@dataclass(frozen=True)
class MevOutcome:
    """How the extractable value changed a run, against its honest counterfactual."""

    extractors: int
    extractors_voting: int
    utility_spread: float
    value_scale: float
    votes_changed: int
    """Voters whose round-0 vote the extractable value changed."""
    stake_changed: float
    passed_honest: bool
    yes_stake_honest: float
    """Final yes stake of the honest counterfactual."""
    outcome_changed_by_mev: bool
    """The realised outcome differs from the honest one."""
    welfare_pass: float
    welfare_loss: float
    """Welfare of the honest outcome minus that of the realised one (both honest utilities)."""
    welfare_regret: float
    """Welfare of the better outcome minus that of the realised one (>= 0)."""


def summarise(result: RunResult, realised: Tally) -> MevOutcome | None:
    """The run's MEV outcome against its ``realised`` final tally; None without extractors.

    The counterfactual has the same voters, so the same stake cast and quorum; it passes when the
    quorum is met and its final yes stake exceeds its no stake.
    """
    mev = result.mev
    if mev is None:
        return None
    stake, voters = result.agents.stake, result.participated
    ev = mev.extractable
    changed = (mev.honest_utility > 0.0) != result.initial_votes
    changed &= voters
    final = mev.honest.final_votes
    yes_honest = float(stake[final & voters].sum())
    passed_honest = realised.quorum_met and yes_honest > float(stake[~final & voters].sum())
    wp = welfare_of_passing(stake, mev.honest_utility, voters)
    return MevOutcome(
        extractors=len(ev.extractors),
        extractors_voting=int(np.count_nonzero(voters[ev.extractors])),
        utility_spread=ev.spread,
        value_scale=ev.scale,
        votes_changed=int(np.count_nonzero(changed)),
        stake_changed=float(stake[changed].sum()),
        passed_honest=passed_honest,
        yes_stake_honest=yes_honest,
        outcome_changed_by_mev=passed_honest != realised.passed,
        welfare_pass=wp,
        welfare_loss=welfare_difference(wp, passed_honest, realised.passed),
        welfare_regret=welfare_difference(wp, wp > 0, realised.passed),
    )


def welfare_difference(welfare_pass: float, better: bool, worse: bool) -> float:
    """Welfare of the outcome ``better`` (True: pass) minus that of ``worse``, with a pass worth
    ``welfare_pass`` and a failure 0 (never -0.0)."""
    return (welfare_pass if better else 0.0) - (welfare_pass if worse else 0.0) + 0.0

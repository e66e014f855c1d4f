"""The v0.5 population: who holds the voting power, who turns out, and what each archetype wants.

Three things set on-chain governance apart from the v0.4 population. Voting power is concentrated
in a way that does not wash out as the population grows (the ten largest holders of Compound hold
58% of it); most holders do not vote; and proposals reaching a vote are mostly favourable (Compound
proposals average 89% approval). This module draws such a population from one generator:

* stakes: a Pareto law with tail index ``alpha < 1`` over a floor ``alpha / (1 - alpha)``, so the
  share of the top k holders converges to a non-degenerate limit; the top ``round(whale_ratio N)``
  stakes are the whales;
* turnout: a participation probability per agent from a Beta law per archetype;
* utilities: per-archetype preference weights over the proposal dimensions, a hurdle and noise.

``CALIBRATIONS`` holds the named presets. docs/model.md ("v0.5 population") states every rule,
table and the draw order; :mod:`simulator.reference` restates the utilities agent by agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.agents import PROFILES, WHALE, Agents, archetype_counts, quantize_stake
from simulator.params import ARCHETYPES, Archetype, Calibration, SimParams
from simulator.proposal import DIMENSIONS, Proposal

__all__ = [
    "CALIBRATIONS",
    "PREFERENCES",
    "STAKE_SHARE_SCALE",
    "TOTAL_STAKE",
    "TURNOUT",
    "Population",
    "Preference",
    "archetype_base_utility",
    "assign_archetypes",
    "draw_participation",
    "draw_population",
    "draw_stakes",
    "participation_draws",
    "participation_probability",
    "population_utilities",
    "resolve_population",
    "top_mask",
    "turnout_probability",
]

TOTAL_STAKE = 2.0**40
"""Total voting power of a v0.5 population (tokens) before rounding to the stake quantum; any sum
of stakes stays below 2**43 and is exact."""


@dataclass(frozen=True)
class Population:
    """The resolved v0.5 population settings of a run."""

    stake_tail: float
    """Pareto tail index alpha of voting power, in (0, 1)."""
    favourability: float
    """Chance that a proposal lies on the favourable side of each dimension."""
    quorum: float
    """Share of total stake that must vote for a proposal to pass."""


CALIBRATIONS: dict[Calibration, Population] = {
    Calibration.NONE: Population(stake_tail=0.85, favourability=0.75, quorum=0.0),
    Calibration.COMPOUND: Population(stake_tail=0.825, favourability=0.96, quorum=0.04),
    Calibration.UNISWAP: Population(stake_tail=0.885, favourability=0.75, quorum=0.04),
}
"""Named presets. Each sets alpha from the protocol's top-10 share of the voting power and the
favourability from its mean approval (Compound 57.86%, 89.39%; Uniswap 44.72%, 70.73%), and the
quorum at the protocols' 4% of supply; docs/model.md 10.8 gives the sources and the measured
figures at N = 10^3 to 10^5."""


@dataclass(frozen=True)
class Preference:
    """What one archetype wants of a proposal: weights over ``DIMENSIONS``, hurdle, noise."""

    weights: tuple[float, float, float, float, float]
    """Weight on each centred dimension z = 2x - 1 (risk, yield, complexity, treasury, decentr.)."""
    hurdle: float
    noise_sd: float
    """Standard deviation of the agent's Normal utility shock."""


PREFERENCES: dict[Archetype, Preference] = {
    Archetype.OPTIMIZER: Preference((-0.6, 1.0, -0.2, -0.2, 0.0), 0.1, 0.2),
    Archetype.REPUTATION_SEEKER: Preference((-0.3, 0.3, -0.5, 0.0, 0.6), 0.0, 0.3),
    Archetype.CONTRARIAN: Preference((0.6, -1.0, 0.2, 0.2, 0.0), 0.1, 0.2),
    Archetype.INSTITUTIONAL: Preference((-1.0, 0.6, -0.6, -0.3, -0.2), 0.1, 0.15),
    Archetype.RETAIL: Preference((-0.3, 0.8, -0.2, 0.3, 0.3), 0.0, 0.5),
    Archetype.WHALE: Preference((-0.3, 1.0, 0.0, -0.5, -0.3), 0.0, 0.3),
}

TURNOUT: dict[Archetype, tuple[float, float]] = {
    Archetype.OPTIMIZER: (1, 9),
    Archetype.REPUTATION_SEEKER: (2, 8),
    Archetype.CONTRARIAN: (1, 9),
    Archetype.INSTITUTIONAL: (3, 7),
    Archetype.RETAIL: (1, 19),
    Archetype.WHALE: (1, 9),
}
"""Beta(a, b) law of each archetype's base turnout ``b``: its chance to vote at a negligible share
of the voting power."""

STAKE_SHARE_SCALE = 0.03
"""Share of the total voting power ``x0`` at which the stake-driven part of turnout reaches
1 - 1/e: an agent with share ``x`` votes with probability ``1 - (1 - b) exp(-x / x0)``."""


def resolve_population(params: SimParams) -> Population:
    """The calibration preset with any explicitly given v0.5 population parameter in its place."""
    preset = CALIBRATIONS[params.calibration]
    return Population(
        stake_tail=preset.stake_tail if params.stake_tail is None else params.stake_tail,
        favourability=(
            preset.favourability
            if params.proposal_favourability is None
            else params.proposal_favourability
        ),
        quorum=preset.quorum if params.quorum is None else params.quorum,
    )


def draw_stakes(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """N stakes: Pareto(1, alpha) plus the floor alpha / (1 - alpha), scaled to ``TOTAL_STAKE``.

    One ``rng.pareto(alpha)`` (Lomax) draw per agent, in agent order. The floor is the mass the
    n largest of an infinite Pareto population would leave to the rest (to first order in n), so
    the top-k share has the same limit law at every n.
    """
    raw = rng.pareto(alpha, size=n) + 1.0 / (1.0 - alpha)
    raw *= TOTAL_STAKE / raw.sum()
    return quantize_stake(raw)


def assign_archetypes(stake: np.ndarray, params: SimParams, rng: np.random.Generator) -> np.ndarray:
    """Archetype codes: the largest stakes are whales, the rest a random split by the mix.

    Whales are the ``W = round(whale_ratio N)`` largest stakes (equal stakes: the lower agent id
    first). The other agents, in id order, get the block-ordered codes of ``archetype_counts``
    shuffled by one ``rng.permutation``.
    """
    counts = archetype_counts(params)
    whale = top_mask(stake, counts[Archetype.WHALE])
    codes = np.empty(len(stake), dtype=np.int8)
    codes[whale] = WHALE
    others = [counts[a] for a in ARCHETYPES if a is not Archetype.WHALE]
    block = np.repeat(np.arange(len(others), dtype=np.int8), others)
    codes[~whale] = rng.permutation(block)
    return codes


def top_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest values, equal values taken in increasing index order.

    The same set as the first ``k`` of a stable descending sort, found in linear time: every value
    above the k-th largest, then the first indices holding the k-th largest itself.
    """
    chosen = np.zeros(len(values), dtype=bool)
    if k <= 0:
        return chosen
    if k >= len(values):
        chosen[:] = True
        return chosen
    kth = np.partition(values, len(values) - k)[len(values) - k]
    np.greater(values, kth, out=chosen)
    ties = np.flatnonzero(values == kth)
    chosen[ties[: k - int(np.count_nonzero(chosen))]] = True
    return chosen


def draw_population(params: SimParams, population: Population, rng: np.random.Generator) -> Agents:
    """Draw a v0.5 population: stakes, archetypes, then attributes archetype by archetype.

    For each archetype in code order, over its agents in id order: risk tolerance, conformity,
    threshold (the v0.4 Beta laws of ``PROFILES``), the utility noise (when its sd is positive)
    and the participation probability (``TURNOUT``).
    """
    n = params.agents
    stake = draw_stakes(n, population.stake_tail, rng)
    codes = assign_archetypes(stake, params, rng)
    rho, kappa, theta, noise, turnout = (np.zeros(n) for _ in range(5))
    for code, archetype in enumerate(ARCHETYPES):
        ids = np.flatnonzero(codes == code)
        prof, pref, size = PROFILES[archetype], PREFERENCES[archetype], len(ids)
        rho[ids] = rng.beta(*prof.risk_tolerance, size=size)
        kappa[ids] = rng.beta(*prof.conformity, size=size)
        t = rng.beta(*prof.threshold, size=size)
        theta[ids] = prof.threshold_floor + (1.0 - prof.threshold_floor) * t
        if pref.noise_sd:
            noise[ids] = rng.normal(0.0, pref.noise_sd, size=size)
        turnout[ids] = rng.beta(*TURNOUT[archetype], size=size)
    return Agents(
        archetype=codes,
        stake=stake,
        risk_tolerance=rho,
        conformity=kappa,
        threshold=theta,
        noise=noise,
        turnout=turnout,
    )


def participation_probability(agents: Agents, power: np.ndarray | None = None) -> np.ndarray:
    """``1 - (1 - b) exp(-x / x0)``: base turnout ``b``, share of the voting power ``x``.

    Voting costs every holder the same, while what is at stake grows with the holder's share: an
    agent with a negligible share votes with its base turnout, one holding a few ``x0`` almost
    surely. Shares (not stakes) keep the rule the same at every N. The share is the agent's
    stake over the total stake, or ``power`` over the total stake when given (a delegate's own
    and delegated power, docs/model.md 11.2).
    """
    if agents.turnout is None:
        return np.ones(len(agents))
    held = agents.stake if power is None else power
    return turnout_probability(agents.turnout, held, float(agents.stake.sum()))


def turnout_probability(base: np.ndarray, held: np.ndarray, total: float) -> np.ndarray:
    """``1 - (1 - base) exp(-(held / total) / x0)``, element by element (the law of
    :func:`participation_probability` for any agents, given the total stake)."""
    # in place: at 10^7 agents each float64 temporary is 80 MB
    decay = held / total  # the share x
    np.negative(decay, out=decay)
    decay /= STAKE_SHARE_SCALE
    np.exp(decay, out=decay)
    stay_away = 1.0 - base
    stay_away *= decay
    return np.subtract(1.0, stay_away, out=stay_away)


def draw_participation(agents: Agents, rng: np.random.Generator) -> np.ndarray:
    """Who votes: one uniform per agent in id order, below its participation probability."""
    if agents.turnout is None:
        return np.ones(len(agents), dtype=bool)
    return participation_draws(agents, rng) < participation_probability(agents)


def participation_draws(agents: Agents, rng: np.random.Generator) -> np.ndarray:
    """The uniforms of :func:`draw_participation`, one per agent in id order, for rules that
    compare them with another probability (delegation, docs/model.md 11.2)."""
    return rng.random(len(agents))


def archetype_base_utility(archetype: Archetype, proposal: Proposal) -> float:
    """``sum_d w_d z_d - hurdle`` of one archetype, summed in ``DIMENSIONS`` order from 0."""
    pref = PREFERENCES[archetype]
    total = 0.0
    for w, z in zip(pref.weights, proposal.centred().tolist(), strict=True):
        total += w * z
    return total - pref.hurdle


def population_utilities(agents: Agents, proposal: Proposal) -> np.ndarray:
    """v0.5 utility of every agent: ``(base_a + (rho - 0.5) z_risk) + noise``."""
    base = np.array([archetype_base_utility(a, proposal) for a in ARCHETYPES])
    z_risk = proposal.centred()[DIMENSIONS.index("risk")]
    return (base[agents.archetype] + (agents.risk_tolerance - 0.5) * z_risk) + agents.noise

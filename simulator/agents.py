"""Agents as a struct of numpy arrays, drawn from the parameters and one generator.

A million agents as Python objects would cost seconds and hundreds of megabytes, so an agent is an
index into parallel arrays. The population has exactly ``round(whale_ratio * N)`` whales (halves
round up); the other agents are split among the non-whale archetypes by ``archetype_mix`` with
deterministic largest-remainder rounding, so the counts are a pure function of the parameters and
only who is which archetype is random. Attribute distributions per archetype are the table
``PROFILES`` (documented with equations in docs/model.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from simulator.params import ARCHETYPES, Archetype, SimParams

__all__ = [
    "PROFILES",
    "STAKE_QUANTUM",
    "Agents",
    "Profile",
    "archetype_counts",
    "draw_agents",
    "quantize_stake",
]

STAKE_QUANTUM = 2.0**-10
"""Stakes are multiples of this, so any sum of stakes below 2**43 is exact in float64: tallies and
whale-signal sums do not depend on summation order, and the reference agrees bit for bit."""

WHALE = ARCHETYPES.index(Archetype.WHALE)
CONTRARIAN = ARCHETYPES.index(Archetype.CONTRARIAN)


@dataclass(frozen=True)
class Profile:
    """Attribute distributions of one archetype (Beta parameters as (a, b) pairs)."""

    stake_median: float
    stake_sigma: float
    """Log-normal stake: median and log-scale sigma. Whales use a Pareto law instead."""
    risk_tolerance: tuple[float, float]
    conformity: tuple[float, float]
    threshold: tuple[float, float]
    threshold_floor: float = 0.0
    """The threshold is ``floor + (1 - floor) * Beta(a, b)``."""
    noise_sd: float = 0.0
    """Standard deviation of the agent's utility shock."""


WHALE_STAKE_MIN = 1000.0
WHALE_STAKE_ALPHA = 1.5

PROFILES: dict[Archetype, Profile] = {
    Archetype.OPTIMIZER: Profile(50.0, 1.0, (5, 5), (2, 5), (6, 4)),
    Archetype.REPUTATION_SEEKER: Profile(20.0, 1.0, (4, 6), (6, 2), (3, 5)),
    Archetype.CONTRARIAN: Profile(20.0, 1.0, (5, 5), (1, 9), (2, 2), threshold_floor=0.5),
    Archetype.INSTITUTIONAL: Profile(500.0, 0.75, (2, 8), (3, 5), (7, 3)),
    Archetype.RETAIL: Profile(5.0, 1.0, (2, 2), (5, 3), (4, 4), noise_sd=0.25),
    Archetype.WHALE: Profile(WHALE_STAKE_MIN, 0.0, (8, 3), (2, 8), (8, 2)),
}


@dataclass(frozen=True, eq=False)
class Agents:
    """N agents as parallel arrays; agent ``i`` is position ``i`` in every array."""

    archetype: np.ndarray
    """int8 code: index into ``simulator.params.ARCHETYPES``."""
    stake: np.ndarray
    """float64 token weight, a multiple of ``STAKE_QUANTUM``."""
    risk_tolerance: np.ndarray
    """float64 in [0, 1]."""
    conformity: np.ndarray
    """float64 in [0, 1]."""
    threshold: np.ndarray
    """float64 in [0, 1]: share of disagreeing neighbours the agent tolerates."""
    noise: np.ndarray
    """float64 utility shock (under v0.4 zero for every archetype except retail)."""
    turnout: np.ndarray | None = None
    """float64 participation probability in [0, 1] (v0.5 populations); None: everyone votes."""

    def __len__(self) -> int:
        return len(self.archetype)

    def take(self, index: np.ndarray) -> Agents:
        """The agents at ``index`` (a bool mask or positions), as a new population."""
        columns: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            columns[f.name] = None if value is None else value[index]
        return Agents(**columns)

    @property
    def is_whale(self) -> np.ndarray:
        """Boolean mask of whales."""
        return self.archetype == WHALE


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def archetype_counts(params: SimParams) -> dict[Archetype, int]:
    """Head count per archetype: exact whale count, largest-remainder split of the rest."""
    n = params.agents
    whales = min(n, _round_half_up(params.whale_ratio * n))
    rest = n - whales
    shares = params.archetype_mix.shares()
    names = [a for a in ARCHETYPES if a is not Archetype.WHALE]
    quotas = [shares[a.value] * rest for a in names]
    counts = [math.floor(q) for q in quotas]
    leftover = rest - sum(counts)
    # largest fractional part first; ties go to the earlier archetype in ARCHETYPES
    by_remainder = sorted(range(len(names)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[:leftover]:
        counts[i] += 1
    result: dict[Archetype, int] = dict(zip(names, counts, strict=True))
    result[Archetype.WHALE] = whales
    return {a: result[a] for a in ARCHETYPES}


def quantize_stake(stake: np.ndarray) -> np.ndarray:
    """Round stakes to the nearest multiple of ``STAKE_QUANTUM``, at least one quantum."""
    q = stake / STAKE_QUANTUM
    np.round(q, out=q)
    np.maximum(q, 1.0, out=q)
    q *= STAKE_QUANTUM
    return q


def _beta(rng: np.random.Generator, ab: tuple[float, float], size: int) -> np.ndarray:
    return rng.beta(ab[0], ab[1], size=size)


def _draw_block(archetype: Archetype, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Attributes of ``size`` agents of one archetype: stake, rho, kappa, theta, noise."""
    prof = PROFILES[archetype]
    if archetype is Archetype.WHALE:
        # classical Pareto(x_min, alpha): x_min * (1 + Lomax(alpha)); mean 3 x_min for alpha 1.5
        stake = WHALE_STAKE_MIN * (1.0 + rng.pareto(WHALE_STAKE_ALPHA, size=size))
    else:
        stake = rng.lognormal(math.log(prof.stake_median), prof.stake_sigma, size=size)
    rho = _beta(rng, prof.risk_tolerance, size)
    kappa = _beta(rng, prof.conformity, size)
    theta = _beta(rng, prof.threshold, size)
    if prof.threshold_floor:
        theta = prof.threshold_floor + (1.0 - prof.threshold_floor) * theta
    noise = rng.normal(0.0, prof.noise_sd, size=size) if prof.noise_sd else np.zeros(size)
    return [quantize_stake(stake), rho, kappa, theta, noise]


def draw_agents(params: SimParams, rng: np.random.Generator) -> Agents:
    """Draw the population: archetype blocks in ``ARCHETYPES`` order, then one random shuffle."""
    counts = archetype_counts(params)
    codes = np.repeat(np.arange(len(ARCHETYPES), dtype=np.int8), list(counts.values()))
    blocks = [_draw_block(a, c, rng) for a, c in counts.items()]
    perm = rng.permutation(params.agents)
    # one column at a time, gathered into a buffer that every column reuses, then shuffled
    joined = np.empty(params.agents)
    columns = []
    for f in range(5):
        np.concatenate([block[f] for block in blocks], out=joined)
        for block in blocks:
            block[f] = np.empty(0)  # released: only the joined copy is read from here on
        columns.append(np.take(joined, perm))
    del joined
    stake, rho, kappa, theta, noise = columns
    return Agents(
        archetype=codes[perm],
        stake=stake,
        risk_tolerance=rho,
        conformity=kappa,
        threshold=theta,
        noise=noise,
    )

"""The proposal a run's agents vote on: attributes in [0, 1] along named dimensions.

Under rules v0.4 a proposal has three attributes drawn uniformly (risk, yield, complexity) and the
two later dimensions sit at their neutral 0.5. Under v0.5 every dimension in ``DIMENSIONS`` is
drawn, and ``favourability`` is the chance that a dimension lies on the side most holders prefer
(``FAVOURABLE``): proposals that reach a vote have mostly been vetted in discussion first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DIMENSIONS", "FAVOURABLE", "Proposal", "draw_proposal", "draw_vetted_proposal"]

DIMENSIONS: tuple[str, ...] = (
    "risk",
    "yield",
    "complexity",
    "treasury_impact",
    "decentralisation",
)
"""The named dimensions of a proposal, in draw order."""

FAVOURABLE: tuple[float, ...] = (-1.0, 1.0, -1.0, -1.0, 1.0)
"""The favourable direction of each dimension: low risk, high yield, low complexity, a small draw
on the treasury, more decentralisation."""


@dataclass(frozen=True)
class Proposal:
    """A proposal's attributes, each in [0, 1]; 0.5 is neutral."""

    risk: float
    yield_: float
    complexity: float
    treasury_impact: float = 0.5
    """Share of the treasury the proposal spends, relative to the largest proposals."""
    decentralisation: float = 0.5
    """How far the proposal moves control away from the team and large holders (0.5: neither)."""

    @property
    def appeal(self) -> float:
        """Face-value appeal (yield + 1 - risk) / 2: how popular the proposal looks."""
        return (self.yield_ + 1.0 - self.risk) / 2.0

    def centred(self) -> np.ndarray:
        """The attributes as a vector ``z = 2 x - 1`` in [-1, 1], in ``DIMENSIONS`` order."""
        x = np.array(
            [self.risk, self.yield_, self.complexity, self.treasury_impact, self.decentralisation]
        )
        return 2.0 * x - 1.0


def draw_proposal(rng: np.random.Generator) -> Proposal:
    """Draw risk, yield and complexity (in that order) uniformly from [0, 1) (rules v0.4)."""
    risk, yield_, complexity = (float(x) for x in rng.random(3))
    return Proposal(risk=risk, yield_=yield_, complexity=complexity)


def vetted_values(u: np.ndarray, favourability: float) -> np.ndarray:
    """Centred values from uniforms ``u``: favourable side with probability ``favourability``.

    Inverse CDF of the mixture "uniform on the unfavourable half [-1, 0) with probability 1 - f,
    uniform on the favourable half [0, 1) with probability f", in favourable orientation; one
    uniform per dimension.
    """
    f = favourability
    against = 1.0 - f
    low = -1.0 + u / against if against > 0 else np.zeros_like(u)
    high = (u - against) / f if f > 0 else np.zeros_like(u)
    return np.where(u < against, low, high)


def draw_vetted_proposal(rng: np.random.Generator, favourability: float) -> Proposal:
    """Draw every dimension of ``DIMENSIONS`` (one uniform each, in order) (rules v0.5)."""
    z = vetted_values(rng.random(len(DIMENSIONS)), favourability) * np.array(FAVOURABLE)
    x = [float(v) for v in (z + 1.0) / 2.0]
    return Proposal(*x)

"""The proposal a run's agents vote on: three attributes drawn uniformly from [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Proposal", "draw_proposal"]


@dataclass(frozen=True)
class Proposal:
    """Risk, expected yield and complexity of a proposal, each in [0, 1]."""

    risk: float
    yield_: float
    complexity: float

    @property
    def appeal(self) -> float:
        """Face-value appeal (yield + 1 - risk) / 2: how popular the proposal looks."""
        return (self.yield_ + 1.0 - self.risk) / 2.0


def draw_proposal(rng: np.random.Generator) -> Proposal:
    """Draw risk, yield and complexity (in that order) uniformly from [0, 1)."""
    risk, yield_, complexity = (float(x) for x in rng.random(3))
    return Proposal(risk=risk, yield_=yield_, complexity=complexity)

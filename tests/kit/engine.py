"""Builders for hand-made engine inputs: tiny graphs and agent arrays with chosen attributes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from simulator.agents import Agents
from simulator.network import symmetric_csr
from simulator.params import ARCHETYPES, Archetype


def graph(n: int, edges: Sequence[tuple[int, int]]) -> sparse.csr_array:
    """Symmetric adjacency of an undirected simple graph given by its edge list."""
    lo = np.array([min(e) for e in edges], dtype=np.int64)
    hi = np.array([max(e) for e in edges], dtype=np.int64)
    return symmetric_csr(n, lo, hi)


def agents(
    kinds: Sequence[Archetype],
    *,
    stake: ArrayLike = 1.0,
    risk_tolerance: ArrayLike = 0.5,
    conformity: ArrayLike = 0.0,
    threshold: ArrayLike = 1.0,
    noise: ArrayLike = 0.0,
) -> Agents:
    """Agents of the given archetypes; scalars broadcast to every agent."""
    n = len(kinds)

    def col(x: ArrayLike) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)).copy()

    return Agents(
        archetype=np.array([ARCHETYPES.index(k) for k in kinds], dtype=np.int8),
        stake=col(stake),
        risk_tolerance=col(risk_tolerance),
        conformity=col(conformity),
        threshold=col(threshold),
        noise=col(noise),
    )

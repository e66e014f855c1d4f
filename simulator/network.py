"""Influence networks built directly as symmetric sparse adjacency matrices.

A million-agent network must not pass through Python-level graph objects (networkx takes tens of
seconds and gigabytes there), so both families are generated with vectorized numpy draws and
assembled as a ``scipy.sparse.csr_array``: float32 ones as data, int32 indices (int64 only past
2**31 stored entries), rows sorted, no self-loops, no duplicate edges, symmetric.

Erdos-Renyi ``G(n, p)`` is sampled exactly with geometric skips over the upper triangle in row-major
order (Batagelj and Brandes 2005): the gaps between consecutive present pairs are independent
Geometric(p), so their running sum lists the edges already sorted and free of duplicates, with no
sort and no deduplication step. The small-world graph is Watts-Strogatz: a ring lattice where
each node links to its k/2 nearest neighbours on each side, then the far end of every lattice edge
is moved, with probability ``rewire_prob``, to a uniformly drawn node (details in
:func:`small_world`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from simulator.errors import ParameterError
from simulator.params import DEFAULT_DENSITY, MAX_EDGES, InfluenceModel, SimParams, lattice_k

__all__ = [
    "MAX_EDGES",
    "build_network",
    "check_network_size",
    "edge_probability",
    "erdos_renyi",
    "lattice_k",
    "small_world",
]

_MAX_REWIRE_PASSES = 64


def _index_dtype(n: int, n_edges: int) -> type[np.signedinteger]:
    """int32 when every index and the stored-entry count fit, else int64."""
    return np.int32 if max(n, 2 * n_edges) < 2**31 else np.int64


def symmetric_csr(n: int, lo: np.ndarray, hi: np.ndarray) -> sparse.csr_array:
    """Symmetric pattern matrix from each undirected edge listed once (no duplicates, lo != hi)."""
    idx = _index_dtype(n, len(lo))
    lo = lo.astype(idx, copy=False)
    hi = hi.astype(idx, copy=False)
    rows = np.concatenate([hi, lo])
    cols = np.concatenate([lo, hi])
    del lo, hi
    data = np.ones(len(rows), dtype=np.float32)
    # COO to CSR is a stable counting sort; ``tocsr`` sorts indices only if the result is not
    # already canonical (Erdos-Renyi edges arrive sorted, so for them it is a linear check).
    adjacency = sparse.coo_array((data, (rows, cols)), shape=(n, n)).tocsr()
    adjacency.sort_indices()
    return adjacency


def _row_offsets(i: np.ndarray, n: int) -> np.ndarray:
    """Number of upper-triangle pairs in rows before row ``i`` (row-major, j > i)."""
    return i * (2 * n - i - 1) // 2


def _unrank_pairs(linear: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Map sorted row-major upper-triangle ranks to pairs (i, j), i < j, exactly."""
    offsets = _row_offsets(np.arange(n, dtype=np.int64), n)
    per_row = np.diff(np.searchsorted(linear, offsets), append=len(linear))
    i = np.repeat(np.arange(n, dtype=_index_dtype(n, 0)), per_row)
    j = linear - offsets[i]
    j += i
    j += 1
    return i, j


def erdos_renyi(n: int, p: float, *, rng: np.random.Generator) -> sparse.csr_array:
    """G(n, p): each of the n(n-1)/2 pairs is an edge independently with probability ``p``."""
    if n < 0:
        raise ParameterError(f"agents: {n} is outside [0, inf)")
    if not 0.0 <= p <= 1.0:
        raise ParameterError(f"edge probability: {p} is outside [0, 1]")
    n_pairs = n * (n - 1) // 2
    empty = np.empty(0, dtype=np.int64)
    if n_pairs == 0 or p == 0.0:
        return symmetric_csr(n, empty, empty)
    if p == 1.0:
        linear = np.arange(n_pairs, dtype=np.int64)
    else:
        expected = n_pairs * p
        chunk = int(expected + 8.0 * math.sqrt(expected) + 64)
        parts: list[np.ndarray] = []
        position = -1  # rank of the last edge found so far
        while position < n_pairs:
            ranks = rng.geometric(p, size=chunk)
            # a gap past the last pair ends the graph; clamping keeps the running sum in int64
            np.minimum(ranks, n_pairs + 1, out=ranks)
            np.cumsum(ranks, out=ranks)
            ranks += position
            parts.append(ranks)
            position = int(ranks[-1])
            chunk = max(64, chunk // 8)
        linear = np.concatenate(parts) if len(parts) > 1 else parts[0]
        linear = linear[: int(np.searchsorted(linear, n_pairs))]
    i, j = _unrank_pairs(linear, n)
    del linear
    return symmetric_csr(n, i, j)


def _ring_distance(u: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    d = (w - u) % n
    return np.minimum(d, n - d)


def small_world(
    n: int, k: int, *, rewire_prob: float, rng: np.random.Generator
) -> sparse.csr_array:
    """Watts-Strogatz small world: ring lattice of even degree ``k``, far ends rewired.

    Lattice edges are (u, u + j mod n) for j = 1..k/2, enumerated j-major as networkx does. Each is
    rewired independently with probability ``rewire_prob``: its far end becomes a node drawn
    uniformly from the other n - 1. A drawn end is rejected and redrawn (only for the rejected
    edges, all at once) when it would land on a ring-lattice pair (distance <= k/2 on the ring,
    rewired or not) or duplicate another rewired edge (the earlier edge in enumeration order
    keeps it). After 64 passes any edge still rejected keeps its lattice end, which is free
    because no rewired edge lands on a lattice pair. So every node keeps degree >= k/2, the graph
    has no self-loops or duplicate edges and exactly n*k/2 edges; unlike networkx's sequential
    version the outcome does not depend on the order edges are visited in.
    """
    if k % 2 or k < 0 or (n > 0 and k > n - 1):
        raise ParameterError(f"lattice degree: {k} must be even and in [0, {max(n - 1, 0)}]")
    if not 0.0 <= rewire_prob <= 1.0:
        raise ParameterError(f"rewire_prob: {rewire_prob} is outside [0, 1]")
    half = k // 2
    u = np.tile(np.arange(n, dtype=np.int64), half)
    v = (u + np.repeat(np.arange(1, half + 1, dtype=np.int64), n)) % n
    rewired = np.flatnonzero(rng.random(len(u)) < rewire_prob) if len(u) else np.empty(0, int)
    if len(rewired) and n - 1 > k:  # some non-lattice pair exists to rewire onto
        src = u[rewired]
        dst = np.empty(len(rewired), dtype=np.int64)
        todo = np.arange(len(rewired))
        for _ in range(_MAX_REWIRE_PASSES):
            w = rng.integers(0, n - 1, size=len(todo))
            w += w >= src[todo]
            dst[todo] = w
            redrawn = np.zeros(len(rewired), dtype=bool)
            redrawn[todo] = True
            bad = np.zeros(len(rewired), dtype=bool)
            bad[todo] = _ring_distance(src[todo], w, n) <= half
            # duplicates among rewired edges: earlier accepted ones win, then enumeration order
            key = np.minimum(src, dst) * n + np.maximum(src, dst)
            order = np.lexsort((redrawn, key)) if len(key) else key
            ks = key[order]
            dup = np.zeros(len(key), dtype=bool)
            dup[order[1:]] = ks[1:] == ks[:-1]
            bad |= dup & redrawn
            # a bad edge's end goes back into the pool so it cannot block a later draw
            dst[bad] = -1 - np.arange(int(bad.sum()))
            todo = np.flatnonzero(bad)
            if len(todo) == 0:
                break
        keep = dst >= 0
        v[rewired[keep]] = dst[keep]
    return symmetric_csr(n, u, v)


def edge_probability(params: SimParams) -> float:
    """Erdos-Renyi edge probability: ``network_density``, else ``mean_degree / (N - 1)``."""
    if params.mean_degree is not None:
        return min(1.0, params.mean_degree / (params.agents - 1)) if params.agents > 1 else 0.0
    return DEFAULT_DENSITY if params.network_density is None else params.network_density


def check_network_size(params: SimParams) -> None:
    """Refuse, before anything is drawn, a network too large to build (dense default at large N).

    A validated ``SimParams`` never is (its validator applies the same limit); this guards the
    parameters built without validation.
    """
    reason = params.network_size_problem()
    if reason is not None:
        raise ParameterError(f"network: {reason}")


def build_network(params: SimParams, rng: np.random.Generator) -> sparse.csr_array:
    """The influence network a run with these parameters uses."""
    check_network_size(params)
    n = params.agents
    if params.influence_model is InfluenceModel.ERDOS_RENYI:
        return erdos_renyi(n, edge_probability(params), rng=rng)
    k = lattice_k(params.expected_degree(), n)
    return small_world(n, k, rewire_prob=params.rewire_prob, rng=rng)

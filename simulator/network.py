"""Influence networks built directly as symmetric sparse adjacency matrices.

A million-agent network must not pass through Python-level graph objects (networkx takes tens of
seconds and gigabytes there), so both families are generated with vectorized numpy draws and
assembled as a ``scipy.sparse.csr_array``: float32 ones as data, int32 indices (int64 only past
2**31 stored entries), rows sorted, no self-loops, no duplicate edges, symmetric.

Erdos-Renyi ``G(n, p)`` is sampled exactly with geometric skips over the upper triangle in row-major
order (Batagelj and Brandes 2005): the gaps between consecutive present pairs are independent
Geometric(p), so their running sum lists the edges already sorted and free of duplicates, with no
sort and no deduplication step. The ranks are drawn and mapped to pairs a block at a time straight
into the upper triangle's CSR arrays (:class:`UpperTriangle`); the lower triangle is its transpose
and the two are merged row by row (:func:`symmetric_from_upper`), so no COO form is built.

The small-world graph is Watts-Strogatz: a ring lattice where each node links to its k/2 nearest
neighbours on each side, then the far end of every lattice edge is moved, with probability
``rewire_prob``, to a uniformly drawn node (details in :func:`small_world`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from simulator.errors import ParameterError
from simulator.params import DEFAULT_DENSITY, MAX_EDGES, InfluenceModel, SimParams, lattice_k

__all__ = [
    "MAX_EDGES",
    "UpperTriangle",
    "build_network",
    "check_network_size",
    "edge_probability",
    "erdos_renyi",
    "induced_subgraph",
    "kept_entries",
    "lattice_k",
    "small_world",
    "symmetric_csr",
    "symmetric_from_upper",
]

_MAX_REWIRE_PASSES = 64


def _index_dtype(n: int, n_edges: int) -> type[np.signedinteger]:
    """int32 when every index and the stored-entry count fit, else int64."""
    return np.int32 if max(n, 2 * n_edges) < 2**31 else np.int64


def symmetric_from_upper(upper: sparse.csr_array) -> sparse.csr_array:
    """Symmetric pattern matrix from its strict upper triangle (CSR, rows sorted, no duplicates).

    Row ``i`` of ``upper`` stores its neighbours ``j > i`` in increasing order; its values are
    ignored. The lower triangle is the transpose, a counting sort in scipy's compiled code, and the
    sum of the two a row-by-row merge of sorted rows, so nothing is sorted. Pass ``upper`` as a
    temporary: it is released before the float32 data is allocated.
    """
    n = upper.shape[0]
    both = upper + upper.T
    del upper
    adjacency = sparse.csr_array(
        (np.ones(both.nnz, dtype=np.float32), both.indices, both.indptr), shape=(n, n)
    )
    adjacency.has_canonical_format = True  # sorted rows of distinct entries, by construction
    return adjacency


def _upper_pattern(n: int, indptr: np.ndarray, indices: np.ndarray) -> sparse.csr_array:
    """The upper triangle given by CSR ``indptr`` and ``indices``, with int8 ones as values."""
    pattern = np.ones(len(indices), dtype=np.int8)
    return sparse.csr_array((pattern, indices, indptr), shape=(n, n))


def symmetric_csr(n: int, lo: np.ndarray, hi: np.ndarray) -> sparse.csr_array:
    """Symmetric pattern matrix from each undirected edge listed once (no duplicates, lo != hi)."""
    idx = _index_dtype(n, len(lo))
    row = np.minimum(lo, hi).astype(idx, copy=False)
    col = np.maximum(lo, hi).astype(idx, copy=False)
    # COO to CSR is a counting sort by row; sorting within rows then gives the upper triangle
    upper = sparse.coo_array((np.ones(len(row), dtype=np.int8), (row, col)), shape=(n, n)).tocsr()
    del row, col
    upper.sort_indices()
    return symmetric_from_upper(upper)


def induced_subgraph(adjacency: sparse.csr_array, nodes: np.ndarray) -> sparse.csr_array:
    """The subgraph among ``nodes`` (increasing ids), node ``nodes[k]`` renumbered ``k``.

    Equals ``adjacency[nodes][:, nodes]`` for a canonical pattern matrix, without its column
    pass: the rows of ``nodes`` are taken, and their entries mapped through a node-to-position
    table that marks every other node -1 (kept in order, since the table is increasing).
    """
    k = len(nodes)
    position = np.full(adjacency.shape[0], -1, dtype=adjacency.indices.dtype)
    position[nodes] = np.arange(k, dtype=position.dtype)
    rows = adjacency[nodes]
    mapped = position[rows.indices]
    del position
    kept, indptr = kept_entries(rows.indptr, mapped >= 0)
    sub = sparse.csr_array((rows.data[kept], mapped[kept], indptr), shape=(k, k))
    sub.has_canonical_format = True
    return sub


def kept_entries(indptr: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stored entries of a CSR matrix that ``keep`` marks: their positions, in order, and the
    row pointer (of ``indptr``'s dtype) of the matrix of only those entries."""
    kept = np.flatnonzero(keep)
    return kept, np.searchsorted(kept, indptr).astype(indptr.dtype, copy=False)


def _row_offsets(i: np.ndarray, n: int) -> np.ndarray:
    """Number of upper-triangle pairs in rows before row ``i`` (row-major, j > i)."""
    return i * (2 * n - i - 1) // 2


_BLOCK = 1 << 20
"""Ranks drawn and mapped at a time: the int64 temporaries stay small, in cache and reused."""


class UpperTriangle:
    """The strict upper triangle of a graph in CSR form, built from row-major pair ranks.

    Pair ``(i, j)``, ``i < j``, of ``n`` nodes has rank ``i(2n - i - 1)/2 + j - i - 1``. The ranks
    arrive in increasing order, a block at a time (:meth:`add`); each block is mapped to its
    pairs exactly, in int64, and only the columns are kept (int32 when they fit), so nothing per
    edge outlives its block but its column. ``capacity`` is the expected number of edges; more
    are accepted, at the cost of a copy.
    """

    def __init__(self, n: int, capacity: int) -> None:
        self.n = n
        self.offsets = _row_offsets(np.arange(n + 1, dtype=np.int64), n)  # [n]: past every rank
        self.indices = np.empty(capacity, dtype=_index_dtype(n, capacity))
        self.counts = np.zeros(n, dtype=self.indices.dtype)
        self.size = 0

    def add(self, ranks: np.ndarray) -> None:
        """Add the pairs of ``ranks``: increasing, and above every rank added before."""
        if len(ranks) == 0:
            return
        end = self.size + len(ranks)
        if end > len(self.indices):
            grown = max(end, len(self.indices) + len(self.indices) // 8)
            kept = self.indices[: self.size].astype(_index_dtype(self.n, grown))
            self.indices = np.concatenate([kept, np.empty(grown - self.size, dtype=kept.dtype)])
            self.counts = self.counts.astype(kept.dtype)
        offsets = self.offsets
        first, last = np.searchsorted(offsets, ranks[[0, -1]], side="right") - 1
        rows = slice(int(first), int(last) + 1)
        per_row = np.diff(np.searchsorted(ranks, offsets[first : last + 2]))
        self.counts[rows] += per_row
        # j = rank - offsets[i] + i + 1
        shift: np.ndarray = offsets[rows] - np.arange(first + 1, last + 2, dtype=np.int64)
        out = self.indices[self.size : end]
        np.subtract(ranks, np.repeat(shift, per_row), out=out, casting="unsafe")
        self.size = end

    def csr(self) -> sparse.csr_array:
        """The triangle as a CSR matrix with int8 ones as values; the builder is spent."""
        idx = _index_dtype(self.n, self.size)
        indices = self.indices[: self.size].astype(idx, copy=False)
        indptr = np.zeros(self.n + 1, dtype=idx)
        np.cumsum(self.counts, out=indptr[1:])
        del self.indices, self.counts, self.offsets
        return _upper_pattern(self.n, indptr, indices)


def erdos_renyi(n: int, p: float, *, rng: np.random.Generator) -> sparse.csr_array:
    """G(n, p): each of the n(n-1)/2 pairs is an edge independently with probability ``p``."""
    if n < 0:
        raise ParameterError(f"agents: {n} is outside [0, inf)")
    if not 0.0 <= p <= 1.0:
        raise ParameterError(f"edge probability: {p} is outside [0, 1]")
    return symmetric_from_upper(_erdos_renyi_upper(n, p, rng).csr())


def _blocks(size: int) -> list[int]:
    """``size`` split into blocks of at most ``_BLOCK``."""
    return [min(_BLOCK, size - start) for start in range(0, size, _BLOCK)]


def _erdos_renyi_upper(n: int, p: float, rng: np.random.Generator) -> UpperTriangle:
    """The G(n, p) edges as an upper triangle, drawn as docs/model.md states."""
    n_pairs = n * (n - 1) // 2
    if n_pairs == 0 or p == 0.0:
        return UpperTriangle(n, 0)
    if p == 1.0:
        upper = UpperTriangle(n, n_pairs)
        for start in range(0, n_pairs, _BLOCK):
            upper.add(np.arange(start, min(start + _BLOCK, n_pairs), dtype=np.int64))
        return upper
    expected = n_pairs * p
    chunk = int(expected + 8.0 * math.sqrt(expected) + 64)
    upper = UpperTriangle(n, min(chunk, n_pairs))
    position = -1  # rank of the last edge found so far
    while position < n_pairs:
        # a chunk's draws a block at a time: the same values as one call for the whole chunk
        for size in _blocks(chunk):
            ranks = rng.geometric(p, size=size)
            # a gap past the last pair ends the graph; clamping keeps the running sum in int64
            np.minimum(ranks, n_pairs + 1, out=ranks)
            np.cumsum(ranks, out=ranks)
            ranks += position
            position = int(ranks[-1])
            upper.add(ranks[: int(np.searchsorted(ranks, n_pairs))])
        chunk = max(64, chunk // 8)
    return upper


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
    idx = _index_dtype(n, n * half)  # u + j < 2n fits too
    u = np.tile(np.arange(n, dtype=idx), half)
    v = u + np.repeat(np.arange(1, half + 1, dtype=idx), n)
    v %= n
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

"""The sparse neighbour-counting kernel and the plain fractional-threshold cascade (Watts 2002).

Every neighbour count in the simulator is one sparse matrix-vector product,
``adjacency @ indicator`` (:func:`neighbour_sum`): the influence phase of a run and
:func:`threshold_cascade` share it, so the engine can be checked against published cascade results.

Comparing counts with thresholds. A share test ``count / degree >= theta`` is done in integers:
each node gets once the smallest count that passes, ``need``, and every round compares counts with
it. The need count is defined by the floating-point share itself: it is the least ``k`` with
``fl(k / degree) >= theta`` (or ``> theta`` for strict tests), where ``fl`` is IEEE division. It
starts from ``ceil(theta * degree)`` and is corrected by single steps, because the product can round
across an integer: ``0.07 * 100`` is ``7.000000000000001``, yet ``7 / 100 >= 0.07`` holds. This
makes the integer test agree exactly with the ratio a naive implementation (or a reader with a
calculator) computes, including thresholds that hit a share exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from simulator.errors import ParameterError

__all__ = [
    "CascadeResult",
    "as_pattern",
    "count_dtype",
    "need_counts",
    "neighbour_sum",
    "threshold_cascade",
]

_EXACT_FLOAT32 = 2**24


def neighbour_sum(adjacency: sparse.csr_array, values: np.ndarray) -> np.ndarray:
    """Row sums of ``adjacency`` weighted by ``values``: the one neighbour-counting kernel."""
    return np.asarray(adjacency @ values)


def count_dtype(degree: np.ndarray) -> type[np.floating]:
    """float32 when every neighbour count is exact in it (degree < 2**24), else float64."""
    return np.float32 if len(degree) == 0 or int(degree.max()) < _EXACT_FLOAT32 else np.float64


def need_counts(degree: np.ndarray, thresholds: np.ndarray, *, strict: bool) -> np.ndarray:
    """Least count k with fl(k / degree) >= theta (> theta if ``strict``); degree + 1 if none.

    Isolated nodes (degree 0) get 1, so a count (always 0 for them) never reaches it.
    """
    d = degree.astype(np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    # in place where possible: at 10^7 nodes each float64 temporary is 80 MB
    k = np.multiply(t, d)
    if strict:
        np.floor(k, out=k)
        k += 1.0
    else:
        np.ceil(k, out=k)
    share = np.add(d, 1.0)
    np.clip(k, 0.0, share, out=k)
    safe_d = np.where(d > 0, d, 1.0)

    def passes(count: np.ndarray) -> np.ndarray:
        np.divide(count, safe_d, out=share)
        return share > t if strict else share >= t

    for _ in range(4):  # the estimate is at most one step off; loop bounds are a safety margin
        np.subtract(k, 1.0, out=share)
        down = (k >= 1.0) & passes(share)
        if not down.any():
            break
        k -= down
    for _ in range(4):
        up = (k <= d) & ~passes(k)
        if not up.any():
            break
        k += up
    k[d == 0] = 1.0
    return k


def as_pattern(
    adjacency: sparse.sparray | sparse.spmatrix, *, check: bool = True
) -> sparse.csr_array:
    """Adjacency as an unweighted CSR pattern (data all ones) after checking it is a simple graph.

    ``check`` verifies square shape, symmetry and the absence of self-loops (O(nnz)).
    """
    if not sparse.issparse(adjacency):
        raise ParameterError(f"adjacency: {type(adjacency).__name__} is not a scipy.sparse matrix")
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ParameterError(f"adjacency: shape {adjacency.shape} is not square")
    # a csr_array as it is: a new wrapper would forget that its format is known canonical
    a = adjacency if isinstance(adjacency, sparse.csr_array) else sparse.csr_array(adjacency)
    if not a.has_canonical_format:  # duplicate entries would count a neighbour twice
        a = a.copy()
        a.sum_duplicates()
    if a.nnz and not (a.data.dtype == np.float32 and a.data.min() == 1 == a.data.max()):
        a = a.copy()
        a.eliminate_zeros()
        a = sparse.csr_array((np.ones(a.nnz, dtype=np.float32), a.indices, a.indptr), shape=a.shape)
    if check and a.nnz:
        if a.diagonal().any():
            node = int(np.flatnonzero(a.diagonal())[0])
            raise ParameterError(f"adjacency: node {node} has a self-loop; a simple graph has none")
        # canonical CSR is symmetric iff its transpose (sorted by construction) has the same
        # structure; cheaper than forming a != a.T
        t = a.T.tocsr()
        if not (np.array_equal(a.indptr, t.indptr) and np.array_equal(a.indices, t.indices)):
            raise ParameterError(
                "adjacency: matrix is not symmetric (the graph must be undirected)"
            )
    return a


@dataclass(frozen=True, eq=False)
class CascadeResult:
    """Outcome of a threshold cascade."""

    active: np.ndarray
    """Final boolean state; initial adopters included."""
    new_per_round: np.ndarray
    """Nodes activated in each round run (int64); a trailing 0 marks convergence."""

    @property
    def rounds(self) -> int:
        """Rounds run, including a final round that activated nobody."""
        return len(self.new_per_round)


def threshold_cascade(
    adjacency: sparse.sparray | sparse.spmatrix,
    thresholds: np.ndarray,
    active: np.ndarray,
    max_rounds: int | None = None,
    *,
    check: bool = True,
) -> CascadeResult:
    """Fractional-threshold cascade (Watts 2002) in synchronous rounds.

    In each round an inactive node with degree > 0 activates when the share of its active
    neighbours (from the previous round) reaches its threshold: ``active_nbrs / degree >= theta``.
    Active nodes stay active; isolated nodes never activate. Runs until a round activates nobody
    (that round is counted) or ``max_rounds`` rounds have run (None: to convergence). ``check``
    validates the adjacency (square, symmetric, no self-loops; O(nnz)).
    """
    a = as_pattern(adjacency, check=check)
    n = a.shape[0]
    theta = np.asarray(thresholds, dtype=np.float64)
    state = np.asarray(active)
    if theta.shape != (n,):
        raise ParameterError(f"thresholds: shape {theta.shape} does not match {n} nodes")
    if np.isnan(theta).any():
        raise ParameterError(f"thresholds: node {int(np.flatnonzero(np.isnan(theta))[0])} is NaN")
    if state.shape != (n,) or state.dtype != np.bool_:
        raise ParameterError(
            f"active: expected a bool array of shape ({n},), got {state.dtype} {state.shape}"
        )
    if max_rounds is not None and max_rounds < 0:
        raise ParameterError(f"max_rounds: {max_rounds} is outside [0, inf)")
    degree = np.diff(a.indptr)
    dtype = count_dtype(degree)
    need = need_counts(degree, theta, strict=False).astype(dtype)
    state = state.copy()
    new_per_round: list[int] = []
    while max_rounds is None or len(new_per_round) < max_rounds:
        counts = neighbour_sum(a, state.astype(dtype))
        new = counts >= need
        new &= ~state
        n_new = int(np.count_nonzero(new))
        new_per_round.append(n_new)
        if n_new == 0:
            break
        state |= new
    return CascadeResult(active=state, new_per_round=np.asarray(new_per_round, dtype=np.int64))

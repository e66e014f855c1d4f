"""Vectorized networks against their definitions and networkx's generators."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from simulator.errors import ParameterError
from simulator.network import (
    UpperTriangle,
    build_network,
    edge_probability,
    erdos_renyi,
    induced_subgraph,
    kept_entries,
    lattice_k,
    small_world,
    symmetric_csr,
    symmetric_from_upper,
)
from simulator.params import SimParams


def assert_simple_symmetric(a: sparse.csr_array, n: int) -> None:
    assert a.shape == (n, n)
    assert a.indices.dtype == np.int32 and a.data.dtype == np.float32
    assert np.all(a.data == 1)
    assert a.has_sorted_indices
    assert not a.diagonal().any(), "self-loop"
    assert (a != a.T).nnz == 0, "not symmetric"
    a.sum_duplicates()
    assert a.nnz == len(a.data)


def upper_from_ranks(n: int, parts: list[np.ndarray], capacity: int) -> sparse.csr_array:
    builder = UpperTriangle(n, capacity)
    for ranks in parts:
        builder.add(ranks)
    return builder.csr()


def upper_pairs(n: int, parts: list[np.ndarray], capacity: int = 0) -> list[tuple[int, int]]:
    """The pairs (i, j) that ``UpperTriangle`` stores, in storage order."""
    upper = upper_from_ranks(n, parts, capacity)
    rows = np.repeat(np.arange(n), np.diff(upper.indptr))
    return list(zip(rows.tolist(), upper.indices.tolist(), strict=True))


@pytest.mark.parametrize("n", [2, 3, 7, 40])
def test_upper_triangle_lists_every_upper_pair_in_row_major_order(n: int) -> None:
    ranks = np.arange(n * (n - 1) // 2, dtype=np.int64)
    assert upper_pairs(n, [ranks], len(ranks)) == list(itertools.combinations(range(n), 2))
    # the same ranks in blocks (one of them empty), past the capacity given, the same triangle
    assert upper_pairs(n, [ranks[:1], ranks[1:1], ranks[1:]], 1) == upper_pairs(n, [ranks])


def test_upper_triangle_of_many_blocks_equals_scipys_conversion() -> None:
    n = 2100
    rng = np.random.default_rng(4)
    ranks = np.flatnonzero(rng.random(n * (n - 1) // 2) < 0.7)
    third = len(ranks) // 3
    upper = upper_from_ranks(n, [ranks[:third], ranks[third : 2 * third], ranks[2 * third :]], 99)
    i, j = np.triu_indices(n, 1)  # row-major, as the ranks count them
    expected = sparse.csr_array(
        (np.ones(len(ranks), dtype=np.int8), (i[ranks], j[ranks])), shape=(n, n)
    )
    assert upper.indices.dtype == np.int32
    assert np.array_equal(upper.indptr, expected.indptr)
    assert np.array_equal(upper.indices, expected.indices)


def test_upper_triangle_is_exact_for_millions_of_nodes() -> None:
    n = 3_000_000
    rows = [0, 1, 2, n // 3, n // 2, n - 3, n - 2]
    pairs = sorted({(r, r + 1) for r in rows} | {(r, n - 1) for r in rows})
    # rank of (i, j): the pairs of rows 0..i-1, then j - i - 1 within row i
    ranks = np.array([i * (2 * n - i - 1) // 2 + (j - i - 1) for i, j in pairs], dtype=np.int64)
    assert upper_pairs(n, [ranks]) == pairs


def scipy_symmetric(n: int, lo: np.ndarray, hi: np.ndarray) -> sparse.csr_array:
    """The same matrix through scipy's COO to CSR conversion."""
    rows, cols = np.concatenate([lo, hi]), np.concatenate([hi, lo])
    a = sparse.coo_array((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    a = a.tocsr()
    a.sort_indices()
    return a


def random_edges(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` distinct undirected edges of ``n`` nodes, in random order and orientation."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    pick = rng.choice(len(i), size=m, replace=False)
    lo, hi = i[pick], j[pick]
    flip = rng.random(m) < 0.5
    return np.where(flip, hi, lo), np.where(flip, lo, hi)


@pytest.mark.parametrize("n,m,seed", [(0, 0, 0), (1, 0, 0), (2, 1, 0), (9, 0, 1), (9, 36, 2),
                                      (50, 300, 3), (400, 3000, 4), (1000, 200, 5)])  # fmt: skip
def test_symmetric_csr_equals_scipys_conversion(n: int, m: int, seed: int) -> None:
    lo, hi = random_edges(n, m, seed)
    ours = symmetric_csr(n, lo, hi)
    theirs = scipy_symmetric(n, lo, hi)
    assert_simple_symmetric(ours, n)
    assert ours.has_canonical_format
    for field in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(ours, field), getattr(theirs, field)), field
    assert ours.indptr.dtype == np.int32


def test_symmetric_from_upper_adds_the_transpose_without_sorting() -> None:
    n = 300
    lo, hi = random_edges(n, 2000, 6)
    row, col = np.minimum(lo, hi).astype(np.int32), np.maximum(lo, hi).astype(np.int32)
    upper = sparse.csr_array((np.full(len(lo), 7, dtype=np.int8), (row, col)), shape=(n, n))
    upper.sort_indices()
    ours = symmetric_from_upper(upper)
    assert_simple_symmetric(ours, n)  # the upper values (7) do not leak into the pattern
    assert (ours != scipy_symmetric(n, lo, hi)).nnz == 0
    assert np.array_equal(sparse.triu(ours, format="csr").indices, upper.indices)


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 1.0])
def test_induced_subgraph_equals_double_slicing(share: float) -> None:
    n = 500
    a = erdos_renyi(n, 0.03, rng=np.random.default_rng(8))
    nodes = np.flatnonzero(np.random.default_rng(9).random(n) < share)
    ours = induced_subgraph(a, nodes)
    theirs = a[nodes][:, nodes]
    assert_simple_symmetric(ours, len(nodes))
    assert ours.has_canonical_format
    for field in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(ours, field), getattr(theirs, field)), field


def plain_erdos_renyi(n: int, p: float, rng: np.random.Generator) -> sparse.csr_array:
    """G(n, p) as docs/model.md words it, plainly: one ``geometric`` call per chunk, every rank
    mapped to its pair at once, and scipy's COO to CSR conversion."""
    n_pairs = n * (n - 1) // 2
    expected = n_pairs * p
    chunk = int(expected + 8.0 * math.sqrt(expected) + 64)
    parts, position = [], -1
    while position < n_pairs:
        ranks = position + np.cumsum(np.minimum(rng.geometric(p, size=chunk), n_pairs + 1))
        parts.append(ranks)
        position, chunk = int(ranks[-1]), max(64, chunk // 8)
    ranks = np.concatenate(parts)
    ranks = ranks[ranks < n_pairs]
    rows = np.arange(n, dtype=np.int64)
    offsets = rows * (2 * n - rows - 1) // 2
    i = np.searchsorted(offsets, ranks, side="right") - 1
    return scipy_symmetric(n, i, ranks - offsets[i] + i + 1)


@pytest.mark.parametrize(
    "n,p,seed",
    [(300_000, 10 / 299_999, 1), (2000, 0.9, 2), (3000, 0.3, 3), (50, 0.3, 4), (1000, 1e-300, 5)],
)
def test_erdos_renyi_draws_exactly_as_documented(n: int, p: float, seed: int) -> None:
    # the first two draw more than one block of gaps per chunk
    ours_rng, plain_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    ours, plain = erdos_renyi(n, p, rng=ours_rng), plain_erdos_renyi(n, p, plain_rng)
    for field in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(ours, field), getattr(plain, field)), field
    # and the generator is left where the plain draws leave it
    assert ours_rng.integers(2**62) == plain_rng.integers(2**62)


@pytest.mark.parametrize("n,p", [(0, 0.5), (1, 0.5), (2, 1.0), (30, 0.0), (30, 1.0), (200, 0.05)])
def test_erdos_renyi_is_a_simple_symmetric_graph(n: int, p: float) -> None:
    a = erdos_renyi(n, p, rng=np.random.default_rng(1))
    assert_simple_symmetric(a, n)
    if p == 1.0:
        assert a.nnz == n * (n - 1)
    if p == 0.0:
        assert a.nnz == 0


def test_erdos_renyi_same_generator_state_same_graph() -> None:
    a = erdos_renyi(500, 0.02, rng=np.random.default_rng(5))
    b = erdos_renyi(500, 0.02, rng=np.random.default_rng(5))
    c = erdos_renyi(500, 0.02, rng=np.random.default_rng(6))
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


@pytest.mark.slow
def test_erdos_renyi_degrees_are_binomial_like_networkx() -> None:
    n, p = 2000, 0.01
    ours = np.concatenate(
        [np.diff(erdos_renyi(n, p, rng=np.random.default_rng(s)).indptr) for s in range(4)]
    )
    theirs = np.concatenate(
        [np.array([d for _, d in nx.fast_gnp_random_graph(n, p, seed=s).degree]) for s in range(4)]
    )
    mean, var = (n - 1) * p, (n - 1) * p * (1 - p)
    # the mean degree is 2M/n with M ~ Binomial(n(n-1)/2, p), 4 graphs: sd of the mean ~0.07
    sd_mean = 2 * math.sqrt(n * (n - 1) / 2 * p * (1 - p)) / n / 2
    for degrees in (ours, theirs):
        assert abs(degrees.mean() - mean) < 6 * sd_mean
        assert abs(degrees.var() - var) < 6 * var * math.sqrt(2 / len(degrees))
    # and the two samples agree with each other on the shape of the distribution
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(ours, q) - np.quantile(theirs, q)) <= 1


@pytest.mark.slow
def test_erdos_renyi_every_pair_is_equally_likely() -> None:
    n, p, draws = 6, 0.3, 3000
    rng = np.random.default_rng(11)
    counts = np.zeros((n, n))
    for _ in range(draws):
        counts += erdos_renyi(n, p, rng=rng).toarray()
    freq = counts[np.triu_indices(n, 1)] / draws
    sd = math.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(freq - p) < 5 * sd), freq


@pytest.mark.parametrize(
    "mean,n,k",
    [(9.8, 50, 10), (3.0, 100, 4), (5.0, 100, 6), (0.9, 10, 0), (1.0, 10, 2), (40, 9, 8)],
)
def test_lattice_k_is_nearest_even_halves_up_capped(mean: float, n: int, k: int) -> None:
    assert lattice_k(mean, n) == k


@pytest.mark.parametrize("n,k", [(20, 4), (11, 6), (100, 10)])
def test_small_world_without_rewiring_is_networkx_ring_lattice(n: int, k: int) -> None:
    ours = small_world(n, k, rewire_prob=0.0, rng=np.random.default_rng(0))
    ring = nx.to_scipy_sparse_array(nx.watts_strogatz_graph(n, k, 0.0), nodelist=range(n))
    assert (ours != ring).nnz == 0


@pytest.mark.parametrize("n,k,beta", [(300, 6, 0.1), (300, 6, 1.0), (10, 8, 1.0), (5, 4, 0.7)])
def test_small_world_is_simple_and_keeps_edges_and_half_degrees(
    n: int, k: int, beta: float
) -> None:
    a = small_world(n, k, rewire_prob=beta, rng=np.random.default_rng(3))
    assert_simple_symmetric(a, n)
    degree = np.diff(a.indptr)
    assert degree.sum() == n * k
    assert degree.min() >= k // 2


def _clustering(a: sparse.csr_array) -> float:
    return nx.average_clustering(nx.from_scipy_sparse_array(a))


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.3, 1.0])
def test_small_world_clustering_matches_networkx(beta: float) -> None:
    n, k, seeds = 1000, 10, range(3)
    ours = np.mean(
        [
            _clustering(small_world(n, k, rewire_prob=beta, rng=np.random.default_rng(s)))
            for s in seeds
        ]
    )
    theirs = np.mean(
        [nx.average_clustering(nx.watts_strogatz_graph(n, k, beta, seed=s)) for s in seeds]
    )
    assert abs(ours - theirs) < 0.02, (ours, theirs)


def test_small_world_rewiring_shortens_paths() -> None:
    n, k = 400, 6
    ring = nx.from_scipy_sparse_array(
        small_world(n, k, rewire_prob=0.0, rng=np.random.default_rng(0))
    )
    sw = nx.from_scipy_sparse_array(
        small_world(n, k, rewire_prob=0.1, rng=np.random.default_rng(0))
    )
    assert nx.average_shortest_path_length(sw) < 0.5 * nx.average_shortest_path_length(ring)


@pytest.mark.parametrize(
    "call",
    [
        lambda: erdos_renyi(10, 1.5, rng=np.random.default_rng(0)),
        lambda: small_world(10, 3, rewire_prob=0.1, rng=np.random.default_rng(0)),
        lambda: small_world(10, 10, rewire_prob=0.1, rng=np.random.default_rng(0)),
        lambda: small_world(10, 4, rewire_prob=-0.1, rng=np.random.default_rng(0)),
    ],
)
def test_bad_generator_arguments_raise_parameter_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError):
        call()


def test_build_network_follows_params() -> None:
    rng = np.random.default_rng(0)
    er = build_network(SimParams(agents=3000, mean_degree=8), rng)
    assert abs(er.nnz / 3000 - 8) < 0.5
    assert edge_probability(SimParams(agents=101, mean_degree=10)) == pytest.approx(0.1)
    assert edge_probability(SimParams(agents=101, rules="v0.4")) == 0.2
    assert edge_probability(SimParams(agents=101)) == pytest.approx(0.1)  # v0.5: mean degree 10
    assert edge_probability(SimParams(agents=1, mean_degree=3)) == 0.0
    sw = build_network(
        SimParams(agents=101, network_density=0.05, influence_model="small_world"), rng
    )
    assert sw.nnz == 101 * 6  # 0.05 * 100 = 5 -> nearest even, halves up: 6


@pytest.mark.parametrize("p", [5e-324, 1e-300, 1e-12])
def test_erdos_renyi_tiny_probabilities_terminate_with_few_edges(p: float) -> None:
    assert erdos_renyi(1000, p, rng=np.random.default_rng(0)).nnz == 0


def test_kept_entries_give_the_row_pointer_of_the_kept_entries() -> None:
    a = erdos_renyi(300, 0.05, rng=np.random.default_rng(10))
    keep = np.random.default_rng(11).random(a.nnz) < 0.4
    kept, indptr = kept_entries(a.indptr, keep)
    assert np.array_equal(kept, np.flatnonzero(keep))
    assert indptr.dtype == a.indptr.dtype
    rows = np.repeat(np.arange(300), np.diff(a.indptr))
    assert np.array_equal(np.diff(indptr), np.bincount(rows[keep], minlength=300))
    assert indptr[0] == 0 and indptr[-1] == keep.sum()

"""Sobol index estimators: first-order and total indices of one output, with bootstrap intervals.

The first-order index of input ``i`` is ``S1_i = Var(E[Y | X_i]) / Var(Y)``, the share of the
output's variance that ``X_i`` explains alone; the total index ``ST_i = E[Var(Y | X_~i)] /
Var(Y)`` is the share left when every other input is known, so it adds the interactions of
``X_i`` to its main effect. Inputs are unit design coordinates in ``[0, 1)^d``, independent and
uniform, as every sampled sweep draws them. Two estimators, chosen by the design:

* :func:`saltelli_indices`, for a Saltelli design (``method: sobol``, ``design: saltelli``):
  ``SALib.analyze.sobol`` (Saltelli 2010's S1, Jansen's ST), its bootstrap over base samples.
* :func:`given_data_indices`, for any other uniform sample (Latin hypercube, random, plain
  Sobol): S1 by RBD-FAST (SALib's estimator: sort by ``X_i``, the power in the first
  harmonics, Tissot and Prieur's bias correction), ST by nearest neighbours (ours: SALib has
  no given-data total index that can be seeded, see docs/analysis.md), except on a Sobol net.

Intervals are ``estimate +- conf``: ``conf`` is the normal quantile of ``confidence`` times the
bootstrap standard deviation, as SALib computes it. Every function is pure and takes its seed as
an argument; nothing touches numpy's global generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RBD_HARMONICS",
    "Indices",
    "given_data_indices",
    "nearest_neighbour_terms",
    "rbd_fast_first_order",
    "rbd_fast_rows",
    "saltelli_indices",
]

RBD_HARMONICS = 10
"""Harmonics summed by RBD-FAST (SALib's default ``M``)."""
_BOOTSTRAP_CELLS = 1 << 22
"""Resample-by-point cells drawn at once by the nearest-neighbour bootstrap (32 MiB of indexes)."""


@dataclass(frozen=True)
class Indices:
    """First-order and total indices of one output, one entry per input, with half-widths."""

    s1: np.ndarray
    s1_conf: np.ndarray
    st: np.ndarray
    st_conf: np.ndarray


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def saltelli_indices(
    y: np.ndarray, d: int, *, resamples: int, confidence: float, seed: int
) -> Indices:
    """Indices from the outputs of a Saltelli design, in SALib's row order.

    ``y`` holds ``base x (d + 2)`` values: for each base point A, A with column ``i`` from B
    (``i = 0 .. d-1``), then B. ``seed`` (above 0: SALib falls back to numpy's global generator
    on 0) draws the bootstrap's base samples.
    """
    from SALib.analyze import sobol

    if seed <= 0:
        raise ValueError(f"seed: {seed} must be above 0")
    # names as an array: SALib 1.5.1 passes them to pandas.unique, which refuses a list since
    # pandas 3 (SALib 1.5.2 wraps them itself)
    names = np.array([f"x{i}" for i in range(d)])
    problem = {"num_vars": d, "names": names, "bounds": [[0.0, 1.0]] * d}
    result = sobol.analyze(
        problem,
        np.asarray(y, dtype=np.float64),
        calc_second_order=False,
        num_resamples=resamples,
        conf_level=confidence,
        print_to_console=False,
        seed=seed,
    )
    return Indices(
        *(np.asarray(result[key], dtype=np.float64) for key in ("S1", "S1_conf", "ST", "ST_conf"))
    )


def rbd_fast_first_order(x: np.ndarray, y: np.ndarray, harmonics: int = RBD_HARMONICS) -> float:
    """RBD-FAST's first-order index of ``y`` on one input ``x`` (SALib's estimator, unskewed)."""
    from SALib.analyze.rbd_fast import compute_first_order, permute_outputs, unskew_S1

    raw = compute_first_order(permute_outputs(x, y), harmonics)
    return float(unskew_S1(raw, harmonics, len(y)))


def nearest_neighbours(x: np.ndarray, i: int) -> np.ndarray:
    """Each point's nearest neighbour (Euclidean) in every input but ``i``; never itself."""
    from scipy.spatial import cKDTree

    rest = np.delete(np.asarray(x, dtype=np.float64), i, axis=1)
    _, found = cKDTree(rest).query(rest, k=2)
    own = np.arange(len(rest))
    return np.where(found[:, 0] != own, found[:, 0], found[:, 1])  # a duplicate may come first


def nearest_neighbour_terms(x: np.ndarray, y: np.ndarray, i: int) -> np.ndarray:
    """``(y_k - y_n(k))^2 / 2`` per point ``k``, ``n(k)`` its nearest neighbour without input ``i``.

    Their mean estimates ``E[Var(Y | X_~i)]`` (Devroye, Gyorfi, Lugosi and Walk 2018, "A nearest
    neighbor estimate of the residual variance"): two points close in every other input differ
    mostly through ``X_i``, and more so through noise. The bias shrinks as neighbours get closer,
    about as ``n^(-1/(d-1))``.
    """
    return (y - y[nearest_neighbours(x, i)]) ** 2 / 2


def given_data_indices(
    x: np.ndarray,
    y: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
    totals: bool = True,
) -> Indices:
    """Indices from any independent uniform sample: ``x`` is ``n x d`` in ``[0, 1)``, ``y`` has n.

    S1 is RBD-FAST's, with SALib's bootstrap scheme (each resample draws ``n // 2`` points with
    replacement). ST is the nearest-neighbour estimate ``mean(terms) / Var(y)``; its bootstrap
    resamples the points' terms with the neighbours held fixed (redrawing neighbours among
    repeated points would make them their own neighbours). With one input, ST is 1: nothing else
    varies. ``totals=False`` leaves ST out (NaN): nearest neighbours need the left-out input to
    be drawn independently of the others, which a Sobol net is not (it spreads points that are
    close in some inputs far apart in the others, and the estimate comes out far too high).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    z = _z(confidence)
    s1, s1_conf = np.empty(d), np.empty(d)
    st, st_conf = (np.ones(d), np.zeros(d)) if totals else (np.full(d, np.nan), np.full(d, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample may not vary: NaN, dropped
        for i in range(d):
            s1[i] = rbd_fast_first_order(x[:, i], y)
            s1_conf[i] = z * _sd(_rbd_fast_bootstrap(x[:, i], y, resamples, rng))
        if totals and d > 1:
            variance = float(y.var())
            for i in range(d):
                neighbour = nearest_neighbours(x, i)
                terms = (y - y[neighbour]) ** 2 / 2
                st[i] = float(terms.mean()) / variance
                groups = _components(neighbour)
                st_conf[i] = z * _sd(_ratio_bootstrap(terms, y, groups, resamples, rng))
    return Indices(s1, s1_conf, st, st_conf)


def rbd_fast_rows(x: np.ndarray, y: np.ndarray, harmonics: int = RBD_HARMONICS) -> np.ndarray:
    """:func:`rbd_fast_first_order` of each row of ``x`` and ``y`` (``b x m``), vectorised.

    The same computation as SALib's ``permute_outputs``, ``compute_first_order`` and
    ``unskew_S1``, on many rows at once: sort by ``x``, take every other point up and the rest
    back down, and compare the periodogram's first harmonics with its total.
    """
    from scipy.signal import periodogram

    order = np.argsort(x, axis=1, kind="stable")
    order = np.concatenate([order[:, ::2], order[:, 1::2][:, ::-1]], axis=1)
    _, power = periodogram(np.take_along_axis(y, order, axis=1), axis=1)
    raw = power[:, 1 : harmonics + 1].sum(axis=1) / power[:, 1:].sum(axis=1)
    skew = 2 * harmonics / x.shape[1]
    return np.asarray(raw - skew / (1 - skew) * (1 - raw))


def _rbd_fast_bootstrap(
    x: np.ndarray, y: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """RBD-FAST's S1 over SALib's resamples: ``n // 2`` points drawn with replacement, each."""
    n = len(y)
    half = n // 2
    batch = max(1, _BOOTSTRAP_CELLS // max(half, 1))
    draws = []
    for start in range(0, resamples, batch):
        pick = rng.integers(n, size=(min(batch, resamples - start), half))
        draws.append(rbd_fast_rows(x[pick], y[pick]))
    return np.concatenate(draws)


def _sd(draws: np.ndarray) -> float:
    """Standard deviation of the finite bootstrap draws (NaN with fewer than two)."""
    finite = draws[np.isfinite(draws)]
    return float(finite.std(ddof=1)) if len(finite) > 1 else math.nan


def _components(neighbour: np.ndarray) -> np.ndarray:
    """The connected component of each point in the graph of point -> nearest neighbour."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    n = len(neighbour)
    graph = coo_array((np.ones(n), (np.arange(n), neighbour)), shape=(n, n))
    return np.asarray(connected_components(graph, directed=False)[1])


def _ratio_bootstrap(
    terms: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``mean(terms) / var(y)`` over resamples of whole neighbour components.

    A term involves a point and its neighbour, and a point may be the neighbour of several, so
    terms are not independent; points of different components of the neighbour graph are (given
    the design), so the components are what is resampled, with replacement.
    """
    k = int(groups.max()) + 1
    y = y - y.mean()  # centred: the variance below is a difference of sums
    sums = np.stack(
        [np.bincount(groups, weights=w, minlength=k) for w in (np.ones_like(y), terms, y, y * y)]
    )
    batch = max(1, _BOOTSTRAP_CELLS // k)
    ratios = []
    for start in range(0, resamples, batch):
        pick = rng.integers(k, size=(min(batch, resamples - start), k))
        count, term, first, second = (part[pick].sum(axis=1) for part in sums)
        mean = first / count
        ratios.append((term / count) / (second / count - mean * mean))
    return np.concatenate(ratios)

"""Sobol sensitivity indices of every outcome of a sampled sweep, as one table.

A sampled sweep asks which parameters drive each outcome, and how much of that through
interactions. :func:`sobol_indices` answers with the first-order and total Sobol index of every
outcome column of the results table for every design dimension (a zip group is one dimension),
each with a bootstrap interval, from the runs ``collect`` read:

* Replicates of a point are averaged first, and the indices are those of the point means. The
  designs' estimators need one value per design point (a Saltelli design pairs points), and the
  mean is the best one; the seed's noise that the mean keeps acts as one more input, unexplained
  by any parameter: it lowers every S1 and adds to every ST. ``noise_share`` estimates its share
  of the variance from the spread between replicates.
* A Saltelli design (``method: sobol``, ``design: saltelli``) gets SALib's Sobol estimator; a
  Latin hypercube, a plain Sobol sequence or a random sample gets the given-data estimators (see
  ``sweep_controller.analysis.estimators`` and docs/analysis.md).
* Booleans count as 0/1 (the indices of a rate) and ``cascade_ending`` as one 0/1 outcome per
  ending (``cascade_ending=converged``, ...). An outcome that does not vary, or has values at too
  few points, gets no indices and a note saying why.

The bootstrap is seeded from the sweep's seed, so a sweep's indices are reproducible.
:func:`write_indices` writes the table as CSV and Parquet, atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from simulator.atomic import write_atomic
from simulator.model import Ending
from sweep_controller.analysis.estimators import Indices, given_data_indices, saltelli_indices
from sweep_controller.analysis.results import OUTCOME_COLUMNS, Collected
from sweep_controller.errors import AnalysisError, ResultsError
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import Design, Method, Sweep

__all__ = [
    "ANALYSABLE_METHODS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "INDEX_COLUMNS",
    "MIN_BASE_SAMPLES",
    "MIN_POINTS",
    "Estimator",
    "OutcomeIndices",
    "SobolIndices",
    "check_analysable",
    "outcome_series",
    "sobol_indices",
    "write_indices",
]

ANALYSABLE_METHODS: frozenset[Method] = frozenset(
    {Method.SOBOL, Method.LATIN_HYPERCUBE, Method.RANDOM}
)
"""Methods whose points are independent uniform draws of the design coordinates."""
MIN_BASE_SAMPLES = 32
"""Fewest base samples of a Saltelli design: below, a bootstrap of them says little."""
MIN_POINTS = 128
"""Fewest points of a given-data design: RBD-FAST's bias correction is 2M/n = 16% at 128, and
nearest neighbours in three other dimensions are 0.2 apart on average."""
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
ANALYSIS_STREAM = 0x53574545_5041  # "SWEEPA": the bootstrap's stream, apart from every run's
CATEGORIES: Mapping[str, tuple[str, ...]] = {"cascade_ending": tuple(e.value for e in Ending)}
"""Text outcomes and their levels: each level is analysed as a 0/1 outcome."""
INDEX_COLUMNS: tuple[str, ...] = (
    "outcome",
    "parameter",
    "S1",
    "S1_conf",
    "ST",
    "ST_conf",
    "points",
    "noise_share",
    "estimator",
    "confidence",
    "note",
)
"""Columns of the written table: one row per outcome and parameter."""
FILE_STEM = "sobol-indices"


class Estimator(StrEnum):
    """Which estimator the design allows."""

    SALTELLI = "saltelli"
    """SALib's Sobol estimator on a Saltelli design: S1 and ST."""
    GIVEN_DATA = "rbd_fast+nearest_neighbour"
    """A Latin hypercube or random sample: S1 by RBD-FAST, ST by nearest neighbours."""
    FIRST_ORDER = "rbd_fast"
    """A plain Sobol sequence: S1 by RBD-FAST; no ST (its points are not independent draws)."""


@dataclass(frozen=True)
class OutcomeIndices:
    """The indices of one outcome (None, with a note, when it has none) and what they rest on."""

    outcome: str
    points: int
    """Design points with a value that the estimate used."""
    noise_share: float
    """Share of the point means' variance that is replicate noise (NaN with one replicate)."""
    indices: Indices | None
    note: str = ""


@dataclass(frozen=True)
class SobolIndices:
    """Sobol indices of a sweep's outcomes, one entry per design dimension."""

    sweep: str
    parameters: tuple[str, ...]
    """Design dimensions by name; a zip group is its members joined by ``+``."""
    estimator: Estimator
    confidence: float
    resamples: int
    outcomes: tuple[OutcomeIndices, ...]

    def outcome(self, name: str) -> OutcomeIndices:
        """The indices of outcome ``name``."""
        for entry in self.outcomes:
            if entry.outcome == name:
                return entry
        raise KeyError(name)

    def rows(self) -> list[dict[str, Any]]:
        """The long table: a row per outcome and parameter, columns ``INDEX_COLUMNS``."""
        rows = []
        for entry in self.outcomes:
            for j, parameter in enumerate(self.parameters):
                values = (
                    (math.nan,) * 4
                    if entry.indices is None
                    else tuple(
                        float(getattr(entry.indices, key)[j])
                        for key in ("s1", "s1_conf", "st", "st_conf")
                    )
                )
                row = dict(zip(INDEX_COLUMNS[2:6], values, strict=True))
                rows.append(
                    {
                        "outcome": entry.outcome,
                        "parameter": parameter,
                        **row,
                        "points": entry.points,
                        "noise_share": entry.noise_share,
                        "estimator": self.estimator.value,
                        "confidence": self.confidence,
                        "note": entry.note,
                    }
                )
        return rows

    def to_arrow(self) -> Any:
        """The long table as a ``pyarrow.Table``."""
        import pyarrow as pa

        rows = self.rows()
        return pa.table({key: [row[key] for row in rows] for key in INDEX_COLUMNS})


_NOTES = {
    Estimator.FIRST_ORDER: "no ST from a plain Sobol sequence: run it with design: saltelli",
}


def check_analysable(sweep: Sweep) -> Estimator:
    """The estimator a sweep's design allows; ``AnalysisError`` when it allows none."""
    spec = sweep.spec
    if spec.method not in ANALYSABLE_METHODS:
        allowed = ", ".join(sorted(m.value for m in ANALYSABLE_METHODS))
        raise AnalysisError(
            f"spec.method: {spec.method}: Sobol indices need a sampled design ({allowed}); "
            "`sweepctl report` shows a grid's main effects"
        )
    samples = spec.samples or 0
    if spec.design is Design.SALTELLI:
        if samples < MIN_BASE_SAMPLES:
            raise AnalysisError(
                f"spec.samples: {samples} base samples are too few for Sobol indices; "
                f"at least {MIN_BASE_SAMPLES}"
            )
        return Estimator.SALTELLI
    if samples < MIN_POINTS:
        hint = "" if spec.method is not Method.SOBOL else ", or design: saltelli"
        raise AnalysisError(
            f"spec.samples: {samples} points are too few for Sobol indices of a {spec.method} "
            f"design; at least {MIN_POINTS}{hint}"
        )
    return Estimator.FIRST_ORDER if spec.method is Method.SOBOL else Estimator.GIVEN_DATA


def outcome_series(
    columns: Mapping[str, np.ndarray], names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each outcome column as floats: booleans as 0/1, a text column as a 0/1 column per level."""
    series: dict[str, np.ndarray] = {}
    for name in names:
        values = np.asarray(columns[name])
        if values.dtype.kind in "biuf":
            series[name] = values.astype(np.float64)
            continue
        levels = CATEGORIES.get(name) or tuple(sorted({str(v) for v in values}))
        for level in levels:
            series[f"{name}={level}"] = (values == level).astype(np.float64)
    return series


def sobol_indices(
    collected: Collected,
    *,
    outcomes: Sequence[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = None,
) -> SobolIndices:
    """First-order and total Sobol indices of each outcome of ``collected``, with intervals.

    ``outcomes`` are result columns (default: every outcome column). ``seed`` seeds the
    bootstrap (default: derived from the sweep's seed). Raises ``AnalysisError`` for a design
    that has no estimator, ``ResultsError`` when too few of its points are finished.
    """
    sweep = collected.sweep
    estimator = check_analysable(sweep)
    if resamples < 2:
        raise AnalysisError(f"resamples: {resamples} is below 2")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence: {confidence} is outside (0, 1)")
    if collected.n_rows == 0:
        raise ResultsError(f"{sweep.name}: no task is done yet: nothing to analyse")
    plan = SweepPlan(sweep)
    names = [c for c in OUTCOME_COLUMNS if c in collected.columns] if outcomes is None else outcomes
    series = outcome_series(collected.columns, list(names))
    points = np.asarray(collected.columns["point_index"], dtype=np.int64)
    if seed is None:
        state = np.random.SeedSequence([sweep.spec.seed, ANALYSIS_STREAM]).generate_state(1)
        seed = int(state[0]) + 1  # above 0: SALib reads a seed of 0 as no seed
    design = _Design(plan, points, estimator)
    results = tuple(
        design.analyse(name, values, resamples=resamples, confidence=confidence, seed=seed)
        for name, values in series.items()
    )
    return SobolIndices(
        sweep=sweep.name,
        parameters=tuple("+".join(axis) for axis in plan.axes),
        estimator=estimator,
        confidence=confidence,
        resamples=resamples,
        outcomes=results,
    )


class _Design:
    """The finished points of a sweep's design, and how an outcome's point means are analysed."""

    def __init__(self, plan: SweepPlan, points: np.ndarray, estimator: Estimator) -> None:
        self.plan, self.estimator = plan, estimator
        self.d = len(plan.axes)
        self.n_points = plan.n_points
        self.finished, self.inverse = np.unique(points, return_inverse=True)
        if estimator is Estimator.SALTELLI:
            block = self.d + 2
            complete = np.bincount(self.finished // block, minlength=self.n_points // block)
            n_complete = int(np.count_nonzero(complete == block))
            if n_complete < MIN_BASE_SAMPLES:
                raise ResultsError(
                    f"{plan.sweep.name}: {n_complete} of {self.n_points // block} base samples "
                    f"have all their {block} points finished; Sobol indices need at least "
                    f"{MIN_BASE_SAMPLES}; run `sweepctl run` to finish the sweep"
                )
            self.x = None
        else:
            if len(self.finished) < MIN_POINTS:
                raise ResultsError(
                    f"{plan.sweep.name}: {len(self.finished)} of {self.n_points} points are "
                    f"finished; Sobol indices need at least {MIN_POINTS}; run `sweepctl run` "
                    "to finish the sweep"
                )
            self.x = np.stack([plan.unit_point(int(p)) for p in self.finished])

    def analyse(
        self, name: str, values: np.ndarray, *, resamples: int, confidence: float, seed: int
    ) -> OutcomeIndices:
        """The indices of one outcome (its values per run, in the collected rows' order)."""
        means, counts, squares = _point_moments(self.inverse, len(self.finished), values)
        if self.estimator is Estimator.SALTELLI:
            block = self.d + 2
            y = np.full(self.n_points, np.nan)
            y[self.finished] = means
            blocks = y.reshape(-1, block)
            keep = np.isfinite(blocks).all(axis=1)
            used = np.isin(self.finished // block, np.flatnonzero(keep))
            enough, have = int(keep.sum()) >= MIN_BASE_SAMPLES, f"{int(keep.sum())} base samples"
        else:
            used = np.isfinite(means)
            enough, have = int(used.sum()) >= MIN_POINTS, f"{int(used.sum())} points"
        n_used = int(used.sum())
        noise = _noise_share(means[used], counts[used], squares[used])
        if not enough:
            return OutcomeIndices(name, n_used, noise, None, f"values at only {have}")
        if float(np.ptp(means[used])) == 0.0:
            return OutcomeIndices(name, n_used, noise, None, "constant: no variance to apportion")
        if self.estimator is Estimator.SALTELLI:
            found = saltelli_indices(
                blocks[keep].ravel(), self.d, resamples=resamples, confidence=confidence, seed=seed
            )
        else:
            assert self.x is not None
            found = given_data_indices(
                self.x[used],
                means[used],
                resamples=resamples,
                confidence=confidence,
                seed=seed,
                totals=self.estimator is Estimator.GIVEN_DATA,
            )
        return OutcomeIndices(name, n_used, noise, found, _NOTES.get(self.estimator, ""))


def _point_moments(
    inverse: np.ndarray, n: int, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: the mean of its finite values, their count and their sum of squared deviations."""
    finite = np.isfinite(values)
    clean = np.where(finite, values, 0.0)
    counts = np.bincount(inverse, weights=finite, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(inverse, weights=clean, minlength=n) / counts
    deviations = np.where(finite, clean - means[inverse], 0.0)
    squares = np.bincount(inverse, weights=deviations**2, minlength=n)
    return means, counts, squares


def _noise_share(means: np.ndarray, counts: np.ndarray, squares: np.ndarray) -> float:
    """Replicate noise's share of the variance of the point means (NaN without replicates).

    The pooled variance between replicates, ``s^2``, leaves ``s^2 / n_p`` in the mean of a point
    of ``n_p`` runs; averaged over the points and divided by the variance of the means.
    """
    repeated = counts >= 2
    total = float(means.var()) if len(means) else math.nan
    if not repeated.any() or not total > 0:
        return math.nan
    pooled = float(squares[repeated].sum() / (counts[repeated] - 1).sum())
    return min(1.0, pooled * float(np.mean(1.0 / counts)) / total)


def write_indices(indices: SobolIndices, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``sobol-indices.csv`` and ``sobol-indices.parquet`` into ``out_dir``, atomically."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = indices.to_arrow()
    paths = []
    for suffix, writer in ((".csv", pacsv.write_csv), (".parquet", pq.write_table)):
        sink = pa.BufferOutputStream()
        writer(table, sink)
        path = out / f"{FILE_STEM}{suffix}"
        write_atomic(path, sink.getvalue().to_pybytes())
        paths.append(path)
    return paths[0], paths[1]

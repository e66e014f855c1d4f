"""What a run is, and which spec changes only add or remove runs: the runs hash.

A content-seeded sweep's run is keyed by what determines it (its point's resolved parameters and
its replicate, which also give its seed), so two specs that agree on everything else describe the
same run the same way, wherever it sits in their plans. The *runs hash* is the sha256 of those
other fields: every result-determining field (``hashed_fields``) except the ones that only say
which runs exist and how they are dealt out:

- for every method: ``replicates``, ``runsPerTask`` and ``order``;
- for ``grid``: the swept parameters' values (their names, and ``zip``, stay): an axis may gain or
  lose values;
- for ``random``: ``samples``: point ``p`` is drawn from a stream of its own, so the first points
  of a larger sample are the points of a smaller one.

Two specs with the same runs hash but different spec hashes are two plans of one sweep: the later
one may reuse every run the earlier one committed (``sweep_controller.execution.plans``).
``latin_hypercube`` and ``sobol`` keep ``samples`` in the runs hash (their points all move when it
changes) and ``optuna`` has no runs hash (its rounds are planned from results): such changes are
refused, with :func:`growth_problem` saying why in one line.
"""

from __future__ import annotations

from typing import Any

from sweep_controller.spec.models import (
    RENAMED_SPEC_KEYS,
    Method,
    Sweep,
    canonical_digest,
    content_seeded,
    hashed_fields,
)

__all__ = ["GROWTH_FIELDS", "growth_problem", "runs_hash"]

GROWTH_FIELDS: tuple[str, ...] = ("replicates", "runsPerTask", "order")
"""Spec keys (as hashed) that only add, remove or redeal runs, whatever the method."""
_TASK_SIZE = next(iter(RENAMED_SPEC_KEYS))  # the task size is hashed under its old name


def _runs_fields(sweep: Sweep, *, with_samples: bool) -> dict[str, Any]:
    data = hashed_fields(sweep)
    for key in (*GROWTH_FIELDS, _TASK_SIZE):
        data.pop(key, None)
    method = sweep.spec.method
    if method is Method.GRID:
        data["parameters"] = sorted(data["parameters"])
    if method is Method.RANDOM or not with_samples:
        data.pop("samples", None)
    return {**data, "runs": 1}


def runs_hash(sweep: Sweep) -> str | None:
    """Hex sha256 of what the sweep's runs are, apart from which of them exist; None for a sweep
    whose runs are not keyed by content (method optuna), which never grows."""
    if not content_seeded(sweep):
        return None
    return canonical_digest(_runs_fields(sweep, with_samples=True))


def growth_problem(old: Sweep, new: Sweep) -> str | None:
    """Why ``new`` cannot grow ``old``'s results when only its sampled design is in the way
    (one line), or None: then either it grows (same runs hash) or it is another sweep."""
    method = new.spec.method
    if old.spec.method is not method:
        return None
    moved = method in (Method.LATIN_HYPERCUBE, Method.SOBOL) and (
        old.spec.samples != new.spec.samples
    )
    if moved and _runs_fields(old, with_samples=False) == _runs_fields(new, with_samples=False):
        return (
            f"spec.samples: {old.spec.samples} -> {new.spec.samples}: every point of a "
            f"{method.value} design moves when samples changes, so no finished run could "
            f"be reused; keep samples at {old.spec.samples} (replicates may grow), use "
            "method random, or change metadata.name or spec.output.uri"
        )
    if method is Method.OPTUNA:
        keep = ("replicates", "rounds", "pointsPerRound", _TASK_SIZE, "order")
        before = {k: v for k, v in hashed_fields(old).items() if k not in keep}
        after = {k: v for k, v in hashed_fields(new).items() if k not in keep}
        if before == after:
            return (
                "method optuna: a sweep whose rounds are planned from its results cannot grow; "
                "change metadata.name or spec.output.uri to run the larger search"
            )
    return None

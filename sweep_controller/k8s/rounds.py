"""Adaptive sweeps on Kubernetes: what the controller reads from the store, and what it decides.

An adaptive sweep (``method: optuna``) runs one Indexed Job per round, ``<sweep>-r<k>``. Round
``k + 1`` is planned from the results of rounds ``0 .. k``, which only the store holds, so for
these sweeps the controller's observation includes the store (``SearchObserved``, read by
``sweep_controller.k8s.controller``): the planned rounds' points always, and the values of the
finished rounds when a decision needs them (``rounds_to_evaluate``: the latest round's Job has
finished, or the status lags behind the store). Everything here is pure; the decision itself is
part of ``sweep_controller.k8s.reconcile``: when round ``k``'s Job has finished it plans round
``k + 1`` (``spec.search.plan_round``, the same function ``sweepctl run`` uses), and returns a
``WriteRound`` (the edge stores the points, first writer wins) before the ``CreateJob`` of round
``k + 1``'s Job, so no pod of a round starts before its points exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweep_controller.intervals import format_intervals, parse_intervals
from sweep_controller.k8s.status import SearchStatus, SweepStatus
from sweep_controller.spec.models import Sweep
from sweep_controller.spec.parameters import SweptValue
from sweep_controller.spec.search import Answer, Evaluated, answer, describe_point

__all__ = [
    "SearchObserved",
    "WriteRound",
    "job_finished",
    "merge_indexes",
    "round_summary",
    "rounds_to_evaluate",
    "search_status",
]

Point = Mapping[str, SweptValue]


@dataclass(frozen=True)
class SearchObserved:
    """An adaptive sweep as its store holds it (read by the controller, never written here)."""

    rounds: tuple[tuple[Point, ...], ...] = ()
    """The points of each planned round, from round 0 up to the first one not planned."""
    evaluated: tuple[Evaluated, ...] | None = None
    """The points of the first rounds with their values (None: not read this time)."""
    not_done: tuple[int, ...] = ()
    """Task indexes of the evaluated rounds that are not done."""
    error: str | None = None
    """The store holds something that is not this sweep's (another sweep's round file)."""

    @property
    def planned(self) -> int:
        """How many rounds are planned."""
        return len(self.rounds)

    def evaluated_rounds(self, points_per_round: int) -> int:
        """How many rounds ``evaluated`` covers."""
        return len(self.evaluated or ()) // max(points_per_round, 1)


@dataclass(frozen=True)
class WriteRound:
    """Store round ``round_index``'s points under ``uri`` (if absent: the first writer wins)."""

    sweep: Sweep
    uri: str
    round_index: int
    points: tuple[Point, ...]


def job_finished(job: Mapping[str, Any] | None) -> bool:
    """Whether a Job has a true ``Complete`` or ``Failed`` condition."""
    for cond in ((job or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return True
    return False


def rounds_to_evaluate(planned: int, job: Mapping[str, Any] | None, status: SweepStatus) -> int:
    """How many rounds, from round 0, the controller reads the values of (pure).

    All planned rounds once the latest round's Job has finished (the next round is planned from
    them, or the sweep's answer read); the rounds before the latest when the status does not
    know the latest round yet (it lags behind the store after an interrupted reconcile);
    otherwise none, so a reconcile while a round runs reads one listing and the round files.
    """
    if planned == 0:
        return 0
    if job_finished(job):
        return planned
    if status.search is None or status.search.round != planned - 1:
        return planned - 1
    return 0


def merge_indexes(before: str | None, current: str | None, offset: int) -> str | None:
    """Index intervals ``before`` joined with ``current`` shifted by ``offset`` (None: none)."""
    indexes = [i for r in parse_intervals(before) for i in r]
    indexes += [i + offset for r in parse_intervals(current) for i in r]
    return format_intervals(indexes) if indexes else None


def search_status(
    sweep: Sweep,
    round_index: int,
    observed: SearchObserved,
    old: SearchStatus | None,
    *,
    final: bool = False,
) -> SearchStatus:
    """The status of round ``round_index``: counts of the rounds before it and the best so far.

    Taken from the observed values when they cover the rounds before ``round_index``, else kept
    from the old status (which holds the same round). With ``final`` (the last round has
    finished) the best point and boundary include round ``round_index`` itself.
    """
    spec = sweep.spec
    ppr, tpr = spec.points_per_round or 1, spec.tasks_per_round
    rounds = spec.rounds or 0
    seen = round_index + 1 if final else round_index
    if observed.evaluated is None or observed.evaluated_rounds(ppr) < seen:
        if old is not None and old.round == round_index:
            return old
        return SearchStatus(round=round_index, rounds=rounds, tasks_done_before=0)
    not_done = [i for i in observed.not_done if i < round_index * tpr]
    found = answer(spec, tuple(observed.evaluated or ())[: seen * ppr])
    return SearchStatus(
        round=round_index,
        rounds=rounds,
        tasks_done_before=round_index * tpr - len(not_done),
        failed_indexes_before=format_intervals(not_done) if not_done else None,
        **_answer_fields(found),
    )


def _answer_fields(found: Answer) -> dict[str, Any]:
    best, bound = found.best, found.boundary
    fields: dict[str, Any] = {}
    if best is not None and best.value is not None:
        fields |= {"best_value": best.value, "best_point": describe_point(best.params)}
    if bound is not None:
        fields |= {
            "boundary": bound.estimate,
            "boundary_low": bound.low,
            "boundary_high": bound.high,
        }
    return fields


def round_summary(sweep: Sweep, status: SearchStatus) -> str:
    """``best passed mean 0.5 at quorum=0.64; boundary quorum ~ 0.638 (0.635-0.641)``."""
    objective = sweep.spec.objective
    assert objective is not None
    if status.best_value is None:
        return f"no value of {objective.outcome} yet"
    text = f"best mean {objective.outcome} {status.best_value:.4g} at {status.best_point}"
    if status.boundary is not None:
        (name,) = sweep.spec.parameters
        text += (
            f"; crosses {objective.target:g} at {name} ~ {status.boundary:.6g} "
            f"(between {status.boundary_low:.6g} and {status.boundary_high:.6g})"
        )
    return text

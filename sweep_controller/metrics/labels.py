"""The closed label vocabularies of govsim's metrics, and the one rule for the sweep label.

Prometheus keeps one series per label set, so a label may only take values from a small closed
set: a sweep name, or one of the enums here (task and run outcomes come from
``sweep_controller.outcomes``). Run ids, agent ids and parameter values never become labels.
Every metric class checks the sweep label the same way, here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorKind", "ReconcileResult", "SweepTaskState", "VoteResult", "sweep_label"]


class VoteResult(StrEnum):
    """The simulated proposal's final outcome."""

    PASSED = "passed"
    REJECTED = "rejected"


class ReconcileResult(StrEnum):
    """Whether one controller reconcile finished or raised."""

    OK = "ok"
    ERROR = "error"


class ErrorKind(StrEnum):
    """Controller error classes: retried later or given up on."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class SweepTaskState(StrEnum):
    """The task counts an orchestrator reports per sweep."""

    TOTAL = "total"
    DONE = "done"
    FAILED = "failed"


def sweep_label(sweep: str) -> str:
    """``sweep`` as a label value; ``ValueError`` if it is empty."""
    if not sweep:
        raise ValueError("metrics: sweep label: '' is empty; a sweep name is required")
    return sweep

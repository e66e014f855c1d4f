"""The closed label vocabularies of govsim's metrics, and the one rule for the sweep label.

Prometheus keeps one series per label set, so a label may only take values from a small closed
set: a sweep's namespace and name, or one of the enums here (task and run outcomes come from
``sweep_controller.outcomes``). Run ids, agent ids and parameter values never become labels.
Every metric class checks the sweep label the same way, here.

A sweep is named by its namespace and its name: two Sweeps called ``a`` in namespaces ``x`` and
``y`` are two sweeps. The namespace label is ``sweep_namespace``, not ``namespace``: Kubernetes
service discovery gives every scraped target a ``namespace`` label (the Pushgateway's or the
controller's own), which would either be overwritten by the pushed one or rename it
``exported_namespace``. A sweep run outside Kubernetes has no namespace: its label is empty,
which Prometheus treats as absent.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "NAMESPACE_LABEL",
    "ErrorKind",
    "ReconcileResult",
    "SweepTaskState",
    "VoteResult",
    "sweep_label",
]

NAMESPACE_LABEL = "sweep_namespace"
"""The label holding a sweep's Kubernetes namespace (empty outside Kubernetes)."""


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

"""How a task attempt and a simulation run end: one vocabulary for the worker, runner and metrics.

The worker reports how an attempt at a task ended, the local runner schedules retries from it,
and both the task's pushed metrics and the runner's ``/metrics`` count tasks by it. Defining the
words once keeps them from drifting apart. Metrics have a smaller vocabulary than the worker:
an interrupted attempt committed nothing, so it is counted as ``failed``
(:attr:`TaskOutcome.reported`), and the metric label values are exactly the enum values.
Dependency-free, like ``sweep_controller.exit_codes``, so every layer can import it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["REPORTED_TASK_OUTCOMES", "RunOutcome", "TaskOutcome"]


class TaskOutcome(StrEnum):
    """How one attempt at a task (one job index) ended."""

    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    HELD = "held"
    """Another attempt held the task's lease: this one did nothing (the runner comes back)."""

    @property
    def done(self) -> bool:
        """The task is done: it succeeded now or was already done (skipped)."""
        return self in (TaskOutcome.SUCCEEDED, TaskOutcome.SKIPPED)

    @property
    def reported(self) -> TaskOutcome:
        """The outcome metrics count this attempt as: an interrupted attempt counts as failed.

        A held attempt finished nothing and is not counted; should one be, it did no work.
        """
        if self is TaskOutcome.INTERRUPTED:
            return TaskOutcome.FAILED
        return TaskOutcome.SKIPPED if self is TaskOutcome.HELD else self


REPORTED_TASK_OUTCOMES: tuple[TaskOutcome, ...] = (
    TaskOutcome.SUCCEEDED,
    TaskOutcome.FAILED,
    TaskOutcome.SKIPPED,
)
"""The task outcomes that metrics count (the ``status`` label's values), in exposition order."""


class RunOutcome(StrEnum):
    """Whether one simulation run produced a record or raised."""

    OK = "ok"
    FAILED = "failed"

"""Running a sweep: the task worker, the local runner and its pool, and the results layout."""

from sweep_controller.execution.runner import RunSummary, run_sweep
from sweep_controller.execution.worker import TaskAttempt, TaskContext, execute_task

__all__ = ["RunSummary", "TaskAttempt", "TaskContext", "execute_task", "run_sweep"]

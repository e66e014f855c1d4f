"""Running a sweep: the task worker, the local runner and the layout of results in a store."""

from sweep_controller.execution.runner import RunSummary, run_sweep
from sweep_controller.execution.worker import TaskContext, TaskOutcome, execute_task

__all__ = ["RunSummary", "TaskContext", "TaskOutcome", "execute_task", "run_sweep"]

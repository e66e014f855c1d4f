"""Reading a finished sweep: the results table, outcome statistics and the plotted report."""

from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.results import Collected, collect, write_table

__all__ = ["Collected", "collect", "write_report", "write_table"]

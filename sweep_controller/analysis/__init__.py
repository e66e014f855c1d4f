"""Reading a finished sweep: the results table, outcome statistics and the plotted report."""

from sweep_controller.analysis.loading import load_results
from sweep_controller.analysis.provenance import Provenance
from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.results import Collected, collect, write_table

__all__ = ["Collected", "Provenance", "collect", "load_results", "write_report", "write_table"]

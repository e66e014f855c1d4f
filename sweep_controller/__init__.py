"""Parameter sweeps of the simulator: spec, expansion, worker, stores, runner and controller.

``load_results`` (a sweep's results as a pandas DataFrame, docs/sweeps.md) is imported on first
use: it brings in the analysis stack (pandas, pyarrow), which the worker, the
controller and the Kubernetes object builders never need.
"""

from typing import TYPE_CHECKING, Any

from sweep_controller.errors import SpecError, StorageError, SweepError, TaskError
from sweep_controller.spec.expand import RunSpec, SweepPlan
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import Sweep, SweepSpec, spec_hash

if TYPE_CHECKING:
    from sweep_controller.analysis.loading import load_results

__all__ = [
    "RunSpec",
    "SpecError",
    "StorageError",
    "Sweep",
    "SweepError",
    "SweepPlan",
    "SweepSpec",
    "TaskError",
    "load_results",
    "load_sweep",
    "parse_sweep",
    "spec_hash",
]


def __getattr__(name: str) -> Any:
    """Import ``load_results`` when it is first asked for (PEP 562)."""
    if name == "load_results":
        from sweep_controller.analysis.loading import load_results

        return load_results
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Parameter sweeps of the simulator: spec, expansion, worker, stores, runner and controller."""

from sweep_controller.errors import SpecError, StorageError, SweepError, TaskError
from sweep_controller.spec.expand import RunSpec, SweepPlan
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import Sweep, SweepSpec, spec_hash

__all__ = [
    "RunSpec",
    "SpecError",
    "StorageError",
    "Sweep",
    "SweepError",
    "SweepPlan",
    "SweepSpec",
    "TaskError",
    "load_sweep",
    "parse_sweep",
    "spec_hash",
]

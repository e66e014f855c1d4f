"""The sweep spec: its pydantic models, YAML loading and error text, swept parameters, expansion."""

from sweep_controller.spec.expand import RunSpec, SweepPlan
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import Sweep, SweepSpec, spec_hash

__all__ = ["RunSpec", "Sweep", "SweepPlan", "SweepSpec", "load_sweep", "parse_sweep", "spec_hash"]

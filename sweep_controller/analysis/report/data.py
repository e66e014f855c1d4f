"""A collected sweep as the report reads it: its axes, and how runs group along each parameter.

Grids and sampled designs need different treatment: on a grid every run of a point shares the
parameter's exact value, so runs are grouped by value; a sampled design gives every run its own
value, so runs are grouped into equal-count bins of the parameter. Choice parameters are always
grouped by value. Figures and tables both group runs this way, so the decision lives here once.
"""

from __future__ import annotations

import numpy as np

from sweep_controller.analysis.results import Collected
from sweep_controller.analysis.stats import quantile_bins
from sweep_controller.spec.models import SAMPLED_METHODS, Method
from sweep_controller.spec.parameters import PARAM_KINDS, ParamKind, Scale

__all__ = ["ReportData"]


class ReportData:
    """The columns of a collected sweep, its swept axes, and how to group runs along each."""

    def __init__(self, collected: Collected) -> None:
        self.collected = collected
        self.name = collected.sweep.name
        self.spec = collected.sweep.spec
        # an adaptive sweep's points are not a grid either: it is reported as a sampled design
        self.sampled = self.spec.method in SAMPLED_METHODS or self.spec.method is Method.OPTUNA
        self.cols = collected.columns
        # Grid axes or design dimensions; a zip group is one axis, named by its first member.
        self.axes = [axis for axis in self.spec.axes() if axis[0] in collected.swept]

    def categorical(self, name: str) -> bool:
        """The parameter is a choice (its values are labels, not numbers)."""
        return PARAM_KINDS[name] is ParamKind.CHOICE

    def binned(self, name: str) -> bool:
        """Sampled numeric parameters are binned; grids and choices are grouped by value."""
        return self.sampled and not self.categorical(name)

    def groups(self, name: str) -> np.ndarray:
        """Group label of every run for ``name``: its value, or its quantile bin when binned."""
        x = self.cols[name]
        if self.binned(name):
            return quantile_bins(x, max(3, min(10, len(x) // 20)))
        return x

    def param(self, name: str) -> np.ndarray:
        """The value of simulator parameter ``name`` in every run: its column when swept, else
        the sweep's fixed value (``spec.simulator``, which holds the defaults of unset ones)."""
        if name in self.cols:
            return np.asarray(self.cols[name])
        value = getattr(self.spec.simulator, name)
        return np.full(len(self.cols["run_index"]), getattr(value, "value", value))

    def log_scale(self, name: str) -> bool:
        """The parameter is swept on a log scale."""
        param = self.spec.parameters.get(name)
        return param is not None and param.scale is Scale.LOG

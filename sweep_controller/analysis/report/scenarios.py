"""The report's research-scenario sections (docs/model.md, section 11).

Each scenario that a sweep can switch on adds one function ``(data, out_dir) -> Section | None``
to ``SCENARIO_SECTIONS``: it returns the section that answers the scenario's question (with its
figures written into ``out_dir``), or None when the sweep does not use the scenario. The report
shows them after the figures and before the sensitivity section, in this order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.pages import Section
from sweep_controller.analysis.report.scenario_attack import attack_section
from sweep_controller.analysis.report.scenario_coalitions import coalition_section
from sweep_controller.analysis.report.scenario_delegation import delegation_section
from sweep_controller.analysis.report.scenario_mev import mev_section
from sweep_controller.analysis.report.scenario_traces import traces_section

__all__ = ["SCENARIO_SECTIONS", "scenario_sections"]

SectionMaker = Callable[[ReportData, Path], Section | None]

SCENARIO_SECTIONS: tuple[SectionMaker, ...] = (
    coalition_section,
    delegation_section,
    attack_section,
    mev_section,
    traces_section,
)


def scenario_sections(data: ReportData, out_dir: Path) -> list[Section]:
    """The sections of the scenarios the sweep uses, in page order."""
    return [s for make in SCENARIO_SECTIONS if (s := make(data, out_dir)) is not None]

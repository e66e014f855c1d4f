"""A sweep's report: PNG figures of every measure against every swept parameter, and index pages.

:func:`write_report` collects the report as one list of sections (summary, figures,
sensitivity, points) and writes the figures (``figures``), then ``index.md`` and ``index.html``
(``pages``) into a folder. The tables (``tables``) and figures show the same measures
(``measures``), with intervals from ``sweep_controller.analysis.stats``: Wilson for the pass rate,
Student-t for means. The sensitivity section of a sobol, Latin hypercube or random sweep holds
the Sobol indices of ``sweep_controller.analysis.sensitivity`` with their bootstrap intervals; a
grid's (or a design too small for them) holds the binned first-order index. Every file is
written to a temporary name and renamed, so a reader never sees a half-written report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulator.atomic import write_atomic
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import (
    Plot,
    heatmap_figures,
    parameter_figure,
    sensitivity_figure,
    sobol_figure,
)
from sweep_controller.analysis.report.measures import MEASURES, Measure
from sweep_controller.analysis.report.pages import Section, render_html, render_markdown
from sweep_controller.analysis.report.scenarios import scenario_sections
from sweep_controller.analysis.report.tables import (
    point_table,
    sensitivity_rows,
    sensitivity_table,
    sobol_table,
    summary_table,
)
from sweep_controller.analysis.results import Collected
from sweep_controller.analysis.sensitivity import ANALYSABLE_METHODS, SobolIndices, sobol_indices
from sweep_controller.errors import AnalysisError, ResultsError

__all__ = ["MEASURES", "Measure", "ReportFiles", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote."""

    out_dir: Path
    index_html: Path
    index_md: Path
    images: tuple[Path, ...]


def write_report(
    collected: Collected, out_dir: str | Path, *, log: Callable[[str], None] = lambda _: None
) -> ReportFiles:
    """Draw every figure of ``collected`` into ``out_dir`` and write index.html and index.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if collected.n_rows == 0:
        raise ResultsError(f"{collected.sweep.name}: no task is done yet: nothing to report")
    data = ReportData(collected)
    plots: list[Plot] = []
    for k, axis in enumerate(data.axes, start=1):
        log(f"plotting {' / '.join(axis)} ({k}/{len(data.axes)})")
        plots.append(parameter_figure(data, axis, out))
    log("plotting heatmaps")
    plots += heatmap_figures(data, out)
    sobol, why = _sobol(collected, log)
    section: Section | None
    if sobol is not None:
        figure = sobol_figure(data, sobol, out)
        section = Section("Sensitivity", text=_SOBOL_TEXT, table=sobol_table(sobol),
                          plots=(figure,))  # fmt: skip
    else:
        section = _binned_sensitivity(data, plots, out, why)
    sections = _sections(data, plots, section)
    scenarios = scenario_sections(data, out)
    sections[2:2] = scenarios  # after the summary and the figures
    plots += [plot for scenario in scenarios for plot in scenario.plots]
    title = f"Sweep report: {data.name}"
    md = render_markdown(title, sections)
    page = render_html(title, sections, page_title=f"{data.name} report")
    index_md, index_html = out / "index.md", out / "index.html"
    write_atomic(index_md, md.encode())
    write_atomic(index_html, page.encode())
    images = [*plots, *section.plots] if section is not None else plots
    return ReportFiles(out, index_html, index_md, tuple(out / plot.file for plot in images))


_SOBOL_TEXT = (
    "First-order (S1) and total (ST) Sobol indices of each outcome's point means (replicates "
    "averaged), estimate ± the half-width of the interval, as `sweepctl analyze` computes them "
    "for every outcome. Noise share: the part of the variance that is replicate noise, which no "
    "parameter explains."
)


def _sobol(collected: Collected, log: Callable[[str], None]) -> tuple[SobolIndices | None, str]:
    """Sobol indices of the report's measures, or None and why (a grid, too few samples)."""
    if collected.sweep.spec.method not in ANALYSABLE_METHODS or not collected.swept:
        return None, ""
    log("estimating Sobol indices")
    try:
        return sobol_indices(collected, outcomes=[m.column for m in MEASURES]), ""
    except (AnalysisError, ResultsError) as exc:
        return None, f"No Sobol indices: {exc}."


def _binned_sensitivity(data: ReportData, plots: list[Plot], out: Path, why: str) -> Section | None:
    """The first-order index over grid values or bins (any design); its figure joins ``plots``."""
    rows = sensitivity_rows(data) if data.collected.swept else []
    if not rows:
        return None
    plots.append(sensitivity_figure(data, rows, out))
    return Section("Sensitivity", text=why, table=sensitivity_table(rows))


def _sections(data: ReportData, plots: list[Plot], sensitivity: Section | None) -> list[Section]:
    """The report's content, in page order."""
    missing = data.collected.n_missing
    warning = (
        f"Incomplete: {missing} task(s) not done; the figures show the runs collected so far."
        if missing
        else ""
    )
    sections = [
        Section("Summary", table=summary_table(data), warning=warning),
        Section("Figures", plots=tuple(plots)),
    ]
    if sensitivity is not None:
        sections.append(sensitivity)
    points = point_table(data)
    if points is not None:
        sections.append(
            Section("Points", text="Mean [95% interval] over each point's runs.", table=points)
        )
    return sections

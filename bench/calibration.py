"""The v0.5 calibration presets against the published on-chain governance figures.

For each preset (``none``, ``compound``, ``uniswap``) and N = 10^3, 10^4, 10^5 (400 runs each,
seeds ``run_seed(230517655, i)``, mean degree 10, the other parameters at their v0.5 defaults) it
prints, next to the published value (Messias et al., arXiv 2305.17655; docs/model.md 10.8):

* the top-10 share of the total voting power (every agent's stake; the published denominator),
  mean ± standard error over runs, and the top-10 share of the votes cast;
* the Nakamoto count of the votes cast (fewest voters whose stake reaches half the stake cast):
  median over runs and the share of runs below three (published: fewer than three);
* mean approval (share of the stake cast voting yes; mean ± standard error, and the median);
* the pass rate, the quorum-failure rate and how often the influence rounds changed the outcome.

A cell is ``ok`` when the mean top-10 share is within 3 points of the published one, the median
Nakamoto count is below three and the mean approval is within 2 points of the published one
(where one is published). ``--markdown`` prints the rows of docs/model.md's table.

Run: ``python -m bench.calibration [--quick] [--markdown]`` (``--quick``: N = 10^3 and 10^4,
100 runs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from simulator.concentration import nakamoto, top_share
from simulator.model import simulate
from simulator.outcome import tally
from simulator.params import Calibration, RuleSet, SimParams
from simulator.seeding import run_seed

BASE_SEED = 2305_17655
SIZES = ((1_000, 600), (10_000, 600), (100_000, 600))
QUICK_SIZES = ((1_000, 100), (10_000, 100))
TOP10_TOLERANCE = 0.03
APPROVAL_TOLERANCE = 0.02


@dataclass(frozen=True)
class Published:
    """Published figures of one protocol (None: not published)."""

    top10: float | None = None
    """Top-10 share of the total voting power."""
    approval: float | None = None
    """Mean share of the votes cast in favour, over proposals."""
    approval_median: float | None = None
    passed: float | None = None
    """Share of the proposals voted on that passed (executed or queued)."""
    quorum_failed: float | None = None
    """Share of the proposals voted on that failed for want of quorum."""


PUBLISHED: dict[Calibration, Published] = {
    Calibration.NONE: Published(),
    # arXiv 2305.17655v2: top-10 share and mean approval; the journal version (data to August
    # 2024): median approval 97.66%, 241 of 277 proposals voted on executed, 35 of the 36
    # defeated ones for want of quorum
    Calibration.COMPOUND: Published(0.5786, 0.8939, 0.9766, 241 / 277, 35 / 277),
    # arXiv 2305.17655v2: top-10 share; the journal version: mean approval 70.73%, median
    # 94.67%, 43 of 53 proposals voted on executed, all 10 defeated ones for want of quorum
    Calibration.UNISWAP: Published(0.4472, 0.7073, 0.9467, 43 / 53, 10 / 53),
}


@dataclass(frozen=True)
class Figures:
    """Figures over the runs of one cell."""

    runs: int
    top10: float
    top10_se: float
    top10_cast: float
    nakamoto_median: float
    nakamoto_below_3: float
    approval: float
    approval_se: float
    approval_median: float
    passed: float
    quorum_failed: float
    changed: float
    seconds_per_run: float

    def ok(self, published: Published) -> bool:
        """Whether the targets with a published value are met (module docstring)."""
        top10 = published.top10 is None or abs(self.top10 - published.top10) <= TOP10_TOLERANCE
        approval = (
            published.approval is None
            or abs(self.approval - published.approval) <= APPROVAL_TOLERANCE
        )
        return top10 and approval and self.nakamoto_median < 3


def _se(xs: list[float]) -> float:
    return statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else float("nan")


def measure(params: SimParams, runs: int, base_seed: int = BASE_SEED) -> Figures:
    """Simulate ``runs`` runs of ``params`` (seeds ``run_seed(base_seed, i)``) and summarise."""
    top10, top10_cast, counts, approvals = [], [], [], []
    passed = quorum_failed = changed = 0
    t0 = time.perf_counter()
    for i in range(runs):
        r = simulate(params, run_seed(base_seed, i))
        cast = r.agents.stake[r.participated]
        final, first = tally(r), tally(r, initial=True)
        top10.append(top_share(r.agents.stake, 10))
        top10_cast.append(top_share(cast, 10))
        counts.append(nakamoto(cast))
        if final.cast > 0:
            approvals.append(final.approval)
        passed += final.passed
        quorum_failed += not final.quorum_met
        changed += final.passed != first.passed
    return Figures(
        runs=runs,
        top10=statistics.fmean(top10),
        top10_se=_se(top10),
        top10_cast=statistics.fmean(top10_cast),
        nakamoto_median=statistics.median(counts),
        nakamoto_below_3=sum(c < 3 for c in counts) / runs,
        approval=statistics.fmean(approvals),
        approval_se=_se(approvals),
        approval_median=statistics.median(approvals),
        passed=passed / runs,
        quorum_failed=quorum_failed / runs,
        changed=changed / runs,
        seconds_per_run=(time.perf_counter() - t0) / runs,
    )


def preset_params(calibration: Calibration, n: int, **extra: object) -> SimParams:
    """A v0.5 run of ``n`` agents with the preset, mean degree 10."""
    return SimParams.model_validate(
        {"agents": n, "mean_degree": 10, "rules": RuleSet.V0_5, "calibration": calibration} | extra
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


COLUMNS: tuple[tuple[str, int], ...] = (
    ("preset", 8),
    ("N", 4),
    ("runs", 4),
    ("top-10 share of total (pub)", 27),
    ("top-10 of cast", 14),
    ("Nakamoto median, < 3 (pub)", 26),
    ("mean approval (pub)", 25),
    ("median approval (pub)", 21),
    ("passed (pub)", 15),
    ("quorum failed (pub)", 19),
    ("changed", 7),
)
"""Table columns and their widths in the plain-text table."""


def cells(calibration: Calibration, n: int, f: Figures) -> list[str]:
    """One row: measured figures with the published ones beside them."""
    p = PUBLISHED[calibration]
    return [
        calibration.value,
        f"10^{round(np.log10(n))}",
        str(f.runs),
        f"{f.top10:.1%} ± {f.top10_se:.1%} ({_pct(p.top10)})",
        f"{f.top10_cast:.1%}",
        f"{f.nakamoto_median:g}, {f.nakamoto_below_3:.0%} (< 3)",
        f"{f.approval:.1%} ± {f.approval_se:.1%} ({_pct(p.approval)})",
        f"{f.approval_median:.1%} ({_pct(p.approval_median)})",
        f"{f.passed:.1%} ({_pct(p.passed)})",
        f"{f.quorum_failed:.1%} ({_pct(p.quorum_failed)})",
        f"{f.changed:.1%}",
    ]


def _line(values: list[str]) -> str:
    return "  ".join(
        v.ljust(w) if i == 0 else v.rjust(w)
        for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
    )


def calibration_table(sizes: tuple[tuple[int, int], ...], *, markdown: bool) -> None:
    """Published against measured figures for each preset and size."""
    names = [name for name, _ in COLUMNS]
    if markdown:
        print("| " + " | ".join(names) + " |")
        print("|" + "---|" * len(names))
    else:
        print(_line(names) + "  ok?  s/run")
    for calibration, published in PUBLISHED.items():
        for n, runs in sizes:
            f = measure(preset_params(calibration, n), runs)
            row = cells(calibration, n, f)
            if markdown:
                print("| " + " | ".join(row) + " |", flush=True)
            else:
                verdict = "ok" if f.ok(published) else "OFF"
                print(f"{_line(row)}  {verdict:>3}  {f.seconds_per_run:.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Print the calibration table."""
    parser = argparse.ArgumentParser(prog="python -m bench.calibration", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 10^3 and 10^4, 100 runs")
    parser.add_argument("--markdown", action="store_true", help="print docs/model.md's rows")
    args = parser.parse_args(argv)
    np.seterr(all="raise")
    calibration_table(QUICK_SIZES if args.quick else SIZES, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

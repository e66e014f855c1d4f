"""Redraw the report's pass-rate panel of a finished grid sweep from its results, in a few lines.

    sweepctl run examples/whale-vs-conformity.yaml     # writes examples/results (the spec's output)
    python examples/plot_pass_rate.py examples/whale-vs-conformity.yaml pass_rate.png

The report (``sweepctl report``) plots, for the first swept parameter, the pass rate of each grid
point (the share of its replicates whose proposal passed) with a 95% Wilson interval, one line
per value of the second parameter. This script draws the same panel from the results table
(``load_results``: a pandas DataFrame, one row per run) and prints the numbers it plots.
"""

from __future__ import annotations

import sys

import numpy as np
from matplotlib.figure import Figure

from sweep_controller import SweepError, load_results, load_sweep
from sweep_controller.analysis.stats import wilson_ci


def main(spec: str, out: str) -> None:
    sweep = load_sweep(spec)
    table = load_results(spec, require_complete=True)  # one row per run: parameters, outcomes
    x_name, line_name = sweep.spec.axes()[0][0], sweep.spec.axes()[1][0]
    ax = Figure(figsize=(6, 4)).subplots()
    for line in np.unique(table[line_name]):
        xs = np.unique(table[x_name])
        cis = []
        for x in xs:
            runs = table[(table[x_name] == x) & (table[line_name] == line)]
            ci = wilson_ci(int(runs["passed"].sum()), len(runs))
            print(f"{x_name}={x:g} {line_name}={line:g} pass rate {ci.value:.4f} "
                  f"[{ci.low:.4f}, {ci.high:.4f}] n={ci.n}")  # fmt: skip
            cis.append(ci)
        mean = np.array([ci.value for ci in cis])
        err = [mean - [ci.low for ci in cis], [ci.high for ci in cis] - mean]
        ax.errorbar(xs, mean, yerr=err, marker="o", capsize=3, label=f"{line_name} = {line:g}")
    ax.set(xlabel=x_name, ylabel="pass rate (share of runs)", ylim=(0, 1), title=sweep.name)
    ax.legend(fontsize="small")
    ax.figure.savefig(out, dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    try:
        main(*(sys.argv[1:] or ["examples/whale-vs-conformity.yaml", "pass_rate.png"]))
    except SweepError as exc:
        sys.exit(f"plot_pass_rate: {exc}")

"""The v0.5 calibration presets against the published on-chain governance figures.

For each preset (``compound``, ``uniswap``) and N = 10^3, 10^4, 10^5 (200, 100 and 30 runs, mean
degree 10, the other parameters at their defaults) it prints, next to the published value:

* top-10 share of total voting power (every agent's stake; Messias et al. 2023: 57.86% Compound,
  44.72% Uniswap), and for comparison the top-10 share of the votes cast;
* the Nakamoto count of votes cast: fewest voters whose stake reaches half the stake cast (mean
  and median over runs; published: fewer than three);
* mean approval: share of the stake cast voting yes, averaged over runs (Compound 89.39%);
* the Gini coefficient of the stake cast, the pass rate, the quorum failures, and how often the
  stake-weighted outcome goes against the head count of the voters.

Then, indicatively, how often the cascade changes the outcome and how the pass rate responds to
``conformity_threshold`` and ``whale_ratio`` (v0.5 population, 10 influence rounds).

Run: ``python -m bench.calibration [--quick]`` (``--quick``: N = 10^3 and 10^4 only, fewer runs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from simulator.concentration import gini, nakamoto, top_share
from simulator.model import simulate
from simulator.outcome import tally
from simulator.params import Calibration, RuleSet, SimParams
from simulator.seeding import run_seed

PUBLISHED: dict[Calibration, dict[str, str]] = {
    Calibration.COMPOUND: {"top10": "57.86%", "nakamoto": "< 3", "approval": "89.39%"},
    Calibration.UNISWAP: {"top10": "44.72%", "nakamoto": "< 3", "approval": "n/a"},
}
SIZES = ((1_000, 200), (10_000, 100), (100_000, 30))
BASE_SEED = 2305_17655


@dataclass(frozen=True)
class Figures:
    """Mean figures over the runs of one (params, runs) cell."""

    top10_total: float
    top10_total_se: float
    top10_cast: float
    nakamoto_mean: float
    nakamoto_median: float
    approval: float
    approval_se: float
    gini_cast: float
    turnout_stake: float
    passed: float
    changed: float
    quorum_failed: float
    against_heads: float


def measure(params: SimParams, runs: int, base_seed: int = BASE_SEED) -> Figures:
    """Simulate ``runs`` runs of ``params`` and average the calibration figures."""
    cols: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        cols.setdefault(name, []).append(value)

    for i in range(runs):
        r = simulate(params, run_seed(base_seed, i))
        stake, voted = r.agents.stake, r.participated
        cast = stake[voted]
        final, first = tally(r), tally(r, initial=True)
        add("top10_total", top_share(stake, 10))
        add("top10_cast", top_share(cast, 10))
        add("nakamoto", nakamoto(cast))
        add("gini", gini(cast))
        add("turnout", final.cast / final.total)
        add("passed", final.passed)
        add("changed", final.passed != first.passed)
        add("quorum_failed", not final.quorum_met)
        votes = r.influence.final_votes[voted]
        heads_yes = 2 * int(votes.sum()) > len(votes)
        add("against_heads", final.yes > final.no and not heads_yes)
        if final.cast > 0:
            add("approval", final.approval)

    def mean(name: str) -> float:
        return statistics.fmean(cols.get(name, [float("nan")]))

    def se(name: str) -> float:
        xs = cols.get(name, [])
        return statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else float("nan")

    return Figures(
        top10_total=mean("top10_total"),
        top10_total_se=se("top10_total"),
        top10_cast=mean("top10_cast"),
        nakamoto_mean=mean("nakamoto"),
        nakamoto_median=statistics.median(cols["nakamoto"]),
        approval=mean("approval"),
        approval_se=se("approval"),
        gini_cast=mean("gini"),
        turnout_stake=mean("turnout"),
        passed=mean("passed"),
        changed=mean("changed"),
        quorum_failed=mean("quorum_failed"),
        against_heads=mean("against_heads"),
    )


def preset_params(calibration: Calibration, n: int, **extra: object) -> SimParams:
    """A v0.5 run of ``n`` agents with the preset, mean degree 10."""
    return SimParams.model_validate(
        {"agents": n, "mean_degree": 10, "rules": RuleSet.V0_5, "calibration": calibration} | extra
    )


def calibration_table(sizes: tuple[tuple[int, int], ...]) -> None:
    """Published against measured figures for each preset and size."""
    print(
        f"{'preset':9} {'N':>7} {'runs':>4}  {'top10 total':>15} {'(pub)':>7}  {'top10 cast':>10}"
        f"  {'nakamoto mean/med':>17} {'(pub)':>5}  {'approval':>14} {'(pub)':>7}  {'gini cast':>9}"
        f"  {'turnout':>7}  {'passed':>6}  {'vs heads':>8}  {'s/run':>6}"
    )
    for calibration, published in PUBLISHED.items():
        for n, runs in sizes:
            t0 = time.perf_counter()
            f = measure(preset_params(calibration, n), runs)
            per_run = (time.perf_counter() - t0) / runs
            print(
                f"{calibration.value:9} {n:>7} {runs:>4}  "
                f"{f.top10_total:7.2%} ±{f.top10_total_se:5.2%} {published['top10']:>7}  "
                f"{f.top10_cast:10.2%}  {f.nakamoto_mean:9.2f} / {f.nakamoto_median:<5g} "
                f"{published['nakamoto']:>5}  {f.approval:7.2%} ±{f.approval_se:5.2%} "
                f"{published['approval']:>7}  {f.gini_cast:9.3f}  {f.turnout_stake:7.1%}  "
                f"{f.passed:6.1%}  {f.against_heads:8.1%}  {per_run:6.3f}",
                flush=True,
            )


def response_table(n: int, runs: int) -> None:
    """Indicative: cascade-changed outcomes and the pass rate's response (rules v0.5)."""
    print(f"\nv0.5 population, calibration none, N={n}, mean degree 10, 10 rounds, {runs} runs")
    print(f"{'conformity_threshold':>20} {'whale_ratio':>11}  {'passed':>6}  {'changed':>7}")
    for kappa, whales in (
        (0.6, 0.15),
        (0.0, 0.15),
        (0.3, 0.15),
        (1.0, 0.15),
        (0.6, 0.01),
        (0.6, 0.05),
        (0.6, 0.4),
    ):
        params = SimParams(
            agents=n,
            mean_degree=10,
            cascade_rounds=10,
            rules=RuleSet.V0_5,
            conformity_threshold=kappa,
            whale_ratio=whales,
        )
        f = measure(params, runs)
        print(f"{kappa:>20} {whales:>11}  {f.passed:6.1%}  {f.changed:7.1%}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Print the calibration table and the outcome-response measurements."""
    parser = argparse.ArgumentParser(prog="python -m bench.calibration")
    parser.add_argument("--quick", action="store_true", help="N <= 10^4, fewer runs")
    args = parser.parse_args(argv)
    sizes = ((1_000, 100), (10_000, 30)) if args.quick else SIZES
    np.seterr(all="raise")
    calibration_table(sizes)
    response_table(1_000, 100 if args.quick else 400)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

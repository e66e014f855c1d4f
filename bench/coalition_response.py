"""How the outcome responds to whale coalitions: docs/model.md, section 11.1, "Measured".

Every cell runs ``runs`` runs (default 300) of rules v0.5 at N = 10^4 (calibration ``none``, mean
degree 10, whale_ratio 0.15: 1500 whales, the other parameters at their defaults unless the cell
sets them) with the same seeds ``run_seed(BASE_SEED, i)`` in every cell, so cells differ only by
their coalition parameters (common random numbers). For each cell it prints, over runs:

* ``dictates``: the largest bloc (the bloc, or independent whale, with the most stake cast)
  decides the tally alone (more than half the stake cast, at least the quorum) and ends on its
  round-0 vote, so the outcome is that vote whatever anyone else does;
* ``decisive``: the largest bloc decides the tally alone;
* ``follows``: the outcome is the largest bloc's round-0 vote;
* ``changed``: the influence rounds changed the outcome; ``passed``: the pass rate;
* ``share``: the largest bloc's mean share of the stake cast; ``overruled``: the mean share of
  the stake cast whose own round-0 vote its bloc overruled; ``switches``: mean bloc switches.

Tables: coalition size x rule x revision; the preference cells (``coalition_span``) without a
size limit; and the non-whales' conformity threshold at sizes 1 and 1500. Prints Markdown with
``--markdown``.

Run: ``python -m bench.coalition_response [--agents N] [--runs K] [--markdown]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.coalition import summarize_run
from simulator.model import RunResult, simulate
from simulator.outcome import tally
from simulator.params import SimParams
from simulator.seeding import run_seed

BASE_SEED = 20261207
SIZES = (1, 2, 10, 100, 500, 750, 1000, 1250, 1500)
SPANS = (0.05, 0.1, 0.25, 1.0)
CONFORMITY = (0.2, 0.6, 0.9)


@dataclass(frozen=True)
class Observation:
    """What one run with coalitions tells about who decided its outcome."""

    dictates: bool
    decisive: bool
    follows: bool
    changed: bool
    passed: bool
    share: float
    overruled: float
    switches: int


def observe(r: RunResult) -> Observation:
    """The largest bloc of one run and the outcome."""
    s = summarize_run(r)
    final, initial = tally(r), tally(r, initial=True)
    big = s.largest
    assert big is not None  # the largest holders vote almost surely
    decisive = big.stake_cast > final.cast / 2 and big.stake_cast >= final.quorum * final.total
    return Observation(
        dictates=decisive and big.initial_vote == big.final_vote,
        decisive=decisive,
        follows=final.passed == big.initial_vote,
        changed=final.passed != initial.passed,
        passed=final.passed,
        share=big.stake_cast / final.cast,
        overruled=s.overruled_stake / final.cast,
        switches=s.switches,
    )


def cell(n: int, runs: int, **params: Any) -> list[Observation]:
    """The observations of one cell's runs (shared seeds)."""
    p = SimParams(agents=n, **params)
    return [observe(simulate(p, run_seed(BASE_SEED, i))) for i in range(runs)]


def _rate(values: list[bool]) -> str:
    return f"{np.mean(values):.1%}"


def row(obs: list[Observation]) -> list[str]:
    """The printed columns of one cell."""
    return [
        _rate([o.dictates for o in obs]),
        _rate([o.decisive for o in obs]),
        _rate([o.follows for o in obs]),
        _rate([o.changed for o in obs]),
        _rate([o.passed for o in obs]),
        f"{np.mean([o.share for o in obs]):.2f}",
        f"{np.mean([o.overruled for o in obs]):.3f}",
        f"{np.mean([o.switches for o in obs]):.2f}",
    ]


COLUMNS = ["dictates", "decisive", "follows", "changed", "passed", "share", "overruled", "switches"]


def _print(head: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        for r in [head, *rows]:
            print("  ".join(f"{c:>10s}" for c in r))
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    """Print the three tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.coalition_response", description=__doc__)
    parser.add_argument("--agents", type=int, default=10_000, help="N (default 10^4)")
    parser.add_argument("--runs", type=int, default=300, help="runs per cell (300)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    n, runs, md = args.agents, args.runs, args.markdown
    whales = round(0.15 * n)
    sizes = sorted({s for s in SIZES if s <= whales} | {whales})
    started = time.perf_counter()
    print(f"N = {n}, {whales} whales, {runs} runs a cell, seeds run_seed({BASE_SEED}, i)\n")
    rows = []
    for rule in ("stake_majority", "leader"):
        for revision in ("every_round", "never"):
            for size in sizes:
                obs = cell(n, runs, coalition_rule=rule, coalition_size=size,
                           coalition_revision=revision)  # fmt: skip
                rows.append([rule, revision, str(size), *row(obs)])
    _print(["rule", "revision", "size", *COLUMNS], rows, md)
    rows = []
    for span in SPANS:
        obs = cell(n, runs, coalition_rule="stake_majority", coalition_span=span)
        rows.append([str(span), *row(obs)])
    _print(["span (no size limit)", *COLUMNS], rows, md)
    rows = []
    for size in (1, whales):
        for kappa in CONFORMITY:
            obs = cell(n, runs, coalition_rule="stake_majority", coalition_size=size,
                       conformity_threshold=kappa)  # fmt: skip
            rows.append([str(size), str(kappa), *row(obs)])
    _print(["size", "conformity_threshold", *COLUMNS], rows, md)
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

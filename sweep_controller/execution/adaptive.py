"""The local loop of an adaptive sweep (``method: optuna``): plan a round, run it, read it, repeat.

``sweepctl run`` on an adaptive sweep runs its rounds one after another. For each round it takes
the stored point list, or plans it from the values of the rounds before it
(``sweep_controller.spec.search.plan_round``) and stores it (``sweep_controller.execution.rounds``)
before any task of the round starts; it then runs the round's tasks through the same runner,
worker and commit path as every other sweep (``run_sweep`` limited to the round's tasks), and
reads the round's values back from the store. The controller on Kubernetes does the same with
one Indexed Job per round.

Resuming: a planned round is never planned again, and done tasks are skipped, so running the same
command after an interruption (or after a round whose failed tasks exceeded the budget) continues
where the sweep stopped and reaches the same answer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from sweep_controller.execution.rounds import (
    evaluate_rounds,
    new_round_file,
    read_round,
    write_round,
)
from sweep_controller.execution.runner import RunSummary, run_sweep
from sweep_controller.exit_codes import ExitCode
from sweep_controller.spec.expand import RoundPoints, SweepPlan
from sweep_controller.spec.models import Sweep
from sweep_controller.spec.search import Answer, Evaluated, answer, plan_round
from sweep_controller.store import Store, open_store

__all__ = ["SearchSummary", "run_search"]


@dataclass(frozen=True)
class SearchSummary:
    """What ``sweepctl run`` did with an adaptive sweep: each round's run, and the answer."""

    rounds: tuple[RunSummary, ...]
    """The runs of the rounds this command got to, in order (the last may have stopped)."""
    n_rounds: int
    answer: Answer
    """The answer from every point evaluated so far."""
    evaluated: tuple[Evaluated, ...]

    @property
    def finished(self) -> bool:
        """Every round ran to its end."""
        return len(self.rounds) == self.n_rounds and self.exit_code == ExitCode.OK

    @property
    def exit_code(self) -> int:
        """The exit code of the last round run (0 once every round is done)."""
        return self.rounds[-1].exit_code if self.rounds else ExitCode.OK


def run_search(
    sweep: Sweep,
    *,
    store: Store | None = None,
    out: TextIO = sys.stderr,
    on_round: Callable[[int, Answer], None] | None = None,
    **run_options: Any,
) -> SearchSummary:
    """Run the rounds of an adaptive sweep that are not done yet; ``run_options`` go on to
    ``run_sweep`` for each round. ``on_round(k, answer)`` is called after round ``k`` ran, with
    the answer so far. Stops after a round that did not end with exit 0.

    ``store`` overrides the spec's output (tests); as for ``run_sweep``, pool processes open the
    spec's output themselves, so give a store only with ``workers=1``.
    """
    spec = sweep.spec
    rounds = spec.rounds or 0
    store = store if store is not None else open_store(spec.output.uri)
    # pool processes open the spec's output themselves: a store given here reaches one worker only
    run_store = store if run_options.get("workers") == 1 else None
    evaluated: list[Evaluated] = []
    summaries: list[RunSummary] = []
    for k in range(rounds):
        file = read_round(store, sweep, k)
        if file is None:
            points = plan_round(spec, k, evaluated)
            file = write_round(store, new_round_file(sweep, k, points), sweep)
        plan = SweepPlan(sweep, round_points=_fixed(k, file.points))
        summary = run_sweep(
            sweep,
            tasks=plan.round_tasks(k),
            label=f"round {k} (of {rounds})",
            out=out,
            store=run_store,
            **run_options,
        )
        summaries.append(summary)
        if summary.exit_code != ExitCode.OK:
            break
        evaluated += evaluate_rounds(store, sweep, plan, range(k, k + 1)).evaluated
        if on_round is not None:
            on_round(k, answer(spec, evaluated))
    return SearchSummary(tuple(summaries), rounds, answer(spec, evaluated), tuple(evaluated))


def _fixed(round_index: int, points: list[dict[str, int | float | str]]) -> RoundPoints:
    """A point source that knows one round (the one being run and read)."""

    def source(k: int) -> list[dict[str, int | float | str]]:
        if k != round_index:
            raise ValueError(f"round {k} is not the round being read ({round_index})")
        return points

    return source

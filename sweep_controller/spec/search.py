"""Adaptive search (``method: optuna``): the points of each round, and the answer of a search.

An adaptive sweep runs in rounds. Round ``k``'s points are a pure function of the spec, its seed
and the results of rounds ``0 .. k-1``: :func:`plan_round` creates an in-memory Optuna study with a
``TPESampler`` seeded from ``(seed, k)``, replays every earlier point in index order as a finished
trial (its parameters and its value; a point without a value as a failed trial), then asks for
``pointsPerRound`` new points. Any process that holds the same results plans the same round, so
the local runner and the Kubernetes controller agree, and a rerun with the same seed reproduces
every round. The first ``pointsPerRound`` trials are TPE's random start-up; later rounds model
the good and bad points seen so far. Asked points of one round are told nothing about each other
(``constant_liar``), so a round spreads out instead of repeating its best guess.

A point's *value* is the mean of the objective's outcome over the point's runs (``NaN`` outcomes
left out). With ``direction`` the sampler minimises or maximises the value; with ``target`` it
minimises ``|value - target|``. :func:`answer` reads the best point off the evaluated points,
and for a target over one numeric parameter the *boundary*: where a monotone fit of the values
crosses the target (see :func:`find_boundary`).

Optuna is imported here, lazily, and nowhere else: ``sweepctl`` starts without it. Its point
values depend on Optuna's implementation, so the planned points are stored before a round runs
(``sweep_controller.execution.rounds``), and a resumed sweep reads them instead of planning again.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sweep_controller.extras import require
from sweep_controller.spec.models import Direction, Method, SweepSpec
from sweep_controller.spec.parameters import PARAM_KINDS, ParamKind, Scale, SweptValue

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = [
    "SEARCH_STREAM",
    "Answer",
    "Boundary",
    "Evaluated",
    "answer",
    "describe_point",
    "find_boundary",
    "isotonic",
    "plan_round",
    "planner_name",
    "point_value",
    "sampler_seed",
]

SEARCH_STREAM = 0x53574545_5054  # "SWEEPT": the sampler's stream, apart from run seeds
Point = Mapping[str, SweptValue]


@dataclass(frozen=True)
class Evaluated:
    """One point of an adaptive sweep with its value (None: none of its runs has one)."""

    point_index: int
    params: Point
    value: float | None
    runs: int = 1
    """Runs whose outcome the value averages (the weight of the point in the boundary fit)."""


@dataclass(frozen=True)
class Boundary:
    """Where the objective's outcome crosses its target along the one swept parameter.

    ``low`` and ``high`` are adjacent evaluated values of the parameter that bracket the crossing
    of the monotone fit: ``high`` is the smallest evaluated value at which the fit has reached the
    target, coming from the range's low end; ``estimate`` interpolates linearly between them (on
    ``log(x)`` for a log-scale parameter). With an integer parameter, ``high`` is the answer to
    "the smallest value that crosses".
    """

    parameter: str
    low: float
    high: float
    estimate: float


@dataclass(frozen=True)
class Answer:
    """What a search found: the best evaluated point and, for a target, the boundary."""

    best: Evaluated | None
    boundary: Boundary | None
    evaluated: int
    """Points that have a value."""


def sampler_seed(seed: int, round_index: int) -> int:
    """The TPE sampler's seed for round ``round_index``: a 32-bit word of the sweep seed's
    search stream, so rounds draw differently and no run seed is reused."""
    sequence = np.random.SeedSequence([seed, SEARCH_STREAM, round_index])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def point_value(outcomes: Sequence[float]) -> float | None:
    """A point's value: the mean of its runs' outcomes without NaNs (None: no outcome left).

    ``math.fsum`` makes the mean exact to rounding whatever the order of the runs, so every
    reader computes the same bits.
    """
    finite = [float(x) for x in outcomes if not math.isnan(float(x))]
    if not finite:
        return None
    return math.fsum(finite) / len(finite)


def _score(spec: SweepSpec, value: float) -> float:
    """What the sampler optimises: the value, or its distance to the target."""
    objective = spec.objective
    assert objective is not None
    if objective.target is not None:
        return abs(value - objective.target)
    return value


def distributions(spec: SweepSpec) -> dict[str, BaseDistribution]:
    """The Optuna distribution of each swept parameter.

    ``values`` are categorical choices; a float range is ``FloatDistribution(min, max)`` and an
    integer range ``IntDistribution(min, max)``, both with ``log=True`` for ``scale: log``.
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, BaseDistribution] = {}
    for name, param in spec.parameters.items():
        if param.values is not None:
            out[name] = CategoricalDistribution(list(param.values))
            continue
        assert param.min is not None and param.max is not None
        log = param.scale is Scale.LOG
        if PARAM_KINDS[name] is ParamKind.INT:
            out[name] = IntDistribution(int(param.min), int(param.max), log=log)
        else:
            out[name] = FloatDistribution(param.min, param.max, log=log)
    return out


def planner_name() -> str:
    """What plans the rounds, with its version (recorded in each round's file)."""
    require("method: optuna", "optuna")
    import optuna

    return f"optuna {optuna.__version__} TPESampler"


def plan_round(spec: SweepSpec, round_index: int, history: Sequence[Evaluated]) -> list[Point]:
    """The points of round ``round_index``: a pure function of the spec and ``history``.

    ``history`` holds every point of the earlier rounds, in point-index order (a point without a
    value is replayed as a failed trial, which TPE leaves out). Raises ``ValueError`` when it
    does not.
    """
    require("method: optuna", "optuna")
    import optuna
    from optuna.trial import TrialState, create_trial

    if spec.method is not Method.OPTUNA or spec.objective is None:
        raise ValueError(f"plan_round needs a sweep of method optuna, not {spec.method}")
    size = spec.points_per_round or 0
    expected = list(range(round_index * size))
    if [e.point_index for e in history] != expected:
        raise ValueError(
            f"round {round_index} is planned from points 0-{len(expected) - 1} in order; "
            f"got {len(history)} points"
        )
    dists = distributions(spec)
    maximize = spec.objective.direction is Direction.MAXIMIZE
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)  # no "trial finished" line per replayed point
    try:
        with warnings.catch_warnings():
            # constant_liar is stable since Optuna 4.x; earlier releases call it experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=sampler_seed(spec.seed, round_index), n_startup_trials=size, constant_liar=True
            )
            study = optuna.create_study(
                sampler=sampler, direction="maximize" if maximize else "minimize"
            )
            for point in history:
                params = {name: point.params[name] for name in spec.parameters}
                if point.value is None:
                    trial = create_trial(params=params, distributions=dists, state=TrialState.FAIL)
                else:
                    trial = create_trial(
                        params=params, distributions=dists, value=_score(spec, point.value)
                    )
                study.add_trial(trial)
            asked = [study.ask(dists) for _ in range(size)]
    finally:
        optuna.logging.set_verbosity(verbosity)
    return [{name: trial.params[name] for name in spec.parameters} for trial in asked]


# --- the answer ---------------------------------------------------------------------------------


def isotonic(y: Sequence[float], w: Sequence[float], *, increasing: bool = True) -> list[float]:
    """The weighted least-squares monotone fit of ``y`` (pool adjacent violators).

    >>> isotonic([1.0, 3.0, 2.0, 4.0], [1, 1, 1, 1])
    [1.0, 2.5, 2.5, 4.0]
    >>> isotonic([3.0, 1.0, 2.0], [1, 1, 2], increasing=False)
    [3.0, 1.6666666666666667, 1.6666666666666667]
    """
    sign = 1.0 if increasing else -1.0
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(y, w, strict=True):
        blocks.append([sign * value, float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            right = blocks.pop()
            left = blocks[-1]
            total = left[1] + right[1]
            left[0] = (left[0] * left[1] + right[0] * right[1]) / total
            left[1], left[2] = total, left[2] + right[2]
    return [sign * mean for mean, _, count in blocks for _ in range(int(count))]


def _sse(y: Sequence[float], w: Sequence[float], fit: Sequence[float]) -> float:
    return math.fsum(wi * (yi - fi) ** 2 for yi, wi, fi in zip(y, w, fit, strict=True))


def find_boundary(
    points: Sequence[Evaluated], parameter: str, target: float, *, log: bool = False
) -> Boundary | None:
    """Where the values cross ``target`` along ``parameter``, from a monotone fit (or None).

    Points with a value are grouped by the parameter's value (a weighted mean per value, weights
    being run counts) and sorted. The fit is the weighted isotonic regression, increasing or
    decreasing, whichever leaves the smaller squared error (increasing on a tie), so noise in
    single points cannot make the answer jump back and forth. Coming from the smallest value,
    ``high`` is the first value whose fit has reached the target (equal to it, or past it), and
    ``low`` the value before it. None when the fit never reaches the target, or when fewer than two
    values were evaluated.
    """
    groups: dict[float, list[float]] = {}
    for point in points:
        if point.value is None:
            continue
        x = float(point.params[parameter])
        total = groups.setdefault(x, [0.0, 0.0])
        total[0] += point.value * point.runs
        total[1] += point.runs
    xs = sorted(groups)
    if len(xs) < 2:
        return None
    w = [groups[x][1] for x in xs]
    y = [groups[x][0] / groups[x][1] for x in xs]
    up, down = isotonic(y, w), isotonic(y, w, increasing=False)
    fit = up if _sse(y, w, up) <= _sse(y, w, down) else down
    start = fit[0] - target
    if start == 0:
        return Boundary(parameter, xs[0], xs[0], xs[0])
    for j in range(1, len(xs)):
        d = fit[j] - target
        if d == 0 or (d > 0) != (start > 0):
            low, high = xs[j - 1], xs[j]
            share = (target - fit[j - 1]) / (fit[j] - fit[j - 1])
            if log and low > 0:
                estimate = math.exp(math.log(low) + share * (math.log(high) - math.log(low)))
            else:
                estimate = low + share * (high - low)
            return Boundary(parameter, low, high, min(max(estimate, low), high))
    return None


def _boundary_parameter(spec: SweepSpec) -> str | None:
    """The parameter a boundary is read along: the one swept parameter, if it is numeric."""
    if len(spec.parameters) != 1:
        return None
    (name, param), *_ = spec.parameters.items()
    if PARAM_KINDS[name] is ParamKind.CHOICE:
        return None
    if param.values is not None and not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in param.values
    ):
        return None
    return name


def answer(spec: SweepSpec, points: Sequence[Evaluated]) -> Answer:
    """The best point (ties: the lowest index) and, for a target, the boundary.

    The best point minimises ``|value - target|`` for a target, or the value for minimize, or
    maximises it. The boundary is read when the sweep sweeps exactly one numeric parameter.
    """
    objective = spec.objective
    if objective is None:
        raise ValueError("answer needs a sweep with an objective (method optuna)")
    valued = [p for p in points if p.value is not None]
    best = None
    if valued:
        sign = -1.0 if objective.direction is Direction.MAXIMIZE else 1.0
        best = min(valued, key=lambda p: (sign * _score(spec, p.value or 0.0), p.point_index))
    boundary = None
    parameter = _boundary_parameter(spec)
    if objective.target is not None and parameter is not None:
        log = spec.parameters[parameter].scale is Scale.LOG
        boundary = find_boundary(points, parameter, objective.target, log=log)
    return Answer(best, boundary, len(valued))


def describe_point(params: Point) -> str:
    """``quorum=0.6523, influence_model=small_world``: a point as one phrase."""
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)

"""Expansion: a sweep's runs computed from their indexes, without materialising the sweep.

Index contract (see docs/sweeps.md):
- points are numbered ``0 .. n_points-1``: on a grid by mixed-radix decoding over the axes (the
  last axis varies fastest, like ``itertools.product``); for sampled methods row ``p`` of the
  sample (for ``design: saltelli``, row ``p`` of SALib's Saltelli matrix: base sample ``p // (d +
  2)``, as A, then A with column ``0 .. d-1`` from B, then B);
- runs are numbered point-major: run ``p * replicates + r`` is replicate ``r`` of point ``p``;
  its seed is keyed by its content, ``simulator.seeding.content_seed(sweep seed, the point's
  canonical JSON, r)`` (:func:`point_content`), so a run keeps its seed when the sweep grows
  (``sweep_controller.spec.growth``); results written before seeds were keyed by content, and
  adaptive (optuna) sweeps, use ``run_seed(sweep seed, run index)`` (``legacy_seeds``);
- runs are dealt to tasks in an order: position ``k`` holds run ``k`` (sequential) or run
  ``perm(k)`` (shuffled: a seeded bijection of ``[0, n_runs)``, computed per position);
- task ``i`` performs the runs at positions ``[i * runs_per_task, min((i + 1) * runs_per_task,
  n_runs))``, in that order.

An adaptive sweep (``method: optuna``) numbers its points round by round: round ``k`` holds points
``[k * pointsPerRound, (k + 1) * pointsPerRound)``, whose values come from the round's planned
point list (``round_points``; see ``sweep_controller.spec.search``), and its tasks are numbered
``[k * tasks_per_round, (k + 1) * tasks_per_round)``, each dealt the round's runs as above: a task
never mixes two rounds, so a round runs whole before the next is planned.

Everything here is a pure function of the sweep's result-determining fields, so any process (a Job
pod, a local worker, a report) computes the same runs for the same task.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np

from simulator.params import SimParams
from simulator.seeding import content_seed, run_seed
from sweep_controller.errors import TaskError
from sweep_controller.spec.models import Design, Method, Order, Sweep, content_seeded
from sweep_controller.spec.parameters import PARAM_KINDS, SweptValue, grid_value, sample_value

# Entropy tags: the sampler and the shuffle draw from streams that differ from every run's stream
# (run seeds use the bare sweep seed as entropy and the run index as spawn key).
SAMPLE_STREAM = 0x53574545_5053  # "SWEEPS"
ORDER_STREAM = 0x53574545_504F  # "SWEEPO"
_FEISTEL_ROUNDS = 4
_CHUNK = 4096  # positions per vectorised shuffle step while iterating
_AXIS_CACHE = 1 << 16  # grid axes up to this long are computed once

RoundPoints = Callable[[int], Sequence[Mapping[str, SweptValue]]]
"""Round index -> the round's planned points (an adaptive sweep's point source)."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: where it sits, what it simulates, and the seed that reproduces it."""

    run_index: int
    point_index: int
    replicate: int
    seed: int
    params: SimParams
    swept: dict[str, SweptValue]


def point_content(params: SimParams) -> str:
    """A point's canonical JSON: its resolved parameters that differ from the simulator's
    defaults, sorted keys, no spaces (what keys its runs' seeds and identifies them)."""
    data = params.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --- shuffled order -----------------------------------------------------------------------------


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


class ShuffledOrder:
    """A seeded pseudo-random bijection of ``[0, n)``, evaluated per element in O(1) memory.

    A balanced Feistel network permutes ``[0, 4**h)`` (the smallest such range holding ``n``);
    cycle-walking (re-applying it until the value falls below ``n``) restricts it to ``[0, n)``,
    which takes fewer than four rounds on average. Keys come from ``SeedSequence([seed,
    ORDER_STREAM])``.
    """

    def __init__(self, n: int, seed: int) -> None:
        if n > 1 << 62:
            raise ValueError(f"cannot shuffle {n} runs; at most 2**62")
        self.n = n
        self._half = max(1, ((n - 1).bit_length() + 1) // 2)
        self._mask = np.uint64((1 << self._half) - 1)
        seq = np.random.SeedSequence([seed, ORDER_STREAM])
        self._keys = [np.uint64(k) for k in seq.generate_state(_FEISTEL_ROUNDS, dtype=np.uint64)]

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        shift = np.uint64(self._half)
        left, right = x >> shift, x & self._mask
        for key in self._keys:
            left, right = right, left ^ (_mix(right ^ key) & self._mask)
        return (left << shift) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """The run index at each position (uint64 array in, uint64 array out)."""
        out = self._encrypt(positions.astype(np.uint64))
        outside = out >= np.uint64(self.n)
        while outside.any():
            out[outside] = self._encrypt(out[outside])
            outside = out >= np.uint64(self.n)
        return out


# --- samples ------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _qmc_matrix(
    method: Method, d: int, n: int, seed: int, design: Design = Design.PLAIN
) -> np.ndarray:
    """The whole ``n x d`` unit sample of a Latin hypercube or scrambled Sobol design (cached)."""
    from scipy.stats import qmc  # scipy.stats takes most of a second to import: only when needed

    rng = np.random.default_rng(np.random.SeedSequence([seed, SAMPLE_STREAM]))
    if design is Design.SALTELLI:
        matrix = saltelli_matrix(d, n // (d + 2), rng)
    elif method is Method.SOBOL:
        matrix = qmc.Sobol(d, scramble=True, rng=rng).random_base2(int(math.log2(n)))
    else:
        matrix = qmc.LatinHypercube(d, rng=rng).random(n)
    matrix.setflags(write=False)
    return matrix


def saltelli_matrix(d: int, base: int, rng: np.random.Generator) -> np.ndarray:
    """SALib's Saltelli design of ``base`` points in ``[0, 1)^d``: ``base x (d + 2)`` rows.

    Rows come in blocks of ``d + 2`` per base point: A, then A with column ``i`` taken from B
    for ``i = 0 .. d-1``, then B (first-order and total indices only, no second-order rows),
    where A and B are the two halves of one scrambled Sobol sequence of dimension ``2d``. This is
    ``SALib.sample.sobol.sample(..., calc_second_order=False)`` (a test holds them equal), built
    with array operations: SALib fills the matrix in a Python loop (7 s for 2^16 base samples of 4
    dimensions, tens of seconds at the 2^20-point limit, in every process that expands the
    sweep), and importing it imports pandas.
    """
    from scipy.stats import qmc

    sequence = qmc.Sobol(2 * d, scramble=True, rng=rng).random(base)
    a, b = sequence[:, :d], sequence[:, d:]
    blocks = np.repeat(a[:, np.newaxis, :], d + 2, axis=1)
    for i in range(d):
        blocks[:, 1 + i, i] = b[:, i]
    blocks[:, d + 1] = b
    return blocks.reshape(base * (d + 2), d)


# --- the plan -----------------------------------------------------------------------------------


def first_round_only(sweep: Sweep) -> RoundPoints:
    """The point source of an adaptive sweep before it ran: round 0, planned from nothing.

    Later rounds depend on results, so asking for them is a ``TaskError``; the worker and the
    runner read every round from the store instead (``sweep_controller.execution.rounds``).
    """
    planned: list[Sequence[Mapping[str, SweptValue]]] = []

    def points(round_index: int) -> Sequence[Mapping[str, SweptValue]]:
        if round_index != 0:
            raise TaskError(
                f"round {round_index} of sweep {sweep.name} is planned from the results of the "
                "rounds before it; its points exist once `sweepctl run` or the controller has "
                "planned it"
            )
        if not planned:
            from sweep_controller.spec.search import plan_round

            planned.append(plan_round(sweep.spec, 0, ()))
        return planned[0]

    return points


class SweepPlan:
    """The lazily evaluated runs of one sweep: sizes, points, runs and tasks by index.

    ``round_points`` gives an adaptive sweep's planned points by round (default: round 0 only,
    see :func:`first_round_only`); other methods compute their points and ignore it.
    ``legacy_seeds`` seeds runs by their index (``run_seed(seed, run_index)``), as results
    written before content seeds require; adaptive sweeps always are.
    """

    def __init__(
        self,
        sweep: Sweep,
        *,
        round_points: RoundPoints | None = None,
        legacy_seeds: bool = False,
    ) -> None:
        spec = sweep.spec
        self.sweep = sweep
        self.legacy_seeds = legacy_seeds or not content_seeded(sweep)
        self.method = spec.method
        self.design = spec.design
        self.seed = spec.seed
        self.replicates = spec.replicates
        self.runs_per_task = spec.runs_per_task
        self.n_points = spec.n_points
        self.n_runs = spec.n_runs
        self.n_tasks = spec.n_tasks
        self.axes = spec.axes()
        self.swept_names: tuple[str, ...] = tuple(spec.parameters)
        self._params = spec.parameters
        self._lengths = [self._params[axis[0]].grid_length() or 0 for axis in self.axes]
        # Field values as held (nested models stay instances, so they are not re-validated). Only
        # the fields the spec sets: the others take their defaults per point, since some defaults
        # depend on other fields (``rules``), which a sweep may vary.
        self._fixed = {
            name: getattr(spec.simulator, name) for name in spec.simulator.model_fields_set
        }
        self._axis_values = [
            self._grid_axis(axis, length) if self.method is Method.GRID else None
            for axis, length in zip(self.axes, self._lengths, strict=True)
        ]
        self._order = (
            ShuffledOrder(self.n_runs, self.seed) if spec.order is Order.SHUFFLED else None
        )
        self._cached: tuple[int, SimParams, dict[str, SweptValue], str] | None = None
        self.points_per_round = spec.points_per_round or self.n_points
        self.tasks_per_round = spec.tasks_per_round
        self.n_rounds = spec.rounds or 1
        self._round_points = round_points or first_round_only(sweep)

    # -- points ---------------------------------------------------------------------------------

    def _grid_axis(self, axis: tuple[str, ...], length: int) -> list[tuple[SweptValue, ...]] | None:
        """All values of a short grid axis, computed once (long axes are computed per point)."""
        if length > _AXIS_CACHE:
            return None
        return [
            tuple(grid_value(self._params[name], k, PARAM_KINDS[name]) for name in axis)
            for k in range(length)
        ]

    def _unit(self, point_index: int) -> np.ndarray:
        """Coordinates in [0, 1)^d of a sampled point (one per axis)."""
        d = len(self.axes)
        if self.method is Method.RANDOM:
            seq = np.random.SeedSequence([self.seed, SAMPLE_STREAM], spawn_key=(point_index,))
            return np.random.default_rng(seq).random(d)
        return _qmc_matrix(self.method, d, self.n_points, self.seed, self.design)[point_index]

    def unit_point(self, point_index: int) -> np.ndarray:
        """The design coordinates in [0, 1)^d of a sampled point, one per axis (a copy)."""
        if self.method is Method.GRID:
            raise TaskError("a grid has no unit design coordinates")
        if not 0 <= point_index < self.n_points:
            raise TaskError(f"point index {point_index} is outside [0, {self.n_points - 1}]")
        return np.array(self._unit(point_index), dtype=np.float64)

    def point_values(self, point_index: int) -> dict[str, SweptValue]:
        """The swept values of point ``point_index`` as the spec produces them (before coercion)."""
        if not 0 <= point_index < self.n_points:
            raise TaskError(f"point index {point_index} is outside [0, {self.n_points - 1}]")
        values: dict[str, SweptValue] = {}
        if self.method is Method.OPTUNA:
            return self._planned(point_index)
        if self.method is Method.GRID:
            rest = point_index
            for a in range(len(self.axes) - 1, -1, -1):
                rest, k = divmod(rest, self._lengths[a])
                known = self._axis_values[a]
                for j, name in enumerate(self.axes[a]):
                    if known is not None:
                        values[name] = known[k][j]
                    else:
                        values[name] = grid_value(self._params[name], k, PARAM_KINDS[name])
        else:
            unit = self._unit(point_index)
            for axis, u in zip(self.axes, unit, strict=True):
                for name in axis:
                    values[name] = sample_value(self._params[name], float(u), PARAM_KINDS[name])
        return {name: values[name] for name in self.swept_names}

    def _planned(self, point_index: int) -> dict[str, SweptValue]:
        """An adaptive sweep's point, from its round's planned list."""
        round_index, offset = divmod(point_index, self.points_per_round)
        points = self._round_points(round_index)
        if len(points) != self.points_per_round:
            raise TaskError(
                f"round {round_index} of sweep {self.sweep.name} holds {len(points)} points, "
                f"not pointsPerRound {self.points_per_round}"
            )
        point = points[offset]
        if set(point) != set(self.swept_names):
            raise TaskError(
                f"round {round_index} point {offset} names {sorted(point)}, not the swept "
                f"parameters {sorted(self.swept_names)}"
            )
        return {name: point[name] for name in self.swept_names}

    def point(self, point_index: int) -> tuple[SimParams, dict[str, SweptValue]]:
        """The resolved parameters of a point and its swept values (as the parameters hold them)."""
        cached = self._point(point_index)
        return cached[1], cached[2]

    def point_content(self, point_index: int) -> str:
        """The point's canonical JSON (:func:`point_content`)."""
        return self._point(point_index)[3]

    def _point(self, point_index: int) -> tuple[int, SimParams, dict[str, SweptValue], str]:
        if self._cached is not None and self._cached[0] == point_index:
            return self._cached
        params = SimParams.model_validate({**self._fixed, **self.point_values(point_index)})
        swept: dict[str, SweptValue] = {}
        for name in self.swept_names:
            value = getattr(params, name)
            swept[name] = value.value if isinstance(value, Enum) else value
        self._cached = (point_index, params, swept, point_content(params))
        return self._cached

    # -- runs -----------------------------------------------------------------------------------

    def run(self, run_index: int) -> RunSpec:
        """Run ``run_index``: replicate ``run_index % replicates`` of point ``// replicates``."""
        if not 0 <= run_index < self.n_runs:
            raise TaskError(f"run index {run_index} is outside [0, {self.n_runs - 1}]")
        point_index, replicate = divmod(run_index, self.replicates)
        _, params, swept, content = self._point(point_index)
        if self.legacy_seeds:
            seed = run_seed(self.seed, run_index)
        else:
            seed = content_seed(self.seed, content, replicate)
        return RunSpec(
            run_index=run_index,
            point_index=point_index,
            replicate=replicate,
            seed=seed,
            params=params,
            swept=dict(swept),
        )

    def run_indexes(self, start: int, stop: int) -> list[int]:
        """Run indexes at positions ``[start, stop)`` of the run order."""
        if self._order is None:
            return list(range(start, stop))
        if start >= stop:
            return []
        return [int(i) for i in self._order(np.arange(start, stop, dtype=np.uint64))]

    def iter_runs(self, start: int = 0, stop: int | None = None) -> Iterator[RunSpec]:
        """Runs at positions ``[start, stop)`` (default: all), lazily, in task order."""
        stop = self.n_runs if stop is None else min(stop, self.n_runs)
        if self._order is None:
            yield from map(self.run, range(start, stop))
            return
        for chunk in range(start, stop, _CHUNK):
            for run_index in self.run_indexes(chunk, min(chunk + _CHUNK, stop)):
                yield self.run(run_index)

    # -- tasks ----------------------------------------------------------------------------------

    def task_positions(self, task_index: int) -> range:
        """Positions in the run order that task ``task_index`` performs."""
        if not 0 <= task_index < self.n_tasks:
            raise TaskError(
                f"task index {task_index} is outside [0, {self.n_tasks - 1}] "
                f"(sweep {self.sweep.name} has {self.n_tasks} tasks)"
            )
        round_index, offset = divmod(task_index, self.tasks_per_round)
        round_runs = self.points_per_round * self.replicates
        start = round_index * round_runs + offset * self.runs_per_task
        stop = min(start + self.runs_per_task, (round_index + 1) * round_runs, self.n_runs)
        return range(start, stop)

    def task_of_position(self, position: int) -> int:
        """The task that performs position ``position`` of the run order."""
        round_index, offset = divmod(position, self.points_per_round * self.replicates)
        return round_index * self.tasks_per_round + offset // self.runs_per_task

    def round_of_task(self, task_index: int) -> int:
        """The round task ``task_index`` belongs to (0 for methods that have one round)."""
        return task_index // self.tasks_per_round

    def round_tasks(self, round_index: int) -> range:
        """The task indexes of round ``round_index``."""
        start = round_index * self.tasks_per_round
        return range(start, start + self.tasks_per_round)

    def task_run_indexes(self, task_index: int) -> list[int]:
        """Run indexes of task ``task_index``, in the order it performs them."""
        positions = self.task_positions(task_index)
        return self.run_indexes(positions.start, positions.stop)

    def task_runs(self, task_index: int) -> list[RunSpec]:
        """The runs of task ``task_index`` (one Job index), in the order it performs them."""
        return [self.run(i) for i in self.task_run_indexes(task_index)]


def swept_parameter_names(sweep: Sweep) -> tuple[str, ...]:
    """Names of the swept parameters, in spec order."""
    return tuple(sweep.spec.parameters)


def task_runs(sweep: Sweep, index: int) -> list[RunSpec]:
    """The runs task ``index`` performs (``TaskError`` if there is no such task)."""
    return SweepPlan(sweep).task_runs(index)


def iter_runs(sweep: Sweep) -> Iterator[RunSpec]:
    """Every run of the sweep, lazily, in task order (task 0's runs first)."""
    return SweepPlan(sweep).iter_runs()

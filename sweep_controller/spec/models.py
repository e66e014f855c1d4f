"""The Sweep spec: one pydantic model for the YAML file, the custom resource and the local CLI.

A sweep names fixed simulator parameters (``spec.simulator``), swept parameters
(``spec.parameters``, optionally ``spec.zip``-ped together), a method (grid or a sampler), the
number of replicates, a seed and how many runs one task performs. This module only defines and
validates; ``sweep_controller.spec.loading`` reads documents and words errors as
``FILE: spec.path.to.field: reason``, ``sweep_controller.spec.expand`` turns a valid sweep into
runs. Parameter names, types and ranges are taken from ``simulator.params.SimParams``, never
restated. Field by field reference: docs/sweeps.md. The models stay JSON-schema friendly: the CRD
schema is generated from them.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from simulator.messages import shown
from simulator.params import RuleSet, SimParams, Traces
from simulator.seeding import BaseSeed
from sweep_controller.errors import SpecDeprecationWarning
from sweep_controller.spec.columns import OBJECTIVE_OUTCOMES, SCENARIOS, outcome_range
from sweep_controller.spec.corners import check_points
from sweep_controller.spec.parameters import (
    ParameterSpec,
    Problems,
    StrictModel,
    check_integer_steps,
    check_parameter,
    parameter_name_problem,
    spec_error,
)

API_VERSION = "govsim.io/v1alpha1"
KIND = "Sweep"
# Job and pod names derive from the sweep name; 52 leaves room for "-" plus a 10-character suffix
# within the 63 characters of a Kubernetes label value.
MAX_NAME_LENGTH = 52
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
OUTPUT_URI_PATTERN = r"^(file://.+|s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?)$"
MAX_RUNS = 10**12
MAX_DESIGN_SAMPLES = 2**20
"""Most samples of a latin_hypercube or sobol design, which each process generates whole (a
2^20 x 11 design is about 92 MB and 2 s); the random method draws each point alone and has no
limit of its own."""
INT32_MAX = 2**31 - 1
"""Largest value of a Kubernetes int32 field; every integer of the spec has a maximum in the CRD."""
MAX_INDEXED_PARALLELISM = 100_000
"""The API server refuses an Indexed Job with ``backoffLimitPerIndex`` and a larger parallelism or
``maxFailedIndexes`` (the controller further caps parallelism at ``MAX_PARALLELISM``)."""
RENAMED_SPEC_KEYS: Mapping[str, str] = {"pointsPerTask": "runsPerTask"}
"""Deprecated spec keys that still work, with a warning, and their current names."""
MAX_ROUNDS = 100
"""Most rounds of an adaptive (optuna) sweep: round k's Job is ``<name>-r<k>``, and the name
with its suffix must leave room for a pod's index within 63 characters."""
MAX_SEARCH_POINTS = 10_000
"""Most points of an adaptive sweep over all its rounds: planning a round replays every earlier
point into the sampler, and TPE's cost grows with the points it has seen."""
SEARCH_FIELDS: tuple[str, ...] = ("objective", "rounds", "pointsPerRound")
"""The spec keys that only method optuna uses."""


class Method(StrEnum):
    """How points are chosen: a full grid or a sampler over the unit hypercube."""

    GRID = "grid"
    RANDOM = "random"
    LATIN_HYPERCUBE = "latin_hypercube"
    SOBOL = "sobol"
    OPTUNA = "optuna"


SAMPLED_METHODS: frozenset[Method] = frozenset(
    {Method.RANDOM, Method.LATIN_HYPERCUBE, Method.SOBOL}
)


class Design(StrEnum):
    """The points of a sobol sweep: the scrambled sequence, or Saltelli's cross-sampled design.

    ``saltelli`` turns ``samples`` base points into ``samples x (dimensions + 2)`` points (the
    matrices A, B and A with column i from B, interleaved point by point, as SALib lays them
    out), from which ``sweepctl analyze`` estimates first-order and total Sobol indices.
    """

    PLAIN = "plain"
    SALTELLI = "saltelli"


class Direction(StrEnum):
    """Which way an adaptive search moves its objective's outcome."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Objective(StrictModel):
    """What an adaptive search looks for: the extreme of an outcome, or where it meets a target.

    A point's value is the mean of ``outcome`` over its replicates (the pass rate for
    ``passed``). With ``direction`` the search minimises or maximises that value; with
    ``target`` it minimises the distance ``|value - target|`` and reports where the outcome
    crosses the target (docs/sweeps.md, "Adaptive search").
    """

    outcome: str = Field(
        description="An outcome column of the results table (numeric or boolean); a point's "
        "value is its mean over the point's replicates."
    )
    direction: Direction | None = Field(
        None, description="minimize or maximize the value (give this or target)."
    )
    target: float | None = Field(
        None,
        description="Find where the value meets this target: minimise |value - target| and "
        "report the crossing (give this or direction).",
    )

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.outcome not in OBJECTIVE_OUTCOMES:
            raise spec_error(
                "outcome",
                f"{self.outcome!r} is not a numeric outcome; valid outcomes: "
                f"{', '.join(OBJECTIVE_OUTCOMES)}",
            )
        if (self.direction is None) == (self.target is None):
            both = self.direction is not None
            raise spec_error(
                "target" if both else "direction",
                "give either direction or target, not both"
                if both
                else "give direction (minimize or maximize) or target",
            )
        if self.target is not None:
            if not math.isfinite(self.target):
                raise spec_error("target", f"{self.target} is not a finite number")
            bounds = outcome_range(self.outcome)
            if bounds is not None and not bounds[0] <= self.target <= bounds[1]:
                raise spec_error(
                    "target",
                    f"{self.target:g} is outside [{bounds[0]:g}, {bounds[1]:g}], the range of "
                    f"the mean of {self.outcome}",
                )
        return self


class Order(StrEnum):
    """Order in which runs are dealt to tasks."""

    SEQUENTIAL = "sequential"
    SHUFFLED = "shuffled"


class Output(StrictModel):
    """Where results go: ``file://PATH`` (relative to the working directory) or ``s3://BUCKET/PREFIX``."""

    uri: str = Field(
        "file://results",
        pattern=OUTPUT_URI_PATTERN,
        description="file://PATH or s3://BUCKET[/PREFIX]; results go under <uri>/<sweep name>/.",
    )

    @field_validator("uri")
    @classmethod
    def _contained(cls, uri: str) -> str:
        """No control characters (a NUL byte ends a path early) and no ``..`` segment."""
        if any(ord(c) < 32 or ord(c) == 127 for c in uri):
            raise ValueError(f"{shown(uri)} contains a control character")
        if ".." in uri.partition("://")[2].split("/"):
            raise ValueError(
                f"{shown(uri)} has a '..' segment; name the results folder without one"
            )
        return uri


class SweepSpec(StrictModel):
    """What a sweep runs: fixed and swept parameters, method, replicates, seed, task size."""

    simulator: SimParams = Field(
        default_factory=SimParams,
        description="Fixed simulator parameters; unset ones take the simulator's defaults.",
    )
    parameters: dict[str, ParameterSpec] = Field(
        default_factory=dict, description="Swept parameters by simulator name (snake_case)."
    )
    zip: list[list[str]] = Field(
        default_factory=list,
        description="Groups of swept parameters varied together (paired), not crossed.",
    )
    method: Method = Field(
        Method.GRID, description="grid, random, latin_hypercube, sobol or optuna."
    )
    samples: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Number of points (sampled methods)."
    )
    design: Design = Field(
        Design.PLAIN,
        description="sobol only: plain (the scrambled sequence) or saltelli (samples x "
        "(dimensions + 2) points, for Sobol indices).",
    )
    replicates: int = Field(
        1, ge=1, le=INT32_MAX, description="Runs per point, each with its own seed."
    )
    seed: BaseSeed = Field(0, description="Sweep seed; run seeds derive from it.")
    runs_per_task: int = Field(
        1,
        ge=1,
        le=INT32_MAX,
        alias="runsPerTask",
        description="Runs (point x replicate) one task, i.e. one Job index, performs.",
    )
    order: Order = Field(Order.SEQUENTIAL, description="sequential or shuffled run order.")
    traces: Traces = Field(
        Traces.NONE,
        description="Flip traces: none, or parquet (one side file per run, beside its task's "
        "JSONL).",
    )
    output: Output = Field(default_factory=Output)
    parallelism: int | None = Field(
        None,
        ge=1,
        le=MAX_INDEXED_PARALLELISM,
        description="Tasks running at once (Kubernetes).",
    )
    backoff_limit_per_index: int = Field(
        2,
        ge=0,
        le=INT32_MAX,
        alias="backoffLimitPerIndex",
        description="Retries of one task (Kubernetes).",
    )
    max_failed_indexes: int | None = Field(
        None,
        ge=0,
        le=MAX_INDEXED_PARALLELISM,
        alias="maxFailedIndexes",
        description="Failed tasks tolerated before the sweep fails; unset: run all, fail if any.",
    )
    queue_name: str | None = Field(
        None,
        alias="queueName",
        pattern=NAME_PATTERN,
        max_length=63,
        description="Kueue LocalQueue to submit the Job to.",
    )
    objective: Objective | None = Field(
        None, description="method optuna: the outcome to optimise, or the target to find."
    )
    rounds: int | None = Field(
        None,
        ge=1,
        le=MAX_ROUNDS,
        description="method optuna: rounds of points; each is planned from the results of the "
        "rounds before it.",
    )
    points_per_round: int | None = Field(
        None,
        ge=1,
        le=MAX_SEARCH_POINTS,
        alias="pointsPerRound",
        description="method optuna: points proposed and run together in one round.",
    )

    # -- sizes --------------------------------------------------------------------------------

    def axes(self) -> tuple[tuple[str, ...], ...]:
        """Swept parameters grouped into axes: a zip group is one axis at its first member."""
        group_of = {name: tuple(group) for group in self.zip for name in group}
        axes: list[tuple[str, ...]] = []
        for name in self.parameters:
            axis = group_of.get(name, (name,))
            if axis not in axes:
                axes.append(axis)
        return tuple(axes)

    @property
    def n_points(self) -> int:
        """Number of parameter points: the grid's product of axis lengths, ``samples`` (times
        dimensions + 2 for a Saltelli design), or rounds times points per round."""
        if self.design is Design.SALTELLI:
            return (self.samples or 0) * (len(self.axes()) + 2)
        if self.method is Method.OPTUNA:
            return (self.rounds or 0) * (self.points_per_round or 0)
        if self.method in SAMPLED_METHODS:
            return self.samples or 0
        return math.prod(self.parameters[axis[0]].grid_length() or 0 for axis in self.axes())

    @property
    def n_runs(self) -> int:
        """Number of runs: points times replicates."""
        return self.n_points * self.replicates

    @property
    def n_tasks(self) -> int:
        """Number of tasks: runs divided by runs per task, rounded up (per round, for optuna)."""
        if self.method is Method.OPTUNA:
            return (self.rounds or 0) * self.tasks_per_round
        return -(-self.n_runs // self.runs_per_task)

    @property
    def tasks_per_round(self) -> int:
        """Tasks of one round of an adaptive sweep (a round's runs never share a task with
        another round's); for other methods, every task is in the one round there is."""
        if self.method is not Method.OPTUNA:
            return self.n_tasks
        runs = (self.points_per_round or 0) * self.replicates
        return -(-runs // self.runs_per_task)

    # -- semantic checks ----------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any, info: ValidationInfo) -> Any:
        """Accept a deprecated key (``RENAMED_SPEC_KEYS``), with a warning; both names: an error."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for old, new in RENAMED_SPEC_KEYS.items():
            if old not in data:
                continue
            field = next(n for n, f in cls.model_fields.items() if f.alias == new)
            if new in data or field in data:
                raise spec_error(old, f"deprecated name of spec.{new}; set only spec.{new}")
            data[new] = data.pop(old)
            source = (info.context or {}).get("source", "<sweep>")
            message = f"{source}: spec.{old} is deprecated; use spec.{new}"
            warnings.warn(message, SpecDeprecationWarning, stacklevel=2)
        return data

    @field_validator("parameters")
    @classmethod
    def _sweepable(cls, parameters: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        """Every swept name is a sweepable simulator parameter, its values in the field's range.

        Checked with the fields, so these errors come together with every other field's.
        """
        problems = Problems()
        for name, param in parameters.items():
            problem = parameter_name_problem(name)
            if problem is not None:
                problems.add(name, problem)
                continue
            with problems.check():
                check_parameter(name, param)
        problems.raise_any()
        return parameters

    @model_validator(mode="after")
    def _semantics(self) -> Self:
        problems = Problems()
        with problems.check():
            self._check_names()
        with problems.check():
            self._check_zip()
        with problems.check():
            self._check_method()
        if self.method is Method.GRID:
            for name, param in self.parameters.items():
                with problems.check():
                    check_integer_steps(name, param)
        problems.raise_any()
        if self.n_runs > MAX_RUNS:
            raise spec_error("replicates", f"the sweep has {self.n_runs} runs; at most {MAX_RUNS}")
        self._check_merged()
        return self

    def _check_names(self) -> None:
        for name in self.parameters:
            if name in self.simulator.model_fields_set:
                raise spec_error(
                    f"simulator.{name}",
                    f"also swept in spec.parameters.{name}; set it in one place",
                )

    def _check_zip(self) -> None:
        seen: dict[str, int] = {}
        for g, group in enumerate(self.zip):
            if len(group) < 2:
                raise spec_error(f"zip.{g}", "a zip group needs at least two parameters")
            for i, name in enumerate(group):
                if name not in self.parameters:
                    raise spec_error(f"zip.{g}.{i}", f"{name!r} is not in spec.parameters")
                if name in seen:
                    raise spec_error(f"zip.{g}.{i}", f"{name} is already in zip group {seen[name]}")
                seen[name] = g
            if self.method is Method.GRID:
                lengths = {n: self.parameters[n].grid_length() for n in group}
            else:
                lengths = {n: len(v) for n in group if (v := self.parameters[n].values)}
            if len(set(lengths.values()) - {None}) > 1:
                sizes = ", ".join(f"{n} has {k}" for n, k in lengths.items() if k is not None)
                raise spec_error(f"zip.{g}", f"zipped parameters need equal lengths: {sizes}")

    def _check_method(self) -> None:
        if self.design is Design.SALTELLI and self.method is not Method.SOBOL:
            raise spec_error("design", f"saltelli is only used by method sobol, not {self.method}")
        if self.method is Method.OPTUNA:
            self._check_search()
            return
        for key in SEARCH_FIELDS:
            if getattr(self, _FIELD_OF[key]) is not None:
                raise spec_error(key, f"only used by method optuna, not {self.method}")
        if self.method is Method.GRID:
            if self.samples is not None:
                raise spec_error(
                    "samples", "only used by sampled methods (random, latin_hypercube, sobol)"
                )
            for name, param in self.parameters.items():
                if param.grid_length() is None:
                    raise spec_error(
                        f"parameters.{name}.steps", "required by method grid (or give values)"
                    )
            return
        if self.samples is None:
            raise spec_error("samples", f"required by method {self.method}")
        if not self.parameters:
            raise spec_error("parameters", f"method {self.method} needs at least one parameter")
        if self.method in (Method.LATIN_HYPERCUBE, Method.SOBOL) and (
            self.samples > MAX_DESIGN_SAMPLES
        ):
            raise spec_error(
                "samples",
                f"{self.samples} is over the {self.method} limit of {MAX_DESIGN_SAMPLES} "
                "(2^20; the design is generated whole); use method random for more",
            )
        if self.design is Design.SALTELLI and self.n_points > MAX_DESIGN_SAMPLES:
            dims = len(self.axes())
            raise spec_error(
                "samples",
                f"{self.samples} x ({dims} dimensions + 2) = {self.n_points} saltelli points is "
                f"over the limit of {MAX_DESIGN_SAMPLES} (2^20; the design is generated whole)",
            )
        if self.method is Method.SOBOL and self.samples & (self.samples - 1):
            low = 1 << (self.samples.bit_length() - 1)
            raise spec_error(
                "samples",
                f"{self.samples} is not a power of 2 (sobol needs one: {low} or {low * 2})",
            )
        for name, param in self.parameters.items():
            if param.steps is not None:
                raise spec_error(
                    f"parameters.{name}.steps", f"only used by method grid, not {self.method}"
                )

    def _check_search(self) -> None:
        """The fields of an adaptive (optuna) sweep: what it needs and what it does not use."""
        if self.samples is not None:
            raise spec_error(
                "samples", "method optuna takes rounds and pointsPerRound, not samples"
            )
        for key in SEARCH_FIELDS:
            if getattr(self, _FIELD_OF[key]) is None:
                raise spec_error(key, "required by method optuna")
        if not self.parameters:
            raise spec_error("parameters", "method optuna needs at least one parameter")
        for name, param in self.parameters.items():
            if param.steps is not None:
                raise spec_error(f"parameters.{name}.steps", "only used by method grid, not optuna")
        if self.zip:
            raise spec_error("zip", "not used by method optuna: each parameter is searched alone")
        assert self.objective is not None
        for scenario in SCENARIOS:
            if self.objective.outcome in scenario.columns and not scenario.used_by(self):
                raise spec_error(
                    "objective.outcome",
                    f"{self.objective.outcome} is a column of the {scenario.name} scenario, "
                    f"which this sweep does not switch on (set one of its parameters: "
                    f"{', '.join(scenario.fields) or 'traces'})",
                )
        if self.order is not Order.SEQUENTIAL:
            raise spec_error(
                "order",
                f"{self.order} is not used by method optuna: a round runs whole before the next "
                "is planned; use sequential",
            )
        if self.n_points > MAX_SEARCH_POINTS:
            raise spec_error(
                "rounds",
                f"{self.rounds} rounds of {self.points_per_round} points make {self.n_points} "
                f"points; method optuna takes at most {MAX_SEARCH_POINTS} (each round replays "
                "every earlier point into the sampler)",
            )

    def _check_merged(self) -> None:
        """Every point must make valid SimParams: checked at its corners (``spec.corners``)."""
        # only what the spec sets: rule-dependent defaults resolve per point (see SweepPlan)
        fixed = self.simulator.model_dump(include=set(self.simulator.model_fields_set))
        check_points(self.parameters, self.axes(), fixed, grid=self.method is Method.GRID)


_FIELD_OF: Mapping[str, str] = {
    (info.alias or name): name for name, info in SweepSpec.model_fields.items()
}
"""Spec key (the Kubernetes spelling) -> Python field name."""


class Metadata(StrictModel):
    """Kubernetes-style metadata; ``name`` names the sweep, its Job and its output folder."""

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
        description="DNS-1123 label of at most 52 characters.",
    )
    namespace: str | None = Field(None, max_length=63, pattern=NAME_PATTERN)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Sweep(StrictModel):
    """A Sweep custom resource (``apiVersion: govsim.io/v1alpha1``, ``kind: Sweep``)."""

    api_version: Literal["govsim.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Sweep"]
    metadata: Metadata
    spec: SweepSpec

    @property
    def name(self) -> str:
        """The sweep's name (``metadata.name``)."""
        return self.metadata.name


def full_form(document: Mapping[str, Any], sweep: Sweep) -> dict[str, Any]:
    """``document`` (the validated ``sweep``'s) with each swept parameter spelled in full.

    A plain list (``whale_ratio: [0.1, 0.2]``) is shorthand that only the spec models read; the
    CRD's schema takes the full form (``whale_ratio: {values: [0.1, 0.2]}``), so whatever sends
    a spec to the API server sends this. Nothing else of the document changes.
    """
    spec = document.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("parameters"), Mapping):
        return dict(document)
    parameters = {
        name: param.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for name, param in sweep.spec.parameters.items()
    }
    return {**document, "spec": {**spec, "parameters": parameters}}


RESULT_FIELDS: frozenset[str] = frozenset(
    {
        "simulator",
        "parameters",
        "zip",
        "method",
        "samples",
        "design",
        "replicates",
        "seed",
        "runs_per_task",
        "order",
        "traces",
        "objective",
        "rounds",
        "points_per_round",
    }
)
"""The spec fields that decide which runs each task performs and what it writes."""


SEEDING = "content"
"""The seeding tag in the spec hash: run seeds keyed by the run's content (docs/sweeps.md)."""


def hashed_fields(sweep: Sweep) -> dict[str, Any]:
    """The result-determining fields (``RESULT_FIELDS``) as the spec hash sees them.

    ``simulator.rules`` is hashed only when it is not v0.4: sweeps hashed before the rule set was
    a parameter ran v0.4 and had no such key, so their hashes stay stable; a sweep that runs v0.5
    (the default now) hashes differently from the same spec run under v0.4. ``traces`` is hashed
    only when it is not ``none``, so the hashes of sweeps that write no traces stay what they were
    before the field existed; ``design`` likewise only when it is not ``plain``.
    """
    data = sweep.spec.model_dump(mode="json", by_alias=True, include=set(RESULT_FIELDS))
    if data["simulator"].get("rules") == RuleSet.V0_4.value:
        del data["simulator"]["rules"]
    if data["traces"] == Traces.NONE.value:
        del data["traces"]
    if data["design"] == Design.PLAIN.value:
        del data["design"]
    for key in SEARCH_FIELDS:  # method optuna only: other sweeps keep their hashes
        if data[key] is None:
            del data[key]
    for old, new in RENAMED_SPEC_KEYS.items():  # hashed under the old name: hashes stay stable
        data[old] = data.pop(new)
    return data


def canonical_digest(data: Mapping[str, Any]) -> str:
    """Hex sha256 of ``data``'s canonical JSON (sorted keys, no spaces, ASCII)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def legacy_spec_hash(sweep: Sweep) -> str:
    """The spec hash of releases whose run seeds came from run indexes (``hashed_fields``)."""
    return canonical_digest(hashed_fields(sweep))


def content_seeded(sweep: Sweep) -> bool:
    """Whether the sweep's run seeds are keyed by content: every method but optuna, whose
    rounds are planned from results and which never grows."""
    return sweep.spec.method is not Method.OPTUNA


def spec_hash(sweep: Sweep) -> str:
    """Hex sha256 of the canonical JSON of the result-determining fields (``hashed_fields``),
    with ``seeding: content`` for content-seeded sweeps (``legacy_spec_hash`` without it)."""
    if not content_seeded(sweep):
        return legacy_spec_hash(sweep)
    return canonical_digest({**hashed_fields(sweep), "seeding": SEEDING})

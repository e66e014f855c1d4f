"""Swept parameters: which simulator fields a sweep may vary, their bounds, and value mapping.

Names, value types and allowed intervals come from ``simulator.params.SimParams`` field metadata,
never restated here, so a new simulator parameter is sweepable as soon as it exists. A
``ParameterSpec`` is either explicit ``values`` or a ``min``..``max`` range; ``grid_value`` and
``sample_value`` are the one definition of how a range becomes concrete values.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from simulator.messages import AliasOnlyModel, Interval, did_you_mean, field_interval
from simulator.params import SimParams

# Integer grids up to this many steps are checked exactly for duplicates after rounding.
_EXACT_ROUNDING_CHECK = 100_000


class Scale(StrEnum):
    """Spacing of a range: even steps, or even steps of the logarithm."""

    LINEAR = "linear"
    LOG = "log"


class ParamKind(StrEnum):
    """Value type of a sweepable simulator parameter."""

    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"


@dataclass(frozen=True)
class Bounds(Interval):
    """The allowed interval of a numeric simulator parameter, read from its field constraints."""

    def __contains__(self, value: float) -> bool:
        """Whether ``value`` lies in the interval."""
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (
            self.high is not None and (value > self.high or (self.high_open and value == self.high))
        )

    def __str__(self) -> str:
        low = "(-inf" if self.low is None else ("(" if self.low_open else "[") + fmt_value(self.low)
        high = (
            "inf)" if self.high is None else fmt_value(self.high) + (")" if self.high_open else "]")
        )
        return f"{low}, {high}"


def fmt_value(value: object) -> str:
    """A number as a user wrote it: integral floats of bounds without a trailing '.0'."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def unwrap_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _kind_of(annotation: Any) -> ParamKind | None:
    base = unwrap_optional(annotation)
    if base is int:
        return ParamKind.INT
    if base is float:
        return ParamKind.FLOAT
    if isinstance(base, type) and issubclass(base, Enum):
        return ParamKind.CHOICE
    return None


def _bounds_of(name: str) -> Bounds:
    interval = field_interval(SimParams.model_fields[name])
    low, high = (None if b is None else float(b) for b in (interval.low, interval.high))
    return Bounds(low, high, interval.low_open, interval.high_open)


SweptValue = int | float | str
"""The value of a swept parameter at one point."""

PARAM_KINDS: dict[str, ParamKind] = {
    name: kind
    for name, info in SimParams.model_fields.items()
    if (kind := _kind_of(info.annotation)) is not None
}
"""Simulator parameters a sweep may vary, with their value type (derived from SimParams)."""

SWEEPABLE: tuple[str, ...] = tuple(sorted(PARAM_KINDS))


def param_bounds(name: str) -> Bounds:
    """The allowed interval of numeric simulator parameter ``name``."""
    return _bounds_of(name)


def param_choices(name: str) -> tuple[str, ...]:
    """The allowed values of a categorical simulator parameter."""
    enum = unwrap_optional(SimParams.model_fields[name].annotation)
    return tuple(member.value for member in enum)


def spec_error(path: str, reason: str) -> PydanticCustomError:
    """A spec error at ``path`` below the model being validated (joined to its location)."""
    return PydanticCustomError("sweep_spec", "{path}: {reason}", {"path": path, "reason": reason})


class Problems:
    """The spec errors of several independent checks, gathered to be reported together.

    Each ``with problems.check():`` block runs one check; a ``spec_error`` it raises is kept and
    the next block runs. ``raise_any`` then raises one error holding every problem
    (``ctx.problems``: ``(path, reason)`` pairs), which ``ErrorText`` words as one line each.
    """

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        """Run one check; keep its spec error, if any, and carry on."""
        try:
            yield
        except PydanticCustomError as exc:
            if exc.type != "sweep_spec":
                raise
            ctx = exc.context or {}
            self.found += ctx.get("problems") or [(ctx["path"], ctx["reason"])]

    def add(self, path: str, reason: str) -> None:
        """Keep one problem."""
        self.found.append((path, reason))

    def raise_any(self) -> None:
        """Raise every problem kept, as one error (nothing when there is none)."""
        if len(self.found) == 1:
            raise spec_error(*self.found[0])
        if self.found:
            raise PydanticCustomError(
                "sweep_spec",
                "{count} problems",
                {"count": len(self.found), "problems": list(self.found)},
            )


NOT_SWEPT: Mapping[str, str] = {
    "archetype_mix": "a mapping of archetype weights, not one value",
    "agent_records": "sweeps write no per-agent records (it is a flag of govsim)",
    "seed": "run seeds derive from spec.seed and each run's index; set spec.seed",
    "traces": "a setting of the whole sweep; set spec.traces",
    "replicates": "a setting of the whole sweep; set spec.replicates",
    "runs": "a flag of govsim; a sweep has spec.replicates",
    "output": "a setting of the whole sweep; set spec.output.uri",
}
"""Names a user may try to sweep that cannot vary from run to run, with the reason."""


def parameter_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a swept parameter, with the nearest sweepable name (None: it can)."""
    if name in PARAM_KINDS:
        return None
    if name in SimParams.model_fields:
        why = NOT_SWEPT.get(name, "not a number or a choice")
        return f"cannot be swept ({why}); set it under spec.simulator"
    if name in NOT_SWEPT:
        return f"cannot be swept: {NOT_SWEPT[name]}"
    guess = did_you_mean(name, SWEEPABLE)
    if guess is not None:
        return f"unknown parameter; did you mean {guess}?"
    return f"unknown parameter; valid names: {', '.join(SWEEPABLE)}"


def yaml_value(value: object) -> str:
    """A value as a spec spells it: ``true``, ``null``, ``'text'``, ``0.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = fmt_value(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric(annotation: Any) -> str | None:
    """``'an integer'`` or ``'a number'`` for an int or float field (or list item), else None."""
    base = unwrap_optional(annotation)
    if base is int:
        return "an integer"
    if base is float:
        return "a number"
    return None


@dataclass(frozen=True)
class NotANumber:
    """A boolean or string found where a number belongs; pydantic refuses it as not a number."""

    value: object
    wanted: str
    """``'an integer'`` or ``'a number'``."""

    def __str__(self) -> str:
        return yaml_value(self.value)

    @property
    def reason(self) -> str:
        """``true is not an integer``."""
        return f"{yaml_value(self.value)} is not {self.wanted}"


def refuse_non_numbers(model: type[BaseModel], data: object, path: str = "") -> object:
    """``data`` with each boolean or string where ``model`` takes a number made a ``NotANumber``.

    pydantic's lax mode reads ``true`` as 1 and ``"5"`` as 5; in a spec that is a mistake to
    report, not a value to convert (``replicates: true`` would silently mean one replicate).
    The marker fails the field's own type check, so the mistake is reported at its path together
    with every other error of the document. Nested models that are not spec models
    (``SimParams``, ``ArchetypeMix``) are checked here; spec models check themselves.
    """
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in out:
            continue
        value = out[key]
        annotation = unwrap_optional(info.annotation)
        wanted = _numeric(annotation)
        if wanted is not None:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                out[key] = NotANumber(value, wanted)
        elif typing.get_origin(annotation) is list and isinstance(value, list):
            items = typing.get_args(annotation)[0]
            if any(_numeric(a) for a in (typing.get_args(items) or (items,))):
                for i, item in enumerate(value):  # (a marker would fail every union branch)
                    if isinstance(item, bool):
                        raise spec_error(f"{path}{key}.{i}", f"{yaml_value(item)} is not a number")
        elif (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and not issubclass(annotation, StrictModel)
        ):
            out[key] = refuse_non_numbers(annotation, value, f"{path}{key}.")
    return out


class StrictModel(AliasOnlyModel):
    """Base of every spec model: unknown keys are errors, instances are immutable.

    A field with an alias (``runsPerTask``) is accepted by its alias only: its Python name
    (``runs_per_task``) is an unknown key, in every pydantic version. A number is a number:
    ``true`` or ``"5"`` where a number belongs is an error (``refuse_non_numbers``).
    """

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        return refuse_non_numbers(cls, data)


class ParameterSpec(StrictModel):
    """How one parameter varies: explicit ``values``, or a ``min``..``max`` range."""

    values: list[int | float | str] | None = Field(
        None, min_length=1, description="Explicit values (grid) or choices (sampled methods)."
    )
    min: float | None = Field(None, description="Lower end of the range (inclusive).")
    max: float | None = Field(None, description="Upper end of the range (inclusive).")
    steps: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Grid only: number of evenly spaced values from min to max.",
    )
    scale: Scale = Field(Scale.LINEAR, description="Spacing of the range: linear or log.")

    @model_validator(mode="before")
    @classmethod
    def _list_is_values(cls, data: Any) -> Any:
        """A plain list is shorthand for ``values`` (``whale_ratio: [0.1, 0.2]``)."""
        if isinstance(data, list):
            return {"values": data}
        if isinstance(data, int | float | str):
            raise PydanticCustomError(
                "sweep_spec_scalar",
                "one value does not sweep; give a list of values (or min and max), or set it "
                "under spec.simulator",
            )
        return data

    @model_validator(mode="after")
    def _shape(self) -> Self:
        numbered = [(f"values.{i}", v) for i, v in enumerate(self.values or [])]
        for key, value in [*numbered, ("min", self.min), ("max", self.max)]:
            if isinstance(value, float) and not math.isfinite(value):
                raise spec_error(key, f"{fmt_value(value)} is not a finite number")
        if self.values is not None:
            for key in ("min", "max", "steps"):
                if getattr(self, key) is not None:
                    raise spec_error(key, "give either values or min/max, not both")
            if self.scale is Scale.LOG:
                raise spec_error("scale", "log applies to min/max ranges, not to values")
            return self
        if self.min is None and self.max is None:
            raise spec_error("values", "give values, or min and max")
        for key in ("min", "max"):
            if getattr(self, key) is None:
                raise spec_error(key, "required with a range (give both min and max)")
        assert self.min is not None and self.max is not None
        if self.min > self.max:
            raise spec_error("max", f"{fmt_value(self.max)} is below min {fmt_value(self.min)}")
        if self.scale is Scale.LOG and self.min <= 0:
            raise spec_error("min", f"{fmt_value(self.min)} must be > 0 for scale log")
        if self.steps == 1 and self.min != self.max:
            raise spec_error(
                "steps",
                f"1 step gives min alone and drops max {fmt_value(self.max)}; give steps >= 2, "
                f"or values: [{fmt_value(self.min)}]",
            )
        return self

    @property
    def is_range(self) -> bool:
        """Whether this is a min/max range rather than a list of values."""
        return self.values is None

    def grid_length(self) -> int | None:
        """Number of grid values (values, or steps of a range); None for a range without steps."""
        return len(self.values) if self.values is not None else self.steps


def check_parameter(name: str, param: ParameterSpec) -> None:
    """Types and ranges of one swept parameter against its SimParams field (a known name).

    Errors are at paths below ``spec.parameters`` (``whale_ratio.values.1``).
    """
    kind = PARAM_KINDS[name]
    base = name
    if kind is ParamKind.CHOICE:
        choices = param_choices(name)
        if param.values is None:
            raise spec_error(base, f"takes values only (any of {', '.join(choices)})")
        for i, choice in enumerate(param.values):
            if choice not in choices:
                guess = did_you_mean(str(choice), choices)
                hint = f"; did you mean {guess}?" if guess is not None else ""
                raise spec_error(
                    f"{base}.values.{i}",
                    f"{fmt_value(choice)} is not one of {', '.join(choices)}{hint}",
                )
        return
    bounds = param_bounds(name)
    numbered: list[tuple[str, object]]
    if param.values is not None:
        numbered = [(f"values.{i}", v) for i, v in enumerate(param.values)]
    else:
        numbered = [("min", param.min), ("max", param.max)]
    for key, value in numbered:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise spec_error(f"{base}.{key}", f"{fmt_value(value)} is not a number")
        if kind is ParamKind.INT and not float(value).is_integer():
            raise spec_error(f"{base}.{key}", f"{fmt_value(value)} is not an integer")
        if value not in bounds:
            raise spec_error(f"{base}.{key}", f"{fmt_value(value)} is outside {bounds}")


def check_integer_steps(name: str, param: ParameterSpec) -> None:
    """An integer grid range must not produce the same integer twice after rounding.

    Errors are at paths below the sweep's spec (``parameters.agents.steps``).
    """
    if PARAM_KINDS[name] is not ParamKind.INT or param.steps is None:
        return
    base = f"parameters.{name}"
    assert param.min is not None and param.max is not None and param.steps is not None
    steps, low, high = param.steps, param.min, param.max
    why = f"steps {steps} over [{fmt_value(low)}, {fmt_value(high)}] repeat integers after rounding"
    if steps > high - low + 1:
        raise spec_error(f"{base}.steps", f"{why}; at most {int(high - low) + 1}")
    if param.scale is Scale.LOG and steps > 1:
        if steps <= _EXACT_ROUNDING_CHECK:
            values = [grid_value(param, k, ParamKind.INT) for k in range(steps)]
            if len(set(values)) != steps:
                raise spec_error(f"{base}.steps", why)
        elif low * ((high / low) ** (1 / (steps - 1)) - 1) < 1:
            raise spec_error(f"{base}.steps", why)


def grid_value(param: ParameterSpec, k: int, kind: ParamKind) -> int | float | str:
    """Grid value ``k`` of a parameter: ``values[k]``, or step ``k`` of its min..max range.

    Linear steps are ``min + (max - min) * k / (steps - 1)``, log steps the same on ``log(x)``;
    the ends are exactly min and max. Floats are rounded to 12 significant digits (so 0.3..0.9 in
    4 steps is 0.3, 0.5, 0.7, 0.9); integers to the nearest integer, halves up.
    """
    if param.values is not None:
        return param.values[k]
    assert param.min is not None and param.max is not None and param.steps is not None
    low, high, last = param.min, param.max, param.steps - 1
    if k == 0 or last == 0:
        x = low
    elif k == last:
        x = high
    elif param.scale is Scale.LOG:
        x = math.exp(math.log(low) + (math.log(high) - math.log(low)) * k / last)
    else:
        x = low + (high - low) * k / last
    if kind is ParamKind.INT:
        return math.floor(x + 0.5)
    return min(max(float(f"{x:.12g}"), low), high)


def sample_value(param: ParameterSpec, u: float, kind: ParamKind) -> int | float | str:
    """The value at unit coordinate ``u`` in [0, 1) of a parameter for a sampled method.

    Values are choices: ``values[floor(u * len)]``. Ranges map u linearly (or log-linearly) onto
    [min, max]; integer ranges onto [min, max + 1) rounded down, so each integer is equally likely
    (linear scale) and min and max both occur.
    """
    if param.values is not None:
        return param.values[min(int(u * len(param.values)), len(param.values) - 1)]
    assert param.min is not None and param.max is not None
    low, high = param.min, param.max
    top = high + 1 if kind is ParamKind.INT else high
    if param.scale is Scale.LOG:
        x = math.exp(math.log(low) + (math.log(top) - math.log(low)) * u)
    else:
        x = low + (top - low) * u
    if kind is ParamKind.INT:
        return int(min(max(math.floor(x), low), high))
    return min(max(x, low), high)

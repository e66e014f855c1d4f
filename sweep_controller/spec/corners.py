"""Every point of a sweep checked against the simulator's limits, without listing the points.

A sweep that validates must run: each of its points must make a valid ``SimParams``, including
the rules between fields (``mean_degree`` or ``network_density``, the v0.5-only fields) and the
network size limit (``MAX_EDGES``). A grid of 10^12 points cannot be checked point by point, so the
check relies on the shape of those rules:

- a field's own range is an interval, so its smallest and largest value cover every value;
- the network size grows with ``agents``, ``network_density`` and ``mean_degree`` (it is monotone
  in each), so the point where every number is at its largest is the worst case;
- "only with rules v0.5" rules fail where a field is not at its default, and if any value of a
  field differs from the default, its smallest or its largest value does.

Hence the points checked are two corners, every number at its smallest or every number at its
largest, crossed with every combination of the categorical values (``influence_model``, ``rules``,
...). Zip groups move together, so their members are never crossed with each other: a group's
entries are checked as they pair up (all ranges in a group rise together, so its first and last
entry are its corners; a group with explicit values has each entry checked, up to
``MAX_ZIP_ENTRIES``). The number of points checked is bounded (``MAX_CORNERS``), whatever the
size of the sweep. A new simulator rule that is neither an interval nor monotone in its fields
would need a new case here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from simulator.messages import plain_message
from simulator.params import SimParams
from sweep_controller.spec.parameters import (
    PARAM_KINDS,
    ParameterSpec,
    ParamKind,
    fmt_value,
    grid_value,
    spec_error,
)

__all__ = ["MAX_CORNERS", "MAX_ZIP_ENTRIES", "check_points", "extremes"]

MAX_ZIP_ENTRIES = 10_000
"""Entries of a zip group with explicit values checked one by one; past that, member by member."""
MAX_CORNERS = 20_000
"""Most points checked per sweep (corners times categorical combinations)."""

Row = dict[str, Any]


def extremes(name: str, param: ParameterSpec) -> list[tuple[str, Any]]:
    """The values of one swept parameter that stand for all of them, with their spec keys.

    A number: its smallest and largest value (the ends of a range, or of the list of values). A
    category: every distinct value.
    """
    if param.values is None:
        return [("min", param.min), ("max", param.max)]
    if PARAM_KINDS[name] is ParamKind.CHOICE:
        seen: dict[Any, int] = {}
        for i, value in enumerate(param.values):
            seen.setdefault(value, i)
        return [(f"values.{i}", value) for value, i in seen.items()]
    numbers = list(enumerate(param.values))
    low = min(numbers, key=lambda item: item[1])
    high = max(numbers, key=lambda item: item[1])
    return [(f"values.{i}", value) for i, value in dict([low, high]).items()]


def _ends(name: str, param: ParameterSpec) -> tuple[Any, Any]:
    """The smallest and the largest value of a numeric parameter."""
    (_, low), *rest = extremes(name, param)
    return low, (rest[0][1] if rest else low)


def _zip_rows(
    group: Sequence[str], params: Mapping[str, ParameterSpec], *, grid: bool
) -> list[Row]:
    """The entries of a zip group to check, as rows of values that go together."""
    members = [params[name] for name in group]
    with_values = [n for n, p in zip(group, members, strict=True) if p.values is not None]
    if not with_values:  # ranges only: they rise together, the first and last entries bound all
        return [
            {n: _ends(n, params[n])[0] for n in group},
            {n: _ends(n, params[n])[1] for n in group},
        ]
    length = len(params[with_values[0]].values or [])
    if length > MAX_ZIP_ENTRIES:
        return []  # checked member by member instead (see check_points)
    rows: list[Row] = []
    for k in range(length):
        fixed = {n: (params[n].values or [])[k] for n in with_values}
        ranged = [n for n in group if n not in fixed]
        if grid:
            rows.append({**fixed, **{n: grid_value(params[n], k, PARAM_KINDS[n]) for n in ranged}})
        else:  # a sampled group's ranges sit anywhere in their stratum: take both ends
            rows.append({**fixed, **{n: _ends(n, params[n])[0] for n in ranged}})
            rows.append({**fixed, **{n: _ends(n, params[n])[1] for n in ranged}})
    return rows


def _axis_rows(
    axes: Sequence[Sequence[str]], params: Mapping[str, ParameterSpec], *, grid: bool
) -> Iterator[list[list[Row]]]:
    """For the low and the high corner in turn: each axis's rows to cross."""
    zipped: dict[tuple[str, ...], list[Row]] = {}
    for axis in axes:
        if len(axis) > 1:
            zipped[tuple(axis)] = _zip_rows(axis, params, grid=grid)
    for corner in (0, 1):
        choices: list[list[Row]] = []
        for axis in axes:
            rows = zipped.get(tuple(axis))
            if rows:
                choices.append(rows)
                continue
            for name in axis:  # a single parameter, or a long zip group member by member
                if PARAM_KINDS[name] is ParamKind.CHOICE:
                    choices.append([{name: v} for _, v in extremes(name, params[name])])
                else:
                    choices.append([{name: _ends(name, params[name])[corner]}])
        yield choices


def _problem(data: Row) -> str | None:
    """Why ``data`` is not a valid ``SimParams`` (its first error), or None."""
    try:
        SimParams.model_validate(data)
    except ValidationError as exc:
        return plain_message(exc.errors(include_url=False)[0])
    return None


def _check_point(fixed: Mapping[str, Any], point: Row) -> None:
    """Refuse ``point`` if it is invalid, naming the one swept value to blame when there is one.

    A value is to blame when it fails the same way with the other swept parameters left at
    their defaults; otherwise the error names the whole point.
    """
    problem = _problem({**fixed, **point})
    if problem is None:
        return
    for name, value in point.items():
        if len(point) == 1 or _problem({**fixed, name: value}) == problem:
            raise spec_error(f"parameters.{name}", problem)
    raise spec_error("parameters", f"the point {_describe(point)}: {problem}")


def _describe(point: Row) -> str:
    return ", ".join(f"{name}={fmt_value(value)}" for name, value in point.items())


def check_points(
    params: Mapping[str, ParameterSpec],
    axes: Sequence[Sequence[str]],
    fixed: Mapping[str, Any],
    *,
    grid: bool,
) -> None:
    """Refuse a sweep with a point that is not a valid ``SimParams`` (see the module docstring).

    ``fixed`` holds the simulator parameters the spec sets; the others take their defaults at
    each point, as the runs do. Errors name the parameter to blame, else the point (its swept
    values). Values are checked in the company they keep: a value that would fail with
    another parameter's default is fine when that parameter is swept to values that suit it.
    """
    corners = list(_axis_rows(axes, params, grid=grid))
    count = sum(_product_size(choices) for choices in corners)
    if count > MAX_CORNERS:  # many categorical values and long zip groups: cross the members
        flat = [[name] for axis in axes for name in axis]
        corners = list(_axis_rows(flat, params, grid=grid))
    seen: set[tuple[tuple[str, str], ...]] = set()
    for choices in corners:
        for combination in itertools.islice(itertools.product(*choices), MAX_CORNERS):
            point: Row = {}
            for row in combination:
                point.update(row)
            key = tuple(sorted((k, repr(v)) for k, v in point.items()))
            if key in seen:
                continue
            seen.add(key)
            _check_point(fixed, {name: point[name] for name in params if name in point})


def _product_size(choices: list[list[Row]]) -> int:
    size = 1
    for rows in choices:
        size *= max(1, len(rows))
    return size

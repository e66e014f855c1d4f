"""One-line messages for pydantic validation errors, shared by every trust boundary.

The command line's flags, run records, legacy records and sweep specs are all validated by
pydantic, whose errors are nested dicts in library wording, with locations that include
union-branch tags (``int``, ``function-after[...]``). :class:`ErrorText` is the one translator from
them to ``where: reason`` lines that name the field, the value and what is allowed. Each boundary
words it for its readers: record files say "missing field", sweep specs "required", the command
line names flags; a boundary's own reasons come first (``reason``), the common ones after.
:func:`field_interval` reads a field's allowed interval from its constraints, so messages and
range checks never restate a bound; :func:`refuse_python_names` keeps a field's Python name an
unknown key where the format spells it by its alias, whatever the pydantic version.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

__all__ = [
    "ErrorText",
    "Interval",
    "Location",
    "clean_location",
    "did_you_mean",
    "dotted",
    "field_interval",
    "flag_hint",
    "plain_message",
    "range_reason",
    "refuse_python_names",
    "shown",
]

Location = tuple[int | str, ...]
"""Where an error is: field names and list indexes, from the top of the validated document."""

_UNION_TAGS = frozenset({"int", "float", "str", "bool"})
_SHOWN_CHARS = 60
_RANGE_KINDS = {
    "greater_than_equal": ("ge", "[{}, inf)"),
    "greater_than": ("gt", "({}, inf)"),
    "less_than_equal": ("le", "(-inf, {}]"),
    "less_than": ("lt", "(-inf, {})"),
}


def clean_location(loc: Sequence[int | str]) -> Location:
    """Drop pydantic's union-branch tags ('int', 'function-after[...]') from an error location."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p)))


def refuse_python_names(model: type[BaseModel], data: object) -> object:
    """``data`` unchanged, or an unknown-key error for a field given by its Python name.

    Where a format spells a field by its alias (``yield``, ``pointsPerTask``), the Python name
    (``yield_``, ``runs_per_task``) is an unknown key. pydantic 2.13's JSON mode accepts it
    whatever the model's config (2.14 does not); a ``mode="before"`` model validator calling this
    makes every version refuse it. The error's ``ctx.path`` names the key.
    """
    if isinstance(data, dict):
        for name, info in model.model_fields.items():
            if info.alias is not None and info.alias != name and name in data:
                raise PydanticCustomError(
                    "extra_forbidden", "Extra inputs are not permitted", {"path": name}
                )
    return data


STRICT_ALIAS_CONFIG = ConfigDict(
    extra="forbid", frozen=True, validate_by_alias=True, validate_by_name=False
)
"""Unknown keys are errors, instances are immutable, an aliased field is read by its alias only."""


class AliasOnlyModel(BaseModel):
    """Base of models read from a format that spells fields by alias (``refuse_python_names``)."""

    model_config = STRICT_ALIAS_CONFIG

    @model_validator(mode="before")
    @classmethod
    def _alias_only(cls, data: Any) -> Any:
        return refuse_python_names(cls, data)


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """The choice ``word`` most likely misspells, or None when none is close.

    A choice spelled the same but for case, ``_`` and ``-`` wins (``runs_per_task`` is
    ``runsPerTask``); otherwise the closest by ``difflib`` (ratio at least 0.75, so a shared
    suffix alone, ``whale_share`` and ``mev_share``, is not close).
    """

    def folded(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "")

    exact = [c for c in choices if folded(c) == folded(word)]
    if exact:
        return exact[0]
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.75)
    if not close:
        return None
    return next(c for c in choices if c.lower() == close[0])


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every subcommand parser below it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def flag_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """``; did you mean --seed?`` for the misspelt flag or choice of an argparse error, else ''.

    A flag is compared with every flag of the program (its subcommands' too: argparse reports
    a subcommand's unknown flag from the top parser); a choice (a subcommand) with the choices.
    """
    flag = re.search(r"unrecognized arguments: (-\S+)", message)
    choice = re.search(r"invalid choice: '?([^'\s]+)'?", message)
    if flag is not None:
        word = flag.group(1).partition("=")[0]
        known = [o for p in _parsers(parser) for a in p._actions for o in a.option_strings]
    elif choice is not None:
        word = choice.group(1)
        known = [str(c) for p in _parsers(parser) for a in p._actions for c in a.choices or ()]
    else:
        return ""
    guess = did_you_mean(
        word, [k for k in known if k.startswith("--") or not word.startswith("--")]
    )
    return f"; did you mean {guess}?" if guess is not None and guess != word else ""


def dotted(loc: Location) -> str:
    """A location as ``a.b.0.c``."""
    return ".".join(str(part) for part in loc)


def shown(value: object) -> str:
    """A value as JSON text, cut to 60 characters."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def plain_message(err: ErrorDetails) -> str:
    """pydantic's message without the ``Value error, `` that validators' errors get."""
    return str(err["msg"]).removeprefix("Value error, ")


def range_reason(err: ErrorDetails, value: Callable[[object], str] = shown) -> str | None:
    """``V is outside [LOW, inf)`` for a one-sided range error; None for other errors."""
    if err["type"] not in _RANGE_KINDS:
        return None
    key, template = _RANGE_KINDS[err["type"]]
    bound = (err.get("ctx") or {})[key]
    return f"{value(err.get('input'))} is outside {template.format(value(bound))}"


@dataclass(frozen=True)
class Interval:
    """The allowed interval of a number, as its field constraints state it."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __str__(self) -> str:
        left = "(" if self.low is None or self.low_open else "["
        right = ")" if self.high is None or self.high_open else "]"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{left}{low}, {high}{right}"

    @property
    def floor(self) -> float:
        """The lower end, -inf when unbounded."""
        return -math.inf if self.low is None else self.low

    @property
    def ceiling(self) -> float:
        """The upper end, inf when unbounded."""
        return math.inf if self.high is None else self.high


def _constraints(info: FieldInfo) -> list[Any]:
    """A field's constraint objects, including those inside ``Annotated[...] | None``."""
    found = list(info.metadata)
    stack = [info.annotation]
    while stack:
        annotation = stack.pop()
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extras = typing.get_args(annotation)
            stack.append(base)
            for extra in extras:
                found += extra.metadata if isinstance(extra, FieldInfo) else [extra]
        elif origin in (typing.Union, types.UnionType):
            stack += typing.get_args(annotation)
    return found


def field_interval(info: FieldInfo) -> Interval:
    """The interval a pydantic field allows, from its ``ge``/``gt``/``le``/``lt`` constraints."""
    low = high = None
    low_open = high_open = False
    for meta in _constraints(info):
        for attr, is_low, is_open in (("ge", 1, 0), ("gt", 1, 1), ("le", 0, 0), ("lt", 0, 1)):
            bound = getattr(meta, attr, None)
            if bound is None:
                continue
            if is_low:
                low, low_open = bound, bool(is_open)
            else:
                high, high_open = bound, bool(is_open)
    return Interval(low, high, low_open, high_open)


Reason = Callable[[ErrorDetails, Location], "str | None"]


@dataclass(frozen=True)
class ErrorText:
    """How one boundary words pydantic errors as ``where: reason`` lines."""

    root: str = "record"
    """The location of an error about the whole document."""
    missing: str = "missing field"
    unknown: str = "unknown field"
    location: Callable[[Location], str] = dotted
    value: Callable[[object], str] = shown
    reason: Reason | None = None
    """The boundary's own reasons; None falls back to the common ones."""
    union: str = "matches none of the allowed types"
    """Said once when every branch of a union failed on the same value."""

    def line(self, err: ErrorDetails) -> str:
        """One error as ``where: reason``."""
        if err["type"] == "json_invalid":  # a syntax error has no field to name
            return "invalid JSON: " + str(err["msg"]).removeprefix("Invalid JSON: ").replace(
                "at line 1 column", "at column"
            )
        loc = clean_location(err["loc"])
        ctx: dict[str, Any] = dict(err.get("ctx") or {})
        if "path" in ctx:  # a model validator's error about a key below the model
            loc = (*loc, *str(ctx["path"]).split("."))
            if "reason" in ctx:
                return f"{self.location(loc)}: {ctx['reason']}"
        reason = self.reason(err, loc) if self.reason is not None else None
        return f"{self.location(loc) or self.root}: {reason or self._common(err)}"

    def _common(self, err: ErrorDetails) -> str:
        kind = err["type"]
        if kind == "missing":
            return self.missing
        if kind == "extra_forbidden":
            return self.unknown
        what = "wrong type" if kind.endswith("_type") else "invalid value"
        return f"{what}: {err['msg']}, got {self.value(err.get('input'))}"

    def lines(self, exc: ValidationError) -> list[str]:
        """Every distinct problem, one line each, in pydantic's order."""
        errors = self._expanded(exc.errors(include_url=False))
        union_locs = [
            clean_location(e["loc"]) for e in errors if clean_location(e["loc"]) != tuple(e["loc"])
        ]
        out: list[str] = []
        for err in errors:
            loc = clean_location(err["loc"])
            if union_locs.count(loc) > 1:  # every branch of a union failed: say so once
                line = f"{self.location(loc)}: {self.value(err.get('input'))} {self.union}"
            else:
                line = self.line(err)
            if line not in out:
                out.append(line)
        return out

    @staticmethod
    def _expanded(errors: list[ErrorDetails]) -> list[ErrorDetails]:
        """Errors with each validator error of several ``ctx.problems`` split into one each."""
        out: list[ErrorDetails] = []
        for err in errors:
            problems = (err.get("ctx") or {}).get("problems")
            if not problems:
                out.append(err)
                continue
            for path, reason in problems:
                ctx = {"path": path, "reason": reason}
                out.append(
                    ErrorDetails(
                        type=err["type"],
                        loc=err["loc"],
                        msg=reason,
                        input=err.get("input"),
                        ctx=ctx,
                    )
                )
        return out

    def first(self, exc: ValidationError, *, source: str | None = None, more: str = "more") -> str:
        """The first problem, prefixed ``SOURCE: ``, with a count of the rest: ``(and 2 more)``."""
        lines = self.lines(exc)
        rest = f" (and {len(lines) - 1} {more})" if len(lines) > 1 else ""
        prefix = f"{source}: " if source is not None else ""
        return f"{prefix}{lines[0]}{rest}"

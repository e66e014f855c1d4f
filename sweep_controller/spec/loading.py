"""Reading Sweep documents: YAML with unique keys, validation, and one-line error messages.

A sweep reaches the platform as a YAML file (``sweepctl``, the worker) or as a custom resource read
from the API (the controller). Both end in :func:`parse_sweep`, so the same document is accepted
or refused the same way everywhere, and every refusal is one line,
``FILE: spec.path.to.field: reason``, worded by ``simulator.messages`` in the terms of the sweep
reference (keys, intervals, name rules). The YAML loader refuses duplicate keys, which PyYAML
would silently merge, and reads ``1e-3`` as a number, as kubectl and JSON do.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from simulator.messages import ErrorText, Location, plain_message, range_reason
from sweep_controller.errors import SpecError
from sweep_controller.spec.models import NAME_PATTERN, OUTPUT_URI_PATTERN, Sweep
from sweep_controller.spec.parameters import PARAM_KINDS, fmt_value, param_bounds, unwrap_optional

__all__ = [
    "SPEC_TEXT",
    "format_validation_error",
    "load_sweep",
    "parse_sweep",
    "sweep_from_resource",
]

_FRIENDLY_PATTERNS = {
    NAME_PATTERN: "must be a DNS-1123 label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit",
    OUTPUT_URI_PATTERN: "must be file://PATH or s3://BUCKET[/PREFIX]",
}


def _annotation_at(loc: Sequence[int | str]) -> Any:
    """The annotation reached by following ``loc`` from ``Sweep`` (None if it cannot be)."""
    annotation: Any = Sweep
    for part in loc:
        annotation = unwrap_optional(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            match = [f for n, f in fields.items() if part in (n, f.alias)]
            if not match:
                return None
            annotation = match[0].annotation
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        elif origin is list:
            annotation = typing.get_args(annotation)[0]
        else:
            return None
    return unwrap_optional(annotation)


def _valid_keys(loc: Sequence[int | str]) -> list[str]:
    model = _annotation_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _spec_reason(err: ErrorDetails, loc: Location) -> str | None:
    """Reasons in the words of the sweep reference (keys, intervals, name rules)."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        return "unknown key" + (f"; valid keys: {', '.join(valid)}" if valid else "")
    if kind == "missing":
        return None
    ranged = range_reason(err, fmt_value)
    if ranged is not None:
        if len(loc) == 3 and loc[:2] == ("spec", "simulator") and str(loc[2]) in PARAM_KINDS:
            return f"{fmt_value(value)} is outside {param_bounds(str(loc[2]))}"  # both ends
        return ranged
    if kind == "string_pattern_mismatch":
        friendly = _FRIENDLY_PATTERNS.get(str(ctx.get("pattern")))
        return (
            f"{fmt_value(value)} {friendly}"
            if friendly
            else f"{err['msg']} (got {fmt_value(value)})"
        )
    message = plain_message(err)
    if isinstance(value, (str, int, float)) and kind not in ("value_error", "assertion_error"):
        return f"{message} (got {fmt_value(value)})"
    return message


SPEC_TEXT = ErrorText(
    root="(top level)",
    missing="required",
    unknown="unknown key",
    value=fmt_value,
    reason=_spec_reason,
    union="is not a number or a string",
)
"""How sweep specs word pydantic errors: ``spec.path: reason``."""


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line for the first error: ``SOURCE: spec.path: reason`` (plus a count of the rest)."""
    return SPEC_TEXT.first(exc, source=source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader: duplicate keys are errors, and ``1e-3`` is a float as in YAML 1.2."""


# PyYAML follows YAML 1.1, where 1e-3 (no dot) is a string; kubectl and JSON read it as a number.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in keys:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        keys.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def parse_sweep(data: object, source: str = "<sweep>") -> Sweep:
    """Validate a decoded Sweep document; every failure is a one-line ``SpecError``."""
    if not isinstance(data, Mapping):
        got = type(data).__name__ if data is not None else "an empty document"
        raise SpecError(f"{source}: expected a Sweep mapping at the top level, got {got}")
    try:
        return Sweep.model_validate(data, context={"source": source})
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source)) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a Sweep YAML file; errors are ``SpecError('FILE: spec.path: reason')``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(f"{source}: cannot read: {reason}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: {where}invalid YAML: {problem}") from None
    return parse_sweep(data, source)


def sweep_from_resource(body: Mapping[str, Any], source: str = "<resource>") -> Sweep:
    """A Sweep from a custom resource read from the API: server-set metadata and status dropped."""
    metadata = body.get("metadata") or {}
    kept = {k: metadata[k] for k in ("name", "namespace", "labels", "annotations") if k in metadata}
    data = {k: body[k] for k in ("apiVersion", "kind", "spec") if k in body}
    return parse_sweep({**data, "metadata": kept}, source)

"""Reading Sweep documents: YAML with unique keys, validation, and one-line error messages.

A sweep reaches the platform as a YAML file (``sweepctl``, the worker) or as a custom resource read
from the API (the controller). Both end in :func:`parse_sweep`, so the same document is accepted
or refused the same way everywhere, and every refusal is one line,
``FILE: spec.path.to.field: reason``, worded by ``simulator.messages`` in the terms of the sweep
reference (keys, intervals, name rules). The YAML loader refuses duplicate keys, which PyYAML
would silently merge, and reads ``1e-3`` as a number, as kubectl and JSON do.

A spec file is untrusted input, so reading it is bounded in time and memory: at most
``MAX_SPEC_BYTES`` bytes, nesting at most ``MAX_YAML_DEPTH`` levels (deeper nesting would exhaust
Python's recursion), and at most ``MAX_YAML_NODES`` nodes once every alias is expanded. Anchors
and aliases stay allowed, but a "billion laughs" file of a few hundred bytes, whose aliases expand
to 10^9 nodes, is refused after counting, before anything walks the expansion.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from simulator.messages import (
    ErrorText,
    Location,
    did_you_mean,
    field_interval,
    plain_message,
    range_reason,
)
from sweep_controller.errors import SpecError
from sweep_controller.spec.models import NAME_PATTERN, OUTPUT_URI_PATTERN, Sweep
from sweep_controller.spec.parameters import Bounds, NotANumber, fmt_value, unwrap_optional

__all__ = [
    "MAX_SPEC_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "SPEC_TEXT",
    "format_validation_error",
    "load_sweep",
    "parse_sweep",
    "parse_yaml",
    "read_document",
    "sweep_from_resource",
]

MAX_SPEC_BYTES = 1 << 20
"""Largest spec file read (1 MiB; a custom resource must fit in an etcd object, about 1.5 MB)."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and sequences in a spec file."""
MAX_YAML_NODES = 1_000_000
"""Most nodes a spec file may hold once its aliases are expanded."""

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


def _field_at(loc: Sequence[int | str]) -> FieldInfo | None:
    """The field an error location ends at (None if it does not end at a model field)."""
    if not loc:
        return None
    model = _annotation_at(loc[:-1])
    if isinstance(model, type) and issubclass(model, BaseModel):
        match = [f for n, f in model.model_fields.items() if loc[-1] in (n, f.alias)]
        return match[0] if match else None
    return None


def _valid_keys(loc: Sequence[int | str]) -> list[str]:
    model = _annotation_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


_SHAPES = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
}
"""What a value of the wrong type should have been, by pydantic error type."""


def _choices(loc: Location) -> list[str]:
    """The allowed values of the enum or literal field at ``loc`` (empty if it is neither)."""
    annotation = _annotation_at(loc)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    return []


def _unknown_key(loc: Location) -> str:
    valid = _valid_keys(loc[:-1])
    guess = did_you_mean(str(loc[-1]), valid) if loc else None
    if guess is not None:
        return f"unknown key; did you mean {guess}?"
    return "unknown key" + (f"; valid keys: {', '.join(valid)}" if valid else "")


def _spec_reason(err: ErrorDetails, loc: Location) -> str | None:
    """Reasons in the words of the sweep reference (keys, intervals, name rules)."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if isinstance(value, NotANumber):
        return value.reason
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "missing":
        return None
    if kind in ("enum", "literal_error"):
        choices = _choices(loc)
        if choices:
            guess = did_you_mean(str(value), choices)
            hint = f"; did you mean {guess}?" if guess is not None else ""
            return f"{fmt_value(value)} is not one of {', '.join(choices)}{hint}"
    if kind in _SHAPES:
        return f"must be {_SHAPES[kind]} (got {_yaml_shown(value)})"
    ranged = range_reason(err, fmt_value)
    if ranged is not None:
        field = _field_at(loc)
        if field is None:
            return ranged
        interval = field_interval(field)  # both ends, as the field states them
        bounds = Bounds(interval.low, interval.high, interval.low_open, interval.high_open)
        return f"{fmt_value(value)} is outside {bounds}"
    if kind == "finite_number":
        return f"{fmt_value(value)} is not a finite number"
    if kind == "string_pattern_mismatch":
        friendly = _FRIENDLY_PATTERNS.get(str(ctx.get("pattern")))
        return (
            f"{fmt_value(value)} {friendly}"
            if friendly
            else f"{err['msg']} (got {fmt_value(value)})"
        )
    message = plain_message(err).removeprefix(f"{loc[-1]}: " if loc else "")
    if isinstance(value, (str, int, float)) and kind not in ("value_error", "assertion_error"):
        return f"{message} (got {fmt_value(value)})"
    return message


def _yaml_shown(value: object) -> str:
    """A value as YAML spells it, cut to 60 characters (``true``, ``[1, 2]``, ``{a: 1}``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("\n...").strip()
    return text if len(text) <= 60 else text[:57] + "..."


SPEC_TEXT = ErrorText(
    root="(top level)",
    missing="required",
    unknown="unknown key",
    value=fmt_value,
    reason=_spec_reason,
    union="is not a number or a string",
)
"""How sweep specs word pydantic errors: ``spec.path: reason``."""


def format_validation_error(
    exc: ValidationError, source: str, blame: Callable[[str], str] | None = None
) -> str:
    """Every error, one line each: ``SOURCE: spec.path: reason``.

    ``blame`` gives the text put before a line's ``spec.path`` (``--set KEY=VALUE: ``), from the
    line's ``spec.path: reason``.
    """
    lines = SPEC_TEXT.lines(exc)
    return "\n".join(f"{source}: {blame(line) if blame else ''}{line}" for line in lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader: duplicate keys are errors, and ``1e-3`` is a float as in YAML 1.2.

    It also bounds the document: nesting deeper than ``MAX_YAML_DEPTH`` is an error while it is
    composed, and a document of more than ``MAX_YAML_NODES`` nodes with its aliases expanded (or
    an alias inside its own anchor) is an error before it is constructed.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()  # type: ignore[no-untyped-call]
        if node is None:
            return None
        _check_expanded_size(node)
        return self.construct_document(node)  # type: ignore[no-untyped-call]


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document of more than ``MAX_YAML_NODES`` nodes with its aliases expanded.

    An alias is the very node of its anchor, so the composed document is a graph whose shared
    nodes count once per reference: the size of a node is computed once (memoised), which keeps
    the count linear in the file however far the aliases expand.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to its own anchor (a cycle)", node.start_mark
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"more than {MAX_YAML_NODES} nodes with its aliases expanded",
                    node.start_mark,
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


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
        if not isinstance(key_node, yaml.ScalarNode):
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar, not a list or a mapping", mark
            )
        if key in keys:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        keys.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """An integer; one of more digits than Python converts (4300) is a YAML error at its line."""
    try:
        return loader.construct_yaml_int(node)  # type: ignore[no-untyped-call,no-any-return]
    except ValueError:
        digits = sum(c.isdigit() for c in str(node.value))
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {digits} digits is too long", node.start_mark
        ) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)  # type: ignore[arg-type]


def parse_sweep(
    data: object, source: str = "<sweep>", *, blame: Callable[[str], str] | None = None
) -> Sweep:
    """Validate a decoded Sweep document; a failure is a ``SpecError`` of one line per problem.

    ``blame`` is as for ``format_validation_error``.
    """
    if not isinstance(data, Mapping):
        got = type(data).__name__ if data is not None else "an empty document"
        raise SpecError(f"{source}: expected a Sweep mapping at the top level, got {got}")
    try:
        return Sweep.model_validate(data, context={"source": source})
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source, blame)) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a Sweep YAML file; errors are ``SpecError('FILE: spec.path: reason')``."""
    return parse_sweep(read_document(path), str(path))


def read_document(path: str | Path) -> Any:
    """The YAML document of a spec file, not validated; errors are one-line ``SpecError``."""
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(f"{source}: cannot read: {reason}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{source}: larger than {MAX_SPEC_BYTES} bytes; a sweep spec is at most 1 MiB"
        )
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str = "<sweep>") -> Any:
    """The document of a spec's YAML text; every problem is a one-line ``SpecError``."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: {where}invalid YAML: {problem}") from None


def sweep_from_resource(body: Mapping[str, Any], source: str = "<resource>") -> Sweep:
    """A Sweep from a custom resource read from the API: server-set metadata and status dropped."""
    metadata = body.get("metadata") or {}
    kept = {k: metadata[k] for k in ("name", "namespace", "labels", "annotations") if k in metadata}
    data = {k: body[k] for k in ("apiVersion", "kind", "spec") if k in body}
    return parse_sweep({**data, "metadata": kept}, source)

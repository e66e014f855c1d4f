"""Changes to a spec given on the command line: ``--set KEY=VALUE`` (run, validate, render).

``KEY`` is a dotted path into the Sweep document. It starts at the top (``spec.replicates``,
``metadata.name``) or, as shorthand, inside ``spec`` (``replicates``, ``simulator.agents``,
``parameters.quorum``); a single simulator parameter name that is no spec key means
``spec.parameters.NAME`` when the value is a list (``quorum=[0, 0.5]`` sweeps it) and
``spec.simulator.NAME`` otherwise (``agents=2000`` fixes it). ``VALUE`` is read as YAML, with
the spec file's loader: ``50`` is a number, ``[0, 0.5]`` a list (a swept parameter's values),
``sobol`` a string, ``null`` is null (unset, where a field allows it). Mappings missing on the
way are created; a path through a value that is not a mapping is an error naming the ``--set``.

The overridden document is then validated as a file is, and an error about a field that a
``--set`` wrote names that ``--set`` as well as the field. The result is simply another spec: its
hash is that of the document as overridden, so results it writes go where that spec's would.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.params import SimParams
from sweep_controller.errors import SpecError
from sweep_controller.spec.loading import parse_sweep, parse_yaml, read_document
from sweep_controller.spec.models import Sweep, SweepSpec

__all__ = ["Override", "apply_overrides", "load_overridden", "parse_override"]

_TOP_KEYS = tuple(info.alias or name for name, info in Sweep.model_fields.items())
_SPEC_KEYS = tuple(info.alias or name for name, info in SweepSpec.model_fields.items())


@dataclass(frozen=True)
class Override:
    """One ``--set KEY=VALUE``: where it writes (from the top of the document) and what."""

    text: str
    """As given on the command line."""
    path: tuple[str, ...]
    value: Any

    @property
    def dotted(self) -> str:
        """The path as ``spec.simulator.agents``."""
        return ".".join(self.path)

    def wrote(self, location: str) -> bool:
        """Whether the field at dotted ``location`` is, holds or lies in what this wrote."""
        mine = self.dotted
        return (
            location == mine or location.startswith(f"{mine}.") or mine.startswith(f"{location}.")
        )


def _absolute(key: str, value: object) -> tuple[str, ...]:
    parts = tuple(key.split("."))
    if parts[0] in _TOP_KEYS:
        return parts
    if len(parts) == 1 and parts[0] not in _SPEC_KEYS and parts[0] in SimParams.model_fields:
        return ("spec", "parameters" if isinstance(value, list) else "simulator", parts[0])
    return ("spec", *parts)


def parse_override(text: str) -> Override:
    """``KEY=VALUE`` as an ``Override``; a malformed one is a one-line ``SpecError``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(f"--set {text}: expected KEY=VALUE, e.g. --set spec.replicates=50")
    if any(not part for part in key.split(".")):
        raise SpecError(f"--set {text}: {key!r} has an empty part; write KEY as spec.a.b")
    value = parse_yaml(raw, f"--set {text}")
    return Override(text, _absolute(key, value), value)


def apply_overrides(document: object, overrides: Sequence[Override], source: str) -> object:
    """A copy of ``document`` with each override written, in order (later ones win)."""
    if not overrides or not isinstance(document, dict):
        return document
    out = copy.deepcopy(document)
    for override in overrides:
        node: dict[str, Any] = out
        for i, part in enumerate(override.path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(override.path[: i + 1])
                raise SpecError(
                    f"{source}: --set {override.text}: {where} is not a mapping "
                    f"(it is {type(child).__name__ if child is not None else 'null'}); "
                    f"set {where} whole"
                )
            node = child
        node[override.path[-1]] = copy.deepcopy(override.value)
    return out


def load_overridden(path: str | Path, overrides: Sequence[str]) -> Sweep:
    """Read a spec file, write the ``--set`` overrides into it, and validate the result."""
    source = str(path)
    parsed = [parse_override(text) for text in overrides]
    document = apply_overrides(read_document(path), parsed, source)

    def blame(line: str) -> str:
        location = line.partition(": ")[0]
        named = [o for o in parsed if o.wrote(location)]
        return f"--set {named[-1].text}: " if named else ""

    return parse_sweep(document, source, blame=blame)

"""A copy of the spec in a sweep's results folder, so that the folder describes itself.

Task manifests name the spec's hash, not the spec. Without the spec, a reader of a results
folder cannot tell which parameters were swept, how runs map to tasks, or whether every task is
there. So whatever writes results also writes the spec beside them, as
``<output uri>/<name>/sweep.json`` (``layout.spec_copy_key``): the local runner when it starts,
and each worker process before it simulates its first task (a Job pod has no runner).
``sweep_controller.analysis.loading.load_results`` reads it back from a results URI.

Distributed semantics: written at least once, each write atomic, so a reader sees a whole copy
or none. A copy with this spec's hash is left as it is (its ``parallelism`` or output may differ,
which changes no result); a copy with another hash (a changed spec run under the same name after
the old results were deleted) is replaced, last writer wins. The manifests stay the truth: a
reader checks every task's hash against the copy's, so a stale copy is refused, never trusted.
"""

from __future__ import annotations

import json
from typing import Any

from sweep_controller.errors import KeyNotFound, ResultsError, SpecError
from sweep_controller.execution.layout import spec_copy_key
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep, spec_hash
from sweep_controller.store import Store

__all__ = ["read_spec_copy", "spec_document", "write_spec_copy"]


def spec_document(sweep: Sweep) -> dict[str, Any]:
    """The Sweep document as written (fields left unset stay unset), camelCase keys."""
    return sweep.model_dump(mode="json", by_alias=True, exclude_unset=True)


def write_spec_copy(store: Store, sweep: Sweep) -> bool:
    """Store the spec beside its results unless a copy with its hash is there; True if written."""
    key = spec_copy_key(sweep.name)
    try:
        current = _parse(store.get_bytes(key), store.uri_for(key))
    except KeyNotFound:
        current = None
    except ResultsError:  # unreadable: replace it
        current = None
    if current is not None and spec_hash(current) == spec_hash(sweep):
        return False
    body = json.dumps(spec_document(sweep), indent=2) + "\n"
    store.put_bytes(key, body.encode())
    return True


def read_spec_copy(store: Store, sweep_name: str) -> Sweep | None:
    """The spec stored with a sweep's results; None if there is none, ``ResultsError`` if bad."""
    key = spec_copy_key(sweep_name)
    try:
        raw = store.get_bytes(key)
    except KeyNotFound:
        return None
    where = store.uri_for(key)
    sweep = _parse(raw, where)
    if sweep.name != sweep_name:
        raise ResultsError(f"{where}: names sweep {sweep.name!r}, not {sweep_name!r}")
    return sweep


def _parse(raw: bytes, where: str) -> Sweep:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ResultsError(f"{where}: not a copy of a sweep spec: invalid JSON: {exc}") from None
    try:
        return parse_sweep(data, where)
    except SpecError as exc:
        raise ResultsError(f"not a copy of a sweep spec: {exc}") from None

"""Where a sweep's results are, for commands run on this machine: relative to the spec file.

A spec says ``output: {uri: "file://results"}``. Read by a process that does not know where the
spec came from (the controller, a pod reading its ConfigMap), a relative ``file://`` path can only
mean the working directory. But a user who runs ``sweepctl run examples/sweep.yaml`` from the
repository root and ``sweepctl collect sweep.yaml`` from ``examples/`` means one folder, so the
local commands (and ``load_results``) read a relative ``file://`` output against the spec file's
directory, and hand every reader the absolute ``file:///...`` URI. ``--output URI`` replaces the
spec's output; a relative path there is a command-line path, relative to the working directory.
``s3://`` outputs are absolute and left alone. docs/storage.md has the table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from simulator.messages import shown
from sweep_controller.errors import FlagError, SpecError
from sweep_controller.spec.models import Output, Sweep
from sweep_controller.spec.overrides import load_overridden

__all__ = ["absolute_output", "load_local_sweep", "relocated", "spec_folder"]


def absolute_output(uri: str, base: Path) -> str:
    """``uri`` with a relative local path made absolute against ``base``; ``s3://`` unchanged.

    ``file://PATH`` and a plain ``PATH`` both become ``file:///ABSOLUTE/PATH`` (``~`` is the home
    directory, as for the file store); any other scheme is returned as given, for the store to
    accept or refuse.
    """
    scheme, sep, rest = uri.partition("://")
    if sep and scheme.lower() != "file":
        return uri
    path = Path(rest if sep else uri).expanduser()
    if not path.is_absolute():
        path = base / path
    return f"file://{Path(os.path.normpath(path)).as_posix()}"


def relocated(sweep: Sweep, uri: str, *, source: str) -> Sweep:
    """The same sweep writing to ``uri`` (validated as ``spec.output.uri`` is; same spec hash).

    ``source`` names where the URI came from in an error (``--output``, ``FILE: spec.output.uri``).
    """
    try:
        output = Output.model_validate({"uri": uri})
    except ValidationError as exc:
        error = exc.errors()[0]
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch":
            reason = f"{shown(uri)} must be file://PATH, a plain PATH or s3://BUCKET[/PREFIX]"
        raise FlagError(f"{source}: {reason}") from None
    spec = sweep.spec.model_copy(update={"output": output})
    return sweep.model_copy(update={"spec": spec})


def spec_folder(path: str | Path) -> Path:
    """The folder a spec file's relative output is read from: the file's own, resolved."""
    return Path(path).absolute().parent.resolve()


def load_local_sweep(
    path: str | Path, *, output: str | None = None, overrides: Sequence[str] = ()
) -> Sweep:
    """Read a spec file for a command on this machine: its output made absolute.

    ``overrides`` are ``--set KEY=VALUE`` texts written into the document before it is validated
    (``sweep_controller.spec.overrides``).

    With ``output`` (``--output``), that location replaces the spec's, a relative path read from
    the working directory. Without it, a relative ``file://`` output is read from the directory
    of the spec file (the file's own folder, symbolic links in the folder resolved).
    """
    sweep = load_overridden(path, overrides)
    if output is not None:
        if not output.strip():
            raise FlagError("--output: is empty; give file://PATH, a plain PATH or s3://BUCKET")
        return relocated(sweep, absolute_output(output, Path.cwd()), source="--output")
    uri = absolute_output(sweep.spec.output.uri, spec_folder(path))
    if uri == sweep.spec.output.uri:
        return sweep
    try:
        return relocated(sweep, uri, source=f"{path}: spec.output.uri")
    except FlagError as exc:  # the spec's folder makes the path invalid (a control character)
        raise SpecError(str(exc)) from None

"""A sweep's results in one call: ``load_results(spec_or_uri)`` returns a pandas DataFrame.

The table is ``collect``'s (``sweep_controller.analysis.results``): one row per run, verified
against its task's manifest and validated as a run record, with the swept and the fixed
parameters, the outcomes, and the base columns; its provenance (spec hash, code versions of the
tasks, record schema versions, where it was read) is in ``DataFrame.attrs``. The source is either

- a spec: a YAML file (a relative ``file://`` output is read from the file's folder, as the
  local commands read it; ``output=`` replaces it) or a ``Sweep``; or
- a results location: a sweep's folder (``<output uri>/<name>``, what ``sweepctl run`` prints)
  or an output URI holding sweeps (``sweep=`` picks one; needed when it holds several), as a
  ``file://`` URI, a local path or an ``s3://`` URI. The spec comes from the copy stored beside
  the results (``sweep_controller.execution.spec_copy``), so a results folder describes itself;
  its output is taken to be where it was found, so a folder copied elsewhere reads the same.

The example in :func:`load_results`'s docstring is the one of docs/sweeps.md ("Results in
Python"), which a test runs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sweep_controller.analysis.results import collect
from sweep_controller.errors import FlagError, IncompleteResultsWarning, ResultsError
from sweep_controller.execution.layout import SPEC_COPY, spec_copy_key
from sweep_controller.execution.spec_copy import read_spec_copy
from sweep_controller.spec.location import absolute_output, load_local_sweep, relocated
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_results"]

SPEC_SUFFIXES = (".yaml", ".yml")
"""A source ending so is read as a spec file, whether or not it exists."""


def load_results(
    source: str | os.PathLike[str] | Sweep,
    *,
    sweep: str | None = None,
    output: str | None = None,
    require_complete: bool = False,
) -> pd.DataFrame:
    """One row per run of a sweep: base columns, swept and fixed parameters, outcomes.

    ``source`` is a spec (YAML file or ``Sweep``) or a results location (``file://``, a local
    folder, ``s3://``); ``sweep`` names the sweep in a location holding several; ``output``
    replaces a spec's output location (relative: to the working directory). Tasks not done are
    left out with an ``IncompleteResultsWarning`` (``require_complete``: a ``ResultsError``).
    ``df.attrs`` holds the provenance (``Provenance``: ``spec_hash``, ``code_versions``,
    ``schema_versions``, ``results_uri``, ``tasks``, ``tasks_read``, ``runs``).

    Example::

        from sweep_controller import load_results

        runs = load_results("examples/whale-vs-conformity.yaml")  # or its results folder, or s3://...
        print(runs.attrs["spec_hash"], runs.attrs["code_versions"])  # where the numbers came from
        large = runs[runs["agents"] == 2000]  # filter on any parameter, swept or fixed
        print(large.groupby(["whale_ratio", "conformity_threshold"])["passed"].mean().unstack())

    Raises ``ResultsError`` when nothing is found (naming where it looked), a task does not
    verify or a record does not validate; ``SpecError`` for a bad spec.
    """
    resolved = _results_sweep(source, sweep=sweep, output=output)

    def warn(message: str) -> None:
        warnings.warn(message, IncompleteResultsWarning, stacklevel=4)  # the caller's line

    collected = collect(resolved, require_complete=require_complete, warn=warn)
    frame = collected.to_arrow().to_pandas()
    assert collected.provenance is not None
    frame.attrs.update(collected.provenance.attrs())
    return frame


def _results_sweep(
    source: str | os.PathLike[str] | Sweep, *, sweep: str | None = None, output: str | None = None
) -> Sweep:
    """The sweep ``load_results`` reads, its output the absolute location of its results."""
    if isinstance(source, Sweep):
        _check_name(source, sweep)
        if output is None:
            return source
        return relocated(source, absolute_output(output, Path.cwd()), source="output")
    text = os.fspath(source)
    if "://" not in text and (text.lower().endswith(SPEC_SUFFIXES) or Path(text).is_file()):
        found = load_local_sweep(text, output=output)
        _check_name(found, sweep)
        return found
    if output is not None:
        raise FlagError(
            f"output: {output!r} goes with a spec; {text!r} is a results location already"
        )
    if "://" not in text and not Path(text).is_dir():
        raise ResultsError(
            f"{text}: no such spec file or results folder; give a spec (.yaml), a results "
            "folder or an s3:// URI"
        )
    return _from_location(absolute_output(text, Path.cwd()), sweep)


def _check_name(found: Sweep, sweep: str | None) -> None:
    if sweep is not None and sweep != found.name:
        raise FlagError(f"sweep: {sweep!r} is not the spec's sweep, {found.name!r}")


def _from_location(uri: str, sweep: str | None) -> Sweep:
    """The sweep whose results are at ``uri`` (its folder, or the output holding it)."""
    store = open_store(uri)
    if sweep is not None and store.exists(spec_copy_key(sweep)):
        return _read_copy(store, sweep, uri)
    parent = _parent(store.uri)
    if parent is not None and sweep in (None, parent[1]) and store.exists(SPEC_COPY):
        return _read_copy(open_store(parent[0]), parent[1], uri)  # the sweep's own folder
    if sweep is not None:
        return _read_copy(store, sweep, uri)  # says what is missing
    names = sorted(_sweeps_in(store))
    if len(names) == 1:
        return _read_copy(store, names[0], uri)
    if names:
        raise ResultsError(f"{store.uri}/ holds {len(names)} sweeps ({', '.join(names)}); "
                           "name one: load_results(URI, sweep=NAME)")  # fmt: skip
    raise ResultsError(
        f"no sweep results found in {store.uri}/ (no {SPEC_COPY} in it or in a folder below "
        "it); give the spec file instead"
    )


def _parent(uri: str) -> tuple[str, str] | None:
    """``(output uri, folder name)`` of a folder's URI; None for a bucket or the root."""
    scheme, _, path = uri.rstrip("/").partition("://")
    head, sep, folder = path.rpartition("/")
    if not sep or not folder or (scheme == "s3" and not head) or (scheme == "file" and not head):
        return None
    return f"{scheme}://{head}", folder


def _sweeps_in(store: Store) -> set[str]:
    """Names of the sweeps whose spec copy is in ``store`` (``<name>/sweep.json``)."""
    found = set()
    for key in store.list(""):
        name, sep, rest = key.partition("/")
        if sep and rest == SPEC_COPY:
            found.add(name)
    return found


def _read_copy(store: Store, name: str, asked: str) -> Sweep:
    """The copy of ``name``'s spec in ``store``, its output set to where it was found."""
    found = read_spec_copy(store, name)
    if found is None:
        raise ResultsError(
            f"{store.uri_for(spec_copy_key(name))}: not found, so {asked} does not say which "
            "sweep wrote it (results written before specs were stored beside them have none); "
            "give the spec file instead, with output=URI"
        )
    return relocated(found, store.uri, source=asked)

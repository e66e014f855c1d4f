"""The spec stored beside its results: written by runners and workers, replaced only when stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kit.specs import grid_doc, write_spec

from sweep_controller.errors import ResultsError
from sweep_controller.execution.layout import spec_copy_key
from sweep_controller.execution.runner import run_sweep
from sweep_controller.execution.spec_copy import read_spec_copy, spec_document, write_spec_copy
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import load_sweep, parse_sweep
from sweep_controller.spec.models import spec_hash
from sweep_controller.store import FileStore, Store, open_store


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty output location on each backend."""
    if request.param == "file":
        return f"file://{tmp_path}/out"
    return str(request.getfixturevalue("s3_uri"))


def spec_at(tmp_path: Path, uri: str, name: str = "cp", **spec: object) -> Path:
    return write_spec(tmp_path / f"{name}.yaml", grid_doc(name, uri, **spec))


def test_the_copy_reads_back_as_the_same_sweep(tmp_path: Path, uri: str) -> None:
    sweep = load_sweep(spec_at(tmp_path, uri, parallelism=3))
    store = open_store(uri)
    assert read_spec_copy(store, "cp") is None
    assert write_spec_copy(store, sweep) is True
    back = read_spec_copy(store, "cp")
    assert back is not None
    assert back == sweep and spec_hash(back) == spec_hash(sweep)
    # the document as written: unset fields stay unset (a default that changes later is not
    # frozen into the copy), camelCase keys as in a spec file
    stored = json.loads(store.get_bytes(spec_copy_key("cp")))
    assert stored == spec_document(sweep)
    assert "runsPerTask" in stored["spec"] and "method" not in stored["spec"]


def test_a_copy_of_the_same_spec_hash_is_left_alone(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "out")
    first = load_sweep(spec_at(tmp_path, f"file://{tmp_path}/out", parallelism=2))
    assert write_spec_copy(store, first)
    before = store.get_bytes(spec_copy_key("cp"))
    # parallelism and the output change no result: the hash is the same, the copy stays
    same = load_sweep(spec_at(tmp_path, "s3://elsewhere/x", parallelism=9))
    assert spec_hash(same) == spec_hash(first)
    assert write_spec_copy(store, same) is False
    assert store.get_bytes(spec_copy_key("cp")) == before


def test_a_stale_or_unreadable_copy_is_replaced(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "out")
    old = load_sweep(spec_at(tmp_path, f"file://{tmp_path}/out", seed=1))
    new = load_sweep(spec_at(tmp_path, f"file://{tmp_path}/out", seed=2))
    write_spec_copy(store, old)
    assert write_spec_copy(store, new) is True
    assert read_spec_copy(store, "cp") == new
    store.put_bytes(spec_copy_key("cp"), b"{not json")
    assert write_spec_copy(store, new) is True
    assert read_spec_copy(store, "cp") == new


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", r"sweep\.json: not a copy of a sweep spec: invalid JSON"),
        (b'{"kind": "Sweep"}', r"not a copy of a sweep spec: .*sweep\.json: apiVersion: required"),
        (b"[]", r"not a copy of a sweep spec: .*expected a Sweep mapping"),
    ],
)
def test_a_bad_copy_is_a_results_error_naming_it(tmp_path: Path, body: bytes, message: str) -> None:
    store = FileStore(tmp_path / "out")
    store.put_bytes(spec_copy_key("cp"), body)
    with pytest.raises(ResultsError, match=message):
        read_spec_copy(store, "cp")


def test_a_copy_under_another_sweep_s_folder_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "out")
    sweep = load_sweep(spec_at(tmp_path, f"file://{tmp_path}/out"))
    store.put_bytes(spec_copy_key("renamed"), json.dumps(spec_document(sweep)).encode())
    with pytest.raises(ResultsError, match=r"renamed/sweep\.json: names sweep 'cp', not 'renamed'"):
        read_spec_copy(store, "renamed")


def test_a_worker_stores_the_spec_before_it_simulates(tmp_path: Path, uri: str) -> None:
    """A Job pod has no runner: its worker leaves the copy, once per process."""
    sweep = load_sweep(spec_at(tmp_path, uri))
    store: Store = open_store(uri)
    ctx = TaskContext.open(sweep, store=store)
    assert execute_task(ctx, 2).outcome is TaskOutcome.SUCCEEDED
    assert ctx.spec_copied
    assert read_spec_copy(store, "cp") == sweep
    # a pod of another index finds the copy written: it reads it and leaves it
    store.delete(spec_copy_key("cp"))
    again = TaskContext.open(sweep, store=store)
    assert execute_task(again, 2).outcome is TaskOutcome.SKIPPED  # done: nothing written
    assert not store.exists(spec_copy_key("cp"))
    assert execute_task(again, 3).outcome is TaskOutcome.SUCCEEDED
    assert read_spec_copy(store, "cp") == sweep


def test_the_runner_stores_the_spec_even_when_every_task_was_done(tmp_path: Path) -> None:
    """Results written before copies existed describe themselves after the next run."""
    path = spec_at(tmp_path, f"file://{tmp_path}/out")
    sweep = load_sweep(path)
    store = FileStore(tmp_path / "out")
    assert run_sweep(sweep, workers=1, progress=False, handle_signals=False).exit_code == 0
    store.delete(spec_copy_key("cp"))
    summary = run_sweep(sweep, workers=1, progress=False, handle_signals=False)
    assert summary.done_before == sweep.spec.n_tasks and summary.ran == ()
    assert parse_sweep(json.loads(store.get_bytes(spec_copy_key("cp")))) == sweep

"""Where local commands find a sweep's results: relative to the spec file, or ``--output``."""

from __future__ import annotations

from pathlib import Path

import pytest
from kit.specs import grid_doc, write_spec

from sweep_controller.errors import FlagError
from sweep_controller.spec.location import absolute_output, load_local_sweep, relocated
from sweep_controller.spec.models import spec_hash


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file://results", "file:///base/dir/results"),
        ("results", "file:///base/dir/results"),
        ("file://a/b/", "file:///base/dir/a/b"),
        ("./results", "file:///base/dir/results"),
        ("../up/results", "file:///base/up/results"),  # a flag's path may climb (the spec's not)
        ("file:///data/results", "file:///data/results"),
        ("/data/results", "file:///data/results"),
        ("FILE://results", "file:///base/dir/results"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("s3://bucket", "s3://bucket"),
        ("gs://x", "gs://x"),  # not ours to judge here: the store refuses it
    ],
)
def test_relative_local_paths_are_read_from_the_base(uri: str, expected: str) -> None:
    assert absolute_output(uri, Path("/base/dir")) == expected


def test_home_is_expanded_not_joined(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert absolute_output("file://~/res", Path("/base")) == f"file://{tmp_path}/res"


def test_a_spec_file_s_relative_output_is_its_folder_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    path = write_spec(specs / "s.yaml", grid_doc("rel", "file://results"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for given in (path, Path("../specs/s.yaml")):
        sweep = load_local_sweep(given)
        assert sweep.spec.output.uri == f"file://{specs.resolve()}/results"
    # the hash ignores the output, so finished tasks stay valid wherever they are read from
    plain = load_local_sweep(path, output=None)
    assert spec_hash(plain) == spec_hash(load_local_sweep(path, output="s3://bucket/x"))


def test_absolute_and_s3_outputs_are_left_as_written(tmp_path: Path) -> None:
    for uri in (f"file://{tmp_path}/abs", "s3://bucket/prefix"):
        path = write_spec(tmp_path / "s.yaml", grid_doc("abs", uri))
        assert load_local_sweep(path).spec.output.uri == uri


def test_output_flag_replaces_the_spec_s_and_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_spec(tmp_path / "s.yaml", grid_doc("flag", "file://results"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert load_local_sweep(path, output="out").spec.output.uri == f"file://{cwd}/out"
    assert load_local_sweep(path, output="file://o2").spec.output.uri == f"file://{cwd}/o2"
    assert load_local_sweep(path, output="s3://b-1/p").spec.output.uri == "s3://b-1/p"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("gs://bucket", r'^--output: "gs://bucket" must be file://PATH, a plain PATH or s3://'),
        ("s3://Bad_Bucket", r'^--output: "s3://Bad_Bucket" must be file://PATH'),
        ("out\x01x", r"^--output: .* contains a control character$"),
        ("s3://bucket/a/../b", r"^--output: .* has a '\.\.' segment"),
        ("  ", r"^--output: is empty"),
    ],
)
def test_a_bad_output_flag_is_one_line_naming_the_flag(
    tmp_path: Path, output: str, message: str
) -> None:
    path = write_spec(tmp_path / "s.yaml", grid_doc("bad", "file://results"))
    with pytest.raises(FlagError, match=message):
        load_local_sweep(path, output=output)


def test_relocated_keeps_everything_but_the_output(tmp_path: Path) -> None:
    path = write_spec(tmp_path / "s.yaml", grid_doc("keep", "file://results", parallelism=3))
    sweep = load_local_sweep(path)
    moved = relocated(sweep, "s3://bucket/else", source="test")
    assert moved.spec.output.uri == "s3://bucket/else"
    assert moved.model_dump(exclude={"spec": {"output"}}) == sweep.model_dump(
        exclude={"spec": {"output"}}
    )

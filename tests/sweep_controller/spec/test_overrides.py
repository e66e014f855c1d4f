"""``--set KEY=VALUE``: where a key writes, how a value is read, and errors naming the ``--set``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kit.specs import sweep_doc, write_spec

from sweep_controller.errors import SpecError
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import spec_hash
from sweep_controller.spec.overrides import load_overridden, parse_override


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("spec.replicates=50", ("spec", "replicates"), 50),
        ("replicates=50", ("spec", "replicates"), 50),
        ("metadata.name=other", ("metadata", "name"), "other"),
        ("simulator.agents=2000", ("spec", "simulator", "agents"), 2000),
        ("agents=2000", ("spec", "simulator", "agents"), 2000),
        ("quorum=[0, 0.5]", ("spec", "parameters", "quorum"), [0, 0.5]),
        ("spec.parameters.quorum=[0,0.5]", ("spec", "parameters", "quorum"), [0, 0.5]),
        ("parameters.quorum.values=[1e-3]", ("spec", "parameters", "quorum", "values"), [0.001]),
        ("method=sobol", ("spec", "method"), "sobol"),
        ("samples=", ("spec", "samples"), None),
        ("queueName=a=b", ("spec", "queueName"), "a=b"),
    ],
)
def test_where_a_key_writes_and_how_its_value_is_read(
    text: str, path: tuple[str, ...], value: Any
) -> None:
    override = parse_override(text)
    assert (override.path, override.value) == (path, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("replicates", "--set replicates: expected KEY=VALUE, e.g. --set spec.replicates=50"),
        ("=5", "--set =5: expected KEY=VALUE, e.g. --set spec.replicates=50"),
        (
            "spec..seed=1",
            "--set spec..seed=1: 'spec..seed' has an empty part; write KEY as spec.a.b",
        ),
        ("seed=[1,", "--set seed=[1,: line 1, column 4: invalid YAML: expected the node content"),
    ],
)
def test_malformed_override_is_one_line(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_override(text)
    assert str(info.value).startswith(message)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "sweep.yaml", sweep_doc())


def test_overrides_make_another_spec_and_later_ones_win(spec: Path) -> None:
    plain = load_sweep(spec)
    sweep = load_overridden(
        spec, ["replicates=3", "spec.simulator.agents=300", "quorum=[0.2, 0.4]", "replicates=4"]
    )
    assert (sweep.spec.replicates, sweep.spec.simulator.agents) == (4, 300)
    assert sweep.spec.parameters["quorum"].values == [0.2, 0.4]
    assert sweep.spec.n_points == plain.spec.n_points * 2
    assert spec_hash(sweep) != spec_hash(plain)
    # setting what the file says changes nothing, hash included
    same = load_overridden(spec, ["replicates=2", "whale_ratio=[0.05, 0.15, 0.3]"])
    assert spec_hash(same) == spec_hash(plain)
    assert load_overridden(spec, []) == plain


def errors(spec: Path, *overrides: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_overridden(spec, overrides)
    return [line.removeprefix(f"{spec}: ") for line in str(info.value).splitlines()]


def test_errors_name_the_set_and_the_field(spec: Path) -> None:
    assert errors(spec, "spec.replicates=0", "simulator.agnts=5", "seed=3") == [
        "--set simulator.agnts=5: spec.simulator.agnts: unknown key; did you mean agents?",
        "--set spec.replicates=0: spec.replicates: 0 is outside [1, 2147483647]",
    ]
    assert errors(spec, "spec.parameters.whale_ratoi=[0.1]") == [
        "--set spec.parameters.whale_ratoi=[0.1]: spec.parameters.whale_ratoi: unknown "
        "parameter; did you mean whale_ratio?"
    ]
    assert errors(spec, "whale_ratio=0.2") == [
        "--set whale_ratio=0.2: spec.simulator.whale_ratio: also swept in "
        "spec.parameters.whale_ratio; set it in one place"
    ]
    assert errors(spec, "replicats=3") == [
        "--set replicats=3: spec.replicats: unknown key; did you mean replicates?"
    ]


def test_a_path_through_a_value_is_refused(spec: Path) -> None:
    assert errors(spec, "replicates.max=3") == [
        "--set replicates.max=3: spec.replicates is not a mapping (it is int); set "
        "spec.replicates whole"
    ]


def test_an_error_in_the_file_is_not_blamed_on_a_set(tmp_path: Path) -> None:
    path = write_spec(tmp_path / "sweep.yaml", sweep_doc(replicates=0))
    assert errors(path, "seed=5") == ["spec.replicates: 0 is outside [1, 2147483647]"]

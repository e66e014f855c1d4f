"""``python -m simulator`` end to end, as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
from kit.cli import govsim, python_module

from simulator.cli import govsim_parser, parse_params
from simulator.records.schema import SCHEMA_PATH, RunRecord
from simulator.seeding import run_seed

pytestmark = pytest.mark.slow  # subprocess sweeps and CLI runs: seconds each


def test_default_run_prints_a_readable_summary() -> None:
    out = govsim()
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"run 1/1  seed {run_seed(42, 0)}  agents 50  network erdos_renyi")
    assert "PASSED" in out.stdout or "FAILED" in out.stdout
    assert "proposal" in out.stdout and "flips" in out.stdout


def test_output_appends_creates_parents_and_keeps_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "runs.jsonl"
    first = govsim("--agents", "30", "--runs", "2", "--seed", "5", "--output", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    before = path.read_bytes()
    second = govsim(
        "--agents", "25", "--influence-model", "small_world", "--cascade-rounds", "3",
        "--mean-degree", "4", "--agent-records", "none", "--output", str(path),
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    after = path.read_bytes()
    assert after.startswith(before)
    lines = after.decode().splitlines()
    assert len(lines) == 3
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    records = [json.loads(line) for line in lines]
    for data in records:
        validator.validate(data)
        RunRecord.model_validate(data)
    assert [r["seed"] for r in records] == [run_seed(5, 0), run_seed(5, 1), run_seed(42, 0)]
    assert records[0]["params"]["mean_degree"] == 10  # the v0.5 default
    assert records[0]["params"]["rules"] == "v0.5" and records[0]["rules"] == "v0.5"
    assert records[2]["params"]["mean_degree"] == 4 and records[2]["agents"] is None
    assert records[2]["influence_model"] == "small_world"
    assert len(records[0]["agents"]) == 30
    check = subprocess.run(
        [sys.executable, "-m", "simulator.validate", "--file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_same_flags_same_records_apart_from_id_and_time(tmp_path: Path) -> None:
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        assert (
            govsim("--agents", "40", "--runs", "2", "--output", str(tmp_path / name)).returncode
            == 0
        )
        recs = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        for r in recs:
            del r["run_id"], r["timestamp"]
        outs.append(recs)
    assert outs[0] == outs[1]


def test_parquet_side_files_sit_beside_the_output(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    out = govsim("--agents", "20", "--agent-records", "parquet", "--output", str(path))
    assert out.returncode == 0, out.stderr
    rec = json.loads(path.read_text())
    assert rec["agent_records"]["mode"] == "parquet"
    assert (tmp_path / rec["agent_records"]["path"]).is_file()


@pytest.mark.parametrize("agent_records", ["parquet", "none", "inline"])
def test_traces_sit_beside_the_output_and_validate(tmp_path: Path, agent_records: str) -> None:
    path = tmp_path / "runs.jsonl"
    out = govsim(
        *("--rules", "v0.5", "--agents", "400", "--mean-degree", "12", "--runs", "3"),
        *("--traces", "parquet", "--agent-records", agent_records, "--output", str(path)),
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sum(r["flips"]["total"] for r in records) > 0
    for index, rec in enumerate(records):
        ref = rec["traces"]
        assert ref["path"] == f"runs.traces/{rec['run_id']}.parquet"
        table = pq.read_table(tmp_path / ref["path"])
        assert table.column_names == ["run", "agent", "round", "from_vote", "to_vote", "cause"]
        assert ref["count"] == table.num_rows == rec["flips"]["total"]
        assert set(table.column("run").to_pylist()) <= {index}
    check = python_module("simulator.validate", "--file", path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip().endswith("3 lines, 3 valid, 0 invalid")


def test_trace_rows_turn_the_initial_votes_into_the_final_ones(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    out = govsim(
        *("--rules", "v0.5", "--agents", "400", "--mean-degree", "12", "--seed", "3"),
        *("--schedule", "synchronous", "--traces", "parquet", "--output", str(path)),
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(path.read_text())
    votes = {a["id"]: a["initial_vote"] for a in rec["agents"]}
    rows = pq.read_table(tmp_path / rec["traces"]["path"]).to_pylist()
    assert rows
    for row in rows:
        assert votes[row["agent"]] == row["from_vote"] != row["to_vote"]
        votes[row["agent"]] = row["to_vote"]
    assert votes == {a["id"]: a["final_vote"] for a in rec["agents"]}


def test_refuses_to_append_to_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text('{"cut')
    out = govsim("--output", str(path))
    assert out.returncode == 2
    assert out.stderr.startswith("govsim: error: --output: ")
    assert len(out.stderr.splitlines()) == 1
    assert path.read_text() == '{"cut'


@pytest.mark.parametrize(
    "args,message",
    [
        (["--whale-ratio", "1.7"], "govsim: error: --whale-ratio: 1.7 is outside [0, 1]"),
        (["--agents", "-5"], "govsim: error: --agents: -5 is outside [1, 50000000]"),
        (["--agents", "many"], "govsim: error: --agents: 'many' is not an integer"),
        (["--runs", "0"], "govsim: error: --runs: 0 is outside [1, inf)"),
        (["--seed", "-1"], "govsim: error: --seed: -1 is outside [0, 9223372036854775807]"),
        (
            ["--conformity-threshold", "x"],
            "govsim: error: --conformity-threshold: 'x' is not a number",
        ),
        (["--rewire-prob", "2"], "govsim: error: --rewire-prob: 2 is outside [0, 1]"),
        (["--network-density", "-0.1"], "govsim: error: --network-density: -0.1 is outside [0, 1]"),
        (["--mean-degree", "0"], "govsim: error: --mean-degree: 0 is outside (0, inf)"),
        (["--cascade-rounds", "0"], "govsim: error: --cascade-rounds: 0 is outside [1, 10000]"),
        (
            ["--influence-model", "scale_free"],
            "govsim: error: --influence-model: 'scale_free' is not one of erdos_renyi, small_world",
        ),
        (
            ["--mean-degree", "4", "--network-density", "0.1"],
            "govsim: error: --mean-degree: not allowed with --network-density (give one)",
        ),
        (
            ["--agent-records", "csv"],
            "govsim: error: --agent-records: 'csv' is not one of inline, parquet, none",
        ),
        (["--agent-records", "parquet"], "govsim: error: --agent-records: parquet needs --output"),
        (["--traces", "csv"], "govsim: error: --traces: 'csv' is not one of none, parquet"),
        (["--traces", "parquet"], "govsim: error: --traces: parquet needs --output"),
        (["--archetype-mix", "retail=-1"], "govsim: error: --archetype-mix: retail=-1 is outside"),
        (["--archetype-mix", "whale=1"], "govsim: error: --archetype-mix: 'whale' is not one of"),
        (
            ["--archetype-mix", "retail"],
            "govsim: error: --archetype-mix: 'retail' is not NAME=WEIGHT",
        ),
        (["--archetype-mix", "retail=0"], "govsim: error: --archetype-mix: at least one weight"),
        (["--bogus"], "govsim: error: unrecognized arguments: --bogus"),
        (
            ["--rules", "v0.4", "--agents", "1000000"],
            "govsim: error: network: 1000000 agents at mean degree 2e+05",
        ),
        (
            ["--agents", "1000000", "--network-density", "0.2"],
            "govsim: error: network: 1000000 agents at mean degree 2e+05",
        ),
    ],
)
def test_bad_flags_exit_2_with_one_line_naming_the_flag(args: list[str], message: str) -> None:
    out = govsim(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith(message), out.stderr


def test_archetype_mix_flag_sets_the_population(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    out = govsim(
        "--agents", "40", "--whale-ratio", "0.25", "--archetype-mix", "contrarian=1,retail=1",
        "--output", str(path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rec = json.loads(path.read_text())
    kinds = sorted({a["archetype"] for a in rec["agents"]})
    assert kinds == ["contrarian", "retail", "whale"]
    assert sum(a["archetype"] == "whale" for a in rec["agents"]) == 10
    assert rec["params"]["archetype_mix"]["optimizer"] == 0


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("govsim")
    if not script.exists():
        pytest.skip(f"{script} not installed (pip install -e . creates it)")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("govsim 0.4")


def test_population_flags_select_the_v05_population() -> None:
    args = govsim_parser().parse_args(
        ["--rules", "v0.5", "--calibration", "uniswap", "--quorum", "0.1", "--mean-degree", "5"]
    )
    params = parse_params(args)
    assert (params.rules, params.calibration, params.quorum) == ("v0.5", "uniswap", 0.1)
    assert params.stake_tail is None and params.proposal_favourability is None
    assert parse_params(govsim_parser().parse_args([])).rules == "v0.5"


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--rules", "v0.4", "--calibration", "compound"],
            "--calibration: only used with --rules v0.5",
        ),
        (["--rules", "v0.4", "--quorum", "0.1"], "--quorum: only used with --rules v0.5"),
        (["--rules", "v0.6"], "--rules: 'v0.6' is not one of v0.4, v0.5"),
        (["--rules", "v0.5", "--calibration", "aave"], "is not one of none, compound, uniswap"),
        (["--rules", "v0.5", "--stake-tail", "1"], "--stake-tail: 1 is outside (0, 1)"),
        (["--rules", "v0.5", "--quorum", "-0.5"], "--quorum: -0.5 is outside [0, 1]"),
    ],
)
def test_bad_population_flags_name_the_flag(args: list[str], message: str) -> None:
    out = govsim(*args)
    assert out.returncode == 2
    assert out.stderr.strip() == f"govsim: error: {message}" or message in out.stderr
    assert "Traceback" not in out.stderr

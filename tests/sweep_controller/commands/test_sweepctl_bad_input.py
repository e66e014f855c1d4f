"""Bad input to ``sweepctl``: one table, one line each, the right exit code, never a traceback.

Each row is a spec file (or none), a command line and what the user must see: the exit code and
a pattern for the single line on stderr. The rows run through ``main(argv)`` in this process (a
traceback would fail the test as an uncaught exception); the inputs that need a real process (a
memory cap, a signal) run as subprocesses below the table.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kit.paths import REPO
from kit.waiting import wait_until

from sweep_controller.commands.main import main
from sweep_controller.errors import PermanentStorageError
from sweep_controller.exit_codes import exit_code_for

HEAD = "apiVersion: govsim.io/v1alpha1\nkind: Sweep\nmetadata: {name: bad}\nspec:\n"
SMALL = HEAD + "  simulator: {agents: 20}\n  output: {uri: 'file://{tmp}/out'}\n"
"""A valid one-run sweep, for the rows about flags and environment."""


def bomb() -> str:
    """A 'billion laughs' spec: nine levels of nine aliases, 9^9 strings, in about 700 bytes."""
    lines = ['    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"    {name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    body = "\n".join(lines)
    return (
        "apiVersion: govsim.io/v1alpha1\nkind: Sweep\nmetadata:\n  name: bad\n  annotations:\n"
        f"{body}\nspec:\n  parameters:\n    influence_model: {{values: *i}}\n"
    )


@dataclass(frozen=True)
class Row:
    """A bad input and its one-line refusal."""

    id: str
    argv: tuple[str, ...]
    line: str
    """A regular expression searched for in the single stderr line."""
    spec: str | None = None
    """The text of ``{spec}`` (``{tmp}`` is the test's directory); None: no spec file."""
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


def spec_row(id: str, body: str, line: str) -> Row:
    """``sweepctl validate`` of a spec whose ``spec:`` is ``body``."""
    return Row(id, ("validate", "{spec}"), line, spec=HEAD + body)


STORAGE_CODE = int(exit_code_for(PermanentStorageError("")))

ROWS = [
    # -- archetype weights: finite, with a finite sum --------------------------------------------
    spec_row(
        "mix-inf",
        "  simulator: {archetype_mix: {optimizer: .inf}}\n",
        r"spec\.simulator\.archetype_mix\.optimizer: inf is not a finite number$",
    ),
    spec_row(
        "mix-1e309",
        "  simulator: {archetype_mix: {optimizer: 1e309}}\n",
        r"spec\.simulator\.archetype_mix\.optimizer: inf is not a finite number$",
    ),
    spec_row(
        "mix-sum-overflows",
        "  simulator: {archetype_mix: {optimizer: 1e308, retail: 1e308}}\n",
        r"spec\.simulator\.archetype_mix: the weights add up to inf; their sum must be finite$",
    ),
    # -- every point against the simulator's limits ----------------------------------------------
    spec_row(
        "edges-fixed-density",
        "  simulator: {network_density: 1.0}\n"
        "  parameters:\n    agents: {min: 10, max: 200000, steps: 3}\n",
        r"spec\.parameters\.agents: network: 200000 agents at mean degree 2e\+05 means about "
        r"2e\+10 edges, over the limit of 1\.1e\+09",
    ),
    spec_row(
        "edges-corner-of-a-grid",
        "  parameters:\n    agents: {values: [100, 50000]}\n"
        "    network_density: {values: [0.1, 1.0]}\n",
        r"spec\.parameters: the point agents=50000, network_density=1: network: 50000 agents",
    ),
    spec_row(
        "edges-corner-of-a-sample",
        "  method: random\n  samples: 10\n"
        "  parameters:\n    agents: {min: 10, max: 60000}\n"
        "    network_density: {min: 0.1, max: 1.0}\n",
        r"spec\.parameters: the point agents=60000, network_density=1: network: 60000 agents",
    ),
    spec_row(
        "designs-too-large-lhs",
        "  method: latin_hypercube\n  samples: 1000000000\n"
        "  parameters:\n    whale_ratio: {min: 0, max: 1}\n",
        r"spec\.samples: 1000000000 is over the latin_hypercube limit of 1048576",
    ),
    spec_row(
        "designs-too-large-sobol",
        "  method: sobol\n  samples: 2147483647\n"
        "  parameters:\n    whale_ratio: {min: 0, max: 1}\n",
        r"spec\.samples: 2147483647 is over the sobol limit of 1048576",
    ),
    spec_row(
        "runs-over-the-limit",
        "  parameters:\n    whale_ratio: {min: 0, max: 1, steps: 10000000}\n"
        "    conformity_threshold: {min: 0, max: 1, steps: 10000000}\n",
        r"spec\.replicates: the sweep has 100000000000000 runs; at most 1000000000000$",
    ),
    # -- hostile YAML ---------------------------------------------------------------------------
    Row(
        "yaml-billion-laughs",
        ("validate", "{spec}"),
        r"invalid YAML: more than 1000000 nodes with its aliases expanded$",
        spec=bomb(),
    ),
    Row(
        "yaml-nested-100000-deep",
        ("validate", "{spec}"),
        r"invalid YAML: nested deeper than 64 levels$",
        spec=HEAD + "  simulator: " + "[" * 100_000 + "]" * 100_000 + "\n",
    ),
    Row(
        "yaml-nested-mappings",
        ("validate", "{spec}"),
        r"invalid YAML: nested deeper than 64 levels$",
        spec=HEAD + "  simulator: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
    ),
    spec_row("yaml-alias-cycle", "  simulator: &a {x: *a}\n", r"an alias refers to its own anchor"),
    spec_row(
        "yaml-integer-of-5000-digits",
        "  seed: " + "9" * 5000 + "\n",
        r"invalid YAML: an integer of 5000 digits is too long$",
    ),
    spec_row(
        "yaml-list-as-key",
        "  ? [a, b]\n  : 1\n",
        r"invalid YAML: a mapping key must be a scalar, not a list or a mapping$",
    ),
    spec_row(
        "yaml-python-tag",
        "  seed: !!python/object/apply:os.system ['true']\n",
        r"invalid YAML: could not determine a constructor for the tag",
    ),
    spec_row(
        "yaml-duplicate-key",
        "  seed: 1\n  seed: 2\n",
        r"line 6, column 3: invalid YAML: duplicate key 'seed'$",
    ),
    Row(
        "yaml-over-1-MiB",
        ("validate", "{spec}"),
        r"larger than 1048576 bytes",
        spec=HEAD + "  seed: 1\n" + "#" * (1 << 20) + "\n",
    ),
    Row("yaml-empty", ("validate", "{spec}"), r"got an empty document$", spec=""),
    Row("yaml-a-list", ("validate", "{spec}"), r"got list$", spec="- 1\n- 2\n"),
    Row("spec-missing", ("validate", "{tmp}/missing.yaml"), r"missing\.yaml: cannot read: "),
    Row("spec-a-directory", ("validate", "{tmp}"), r": cannot read: Is a directory$"),
    # -- strict types ---------------------------------------------------------------------------
    spec_row(
        "values-true",
        "  parameters:\n    whale_ratio: {values: [true]}\n",
        r"spec\.parameters\.whale_ratio\.values\.0: true is not a number$",
    ),
    spec_row(
        "replicates-true", "  replicates: true\n", r"spec\.replicates: true is not an integer$"
    ),
    spec_row(
        "replicates-string", '  replicates: "5"\n', r"spec\.replicates: '5' is not an integer$"
    ),
    spec_row("seed-string", '  seed: "5"\n', r"spec\.seed: '5' is not an integer$"),
    spec_row("seed-date", "  seed: 2001-12-14\n", r"spec\.seed: 2001-12-14 is not an integer$"),
    spec_row(
        "samples-true",
        "  method: random\n  samples: true\n  parameters:\n    whale_ratio: {min: 0, max: 1}\n",
        r"spec\.samples: true is not an integer$",
    ),
    spec_row(
        "agents-true",
        "  simulator: {agents: true}\n",
        r"spec\.simulator\.agents: true is not an integer$",
    ),
    spec_row(
        "whale-ratio-string",
        '  simulator: {whale_ratio: "0.5"}\n',
        r"spec\.simulator\.whale_ratio: '0\.5' is not a number$",
    ),
    spec_row(
        "mix-weight-true",
        "  simulator: {archetype_mix: {retail: true}}\n",
        r"spec\.simulator\.archetype_mix\.retail: true is not a number$",
    ),
    spec_row(
        "min-true",
        "  parameters:\n    whale_ratio: {min: true, max: 1, steps: 2}\n",
        r"spec\.parameters\.whale_ratio\.min: true is not a number$",
    ),
    spec_row(
        "steps-true",
        "  parameters:\n    whale_ratio: {min: 0, max: 1, steps: true}\n",
        r"spec\.parameters\.whale_ratio\.steps: true is not an integer$",
    ),
    spec_row(
        "values-numeric-string",
        '  parameters:\n    whale_ratio: {values: ["0.1"]}\n',
        r"spec\.parameters\.whale_ratio\.values\.0: '0\.1' is not a number$",
    ),
    spec_row(
        "steps-1-drops-max",
        "  parameters:\n    whale_ratio: {min: 0.1, max: 0.9, steps: 1}\n",
        r"spec\.parameters\.whale_ratio\.steps: 1 step gives min alone and drops max 0\.9",
    ),
    spec_row(
        "values-nan",
        "  parameters:\n    whale_ratio: {values: [.nan]}\n",
        r"spec\.parameters\.whale_ratio\.values\.0: nan is not a finite number$",
    ),
    spec_row(
        "min-nan",
        "  parameters:\n    whale_ratio: {min: .nan, max: 0.5, steps: 2}\n",
        r"spec\.parameters\.whale_ratio\.min: nan is not a finite number$",
    ),
    spec_row(
        "simulator-nan",
        "  simulator: {conformity_threshold: .nan}\n",
        r"spec\.simulator\.conformity_threshold: nan is not a finite number$",
    ),
    # -- one limit per parameter, as govsim has it ----------------------------------------------
    spec_row(
        "mean-degree-inf",
        "  simulator: {mean_degree: .inf}\n",
        r"spec\.simulator\.mean_degree: inf is not a finite number$",
    ),
    spec_row(
        "mean-degree-inf-swept",
        "  parameters:\n    mean_degree: {min: 1, max: .inf}\n  method: random\n  samples: 4\n",
        r"spec\.parameters\.mean_degree\.max: inf is not a finite number$",
    ),
    spec_row(
        "seed-10^26",
        "  seed: 100000000000000000000000000\n",
        r"spec\.seed: 100000000000000000000000000 is outside \[0, 9223372036854775807\]$",
    ),
    spec_row(
        "seed-negative", "  seed: -1\n", r"spec\.seed: -1 is outside \[0, 9223372036854775807\]$"
    ),
    spec_row(
        "agents-over-the-limit",
        "  simulator: {agents: 50000001, mean_degree: 2}\n",
        r"spec\.simulator\.agents: 50000001 is outside \[1, 50000000\]$",
    ),
    spec_row(
        "whale-ratio-max",
        "  parameters:\n    whale_ratio: {min: 0.1, max: 1.7, steps: 3}\n",
        r"spec\.parameters\.whale_ratio\.max: 1\.7 is outside \[0, 1\]$",
    ),
    # -- output URIs ----------------------------------------------------------------------------
    spec_row(
        "uri-nul-byte",
        '  output: {uri: "file://results\\0x"}\n',
        r'spec\.output\.uri: "file://results\\u0000x" contains a control character$',
    ),
    spec_row(
        "uri-dot-dot",
        "  output: {uri: 'file://results/../../etc'}\n",
        r"spec\.output\.uri: \"file://results/\.\./\.\./etc\" has a '\.\.' segment",
    ),
    spec_row(
        "uri-s3-dot-dot",
        "  output: {uri: 's3://bucket/a/../b'}\n",
        r"spec\.output\.uri: \"s3://bucket/a/\.\./b\" has a '\.\.' segment",
    ),
    spec_row("uri-scheme", "  output: {uri: 'ftp://x'}\n", r"must be file://PATH or s3://BUCKET"),
    spec_row(
        "unknown-key",
        "  replicate: 2\n",
        r"spec\.replicate: unknown key; did you mean replicates\?$",
    ),
    spec_row(
        "sobol-not-a-power-of-2",
        "  method: sobol\n  samples: 100\n  parameters:\n    whale_ratio: {min: 0, max: 1}\n",
        r"spec\.samples: 100 is not a power of 2 \(sobol needs one: 64 or 128\)$",
    ),
    # -- flags and outputs ----------------------------------------------------------------------
    Row(
        "collect-out-directory",
        ("collect", "{spec}", "--out", "{tmp}/dir.csv"),
        r"--out: '.*/dir\.csv' is a directory; give a file \(\.parquet or \.csv\)$",
        spec=SMALL,
    ),
    Row(
        "collect-out-under-a-file",
        ("collect", "{spec}", "--out", "{tmp}/file.csv/runs.csv"),
        r"--out: '.*/file\.csv/runs\.csv': '.*/file\.csv' is not a directory$",
        spec=SMALL,
    ),
    Row(
        "collect-out-unwritable",
        ("collect", "{spec}", "--out", "/proc/sys/runs.csv"),
        r"--out: '/proc/sys/runs\.csv': cannot write in '/proc/sys'$",
        spec=SMALL,
    ),
    Row(
        "collect-out-suffix",
        ("collect", "{spec}", "--out", "{tmp}/runs.xlsx"),
        r"--out: '.*runs\.xlsx' must end in \.parquet or \.csv$",
        spec=SMALL,
    ),
    Row(
        "report-out-a-file",
        ("report", "{spec}", "--out", "{tmp}/file.csv"),
        r"--out: '.*/file\.csv' is a file, not a directory$",
        spec=SMALL,
    ),
    Row(
        "report-out-unwritable",
        ("report", "{spec}", "--out", "/proc/sys/report"),
        r"--out: '/proc/sys/report': cannot write in '/proc/sys'$",
        spec=SMALL,
    ),
    # -- readers of results: nothing there is one line naming where they looked ----------------
    Row(
        "collect-nothing-done",
        ("collect", "{spec}", "--out", "{tmp}/runs.csv"),
        r"^sweepctl: error: bad: no runs found in file:///.*/out/bad/ \(0 of 1 tasks are done\)",
        spec=SMALL,
        code=1,
    ),
    Row(
        "report-nothing-done",
        ("report", "{spec}", "--out", "{tmp}/report"),
        r"^sweepctl: error: bad: no runs found in file:///.*/out/bad/ \(0 of 1 tasks are done\)",
        spec=SMALL,
        code=1,
    ),
    Row(
        "collect-output-elsewhere",
        ("collect", "{spec}", "--output", "{tmp}/elsewhere", "--out", "{tmp}/runs.csv"),
        r"^sweepctl: error: bad: no runs found in file:///.*/elsewhere/bad/ ",
        spec=SMALL,
        code=1,
    ),
    Row(
        "status-output-scheme",
        ("status", "{spec}", "--output", "gs://bucket"),
        r'^sweepctl: error: --output: "gs://bucket" must be file://PATH, a plain PATH or s3://',
        spec=SMALL,
    ),
    Row(
        "run-output-dotdot",
        ("run", "{spec}", "--output", "s3://bucket/a/../b"),
        r"^sweepctl: error: --output: \"s3://bucket/a/\.\./b\" has a '\.\.' segment",
        spec=SMALL,
    ),
    # -- analyze: the design must allow Sobol indices, and some of it must be done --------------
    Row(
        "analyze-a-grid",
        ("analyze", "{spec}", "--out", "{tmp}/indices"),
        r"^sweepctl: error: .*sweep\.yaml: spec\.method: grid: Sobol indices need a sampled design "
        r"\(latin_hypercube, random, sobol\); `sweepctl report` shows a grid's main effects$",
        spec=SMALL,
    ),
    Row(
        "analyze-too-few-points",
        ("analyze", "{spec}", "--out", "{tmp}/indices"),
        r"sweep\.yaml: spec\.samples: 64 points are too few for Sobol indices of a sobol design; "
        r"at least 128, or design: saltelli$",
        spec=SMALL
        + "  method: sobol\n  samples: 64\n  parameters: {whale_ratio: {min: 0, max: 1}}\n",
    ),
    Row(
        "analyze-too-few-base-samples",
        ("analyze", "{spec}", "--out", "{tmp}/indices"),
        r"sweep\.yaml: spec\.samples: 16 base samples are too few for Sobol indices; at least 32$",
        spec=SMALL
        + "  method: sobol\n  samples: 16\n  design: saltelli\n"
        + "  parameters: {whale_ratio: {min: 0, max: 1}}\n",
    ),
    Row(
        "analyze-nothing-done",
        ("analyze", "{spec}", "--out", "{tmp}/indices"),
        r"^sweepctl: error: bad: no runs found in file:///.*/out/bad/ \(0 of 128 tasks are done\); "
        r"run `sweepctl run` first, or give the output location the sweep wrote to$",
        spec=SMALL + "  method: latin_hypercube\n  samples: 128\n"
        "  parameters: {whale_ratio: {min: 0, max: 1}}\n",
        code=1,
    ),
    Row(
        "analyze-confidence-outside",
        ("analyze", "{spec}", "--confidence", "95"),
        r"^sweepctl analyze: error: argument --confidence: 95 is outside \(0, 1\)",
        spec=SMALL,
    ),
    Row(
        "analyze-resamples-1",
        ("analyze", "{spec}", "--resamples", "1"),
        r"^sweepctl analyze: error: argument --resamples: 1 is outside \[2, 100000\]",
        spec=SMALL,
    ),
    Row(
        "analyze-output-a-file",
        ("analyze", "{spec}", "--out", "{tmp}/file.csv"),
        r"--out: '.*/file\.csv' is a file, not a directory$",
        spec=SMALL + "  method: latin_hypercube\n  samples: 128\n"
        "  parameters: {whale_ratio: {min: 0, max: 1}}\n",
    ),
    Row(
        "analyze-missing-spec",
        ("analyze", "{tmp}/missing.yaml"),
        r"missing\.yaml: cannot read: ",
    ),
    Row(
        "expand-task-out-of-range",
        ("expand", "{spec}", "--task", "5"),
        r"task index 5 is outside \[0, 0\] \(sweep bad has 1 tasks\)$",
        spec=SMALL,
    ),
    Row(
        "expand-negative-limit",
        ("expand", "{spec}", "--limit", "-1"),
        r"^sweepctl expand: error: argument --limit: -1 is outside \[0, inf\)",
        spec=SMALL,
    ),
    Row(
        "worker-index-not-an-integer",
        ("worker", "{spec}", "--index", "1e3"),
        r"--index: '1e3' is not an integer$",
        spec=SMALL,
    ),
    Row(
        "run-workers-0",
        ("run", "{spec}", "--workers", "0"),
        r"^sweepctl run: error: argument --workers: 0 is outside \[1, inf\)",
        spec=SMALL,
    ),
    Row(
        "run-metrics-port-range",
        ("run", "{spec}", "--metrics-port", "70000"),
        r"argument --metrics-port: 70000 is outside \[0, 65535\]",
        spec=SMALL,
    ),
    Row(
        "run-metrics-address",
        ("run", "{spec}", "--metrics-port", "0", "--metrics-address", "everywhere"),
        r"argument --metrics-address: 'everywhere' is not an IP address",
        spec=SMALL,
    ),
    Row(
        "run-metrics-port-taken",
        ("run", "{spec}", "--metrics-port", "{busy_port}"),
        r"--metrics-port: cannot listen on 127\.0\.0\.1:\d+: ",
        spec=SMALL,
    ),
    Row("unknown-command", ("frobnicate",), r"argument COMMAND: invalid choice: 'frobnicate'"),
    # -- cluster commands: refused before any request ---------------------------------------------
    Row(
        "submit-bad-spec",
        ("submit", "{spec}", "--kubeconfig", "{tmp}/missing"),
        r"sweep\.yaml: spec\.replicates: ",
        spec=HEAD + "  replicates: 0\n",
    ),
    Row(
        "kubeconfig-missing",
        ("list", "--kubeconfig", "{tmp}/missing"),
        r"--kubeconfig: '.*/missing': no such file$",
    ),
    Row(
        "namespace-not-a-name",
        ("list", "-n", "Bad_NS"),
        r"argument -n/--namespace: 'Bad_NS' is not a namespace name",
    ),
    Row("list-output", ("list", "-o", "xml"), r"argument -o/--output: invalid choice: 'xml'"),
    Row(
        "watch-timeout-zero",
        ("watch", "x", "--timeout", "0"),
        r"argument --timeout: '0' must be a number of seconds above 0",
    ),
    Row(
        "watch-interval-nan",
        ("watch", "x", "--interval", "nan"),
        r"argument --interval: 'nan' must be a number of seconds above 0",
    ),
    Row("logs-index-negative", ("logs", "x", "--index", "-1"), r"argument --index: -1 is outside"),
    Row(
        "logs-follow-all", ("logs", "x", "--follow"), r"--follow: follows one pod; give --index I$"
    ),
    # -- environment ----------------------------------------------------------------------------
    Row(
        "s3-endpoint-not-a-url",
        ("status", "{spec}"),
        r"AWS_ENDPOINT_URL_S3: 'not a url' is not an endpoint URL \(http\[s\]://HOST\[:PORT\]\)",
        spec=HEAD + "  output: {uri: 's3://bucket/prefix'}\n",
        code=STORAGE_CODE,
        env={"AWS_ENDPOINT_URL_S3": "not a url"},
    ),
    Row(
        "s3-endpoint-bad-ipv6",
        ("status", "{spec}"),
        r"AWS_ENDPOINT_URL_S3: 'http://\[::1' is not an endpoint URL .*: Invalid IPv6 URL$",
        spec=HEAD + "  output: {uri: 's3://bucket/prefix'}\n",
        code=STORAGE_CODE,
        env={"AWS_ENDPOINT_URL_S3": "http://[::1"},
    ),
    Row(
        "s3-endpoint-port",
        ("status", "{spec}"),
        r"AWS_ENDPOINT_URL: 'http://host:99999' is not an endpoint URL",
        spec=HEAD + "  output: {uri: 's3://bucket/prefix'}\n",
        code=STORAGE_CODE,
        env={"AWS_ENDPOINT_URL": "http://host:99999"},
    ),
]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def only_line(stderr: str) -> str:
    """The one non-empty line of ``stderr`` (the test fails on none, several or a traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_is_one_line(
    row: Row,
    tmp_path: Path,
    busy_port: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "file.csv").write_text("not a directory\n")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    fill = {"tmp": str(tmp_path), "spec": str(tmp_path / "sweep.yaml"), "busy_port": busy_port}
    if row.spec is not None:
        (tmp_path / "sweep.yaml").write_text(row.spec.replace("{tmp}", str(tmp_path)))
    code = main([arg.format(**fill) for arg in row.argv])
    captured = capsys.readouterr()
    line = only_line(captured.err)
    assert code == row.code, line
    assert re.search(row.line, line), line
    assert line.startswith("sweepctl"), line
    assert not (tmp_path / "out").exists()  # nothing was run or written
    assert not any((tmp_path / name).exists() for name in ("runs.csv", "report", "indices"))


def test_a_zip_group_pairs_its_entries_instead_of_crossing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Large agents with a small density, small agents with a large one: every point fits."""
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        HEAD + "  parameters:\n    agents: {values: [100, 200000]}\n"
        "    network_density: {values: [1.0, 0.0001]}\n  zip: [[agents, network_density]]\n"
    )
    assert main(["validate", str(spec)]) == 0
    assert "points: 2" in capsys.readouterr().out


# --- inputs that need a process of their own -----------------------------------------------------

HUGE = (
    HEAD + "  simulator: {agents: 20}\n  parameters:\n"
    "    whale_ratio: {min: 0, max: 1, steps: 1000000}\n"
    "    conformity_threshold: {min: 0, max: 1, steps: 1000000}\n"
    "  output: {uri: 'file://{tmp}/out'}\n"
)
"""A grid of 10^12 runs, one a task: 10^12 tasks."""
MEMORY_CAP = 3 << 30
"""Address space given to a command over a huge sweep: listing its tasks would need far more."""


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _sweepctl(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sweep_controller", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=_capped,
        start_new_session=True,
    )


@pytest.mark.slow
def test_status_and_run_of_a_10_12_task_sweep_stay_small(tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    spec.write_text(HUGE.replace("{tmp}", str(tmp_path)))
    runner = _sweepctl("run", str(spec), "--workers", "1", "--no-progress", cwd=tmp_path)
    assert runner.stderr is not None
    first = runner.stderr.readline()  # the runner says how much is left, then starts
    assert "1000000000000 tasks, 1000000000000 runs; 0 done, 1000000000000 to run" in first
    manifests = tmp_path / "out" / "bad" / "tasks"
    wait_until(
        lambda: manifests.is_dir() and any(manifests.glob("*.manifest.json")),
        timeout=120,
        what="the runner's first committed task",
    )
    runner.send_signal(signal.SIGINT)
    _, rest = runner.communicate(timeout=120)
    assert runner.returncode == 130, first + rest
    assert "Traceback" not in rest
    done = len(list(manifests.glob("*.manifest.json")))
    assert done >= 1
    status = _sweepctl("status", str(spec), "--format", "json", cwd=tmp_path)
    out, err = status.communicate(timeout=120)
    assert status.returncode == 0, err
    assert f'"done": {done},' in out and f'"pending": {10**12 - done},' in out


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "status", "expand"])
def test_ctrl_c_is_one_line_and_exit_130(command: str, tmp_path: Path) -> None:
    """SIGINT while the command waits to read its spec (a FIFO with no writer yet)."""
    fifo = tmp_path / "sweep.yaml"
    os.mkfifo(fifo)
    proc = _sweepctl(command, str(fifo), cwd=tmp_path)
    # Opening the FIFO for writing returns once the command has opened it for reading: from then
    # on it is blocked in read(), deep inside the command.
    writer = os.open(fifo, os.O_WRONLY)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130
    assert only_line(err) == "sweepctl: interrupted"
    assert out == ""

"""``sweepctl report``: figures exist, decode, appear on both index pages and fit the design."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from kit.cli import sweepctl
from kit.runs import open_output
from kit.specs import grid_doc, write_spec
from matplotlib.image import imread

from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.report.measures import MEASURES
from sweep_controller.analysis.results import collect
from sweep_controller.execution.layout import manifest_key
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.loading import load_sweep

pytestmark = pytest.mark.slow  # subprocess sweeps and CLI runs: seconds each


def finished(tmp_path: Path, name: str, **spec: object) -> Path:
    path = write_spec(tmp_path / f"{name}.yaml", grid_doc(name, f"file://{tmp_path}/out", **spec))
    assert (
        run_sweep(load_sweep(path), workers=1, progress=False, handle_signals=False).exit_code == 0
    )
    return path


def assert_png(path: Path) -> None:
    """A real, non-blank image of a useful size."""
    assert path.stat().st_size > 10_000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    assert float(np.std(image[..., :3])) > 0.05  # not a blank canvas


def pngs_referenced(out: Path) -> tuple[set[str], set[str]]:
    html = (out / "index.html").read_text()
    md = (out / "index.md").read_text()
    return set(re.findall(r'<img src="([^"]+)"', html)), set(
        re.findall(r"!\[[^]]*\]\(([^)]+)\)", md)
    )


def svg_texts(path: Path) -> list[str]:
    """The text of every ``<text>`` element of an SVG (which must parse as XML)."""
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [
        "".join(node.itertext()).strip() for node in root.iter("{http://www.w3.org/2000/svg}text")
    ]


def test_two_parameter_grid_report(tmp_path: Path) -> None:
    spec = finished(tmp_path, "two")
    out = tmp_path / "report"
    result = sweepctl("report", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "index.html")
    files = {p.name for p in out.iterdir()}
    expected_pngs = {
        "param-whale_ratio.png",
        "param-conformity_threshold.png",
        "heatmap-whale_ratio-x-conformity_threshold.png",
        "sensitivity.png",
    }
    expected_svgs = {name.replace(".png", ".svg") for name in expected_pngs}
    # no temporary files left
    assert files == expected_pngs | expected_svgs | {"index.html", "index.md"}
    for name in expected_pngs:
        assert_png(out / name)
    in_html, in_md = pngs_referenced(out)
    assert in_html == in_md == expected_pngs
    md, html = (out / "index.md").read_text(), (out / "index.html").read_text()
    for svg in expected_svgs:  # both pages link every SVG
        assert f"[SVG]({svg})" in md and f'<a href="{svg}">SVG</a>' in html
    assert "| runs collected | 18 of 18 |" in md and "| points | 6 |" in md
    share = r"(\d+(\.\d)?%|<0\.1%|>99\.9%)"
    interval = rf"{share} \[{share}, {share}\]"
    assert re.search(rf"\| pass rate \(% of runs\) \[95% CI\] \| {interval} \|", md), md
    assert md.count("\n| 5 | 0.3 | 0.8 | 3 |") == 1  # the points table: point 5 and its 3 runs
    # how often the cascade changed the outcome, overall and per swept value
    changed = rf"outcome changed by the cascade \(% of runs\) \[95% CI\] \| {interval} \|"
    assert re.search(r"\| " + changed, md), md
    assert re.search(r"\| mean flips per run \(flips\) \[95% CI\] \| \d+\.\d \[", md), md
    # every figure's SVG is valid XML whose text holds the outcome and parameter labels
    texts = svg_texts(out / "param-whale_ratio.svg")
    assert "whale_ratio (share of agents)" in texts
    for label in ("pass rate (% of runs)", "flips per run (flips)", "cascade rounds run (rounds)"):
        assert label in texts, texts
    for svg in expected_svgs:
        assert svg_texts(out / svg)


def test_v05_sweep_reports_how_often_the_cascade_changes_the_outcome(tmp_path: Path) -> None:
    """A v0.5 sweep (population, turnout, quorum) runs, collects and reports end to end."""
    simulator = {"agents": 200, "rules": "v0.5", "calibration": "compound", "cascade_rounds": 50}
    spec = finished(tmp_path, "v05", simulator=simulator)
    out = tmp_path / "report"
    result = sweepctl("report", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    md = (out / "index.md").read_text()
    assert "outcome changed by the cascade" in md
    table = tmp_path / "runs.csv"
    assert sweepctl("collect", spec, "--out", table).returncode == 0
    rows = list(csv.DictReader(table.read_text().splitlines()))
    turnout = [float(r["turnout_share"]) for r in rows]
    assert len(rows) == 18 and all(0 < t < 1 for t in turnout)  # v0.5: not everyone votes
    assert {r["cascade_ending"] for r in rows} <= {"converged", "cycle", "round_cap"}


def test_one_parameter_grid_has_no_heatmap(tmp_path: Path) -> None:
    spec = finished(tmp_path, "one", parameters={"whale_ratio": {"values": [0.05, 0.2, 0.4]}})
    out = tmp_path / "report"
    assert sweepctl("report", spec, "--out", out).returncode == 0
    names = {p.name for p in out.glob("*.png")}
    assert names == {"param-whale_ratio.png", "sensitivity.png"}
    assert not list(out.glob("heatmap-*"))


def test_sampled_design_gets_binned_figures_and_sensitivity(tmp_path: Path) -> None:
    spec = finished(
        tmp_path,
        "sobol",
        parameters={
            "whale_ratio": {"min": 0.01, "max": 0.4},
            "mean_degree": {"min": 2, "max": 20, "scale": "log"},
        },
        simulator={"agents": 60},
        method="sobol",
        samples=32,
        replicates=2,
        runsPerTask=16,
    )
    sweep = load_sweep(spec)
    files = write_report(collect(sweep), tmp_path / "report")
    names = {p.name for p in files.images}
    assert names == {"param-whale_ratio.png", "param-mean_degree.png", "sensitivity.png"}
    for path in files.images:
        assert_png(path)
    md = files.index_md.read_text()
    assert "## Sensitivity" in md and "Spearman rho" in md
    # 32 points are too few for Sobol indices: the binned index stays, and the report says why
    assert "No Sobol indices: spec.samples: 32 points are too few for Sobol indices" in md
    sensitivity = md.split("\n## Sensitivity\n")[1].split("\n## Points\n")[0]
    assert sensitivity.count("| mean_degree |") == len(MEASURES)  # one row per outcome
    outcomes = md.split("\n## Sensitivity\n")[0] + md.split("\n## Points\n")[1]
    assert "[-" not in outcomes  # intervals stay within what each outcome can be
    assert "## Points" in md  # 32 points: small enough to list


def test_a_partial_sweep_is_reported_as_incomplete(tmp_path: Path) -> None:
    spec = finished(tmp_path, "part")
    _, store = open_output(spec)
    store.delete(manifest_key("part", 4))
    out = tmp_path / "report"
    result = sweepctl("report", spec, "--out", out)
    assert result.returncode == 0
    assert "1 of 5 tasks are not done" in result.stderr
    assert "Incomplete: 1 task(s) not done" in (out / "index.md").read_text()
    assert "| runs collected | 16 of 18 |" in (out / "index.md").read_text()
    strict = sweepctl("report", spec, "--out", tmp_path / "strict", "--require-complete")
    assert strict.returncode == 1


def test_nothing_to_report_is_an_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("empty", f"file://{tmp_path}/out"))
    result = sweepctl("report", spec, "--out", tmp_path / "report")
    assert result.returncode == 1
    assert result.stderr.startswith(f"sweepctl: error: empty: no runs found in file://{tmp_path}/")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "report").exists()


@pytest.mark.parametrize("example", ["zipped.yaml"])
def test_example_zipped_report_groups_zipped_parameters(tmp_path: Path, example: str) -> None:
    doc = grid_doc(
        "zip",
        f"file://{tmp_path}/out",
        parameters={
            "whale_ratio": {"values": [0.05, 0.3]},
            "conformity_threshold": {"values": [0.8, 0.4]},
            "influence_model": {"values": ["erdos_renyi", "small_world"]},
        },
        zip=[["whale_ratio", "conformity_threshold"]],
    )
    spec = write_spec(tmp_path / example, doc)
    run_sweep(load_sweep(spec), workers=1, progress=False, handle_signals=False)
    files = write_report(collect(load_sweep(spec)), tmp_path / "report")
    names = {p.name for p in files.images}
    # The zipped pair is one axis: one figure, and one heatmap against the other axis.
    assert names == {
        "param-whale_ratio.png",
        "param-influence_model.png",
        "heatmap-whale_ratio-x-influence_model.png",
        "sensitivity.png",
    }
    assert "zipped with conformity_threshold" in files.index_md.read_text()

"""The built image, run with podman the way a Kubernetes pod runs it.

The pod and container specs below carry the security settings the worker pods use (numeric
non-root user, read-only root filesystem, an emptyDir at /tmp, no capabilities); the runner
reproduces them faithfully, so a missing /tmp volume fails here as it would in a cluster.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import pytest
from kit.podman import BuiltImage

from simulator.records.schema import RunRecord
from simulator.seeding import run_seed

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

UID = 10001
POD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID},
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}


def worker_container(command: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A container dict with the worker pods' security settings and /tmp volume."""
    container: dict[str, Any] = {
        "name": "worker",
        "image": "govsim",
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **fields,
    }
    if command is not None:
        container["command"] = command
    return container


def python(code: str) -> list[str]:
    """A container command running `python -c CODE`."""
    return ["python", "-c", code]


def test_image_metadata(built_image: BuiltImage) -> None:
    config = built_image.config["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["sweepctl"]
    assert config["Cmd"] == ["worker", "--help"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == importlib.metadata.version("govsim")
    assert labels["org.opencontainers.image.revision"] != ""
    print(f"image {built_image.name}: {built_image.size_bytes / 1e6:.0f} MB")


def test_default_user_is_numeric_and_not_root(built_image: BuiltImage, tmp_path: Path) -> None:
    code = "import os; print(os.getuid(), os.getgid(), os.environ['HOME'])"
    proc = built_image.run({"name": "c", "command": python(code)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(UID), str(UID), "/tmp"]


def test_sweepctl_help(built_image: BuiltImage, tmp_path: Path) -> None:
    proc = built_image.run(worker_container(args=["--help"]), tmp_path, pod_spec=POD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: sweepctl")


def test_simulator_runs_on_a_read_only_root(built_image: BuiltImage, tmp_path: Path) -> None:
    script = (
        "python -m simulator --agents 100 --runs 2 --seed 42 --output /tmp/runs.jsonl >/dev/null"
        " && cat /tmp/runs.jsonl"
    )
    proc = built_image.run(worker_container(["sh", "-c", script]), tmp_path, pod_spec=POD)
    assert proc.returncode == 0, proc.stderr
    records = [RunRecord.model_validate_json(line) for line in proc.stdout.splitlines()]
    assert [(r.run_index, r.seed, r.params.agents) for r in records] == [
        (0, run_seed(42, 0), 100),
        (1, run_seed(42, 1), 100),
    ]


def test_root_filesystem_is_read_only_even_for_root(
    built_image: BuiltImage, tmp_path: Path
) -> None:
    container = worker_container(
        ["sh", "-c", "touch /etc/probe; touch /opt/venv/probe; touch /tmp/probe && echo tmp-ok"]
    )
    container["securityContext"]["runAsUser"] = 0
    container["securityContext"]["runAsNonRoot"] = False
    proc = built_image.run(container, tmp_path, pod_spec=POD)
    assert proc.stderr.count("Read-only file system") == 2, proc.stderr
    assert proc.stdout.strip() == "tmp-ok"


def test_tmp_is_read_only_without_an_empty_dir(built_image: BuiltImage, tmp_path: Path) -> None:
    container = worker_container(["sh", "-c", "touch /tmp/probe"], volumeMounts=[])
    proc = built_image.run(container, tmp_path, pod_spec=POD)
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr


def test_matplotlib_works_on_a_read_only_root(built_image: BuiltImage, tmp_path: Path) -> None:
    code = (
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
        "fig, ax = plt.subplots(); ax.plot([0, 1], [1, 0]); fig.savefig('/tmp/plot.png'); "
        "import os; print(matplotlib.get_cachedir(), os.path.getsize('/tmp/plot.png') > 0)"
    )
    proc = built_image.run(worker_container(python(code)), tmp_path, pod_spec=POD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["/tmp/matplotlib", "True"]
    assert "not a writable directory" not in proc.stderr


def test_no_build_tools_or_pip_in_the_image(built_image: BuiltImage, tmp_path: Path) -> None:
    code = (
        "import importlib.util, json, shutil; "
        "tools = {t: shutil.which(t) for t in ('gcc', 'cc', 'make', 'pip', 'pip3')}; "
        "tools['pip module'] = importlib.util.find_spec('pip') and 'present'; "
        "print(json.dumps(tools))"
    )
    proc = built_image.run(worker_container(python(code)), tmp_path, pod_spec=POD)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == dict.fromkeys(
        ("gcc", "cc", "make", "pip", "pip3", "pip module")
    )


def test_config_map_and_env_reach_the_container(built_image: BuiltImage, tmp_path: Path) -> None:
    spec_text = "apiVersion: govsim.io/v1alpha1\nkind: Sweep\n"
    pod = {
        **POD,
        "volumes": [
            *POD["volumes"],
            {
                "name": "spec",
                "configMap": {"name": "s1", "items": [{"key": "sweep", "path": "sweep.yaml"}]},
            },
        ],
    }
    # Kubernetes expands $(VAR) in env values from earlier entries, and in args from all env,
    # including the JOB_COMPLETION_INDEX the Job controller appends.
    script = 'cat /etc/govsim/sweep.yaml; echo "$1 $2"; touch /etc/govsim/probe'
    container = worker_container(
        ["sh", "-c", script, "sh"],
        args=["$(TASK)-$(JOB_COMPLETION_INDEX)", "$$(literal)"],
        env=[{"name": "PREFIX", "value": "task"}, {"name": "TASK", "value": "$(PREFIX)-x"}],
    )
    container["volumeMounts"].append({"name": "spec", "mountPath": "/etc/govsim"})
    proc = built_image.run(
        container,
        tmp_path,
        pod_spec=pod,
        config_maps={"s1": {"sweep": spec_text}},
        extra_env={"JOB_COMPLETION_INDEX": "7"},
    )
    assert proc.stdout == spec_text + "task-x-7 $(literal)\n"
    assert "Read-only file system" in proc.stderr

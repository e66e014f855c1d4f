"""``sweepctl controller`` as a real process: bad input, then a run against the fake API server.

The process reads a kubeconfig that points at kmock (the fake API server of the test), serves its
liveness endpoint and metrics, and creates the Job of a Sweep it finds. It runs in its own process,
so the fake server keeps serving on the test's event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.kube import NAMESPACE, declare, live, resource
from kit.servers import free_port
from kit.waiting import until

from sweep_controller.commands import main as cli
from sweep_controller.k8s import crd

CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"

SWEEPCTL = str(Path(sys.executable).parent / "sweepctl")


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        ([], {}, 2, "--namespace: not given and not running in a pod"),
        (["--namespace", "x"], {"GOVSIM_JOB_TTL_SECONDS": "soon"}, 2, "GOVSIM_JOB_TTL_SECONDS"),
        (["--namespace", "x"], {"KUBECONFIG": "/nonexistent"}, 1, "no cluster credentials"),
    ],
)
def test_bad_start_exits_with_one_line(
    args: list[str],
    env: dict[str, str],
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["controller", "--metrics-port", "0", *args]) == code
    err = capsys.readouterr().err
    assert err.startswith("sweepctl: error: ") and message in err
    assert err.count("\n") == 1


def kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_controller_process_serves_health_and_metrics_and_creates_the_job(
    kmock: Any, tmp_path: Path
) -> None:
    declare(kmock)
    kmock.objects[CRDS, None, crd.CRD_NAME] = crd.build_crd()
    kmock.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, "whale-vs-conformity"] = resource()
    metrics_port, health_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))),
        "GOVSIM_S3_BUCKET": "govsim-results",
        "GOVSIM_WORKER_IMAGE": "localhost/govsim:test",
    }
    argv = [
        SWEEPCTL,
        "controller",
        "--namespace",
        NAMESPACE,
        "--metrics-port",
        str(metrics_port),
        "--health-port",
        str(health_port),
    ]
    log = (tmp_path / "controller.log").open("w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        await until(
            lambda: (
                live(kmock, "batch/v1/jobs", "whale-vs-conformity") is not None
                or bool(proc.poll() is not None)
            ),
            "the Job",
            timeout=60,
        )
        assert proc.poll() is None, (tmp_path / "controller.log").read_text()
        job = live(kmock, "batch/v1/jobs", "whale-vs-conformity") or {}
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "localhost/govsim:test"

        health = await asyncio.to_thread(get, f"http://127.0.0.1:{health_port}/healthz")
        assert health[0] == 200
        status, text = await asyncio.to_thread(get, f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        assert 'govsim_controller_reconciles_total{result="ok"}' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_controller_refuses_an_older_crd_with_one_line(kmock: Any, tmp_path: Path) -> None:
    declare(kmock)
    older = crd.build_crd()
    older["metadata"]["annotations"] = {crd.SCHEMA_VERSION_ANNOTATION: "1"}
    kmock.objects[CRDS, None, crd.CRD_NAME] = older
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))),
    }
    argv = [SWEEPCTL, "controller", "--namespace", NAMESPACE, "--metrics-port", "0"]
    done = await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"sweepctl: error: CRD sweeps.govsim.io has schema version 1; this controller needs "
        f"{crd.SCHEMA_VERSION}: kubectl apply --server-side --force-conflicts -f "
        "charts/govsim/crds/\n"
    )

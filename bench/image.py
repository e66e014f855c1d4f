"""The container image: its size, and the cold start of a run inside it against the host venv.

Kubernetes starts one pod per task, so every task pays the container's cold start: runtime
set-up, then Python importing numpy, scipy and the simulator from a read-only root filesystem
(byte code is precompiled in the image; nothing can be cached at run time). The bench times,
from `podman run` to exit, a one-run simulation in the image (as a worker pod would run it:
read-only root, /tmp as the only writable place, UID 10001) and the same command in the host's
venv (the baseline), plus an empty container (`true`) to separate the runtime's own cost.

The image comes from scripts/image-test.sh (built or reused), and is run with the container
tests' runner (tests/container/podman.py), so it runs exactly as there. Needs root, podman,
buildah, runc and debootstrap.

Run: ``python -m bench.image [--repeats N] [--agents N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "container"))

from podman import Podman, run_container_spec  # noqa: E402

IMAGE = "localhost/govsim:dev"
POD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001},
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}


def store() -> Path:
    """The private store scripts/image-test.sh builds into."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("GOVSIM_IMAGE_STORE") or cache / "govsim-image" / "store")


def build() -> int:
    """Build or reuse the image; return its size in bytes."""
    env = {**os.environ, "IMAGE": IMAGE, "STORAGE_ROOT": str(store()), "PYTHON": sys.executable}
    start = time.perf_counter()
    proc = subprocess.run(
        [str(REPO / "scripts" / "image-test.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"scripts/image-test.sh failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    match = re.search(r"^image \S+: \d+ MB \((\d+) bytes\)$", proc.stdout, re.MULTILINE)
    if match is None:
        sys.exit("scripts/image-test.sh printed no image size")
    elapsed = time.perf_counter() - start
    print(f"image build (scripts/image-test.sh, cached where possible): {elapsed:.1f} s")
    return int(match.group(1))


def container(command: list[str]) -> dict[str, Any]:
    """A worker-like container dict running `command`."""
    return {
        "name": "bench",
        "command": command,
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def timed_runs(fn: Callable[[], None], repeats: int) -> list[float]:
    """Wall times of `repeats` calls of fn."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    """Print the image size and cold-start times in the container and on the host, with ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.image", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench.image needs root (buildah chroot isolation, podman with runc)")
    size = build()
    podman = Podman(store())
    sim = ["python", "-m", "simulator", "--agents", str(args.agents), "--runs", "1"]

    with tempfile.TemporaryDirectory() as scratch:

        def in_container(command: list[str]) -> Callable[[], None]:
            def run() -> None:
                proc = run_container_spec(
                    podman,
                    IMAGE,
                    container(command),
                    scratch=Path(scratch),
                    pod_spec=POD,
                    image_user="10001:10001",
                )
                if proc.returncode != 0:
                    sys.exit(f"{command} failed in the container:\n{proc.stderr[-3000:]}")

            return run

        def on_host() -> None:
            out = Path(scratch) / "host.jsonl"
            subprocess.run(
                [sys.executable, *sim[1:], "--output", str(out)],
                check=True,
                capture_output=True,
            )
            out.unlink()

        sim_cmd = [*sim, "--output", "/tmp/runs.jsonl"]
        in_container(sim_cmd)()  # warm the page cache, as a node that has pulled the image
        empty = timed_runs(in_container(["true"]), args.repeats)
        cold = timed_runs(in_container(sim_cmd), args.repeats)
        host = timed_runs(on_host, args.repeats)

    med = statistics.median
    print(f"image {IMAGE}: {size / 1e6:.0f} MB ({size} bytes)")
    print(f"cold start, median of {args.repeats} (one run, {args.agents} agents):")
    print(f"  container, empty (`true`):         {med(empty):6.2f} s")
    print(f"  container, podman run to finish:   {med(cold):6.2f} s")
    print(f"  host venv (baseline):              {med(host):6.2f} s")
    print(f"  ratio container/host: {med(cold) / med(host):.2f}x")
    print(f"  container minus empty container:  {med(cold) - med(empty):6.2f} s")


if __name__ == "__main__":
    main()

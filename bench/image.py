"""The container image: its size, and the worker's cold start inside it against the host venv.

Kubernetes starts one pod per task, so every task pays the container's cold start: runtime
set-up, then Python importing numpy, scipy, boto3 and the project from a read-only root
filesystem (byte code is precompiled in the image; nothing can be cached at run time). The bench
runs the worker pod exactly as the container tests do: the container, its user, env and volumes
from the Job that `sweepctl render` produces, the ConfigMap mounted where the pod mounts it,
JOB_COMPLETION_INDEX set. The sweep is a one-run task writing to `file:///tmp/results` (the
pod's emptyDir), so no storage server is involved and the number is start-up plus one run.

Timed from `podman run` (the host's worker process for the baseline) to the worker's line
reporting the task written (`wrote 1 runs`: the worker logs no per-run progress, so for a one-run
task this is "first run finished", plus a local write), and to exit. The baseline is the same
`sweepctl worker` command and spec on the host's venv; an empty container (`true`) separates the
runtime's own cost.

The image comes from scripts/image-test.sh (built or reused), and is run with the container
tests' runner (tests/container/podman.py, rendered_pod.py). Needs root, podman, buildah, runc
and debootstrap.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kit.podman import Podman, start_container_spec  # noqa: E402
from kit.rendered_pod import INDEX_ENV, RenderedSweep, render_sweep  # noqa: E402

IMAGE = "localhost/govsim:dev"
OUTPUT_IN_POD = "file:///tmp/results"
DONE = re.compile(r"sweepctl worker 0: wrote 1 runs")


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


def sweep_doc(agents: int) -> dict[str, Any]:
    """A one-run sweep (one task); its output is replaced when rendered."""
    return {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": "bench-cold-start"},
        "spec": {
            "simulator": {"agents": agents, "mean_degree": 8, "cascade_rounds": 3},
            "parameters": {"whale_ratio": {"values": [0.15]}},
            "replicates": 1,
            "seed": 1,
            "runsPerTask": 1,
            "output": {"uri": "file://results"},
        },
    }


def with_output(spec_text: str, uri: str) -> str:
    """The sweep YAML `spec_text` writing to `uri` instead."""
    doc = yaml.safe_load(spec_text)
    doc["spec"]["output"] = {"uri": uri}
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class Timing:
    """Seconds from start to the worker's `wrote 1 runs` line and to its exit."""

    done: float
    exit: float


def timed(start_process: Callable[[], subprocess.Popen[str]]) -> Timing:
    """Start a worker process, stream its stderr, and time the done line and the exit."""
    start = time.perf_counter()
    process = start_process()
    assert process.stderr is not None
    done, lines = None, []
    for line in process.stderr:
        lines.append(line)
        if done is None and DONE.search(line):
            done = time.perf_counter() - start
    code = process.wait()
    ended = time.perf_counter() - start
    if code != 0 or done is None:
        sys.exit(f"the worker exited {code} without reporting its run:\n{''.join(lines)[-3000:]}")
    return Timing(done, ended)


def repeat(fn: Callable[[], Timing], repeats: int) -> list[Timing]:
    """`repeats` timings of fn."""
    return [fn() for _ in range(repeats)]


def main(argv: list[str] | None = None) -> None:
    """Print the image size and the worker's cold start in the container and on the host."""
    parser = argparse.ArgumentParser(prog="python -m bench.image", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench.image needs root (buildah chroot isolation, podman with runc)")
    size = build()
    podman = Podman(store())

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        spec = scratch / "sweep.yaml"
        spec.write_text(yaml.safe_dump(sweep_doc(args.agents), sort_keys=False))
        # Rendered as for a cluster (an s3:// output is required), then the mounted spec writes
        # to the pod's /tmp: the pod itself stays as rendered.
        rendered: RenderedSweep = render_sweep(
            spec, image=IMAGE, output_uri="s3://govsim-bench/unused"
        )
        rendered = rendered.with_mounted_spec(with_output(rendered.mounted_spec, OUTPUT_IN_POD))
        options = rendered.pod_options(0)

        def in_container() -> subprocess.Popen[str]:
            return start_container_spec(
                podman,
                IMAGE,
                rendered.container,
                scratch=scratch / "pod",
                image_user="10001:10001",
                **options,
            ).process

        def empty_container() -> Timing:
            container = {**rendered.container, "command": ["true"], "args": []}
            start = time.perf_counter()
            proc = start_container_spec(
                podman, IMAGE, container, scratch=scratch / "pod", image_user="10001:10001",
                **options,
            ).wait(timeout=120)  # fmt: skip
            if proc.returncode != 0:
                sys.exit(f"`true` failed in the container:\n{proc.stderr[-3000:]}")
            elapsed = time.perf_counter() - start
            return Timing(elapsed, elapsed)

        host_spec = scratch / "host-sweep.yaml"
        host_out = scratch / "host-results"
        host_spec.write_text(with_output(rendered.mounted_spec, f"file://{host_out}"))
        sweepctl = str(Path(sys.executable).parent / "sweepctl")
        host_env: Mapping[str, str] = {**os.environ, INDEX_ENV: "0"}

        def on_host() -> subprocess.Popen[str]:
            subprocess.run(["rm", "-rf", str(host_out)], check=True)
            return subprocess.Popen(
                [sweepctl, *rendered.container["args"][:-1], str(host_spec)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=host_env,
            )

        timed(in_container)  # warm the page cache, as a node that has pulled the image
        timed(on_host)
        empty = repeat(empty_container, args.repeats)
        cold = repeat(lambda: timed(in_container), args.repeats)
        host = repeat(lambda: timed(on_host), args.repeats)

    def med(timings: list[Timing], attr: str = "done") -> float:
        return statistics.median(getattr(t, attr) for t in timings)

    print(f"image {IMAGE}: {size / 1e6:.0f} MB ({size} bytes)")
    print(
        f"worker cold start, median of {args.repeats} (rendered Job's pod, one run of "
        f"{args.agents} agents, file:// output in /tmp):"
    )
    print(f"  container, empty (`true`), run to exit:      {med(empty):6.2f} s")
    print(f"  container, podman run to first run finished: {med(cold):6.2f} s")
    print(f"  container, podman run to exit:               {med(cold, 'exit'):6.2f} s")
    print(f"  host venv (baseline), to first run finished: {med(host):6.2f} s")
    print(f"  host venv (baseline), to exit:               {med(host, 'exit'):6.2f} s")
    print(f"  ratio container/host, to first run finished: {med(cold) / med(host):.2f}x")
    print(f"  container minus empty container:             {med(cold) - med(empty):6.2f} s")


if __name__ == "__main__":
    main()

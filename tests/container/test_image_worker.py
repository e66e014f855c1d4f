"""The worker in the built image, run the way Kubernetes runs one pod of the rendered Job.

Every run here starts from `sweepctl render`'s output (tests/container/rendered_pod.py): the
container's command, args, env, user, read-only root and volumes are read from the Job's pod
template, the ConfigMap is materialised and mounted where the pod mounts it, /tmp is the pod's
emptyDir, JOB_COMPLETION_INDEX is set as the Job controller sets it, and the S3 credentials the
env takes from a Secret (as a kind cluster gives them) are resolved from that Secret. The
cluster side of the render (endpoint, region, addressing, Secret name) is passed in the
controller's GOVSIM_* variables, as the chart passes it. The container reaches the SeaweedFS
server of the test session over the host network.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.podman import BuiltImage, RunningContainer
from kit.rendered_pod import RenderedSweep, render_sweep
from kit.servers import SeaweedFS

from simulator.records.schema import RunRecord
from simulator.records.validate import check_json, validate_file
from sweep_controller.execution.layout import (
    Manifest,
    checkpoint_key,
    lease_key,
    manifest_key,
    records_key,
    sha256_hex,
    spec_copy_key,
)
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import spec_hash

pytestmark = [pytest.mark.container, pytest.mark.integration, pytest.mark.timeout(1800)]

SECRET = "govsim-s3-credentials"
SIGTERM_EXIT = 143


def sweep_doc(name: str, **spec: Any) -> dict[str, Any]:
    """A small grid Sweep (3 points x 2 replicates of 200 agents, 2 runs a task: 3 tasks)."""
    body: dict[str, Any] = {
        "simulator": {"agents": 200, "mean_degree": 6, "cascade_rounds": 3},
        "parameters": {"whale_ratio": {"values": [0.05, 0.2, 0.35]}},
        "replicates": 2,
        "seed": 23,
        "runsPerTask": 2,
        "output": {"uri": "file://results"},
        **spec,
    }
    return {"apiVersion": "govsim.io/v1alpha1", "kind": "Sweep", "metadata": {"name": name},
            "spec": body}  # fmt: skip


def cluster_env(server: SeaweedFS) -> dict[str, str]:
    """The controller's GOVSIM_* settings as the chart sets them for a kind cluster."""
    return {
        "GOVSIM_S3_ENDPOINT": server.endpoint_url,
        "GOVSIM_S3_REGION": server.region,
        "GOVSIM_S3_ADDRESSING": "path",
        "GOVSIM_S3_CREDENTIALS_SECRET": SECRET,
    }


def secrets(server: SeaweedFS) -> dict[str, dict[str, str]]:
    """The Secrets of the namespace: the S3 keys the chart's credentialsSecret names."""
    keys = {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
    return {SECRET: keys}


def render(
    tmp_path: Path, image: BuiltImage, server: SeaweedFS, s3_uri: str, doc: dict[str, Any]
) -> RenderedSweep:
    """`sweepctl render` of `doc`, writing to `s3_uri` on `server`, for `image`."""
    spec = tmp_path / f"{doc['metadata']['name']}.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    return render_sweep(spec, image=image.name, output_uri=s3_uri, cluster_env=cluster_env(server))


def sweep_objects(server: SeaweedFS, s3_uri: str, sweep: str) -> dict[str, bytes]:
    """Every object under `<s3_uri>/<sweep>/`, by key relative to s3_uri."""
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    client = server.client()
    objects: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/{sweep}/"
    ):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            objects[item["Key"].removeprefix(f"{prefix}/")] = body
    return objects


def open_uploads(server: SeaweedFS, s3_uri: str, sweep: str) -> list[str]:
    """Keys of multipart uploads started and never completed or aborted under the sweep."""
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    listed = server.client().list_multipart_uploads(Bucket=bucket, Prefix=f"{prefix}/{sweep}/")
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def check_committed(
    rendered: RenderedSweep, objects: dict[str, bytes], index: int, tmp_path: Path
) -> list[RunRecord]:
    """Assert task `index` is committed and valid in `objects`; return its records."""
    name = rendered.sweep_name
    manifest = Manifest.model_validate_json(objects[manifest_key(name, index)])
    data = objects[records_key(name, manifest)]
    local = tmp_path / f"task-{index}.jsonl"
    local.write_bytes(data)
    report = validate_file(local)
    assert report.invalid == 0, report
    sweep = parse_sweep(yaml.safe_load(rendered.mounted_spec))
    assert manifest.records.sha256 == sha256_hex(data)
    assert (manifest.index, manifest.count) == (index, report.valid)
    assert manifest.records.bytes == len(data)
    assert manifest.spec_hash == spec_hash(sweep)
    records = [RunRecord.model_validate_json(line) for line in data.splitlines()]
    expected = SweepPlan(sweep).task_runs(index)
    assert [(r.run_index, r.seed) for r in records] == [(s.run_index, s.seed) for s in expected]
    return records


@contextlib.contextmanager
def started(image: BuiltImage, rendered: RenderedSweep, index: int, scratch: Path,
            server: SeaweedFS) -> Iterator[RunningContainer]:  # fmt: skip
    """The worker pod of `index`, running in the background; removed however the test ends."""
    running = image.start(
        rendered.container, scratch, **rendered.pod_options(index, secrets(server))
    )
    try:
        yield running
    finally:
        if running.process.poll() is None:
            with contextlib.suppress(Exception):
                running.wait(timeout=0.1)  # removes the container on timeout


def test_worker_pod_commits_its_task_to_s3_and_it_validates(
    built_image: BuiltImage, seaweedfs: SeaweedFS, s3_uri: str, tmp_path: Path
) -> None:
    rendered = render(tmp_path, built_image, seaweedfs, s3_uri, sweep_doc("img-commit"))
    assert rendered.container["image"] == built_image.name
    assert yaml.safe_load(rendered.mounted_spec)["spec"]["output"]["uri"] == s3_uri
    assert rendered.completions == 3
    options = rendered.pod_options(1, secrets(seaweedfs))

    proc = built_image.run(rendered.container, tmp_path / "pod-1", **options)
    assert proc.returncode == 0, proc.stderr
    assert "task 1 of 3 (2 runs)" in proc.stderr
    objects = sweep_objects(seaweedfs, s3_uri, rendered.sweep_name)
    name = rendered.sweep_name
    manifest = Manifest.model_validate_json(objects[manifest_key(name, 1)])
    assert sorted(objects) == sorted(  # only index 1's, and the spec beside the results
        [records_key(name, manifest), lease_key(name, 1, 1), manifest_key(name, 1),
         spec_copy_key(name)]
    )  # fmt: skip
    assert parse_sweep(json.loads(objects[spec_copy_key(name)])) == parse_sweep(
        yaml.safe_load(rendered.mounted_spec)
    )
    records = check_committed(rendered, objects, 1, tmp_path)
    assert {r.params.agents for r in records} == {200}

    # A retried pod of a finished index repeats no work and leaves the objects as they were.
    again = built_image.run(rendered.container, tmp_path / "pod-1-retry", **options)
    assert again.returncode == 0, again.stderr
    assert "already done" in again.stderr
    assert sweep_objects(seaweedfs, s3_uri, rendered.sweep_name) == objects


@pytest.mark.parametrize("user_from", ["pod", "image"])
def test_worker_pod_runs_as_the_non_root_uid(
    built_image: BuiltImage, seaweedfs: SeaweedFS, s3_uri: str, tmp_path: Path, user_from: str
) -> None:
    rendered = render(tmp_path, built_image, seaweedfs, s3_uri, sweep_doc("img-uid"))
    pod, container = dict(rendered.pod_spec), dict(rendered.container)
    if user_from == "image":
        # A policy that strips runAsUser/runAsGroup: runAsNonRoot must then be satisfied by the
        # image's numeric USER, or the kubelet refuses to start the pod.
        for holder in (pod, container):
            holder["securityContext"] = {
                k: v
                for k, v in holder["securityContext"].items()
                if k not in ("runAsUser", "runAsGroup")
            }
        assert pod["securityContext"]["runAsNonRoot"] is True
    # The worker's pod with only the process replaced by a probe: same user, env and mounts.
    probe = (
        "import json, os, sys; open(os.path.join(os.environ['HOME'], 'probe'), 'w').close(); "
        "print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), "
        "open(sys.argv[1]).read() == sys.argv[2]]))"
    )
    container["command"] = ["python", "-c", probe]
    container["args"] = [rendered.container["args"][-1], rendered.mounted_spec]
    options = rendered.pod_options(0, secrets(seaweedfs))
    proc = built_image.run(container, tmp_path, **{**options, "pod_spec": pod})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [10001, 10001, 10001, True]


def test_worker_help_with_the_rendered_command(
    built_image: BuiltImage, seaweedfs: SeaweedFS, s3_uri: str, tmp_path: Path
) -> None:
    rendered = render(tmp_path, built_image, seaweedfs, s3_uri, sweep_doc("img-help"))
    container = dict(rendered.container)
    container["args"] = [*rendered.container["args"][:-1], "--help"]  # `worker --help`
    proc = built_image.run(container, tmp_path, **rendered.pod_options(0, secrets(seaweedfs)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: sweepctl worker")
    assert "JOB_COMPLETION_INDEX" in proc.stdout


@pytest.mark.parametrize("fault", ["invalid spec", "index out of range"])
def test_permanent_failure_exits_with_the_fail_index_code(
    built_image: BuiltImage, seaweedfs: SeaweedFS, s3_uri: str, tmp_path: Path, fault: str
) -> None:
    rendered = render(tmp_path, built_image, seaweedfs, s3_uri, sweep_doc("img-bad"))
    fail_codes = rendered.fail_index_exit_codes()
    assert fail_codes, "the rendered Job has no FailIndex rule on the worker's exit codes"
    index = 0
    if fault == "invalid spec":
        # Someone edits the ConfigMap: a sweep with zero replicates is rejected on load.
        doc = yaml.safe_load(rendered.mounted_spec)
        doc["spec"]["replicates"] = 0
        rendered = rendered.with_mounted_spec(yaml.safe_dump(doc, sort_keys=False))
        expected = "replicates"
    else:
        index = rendered.completions
        expected = f"{index}"
    proc = built_image.run(
        rendered.container, tmp_path, **rendered.pod_options(index, secrets(seaweedfs))
    )
    assert proc.returncode in fail_codes, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sweepctl: error:")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert sweep_objects(seaweedfs, s3_uri, rendered.sweep_name) == {}


def test_sigterm_during_a_task_leaves_no_partial_object(
    built_image: BuiltImage, seaweedfs: SeaweedFS, s3_uri: str, tmp_path: Path
) -> None:
    # One task of 2,000 runs of 20,000 agents: tens of seconds of work, stopped after about one.
    doc = sweep_doc(
        "img-sigterm",
        simulator={"agents": 20_000, "mean_degree": 10, "cascade_rounds": 3},
        parameters={"whale_ratio": {"values": [0.1, 0.2]}},
        replicates=1000,
        runsPerTask=2000,
    )
    rendered = render(tmp_path, built_image, seaweedfs, s3_uri, doc)
    assert rendered.completions == 1
    with started(built_image, rendered, 0, tmp_path, seaweedfs) as running:
        assert running.process.stderr is not None
        header = ""
        while "task 0 of 1" not in header:  # printed once SIGTERM is handled and runs begin
            line = running.process.stderr.readline()
            assert line, "the worker exited before starting its task"
            header = line
        time.sleep(1.0)  # into the runs
        assert running.process.poll() is None, "the task finished before SIGTERM"
        running.signal("TERM")
        proc = running.wait(timeout=120)
    assert proc.returncode == SIGTERM_EXIT, proc.stderr
    assert "SIGTERM received" in proc.stderr and "stopped" in proc.stderr
    # Neither records nor a manifest under the task's keys: its released lease, the spec's copy
    # (written before the runs started) and the checkpoint of the runs finished before the stop:
    # a marker and one part of whole, valid records, the task's first runs. No upload is left
    # open either.
    objects = sweep_objects(seaweedfs, s3_uri, rendered.sweep_name)
    name = rendered.sweep_name
    parts = [key for key in objects if key.endswith(".part.jsonl")]
    rest = sorted(key for key in objects if key not in parts)
    assert rest == sorted([lease_key(name, 0, 1), spec_copy_key(name), checkpoint_key(name, 0)])
    assert b'"released":true' in objects[lease_key(name, 0, 1)]
    (part,) = parts
    lines = objects[part].splitlines()
    assert lines and all(check_json(line) == [] for line in lines)
    sweep = parse_sweep(yaml.safe_load(rendered.mounted_spec))
    indexes = [json.loads(line)["run_index"] for line in lines]
    assert indexes == SweepPlan(sweep).task_run_indexes(0)[: len(lines)]
    assert open_uploads(seaweedfs, s3_uri, rendered.sweep_name) == []

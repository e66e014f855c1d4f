"""The worker contract: a pod of the rendered Job, run as a real process against a real S3 server.

Nothing about the pod is restated here. The command, args and env come from the Job the builders
render; the ConfigMap is written to a directory that stands in for its mount, each emptyDir gets a
fresh directory, and every path under a mount (args, env values) is rewritten to the directory
that backs it. The Secret the env refers to holds the test server's keys. Each index then runs
with ``JOB_COMPLETION_INDEX`` set, as the Job controller sets it, and its results must validate.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.kube import example
from kit.promstack import Pushgateway
from kit.servers import SeaweedFS

from simulator.records.validate import validate_file
from sweep_controller.execution.layout import Manifest, manifest_key, records_key
from sweep_controller.execution.slot import SlotRecord, slot_lease_key
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import build_configmap, build_job
from sweep_controller.metrics import delete_sweep_groups, list_sweep_slots
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "s3-credentials"
VENV_BIN = Path(sys.executable).parent
JOB_UID = "0b5f3c52-6f1e-4b0e-9d51-2f5a3e0c9a11"
"""What the Job controller labels every pod of the Job with (its uid)."""


def render(
    s3_uri: str,
    server: SeaweedFS,
    *,
    pushgateway_url: str | None = None,
    namespace: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Sweep]:
    """The ConfigMap and Job for the zipped example writing to ``s3_uri`` on ``server``."""
    document = example("zipped")
    document["spec"]["output"] = {"uri": s3_uri}
    if namespace is not None:
        document["metadata"]["namespace"] = namespace
    sweep = parse_sweep(document)
    config = ControllerConfig(
        image="localhost/govsim:test",
        s3_endpoint=server.endpoint_url,
        s3_region=server.region,
        s3_addressing="path",
        credentials_secret=SECRET,
        pushgateway_url=pushgateway_url,
    )
    return build_configmap(sweep, config), build_job(sweep, config), sweep


class Pod:
    """One pod of the rendered Job, materialised on this machine."""

    def __init__(
        self, job: dict[str, Any], configmap: dict[str, Any], root: Path, secret: dict[str, str]
    ) -> None:
        pod = job["spec"]["template"]["spec"]
        self.namespace = job["metadata"].get("namespace", "default")
        (self.container,) = pod["containers"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.mounts: dict[str, Path] = {}
        for mount in self.container["volumeMounts"]:
            volume = volumes[mount["name"]]
            backing = root / mount["name"]
            backing.mkdir(parents=True)
            if "configMap" in volume:
                assert volume["configMap"]["name"] == configmap["metadata"]["name"]
                for key, text in configmap["data"].items():
                    (backing / key).write_text(text)
            else:
                assert "emptyDir" in volume, f"volume {mount['name']}: not materialisable"
            self.mounts[mount["mountPath"]] = backing
        self.secret = secret
        # What the downward API reads: the pod's namespace, and the label the Job controller
        # puts on every pod of the Job (its uid).
        self.downward = {
            "metadata.namespace": self.namespace,
            "metadata.labels['batch.kubernetes.io/controller-uid']": JOB_UID,
        }

    def path(self, value: str) -> str:
        """A value naming a path under a mount, rewritten to the directory backing the mount."""
        for mount_path, backing in sorted(self.mounts.items(), key=lambda m: -len(m[0])):
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                return str(backing) + value[len(mount_path.rstrip("/")) :]
        return value

    def argv(self) -> list[str]:
        """Command plus args, as the container runs them."""
        return [self.path(a) for a in (*self.container["command"], *self.container["args"])]

    def env(self, index: int) -> dict[str, str]:
        """The container env, the Secret resolved, plus what the Job controller adds."""
        env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "JOB_COMPLETION_INDEX": str(index)}
        for entry in self.container["env"]:
            if "value" in entry:
                env[entry["name"]] = self.path(entry["value"])
            elif "fieldRef" in entry["valueFrom"]:  # the downward API
                field = entry["valueFrom"]["fieldRef"]["fieldPath"]
                env[entry["name"]] = self.downward[field]
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                assert ref["name"] == SECRET
                env[entry["name"]] = self.secret[ref["key"]]
        return env

    def run(self, index: int) -> subprocess.CompletedProcess[str]:
        """Run the container's process for one index."""
        return subprocess.run(
            self.argv(),
            env=self.env(index),
            cwd=self.mounts.get("/tmp", Path.cwd()),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@dataclass(frozen=True)
class Rendered:
    """The rendered Job, its materialised pod, the sweep and its output URI."""

    job: dict[str, Any]
    pod: Pod
    sweep: Sweep
    s3_uri: str


@pytest.fixture
def rendered(s3_uri: str, s3_env: SeaweedFS, tmp_path: Path) -> Rendered:
    configmap, job, sweep = render(s3_uri, s3_env)
    secret = {"AWS_ACCESS_KEY_ID": s3_env.access_key, "AWS_SECRET_ACCESS_KEY": s3_env.secret_key}
    return Rendered(job, Pod(job, configmap, tmp_path / "pod", secret), sweep, s3_uri)


def test_every_index_uploads_records_that_validate(
    rendered: Rendered, s3_env: SeaweedFS, tmp_path: Path
) -> None:
    pod, sweep, s3_uri = rendered.pod, rendered.sweep, rendered.s3_uri
    assert pod.argv()[0] == "sweepctl"
    assert Path(pod.argv()[-1]).is_file()  # the ConfigMap's sweep.yaml, at its mount
    mounted = yaml.safe_load(Path(pod.argv()[-1]).read_text())
    assert mounted["spec"]["output"]["uri"] == s3_uri
    n_tasks = sweep.spec.n_tasks
    assert n_tasks == 3
    procs = {i: pod.run(i) for i in range(n_tasks)}
    for index, proc in procs.items():
        assert proc.returncode == 0, f"index {index}: exit {proc.returncode}\n{proc.stderr}"

    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    client = s3_env.client()
    runs = 0
    for index in range(n_tasks):
        raw = client.get_object(Bucket=bucket, Key=f"{prefix}/{manifest_key(sweep.name, index)}")
        manifest = Manifest.model_validate_json(raw["Body"].read())
        key = f"{prefix}/{records_key(sweep.name, manifest)}"
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        local = tmp_path / f"{index}.jsonl"
        local.write_bytes(body)
        report = validate_file(local)
        assert report.invalid == 0, report
        runs += report.valid
    assert runs == sweep.spec.n_runs


def test_retried_index_is_skipped_and_bad_index_fails_the_index(rendered: Rendered) -> None:
    pod, sweep = rendered.pod, rendered.sweep
    first = pod.run(0)
    assert first.returncode == 0, first.stderr
    again = pod.run(0)
    assert again.returncode == 0, again.stderr
    assert "skipped" in again.stderr

    beyond = pod.run(sweep.spec.n_tasks)
    (fail_index,) = [
        rule
        for rule in rendered.job["spec"]["podFailurePolicy"]["rules"]
        if rule["action"] == "FailIndex"
    ]
    assert beyond.returncode in fail_index["onExitCodes"]["values"], beyond.stderr
    assert fail_index["onExitCodes"]["containerName"] == pod.container["name"]


def test_process_env_is_exactly_the_rendered_env(rendered: Rendered) -> None:
    pod = rendered.pod
    env = pod.env(5)
    names = {e["name"] for e in pod.container["env"]}
    assert set(env) == names | {"PATH", "JOB_COMPLETION_INDEX"}
    assert env["HOME"] == str(pod.mounts["/tmp"])  # /tmp is the pod's emptyDir
    assert os.path.isdir(env["TMPDIR"])


def test_worker_pushes_its_metrics_under_its_namespace(
    s3_uri: str, s3_env: SeaweedFS, pushgateway: Pushgateway, tmp_path: Path
) -> None:
    configmap, job, sweep = render(
        s3_uri, s3_env, pushgateway_url=pushgateway.url, namespace="lab-x"
    )
    secret = {"AWS_ACCESS_KEY_ID": s3_env.access_key, "AWS_SECRET_ACCESS_KEY": s3_env.secret_key}
    pod = Pod(job, configmap, tmp_path / "pod", secret)
    done = pod.run(1)
    assert done.returncode == 0, done.stderr
    # The metric slot index 1 points at: 1 mod the Job's parallelism.
    slot = 1 % job["spec"]["parallelism"]
    groups = [g for g in pushgateway.groups() if g.get("sweep") == sweep.name]
    assert {(g.get("sweep_namespace"), g["slot"]) for g in groups} == {("lab-x", str(slot))}
    assert list_sweep_slots(pushgateway.url, "lab-x", sweep.name) == [slot]
    # The slot's totals, kept beside its lease, belong to this Job's pods.
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    key = f"{prefix}/{slot_lease_key(sweep.name, 'lab-x', slot, 1)}"
    lease = SlotRecord.model_validate_json(
        s3_env.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    )
    assert lease.job_uid == JOB_UID and lease.released
    ran = lease.totals.sample_value(
        "govsim_tasks_total",
        {"sweep_namespace": "lab-x", "sweep": sweep.name, "status": "succeeded"},
    )
    assert ran == 1
    assert delete_sweep_groups(pushgateway.url, "lab-x", sweep.name, [slot]).deleted == (slot,)

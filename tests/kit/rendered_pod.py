"""The pod of a sweep's Job as `sweepctl render` produces it, ready to run in the image with podman.

The container tests (and bench/image.py) must run the worker exactly as a cluster would, so
nothing about the pod is restated: `render_sweep` runs `sweepctl render` (the host's venv, a
subprocess, as a user would) and keeps the ConfigMap and the Job it prints. `RenderedSweep`
then supplies what the cluster adds when it starts one pod of the Job:

- the ConfigMap's data, for podman.py to materialise and bind-mount where the pod mounts it;
- `JOB_COMPLETION_INDEX`, which the Job controller sets in every pod of an Indexed Job;
- the env entries the pod takes from a Secret (`valueFrom.secretKeyRef`, such as the S3
  credentials of a kind cluster), resolved from Secrets given as plain dicts.

`with_mounted_spec` swaps the ConfigMap's sweep.yaml (a bad spec, or a file:// output under the
pod's /tmp for the cold-start bench): the pod itself is left as rendered.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from kit.podman import ContainerSpecError

__all__ = ["INDEX_ENV", "RenderedSweep", "render_sweep"]

INDEX_ENV = "JOB_COMPLETION_INDEX"


@dataclass(frozen=True)
class RenderedSweep:
    """The ConfigMap and the Indexed Job of one sweep, as rendered."""

    configmap: Mapping[str, Any]
    job: Mapping[str, Any]

    @property
    def pod_spec(self) -> Mapping[str, Any]:
        """The Job's pod template spec."""
        spec: Mapping[str, Any] = self.job["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> Mapping[str, Any]:
        """The pod's only container (the worker)."""
        containers = self.pod_spec["containers"]
        if len(containers) != 1:
            raise ContainerSpecError(f"the pod has {len(containers)} containers; expected 1")
        container: Mapping[str, Any] = containers[0]
        return container

    @property
    def sweep_name(self) -> str:
        """The sweep's name (the Job's name)."""
        return str(self.job["metadata"]["name"])

    @property
    def completions(self) -> int:
        """The Job's number of indexes (one per task)."""
        return int(self.job["spec"]["completions"])

    def spec_key(self) -> str:
        """The ConfigMap key the worker reads its sweep from.

        Follows the container's last argument (the spec path) back through its volume mount to
        the ConfigMap, so a change to the mount path or key fails here, as it would in a pod.
        """
        path = str(self.container["args"][-1])
        volumes = {v["name"]: v for v in self.pod_spec.get("volumes") or []}
        for mount in self.container.get("volumeMounts") or []:
            prefix = str(mount["mountPath"]).rstrip("/") + "/"
            volume = volumes.get(mount["name"], {})
            if path.startswith(prefix) and "configMap" in volume:
                if volume["configMap"]["name"] != self.configmap["metadata"]["name"]:
                    raise ContainerSpecError(f"{path}: mounted from another ConfigMap")
                key = path[len(prefix) :]
                if key not in self.configmap["data"]:
                    raise ContainerSpecError(f"{path}: the ConfigMap has no key {key!r}")
                return key
        raise ContainerSpecError(f"{path}: not under any configMap volume of the pod")

    @property
    def mounted_spec(self) -> str:
        """The sweep YAML the worker reads (the ConfigMap entry its args name)."""
        return str(self.configmap["data"][self.spec_key()])

    def fail_index_exit_codes(self) -> frozenset[int]:
        """Exit codes of the worker container that the podFailurePolicy fails the index on."""
        codes: set[int] = set()
        for rule in self.job["spec"].get("podFailurePolicy", {}).get("rules", []):
            on_codes = rule.get("onExitCodes")
            if rule.get("action") != "FailIndex" or on_codes is None:
                continue
            if on_codes.get("containerName") not in (None, self.container["name"]):
                continue
            if on_codes.get("operator") != "In":
                raise ContainerSpecError(f"FailIndex operator {on_codes.get('operator')!r}")
            codes.update(int(v) for v in on_codes["values"])
        return frozenset(codes)

    def config_maps(self) -> dict[str, dict[str, str]]:
        """ConfigMap name -> data, for podman.container_argv's `config_maps`."""
        name = str(self.configmap["metadata"]["name"])
        return {name: {k: str(v) for k, v in self.configmap["data"].items()}}

    def secret_env(self, secrets: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        """The container's env entries that come from Secrets, resolved from `secrets`."""
        env: dict[str, str] = {}
        for entry in self.container.get("env") or []:
            source = entry.get("valueFrom")
            if source is None:
                continue
            ref = source.get("secretKeyRef")
            if ref is None:
                raise ContainerSpecError(f"env {entry['name']}: only secretKeyRef is supported")
            secret = secrets.get(ref["name"])
            if secret is None or ref["key"] not in secret:
                if ref.get("optional"):
                    continue
                raise ContainerSpecError(
                    f"env {entry['name']}: Secret {ref['name']!r} key {ref['key']!r} not given"
                )
            env[entry["name"]] = secret[ref["key"]]
        return env

    def pod_options(
        self, index: int | str, secrets: Mapping[str, Mapping[str, str]] | None = None
    ) -> dict[str, Any]:
        """Options for `BuiltImage.run/start`: pod spec, ConfigMaps, the index and Secret env."""
        return {
            "pod_spec": self.pod_spec,
            "config_maps": self.config_maps(),
            "extra_env": {INDEX_ENV: str(index), **self.secret_env(secrets or {})},
        }

    def with_mounted_spec(self, text: str) -> RenderedSweep:
        """The same Job with `text` as the sweep YAML in its ConfigMap."""
        key = self.spec_key()
        configmap = {**self.configmap, "data": {**self.configmap["data"], key: text}}
        return replace(self, configmap=configmap)


def render_sweep(
    spec: Path,
    *,
    image: str,
    output_uri: str | None = None,
    cluster_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> RenderedSweep:
    """Run `sweepctl render SPEC --image IMAGE [--output-uri URI]` and parse what it prints.

    `cluster_env` holds the controller's GOVSIM_* settings (S3 endpoint, credentials Secret, ...);
    GOVSIM_* variables of this process are dropped so the machine's settings never leak in.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSIM_")}
    env.update(cluster_env or {})
    argv = [sys.executable, "-m", "sweep_controller", "render", str(spec), "--image", image]
    if output_uri is not None:
        argv += ["--output-uri", output_uri]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sweepctl render exited {proc.returncode}: {proc.stderr.strip()}")
    documents = {doc["kind"]: doc for doc in yaml.safe_load_all(proc.stdout) if doc}
    if set(documents) != {"ConfigMap", "Job"}:
        raise RuntimeError(f"sweepctl render printed {sorted(documents)}; expected ConfigMap, Job")
    return RenderedSweep(configmap=documents["ConfigMap"], job=documents["Job"])

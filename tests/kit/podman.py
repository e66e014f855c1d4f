"""Run a container image with podman the way Kubernetes runs one container of a pod.

The container tests must run the image as the cluster would, from the same pod template the
rendered Job carries, not from a restatement of it. `container_argv` translates a Kubernetes
container dict (and its pod spec, for volumes and the pod-level securityContext) into a
`podman run` command line:

- `command` becomes `--entrypoint` (JSON array; podman then drops the image's CMD, as Kubernetes
  does), `args` follow the image name; `$(VAR)` references in both are expanded from the
  container's env as Kubernetes does (`$$` escapes).
- `env` entries with a `value` become `-e`; `extra_env` supplies what the cluster injects
  (JOB_COMPLETION_INDEX) and overrides; `valueFrom` and `envFrom` must be given in `extra_env`.
- securityContext (container over pod): runAsUser/runAsGroup -> `--user`,
  readOnlyRootFilesystem -> `--read-only` with podman's own tmpfs mounts turned off (only the
  pod's emptyDir volumes are writable, as in a pod), capabilities.drop ALL -> `--cap-drop=all`,
  allowPrivilegeEscalation false -> `no-new-privileges`; runAsNonRoot is checked against the
  image's user.
- volumeMounts: emptyDir -> a tmpfs; configMap -> the ConfigMap's data (passed in
  `config_maps`) written to a scratch directory and bind-mounted read-only (items and subPath
  honoured).

Resources, probes and ports are ignored. Every run uses the runc runtime, small ulimits and the
host network (it reaches test servers on the host loopback); these are what this machine needs.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BuiltImage",
    "ContainerSpecError",
    "Podman",
    "RunningContainer",
    "container_argv",
    "expand_k8s_vars",
    "run_container_spec",
    "start_container_spec",
]

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ContainerSpecError(ValueError):
    """A container or pod spec uses something this runner cannot reproduce."""


@dataclass(frozen=True)
class Podman:
    """The podman CLI on a private container store, with the runtime that works here."""

    storage_root: Path
    runtime: str = "/usr/sbin/runc"
    executable: str = "podman"

    def cmd(self, *args: str) -> list[str]:
        """Return a podman argv on this store: `podman --root R --runroot RR ARGS...`."""
        return [
            self.executable,
            "--root",
            str(self.storage_root / "storage"),
            "--runroot",
            str(self.storage_root / "run"),
            *args,
        ]

    def run_base(self, name: str) -> list[str]:
        """Return `podman run` with the options every container here needs."""
        return [
            *self.cmd("run", "--rm", "--name", name, "--runtime", self.runtime),
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--network=host",
        ]

    def image_config(self, image: str) -> dict[str, Any]:
        """Return the image's `podman image inspect` record (Config, Labels, Size, ...)."""
        out = subprocess.run(
            self.cmd("image", "inspect", image), check=True, capture_output=True, text=True
        ).stdout
        records: list[dict[str, Any]] = json.loads(out)
        return records[0]


def expand_k8s_vars(text: str, env: Mapping[str, str]) -> str:
    """Expand `$(NAME)` from env as Kubernetes does: unknown names stay, `$$` means `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR.sub(replace, text)


def _container_env(container: Mapping[str, Any], extra_env: Mapping[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in container.get("env") or []:
        name = entry["name"]
        if name in extra_env:
            env[name] = extra_env[name]
        elif "value" in entry:
            env[name] = expand_k8s_vars(str(entry["value"]), env)
        elif "valueFrom" in entry:
            raise ContainerSpecError(f"env {name}: valueFrom needs a value in extra_env")
        else:
            env[name] = ""
    if container.get("envFrom"):
        raise ContainerSpecError("envFrom is not supported; pass the variables in extra_env")
    for name, value in extra_env.items():
        env.setdefault(name, value)
    return env


def _security(
    container: Mapping[str, Any], pod_spec: Mapping[str, Any], image_user: Callable[[], str]
) -> list[str]:
    pod_ctx = dict(pod_spec.get("securityContext") or {})
    ctx = {**pod_ctx, **(container.get("securityContext") or {})}
    argv: list[str] = []
    user, group = ctx.get("runAsUser"), ctx.get("runAsGroup")
    if user is not None and group is not None:
        argv += ["--user", f"{user}:{group}"]
    elif user is not None or group is not None:
        image_uid, _, image_gid = image_user().partition(":")
        uid = str(user) if user is not None else image_uid or "0"
        gid = str(group) if group is not None else image_gid or uid
        argv += ["--user", f"{uid}:{gid}"]
    if ctx.get("runAsNonRoot"):
        effective = str(user) if user is not None else image_user().partition(":")[0]
        if not (effective.isdigit() and int(effective) != 0):
            raise ContainerSpecError(
                f"runAsNonRoot: the user would be {effective or 'root'!r}; a pod would not start"
            )
    if ctx.get("readOnlyRootFilesystem"):
        argv += ["--read-only", "--read-only-tmpfs=false"]
    drop = [str(c).upper() for c in (ctx.get("capabilities") or {}).get("drop") or []]
    if "ALL" in drop:
        argv.append("--cap-drop=all")
    else:
        argv += [f"--cap-drop={c}" for c in drop]
    argv += [f"--cap-add={c}" for c in (ctx.get("capabilities") or {}).get("add") or []]
    if ctx.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    return argv


def _config_map_files(volume: Mapping[str, Any], data: Mapping[str, str]) -> dict[str, str]:
    """Return relative path -> content as the kubelet lays out a configMap volume."""
    items = volume.get("items")
    if not items:
        return {key: str(value) for key, value in data.items()}
    files: dict[str, str] = {}
    for item in items:
        key = item["key"]
        if key not in data:
            if volume.get("optional"):
                continue
            raise ContainerSpecError(f"configMap {volume.get('name')!r} has no key {key!r}")
        files[item["path"]] = str(data[key])
    return files


def _volumes(
    container: Mapping[str, Any],
    pod_spec: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, str]],
    scratch: Path,
) -> list[str]:
    by_name = {v["name"]: v for v in pod_spec.get("volumes") or []}
    argv: list[str] = []
    for mount in container.get("volumeMounts") or []:
        name, path = mount["name"], mount["mountPath"]
        volume = by_name.get(name)
        if volume is None:
            raise ContainerSpecError(f"volumeMounts {name!r}: no such volume in the pod spec")
        if "emptyDir" in volume:
            if mount.get("subPath"):
                raise ContainerSpecError(f"volumeMounts {name!r}: subPath on emptyDir")
            argv += ["--tmpfs", f"{path}:rw,exec,mode=1777"]
        elif "configMap" in volume:
            cm = volume["configMap"]
            data = config_maps.get(cm["name"])
            if data is None:
                raise ContainerSpecError(f"configMap {cm['name']!r} not given in config_maps")
            root = scratch / f"cm-{name}"
            for rel, content in _config_map_files(cm, data).items():
                target = root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                target.chmod(0o644)
            root.mkdir(parents=True, exist_ok=True)
            root.chmod(0o755)
            source = root / mount["subPath"] if mount.get("subPath") else root
            if not source.exists():
                raise ContainerSpecError(f"volumeMounts {name!r}: subPath not in the configMap")
            argv += ["-v", f"{source}:{path}:ro"]
        else:
            kinds = sorted(set(volume) - {"name"})
            raise ContainerSpecError(f"volume {name!r}: type {kinds} is not supported")
    return argv


def container_argv(
    podman: Podman,
    image: str,
    container: Mapping[str, Any],
    *,
    scratch: Path,
    pod_spec: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    image_user: str | None = None,
    name: str | None = None,
) -> tuple[str, list[str]]:
    """Return (container name, `podman run` argv) that runs `container` from a pod spec.

    `scratch` receives the materialised configMap files; `image_user` is the image's USER (read
    from the image when needed and not given), used to complete a partial
    runAsUser/runAsGroup and to check runAsNonRoot.
    """
    pod_spec = pod_spec or {}

    def user_of_image() -> str:
        if image_user is not None:
            return image_user
        return str(podman.image_config(image).get("Config", {}).get("User") or "")

    env = _container_env(container, extra_env or {})
    name = name or f"govsim-test-{uuid.uuid4().hex[:12]}"
    argv = podman.run_base(name)
    argv += _security(container, pod_spec, user_of_image)
    argv += _volumes(container, pod_spec, config_maps or {}, scratch)
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    if container.get("workingDir"):
        argv += ["--workdir", str(container["workingDir"])]
    command: Sequence[str] | None = container.get("command")
    if command:
        argv += ["--entrypoint", json.dumps([expand_k8s_vars(str(c), env) for c in command])]
    argv.append(image)
    argv += [expand_k8s_vars(str(a), env) for a in container.get("args") or []]
    return name, argv


@dataclass
class RunningContainer:
    """A started `podman run`: signal it by name, wait for its exit and output."""

    podman: Podman
    name: str
    process: subprocess.Popen[str]

    def signal(self, sig: str = "TERM") -> None:
        """Send a signal to the container's PID 1 (`podman kill --signal`)."""
        subprocess.run(
            self.podman.cmd("kill", "--signal", sig, self.name), check=False, capture_output=True
        )

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Wait for the exit; on timeout remove the container and raise TimeoutExpired."""
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            subprocess.run(
                self.podman.cmd("rm", "--force", "--time", "0", self.name),
                check=False,
                capture_output=True,
            )
            self.process.kill()
            self.process.communicate()
            raise
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, stdout=out, stderr=err
        )


def start_container_spec(
    podman: Podman, image: str, container: Mapping[str, Any], **options: Any
) -> RunningContainer:
    """Start the container in the background (options as for `container_argv`)."""
    name, argv = container_argv(podman, image, container, **options)
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return RunningContainer(podman, name, process)


def run_container_spec(
    podman: Podman,
    image: str,
    container: Mapping[str, Any],
    *,
    timeout: float = 300.0,
    **options: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the container to completion and return its exit code, stdout and stderr."""
    return start_container_spec(podman, image, container, **options).wait(timeout)


@dataclass(frozen=True)
class BuiltImage:
    """The built image in its private store, and how to run it like a Kubernetes container."""

    podman: Podman
    name: str
    size_bytes: int
    config: Mapping[str, Any]

    @property
    def user(self) -> str:
        """Return the image's USER (e.g. `10001:10001`)."""
        return str(self.config.get("Config", {}).get("User") or "")

    def run(
        self, container: Mapping[str, Any], scratch: Path, **options: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run a Kubernetes container dict in this image (see podman.container_argv)."""
        return run_container_spec(
            self.podman, self.name, container, scratch=scratch, image_user=self.user, **options
        )

    def start(
        self, container: Mapping[str, Any], scratch: Path, **options: Any
    ) -> RunningContainer:
        """Start a Kubernetes container dict in this image in the background."""
        return start_container_spec(
            self.podman, self.name, container, scratch=scratch, image_user=self.user, **options
        )

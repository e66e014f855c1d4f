"""The container image, built once per session with the real build path (scripts/image-test.sh).

Building needs root (buildah's chroot isolation, podman with the runc runtime) and the tools
podman, buildah, runc and debootstrap; without them the container tests skip with the reason,
except under CI, where they fail. The image lives in a private store under the user's cache
directory (override with GOVSIM_IMAGE_STORE), so a second session reuses the base image, the
wheels and buildah's layer cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kit.paths import REPO
from kit.podman import BuiltImage, Podman
from kit.require import require_or_skip

IMAGE = "localhost/govsim:dev"
RUNC = "/usr/sbin/runc"
BUILD_TIMEOUT = 1500.0


def default_store() -> Path:
    """Return the private container store the tests (and scripts/image-test.sh) use."""
    if os.environ.get("GOVSIM_IMAGE_STORE"):
        return Path(os.environ["GOVSIM_IMAGE_STORE"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "govsim-image" / "store"


def missing_prerequisite() -> str | None:
    """Return why the image cannot be built and run here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return "container tests need Linux"
    if os.geteuid() != 0:
        return "container tests need root (buildah chroot isolation, podman with runc)"
    tools = [t for t in ("podman", "buildah", "debootstrap") if shutil.which(t) is None]
    if not Path(RUNC).exists():
        tools.append(RUNC)
    if tools:
        hint = "apt-get install podman buildah runc debootstrap"
        return f"container tools missing: {', '.join(tools)} ({hint})"
    return None


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """Build (or reuse) the image with scripts/image-test.sh; skip or fail if it cannot run."""
    reason = missing_prerequisite()
    if reason:
        require_or_skip(reason)
    store = default_store()
    env = {**os.environ, "IMAGE": IMAGE, "STORAGE_ROOT": str(store), "PYTHON": sys.executable}
    log = tmp_path_factory.mktemp("image") / "image-test.log"
    with log.open("w") as out:
        proc = subprocess.run(
            [str(REPO / "scripts" / "image-test.sh")],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-60:])
        pytest.fail(f"scripts/image-test.sh exited {proc.returncode}:\n{tail}", pytrace=False)
    match = re.search(r"^image \S+: \d+ MB \((\d+) bytes\)$", text, re.MULTILINE)
    if match is None:
        pytest.fail(f"scripts/image-test.sh printed no image size; log at {log}", pytrace=False)
    podman = Podman(store, runtime=RUNC)
    return BuiltImage(podman, IMAGE, int(match.group(1)), podman.image_config(IMAGE))

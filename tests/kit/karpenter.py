"""Karpenter's CRD schemas, for checking the chart's NodePool and EC2NodeClass without a cluster.

The CRDs are not copied into this repository. Where they are cached (`.cache/karpenter/v<version>/`,
ignored by git; `GOVSIM_CACHE_DIR` moves it), the tests also validate against exactly the schemas
of the Karpenter version infra/terraform pins (karpenter.tf: karpenter_version), checked against
the SHA-256 digests below. Fill the cache on a machine that reaches GitHub with
`PYTHONPATH=tests .venv/bin/python -m kit.karpenter --fetch` (or from a clone:
`git show v1.14.1:pkg/apis/crds/<file> > .cache/karpenter/v1.14.1/<file>`). Without the cache the
tests check the same objects against tests/kit/karpenter_api.py, strict models of the v1 fields
the chart sets, so nothing is skipped on a machine without network access.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from kit.infra import TERRAFORM_DIR
from kit.paths import REPO

KARPENTER_VERSION = "1.14.1"
"""Must equal karpenter_version in infra/terraform/karpenter.tf (a test checks it)."""

# File of each kind under pkg/apis/crds/ at tag v1.14.1 (commit bde00654cd31), with the SHA-256
# of its bytes (git blobs 36f2f18fe582 and d62d4b4cb116 of aws/karpenter-provider-aws).
CRD_FILES: dict[str, tuple[str, str]] = {
    "NodePool": (
        "karpenter.sh_nodepools.yaml",
        "3bb64a20c80776b77aa19a699ebdaf34480a7b2e7ec4ef890b43225b3517f878",
    ),
    "EC2NodeClass": (
        "karpenter.k8s.aws_ec2nodeclasses.yaml",
        "62dec59f01c0972d4503ca3ed25f243ba9c2f561be0d964ce7a14c8df406132f",
    ),
}
SOURCE = (
    "https://raw.githubusercontent.com/aws/karpenter-provider-aws/v{version}/pkg/apis/crds/{name}"
)


def cache_dir() -> Path:
    """Where the CRDs of the pinned version are kept (env GOVSIM_CACHE_DIR overrides .cache)."""
    root = Path(os.environ.get("GOVSIM_CACHE_DIR", REPO / ".cache"))
    return root / "karpenter" / f"v{KARPENTER_VERSION}"


def terraform_pinned_version() -> str:
    """The Karpenter version infra/terraform/karpenter.tf pins."""
    text = (TERRAFORM_DIR / "karpenter.tf").read_text()
    match = re.search(r'^\s*karpenter_version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    assert match, "karpenter.tf must set local.karpenter_version"
    return match.group(1)


def fetch_crds() -> None:
    """Download the pinned CRDs into the cache (needs network access to GitHub)."""
    for name, _digest in CRD_FILES.values():
        url = SOURCE.format(version=KARPENTER_VERSION, name=name)
        with urllib.request.urlopen(url, timeout=30) as response:
            body: bytes = response.read()
        path = cache_dir() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        crd(kind=next(k for k, (n, _) in CRD_FILES.items() if n == name))  # digest check
        print(f"{path}: ok")


def cached() -> bool:
    """Whether both CRDs of the pinned version are in the cache."""
    return all((cache_dir() / name).is_file() for name, _ in CRD_FILES.values())


def crd(kind: str) -> dict[str, Any]:
    """The cached CRD of `kind` at the pinned version, digest-checked."""
    name, digest = CRD_FILES[kind]
    path = cache_dir() / name
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    assert actual == digest, (
        f"{path}: sha256 {actual}, expected {digest} (Karpenter v{KARPENTER_VERSION})"
    )
    loaded: dict[str, Any] = yaml.safe_load(data)
    return loaded


def served_schema(kind: str, version: str = "v1") -> dict[str, Any]:
    """The openAPIV3Schema of `kind` at API `version`."""
    for entry in crd(kind)["spec"]["versions"]:
        if entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{kind} CRD serves no version {version}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--fetch"]:
        raise SystemExit("usage: python -m kit.karpenter --fetch")
    fetch_crds()

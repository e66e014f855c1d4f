"""Fixtures of the infrastructure tests.

`terraform init` once per session (checkov's is in tests/conftest.py); for the S3 policy tests,
one bucket on the session SeaweedFS and the policies Terraform renders for it, shared by the
worker's and the controller's tests, and a per-module AWS environment that reaches only SeaweedFS.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.iam import PREFIX, REGION, rendered_state
from kit.infra import (
    CHART_VALUES,
    PLUGIN_DIR,
    TERRAFORM_DIR,
    Terraform,
    terraform_binary,
    terraform_env,
)
from kit.require import require_or_skip
from kit.servers import SeaweedFS, aws_env_for


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """`terraform init -backend=false` on a copy of infra/terraform, once per session.

    The copy keeps the committed .terraform.lock.hcl, so init installs only a provider whose
    checksum the lock file records (it fails on any other).
    """
    binary = terraform_binary()
    root = tmp_path_factory.mktemp("tf")
    workdir = root / "infra" / "terraform"
    shutil.copytree(
        TERRAFORM_DIR,
        workdir,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"),
    )
    if CHART_VALUES.is_file():
        (root / "charts" / "govsim").mkdir(parents=True)
        shutil.copy2(CHART_VALUES, root / "charts" / "govsim" / "values.yaml")
    tf = Terraform(binary, workdir, terraform_env(root / "tf-data"))
    init = ["init", "-backend=false", "-input=false", "-no-color"]
    if PLUGIN_DIR.is_dir():
        init.append(f"-plugin-dir={PLUGIN_DIR}")
    done = tf.run(*init)
    if done.returncode != 0:
        source = PLUGIN_DIR if PLUGIN_DIR.is_dir() else "the registry"
        require_or_skip(
            f"terraform init could not install the AWS provider from {source}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return tf


# --- S3 policy tests: one bucket, one rendered state ---------------------------------------------

_AWS_ENV_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "GOVSIM_S3_ADDRESSING")


@pytest.fixture(scope="module")
def aws_to_seaweedfs(
    seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeaweedFS]:
    """For one module: the session SeaweedFS running, and an AWS_* environment reaching only it."""
    if not seaweedfs.running:
        seaweedfs.start()
    home = tmp_path_factory.mktemp("aws-home")
    with pytest.MonkeyPatch.context() as env:
        for name in _AWS_ENV_CLEARED:
            env.delenv(name, raising=False)
        for name, value in aws_env_for(seaweedfs, Path(home)).items():
            env.setenv(name, value)
        yield seaweedfs


@pytest.fixture(scope="session")
def iam_bucket(seaweedfs: SeaweedFS) -> str:
    """The bucket the S3 policy tests run in, and render the policies for."""
    if not seaweedfs.running:
        seaweedfs.start()
    return seaweedfs.create_bucket(f"govsim-iam-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def rendered(terraform: Terraform, iam_bucket: str) -> dict[str, dict[str, Any]]:
    """The Terraform state rendered for that bucket and the policy tests' prefix and region."""
    return rendered_state(terraform, bucket=iam_bucket, prefix=PREFIX, region=REGION)

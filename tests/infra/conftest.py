"""The Terraform fixture: `terraform init` once per session (checkov's is in tests/conftest.py)."""

from __future__ import annotations

import shutil

import pytest
from kit.infra import (
    CHART_VALUES,
    PLUGIN_DIR,
    TERRAFORM_DIR,
    Terraform,
    terraform_binary,
    terraform_env,
)
from kit.require import require_or_skip


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

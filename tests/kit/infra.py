"""Helpers for the infrastructure checks: where things are, and how terraform is run.

Terraform runs on a copy of infra/terraform laid out as in the repository (so the tests' relative
path to charts/govsim still resolves), with its own data directory, so the tests never write into
the working tree. The AWS provider comes from /opt/tf-plugins when that directory exists (offline
machines), otherwise from the registry. checkov runs through scripts/checkov.sh, which keeps it in
its own virtualenv. A missing tool skips these tests with the reason, except in CI, where it fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kit.paths import REPO
from kit.require import find_tool

TERRAFORM_DIR = REPO / "infra" / "terraform"
CHART_VALUES = REPO / "charts" / "govsim" / "values.yaml"
PLUGIN_DIR = Path("/opt/tf-plugins")


@dataclass(frozen=True)
class Terraform:
    """A terraform binary bound to an initialised copy of the configuration."""

    binary: str
    workdir: Path
    env: Mapping[str, str]

    def run(self, *args: str, timeout: float = 540) -> subprocess.CompletedProcess[str]:
        """Run `terraform ARGS` in the copy and return the finished process (never raises)."""
        return subprocess.run(
            [self.binary, *args],
            cwd=self.workdir,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def terraform_env(data_dir: Path) -> dict[str, str]:
    """Return an environment that keeps terraform quiet, offline-friendly and out of the tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "AWS_"))}
    env.update(
        TF_CLI_CONFIG_FILE="/dev/null",
        TF_DATA_DIR=str(data_dir),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        NO_COLOR="1",
    )
    return env


def terraform_binary() -> str:
    """Return the terraform executable, or skip (fail in CI) when there is none."""
    return find_tool("terraform", "install Terraform >= 1.11")

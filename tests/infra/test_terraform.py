"""Terraform guardrails for infra/terraform: formatting, validity and the mocked test suite.

The security properties themselves (private encrypted bucket, worker policy confined to the
results prefix, node group bounds, ECR immutability, helm_values contract...) are asserted by the
`terraform test` files in infra/terraform/tests with a mocked AWS provider; this module runs them
and checks that they really ran.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from kit.infra import CHART_VALUES, TERRAFORM_DIR, Terraform, terraform_binary, terraform_env
from kit.require import require_or_skip

MIN_TERRAFORM_TESTS = 45
"""The suite had 48 runs when written; fewer means test files stopped being discovered."""


def test_terraform_files_are_formatted(tmp_path: Path) -> None:
    """`terraform fmt -check` passes on the configuration and its tests."""
    done = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", "-diff", "-no-color"],
        cwd=TERRAFORM_DIR,
        env=terraform_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"run `terraform fmt -recursive infra/terraform`:\n{done.stdout}"


def test_configuration_is_valid_without_warnings(terraform: Terraform) -> None:
    """`terraform validate` reports a valid configuration with no warnings."""
    done = terraform.run("validate", "-json")
    report = json.loads(done.stdout)
    messages = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')}" for d in report["diagnostics"]
    ]
    assert report["valid"], "\n".join(messages)
    assert report["warning_count"] == 0, "\n".join(messages)


def test_terraform_test_suite_passes(terraform: Terraform) -> None:
    """Every `terraform test` run passes, and the suite is as large as it was written."""
    done = terraform.run("test", "-no-color")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    match = re.search(r"Success! (\d+) passed, 0 failed", output)
    assert match, output[-3000:]
    print(f"terraform test: {match.group(0)}")
    assert int(match.group(1)) >= MIN_TERRAFORM_TESTS, output[-3000:]


def test_chart_defaults_are_checked_against_helm_values(terraform: Terraform) -> None:
    """`terraform test` reads the chart's values.yaml and fails when it lacks a helm_values key.

    The check in registry_and_outputs.tftest.hcl passes vacuously when the file is missing, so
    this drops one key (s3.prefix) from the chart's values in the fixture's copy and expects
    exactly that run to fail with its message.
    """
    values = terraform.workdir.parents[1] / "charts" / "govsim" / "values.yaml"
    if not values.is_file():
        require_or_skip(f"{CHART_VALUES} not found: helm_values cannot be checked against it")
    original = values.read_text()
    chart_values = yaml.safe_load(original)
    del chart_values["s3"]["prefix"]
    values.write_text(yaml.safe_dump(chart_values, sort_keys=False))
    try:
        done = terraform.run("test", "-no-color", "-filter=tests/registry_and_outputs.tftest.hcl")
    finally:
        values.write_text(original)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "must declare every key of helm_values" in output, output[-3000:]
    assert re.search(r"\d+ passed, 1 failed", output), output[-3000:]


def test_backend_is_partial_s3_with_lockfile() -> None:
    """Remote state is an S3 backend configured at init, with the S3 lock file documented."""
    versions = (TERRAFORM_DIR / "versions.tf").read_text()
    assert re.search(r'backend\s+"s3"\s*\{\s*\}', versions), 'expected a partial `backend "s3" {}`'
    example = (TERRAFORM_DIR / "backend.hcl.example").read_text()
    assert re.search(r"^use_lockfile\s*=\s*true$", example, re.MULTILINE)
    assert re.search(r"^encrypt\s*=\s*true$", example, re.MULTILINE)

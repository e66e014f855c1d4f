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

import pytest
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


def _constraint(text: str) -> str:
    """The hashicorp/aws version constraint of versions.tf."""
    match = re.search(r'source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*"([^"]+)"', text)
    assert match, "versions.tf: no hashicorp/aws version constraint"
    return match.group(1)


def _satisfies(version: str, constraint: str) -> bool:
    """Whether ``version`` meets a pessimistic (~> X.Y.Z) or exact (= X.Y.Z) constraint."""
    op, _, wanted = constraint.strip().partition(" ")
    have = [int(p) for p in version.split(".")]
    want = [int(p) for p in wanted.split(".")]
    if op in ("=", ""):
        return have == want
    assert op == "~>", f"constraint {constraint!r}: pin with ~> X.Y.Z or an exact version"
    return have[: len(want) - 1] == want[:-1] and have >= want


def test_lock_file_pins_the_provider_the_tests_run(terraform: Terraform) -> None:
    """The committed lock file's provider meets versions.tf and is the one init installed.

    The session's `terraform init` ran with the committed lock file: it refuses a provider whose
    checksum differs, and would rewrite the file if it had to add anything.
    """
    committed = (TERRAFORM_DIR / ".terraform.lock.hcl").read_text()
    block = re.search(
        r'provider "registry.terraform.io/hashicorp/aws" \{\s*version\s*=\s*"([^"]+)"'
        r'\s*constraints\s*=\s*"([^"]+)"',
        committed,
    )
    assert block, ".terraform.lock.hcl: no hashicorp/aws entry"
    version, locked_constraint = block.groups()
    constraint = _constraint((TERRAFORM_DIR / "versions.tf").read_text())
    assert locked_constraint == constraint, (
        "run `terraform providers lock` after editing versions.tf"
    )
    assert _satisfies(version, constraint), (version, constraint)
    assert re.search(r'"h1:[A-Za-z0-9+/=]{44}"', committed), "the lock file records no h1: hash"
    assert (terraform.workdir / ".terraform.lock.hcl").read_text() == committed, (
        "terraform init changed the lock file: it does not match the provider the tests run"
    )
    done = terraform.run("version", "-json")
    installed = json.loads(done.stdout)["provider_selections"]
    assert installed == {"registry.terraform.io/hashicorp/aws": version}, installed


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("5.100.0", "~> 5.100.0", True),
        ("5.100.3", "~> 5.100.0", True),
        ("5.101.0", "~> 5.100.0", False),
        ("5.99.9", "~> 5.100.0", False),
        ("6.0.0", "~> 5.100", False),
        ("5.100.0", "= 5.100.0", True),
    ],
)
def test_constraint_reading(version: str, constraint: str, expected: bool) -> None:
    """The lock test's reading of ~> and = agrees with Terraform's documented meaning."""
    assert _satisfies(version, constraint) is expected

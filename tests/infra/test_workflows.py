"""GitHub Actions workflows, checked offline: schema, actionlint, and our own supply-chain rules.

Schema validation uses the GitHub workflow schema vendored in check-jsonschema; actionlint (with
shellcheck over every `run:` script) comes from a PyPI wheel. On top of those, the rules that keep
a release pipeline honest: every action pinned to an exact version or commit, read-only default
permissions, OIDC tokens (id-token: write) only where AWS is reached, no stored AWS keys, no
untrusted triggers, a timeout on every job, and each pipeline doing the steps it exists for.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.paths import REPO
from kit.require import find_tool, require_or_skip

WORKFLOW_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml"))
# `uses: owner/repo@<40-hex commit> # vX.Y.Z`: the commit is what runs, the comment says which
# release it is (Dependabot updates both). Tags can be moved; a commit cannot.
PINNED_LINE = re.compile(
    r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v?\d+\.\d+\.\d+\s*$"
)
# (workflow file, job id) pairs allowed to request an OIDC token: they assume AWS roles.
OIDC_JOBS = {("release.yml", "release"), ("terraform.yml", "plan")}


tool = find_tool  # a CLI beside this interpreter (the test extra) or on PATH, else skip


def load(path: Path) -> dict[str, Any]:
    """Parse a workflow; YAML 1.1 reads the key `on` as True, so put it back."""
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return (job id, step) for every step of every job, in order."""
    return [(job_id, step) for job_id, job in doc["jobs"].items() for step in job.get("steps", [])]


def run_text(doc: dict[str, Any], job_id: str | None = None) -> str:
    """Return the concatenated `run:` scripts of one job (or all jobs)."""
    return "\n".join(
        step.get("run", "") for jid, step in steps(doc) if job_id is None or jid == job_id
    )


def uses_index(doc: dict[str, Any], job_id: str, prefix: str) -> int:
    """Return the position of the first step of a job that uses an action starting with prefix."""
    job_steps = doc["jobs"][job_id]["steps"]
    for i, step in enumerate(job_steps):
        if str(step.get("uses", "")).startswith(prefix):
            return i
    raise AssertionError(f"job {job_id} has no step using {prefix}")


def run_index(doc: dict[str, Any], job_id: str, needle: str) -> int:
    """Return the position of the first `run:` step of a job containing needle."""
    for i, step in enumerate(doc["jobs"][job_id]["steps"]):
        if needle in step.get("run", ""):
            return i
    raise AssertionError(f"job {job_id} has no run step containing {needle!r}")


def test_the_four_pipelines_exist() -> None:
    """ci, e2e-kind, release and terraform workflows are all present."""
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "e2e-kind.yml", "release.yml", "terraform.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    """Each workflow validates against GitHub's workflow JSON schema (offline copy)."""
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dependabot_config_matches_schema() -> None:
    """Dependabot, which bumps the pinned actions, is configured validly."""
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.dependabot",
            str(REPO / ".github" / "dependabot.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes() -> None:
    """actionlint finds no problem, including shellcheck findings in `run:` scripts."""
    done = subprocess.run(
        [
            tool("actionlint"),
            "-no-color",
            "-shellcheck",
            tool("shellcheck"),
            *map(str, WORKFLOWS),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commits_with_their_version(path: Path) -> None:
    """Every `uses:` names a full commit SHA and, in a comment, the release it is."""
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines, f"{path.name}: no actions found"
    loose = [
        line.strip() for line in lines if "uses: ./" not in line and not PINNED_LINE.match(line)
    ]
    assert not loose, f"{path.name}: pin by commit with a version comment: {loose}"


def test_pin_check_refuses_tags_and_bare_commits() -> None:
    """The pin rule itself: a tag, a short SHA or a SHA without its version comment fail."""
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    assert PINNED_LINE.match(f"      - uses: actions/checkout@{sha} # v7.0.1")
    for bad in (
        "      - uses: actions/checkout@v7.0.1",
        f"      - uses: actions/checkout@{sha}",
        f"      - uses: actions/checkout@{sha[:12]} # v7.0.1",
        f"      - uses: actions/checkout@{sha} # v7",
    ):
        assert not PINNED_LINE.match(bad), bad


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    """Read-only by default; only AWS-facing jobs may get an OIDC token; nothing else writes."""
    doc = load(path)
    top = doc.get("permissions")
    assert isinstance(top, dict), f"{path.name}: set top-level permissions explicitly"
    assert all(v in ("read", "none") for v in top.values()), f"{path.name}: top-level {top}"
    for job_id, job in doc["jobs"].items():
        perms = job.get("permissions", {})
        assert isinstance(perms, dict), f"{path.name}:{job_id}: permissions must be a mapping"
        for scope, level in perms.items():
            if level != "write":
                continue
            assert scope == "id-token" and (path.name, job_id) in OIDC_JOBS, (
                f"{path.name}:{job_id}: {scope}: write is not allowed here"
            )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_untrusted_triggers_or_stored_keys(path: Path) -> None:
    """No pull_request_target/workflow_run triggers, and no long-lived AWS keys from secrets."""
    doc = load(path)
    triggers = doc["on"] if isinstance(doc["on"], dict) else {doc["on"]: None}
    assert not {"pull_request_target", "workflow_run"} & set(triggers), path.name
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name
    for _, step in steps(doc):
        if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
            assert step["with"]["role-to-assume"].startswith("${{ vars."), path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_have_timeouts_and_checkouts_keep_no_token(path: Path) -> None:
    """Every job is bounded in time; checkout does not leave the token in .git/config."""
    doc = load(path)
    for job_id, job in doc["jobs"].items():
        assert 0 < job.get("timeout-minutes", 0) <= 90, f"{path.name}:{job_id}: timeout-minutes"
    for job_id, step in steps(doc):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, (
                f"{path.name}:{job_id}: checkout needs persist-credentials: false"
            )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_scripts_that_workflows_run_exist(path: Path) -> None:
    """Each scripts/*.sh (and .ci/run) a workflow calls is in the repository and executable."""
    called = set(
        re.findall(r"(?:^|[\s/])((?:scripts/[\w.-]+\.sh)|\.ci/run)\b", run_text(load(path)))
    )
    for rel in sorted(called):
        script = REPO / rel
        if not script.is_file():
            require_or_skip(f"{path.name} calls {rel}, which is not in the tree yet")
        assert script.stat().st_mode & 0o111, f"{rel} is not executable"


def test_ci_uploads_only_validated_outputs() -> None:
    """ci.yml: the gate through .ci/run, then make demo, validation, and upload of what passed."""
    doc = load(WORKFLOW_DIR / "ci.yml")
    gate = run_index(doc, "gate", ".ci/run")
    demo = run_index(doc, "gate", "make demo")
    # make demo's results are beside its spec (a relative output is read from the spec's folder)
    collect = run_index(doc, "gate", "scripts/collect-validated.sh examples/results validated")
    upload = uses_index(doc, "gate", "actions/upload-artifact@")
    assert gate < demo < collect < upload
    upload_step = doc["jobs"]["gate"]["steps"][upload]
    assert upload_step["with"]["path"].rstrip("/") == "validated"
    assert "if" not in upload_step, "the upload must not run when validation failed"
    setup = doc["jobs"]["gate"]["steps"][uses_index(doc, "gate", "actions/setup-python@")]
    assert setup["with"]["python-version"] == "3.11"


def _step_index(doc: dict[str, Any], job_id: str, needle: str) -> int:
    """Position of the first step of a job whose `uses:` starts with, or `run:` contains, needle."""
    for i, step in enumerate(doc["jobs"][job_id]["steps"]):
        if str(step.get("uses", "")).startswith(needle) or needle in step.get("run", ""):
            return i
    raise AssertionError(f"job {job_id} has no step with {needle!r}")


def test_release_tests_before_it_publishes() -> None:
    """release.yml: a test job runs the gate, and the publishing job needs it."""
    doc = load(WORKFLOW_DIR / "release.yml")
    assert set(doc["on"]) == {"push"} and doc["on"]["push"]["tags"] == ["v*"]
    assert ".ci/run" in run_text(doc, "test") or "make test" in run_text(doc, "test")
    needs = doc["jobs"]["release"]["needs"]
    assert "test" in ([needs] if isinstance(needs, str) else needs)
    assert doc["jobs"]["test"]["permissions"] == {"contents": "read"}
    for job_id, job in doc["jobs"].items():
        assert "permissions" in job, f"release.yml:{job_id}: set the job's permissions"


def test_release_builds_scans_pushes_signs_then_publishes_the_chart() -> None:
    """release.yml: build, a failing scan, OIDC role, push, SBOM, signature, chart, in order."""
    doc = load(WORKFLOW_DIR / "release.yml")
    order = [
        _step_index(doc, "release", needle)
        for needle in (
            "scripts/image-build.sh",
            "aquasecurity/trivy-action@",
            "aws-actions/configure-aws-credentials@",
            "docker push",
            "anchore/sbom-action@",
            "sigstore/cosign-installer@",
            "cosign sign --yes",
            "helm push",
        )
    ]
    assert order == sorted(order), order
    steps_ = doc["jobs"]["release"]["steps"]
    scan = steps_[order[1]]["with"]
    assert scan["exit-code"] == "1" and "CRITICAL" in scan["severity"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", scan["version"]), "pin the trivy release it runs"
    assert "helm package charts/govsim" in run_text(doc, "release")


def test_release_signs_and_attests_the_digest_keylessly() -> None:
    """The image is signed and its SBOM attested by digest, with the workflow's OIDC identity."""
    doc = load(WORKFLOW_DIR / "release.yml")
    job = doc["jobs"]["release"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    sign = job["steps"][_step_index(doc, "release", "cosign sign --yes")]
    assert sign["env"]["REF"] == "${{ steps.image.outputs.ref }}"
    script = sign["run"]
    assert 'cosign sign --yes "$REF"' in script
    assert 'cosign attest --yes --type spdxjson --predicate sbom.spdx.json "$REF"' in script
    assert "--key" not in script, "keyless: no signing key"
    assert job["env"]["ISSUER"] == "https://token.actions.githubusercontent.com"
    assert job["env"]["SIGNER"] == "https://github.com/${{ github.workflow_ref }}"
    sbom = job["steps"][_step_index(doc, "release", "anchore/sbom-action@")]["with"]
    assert sbom["image"] == "${{ steps.image.outputs.ref }}" and sbom["format"] == "spdx-json"
    push = job["steps"][_step_index(doc, "release", "docker push")]["run"]
    assert 'echo "ref=${repo}@${digest}"' in push


def test_release_can_be_run_again() -> None:
    """Pushes look for what an earlier attempt pushed first; only a mismatch fails the run."""
    doc = load(WORKFLOW_DIR / "release.yml")
    push = doc["jobs"]["release"]["steps"][_step_index(doc, "release", "docker push")]["run"]
    assert push.index("aws ecr describe-images") < push.index("docker push")
    assert "org.opencontainers.image.revision" in push and "exit 1" in push
    chart = doc["jobs"]["release"]["steps"][_step_index(doc, "release", "helm push")]["run"]
    assert chart.index("aws ecr describe-images") < chart.index("helm push")
    assert "helm pull" in chart and "exit 1" in chart
    sign = doc["jobs"]["release"]["steps"][_step_index(doc, "release", "cosign sign --yes")]["run"]
    assert sign.index("cosign verify ") < sign.index("cosign sign --yes")


def test_terraform_workflow_checks_then_plans_read_only() -> None:
    """terraform.yml: fmt, validate, test and checkov on every change; a lock-free plan on PRs."""
    doc = load(WORKFLOW_DIR / "terraform.yml")
    checks = run_text(doc, "check")
    for needle in (
        "terraform fmt -check",
        "terraform init -backend=false",
        "terraform validate",
        "terraform test",
        "scripts/checkov.sh",
    ):
        assert needle in checks, needle
    plan = doc["jobs"]["plan"]
    assert "pull_request" in plan["if"] and plan["needs"] == "check"
    assert "terraform plan -lock=false" in run_text(doc, "plan")
    assert "pull_request" in doc["on"]


def test_e2e_workflow_runs_the_kind_script() -> None:
    """e2e-kind.yml sets up kind, kubectl and helm, then runs scripts/e2e-kind.sh."""
    doc = load(WORKFLOW_DIR / "e2e-kind.yml")
    script = run_index(doc, "kind", "scripts/e2e-kind.sh")
    assert uses_index(doc, "kind", "helm/kind-action@") < script
    assert uses_index(doc, "kind", "azure/setup-helm@") < script

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
OIDC_JOBS = {("release.yml", "publish"), ("terraform.yml", "plan")}
# Every action the workflows use: its commit and the release that commit is. One table for all
# workflow files, so the same action is the same commit everywhere.
ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "anchore/sbom-action": ("e22c389904149dbc22b58101806040fa8d37a610", "v0.24.0"),
    "aquasecurity/trivy-action": ("ed142fd0673e97e23eac54620cfb913e5ce36c25", "v0.36.0"),
    "aws-actions/amazon-ecr-login": ("03f1aad4c6c7ffd436567f42f9384779290529bd", "v2.1.7"),
    "aws-actions/configure-aws-credentials": (
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        "v6.2.3",
    ),
    "azure/setup-helm": ("9bc31f4ebc9c6b171d7bfbaa5d006ae7abdb4310", "v5.0.1"),
    "hashicorp/setup-terraform": ("dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"),
    "helm/kind-action": ("ef37e7f390d99f746eb8b610417061a60e82a6cc", "v1.14.0"),
    "sigstore/cosign-installer": ("6f9f17788090df1f26f669e9d70d6ae9567deba6", "v4.1.2"),
}
# Tools installed by version under `with:` (Dependabot does not bump these).
HELM = "v3.21.4"
SYFT = "v1.51.0"
COSIGN = "v3.1.2"
TRIVY = "v0.74.0"
GATE = 'sudo env "PATH=$PATH" CI=true bash .ci/run'
RELEASE_JOBS = {"check", "test", "e2e", "build", "publish"}


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
        if str(job.get("uses", "")).startswith("./.github/workflows/"):
            continue  # a called workflow: its own jobs carry the timeouts (checked in that file)
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


# --- release.yml: checks that take the files, so the tests below can run them on broken copies ---

Files = dict[str, Path]
FILES: Files = {
    "release.yml": WORKFLOW_DIR / "release.yml",
    "e2e-kind.yml": WORKFLOW_DIR / "e2e-kind.yml",
    "ci.yml": WORKFLOW_DIR / "ci.yml",
    "terraform.yml": WORKFLOW_DIR / "terraform.yml",
    "aws.md": REPO / "docs" / "aws.md",
    "kubernetes.md": REPO / "docs" / "kubernetes.md",
}


def _step(doc: dict[str, Any], job_id: str, needle: str) -> dict[str, Any]:
    """The first step of a job whose `uses:` starts with, or `run:` contains, needle."""
    step: dict[str, Any] = doc["jobs"][job_id]["steps"][_step_index(doc, job_id, needle)]
    return step


def _pos(text: str, needle: str) -> int:
    """Where needle is in text; an assertion (not a ValueError) when it is missing."""
    assert needle in text, f"missing: {needle!r}"
    return text.index(needle)


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def check_release_jobs(files: Files) -> None:
    """check first; the gate, the kind e2e and the build after it; publish needs all four."""
    doc = load(files["release.yml"])
    assert set(doc["on"]) == {"push"} and doc["on"]["push"]["tags"] == ["v*"]
    jobs = doc["jobs"]
    assert set(jobs) == RELEASE_JOBS, set(jobs)
    assert _needs(jobs["check"]) == set()
    for job_id in ("test", "e2e", "build"):
        assert _needs(jobs[job_id]) == {"check"}, job_id
    assert _needs(jobs["publish"]) == {"check", "test", "e2e", "build"}
    assert jobs["e2e"]["uses"] == "./.github/workflows/e2e-kind.yml"
    assert "workflow_call" in load(files["e2e-kind.yml"])["on"], "e2e-kind.yml must be callable"
    check = run_text(doc, "check")
    assert 'if [ "$version" != "$project" ]; then' in check and "exit 1" in check
    assert _step(doc, "check", "helm lint")["run"] == "helm lint --strict charts/govsim"
    assert "helm lint" not in run_text(doc, "publish"), "lint before anything is pushed"


def check_gate_cannot_be_skipped(files: Files) -> None:
    """The exact gate command of ci.yml; nothing in release.yml or e2e-kind.yml runs regardless."""
    doc = load(files["release.yml"])
    assert _step(doc, "test", ".ci/run")["run"] == GATE
    assert _step(load(files["ci.yml"]), "gate", ".ci/run")["run"] == GATE
    for name in ("release.yml", "e2e-kind.yml"):
        wf = load(files[name])
        for job_id, job in wf["jobs"].items():
            assert "continue-on-error" not in job, f"{name}:{job_id}: continue-on-error"
            assert name != "release.yml" or "if" not in job, f"{name}:{job_id}: a job condition"
            for step in job.get("steps", []):
                assert "continue-on-error" not in step, f"{name}:{job_id}: continue-on-error"
                if "if" in step:  # only the diagnostics upload of e2e-kind.yml, on failure
                    assert name == "e2e-kind.yml" and step["if"] == "failure()", (name, step)


def check_oidc_only_in_publish(files: Files) -> None:
    """Only the publish job may request an OIDC token, and it runs in the release environment."""
    jobs = load(files["release.yml"])["jobs"]
    for job_id, job in jobs.items():
        want = {"contents": "read"}
        if job_id == "publish":
            want = {"contents": "read", "id-token": "write"}
        assert job.get("permissions") == want, f"release.yml:{job_id}: {job.get('permissions')}"
    environment = jobs["publish"].get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    assert environment == "release", "the publish job runs in the release environment"
    assert all("environment" not in job for job_id, job in jobs.items() if job_id != "publish")


# The actions the publish job (the one with an OIDC token) may run: no build, test or scanner.
PUBLISH_ACTIONS = {
    "actions/checkout",
    "actions/download-artifact",
    "aws-actions/configure-aws-credentials",
    "aws-actions/amazon-ecr-login",
    "anchore/sbom-action",
    "sigstore/cosign-installer",
    "azure/setup-helm",
}


def check_publish_pushes_the_scanned_image(files: Files) -> None:
    """Build resolves the base digest, builds, scans and saves; publish loads that image and
    pushes it, reusing a pushed tag only with the scanned layers; then SBOM, sign, chart."""
    doc = load(files["release.yml"])
    build = doc["jobs"]["build"]
    order = [
        _step_index(doc, "build", needle)
        for needle in (
            "docker image inspect --format '{{ index .RepoDigests 0 }}'",
            "scripts/image-build.sh",
            "aquasecurity/trivy-action@",
            "docker image save",
            "actions/upload-artifact@",
        )
    ]
    assert order == sorted(order), order
    assert build["steps"][order[0]]["id"] == "base"
    assert build["steps"][order[1]].get("env", {}).get("BASE") == "${{ steps.base.outputs.base }}"
    assert build.get("outputs", {}).get("base") == "${{ steps.base.outputs.base }}"
    scan = build["steps"][order[2]]["with"]
    assert scan["image-ref"] == "govsim:${{ needs.check.outputs.version }}"
    assert scan["exit-code"] == "1" and scan["severity"] == "CRITICAL,HIGH"
    assert scan["version"] == TRIVY
    saved = build["steps"][order[3]]["run"]
    upload = build["steps"][order[4]]["with"]
    assert saved == 'docker image save -o "${RUNNER_TEMP}/govsim-image.tar" "govsim:${VERSION}"'
    assert upload["path"] == "${{ runner.temp }}/govsim-image.tar"

    publish = doc["jobs"]["publish"]
    used = {str(s["uses"]).split("@")[0] for s in publish["steps"] if "uses" in s}
    assert used <= PUBLISH_ACTIONS, used - PUBLISH_ACTIONS
    for needle in ("image-build.sh", ".ci/run", "make ", "pip ", "docker build", "trivy"):
        assert needle not in run_text(doc, "publish"), needle
    order = [
        _step_index(doc, "publish", needle)
        for needle in (
            "actions/download-artifact@",
            "docker image load",
            "aws-actions/configure-aws-credentials@",
            "docker push",
            "anchore/sbom-action@",
            "sigstore/cosign-installer@",
            "cosign sign --yes",
            "helm push",
        )
    ]
    assert order == sorted(order), order
    download = publish["steps"][order[0]]["with"]
    assert download["name"] == upload["name"]
    assert publish["env"].get("BASE_IMAGE") == "${{ needs.build.outputs.base }}"
    push = publish["steps"][order[3]]["run"]
    assert _pos(push, "aws ecr describe-images") < _pos(push, "docker push")
    assert _pos(push, 'if [ "$built_from" != "$GITHUB_SHA" ]; then') < _pos(
        push, 'digest="$existing"'
    )
    assert _pos(push, 'if [ "$layers" != "$scanned" ]; then') < _pos(push, 'digest="$existing"')
    assert 'docker tag "govsim:${VERSION}" "${repo}:${VERSION}"' in push
    assert 'echo "ref=${repo}@${digest}"' in push
    chart = _step(doc, "publish", "helm push")["run"]
    assert _pos(chart, "aws ecr describe-images") < _pos(chart, "helm push")
    assert "helm pull" in chart and "exit 1" in chart


SIGN_LINES = (
    'verify=(--certificate-identity "$SIGNER" --certificate-oidc-issuer "$ISSUER")',
    'cosign sign --yes "$REF"',
    'cosign attest --yes --type spdxjson --predicate sbom.spdx.json "$REF"',
    'cosign verify "${verify[@]}" "$REF" > /dev/null',
    'cosign verify-attestation --type spdxjson "${verify[@]}" "$REF" > /dev/null',
)


def check_signing(files: Files) -> None:
    """cosign (pinned) signs and attests the pushed digest keylessly, then verifies both."""
    doc = load(files["release.yml"])
    job = doc["jobs"]["publish"]
    installer = _step(doc, "publish", "sigstore/cosign-installer@")
    assert installer.get("with", {}).get("cosign-release") == COSIGN
    sign = _step(doc, "publish", "cosign sign --yes")
    assert sign["env"]["REF"] == "${{ steps.image.outputs.ref }}"
    lines = [line.strip() for line in sign["run"].splitlines()]
    for line in SIGN_LINES:
        assert line in lines, line
    assert lines[-2:] == list(SIGN_LINES[-2:]), "verify both at the end"
    assert "--key" not in sign["run"], "keyless: no signing key"
    assert job["env"]["ISSUER"] == "https://token.actions.githubusercontent.com"
    assert job["env"]["SIGNER"] == "https://github.com/${{ github.workflow_ref }}"
    sbom = _step(doc, "publish", "anchore/sbom-action@")["with"]
    assert sbom["image"] == "${{ steps.image.outputs.ref }}" and sbom["format"] == "spdx-json"
    assert sbom["output-file"] == "sbom.spdx.json" and sbom.get("syft-version") == SYFT


def check_helm_version(files: Files) -> None:
    """Every workflow installs the one pinned Helm, and docs/kubernetes.md names it."""
    found = 0
    for name in ("release.yml", "e2e-kind.yml", "ci.yml", "terraform.yml"):
        for job_id, step in steps(load(files[name])):
            if str(step.get("uses", "")).startswith("azure/setup-helm@"):
                assert step["with"]["version"] == HELM, f"{name}:{job_id}"
                found += 1
    assert found >= 3
    minor = HELM[1:].rsplit(".", 1)[0]
    assert f"Helm {minor})" in files["kubernetes.md"].read_text() or (
        f"Helm {minor}." in files["kubernetes.md"].read_text()
    ), f"docs/kubernetes.md names Helm {minor}"


def check_action_table(files: Files) -> None:
    """Every `uses:` in every workflow is the commit and release of ACTIONS, and ACTIONS has no
    entry that nothing uses."""
    seen = set()
    for name in ("release.yml", "e2e-kind.yml", "ci.yml", "terraform.yml"):
        for line in files[name].read_text().splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s+(\S+)(.*)$", line)
            if not match or match.group(1).startswith("./"):
                continue
            action, _, sha = match.group(1).partition("@")
            assert action in ACTIONS, f"{name}: {action} is not in ACTIONS"
            want_sha, want_tag = ACTIONS[action]
            assert (sha, match.group(2).strip()) == (want_sha, f"# {want_tag}"), f"{name}: {line}"
            seen.add(action)
    assert seen == set(ACTIONS), set(ACTIONS) - seen


def _doc_commands(text: str, start: str) -> list[str]:
    """Each shell command of a Markdown text that starts with ``start``, continuations joined."""
    joined = re.sub(r"\\\n\s*", "", text)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith(start)]


def check_docs_verify_what_is_signed(files: Files) -> None:
    """docs/aws.md verifies the identity, issuer and predicate type the publish job signs with."""
    doc = load(files["release.yml"])
    env = doc["jobs"]["publish"]["env"]
    attest = re.search(
        r"cosign attest --yes --type (\S+)", _step(doc, "publish", "cosign sign")["run"]
    )
    assert attest
    text = files["aws.md"].read_text()
    identity = "https://github.com/<owner>/<repo>/.github/workflows/release.yml@refs/tags/v0.4.0"
    # SIGNER is https://github.com/ + github.workflow_ref (<owner>/<repo>/<path>@<ref>).
    assert env["SIGNER"].replace("${{ github.workflow_ref }}", "") + "<owner>/<repo>" in identity
    verify = _doc_commands(text, "cosign verify ")
    attested = _doc_commands(text, "cosign verify-attestation ")
    assert len(verify) == 1 and len(attested) == 1, (verify, attested)
    for command in (*verify, *attested):
        assert f'--certificate-identity "{identity}"' in command, command
        assert f"--certificate-oidc-issuer {env['ISSUER']}" in command, command
    assert f"--type {attest.group(1)} " in attested[0]
    assert "cosign 2.4" not in text and "verify with cosign 3" in text


def _install_options(command: str) -> str:
    """What follows `--version <v>` in a `helm upgrade --install govsim oci://...` command, up
    to and including `--set image.digest=`."""
    match = re.search(r"--version \S+ (.*--set image\.digest=)", command)
    assert match, command
    return match.group(1)


def check_summary_install_matches_docs(files: Files) -> None:
    """The install command of the release summary is docs/aws.md's deploy-by-digest command."""
    summary = _step(load(files["release.yml"]), "publish", "GITHUB_STEP_SUMMARY")["run"]
    echoed = "\n".join(
        re.sub(r'^\s*echo "(.*)"$', r"\1", line).replace("\\\\", "\\")
        for line in summary.splitlines()
    )
    (ours,) = _doc_commands(echoed, "helm upgrade --install govsim oci://")
    (docs,) = _doc_commands(
        files["aws.md"].read_text(), "helm upgrade --install govsim oci://$REGISTRY/"
    )
    assert _install_options(ours) == _install_options(docs), (ours, docs)
    assert "-f values-aws.yaml -f values-monitoring.yaml" in _install_options(docs)


RELEASE_CHECKS = {
    f.__name__: f
    for f in (
        check_release_jobs,
        check_gate_cannot_be_skipped,
        check_oidc_only_in_publish,
        check_publish_pushes_the_scanned_image,
        check_signing,
        check_helm_version,
        check_action_table,
        check_docs_verify_what_is_signed,
        check_summary_install_matches_docs,
    )
}


@pytest.mark.parametrize("name", RELEASE_CHECKS)
def test_release_pipeline(name: str) -> None:
    """Each release check passes on the files in the tree (see the docstrings of check_*)."""
    RELEASE_CHECKS[name](FILES)


# (check, file, text, replacement): each breaks what the check exists for, in a copy.
MUTATIONS = [
    (
        "check_release_jobs",
        "release.yml",
        "needs: [check, test, e2e, build]",
        "needs: [check, build]",
    ),
    ("check_release_jobs", "e2e-kind.yml", "  workflow_call:\n", ""),
    (
        "check_release_jobs",
        "release.yml",
        "    needs: check\n    runs-on: ubuntu-24.04\n    timeout-minutes: 75",
        "    runs-on: ubuntu-24.04\n    timeout-minutes: 75",
    ),
    (
        "check_release_jobs",
        "release.yml",
        "run: helm lint --strict charts/govsim",
        "run: helm lint charts/govsim",
    ),
    (
        "check_gate_cannot_be_skipped",
        "release.yml",
        "    environment: release\n",
        "    environment: release\n    if: always()\n",
    ),
    (
        "check_gate_cannot_be_skipped",
        "release.yml",
        "        run: sudo env",
        "        continue-on-error: true\n        run: sudo env",
    ),
    (
        "check_gate_cannot_be_skipped",
        "release.yml",
        'run: sudo env "PATH=$PATH" CI=true bash .ci/run',
        'run: sudo env "PATH=$PATH" CI=true bash .ci/run || true',
    ),
    (
        "check_gate_cannot_be_skipped",
        "e2e-kind.yml",
        "        run: scripts/e2e-kind.sh",
        "        continue-on-error: true\n        run: scripts/e2e-kind.sh",
    ),
    ("check_oidc_only_in_publish", "release.yml", "    environment: release\n", ""),
    (
        "check_oidc_only_in_publish",
        "release.yml",
        "    outputs:\n      base:",
        "    permissions:\n      contents: read\n      id-token: write\n    outputs:\n      base:",
    ),
    (
        "check_publish_pushes_the_scanned_image",
        "release.yml",
        'if [ "$layers" != "$scanned" ]; then',
        "if false; then",
    ),
    (
        "check_publish_pushes_the_scanned_image",
        "release.yml",
        "          BASE: ${{ steps.base.outputs.base }}\n",
        "",
    ),
    (
        "check_publish_pushes_the_scanned_image",
        "release.yml",
        "      - name: Load the scanned image\n",
        "      - name: Build again\n        run: scripts/image-build.sh govsim\n\n"
        "      - name: Load the scanned image\n",
    ),
    (
        "check_signing",
        "release.yml",
        "      - uses: sigstore/cosign-installer@6f9f17788090df1f26f669e9d70d6ae9567deba6"
        " # v4.1.2\n        with:\n          cosign-release: v3.1.2\n",
        "",
    ),
    (
        "check_signing",
        "release.yml",
        '            cosign attest --yes --type spdxjson --predicate sbom.spdx.json "$REF"\n',
        "            true\n",
    ),
    ("check_signing", "release.yml", "          syft-version: v1.51.0\n", ""),
    ("check_helm_version", "e2e-kind.yml", "version: v3.21.4", "version: v3.16.2"),
    ("check_helm_version", "kubernetes.md", "Helm 3.21", "Helm 3.16"),
    (
        "check_action_table",
        "ci.yml",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b2 # v7.0.1",
    ),
    (
        "check_action_table",
        "e2e-kind.yml",
        "ef37e7f390d99f746eb8b610417061a60e82a6cc # v1.14.0",
        "ef37e7f390d99f746eb8b610417061a60e82a6cc # v1.14.1",
    ),
    (
        "check_docs_verify_what_is_signed",
        "aws.md",
        "cosign verify-attestation --type spdxjson",
        "cosign verify-attestation --type cyclonedx",
    ),
    (
        "check_docs_verify_what_is_signed",
        "aws.md",
        '.github/workflows/release.yml@refs/tags/v0.4.0" \\\n'
        "  --certificate-oidc-issuer https://token.actions.githubusercontent.com\n"
        "cosign verify-attestation",
        '.github/workflows/ci.yml@refs/tags/v0.4.0" \\\n'
        "  --certificate-oidc-issuer https://token.actions.githubusercontent.com\n"
        "cosign verify-attestation",
    ),
    (
        "check_summary_install_matches_docs",
        "release.yml",
        "-f values-aws.yaml -f values-monitoring.yaml --set",
        "-f values-aws.yaml --set",
    ),
]


@pytest.mark.parametrize(
    ("name", "file", "old", "new"), MUTATIONS, ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTATIONS)]
)
def test_release_checks_fail_on_a_broken_copy(
    tmp_path: Path, name: str, file: str, old: str, new: str
) -> None:
    """Each release check fails when a copy of the files loses what the check guards."""
    files = {}
    for key, path in FILES.items():
        text = path.read_text()
        if key == file:
            assert text.count(old) == 1, f"{file}: the mutation must match once: {old!r}"
            text = text.replace(old, new)
        files[key] = tmp_path / key
        files[key].write_text(text)
    with pytest.raises(AssertionError):
        RELEASE_CHECKS[name](files)


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

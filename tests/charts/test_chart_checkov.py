"""checkov over everything the chart and the controller put in a cluster: zero unexplained failures.

Scanned, one directory per value set (so graph checks such as "every pod has a NetworkPolicy" see
the chart's policies next to the pods they cover): the chart's rendered objects, the ConfigMap and
Job the controller builds from that render's environment, and (with the defaults) the
``sweepctl render`` output of every example; plus the CRD. A deliberate exception is a
``checkov.io/skipN: CHECK=reason`` annotation: in the chart's templates for the chart's objects,
and, for the controller-built worker Jobs (whose annotations reach real clusters unchanged), from
the WORKER_EXCEPTIONS table below, whose reasons docs/kubernetes.md repeats. checkov must report
no failure, and exactly as many skips as there are annotations, each with a real reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.charts import (
    NAMESPACE,
    VALUE_SET_NAMES,
    crd_manifests,
    manifests,
    pod_spec,
    sweepctl_render,
    write_manifests,
)
from kit.checkov import checkov_report
from kit.paths import REPO
from test_chart_wiring import built_objects

pytestmark = pytest.mark.slow  # renders every value set and example, then runs checkov

SKIP_KEY = re.compile(r"^checkov\.io/skip\d+$")
MIN_REASON_CHARS = 30

# Exceptions for the worker Jobs the controller (and `sweepctl render`) builds: check id ->
# (applies to this Job?, reason). checkov splits annotations on "=", so reasons avoid it.
WORKER_EXCEPTIONS: dict[str, tuple[Any, str]] = {
    "CKV_K8S_43": (
        lambda job, c: "@sha256:" not in c["image"],
        "The worker image is the chart value image - set image.digest and Jobs run repo@digest",
    ),
    "CKV_K8S_15": (
        lambda job, c: "@sha256:" not in c["image"] and c["imagePullPolicy"] != "Always",
        "IfNotPresent lets kind-loaded images run - image.pullPolicy Always applies to workers too",
    ),
    "CKV_K8S_35": (
        lambda job, c: any("valueFrom" in e for e in c.get("env", [])),
        "Without IRSA (kind) boto3 reads S3 keys from env vars set from s3.credentialsSecret",
    ),
    "CKV_K8S_40": (
        lambda job, c: "runAsUser" not in pod_spec(job)["securityContext"],
        "podSecurity.runAsUser is null so the platform (OpenShift) assigns the UID",
    ),
}


def annotate_worker_exceptions(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the objects with the applicable WORKER_EXCEPTIONS as skip annotations."""
    out = []
    for doc in docs:
        doc = yaml.safe_load(yaml.safe_dump(doc))
        if doc["kind"] == "Job":
            (container,) = pod_spec(doc)["containers"]
            annotations = doc["metadata"].setdefault("annotations", {})
            applicable = [
                (check, reason)
                for check, (applies, reason) in WORKER_EXCEPTIONS.items()
                if applies(doc, container)
            ]
            for n, (check, reason) in enumerate(applicable, start=1):
                annotations[f"checkov.io/skip{n}"] = f"{check}={reason}"
        out.append(doc)
    return out


def skip_annotations(directory: Path) -> list[tuple[str, str, str]]:
    """(file, check id, reason) for every checkov skip annotation of the scanned objects."""
    found = []
    for path in sorted(directory.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for key, value in (doc["metadata"].get("annotations") or {}).items():
            if SKIP_KEY.match(key):
                check, _, reason = str(value).partition("=")
                found.append((str(path.relative_to(directory)), check, reason))
    return found


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory checkov scans, filled once for this module."""
    root = tmp_path_factory.mktemp("checkov")
    for value_set in VALUE_SET_NAMES:
        directory = root / value_set
        write_manifests(manifests(value_set), directory)
        write_manifests(
            annotate_worker_exceptions(built_objects(value_set)), directory / "controller-built"
        )
    write_manifests(crd_manifests(), root / "crds")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("GOVSIM_")}
    try:
        for example in sorted((REPO / "examples").glob("*.yaml")):
            rendered = sweepctl_render(
                example,
                "--image",
                "govsim:0.4.0",
                "--namespace",
                NAMESPACE,
                "--output-uri",
                "s3://govsim-results/sweeps",
            )
            write_manifests(
                annotate_worker_exceptions(rendered),
                root / "default" / "sweepctl-render" / example.stem,
            )
    finally:
        os.environ.update(saved)
    return root


def test_checkov_finds_no_unexplained_failure(scanned: Path, checkov_script: Path) -> None:
    """No failed check; every skip is one of the annotations; nothing failed to parse."""
    report = checkov_report(scanned, checkov_script)
    summary = report["summary"]
    print(
        f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped over {summary['resource_count']} resources"
    )
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert summary["failed"] == 0, "\n".join(failures)
    assert summary["parsing_errors"] == 0
    files = len(list(scanned.rglob("*.yaml")))
    assert summary["resource_count"] >= files, "checkov saw fewer objects than were written"
    assert summary["skipped"] == len(skip_annotations(scanned))


def test_every_skip_gives_a_reason(scanned: Path) -> None:
    """Each skip annotation names a check and a sentence of justification."""
    skips = skip_annotations(scanned)
    assert skips, "expected the controller's token exception at least"
    vague = [s for s in skips if not re.fullmatch(r"CKV2?_K8S_\d+", s[1])]
    vague += [s for s in skips if len(s[2]) < MIN_REASON_CHARS]
    assert not vague, vague


def test_the_skip_set_is_small_and_known(scanned: Path) -> None:
    """Only the known exceptions are used: a new one must be added here on purpose."""
    checks = {check for _, check, _ in skip_annotations(scanned)}
    known = {"CKV_K8S_38", "CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_35"}
    known |= {"CKV_K8S_40"}  # no fixed UID: the OpenShift values only
    known |= {"CKV_K8S_8", "CKV_K8S_9"}  # probes: the one-shot helm test pod only
    assert checks <= known, checks
    for file, check, _ in skip_annotations(scanned):
        if check == "CKV_K8S_40":
            assert file.startswith("openshift/"), file
        if check in ("CKV_K8S_8", "CKV_K8S_9"):
            assert "pod-govsim-test" in file, file

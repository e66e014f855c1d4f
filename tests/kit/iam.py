"""IAM policies checked against the S3 calls our code really makes.

A role's S3 policy is derived from the code it runs, not written from memory: a test drives the
code (the worker's task attempts, the controller's rounds) against a real S3 server, an
``S3CallRecorder`` on the store's own botocore client records every call (operation, bucket, key or
list prefix, whether the write is conditional), ``requests_for`` maps each call to the IAM
authorizations it needs (the S3 actions on the object or the bucket, and the KMS actions S3 performs
for the bucket's SSE-KMS key), and ``allowing`` evaluates them against the policy *as Terraform
renders it* (``rendered_state``: the state of ``infra/terraform/tests/rendered_policies.tftest.hcl``
applied with the mocked provider). ``granted`` gives the other direction: every grant must be
used by some recorded call.

A read of a key (``GetObject``, ``HeadObject``) also needs ``s3:ListBucket`` on the bucket with no
``s3:prefix`` in the request's context: S3 answers a read of a missing key with 404 only to a caller
that may list the bucket (else 403), and that check carries no prefix. The code reads keys that may
not exist (a task's manifest, the next lease generation, round files), so every read needs it.

The evaluator knows what these policies use: Allow statements, resource and action wildcards
(``*`` and ``?``, which in IAM also match ``/``), and the ``StringEquals``, ``StringLike`` and
``Null`` condition operators; anything else fails the test that meets it instead of being misread.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kit.infra import Terraform

__all__ = [
    "BUCKET_ACTIONS",
    "KMS_ACTIONS",
    "OBJECT_ACTIONS",
    "PREFIX",
    "READS_ANSWERING_NOT_FOUND",
    "REGION",
    "Request",
    "S3Call",
    "S3CallRecorder",
    "allowing",
    "data_key_arn",
    "granted",
    "listed",
    "policy_of",
    "refused",
    "rendered_state",
    "requests_for",
    "used_grants",
]

REGION = "us-east-1"
"""The region the policies are rendered for (and the S3 server's)."""
PREFIX = "sweeps"
"""The results prefix the policies are rendered for, and the stores under test write under."""

# S3 operation -> IAM actions it needs and whether they apply to the object or the bucket.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html (each page's "Permissions").
OBJECT_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "GetObject": ("s3:GetObject",),
    "HeadObject": ("s3:GetObject",),
    "PutObject": ("s3:PutObject",),  # If-None-Match (create-if-absent) needs nothing more
    "CopyObject": ("s3:PutObject",),  # (and s3:GetObject on the source, not used here)
    "DeleteObject": ("s3:DeleteObject",),
    "CreateMultipartUpload": ("s3:PutObject",),
    "UploadPart": ("s3:PutObject",),
    "CompleteMultipartUpload": ("s3:PutObject",),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload",),
    "ListParts": ("s3:ListMultipartUploadParts",),
}
BUCKET_ACTIONS: Mapping[str, str] = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
# Reads whose missing key S3 answers with 404 only if the caller may list the bucket (with no
# s3:prefix in that check's context); otherwise S3 answers 403.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html ("Permissions").
READS_ANSWERING_NOT_FOUND: frozenset[str] = frozenset({"GetObject", "HeadObject"})
# What S3 asks KMS for on the caller's behalf when the bucket uses an SSE-KMS key: a data key to
# write, a decrypt to read; a multipart upload needs both (S3 reads the parts to complete it).
KMS_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "PutObject": ("kms:GenerateDataKey",),
    "CreateMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "GetObject": ("kms:Decrypt",),
}


@dataclass(frozen=True)
class S3Call:
    """One S3 API call as a store's client sent it."""

    operation: str
    bucket: str
    key: str | None = None
    prefix: str | None = None
    if_none_match: str | None = None
    """The If-None-Match of a write (``*``: create only if absent), else None."""


@dataclass
class S3CallRecorder:
    """A botocore hook that records every call a client makes (before it is sent)."""

    calls: list[S3Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        """Record every S3 operation ``client`` makes from now on."""
        client.meta.events.register("provide-client-params.s3.*", self._record)

    def _record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        call = S3Call(
            model.name,
            params["Bucket"],
            params.get("Key"),
            params.get("Prefix"),
            params.get("IfNoneMatch"),
        )
        with self._lock:
            self.calls.append(call)

    def recorded(self) -> list[S3Call]:
        """The calls recorded so far, in order."""
        with self._lock:
            return list(self.calls)

    def saw(self, operation: str, key_part: str) -> bool:
        """Whether a call of ``operation`` on a key containing ``key_part`` was made."""
        with self._lock:
            return any(c.operation == operation and key_part in (c.key or "") for c in self.calls)


@dataclass(frozen=True)
class Request:
    """One IAM authorization a call needs: action, resource ARN and the request's context keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.action} {self.resource} {dict(self.context)}"


def requests_for(call: S3Call, kms_key_arn: str, region: str) -> list[Request]:
    """The IAM authorizations ``call`` needs (S3, then KMS through S3 in ``region``)."""
    if call.operation in OBJECT_ACTIONS:
        assert call.key is not None, call
        arn = f"arn:aws:s3:::{call.bucket}/{call.key}"
        found = [Request(a, arn) for a in OBJECT_ACTIONS[call.operation]]
        if call.operation in READS_ANSWERING_NOT_FOUND:
            found.append(Request("s3:ListBucket", f"arn:aws:s3:::{call.bucket}"))
    elif call.operation in BUCKET_ACTIONS:
        context = () if call.prefix is None else (("s3:prefix", call.prefix),)
        found = [Request(BUCKET_ACTIONS[call.operation], f"arn:aws:s3:::{call.bucket}", context)]
    else:
        raise AssertionError(
            f"{call.operation}: no IAM mapping; add it to OBJECT_ACTIONS or BUCKET_ACTIONS"
        )
    via = (("kms:ViaService", f"s3.{region}.amazonaws.com"),)
    found += [Request(a, kms_key_arn, via) for a in KMS_ACTIONS.get(call.operation, ())]
    return found


def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM wildcard pattern (* and ?, both matching any character, / included) as a regex."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def listed(value: str | list[str]) -> list[str]:
    """A policy element that is one string or a list, as a list."""
    return [value] if isinstance(value, str) else list(value)


def _condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]
) -> bool:
    for operator, block in condition.items():
        for key, wanted in block.items():
            value = context.get(key)
            if operator == "Null":  # "true": the key is absent; "false": it is present
                assert wanted in ("true", "false"), f"Null {key}: {wanted!r}"
                if (value is None) != (wanted == "true"):
                    return False
                continue
            if value is None:  # a missing key fails every String* operator without IfExists
                return False
            if operator == "StringEquals":
                ok = value in listed(wanted)
            elif operator == "StringLike":
                ok = any(_glob(w).fullmatch(value) for w in listed(wanted))
            else:
                raise AssertionError(f"condition operator {operator}: not evaluated by this test")
            if not ok:
                return False
    return True


def allowing(policy: Mapping[str, Any], request: Request) -> list[tuple[str, str]]:
    """The (statement Sid, action pattern) pairs of ``policy`` that allow ``request``."""
    found = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow", f"Deny statements are not evaluated: {statement}"
        if not any(_glob(r).fullmatch(request.resource) for r in listed(statement["Resource"])):
            continue
        if not _condition_holds(statement.get("Condition", {}), dict(request.context)):
            continue
        found += [
            (statement["Sid"], a)
            for a in listed(statement["Action"])
            if _glob(a.lower()).fullmatch(request.action.lower())
        ]
    return found


def granted(policy: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (statement Sid, action pattern) the policy grants."""
    return {(s["Sid"], a) for s in policy["Statement"] for a in listed(s["Action"])}


def refused(
    policy: Mapping[str, Any], calls: list[S3Call], kms_key_arn: str, region: str
) -> list[str]:
    """``operation action resource context`` of each authorization the calls need and the
    policy does not allow (sorted, without repeats)."""
    return sorted(
        {
            f"{call.operation} {request}"
            for call in calls
            for request in requests_for(call, kms_key_arn, region)
            if not allowing(policy, request)
        }
    )


def used_grants(
    policy: Mapping[str, Any], calls: list[S3Call], kms_key_arn: str, region: str
) -> set[tuple[str, str]]:
    """The (statement Sid, action pattern) grants that allow at least one of the calls."""
    return {
        grant
        for call in calls
        for request in requests_for(call, kms_key_arn, region)
        for grant in allowing(policy, request)
    }


# --- Terraform: the policies as rendered -------------------------------------------------------


def rendered_state(
    terraform: Terraform, *, bucket: str, prefix: str, region: str
) -> dict[str, dict[str, Any]]:
    """Resource address -> values, from the mocked apply of tests/rendered_policies.tftest.hcl."""
    done = terraform.run(
        "test",
        "-no-color",
        "-verbose",
        "-json",
        "-filter=tests/rendered_policies.tftest.hcl",
        f"-var=results_bucket_name={bucket}",
        f"-var=results_prefix={prefix}",
        f"-var=region={region}",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("type") == "test_state":
            resources = message["test_state"]["root_module"]["resources"]
            return {r["address"]: r["values"] for r in resources}
    raise AssertionError("terraform test -verbose -json printed no state")


def policy_of(state: Mapping[str, Mapping[str, Any]], address: str) -> dict[str, Any]:
    """The policy document of the IAM policy resource at ``address``."""
    assert address in state, f"{address} is not in the rendered state"
    return dict(json.loads(state[address]["policy"]))


def data_key_arn(state: Mapping[str, Mapping[str, Any]]) -> str:
    """The KMS key the results bucket encrypts with, as the state names it."""
    sse = state["aws_s3_bucket_server_side_encryption_configuration.results"]
    key = sse["rule"][0]["apply_server_side_encryption_by_default"][0]["kms_master_key_id"]
    return str(key)

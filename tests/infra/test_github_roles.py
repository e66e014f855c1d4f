"""The GitHub plan role can read every kind of resource this configuration manages, and no data.

`terraform plan` refreshes each managed resource, so the role needs the read calls of each
service the configuration uses; the policy lists them by hand (AWS's ReadOnlyAccess would also
read data). This test maps every resource type in infra/terraform to its IAM service and fails
when the plan policy, as Terraform renders it, grants no read call of that service: a new kind of
resource cannot silently break pull-request plans.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kit.infra import TERRAFORM_DIR, Terraform

# Resource type prefix -> the IAM service whose read calls refresh it (longest prefix wins).
SERVICES: dict[str, str] = {
    "aws_autoscaling_": "autoscaling",
    "aws_cloudwatch_event_": "events",
    "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_default_security_group": "ec2",
    "aws_ec2_": "ec2",
    "aws_ecr_": "ecr",
    "aws_eip": "ec2",
    "aws_eks_": "eks",
    "aws_flow_log": "ec2",
    "aws_iam_": "iam",
    "aws_instance": "ec2",
    "aws_internet_gateway": "ec2",
    "aws_kms_": "kms",
    "aws_launch_template": "ec2",
    "aws_nat_gateway": "ec2",
    "aws_network_acl": "ec2",
    "aws_route": "ec2",
    "aws_s3_": "s3",
    "aws_security_group": "ec2",
    "aws_sns_": "sns",
    "aws_sqs_": "sqs",
    "aws_subnet": "ec2",
    "aws_vpc": "ec2",
}
PLAN_POLICY = "aws_iam_role_policy.github_plan[0]"


def service_of(resource_type: str) -> str:
    """The IAM service that reads ``resource_type``; fails for a type not in SERVICES."""
    matches = [p for p in SERVICES if resource_type.startswith(p)]
    assert matches, f"{resource_type}: add its IAM service to SERVICES (and reads to the plan role)"
    return SERVICES[max(matches, key=len)]


def resource_types() -> set[str]:
    """Every managed resource type in the configuration."""
    text = "\n".join(p.read_text() for p in TERRAFORM_DIR.glob("*.tf"))
    return set(re.findall(r'^resource "(aws_[a-z0-9_]+)"', text, flags=re.M))


@pytest.fixture(scope="module")
def plan_policy(terraform: Terraform) -> dict[str, Any]:
    """The plan role's policy as Terraform renders it (mocked provider)."""
    done = terraform.run(
        "test", "-no-color", "-verbose", "-json", "-filter=tests/rendered_policies.tftest.hcl"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("type") == "test_state":
            for resource in message["test_state"]["root_module"]["resources"]:
                if resource["address"] == PLAN_POLICY:
                    return dict(json.loads(resource["values"]["policy"]))
    raise AssertionError(f"{PLAN_POLICY} not in the rendered state")


def test_every_managed_service_is_readable(plan_policy: dict[str, Any]) -> None:
    """Each service of a managed resource type has a read call in the plan policy."""
    readable = {
        action.split(":")[0]
        for statement in plan_policy["Statement"]
        for action in statement["Action"]
        if re.match(r"^[a-z0-9-]+:(Describe|Get|List)", action)
    }
    missing = sorted({service_of(t) for t in resource_types()} - readable)
    assert not missing, f"the plan role cannot read these services' resources: {missing}"


def test_plan_policy_never_writes(plan_policy: dict[str, Any]) -> None:
    """No action outside Describe/Get/List, and no object read but the state."""
    actions = [a for s in plan_policy["Statement"] for a in s["Action"]]
    writes = [a for a in actions if not re.match(r"^[a-z0-9-]+:(Describe|Get|List)", a)]
    assert not writes, writes
    object_reads = [s for s in plan_policy["Statement"] if "s3:GetObject" in s["Action"]]
    assert all(s["Sid"] == "ReadState" for s in object_reads), object_reads


def test_service_map_reading() -> None:
    """The longest prefix decides, and an unknown type is refused."""
    assert service_of("aws_cloudwatch_log_group") == "logs"
    assert service_of("aws_vpc_endpoint") == "ec2"
    with pytest.raises(AssertionError, match="add its IAM service"):
        service_of("aws_dynamodb_table")
